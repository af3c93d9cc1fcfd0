//! The sync crate's error type: what can go wrong talking to the cluster, reading manifests or
//! running a sync, and whether retrying may help.

use crate::object::ObjKey;

/// Errors of the sync engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server answered with an error status (rejected object, forbidden, not found...).
    #[error("{context}: {message} ({reason}, {code})")]
    Api {
        /// What Trellis was doing.
        context: String,
        /// The server's message, verbatim.
        message: String,
        /// The server's machine-readable reason (`Invalid`, `Forbidden`, `Conflict`...).
        reason: String,
        /// HTTP status code.
        code: u16,
    },
    /// The API server could not be reached or the connection failed.
    #[error("{context}: {source}")]
    Transport {
        /// What Trellis was doing.
        context: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A manifest is not a valid Kubernetes object.
    #[error("{source_path}: invalid manifest: {message}")]
    InvalidManifest {
        /// File (template) the manifest came from.
        source_path: String,
        /// What is wrong.
        message: String,
    },
    /// The kind of an object is not served by the cluster.
    #[error("{key}: the server does not serve kind {kind} in {api_version}")]
    UnknownKind {
        /// The object.
        key: Box<ObjKey>,
        /// Its kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },
    /// A custom health check script failed.
    #[error("health check {script}: {message}")]
    HealthScript {
        /// Path of the script.
        script: String,
        /// Lua error.
        message: String,
    },
    /// A hook failed or timed out.
    #[error("hook {key} failed: {message}")]
    HookFailed {
        /// The hook object.
        key: Box<ObjKey>,
        /// The failure reason.
        message: String,
    },
    /// The object is tracked by another application (Argo CD's "shared resource"): it is never
    /// applied over, pruned or deleted by this one unless a take-over is allowed explicitly.
    #[error(
        "{key} belongs to application {owner}; application {app} does not apply over it (set the sync option AllowTakeOver=true on the application, or in the object's trellis.dev/sync-options annotation, to take it over)"
    )]
    SharedResource {
        /// The object.
        key: Box<ObjKey>,
        /// The application that tracks it (`namespace/name`).
        owner: String,
        /// The application that wanted to apply it.
        app: String,
    },
    /// Waiting for something exceeded its deadline.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The persisted operation state could not be read or written.
    #[error("operation state: {0}")]
    State(String),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Build from a client error, keeping the server's status when there is one.
    pub fn kube(context: impl Into<String>, err: kube::Error) -> Self {
        let context = context.into();
        match err {
            kube::Error::Api(status) => Error::Api {
                context,
                message: status.message.clone(),
                reason: status.reason.clone(),
                code: status.code,
            },
            other => Error::Transport {
                context,
                source: Box::new(other),
            },
        }
    }

    /// Whether retrying the same request later may succeed (network errors, throttling, 5xx, conflicts
    /// on optimistic concurrency).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { code, .. } => *code == 429 || *code >= 500 || *code == 409,
            Error::Transport { .. } | Error::Timeout(_) => true,
            _ => false,
        }
    }

    /// Whether this is the server's 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { code: 404, .. })
    }

    /// A short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Api { .. } => "api",
            Error::Transport { .. } => "transport",
            Error::InvalidManifest { .. } => "manifest",
            Error::UnknownKind { .. } => "unknown_kind",
            Error::HealthScript { .. } => "health_script",
            Error::HookFailed { .. } => "hook",
            Error::SharedResource { .. } => "shared_resource",
            Error::Timeout(_) => "timeout",
            Error::State(_) => "state",
            Error::Io { .. } => "io",
        }
    }
}

/// Result with the sync crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
