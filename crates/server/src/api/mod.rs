//! `/api/v1`: the JSON API the web UI, the CLI and scripts use, described by the OpenAPI document
//! at `/api/v1/openapi.json` (generated from [`types`] and the handlers below).
//!
//! Reads come from [`model::Model`] (the API's own watches, so lists never hit the API server);
//! an Application's tree, events and logs are read from the cluster when asked; the diff asks
//! the controller to render and compare. Actions (sync, refresh, rollback, terminate) are
//! annotations on the Application that the controller acts on, so they work whichever replica
//! holds the leader Lease. Every handler checks the caller's [`Role`]: no token → 401, a role
//! that may not → 403; errors are JSON `{"error": "..."}` saying what is wrong.

pub mod model;
pub mod tree;
pub mod types;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use controller::{
    Application, Environment, REFRESH_REQUEST, SYNC_REQUEST, SyncRequestOptions, TERMINATE_REQUEST,
};
use futures_util::{Stream, StreamExt};
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams};
use serde::Deserialize;
use serde_json::json;
use utoipa::OpenApi;

use crate::auth::{Auth, AuthError, Role};
use model::{AppFilter, Model};
use types::*;

/// Largest request body the API takes (sync requests naming many objects fit easily).
pub const MAX_BODY: usize = 64 * 1024;
/// Default and largest page of `GET /api/v1/applications`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// How long a log request waits for a starting container (kubectl's `--pod-running-timeout`).
const LOG_START_TIMEOUT: Duration = Duration::from_secs(20);

/// What the API handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

struct Inner {
    client: kube::Client,
    namespace: String,
    model: Arc<Model>,
    auth: Auth,
    controller: Option<Arc<controller::Controller>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("namespace", &self.0.namespace)
            .field("model", &self.0.model)
            .field("auth", &self.0.auth)
            .finish()
    }
}

impl ApiState {
    /// The API over the resources of `namespace`, read with `client`. Starts the model's
    /// watches. `controller` answers `/diff` (without it, `/diff` answers 503).
    pub fn start(
        client: kube::Client,
        namespace: &str,
        auth: Auth,
        controller: Option<Arc<controller::Controller>>,
    ) -> ApiState {
        let model = Model::new();
        model.spawn(client.clone(), namespace);
        ApiState(Arc::new(Inner {
            client,
            namespace: namespace.to_string(),
            model,
            auth,
            controller,
        }))
    }

    /// The API over a model filled by the caller (benchmarks and tests): no watches are
    /// started; `client` is used only for what is read from the cluster on request (trees,
    /// events, logs) and for actions.
    pub fn with_model(
        client: kube::Client,
        namespace: &str,
        auth: Auth,
        controller: Option<Arc<controller::Controller>>,
        model: Arc<Model>,
    ) -> ApiState {
        ApiState(Arc::new(Inner {
            client,
            namespace: namespace.to_string(),
            model,
            auth,
            controller,
        }))
    }

    /// The watched Applications and Environments.
    pub fn model(&self) -> &Arc<Model> {
        &self.0.model
    }
}

/// The routes of `/api/v1`.
pub fn routes(state: ApiState) -> Router {
    let apps = "/api/v1/applications/{name}";
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/environments", get(list_environments))
        .route(
            "/api/v1/environments/{name}",
            get(get_environment).delete(delete_environment),
        )
        .route("/api/v1/applications", get(list_applications))
        .route(apps, get(get_application))
        .route(&format!("{apps}/diff"), get(diff))
        .route(&format!("{apps}/history"), get(history))
        .route(&format!("{apps}/events"), get(events))
        .route(&format!("{apps}/logs"), get(logs))
        .route(&format!("{apps}/sync"), post(sync))
        .route(&format!("{apps}/refresh"), post(refresh))
        .route(&format!("{apps}/rollback"), post(rollback))
        .route(&format!("{apps}/terminate"), post(terminate))
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/{*rest}", axum::routing::any(api_not_found))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(state)
}

/// Every error of the API is JSON `{"error": ...}`, including those axum answers by itself
/// (a path that is not UTF-8, a method a route does not take).
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let mut text = String::from_utf8_lossy(&bytes).trim().to_string();
    if text.is_empty() {
        text = status.canonical_reason().unwrap_or("error").to_lowercase();
    }
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut out = (status, Json(ApiError { error: text })).into_response();
    for (k, v) in parts.headers.iter() {
        out.headers_mut().insert(k.clone(), v.clone());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Errors and authentication
// ---------------------------------------------------------------------------------------------

/// An error answer: status and what is wrong.
#[derive(Debug)]
pub struct ApiErr(StatusCode, String);

impl ApiErr {
    fn bad(msg: impl Into<String>) -> ApiErr {
        ApiErr(StatusCode::BAD_REQUEST, msg.into())
    }
    fn not_found(what: impl Into<String>) -> ApiErr {
        ApiErr(StatusCode::NOT_FOUND, what.into())
    }
    fn conflict(msg: impl Into<String>) -> ApiErr {
        ApiErr(StatusCode::CONFLICT, msg.into())
    }
    fn forbidden(role: &Role, what: &str) -> ApiErr {
        ApiErr(StatusCode::FORBIDDEN, format!("role {role} may not {what}"))
    }
    fn kube(what: &str, e: kube::Error) -> ApiErr {
        match &e {
            kube::Error::Api(s) if s.code == 404 => ApiErr::not_found(format!("{what}: not found")),
            kube::Error::Api(s) if s.code == 409 => {
                ApiErr::conflict(format!("{what}: {}", s.message))
            }
            // The API understood and refused (e.g. a container not started yet): say so as it said.
            kube::Error::Api(s) if s.code == 400 || s.code == 422 => {
                ApiErr::bad(format!("{what}: {}", s.message))
            }
            _ => ApiErr(
                StatusCode::BAD_GATEWAY,
                format!("{what}: the Kubernetes API answered: {e}"),
            ),
        }
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

type ApiResult<T> = Result<T, ApiErr>;

/// The caller's role, from `Authorization: Bearer TOKEN`.
pub struct Caller(pub Role);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> ApiResult<Caller> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match state.0.auth.authenticate(header).await {
            Ok(role) => Ok(Caller(role)),
            Err(AuthError::Missing) => Err(ApiErr(
                StatusCode::UNAUTHORIZED,
                "authentication required: send `Authorization: Bearer <token>`".into(),
            )),
            Err(AuthError::Unknown) => {
                Err(ApiErr(StatusCode::UNAUTHORIZED, "unknown token".into()))
            }
            Err(AuthError::Unavailable(why)) => Err(ApiErr(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot check the token now: {why}"),
            )),
        }
    }
}

/// Query parameters, with a JSON 400 naming the bad one.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiErr::bad(format!("bad query: {}", e.body_text())))
}

/// A JSON body, with a JSON error saying what is wrong (unknown field, wrong type, too big...).
fn body<T>(b: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    b.map(|Json(t)| t).map_err(|e| {
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        let text = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("request body larger than {MAX_BODY} bytes")
        } else {
            e.body_text()
        };
        ApiErr(status, format!("bad request body: {text}"))
    })
}

/// Kubernetes object names: DNS subdomains (lower-case letters, digits, `-` and `.`).
fn check_name(what: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ApiErr::bad(format!(
            "invalid {what} name {:?}: expected lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters",
            truncate(name, 80)
        )))
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The Application `name` if the caller may read it.
fn readable_app(
    state: &ApiState,
    role: &Role,
    name: &str,
) -> ApiResult<(Arc<Application>, Arc<AppSummary>)> {
    check_name("application", name)?;
    let (app, summary) = state
        .0
        .model
        .app(name)
        .ok_or_else(|| ApiErr::not_found(format!("application {name} not found")))?;
    if !role.can_read(&summary.project) {
        return Err(ApiErr::forbidden(
            role,
            &format!("read application {name} (project {})", summary.project),
        ));
    }
    Ok((app, summary))
}

/// The Application `name` if the caller may act on it.
fn actionable_app(
    state: &ApiState,
    role: &Role,
    name: &str,
    action: &str,
) -> ApiResult<(Arc<Application>, Arc<AppSummary>)> {
    let (app, summary) = readable_app(state, role, name)?;
    if *role == Role::Anonymous {
        return Err(ApiErr(
            StatusCode::UNAUTHORIZED,
            format!("authentication required to {action} (send `Authorization: Bearer <token>`)"),
        ));
    }
    if !role.can_act(&summary.project) {
        return Err(ApiErr::forbidden(
            role,
            &format!("{action} application {name} (project {})", summary.project),
        ));
    }
    Ok((app, summary))
}

async fn wait_model(state: &ApiState) -> ApiResult<()> {
    if state.0.model.is_synced() || state.0.model.wait_synced(Duration::from_secs(10)).await {
        Ok(())
    } else {
        Err(ApiErr(
            StatusCode::SERVICE_UNAVAILABLE,
            "the API has not read the Applications yet (the Kubernetes API is slow or unreachable)"
                .into(),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trellis API",
        description = "Per-branch environments, their Applications, and actions on them. \
                       Authenticate with `Authorization: Bearer <token>`."
    ),
    paths(
        whoami,
        list_environments,
        get_environment,
        delete_environment,
        list_applications,
        get_application,
        diff,
        history,
        events,
        logs,
        sync,
        refresh,
        rollback,
        terminate,
        stream
    ),
    components(schemas(
        AppSummary,
        AppList,
        TreeNode,
        AppDetail,
        ObjectDiff,
        AppDiff,
        HistoryEntry,
        EventItem,
        EnvService,
        EnvSummary,
        EnvList,
        SyncRequest,
        ResourceRef,
        RollbackRequest,
        ActionResponse,
        ApiError,
        WhoAmI,
        StreamMessage
    ))
)]
struct ApiDoc;

/// The OpenAPI document of `/api/v1`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

async fn api_not_found() -> ApiErr {
    ApiErr::not_found("no such API route (see /api/v1/openapi.json)")
}

/// Who the token is.
#[utoipa::path(get, path = "/api/v1/whoami", responses((status = 200, body = WhoAmI), (status = 401, body = ApiError)))]
async fn whoami(Caller(role): Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        role: role.to_string(),
    })
}

/// Every environment.
#[utoipa::path(get, path = "/api/v1/environments", responses((status = 200, body = EnvList), (status = 401, body = ApiError)))]
async fn list_environments(
    State(state): State<ApiState>,
    Caller(_): Caller,
) -> ApiResult<Json<EnvList>> {
    wait_model(&state).await?;
    Ok(Json(EnvList {
        items: state
            .0
            .model
            .environments()
            .iter()
            .map(|e| (**e).clone())
            .collect(),
    }))
}

/// One environment.
#[utoipa::path(get, path = "/api/v1/environments/{name}", params(("name" = String, Path)),
    responses((status = 200, body = EnvSummary), (status = 404, body = ApiError)))]
async fn get_environment(
    State(state): State<ApiState>,
    Caller(_): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<EnvSummary>> {
    check_name("environment", &name)?;
    wait_model(&state).await?;
    state
        .0
        .model
        .environment(&name)
        .map(|e| Json((*e).clone()))
        .ok_or_else(|| ApiErr::not_found(format!("environment {name} not found")))
}

/// Delete an environment: its namespace and Applications go; it is not recreated for its branch
/// until a new commit is pushed to it.
#[utoipa::path(delete, path = "/api/v1/environments/{name}", params(("name" = String, Path)),
    responses((status = 202, body = ActionResponse), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn delete_environment(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<ActionResponse>)> {
    check_name("environment", &name)?;
    if role == Role::Anonymous {
        return Err(ApiErr(
            StatusCode::UNAUTHORIZED,
            "authentication required to delete an environment".into(),
        ));
    }
    if !role.can_delete_environments() {
        return Err(ApiErr::forbidden(
            &role,
            &format!("delete environment {name}"),
        ));
    }
    let api: kube::Api<Environment> =
        kube::Api::namespaced(state.0.client.clone(), &state.0.namespace);
    api.delete(&name, &DeleteParams::default())
        .await
        .map_err(|e| ApiErr::kube(&format!("environment {name}"), e))?;
    tracing::info!(environment = %name, %role, "environment deletion requested through the API");
    Ok(accepted(format!(
        "environment {name} is being deleted; it comes back when a new commit is pushed to its branch"
    )))
}

/// Filters and page of the applications list.
#[derive(Deserialize, Debug, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this environment (empty: Applications outside environments).
    environment: Option<String>,
    /// Only this project.
    project: Option<String>,
    /// Only this health status (`Healthy`, `Progressing`, `Degraded`, ...).
    health: Option<String>,
    /// Only this sync status (`Synced`, `OutOfSync`, `Unknown`).
    sync: Option<String>,
    /// Words that must all appear in the name, service, environment, repository or revision.
    search: Option<String>,
    /// Page size (1–1000, default 100).
    limit: Option<usize>,
    /// The `continue` value of the previous page.
    #[serde(rename = "continue")]
    continue_: Option<String>,
}

const HEALTHS: &[&str] = &[
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];
const SYNCS: &[&str] = &["Synced", "OutOfSync", "Unknown"];

/// Applications, filtered and paginated on the server, ordered by environment then name.
#[utoipa::path(get, path = "/api/v1/applications", params(ListQuery),
    responses((status = 200, body = AppList), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn list_applications(
    State(state): State<ApiState>,
    Caller(role): Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<AppList>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiErr::bad(format!(
            "limit {limit}: expected 1 to {MAX_LIMIT}"
        )));
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let health = nonempty(q.health);
    if let Some(h) = &health
        && !HEALTHS.iter().any(|x| x.eq_ignore_ascii_case(h))
    {
        return Err(ApiErr::bad(format!(
            "health {h:?}: expected one of {}",
            HEALTHS.join(", ")
        )));
    }
    let sync = nonempty(q.sync);
    if let Some(s) = &sync
        && !SYNCS.iter().any(|x| x.eq_ignore_ascii_case(s))
    {
        return Err(ApiErr::bad(format!(
            "sync {s:?}: expected one of {}",
            SYNCS.join(", ")
        )));
    }
    let after = match q.continue_.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.split_once('/')
                .map(|(e, n)| (e.to_string(), n.to_string()))
                .ok_or_else(|| ApiErr::bad(format!("continue {c:?}: not a token this API gave")))?,
        ),
    };
    let filter = AppFilter {
        environment: q.environment,
        project: nonempty(q.project),
        health,
        sync,
        search: q
            .search
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect(),
    };
    wait_model(&state).await?;
    let (page, total, next) = state.0.model.list_apps(
        &filter,
        |a| role.can_read(&a.project),
        after.as_ref(),
        limit,
    );
    Ok(Json(AppList {
        items: page.iter().map(|a| (**a).clone()).collect(),
        total,
        continue_: next.map(|(e, n)| format!("{e}/{n}")),
    }))
}

/// Where an Application's objects go.
fn dest_ns(state: &ApiState, app: &Application) -> String {
    app.spec
        .destination
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| state.0.namespace.clone())
}

/// One Application with its live resource tree.
#[utoipa::path(get, path = "/api/v1/applications/{name}", params(("name" = String, Path)),
    responses((status = 200, body = AppDetail), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn get_application(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<AppDetail>> {
    wait_model(&state).await?;
    let (app, summary) = readable_app(&state, &role, &name)?;
    let tree = tree::tree(&state.0.client, &app, &dest_ns(&state, &app)).await;
    Ok(Json(AppDetail {
        summary: (*summary).clone(),
        spec: serde_json::to_value(&app.spec).unwrap_or_default(),
        status: serde_json::to_value(&app.status).unwrap_or_default(),
        tree,
    }))
}

/// Desired (rendered from git now) against live, per object; Secret values masked.
#[utoipa::path(get, path = "/api/v1/applications/{name}/diff", params(("name" = String, Path)),
    responses((status = 200, body = AppDiff), (status = 404, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
async fn diff(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<AppDiff>> {
    wait_model(&state).await?;
    let (app, _) = readable_app(&state, &role, &name)?;
    let Some(ctl) = &state.0.controller else {
        return Err(ApiErr(
            StatusCode::SERVICE_UNAVAILABLE,
            "no controller in this process to render the diff".into(),
        ));
    };
    let (revision, diffs) = ctl.diff_application(&app).await.map_err(|e| {
        ApiErr(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("cannot diff application {name}: {e}"),
        )
    })?;
    Ok(Json(AppDiff {
        revision,
        objects: diffs
            .into_iter()
            .map(|d| ObjectDiff {
                group: d.key.group,
                kind: d.key.kind,
                namespace: d.key.namespace,
                name: d.key.name,
                status: format!("{:?}", d.status),
                diff: d.diff,
                message: d.message,
            })
            .collect(),
    }))
}

/// What was deployed, newest first.
#[utoipa::path(get, path = "/api/v1/applications/{name}/history", params(("name" = String, Path)),
    responses((status = 200, body = [HistoryEntry]), (status = 404, body = ApiError)))]
async fn history(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    wait_model(&state).await?;
    let (app, _) = readable_app(&state, &role, &name)?;
    let mut out: Vec<HistoryEntry> = app
        .status
        .iter()
        .flat_map(|s| &s.history)
        .map(|h| HistoryEntry {
            id: h.id,
            revision: h.revision.clone(),
            deployed_at: h.deployed_at.clone(),
            deploy_started_at: h.deploy_started_at.clone().unwrap_or_default(),
        })
        .collect();
    out.sort_by_key(|h| std::cmp::Reverse(h.id));
    Ok(Json(out))
}

/// Kubernetes events about the Application's objects (and what the cluster made from them),
/// newest first.
#[utoipa::path(get, path = "/api/v1/applications/{name}/events", params(("name" = String, Path)),
    responses((status = 200, body = [EventItem]), (status = 404, body = ApiError)))]
async fn events(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<EventItem>>> {
    use k8s_openapi::api::core::v1::Event as KubeEvent;
    wait_model(&state).await?;
    let (app, _) = readable_app(&state, &role, &name)?;
    let ns = dest_ns(&state, &app);
    let nodes = tree::tree(&state.0.client, &app, &ns).await;
    let mut objects = Vec::new();
    tree::objects(&nodes, &mut objects);
    let api: kube::Api<KubeEvent> = kube::Api::namespaced(state.0.client.clone(), &ns);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiErr::kube(&format!("events in namespace {ns}"), e))?;
    let ts = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.as_ref().map(|t| t.0.to_string()).unwrap_or_default()
    };
    let mut out: Vec<EventItem> = list
        .items
        .into_iter()
        .filter(|e| {
            let kind = e.involved_object.kind.clone().unwrap_or_default();
            let obj = e.involved_object.name.clone().unwrap_or_default();
            objects.iter().any(|(k, n)| *k == kind && *n == obj)
        })
        .map(|e| {
            let last = if e.last_timestamp.is_some() {
                ts(&e.last_timestamp)
            } else {
                e.event_time
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .unwrap_or_else(|| ts(&e.first_timestamp))
            };
            EventItem {
                type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
                reason: e.reason.clone().unwrap_or_default(),
                message: e.message.clone().unwrap_or_default(),
                object: format!(
                    "{}/{}",
                    e.involved_object.kind.clone().unwrap_or_default(),
                    e.involved_object.name.clone().unwrap_or_default()
                ),
                count: e.count.unwrap_or(1),
                first_timestamp: ts(&e.first_timestamp),
                last_timestamp: last,
            }
        })
        .collect();
    out.sort_by(|a, b| b.last_timestamp.cmp(&a.last_timestamp));
    Ok(Json(out))
}

#[derive(Deserialize, Debug, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    /// A Pod of the Application's tree.
    pod: String,
    /// Container (default: the Pod's only or first one).
    container: Option<String>,
    /// Lines from the end to start with (default 500).
    tail: Option<i64>,
    /// Keep streaming new lines (default true).
    follow: Option<bool>,
}

/// A Pod's log, streamed as plain text. Only Pods of the Application's tree can be read.
#[utoipa::path(get, path = "/api/v1/applications/{name}/logs", params(("name" = String, Path), LogQuery),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = ApiError)))]
async fn logs(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    use futures_util::AsyncBufReadExt;
    use k8s_openapi::api::core::v1::Pod;
    let q = query(q)?;
    check_name("pod", &q.pod)?;
    wait_model(&state).await?;
    let (app, _) = readable_app(&state, &role, &name)?;
    let ns = dest_ns(&state, &app);
    let nodes = tree::tree(&state.0.client, &app, &ns).await;
    if !tree::pods(&nodes).iter().any(|p| p.name == q.pod) {
        return Err(ApiErr::not_found(format!(
            "pod {} is not one of application {name}'s pods",
            q.pod
        )));
    }
    let api: kube::Api<Pod> = kube::Api::namespaced(state.0.client.clone(), &ns);
    let lp = LogParams {
        container: q.container.clone(),
        follow: q.follow.unwrap_or(true),
        tail_lines: Some(q.tail.unwrap_or(500).clamp(0, 100_000)),
        ..LogParams::default()
    };
    // A Pod still starting has no log yet; as `kubectl logs --pod-running-timeout` does, wait a
    // while for its container to start rather than failing the request.
    let started = tokio::time::Instant::now();
    let reader = loop {
        match api.log_stream(&q.pod, &lp).await {
            Ok(r) => break r,
            Err(kube::Error::Api(s))
                if s.code == 400
                    && (s.message.ends_with("waiting to start: ContainerCreating")
                        || s.message.ends_with("waiting to start: PodInitializing"))
                    && started.elapsed() < LOG_START_TIMEOUT =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(ApiErr::kube(&format!("log of pod {ns}/{}", q.pod), e)),
        }
    };
    let lines = reader.lines().map(|l| {
        l.map(|mut s| {
            s.push('\n');
            s
        })
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

async fn annotate(state: &ApiState, name: &str, key: &str, value: &str) -> ApiResult<()> {
    let api: kube::Api<Application> =
        kube::Api::namespaced(state.0.client.clone(), &state.0.namespace);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
    )
    .await
    .map_err(|e| ApiErr::kube(&format!("application {name}"), e))?;
    Ok(())
}

/// 202 with what was asked of the controller.
fn accepted(message: String) -> (StatusCode, Json<ActionResponse>) {
    (StatusCode::ACCEPTED, Json(ActionResponse { message }))
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Sync now: optionally with prune, another revision (not while automated), a subset of objects.
#[utoipa::path(post, path = "/api/v1/applications/{name}/sync", params(("name" = String, Path)), request_body = SyncRequest,
    responses((status = 202, body = ActionResponse), (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
async fn sync(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
    req: Result<Json<SyncRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<ActionResponse>)> {
    // An empty body means "sync everything".
    let req = match req {
        Err(JsonRejection::MissingJsonContentType(_)) => SyncRequest::default(),
        other => body(other)?,
    };
    wait_model(&state).await?;
    let (_, summary) = actionable_app(&state, &role, &name, "sync")?;
    if let Some(rev) = &req.revision {
        if rev.trim().is_empty() || rev.len() > 255 || rev.chars().any(char::is_control) {
            return Err(ApiErr::bad(format!(
                "revision {:?} is not a branch, tag or commit",
                truncate(rev, 80)
            )));
        }
        if summary.automated && rev != &summary.target_revision {
            return Err(ApiErr::conflict(format!(
                "application {name} syncs automatically to {:?}: turn automated sync off to sync another revision",
                summary.target_revision
            )));
        }
    }
    if let Some(rs) = &req.resources {
        if rs.is_empty() {
            return Err(ApiErr::bad(
                "resources: name at least one object, or leave it out to sync all",
            ));
        }
        for r in rs {
            if r.kind.is_empty() || r.name.is_empty() {
                return Err(ApiErr::bad(
                    "resources: every object needs a kind and a name",
                ));
            }
        }
    }
    let opts = SyncRequestOptions {
        at: now(),
        prune: req.prune,
        revision: req.revision.clone(),
        resources: req.resources.as_ref().map(|rs| {
            rs.iter()
                .map(|r| controller::ResourceSelector {
                    group: r.group.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    namespace: r.namespace.clone(),
                })
                .collect()
        }),
        rollback: None,
    };
    let value = serde_json::to_string(&opts).unwrap_or_default();
    annotate(&state, &name, SYNC_REQUEST, &value).await?;
    tracing::info!(app = %name, %role, prune = req.prune, "sync requested through the API");
    Ok(accepted(format!("sync of {name} requested")))
}

/// Fetch git again and compare.
#[utoipa::path(post, path = "/api/v1/applications/{name}/refresh", params(("name" = String, Path)),
    responses((status = 202, body = ActionResponse), (status = 403, body = ApiError)))]
async fn refresh(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<ActionResponse>)> {
    wait_model(&state).await?;
    actionable_app(&state, &role, &name, "refresh")?;
    annotate(&state, &name, REFRESH_REQUEST, &now()).await?;
    Ok(accepted(format!("refresh of {name} requested")))
}

/// Deploy a history entry's commit again (not while automated sync is on).
#[utoipa::path(post, path = "/api/v1/applications/{name}/rollback", params(("name" = String, Path)), request_body = RollbackRequest,
    responses((status = 202, body = ActionResponse), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn rollback(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
    req: Result<Json<RollbackRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<ActionResponse>)> {
    let req = body(req)?;
    wait_model(&state).await?;
    let (app, summary) = actionable_app(&state, &role, &name, "roll back")?;
    if summary.automated {
        return Err(ApiErr::conflict(format!(
            "application {name} syncs automatically: turn automated sync off to roll back"
        )));
    }
    let Some(entry) = app
        .status
        .iter()
        .flat_map(|s| &s.history)
        .find(|h| h.id == req.id)
    else {
        return Err(ApiErr::not_found(format!(
            "application {name} has no history entry {}",
            req.id
        )));
    };
    let opts = SyncRequestOptions {
        at: now(),
        revision: Some(entry.revision.clone()),
        rollback: Some(entry.id),
        ..SyncRequestOptions::default()
    };
    annotate(
        &state,
        &name,
        SYNC_REQUEST,
        &serde_json::to_string(&opts).unwrap_or_default(),
    )
    .await?;
    tracing::info!(app = %name, %role, id = entry.id, "rollback requested through the API");
    Ok(accepted(format!(
        "rollback of {name} to {} (history {}) requested",
        entry.revision.get(..7).unwrap_or(&entry.revision),
        entry.id
    )))
}

/// Stop the running sync.
#[utoipa::path(post, path = "/api/v1/applications/{name}/terminate", params(("name" = String, Path)),
    responses((status = 202, body = ActionResponse), (status = 409, body = ApiError)))]
async fn terminate(
    State(state): State<ApiState>,
    Caller(role): Caller,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<ActionResponse>)> {
    wait_model(&state).await?;
    let (_, summary) = actionable_app(&state, &role, &name, "terminate")?;
    if summary.operation_phase != "Running" {
        return Err(ApiErr::conflict(format!(
            "application {name} has no running operation{}",
            if summary.operation_phase.is_empty() {
                String::new()
            } else {
                format!(" (last one {})", summary.operation_phase)
            }
        )));
    }
    annotate(&state, &name, TERMINATE_REQUEST, &now()).await?;
    Ok(accepted(format!(
        "termination of {name}'s operation requested"
    )))
}

#[derive(Deserialize, Debug, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Only changes in this environment.
    environment: Option<String>,
    /// Only changes of this Application.
    application: Option<String>,
}

/// Server-sent events of changes: event `application` or `environment` with a
/// [`StreamMessage`]; `ready` once subscribed; `resync` when this client fell behind (reload).
#[utoipa::path(get, path = "/api/v1/stream", params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", body = StreamMessage)))]
async fn stream(
    State(state): State<ApiState>,
    Caller(role): Caller,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let q = query(q)?;
    let env = q.environment.filter(|e| !e.is_empty());
    let app = q.application.filter(|a| !a.is_empty());
    if let Some(a) = &app {
        readable_app(&state, &role, a)?;
    }
    let rx = state.0.model.subscribe();
    let first =
        futures_util::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let changes = futures_util::stream::unfold(rx, move |mut rx| {
        let env = env.clone();
        let app = app.clone();
        let role = role.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(p) => {
                        if env.as_ref().is_some_and(|e| e != &p.environment) {
                            continue;
                        }
                        if let Some(a) = &app
                            && (p.kind != "application" || &p.name != a)
                        {
                            continue;
                        }
                        if p.kind == "application" && !role.can_read(&p.project) {
                            continue;
                        }
                        let ev = Event::default().event(p.kind).data(&*p.json);
                        return Some((Ok(ev), rx));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let ev = Event::default()
                            .event("resync")
                            .data(json!({"missed": n}).to_string());
                        return Some((Ok(ev), rx));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(first.chain(changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("application", "feature-login-api").is_ok());
        assert!(check_name("application", "a.b-1").is_ok());
        for bad in ["", "-a", "a-", "A", "a/b", "a b", "é", &"a".repeat(254)] {
            let e = check_name("application", bad).unwrap_err();
            assert_eq!(e.0, StatusCode::BAD_REQUEST, "{bad:?}");
            assert!(e.1.starts_with("invalid application name"), "{}", e.1);
        }
    }

    #[test]
    fn the_openapi_document_names_every_route() {
        let doc = serde_json::to_value(openapi_document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/v1/environments",
            "/api/v1/environments/{name}",
            "/api/v1/applications",
            "/api/v1/applications/{name}",
            "/api/v1/applications/{name}/diff",
            "/api/v1/applications/{name}/history",
            "/api/v1/applications/{name}/events",
            "/api/v1/applications/{name}/logs",
            "/api/v1/applications/{name}/sync",
            "/api/v1/applications/{name}/refresh",
            "/api/v1/applications/{name}/rollback",
            "/api/v1/applications/{name}/terminate",
            "/api/v1/stream",
            "/api/v1/whoami",
        ] {
            assert!(
                paths.contains_key(p),
                "{p} missing from the OpenAPI document"
            );
        }
        assert!(doc["components"]["schemas"]["AppSummary"].is_object());
    }
}
