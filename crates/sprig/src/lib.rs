//! # sprig
//!
//! The Sprig function library (v3, as vendored by Helm v3.17) for [`gotemplate`]:
//! strings, lists, dicts, math, defaults, conversions, encodings, crypto, semver,
//! regex, dates, UUIDs, paths, URLs, network and flow control.
//!
//! May call: `gotemplate` (its value model and `fmt`). Helm adds its own functions on top.
