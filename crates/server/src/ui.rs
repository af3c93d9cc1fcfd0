//! The web UI: static assets built into the binary (no run-time fetch from the internet), served
//! at `/` (the single page) and `/assets/*`. The page talks only to `/api/v1` with the bearer token
//! the user typed or passed in the URL fragment (`/#token=…`), kept in session storage.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

/// The UI's routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(index))
}

async fn index() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Html("<!doctype html><title>Trellis</title><p>Trellis</p>"),
    )
}
