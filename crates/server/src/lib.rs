//! # server
//!
//! The HTTP surface of `trellis serve`: the git webhooks, the health endpoints, the JSON API
//! under `/api/v1` with its roles, the web UI at `/`, and the Prometheus metrics at `/metrics`.
//! This crate may call `controller` (its webhook module, its metrics, its on-demand diff), `sync`
//! (health rules for the live tree) and `kube`; nothing above it (the `trellis` binary) — the
//! binary builds a [`ServerState`] (and an [`api::ApiState`]), calls [`app`] and [`serve`].
//!
//! - [`api`] serves `/api/v1` (see its module doc), read from its own watches ([`api::model`]).
//! - [`auth`] holds bearer tokens and roles (`admin`, `readonly`, `project:<name>`).
//! - [`metrics`] serves `/metrics`.
//! - [`ui`] serves the web UI's embedded assets.
//! - [`webhooks`]: verification before parsing, then a [`Change`] sent on an unbounded channel to
//!   the controller, which fetches the repository it names; the request is answered at once.
//! - [`secrets`]: the webhook secrets, from the Secret `trellis-webhook` (keys `github`,
//!   `gitlab`) in the controller's namespace, cached for a few seconds; or fixed ones for tests.
//! - [`ServerState`]: the channel, the secrets, [`Readiness`] (set by the controller once its
//!   caches are synced) and [`WebhookCounts`] (by provider and [`WebhookResult`]).
//!
//! | route | answers |
//! |---|---|
//! | `POST /webhooks/github` | 202 change sent · 200 `ping` · 202 `{"ignored"}` other events · 401 no secret, bad or missing signature · 400 malformed · 413 body > 25 MiB · 503 secret unreadable |
//! | `POST /webhooks/gitlab` | the same, with `X-Gitlab-Token` and `Push Hook` / `Tag Push Hook` |
//! | `GET /healthz` | 200 `ok` while the process serves |
//! | `GET /readyz` | 200 `ok` when ready, 503 `not ready: <reason>` otherwise |
//!
//! Unknown paths get 404 and a wrong method 405. Errors are JSON `{"error": "..."}`.

use std::future::Future;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

pub mod api;
pub mod auth;
pub mod metrics;
pub mod secrets;
mod state;
pub mod ui;
pub mod webhooks;

pub use controller::webhook::{Change, Forge};
pub use secrets::{SecretError, WebhookSecrets};
pub use state::{Readiness, ServerState, WebhookCounts, WebhookResult, provider_label};

/// The routes of `trellis serve`, over `state`.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .layer(DefaultBodyLimit::max(webhooks::MAX_BODY))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
}

/// Everything `trellis serve` answers: [`router`]'s webhooks and health endpoints, and with
/// `api` the API, the web UI and the metrics.
pub fn app(
    state: ServerState,
    api: Option<api::ApiState>,
    metrics: metrics::MetricsState,
) -> Router {
    let base = Router::new()
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .layer(DefaultBodyLimit::max(webhooks::MAX_BODY))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    let mut r = base.merge(metrics::routes(metrics));
    if let Some(api) = api {
        r = r.merge(api::routes(api)).merge(ui::routes());
    }
    r.fallback(not_found)
}

/// Serve `router` on `listener` until `shutdown` completes, then stop accepting connections and
/// wait for the requests in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving HTTP");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("HTTP server stopped");
    Ok(())
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the controller's caches are synced.
async fn readyz(State(state): State<ServerState>) -> Response {
    match state.readiness.status() {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}"),
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": "not found" })),
    )
        .into_response()
}
