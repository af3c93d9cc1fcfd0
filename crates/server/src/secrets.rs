//! Webhook secrets: where the keys that verify GitHub and GitLab requests come from.
//!
//! In `trellis serve` they are read from the Secret [`WEBHOOK_SECRET`] (`trellis-webhook`, keys
//! [`GITHUB_KEY`] and [`GITLAB_KEY`]) in the controller's namespace, through the Kubernetes API,
//! and cached for a short time ([`DEFAULT_TTL`]): a rotated secret takes effect within that time,
//! and a burst of webhooks costs one API request. Concurrent requests that find the cache stale
//! wait for a single read rather than each sending one. Tests (and a future `--webhook-secret`
//! flag) give fixed secrets with [`WebhookSecrets::fixed`].
//!
//! A value's trailing line break (`\n` or `\r\n`, as `kubectl create secret --from-file` keeps
//! from a file written by `echo`) is dropped: forges take single-line secrets, so it can never be
//! part of one. An empty value counts as absent: an HMAC keyed with nothing proves nothing.
//!
//! Secret values are never logged and never appear in an error or a `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use controller::webhook::Forge;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use tokio::time::Instant;

/// The Secret holding the webhook secrets, in the controller's namespace.
pub const WEBHOOK_SECRET: &str = "trellis-webhook";
/// The key of [`WEBHOOK_SECRET`] holding GitHub's secret (the HMAC key).
pub const GITHUB_KEY: &str = "github";
/// The key of [`WEBHOOK_SECRET`] holding GitLab's secret token.
pub const GITLAB_KEY: &str = "gitlab";
/// How long a read of the Secret is used before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
/// How long a failed read (API server unreachable) is remembered, at most: long enough that a
/// burst of webhooks during an outage costs one request, short enough to recover at once.
const ERROR_TTL: Duration = Duration::from_secs(1);
/// How long one read of the Secret may take: forges give up on a delivery after ~10 s.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no secret is available to verify a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    /// The Secret does not exist.
    #[error("Secret {namespace}/{name} does not exist")]
    NoSecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The Secret exists but has no (non-empty) value under the forge's key.
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    NoKey {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The missing key.
        key: &'static str,
    },
    /// Fixed secrets were given, but none for this forge.
    #[error("no {key} webhook secret is configured")]
    NotConfigured {
        /// The forge's key (`github`, `gitlab`).
        key: &'static str,
    },
    /// The Secret could not be read (API server unreachable, timeout, forbidden...): transient,
    /// the forge should retry.
    #[error("cannot read Secret {namespace}/{name}: {message}")]
    Unavailable {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

impl SecretError {
    /// Whether the failure is transient (answer 503 so the forge retries) rather than a missing
    /// secret (answer 401).
    pub fn is_transient(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// The key under which a forge's secret is stored.
pub fn key_for(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => GITHUB_KEY,
        Forge::GitLab => GITLAB_KEY,
    }
}

/// Where webhook secrets come from. Cheap to clone (shared).
#[derive(Clone)]
pub struct WebhookSecrets(Arc<Source>);

enum Source {
    Fixed(Keys),
    Kubernetes(Box<KubeSource>),
}

/// The secrets of both forges (`None`: not configured).
#[derive(Clone, Default)]
struct Keys {
    github: Option<Vec<u8>>,
    gitlab: Option<Vec<u8>>,
}

impl Keys {
    fn get(&self, forge: Forge) -> Option<&[u8]> {
        match forge {
            Forge::GitHub => self.github.as_deref(),
            Forge::GitLab => self.gitlab.as_deref(),
        }
    }
}

struct KubeSource {
    api: Api<Secret>,
    namespace: String,
    name: String,
    ttl: Duration,
    /// The last read and when it was made; the lock is held during a read (single flight).
    cache: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    at: Instant,
    /// `Ok(None)`: the Secret does not exist. `Err`: why it could not be read.
    outcome: Result<Option<Keys>, String>,
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Source::Fixed(keys) => f
                .debug_struct("WebhookSecrets::Fixed")
                .field("github", &keys.github.is_some())
                .field("gitlab", &keys.gitlab.is_some())
                .finish(),
            Source::Kubernetes(k) => f
                .debug_struct("WebhookSecrets::Kubernetes")
                .field("namespace", &k.namespace)
                .field("name", &k.name)
                .field("ttl", &k.ttl)
                .finish(),
        }
    }
}

/// A secret value as stored: without a trailing line break, `None` if empty.
fn clean(value: &[u8]) -> Option<Vec<u8>> {
    let v = value.strip_suffix(b"\n").unwrap_or(value);
    let v = v.strip_suffix(b"\r").unwrap_or(v);
    (!v.is_empty()).then(|| v.to_vec())
}

impl WebhookSecrets {
    /// Fixed secrets (`None` or empty: that forge's webhooks are refused with 401).
    pub fn fixed(github: Option<&[u8]>, gitlab: Option<&str>) -> WebhookSecrets {
        WebhookSecrets(Arc::new(Source::Fixed(Keys {
            github: github.and_then(clean),
            gitlab: gitlab.and_then(|s| clean(s.as_bytes())),
        })))
    }

    /// Secrets read from the Secret [`WEBHOOK_SECRET`] in `namespace`, each read used for `ttl`
    /// ([`DEFAULT_TTL`] in `trellis serve`). Nothing is read until a webhook arrives.
    pub fn kubernetes(client: kube::Client, namespace: &str, ttl: Duration) -> WebhookSecrets {
        WebhookSecrets(Arc::new(Source::Kubernetes(Box::new(KubeSource {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: WEBHOOK_SECRET.to_string(),
            ttl,
            cache: tokio::sync::Mutex::new(None),
        }))))
    }

    /// The secret that verifies `forge`'s webhooks.
    pub async fn get(&self, forge: Forge) -> Result<Vec<u8>, SecretError> {
        match &*self.0 {
            Source::Fixed(keys) => {
                keys.get(forge)
                    .map(<[u8]>::to_vec)
                    .ok_or(SecretError::NotConfigured {
                        key: key_for(forge),
                    })
            }
            Source::Kubernetes(k) => k.get(forge).await,
        }
    }
}

impl KubeSource {
    async fn get(&self, forge: Forge) -> Result<Vec<u8>, SecretError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache.as_ref().is_some_and(|c| {
            let ttl = if c.outcome.is_ok() {
                self.ttl
            } else {
                self.ttl.min(ERROR_TTL)
            };
            c.at.elapsed() < ttl
        });
        if !fresh {
            let outcome = self.fetch().await;
            *cache = Some(Cached {
                at: Instant::now(),
                outcome,
            });
        }
        let outcome = &cache
            .as_ref()
            .expect("the cache was filled just above")
            .outcome;
        match outcome {
            Err(message) => Err(SecretError::Unavailable {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                message: message.clone(),
            }),
            Ok(None) => Err(SecretError::NoSecret {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            }),
            Ok(Some(keys)) => keys
                .get(forge)
                .map(<[u8]>::to_vec)
                .ok_or(SecretError::NoKey {
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    key: key_for(forge),
                }),
        }
    }

    /// Read the Secret: `Ok(None)` if it does not exist, `Err` (a message) if it cannot be read.
    async fn fetch(&self) -> Result<Option<Keys>, String> {
        let secret = match tokio::time::timeout(FETCH_TIMEOUT, self.api.get_opt(&self.name)).await {
            Err(_) => return Err(format!("no answer within {FETCH_TIMEOUT:?}")),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(None)) => return Ok(None),
            Ok(Ok(Some(secret))) => secret,
        };
        Ok(Some(keys_of(&secret)))
    }
}

/// The webhook secrets a Secret holds (`data`, or `stringData` as some clients leave it).
fn keys_of(secret: &Secret) -> Keys {
    let value = |key: &str| {
        let data = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.as_slice());
        let string_data = secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.as_bytes());
        data.and_then(clean).or_else(|| string_data.and_then(clean))
    };
    Keys {
        github: value(GITHUB_KEY),
        gitlab: value(GITLAB_KEY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    #[test]
    fn values_lose_a_trailing_line_break_and_empty_is_absent() {
        assert_eq!(clean(b"s3cret\n"), Some(b"s3cret".to_vec()));
        assert_eq!(clean(b"s3cret\r\n"), Some(b"s3cret".to_vec()));
        assert_eq!(clean(b"s3cret \n\n"), Some(b"s3cret \n".to_vec()));
        assert_eq!(clean(b"\n"), None);
        assert_eq!(clean(b""), None);
    }

    #[tokio::test]
    async fn fixed_secrets() {
        let s = WebhookSecrets::fixed(Some(b"gh"), None);
        assert_eq!(s.get(Forge::GitHub).await.ok(), Some(b"gh".to_vec()));
        let err = s.get(Forge::GitLab).await.expect_err("no gitlab secret");
        assert!(!err.is_transient());
        assert_eq!(err.to_string(), "no gitlab webhook secret is configured");
        let empty = WebhookSecrets::fixed(Some(b""), Some(""));
        assert!(empty.get(Forge::GitHub).await.is_err());
        assert!(empty.get(Forge::GitLab).await.is_err());
        let debug = format!("{s:?}");
        assert!(!debug.contains("gh\""), "{debug}");
    }

    #[test]
    fn keys_from_data_or_string_data() {
        let secret = Secret {
            data: Some(BTreeMap::from([
                ("github".to_string(), ByteString(b"from-data\n".to_vec())),
                ("gitlab".to_string(), ByteString(Vec::new())),
            ])),
            string_data: Some(BTreeMap::from([(
                "gitlab".to_string(),
                "from-string-data".to_string(),
            )])),
            ..Secret::default()
        };
        let keys = keys_of(&secret);
        assert_eq!(keys.github.as_deref(), Some(&b"from-data"[..]));
        assert_eq!(keys.gitlab.as_deref(), Some(&b"from-string-data"[..]));
        let none = keys_of(&Secret::default());
        assert!(none.github.is_none() && none.gitlab.is_none());
    }

    #[test]
    fn errors_name_the_secret_and_key_never_a_value() {
        let e = SecretError::NoKey {
            namespace: "trellis".into(),
            name: WEBHOOK_SECRET.into(),
            key: GITLAB_KEY,
        };
        assert_eq!(
            e.to_string(),
            "Secret trellis/trellis-webhook has no key \"gitlab\""
        );
        assert!(!e.is_transient());
        let u = SecretError::Unavailable {
            namespace: "trellis".into(),
            name: WEBHOOK_SECRET.into(),
            message: "connection refused".into(),
        };
        assert!(u.is_transient());
    }
}
