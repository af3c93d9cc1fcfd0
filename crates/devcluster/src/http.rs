//! The HTTP layer: bearer-token authentication, routing of Kubernetes API paths
//! (`/api/v1/...`, `/apis/{g}/{v}/...`, namespaced and cluster-scoped, subresources, the
//! legacy `/watch/` prefix), query options, body limits, content negotiation (JSON, YAML
//! bodies, `Table` for kubectl get), list pagination and streaming watches.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::State;
use crate::api::{self, DeleteOpts, FieldValidation, PatchType, Sub, WriteOpts};
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::introspect;
use crate::openapi;
use crate::proto;
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::tables;

/// Largest accepted request body (Kubernetes' limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The router serving the whole API.
pub fn router(state: Arc<State>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn json_response(code: u16, v: &Value, warnings: &[String]) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        [("content-type", "application/json")],
        body,
    )
        .into_response();
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(h) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", h);
        }
    }
    resp
}

fn text(code: StatusCode, s: &'static str) -> Response {
    (code, [("content-type", "text/plain; charset=utf-8")], s).into_response()
}

async fn handle(AxState(state): AxState<Arc<State>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    // Health and version are public, as on a real API server.
    match path.as_str() {
        "/healthz" | "/readyz" | "/livez" => return text(StatusCode::OK, "ok"),
        p if p.starts_with("/healthz/")
            || p.starts_with("/readyz/")
            || p.starts_with("/livez/") =>
        {
            return text(StatusCode::OK, "ok");
        }
        "/version" | "/version/" => return json_response(200, &discovery::version(), &[]),
        _ => {}
    }
    if let Some(token) = &state.token {
        let ok = req
            .headers()
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| t.trim() == token);
        if !ok {
            return ApiError::new(401, "Unauthorized", "Unauthorized").into_response();
        }
    }
    let protobuf = proto::wants_protobuf(&header(req.headers(), "accept")) && !is_watch(&req);
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let resp = match route(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if writes {
        // With a data dir, a write is answered once it is on disk (group commit).
        state.store.sync_log().await;
    }
    if protobuf {
        to_protobuf(resp).await
    } else {
        resp
    }
}

fn is_watch(req: &Request) -> bool {
    let path = req.uri().path();
    path.starts_with("/api/v1/watch/")
        || path.split('/').nth(4) == Some("watch")
        || req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "watch=true" || p == "watch=1" || p == "follow=true")
        })
}

/// Re-encode a JSON answer as protobuf for a client that asked for it first (client-go's typed
/// clients, kubectl). Kinds without a message (custom resources, discovery) stay JSON, which
/// those clients also read.
async fn to_protobuf(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes() == b"application/json");
    if !is_json || resp.headers().contains_key("cache-control") {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::new(500, "InternalError", "could not read the response body")
            .into_response();
    };
    let encoded = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| proto::encode(&v));
    match encoded {
        Some(pb) => {
            parts
                .headers
                .insert("content-type", HeaderValue::from_static(proto::MEDIA_TYPE));
            parts.headers.remove("content-length");
            Response::from_parts(parts, Body::from(pb))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

fn query_map(req: &Request) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = req.uri().query() {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                let s = s.replace('+', " ");
                percent_decode(&s)
            };
            out.insert(dec(k), dec(v));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn read_body(req: Request) -> ApiResult<Bytes> {
    use http_body_util::BodyExt;
    let mut body = req.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut total: usize = 0;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= MAX_BODY {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > MAX_BODY {
        // The rest was read and dropped so the client gets the Status, not a reset connection.
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {MAX_BODY}"),
        ));
    }
    Ok(Bytes::from(buf))
}

/// Beyond this, an oversize body is not even drained.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn route(state: &Arc<State>, req: Request) -> ApiResult<Response> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let accept = header(req.headers(), "accept");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if req.method() == Method::GET {
        match segs.as_slice() {
            ["api"] => {
                return Ok(if discovery::wants_aggregated(&accept) {
                    aggregated_response(&discovery::aggregated(&state.registry, true))
                } else {
                    json_response(200, &discovery::api_versions(&state.server_address), &[])
                });
            }
            ["apis"] => {
                return Ok(if discovery::wants_aggregated(&accept) {
                    aggregated_response(&discovery::aggregated(&state.registry, false))
                } else {
                    json_response(200, &discovery::api_groups(&state.registry), &[])
                });
            }
            ["api", v] => {
                return discovery::resource_list(&state.registry, "", v)
                    .map(|d| json_response(200, &d, &[]))
                    .ok_or_else(page_not_found);
            }
            ["apis", g] => {
                return discovery::api_group(&state.registry, g)
                    .map(|d| json_response(200, &d, &[]))
                    .ok_or_else(page_not_found);
            }
            ["apis", g, v] => {
                return discovery::resource_list(&state.registry, g, v)
                    .map(|d| json_response(200, &d, &[]))
                    .ok_or_else(page_not_found);
            }
            ["openapi", "v3"] => {
                return Ok(json_response(200, &openapi::index(&state.registry), &[]));
            }
            ["openapi", "v3", "api", v] => {
                return openapi::document(&state.registry, "", v)
                    .map(|d| json_response(200, &d, &[]))
                    .ok_or_else(page_not_found);
            }
            ["openapi", "v3", "apis", g, v] => {
                return openapi::document(&state.registry, g, v)
                    .map(|d| json_response(200, &d, &[]))
                    .ok_or_else(page_not_found);
            }
            _ => {}
        }
    }
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Err(page_not_found()),
    };
    let mut watch_prefix = false;
    let mut rest = rest;
    if rest.first() == Some(&"watch") {
        watch_prefix = true;
        rest = &rest[1..];
    }
    if !state.registry.has_group_version(group, version) {
        return Err(page_not_found());
    }
    // Resolve: namespaces/{ns}/{plural}/... or {plural}/...
    let find = |plural: &str| state.registry.find(group, version, plural);
    let (ri, ns, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            let ri = find(plural).expect("checked");
            match tail {
                [] => (ri, Some(*ns), None, None),
                [name] => (ri, Some(*ns), Some(*name), None),
                [name, sub] => (ri, Some(*ns), Some(*name), Some(*sub)),
                _ => return Err(page_not_found()),
            }
        }
        [plural, tail @ ..] => {
            let ri = find(plural).ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
                .details("", group, plural)
            })?;
            match tail {
                [] => (ri, None, None, None),
                [name] if !ri.namespaced => (ri, None, Some(*name), None),
                [name, sub] if !ri.namespaced => (ri, None, Some(*name), Some(*sub)),
                _ => return Err(page_not_found()),
            }
        }
        [] => return Err(page_not_found()),
    };
    if sub == Some("log") && ri.kind == "Pod" && ri.group.is_empty() {
        let (Some(ns), Some(name)) = (ns, name) else {
            return Err(page_not_found());
        };
        if req.method() != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        return introspect::pod_log(state, &ri, ns, name, &query_map(&req));
    }
    if introspect::is_review(&ri) {
        if req.method() != Method::POST || name.is_some() {
            return Err(ApiError::method_not_allowed());
        }
        let content_type = header(req.headers(), "content-type");
        let body = read_body(req).await?;
        let value = api::parse_body(&body, &content_type)?;
        let answer = introspect::review(state, &ri, ns, value)?;
        return Ok(json_response(201, &answer, &[]));
    }
    let sub = match sub {
        None => Sub::Main,
        Some("status") if ri.has_status => Sub::Status,
        Some("scale") if ri.scale.is_some() => Sub::Scale,
        Some(_) => return Err(page_not_found()),
    };
    let ns = ns.map(str::to_string);
    let name = name.map(str::to_string);
    let q = query_map(&req);
    let method = req.method().clone();
    let headers = req.headers().clone();
    let table = accept.contains("as=Table");
    let content_type = header(&headers, "content-type");
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dryRun value {other:?}: supported values: \"All\""
            )));
        }
    };
    let validation = match q.get("fieldValidation").map(String::as_str) {
        None | Some("") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            )));
        }
    };
    let ua = header(&headers, "user-agent");
    let field_manager = q
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| ua.split('/').next().unwrap_or("unknown").to_string());
    let opts = WriteOpts {
        dry_run,
        field_manager,
        validation,
        force: q.get("force").is_some_and(|f| f == "true"),
    };
    let ns_s = ns.clone().unwrap_or_default();
    if ri.namespaced && ns.is_none() && name.is_some() {
        return Err(page_not_found());
    }
    if ri.namespaced && ns.is_none() && method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let is_watch = watch_prefix || q.get("watch").is_some_and(|w| w == "true" || w == "1");
    let mut watch_faults = WatchFaults::default();
    if let Some(faults) = &state.faults {
        let conflictable = method == Method::PUT
            || (method == Method::PATCH && !content_type.starts_with("application/apply-patch"));
        let from_rv = q
            .get("resourceVersion")
            .is_some_and(|rv| !rv.is_empty() && rv != "0");
        let resource = if ri.group.is_empty() {
            ri.plural.clone()
        } else {
            format!("{}.{}", ri.plural, ri.group)
        };
        let d = faults.decide(
            conflictable,
            is_watch,
            from_rv,
            &resource,
            name.as_deref().unwrap_or_default(),
        );
        if let Some(delay) = d.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(failure) = d.failure {
            return Ok(failure);
        }
        watch_faults = WatchFaults {
            gone: d.watch_gone,
            lifetime: d.watch_lifetime,
        };
    }
    match (method, name) {
        (Method::GET, None) if is_watch => {
            watch(state, &ri, ns.as_deref(), &q, table, watch_faults).await
        }
        (Method::GET, Some(n)) if is_watch => {
            let mut q2 = q.clone();
            q2.insert("fieldSelector".into(), format!("metadata.name={n}"));
            watch(state, &ri, ns.as_deref(), &q2, table, watch_faults).await
        }
        (Method::GET, None) => list(state, &ri, ns.as_deref(), &q, table),
        (Method::GET, Some(n)) => {
            let obj = api::get(state, &ri, &ns_s, &n)?;
            let v = if sub == Sub::Scale {
                api::scale_of(&ri, &obj)?
            } else {
                api::versioned(&ri, &obj)
            };
            if table && sub == Sub::Main {
                return Ok(json_response(
                    200,
                    &to_table(&ri, &[v], &state.store.current_rv().to_string(), &q),
                    &[],
                ));
            }
            Ok(json_response(200, &v, &[]))
        }
        (Method::POST, None) => {
            let body = read_body(req).await?;
            let value = api::parse_body(&body, &content_type)?;
            let w = api::create(state, &ri, &ns_s, value, &opts)?;
            Ok(json_response(w.code, &w.object, &w.warnings))
        }
        (Method::PUT, Some(n)) => {
            let body = read_body(req).await?;
            let value = api::parse_body(&body, &content_type)?;
            let w = api::update(state, &ri, &ns_s, &n, value, sub, &opts)?;
            Ok(json_response(w.code, &w.object, &w.warnings))
        }
        (Method::PATCH, Some(n)) => {
            let ct = content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let ptype = match ct.as_str() {
                "application/json-patch+json" => PatchType::Json,
                "application/merge-patch+json" => PatchType::Merge,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/apply-patch+yaml" => PatchType::Apply,
                other => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
                        ),
                    ));
                }
            };
            let body = read_body(req).await?;
            let w = api::patch(state, &ri, &ns_s, &n, ptype, &body, sub, &opts)?;
            Ok(json_response(w.code, &w.object, &w.warnings))
        }
        (Method::DELETE, Some(n)) => {
            let body = read_body(req).await?;
            let dopts = delete_opts(&q, &body, dry_run)?;
            match api::delete(state, &ri, &ns_s, &n, &dopts)? {
                api::Deleted::Gone(status) => Ok(json_response(200, &status, &[])),
                api::Deleted::Pending(obj) => Ok(json_response(200, &obj, &[])),
            }
        }
        (Method::DELETE, None) => {
            let body = read_body(req).await?;
            let dopts = delete_opts(&q, &body, dry_run)?;
            let label = LabelSelector::parse(
                q.get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            let field = FieldSelector::parse(
                q.get("fieldSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            let (_, items, _) = state.store.list(
                &ri.key(),
                ns.as_deref().filter(|_| ri.namespaced),
                None,
                0,
                &|o| label.matches(o) && field.matches(o),
            );
            let mut deleted = Vec::new();
            for item in items {
                let n = item["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if api::delete(state, &ri, &ns_s, &n, &dopts).is_ok() {
                    deleted.push(api::versioned(&ri, &item));
                }
            }
            Ok(json_response(
                200,
                &json!({"kind": format!("{}List", ri.kind), "apiVersion": ri.api_version(), "metadata": {"resourceVersion": state.store.current_rv().to_string()}, "items": deleted}),
                &[],
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn page_not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn aggregated_response(v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (
        StatusCode::OK,
        [("content-type", discovery::AGGREGATED_CT)],
        body,
    )
        .into_response()
}

fn delete_opts(q: &HashMap<String, String>, body: &[u8], dry_run: bool) -> ApiResult<DeleteOpts> {
    let mut o = DeleteOpts {
        dry_run,
        ..Default::default()
    };
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = if body.starts_with(b"k8s\0") {
            crate::proto::decode_delete_options(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            o.propagation = Some(p.to_string());
        }
        if v.get("orphanDependents") == Some(&json!(true)) {
            o.propagation = Some("Orphan".into());
        }
        if let Some(d) = v.get("dryRun").and_then(Value::as_array)
            && d.iter().any(|x| x == "All")
        {
            o.dry_run = true;
        }
        o.precondition_uid = v["preconditions"]
            .get("uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.precondition_rv = v["preconditions"]
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if let Some(p) = q.get("propagationPolicy") {
        o.propagation = Some(p.clone());
    }
    if q.get("orphanDependents").is_some_and(|v| v == "true") {
        o.propagation = Some("Orphan".into());
    }
    Ok(o)
}

fn parse_rv(s: &str) -> ApiResult<u64> {
    s.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "resourceVersion: Invalid value: {s:?}: must be a non-negative integer"
        ))
    })
}

fn too_large(rv: u64, current: u64) -> ApiError {
    ApiError::new(
        504,
        "Timeout",
        format!("Too large resource version: {rv}, current: {current}"),
    )
    .with_cause("ResourceVersionTooLarge", "Too large resource version", "")
}

fn list(
    state: &Arc<State>,
    ri: &ResourceInfo,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    table: bool,
) -> ApiResult<Response> {
    let label = LabelSelector::parse(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let field = FieldSelector::parse(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let limit: usize = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("limit must be an integer"))?
            .max(0) as usize,
        None => 0,
    };
    let current = state.store.current_rv();
    if let Some(rv) = q
        .get("resourceVersion")
        .filter(|s| !s.is_empty() && *s != "0")
    {
        let rv = parse_rv(rv)?;
        match q.get("resourceVersionMatch").map(String::as_str) {
            Some("Exact") if rv != current => {
                return Err(if rv < current {
                    ApiError::gone(format!("too old resource version: {rv} ({current})"))
                } else {
                    too_large(rv, current)
                });
            }
            _ if rv > current => return Err(too_large(rv, current)),
            _ => {}
        }
    } else if q.get("resourceVersionMatch").is_some_and(|m| m == "Exact") {
        return Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"\"",
        ));
    }
    let after = match q.get("continue").filter(|s| !s.is_empty()) {
        Some(tok) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(tok)
                .map_err(|_| {
                    ApiError::bad_request("continue key is not valid: illegal base64 data")
                })?;
            let v: Value = serde_json::from_slice(&raw)
                .map_err(|_| ApiError::bad_request("continue key is not valid"))?;
            Some((
                (
                    v["ns"].as_str().unwrap_or_default().to_string(),
                    v["n"].as_str().unwrap_or_default().to_string(),
                ),
                v["rv"].as_u64().filter(|rv| *rv > 0),
            ))
        }
        None => None,
    };
    let (after, at) = after.unzip();
    let store_ns = if ri.namespaced { ns } else { None };
    // A continued list reads the snapshot of its first page, as etcd serves it.
    let (rv, items, next) = state
        .store
        .list_at(
            &ri.key(),
            store_ns,
            after,
            limit,
            &|o| label.matches(o) && field.matches(o),
            at.flatten(),
        )
        .map_err(|_| {
            ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter, or use the continue \
                 token in this response to retrieve the remainder of the results. Continuing \
                 with the provided token results in an inconsistent list - objects that were \
                 created, modified, or deleted between the time the first chunk was returned \
                 and now may show up in the list.",
            )
        })?;
    let rv_s = rv.to_string();
    if table {
        let vals: Vec<Value> = items.iter().map(|e| api::versioned(ri, &e.obj)).collect();
        let mut t = to_table(ri, &vals, &rv_s, q);
        if let Some((ns, n)) = &next {
            t["metadata"]["continue"] = json!(continue_token(ns, n, rv));
        }
        return Ok(json_response(200, &t, &[]));
    }
    // Serialize directly: the list can be large.
    let mut meta = json!({"resourceVersion": rv_s});
    if let Some((ns, n)) = &next {
        meta["continue"] = json!(continue_token(ns, n, rv));
    }
    let mut out = Vec::with_capacity(items.iter().map(|e| e.json.len() + 1).sum::<usize>() + 256);
    out.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut out, &format!("{}List", ri.kind)).map_err(internal)?;
    out.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut out, &ri.api_version()).map_err(internal)?;
    out.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut out, &meta).map_err(internal)?;
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if ri.custom {
            serde_json::to_writer(&mut out, &api::versioned(ri, &item.obj)).map_err(internal)?;
        } else {
            out.extend_from_slice(&item.json);
        }
    }
    out.extend_from_slice(b"]}");
    Ok((StatusCode::OK, [("content-type", "application/json")], out).into_response())
}

fn internal(e: serde_json::Error) -> ApiError {
    ApiError::new(500, "InternalError", e.to_string())
}

fn continue_token(ns: &str, n: &str, rv: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"ns": ns, "n": n, "rv": rv}).to_string())
}

fn age(ts: &str) -> String {
    tables::age(ts)
}

/// Render objects as a `meta.k8s.io/v1` Table (what `kubectl get` asks for).
/// The row object a Table carries for `includeObject` (default: metadata only).
fn table_object(o: &Value, q: &HashMap<String, String>) -> Value {
    match q.get("includeObject").map(String::as_str) {
        Some("None") => Value::Null,
        Some("Object") => o.clone(),
        _ => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"].clone()})
        }
    }
}

/// Core `v1` Events as the real server prints them: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE
/// (and with `-o wide` SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME).
fn event_table(items: &[Value], rv: &str, q: &HashMap<String, String>) -> Value {
    let col = |name: &str, fmt: &str, priority: i64| json!({"name": name, "type": if name == "Count" {"integer"} else {"string"}, "format": fmt, "description": name, "priority": priority});
    let cols = vec![
        col("Last Seen", "", 0),
        col("Type", "", 0),
        col("Reason", "", 0),
        col("Object", "", 0),
        col("Subobject", "", 1),
        col("Source", "", 1),
        col("Message", "", 0),
        col("First Seen", "", 1),
        col("Count", "", 1),
        col("Name", "name", 1),
    ];
    let s = |o: &Value, p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let core;
            let o = if o["apiVersion"] == json!("events.k8s.io/v1") {
                core = events_v1_as_core(o);
                &core
            } else {
                o
            };
            let last = s(o, "/lastTimestamp");
            let first = s(o, "/firstTimestamp");
            let source = match (s(o, "/source/component"), s(o, "/source/host")) {
                (c, h) if h.is_empty() => c,
                (c, h) => format!("{c}, {h}"),
            };
            let cells = json!([
                age(if last.is_empty() { &first } else { &last }),
                s(o, "/type"),
                s(o, "/reason"),
                format!(
                    "{}/{}",
                    s(o, "/involvedObject/kind").to_lowercase(),
                    s(o, "/involvedObject/name")
                ),
                s(o, "/involvedObject/fieldPath"),
                source,
                s(o, "/message"),
                age(&first),
                o["count"].as_i64().unwrap_or(1),
                s(o, "/metadata/name"),
            ]);
            json!({"cells": cells, "object": table_object(o, q)})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": cols, "rows": rows})
}

/// An `events.k8s.io/v1` Event in the core fields the event table reads.
fn events_v1_as_core(o: &Value) -> Value {
    let last = o
        .pointer("/series/lastObservedTime")
        .or(o.get("deprecatedLastTimestamp"))
        .filter(|v| !v.is_null())
        .or(o.get("eventTime"))
        .cloned()
        .unwrap_or(Value::Null);
    let first = o
        .get("deprecatedFirstTimestamp")
        .filter(|v| !v.is_null())
        .or(o.get("eventTime"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "metadata": o["metadata"], "type": o["type"], "reason": o["reason"],
        "involvedObject": o["regarding"], "message": o["note"],
        "source": o.get("deprecatedSource").filter(|v| !v.is_null()).cloned()
            .unwrap_or_else(|| json!({"component": o["reportingController"]})),
        "lastTimestamp": last, "firstTimestamp": first,
        "count": o.pointer("/series/count").or(o.get("deprecatedCount")).cloned().unwrap_or(json!(1)),
    })
}

fn to_table(ri: &ResourceInfo, items: &[Value], rv: &str, q: &HashMap<String, String>) -> Value {
    if ri.kind == "Event" && (ri.group.is_empty() || ri.group == "events.k8s.io") {
        return event_table(items, rv, q);
    }
    // Custom resources (no printer columns here) show NAME and AGE, as their CRD's default.
    let cols = if ri.custom {
        json!([
            {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
            {"name": "Age", "type": "date", "format": "", "description": "Age", "priority": 0}
        ])
    } else {
        json!(tables::column_definitions(&ri.group, &ri.kind))
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            if ri.custom {
                cells.push(json!(age(o["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default())));
            } else {
                cells.extend(tables::cells(&ri.group, &ri.kind, o));
            }
            json!({"cells": cells, "object": table_object(o, q)})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": cols, "rows": rows})
}

/// The event type a filtered watch sees: an object entering the selection is ADDED, one
/// leaving it is DELETED, others pass through; None when it was and stays outside.
fn filtered_type(
    ev: &crate::store::Event,
    filter: &dyn Fn(&Value) -> bool,
) -> Option<&'static str> {
    use crate::store::EventType;
    let now = filter(&ev.object);
    match ev.etype {
        EventType::Modified => {
            let before = ev.prev.as_ref().is_some_and(|p| filter(p));
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
        other => now.then(|| other.as_str()),
    }
}

fn event_line(etype: &str, obj: &Value) -> Bytes {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(etype.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    let _ = serde_json::to_writer(&mut out, obj);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// What fault injection does to one watch.
#[derive(Debug, Default, Clone, Copy)]
struct WatchFaults {
    /// Answer 410 Gone as if the requested resourceVersion had been compacted away.
    gone: bool,
    /// Close the stream after this long (as a restarting server or a proxy's timeout does).
    lifetime: Option<Duration>,
}

/// The 200 answer carrying one ERROR event with a 410 Status, as Kubernetes streams it.
fn gone_stream(e: &ApiError) -> Response {
    let body = Body::from(event_line("ERROR", &e.to_status()));
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

async fn watch(
    state: &Arc<State>,
    ri: &ResourceInfo,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    table: bool,
    faults: WatchFaults,
) -> ApiResult<Response> {
    let label = LabelSelector::parse(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let field = FieldSelector::parse(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let send_initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let rv_param = q.get("resourceVersion").filter(|s| !s.is_empty()).cloned();
    let since = match rv_param.as_deref() {
        None | Some("0") => None,
        Some(s) => Some(parse_rv(s)?),
    };
    if send_initial && !bookmarks {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            vec![(
                "allowWatchBookmarks".into(),
                "Required value: sendInitialEvents requires setting allowWatchBookmarks to true"
                    .into(),
            )],
        ));
    }
    let initial = send_initial || since.is_none();
    let store_ns = if ri.namespaced {
        ns.map(str::to_string)
    } else {
        None
    };
    let filter = {
        let (label, field) = (label.clone(), field.clone());
        move |o: &Value| label.matches(o) && field.matches(o)
    };
    let current = state.store.current_rv();
    if let Some(s) = since
        && s > current
    {
        return Err(too_large(s, current));
    }
    if faults.gone
        && let Some(s) = since
    {
        return Ok(gone_stream(&ApiError::gone(format!(
            "too old resource version: {s} ({current})"
        ))));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let start =
        match state
            .store
            .watch_start(&ri.key(), store_ns.as_deref(), since, initial, &filter)
        {
            Ok(s) => s,
            // Kubernetes answers 200 and streams one ERROR event with the 410 Status.
            Err(e) if e.code == 410 => return Ok(gone_stream(&e)),
            Err(e) => return Err(e),
        };
    let ri = ri.clone();
    let st = state.clone();
    let q = q.clone();
    let render = move |ri: &ResourceInfo, o: &Value| -> Value {
        let v = api::versioned(ri, o);
        if table { to_table(ri, &[v], "", &q) } else { v }
    };
    tokio::spawn(async move {
        let now = tokio::time::Instant::now();
        let dropped = faults.lifetime.filter(|l| *l < timeout);
        let deadline = now + dropped.unwrap_or(timeout);
        let mut last = start.rv;
        for o in &start.initial {
            if tx.send(event_line("ADDED", &render(&ri, o))).await.is_err() {
                return;
            }
        }
        if send_initial {
            let bm = json!({"kind": ri.kind, "apiVersion": ri.api_version(), "metadata": {"resourceVersion": start.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
            if tx.send(event_line("BOOKMARK", &bm)).await.is_err() {
                return;
            }
        }
        for ev in &start.replay {
            last = last.max(ev.rv);
            let Some(etype) = filtered_type(ev, &filter) else {
                continue;
            };
            if tx
                .send(event_line(etype, &render(&ri, &ev.object)))
                .await
                .is_err()
            {
                return;
            }
        }
        if let Some(s) = since {
            last = last.max(s);
        }
        let mut live = start.rx;
        let key = ri.key();
        let mut stop = st.shutdown_tx.subscribe();
        let mut tick =
            tokio::time::interval(Duration::from_secs(st.config.bookmark_interval_secs.max(1)));
        tick.tick().await;
        loop {
            tokio::select! {
                ev = live.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= last {
                            continue;
                        }
                        last = ev.rv;
                        if ev.key != key || store_ns.as_deref().is_some_and(|n| n != ev.namespace) {
                            continue;
                        }
                        let Some(etype) = filtered_type(&ev, &filter) else { continue };
                        if tx.send(event_line(etype, &render(&ri, &ev.object))).await.is_err() {
                            return;
                        }
                    }
                    // Fell behind the broadcast: end the stream; the client resumes from its last rv.
                    Err(_) => return,
                },
                _ = tick.tick() => {
                    if bookmarks {
                        // Every event up to `last` has been seen, so resuming from it loses nothing.
                        let bm = json!({"kind": ri.kind, "apiVersion": ri.api_version(), "metadata": {"resourceVersion": last.to_string()}});
                        if tx.send(event_line("BOOKMARK", &bm)).await.is_err() {
                            return;
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if dropped.is_some()
                        && let Some(f) = &st.faults
                    {
                        f.count_watch_drop();
                    }
                    return;
                }
                _ = tx.closed() => return,
                _ = stop.changed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("cache-control", "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
