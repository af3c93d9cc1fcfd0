//! # server
//!
//! The HTTP surface of `trellis serve`: the git webhooks (`POST /webhooks/github`,
//! `POST /webhooks/gitlab`) and the health endpoints (`GET /healthz`, `GET /readyz`). The API,
//! the web UI and the metrics (issue 11) will be added here. This crate may call `controller`
//! (its pure webhook module now, its state later) and `kube`; nothing above it (the `trellis`
//! binary) — the binary builds a [`ServerState`], calls [`router`] and [`serve`].
//!
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

pub mod secrets;
mod state;
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
