//! `POST /webhooks/github` and `POST /webhooks/gitlab`.
//!
//! Each request goes through the same steps, and stops at the first that fails:
//!
//! 1. the body is read whole, up to [`MAX_BODY`] (413 beyond);
//! 2. the forge's secret is looked up ([`crate::secrets`]): none configured → 401 (and a log
//!    line naming the missing Secret or key); the Secret cannot be read → 503, so the forge
//!    retries;
//! 3. the signature (`X-Hub-Signature-256`, an HMAC-SHA256 of the raw body) or the token
//!    (`X-Gitlab-Token`) is verified, before anything in the body is looked at: missing or wrong
//!    → 401;
//! 4. the event header (`X-GitHub-Event`, `X-Gitlab-Event`) is required (400 without);
//! 5. the payload is parsed (400 saying what is wrong);
//! 6. `push`, `create`, `delete` (GitHub) and `Push Hook`, `Tag Push Hook` (GitLab) send a
//!    [`Change`] to the controller and answer 202 at once (the fetch happens later); GitHub's
//!    `ping` answers 200; any other event answers 202 `{"ignored": ...}`. If the controller is
//!    no longer receiving changes, 503.
//!
//! Errors are JSON `{"error": "..."}`. Each request is counted by provider and result
//! ([`crate::WebhookCounts`]) and logged with its delivery id, event, repository, ref and result;
//! secrets, signatures and tokens never are.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use controller::webhook::{
    Change, Forge, GITHUB_EVENT_HEADER, GITHUB_SIGNATURE_HEADER, GITLAB_EVENT_HEADER,
    GITLAB_TOKEN_HEADER, GitRef, parse_github, parse_gitlab, verify_github, verify_gitlab,
};
use serde_json::{Value, json};

use crate::secrets::key_for;
use crate::state::{ServerState, WebhookResult, provider_label};

/// The largest webhook body accepted: GitHub caps payloads at 25 MB.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

/// GitHub's delivery id header.
pub const GITHUB_DELIVERY_HEADER: &str = "X-GitHub-Delivery";
/// GitLab's delivery id header.
pub const GITLAB_DELIVERY_HEADER: &str = "X-Gitlab-Event-UUID";

/// How long a forge should wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "5";

/// `POST /webhooks/github`.
pub(crate) async fn github(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&state, Forge::GitHub, &headers, body).await
}

/// `POST /webhooks/gitlab`.
pub(crate) async fn gitlab(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&state, Forge::GitLab, &headers, body).await
}

/// A header as text (`None` if absent or not visible ASCII).
fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A header whose value is checked, not logged: present but not text reads as the empty string,
/// which fails verification as a malformed or wrong value rather than as a missing one.
fn credential(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The full name of a ref (`refs/heads/main`).
fn full_ref(r: &GitRef) -> String {
    match r {
        GitRef::Branch(b) => format!("refs/heads/{b}"),
        GitRef::Tag(t) => format!("refs/tags/{t}"),
        GitRef::Other(o) => o.clone(),
    }
}

/// How a request ended.
struct Outcome {
    status: StatusCode,
    result: WebhookResult,
    body: Value,
    /// Logged: why it was refused, or what was done.
    detail: String,
    repo: Option<String>,
    git_ref: Option<String>,
}

impl Outcome {
    fn new(status: StatusCode, result: WebhookResult, body: Value, detail: String) -> Outcome {
        Outcome {
            status,
            result,
            body,
            detail,
            repo: None,
            git_ref: None,
        }
    }

    fn error(status: StatusCode, result: WebhookResult, message: String) -> Outcome {
        Outcome::new(status, result, json!({ "error": message }), message)
    }
}

async fn handle(
    state: &ServerState,
    forge: Forge,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (event_header, delivery_header) = match forge {
        Forge::GitHub => (GITHUB_EVENT_HEADER, GITHUB_DELIVERY_HEADER),
        Forge::GitLab => (GITLAB_EVENT_HEADER, GITLAB_DELIVERY_HEADER),
    };
    let event = text(headers, event_header);
    let delivery = text(headers, delivery_header).unwrap_or("-");
    let outcome = process(state, forge, headers, event, body).await;
    state.webhooks.record(forge, outcome.result);

    let provider = provider_label(forge);
    let event_label = event.unwrap_or("-");
    let repo = outcome.repo.as_deref().unwrap_or("-");
    let git_ref = outcome.git_ref.as_deref().unwrap_or("-");
    let result = outcome.result.as_str();
    let status = outcome.status.as_u16();
    match outcome.result {
        WebhookResult::Accepted | WebhookResult::Ignored => tracing::info!(
            provider,
            delivery,
            event = event_label,
            repo,
            git_ref,
            result,
            status,
            "webhook: {}",
            outcome.detail
        ),
        _ => tracing::warn!(
            provider,
            delivery,
            event = event_label,
            repo,
            git_ref,
            result,
            status,
            "webhook refused: {}",
            outcome.detail
        ),
    }

    let mut response = (outcome.status, Json(outcome.body)).into_response();
    if outcome.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    response
}

async fn process(
    state: &ServerState,
    forge: Forge,
    headers: &HeaderMap,
    event: Option<&str>,
    body: Result<Bytes, BytesRejection>,
) -> Outcome {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the body is larger than the limit of {MAX_BODY} bytes")
            } else {
                rejection.body_text()
            };
            return Outcome::error(status, WebhookResult::BadRequest, message);
        }
    };

    let secret = match state.secrets.get(forge).await {
        Ok(secret) => secret,
        Err(e) if e.is_transient() => {
            return Outcome::new(
                StatusCode::SERVICE_UNAVAILABLE,
                WebhookResult::Unavailable,
                json!({ "error": "the webhook secret cannot be read now; retry later" }),
                e.to_string(),
            );
        }
        Err(e) => {
            return Outcome::new(
                StatusCode::UNAUTHORIZED,
                WebhookResult::Unauthorized,
                json!({ "error": format!("no {} webhook secret is configured", key_for(forge)) }),
                format!("no secret to verify it with: {e}"),
            );
        }
    };

    let verified = match forge {
        Forge::GitHub => verify_github(
            &secret,
            &body,
            credential(headers, GITHUB_SIGNATURE_HEADER).as_deref(),
        ),
        Forge::GitLab => verify_gitlab(
            &String::from_utf8_lossy(&secret),
            credential(headers, GITLAB_TOKEN_HEADER).as_deref(),
        ),
    };
    if let Err(e) = verified {
        return Outcome::error(
            StatusCode::UNAUTHORIZED,
            WebhookResult::Unauthorized,
            e.to_string(),
        );
    }

    let event_header = match forge {
        Forge::GitHub => GITHUB_EVENT_HEADER,
        Forge::GitLab => GITLAB_EVENT_HEADER,
    };
    let Some(event) = event.map(str::trim).filter(|e| !e.is_empty()) else {
        return Outcome::error(
            StatusCode::BAD_REQUEST,
            WebhookResult::BadRequest,
            format!("missing {event_header} header"),
        );
    };

    let parsed = match forge {
        Forge::GitHub => parse_github(event, &body),
        Forge::GitLab => parse_gitlab(event, &body),
    };
    let change = match parsed {
        Err(e) => {
            return Outcome::error(
                StatusCode::BAD_REQUEST,
                WebhookResult::BadRequest,
                e.to_string(),
            );
        }
        Ok(None) if forge == Forge::GitHub && event == "ping" => {
            return Outcome::new(
                StatusCode::OK,
                WebhookResult::Ignored,
                json!({ "message": "pong" }),
                "ping".to_string(),
            );
        }
        Ok(None) => {
            let message = format!("{event:?} events are not acted on");
            return Outcome::new(
                StatusCode::ACCEPTED,
                WebhookResult::Ignored,
                json!({ "ignored": message }),
                message,
            );
        }
        Ok(Some(change)) => change,
    };
    accept(state, event, change)
}

/// Hand a verified change to the controller.
fn accept(state: &ServerState, event: &str, change: Change) -> Outcome {
    let repo = change.repo_urls.first().cloned().unwrap_or_default();
    let git_ref = full_ref(change.git_ref());
    let deletion = change.is_deletion();
    let body = json!({
        "accepted": event,
        "repository": repo,
        "ref": git_ref,
        "deletion": deletion,
    });
    let mut outcome = if state.changes.send(change).is_err() {
        Outcome::error(
            StatusCode::SERVICE_UNAVAILABLE,
            WebhookResult::Unavailable,
            "the controller is not receiving changes".to_string(),
        )
    } else {
        let what = if deletion { "deletion" } else { "change" };
        Outcome::new(
            StatusCode::ACCEPTED,
            WebhookResult::Accepted,
            body,
            format!("{what} sent to the controller"),
        )
    };
    outcome.repo = Some(repo);
    outcome.git_ref = Some(git_ref);
    outcome
}
