//! Progress of `trellis env wait` and `trellis app wait`: an `indicatif` bar or spinner on a
//! terminal; on anything else (a CI log) one line on stderr each time the state changes.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    /// Not a terminal: print changes as lines instead.
    lines: bool,
    last: std::cell::RefCell<String>,
    prefix: String,
}

impl Progress {
    /// A bar of ready/total (environments).
    pub fn bar(prefix: String) -> Progress {
        let style = ProgressStyle::with_template("{spinner} {prefix} [{bar:24}] {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Progress::new(prefix, style)
    }

    /// A spinner (applications).
    pub fn spinner(prefix: String) -> Progress {
        let style = ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        Progress::new(prefix, style)
    }

    fn new(prefix: String, style: ProgressStyle) -> Progress {
        let lines = !std::io::stderr().is_terminal();
        let bar = if lines {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
        } else {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        };
        bar.set_style(style);
        bar.set_prefix(prefix.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress {
            bar,
            lines,
            last: std::cell::RefCell::new(String::new()),
            prefix,
        }
    }

    pub fn set(&self, pos: u64, len: u64, msg: String) {
        self.bar.set_length(len.max(1));
        self.bar.set_position(pos.min(len));
        self.message(msg);
    }

    pub fn message(&self, msg: String) {
        if self.lines && *self.last.borrow() != msg {
            eprintln!("{}: {msg}", self.prefix);
        }
        *self.last.borrow_mut() = msg.clone();
        self.bar.set_message(msg);
    }

    /// Done: the bar ends with `msg`.
    pub fn finish(&self, msg: String) {
        if self.lines {
            eprintln!("{msg}");
            self.bar.finish_and_clear();
        } else {
            self.bar.finish_with_message(msg);
        }
    }

    /// Given up (or done after `finish`): the bar is cleared; the caller says why.
    pub fn abandon(&self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}
