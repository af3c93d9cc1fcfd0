//! # server (stub: being written)
