//! What kubectl reads about the cluster without running anything: `pods/log` for simulated Pods
//! (`follow`, `previous`, `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes`)
//! and the access reviews (`kubectl auth can-i`, `auth whoami`): every request is allowed, as
//! the local server has no authorization.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::State;
use crate::api;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;

/// The user every token stands for.
pub const USER: &str = "devcluster-admin";

/// Whether a resource is one of the create-only reviews.
pub fn is_review(ri: &ResourceInfo) -> bool {
    matches!(
        (ri.group.as_str(), ri.kind.as_str()),
        ("authorization.k8s.io", _) | ("authentication.k8s.io", _)
    ) && ri.kind.ends_with("Review")
}

/// Answer a review: the request with its `status` filled in.
pub fn review(
    state: &State,
    ri: &ResourceInfo,
    ns: Option<&str>,
    mut body: Value,
) -> ApiResult<Value> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::bad_request("the body must be an object"));
    };
    obj.insert("apiVersion".into(), json!(ri.api_version()));
    obj.insert("kind".into(), json!(ri.kind));
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    if let (Some(ns), Some(m)) = (ns, meta.as_object_mut()) {
        m.insert("namespace".into(), json!(ns));
    }
    let user = json!({"username": USER, "groups": ["system:masters", "system:authenticated"]});
    let status = match ri.kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => json!({
            "allowed": true,
            "reason": "the local API server authorizes every request"
        }),
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false
        }),
        "SelfSubjectReview" => json!({"userInfo": user}),
        "TokenReview" => {
            let token = body
                .pointer("/spec/token")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ok = state.token.as_deref().is_none_or(|t| t == token);
            if ok {
                json!({"authenticated": true, "user": user})
            } else {
                json!({"authenticated": false, "error": "invalid bearer token"})
            }
        }
        _ => json!({}),
    };
    if let Some(obj) = body.as_object_mut() {
        obj.insert("status".into(), status);
    }
    Ok(body)
}

/// One log line: when it was written and its text.
struct Line {
    at: Option<chrono::DateTime<chrono::Utc>>,
    text: String,
    /// The line starts with its time even without `timestamps` (which then prints it once).
    dated: bool,
}

fn parse_time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The lines one run of a container wrote: started, and exited when it terminated.
fn run_lines(container: &str, image: &str, state: &Value) -> Vec<Line> {
    let (started, finished) = match (state.get("running"), state.get("terminated")) {
        (Some(r), _) => (r.get("startedAt").cloned(), None),
        (None, Some(t)) => (t.get("startedAt").cloned(), Some(t)),
        _ => return Vec::new(),
    };
    let started = started.unwrap_or(Value::Null);
    let mut lines = vec![Line {
        at: parse_time(&started),
        text: format!("container {container} started (image {image}) on the simulated node"),
        dated: true,
    }];
    if let Some(t) = finished {
        lines.push(Line {
            at: parse_time(&t["finishedAt"]),
            text: format!(
                "container exited with code {}",
                t["exitCode"].as_i64().unwrap_or(0)
            ),
            dated: false,
        });
    }
    lines
}

struct LogQuery {
    container: String,
    follow: bool,
    previous: bool,
    tail: Option<usize>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    timestamps: bool,
    limit_bytes: Option<usize>,
}

fn log_query(q: &HashMap<String, String>) -> ApiResult<LogQuery> {
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let since = match (q.get("sinceSeconds"), q.get("sinceTime")) {
        (Some(s), _) => {
            let secs: i64 =
                s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    ApiError::bad_request("sinceSeconds must be a positive integer")
                })?;
            Some(chrono::Utc::now() - chrono::Duration::seconds(secs))
        }
        (None, Some(t)) => Some(
            parse_time(&json!(t))
                .ok_or_else(|| ApiError::bad_request(format!("invalid sinceTime {t:?}")))?,
        ),
        _ => None,
    };
    Ok(LogQuery {
        container: q.get("container").cloned().unwrap_or_default(),
        follow: flag("follow"),
        previous: flag("previous"),
        tail: q.get("tailLines").and_then(|t| t.parse().ok()),
        since,
        timestamps: flag("timestamps"),
        limit_bytes: q.get("limitBytes").and_then(|t| t.parse().ok()),
    })
}

fn render(lines: &[Line], timestamps: bool) -> String {
    let mut out = String::new();
    for l in lines {
        if timestamps || l.dated {
            let at =
                l.at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                    .unwrap_or_default();
            out.push_str(&at);
            out.push(' ');
        }
        out.push_str(&l.text);
        out.push('\n');
    }
    out
}

/// The container's status and name, picking the only one when none is named (as a real server).
fn container<'a>(pod: &'a Value, want: &str) -> ApiResult<(&'a Value, String, Value)> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let containers: Vec<&Value> = pod["spec"]["containers"]
        .as_array()
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let cname = |c: &Value| c["name"].as_str().unwrap_or_default().to_string();
    let c = if want.is_empty() {
        match containers.as_slice() {
            [one] => *one,
            _ => {
                let names: Vec<String> = containers.iter().map(|c| cname(c)).collect();
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names.join(" ")
                )));
            }
        }
    } else {
        containers
            .iter()
            .find(|c| cname(c) == want)
            .copied()
            .ok_or_else(|| {
                ApiError::bad_request(format!("container {want} is not valid for pod {name}"))
            })?
    };
    let cn = cname(c);
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"].as_str() == Some(cn.as_str())))
        .cloned()
        .unwrap_or(Value::Null);
    Ok((c, cn, status))
}

/// `GET pods/{name}/log`.
pub fn pod_log(
    state: &Arc<State>,
    ri: &ResourceInfo,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    let lq = log_query(q)?;
    let pod = api::get(state, ri, ns, name)?;
    let (c, cn, status) = container(&pod, &lq.container)?;
    let image = c["image"].as_str().unwrap_or_default().to_string();
    let mut lines = if lq.previous {
        if status["restartCount"].as_i64().unwrap_or(0) == 0
            || status["lastState"]["terminated"].is_null()
        {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{cn}\" in pod \"{name}\" not found"
            )));
        }
        run_lines(&cn, &image, &status["lastState"])
    } else {
        if status["state"]["running"].is_null() && status["state"]["terminated"].is_null() {
            let reason = status["state"]["waiting"]["reason"]
                .as_str()
                .unwrap_or("ContainerCreating");
            return Err(ApiError::bad_request(format!(
                "container \"{cn}\" in pod \"{name}\" is waiting to start: {reason}"
            )));
        }
        run_lines(&cn, &image, &status["state"])
    };
    if let Some(since) = lq.since {
        lines.retain(|l| l.at.is_none_or(|t| t >= since));
    }
    if let Some(n) = lq.tail {
        let drop = lines.len().saturating_sub(n);
        lines.drain(..drop);
    }
    let mut first = render(&lines, lq.timestamps);
    if let Some(limit) = lq.limit_bytes {
        first.truncate(limit);
    }
    let running = !lq.previous && status["state"]["terminated"].is_null();
    if !lq.follow || !running {
        return Ok((StatusCode::OK, [("content-type", "text/plain")], first).into_response());
    }
    // Follow: the log stays open until the container terminates (its exit line), the Pod goes
    // away, the client leaves or the server stops.
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
    let st = state.clone();
    let (ri, ns, name) = (ri.clone(), ns.to_string(), name.to_string());
    let timestamps = lq.timestamps;
    tokio::spawn(async move {
        if tx.send(first).await.is_err() {
            return;
        }
        let mut stop = st.shutdown_tx.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
                _ = stop.changed() => return,
            }
            let Ok(pod) = api::get(&st, &ri, &ns, &name) else {
                return;
            };
            let Ok((_, _, status)) = container(&pod, &cn) else {
                return;
            };
            if !status["state"]["terminated"].is_null() {
                let lines = run_lines(&cn, &image, &status["state"]);
                let _ = tx
                    .send(render(lines.get(1..).unwrap_or(&[]), timestamps))
                    .await;
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        StatusCode::OK,
        [
            ("content-type", "text/plain"),
            ("cache-control", "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
