//! What the handlers share: where changes go, the webhook secrets, readiness, and counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use controller::webhook::{Change, Forge};
use tokio::sync::{mpsc, watch};

use crate::secrets::WebhookSecrets;

/// The state every route shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ServerState {
    pub(crate) changes: mpsc::UnboundedSender<Change>,
    pub(crate) secrets: WebhookSecrets,
    pub(crate) readiness: Readiness,
    pub(crate) webhooks: WebhookCounts,
}

impl ServerState {
    /// Verified webhook changes go to `changes` (the controller fetches the repository each one
    /// names); `secrets` verify the requests; `readiness` is what `/readyz` reports.
    pub fn new(
        changes: mpsc::UnboundedSender<Change>,
        secrets: WebhookSecrets,
        readiness: Readiness,
    ) -> ServerState {
        ServerState {
            changes,
            secrets,
            readiness,
            webhooks: WebhookCounts::default(),
        }
    }

    /// The readiness `/readyz` reports (shared: setting it on a clone sets it here).
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// How many webhook requests ended how, per provider.
    pub fn webhook_counts(&self) -> &WebhookCounts {
        &self.webhooks
    }

    /// Where webhook secrets come from.
    pub fn secrets(&self) -> &WebhookSecrets {
        &self.secrets
    }
}

/// Whether the process is ready to serve (`/readyz`): the controller sets it once its caches are
/// synced. Not ready carries a reason. Clones share one state.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<watch::Sender<Option<String>>>);

impl Readiness {
    /// Not ready, for `reason` (e.g. "caches are not synced yet").
    pub fn not_ready(reason: impl Into<String>) -> Readiness {
        Readiness(Arc::new(watch::Sender::new(Some(reason.into()))))
    }

    /// Ready from the start.
    pub fn ready() -> Readiness {
        Readiness(Arc::new(watch::Sender::new(None)))
    }

    /// Mark ready.
    pub fn set_ready(&self) {
        self.0.send_replace(None);
    }

    /// Mark not ready, for `reason`.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        self.0.send_replace(Some(reason.into()));
    }

    /// `Ok` when ready, otherwise the reason.
    pub fn status(&self) -> Result<(), String> {
        match &*self.0.borrow() {
            None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }

    /// Whether ready.
    pub fn is_ready(&self) -> bool {
        self.0.borrow().is_none()
    }

    /// A receiver that sees every change (`None`: ready; `Some(reason)`: not ready).
    pub fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.0.subscribe()
    }
}

/// How a webhook request ended (the `result` label of `trellis_webhooks_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookResult {
    /// Verified and parsed; a change was sent to the controller (202).
    Accepted,
    /// Verified, but nothing to act on: `ping` (200) or an event Trellis does not use (202).
    Ignored,
    /// Refused: no secret configured, or a missing or wrong signature or token (401).
    Unauthorized,
    /// Verified but malformed (400), or a body beyond the limit (413).
    BadRequest,
    /// Could not be handled now: the secret could not be read or the controller is gone (503).
    Unavailable,
}

impl WebhookResult {
    /// Every result, in label order.
    pub const ALL: [WebhookResult; 5] = [
        WebhookResult::Accepted,
        WebhookResult::Ignored,
        WebhookResult::Unauthorized,
        WebhookResult::BadRequest,
        WebhookResult::Unavailable,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookResult::Accepted => "accepted",
            WebhookResult::Ignored => "ignored",
            WebhookResult::Unauthorized => "unauthorized",
            WebhookResult::BadRequest => "bad_request",
            WebhookResult::Unavailable => "unavailable",
        }
    }

    fn index(self) -> usize {
        match self {
            WebhookResult::Accepted => 0,
            WebhookResult::Ignored => 1,
            WebhookResult::Unauthorized => 2,
            WebhookResult::BadRequest => 3,
            WebhookResult::Unavailable => 4,
        }
    }
}

/// The `provider` label of a forge.
pub fn provider_label(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "github",
        Forge::GitLab => "gitlab",
    }
}

const PROVIDERS: [Forge; 2] = [Forge::GitHub, Forge::GitLab];

/// Counters of webhook requests by provider and result. Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct WebhookCounts(Arc<[AtomicU64; 10]>);

impl WebhookCounts {
    fn slot(forge: Forge, result: WebhookResult) -> usize {
        let provider = match forge {
            Forge::GitHub => 0,
            Forge::GitLab => 1,
        };
        provider * WebhookResult::ALL.len() + result.index()
    }

    pub(crate) fn record(&self, forge: Forge, result: WebhookResult) {
        self.0[Self::slot(forge, result)].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of `forge`'s requests that ended with `result`.
    pub fn get(&self, forge: Forge, result: WebhookResult) -> u64 {
        self.0[Self::slot(forge, result)].load(Ordering::Relaxed)
    }

    /// Every count as `(provider, result, count)`, zeros included (for metrics).
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        PROVIDERS
            .iter()
            .flat_map(|&forge| {
                WebhookResult::ALL
                    .iter()
                    .map(move |&r| (provider_label(forge), r.as_str(), self.get(forge, r)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_provider_and_result() {
        let c = WebhookCounts::default();
        let shared = c.clone();
        shared.record(Forge::GitHub, WebhookResult::Accepted);
        shared.record(Forge::GitHub, WebhookResult::Accepted);
        shared.record(Forge::GitLab, WebhookResult::Unavailable);
        assert_eq!(c.get(Forge::GitHub, WebhookResult::Accepted), 2);
        assert_eq!(c.get(Forge::GitLab, WebhookResult::Accepted), 0);
        assert_eq!(c.get(Forge::GitLab, WebhookResult::Unavailable), 1);
        let snap = c.snapshot();
        assert_eq!(snap.len(), 10);
        assert!(snap.contains(&("github", "accepted", 2)));
        assert!(snap.contains(&("gitlab", "unavailable", 1)));
        assert!(snap.contains(&("gitlab", "bad_request", 0)));
    }

    #[test]
    fn readiness_is_shared_and_carries_a_reason() {
        let r = Readiness::not_ready("caches are not synced yet");
        let mut rx = r.subscribe();
        assert_eq!(r.status(), Err("caches are not synced yet".to_string()));
        r.clone().set_ready();
        assert!(r.is_ready());
        assert!(rx.has_changed().unwrap_or(false));
        assert_eq!(*rx.borrow_and_update(), None);
        r.set_not_ready("lost the API server");
        assert!(!r.is_ready());
        assert!(Readiness::ready().is_ready());
    }
}
