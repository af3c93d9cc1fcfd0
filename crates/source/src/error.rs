//! The one error type of this crate.
//!
//! Every variant names the repository URL (with any password masked) and says what failed. Errors
//! are `Clone` because one fetch's outcome is shared by every caller that waited for it and is kept
//! as the URL's `last_error`; that is why gix's errors are carried as their rendered text.

use std::time::Duration;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a git operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL cannot be parsed, or names a transport this crate does not allow (`ext::`, remote
    /// helpers).
    #[error("invalid repository URL {url}: {message}")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// Why it was refused.
        message: String,
    },
    /// Fetching (or the first clone) failed: the network, the server, the protocol or the local
    /// disk. The mirror keeps its last good refs.
    #[error("fetching {url} failed: {message}")]
    Fetch {
        /// The URL, password masked.
        url: String,
        /// What failed, with gix's causes.
        message: String,
        /// Whether retrying later without changing anything may succeed.
        transient: bool,
    },
    /// The server asked for credentials and rejected the ones given (or none were configured), or
    /// the credentials do not fit the URL's transport.
    #[error("authentication to {url} failed: {message}")]
    Auth {
        /// The URL, password masked.
        url: String,
        /// What failed.
        message: String,
    },
    /// A fetch ran longer than the configured timeout and was abandoned.
    #[error("fetching {url} timed out after {}s", timeout.as_secs_f32())]
    Timeout {
        /// The URL, password masked.
        url: String,
        /// The limit that was exceeded.
        timeout: Duration,
    },
    /// A read was asked of a repository that has no mirror yet: fetch it first.
    #[error("{url} has not been fetched yet")]
    NotFetched {
        /// The URL, password masked.
        url: String,
    },
    /// A revision names no branch, tag or commit of the mirror, is an ambiguous abbreviation, or
    /// does not lead to a commit.
    #[error("cannot resolve revision {rev:?} in {url}: {message}")]
    Revision {
        /// The URL, password masked.
        url: String,
        /// The revision as given.
        rev: String,
        /// Why.
        message: String,
    },
    /// A path does not exist in a commit's tree, or is not a directory.
    #[error("path {path:?} {message} in commit {commit} of {url}")]
    Path {
        /// The URL, password masked.
        url: String,
        /// The commit id the path was looked up in.
        commit: String,
        /// The path as given.
        path: String,
        /// `does not exist` or `is not a directory`.
        message: String,
    },
    /// Reading the local mirror failed (missing objects, I/O).
    #[error("reading the mirror of {url} failed: {message}")]
    Mirror {
        /// The URL, password masked.
        url: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// Whether retrying later, without changing the request, may succeed: network trouble, an
    /// unreachable or failing server, a timeout, local I/O. Bad URLs, rejected credentials, unknown
    /// revisions and missing paths are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Fetch { transient, .. } => *transient,
            Error::Timeout { .. } | Error::Mirror { .. } => true,
            Error::InvalidUrl { .. }
            | Error::Auth { .. }
            | Error::NotFetched { .. }
            | Error::Revision { .. }
            | Error::Path { .. } => false,
        }
    }

    /// A short, stable label for metrics (`error="fetch"`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } => "invalid_url",
            Error::Fetch { .. } => "fetch",
            Error::Auth { .. } => "auth",
            Error::Timeout { .. } => "timeout",
            Error::NotFetched { .. } => "not_fetched",
            Error::Revision { .. } => "revision",
            Error::Path { .. } => "path",
            Error::Mirror { .. } => "mirror",
        }
    }
}

/// gix's error with its causes on one line (`outer: cause: root cause`).
pub(crate) fn gix_chain(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.iter_errors() {
        let s = e.to_string();
        if !s.is_empty() && parts.last() != Some(&s) {
            parts.push(s);
        }
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_classification() {
        let url = "https://example.com/r.git".to_string();
        assert!(
            Error::Timeout {
                url: url.clone(),
                timeout: Duration::from_secs(1)
            }
            .is_transient()
        );
        assert!(
            Error::Fetch {
                url: url.clone(),
                message: "x".into(),
                transient: true
            }
            .is_transient()
        );
        assert!(
            !Error::Auth {
                url: url.clone(),
                message: "x".into()
            }
            .is_transient()
        );
        let rev = Error::Revision {
            url,
            rev: "nope".into(),
            message: "not found".into(),
        };
        assert!(!rev.is_transient());
        assert_eq!(rev.metric_label(), "revision");
        assert!(rev.to_string().contains("\"nope\""));
    }
}
