//! The controller's error type: what can go wrong reconciling a resource, whether retrying later
//! may help, and the label it carries in metrics.

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API answered with an error or could not be reached.
    #[error("{context}: {source}")]
    Kube {
        /// What the controller was doing.
        context: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Git: fetch, resolve or read failed.
    #[error(transparent)]
    Git(#[from] source::Error),
    /// Rendering the chart failed (a user error: a new commit is needed).
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The sync engine failed.
    #[error(transparent)]
    Sync(#[from] sync::Error),
    /// The resource's spec cannot be acted on (bad regex, missing field...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Wrap a client error with what was being done.
    pub fn kube(context: impl Into<String>, e: kube::Error) -> Error {
        Error::Kube {
            context: context.into(),
            source: Box::new(e),
        }
    }

    /// Whether trying again later may succeed without a change by the user.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(s) => s.code == 429 || s.code >= 500 || s.code == 409,
                _ => true,
            },
            Error::Git(e) => e.is_transient(),
            Error::Render(_) | Error::Invalid(_) => false,
            Error::Sync(e) => e.is_retryable(),
        }
    }

    /// A short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Git(_) => "git",
            Error::Render(_) => "render",
            Error::Sync(e) => e.metric_label(),
            Error::Invalid(_) => "invalid",
        }
    }
}

/// Result with the controller's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
