//! An in-memory server that speaks the `/api/v1` contract (`server::api::types`) and serves the
//! real embedded UI (`server::ui::routes`), so the CLI and the UI can be tested against the
//! contract with states a live product loop reaches only slowly or by chance (an application
//! out of sync until a sync, a failing one, 10,000 of them). The real server is tested the same
//! way (see `real_server.rs`).
//!
//! Tokens and roles are those of `--token-file`: `admin`, `readonly`, `project:<name>`.

// A handler's early answer is a whole `Response`; boxing it would only add noise here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::broadcast;

use server::api::types::*;

pub struct App {
    pub detail: AppDetail,
    pub history: Vec<HistoryEntry>,
    pub diff: AppDiff,
    pub events: Vec<EventItem>,
}

#[derive(Default)]
pub struct World {
    pub envs: BTreeMap<String, EnvSummary>,
    pub apps: BTreeMap<String, App>,
    pub tokens: BTreeMap<String, String>,
    /// Requests seen (`METHOD path?query`), for asserting what the clients sent.
    pub requests: Vec<String>,
    /// Sync requests received, by application.
    pub syncs: Vec<(String, SyncRequest)>,
}

#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    tx: broadcast::Sender<StreamMessage>,
}

pub struct FakeApi {
    pub url: String,
    shared: Shared,
    _thread: std::thread::JoinHandle<()>,
}

const T0: &str = "2026-01-05T10:00:00Z";

fn node(kind: &str, name: &str, ns: &str, health: &str, sync: &str) -> TreeNode {
    TreeNode {
        group: if matches!(kind, "Deployment" | "ReplicaSet") {
            "apps".into()
        } else if kind == "Job" {
            "batch".into()
        } else {
            String::new()
        },
        kind: kind.into(),
        namespace: ns.into(),
        name: name.into(),
        health: health.into(),
        sync: sync.into(),
        live: true,
        ..Default::default()
    }
}

fn app(env: &str, service: &str, depends_on: &[&str], sync: &str, health: &str) -> App {
    let name = if env.is_empty() {
        service.to_string()
    } else {
        format!("{env}-{service}")
    };
    let ns = if env.is_empty() { "default" } else { env };
    let rev = format!("{:040x}", name.len() * 7919 + service.len());
    let mut dep = node("Deployment", service, ns, health, sync);
    dep.info = vec!["replicas: 1/1".into(), format!("image: {service}:1")];
    let mut rs = node("ReplicaSet", &format!("{service}-5d8f7"), ns, "Healthy", "");
    let mut pod = node("Pod", &format!("{service}-5d8f7-abcde"), ns, health, "");
    pod.info = vec!["phase: Running".into()];
    rs.children = vec![pod];
    dep.children = vec![rs];
    let svc = node("Service", service, ns, "Healthy", "Synced");
    let mut tree = vec![dep, svc];
    if service == "postgres" {
        let mut job = node("Job", "seed", ns, "Healthy", "Synced");
        job.hook = true;
        job.sync_phase = "PreSync".into();
        job.hook_phase = "Succeeded".into();
        tree.insert(0, job);
    }
    let summary = AppSummary {
        name: name.clone(),
        namespace: "trellis".into(),
        environment: env.into(),
        service: service.into(),
        project: if env.is_empty() {
            "default".into()
        } else {
            env.into()
        },
        repo_url: format!("https://git.example.com/acme/{service}.git"),
        path: "charts".into(),
        target_revision: if env.is_empty() {
            "main".into()
        } else {
            env.into()
        },
        destination_namespace: ns.into(),
        revision: rev.clone(),
        sync_status: sync.into(),
        health_status: health.into(),
        depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
        automated: false,
        created_at: T0.into(),
        reconciled_at: T0.into(),
        ..Default::default()
    };
    let objects = vec![
        ObjectDiff {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: ns.into(),
            name: service.into(),
            status: sync.into(),
            diff: if sync == "OutOfSync" {
                format!(
                    "--- live\n+++ desired\n@@ -3,3 +3,3 @@\n spec:\n-  replicas: 1\n+  replicas: 2\n   image: {service}:1\n"
                )
            } else {
                String::new()
            },
            message: String::new(),
        },
        ObjectDiff {
            kind: "Service".into(),
            namespace: ns.into(),
            name: service.into(),
            status: "Synced".into(),
            ..Default::default()
        },
    ];
    App {
        detail: AppDetail {
            summary,
            spec: serde_json::json!({"project": env}),
            status: serde_json::json!({}),
            tree,
        },
        history: vec![HistoryEntry {
            id: 0,
            revision: rev.clone(),
            deployed_at: T0.into(),
            deploy_started_at: T0.into(),
        }],
        diff: AppDiff {
            revision: rev,
            objects,
        },
        events: vec![EventItem {
            type_: "Normal".into(),
            reason: "ScalingReplicaSet".into(),
            message: format!("Scaled up replica set {service}-5d8f7 to 1"),
            object: format!("Deployment/{service}"),
            count: 1,
            first_timestamp: T0.into(),
            last_timestamp: T0.into(),
        }],
    }
}

impl World {
    /// Two environments of three services (`feat-login-web` out of sync and progressing), and
    /// `extra` standalone applications `load-00000`...
    pub fn seeded(extra: usize) -> World {
        let mut w = World::default();
        for (t, role) in super::tokens() {
            w.tokens.insert(t.into(), role.into());
        }
        for env in ["feat-login", "feat-pay"] {
            let web_sync = if env == "feat-login" {
                "OutOfSync"
            } else {
                "Synced"
            };
            let web_health = if env == "feat-login" {
                "Progressing"
            } else {
                "Healthy"
            };
            for a in [
                app(env, "postgres", &[], "Synced", "Healthy"),
                app(env, "api", &["postgres"], "Synced", "Healthy"),
                app(env, "web", &["api"], web_sync, web_health),
            ] {
                w.apps.insert(a.detail.summary.name.clone(), a);
            }
            w.envs.insert(
                env.into(),
                EnvSummary {
                    name: env.into(),
                    environment_set: "previews".into(),
                    branch: env.into(),
                    namespace: env.into(),
                    created_at: T0.into(),
                    last_activity: T0.into(),
                    ..Default::default()
                },
            );
            w.recount(env);
        }
        for i in 0..extra {
            let a = app(
                "",
                &format!("load-{i:05}"),
                &[],
                if i % 10 == 3 { "OutOfSync" } else { "Synced" },
                if i % 100 == 7 { "Degraded" } else { "Healthy" },
            );
            w.apps.insert(a.detail.summary.name.clone(), a);
        }
        w
    }

    /// An environment's figures from its applications, as the controller computes them.
    pub fn recount(&mut self, env: &str) {
        let Some(e) = self.envs.get_mut(env) else {
            return;
        };
        let mut services = Vec::new();
        let (mut ready, mut total) = (0, 0);
        e.health.clear();
        e.sync.clear();
        for service in ["postgres", "api", "web"] {
            let Some(a) = self.apps.get(&format!("{env}-{service}")) else {
                continue;
            };
            let s = &a.detail.summary;
            total += 1;
            if s.health_status == "Healthy" && s.sync_status == "Synced" {
                ready += 1;
            }
            *e.health.entry(s.health_status.clone()).or_default() += 1;
            *e.sync.entry(s.sync_status.clone()).or_default() += 1;
            services.push(EnvService {
                name: service.into(),
                application: s.name.clone(),
                repo_url: s.repo_url.clone(),
                target_revision: s.target_revision.clone(),
                has_branch: service != "postgres",
                revision: s.revision.clone(),
                sync_status: s.sync_status.clone(),
                health_status: s.health_status.clone(),
                waiting_for: s.waiting_for.clone(),
                depends_on: s.depends_on.clone(),
            });
        }
        e.ready = ready;
        e.total = total;
        e.services = services;
        e.phase = if e.health.contains_key("Degraded") {
            "Degraded".into()
        } else if ready == total {
            "Ready".into()
        } else {
            "Creating".into()
        };
    }
}

impl FakeApi {
    /// Serve `world` on a free loopback port (its own thread and runtime).
    pub fn start(world: World) -> FakeApi {
        let (tx, _) = broadcast::channel(1024);
        let shared = Shared {
            world: Arc::new(Mutex::new(world)),
            tx,
        };
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", std_listener.local_addr().expect("addr"));
        let router = routes(shared.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
                axum::serve(listener, router).await.expect("serving");
            });
        });
        FakeApi {
            url,
            shared,
            _thread: thread,
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world.lock().expect("world lock")
    }

    /// Change an application and tell the stream (and its environment's figures).
    pub fn change_app(&self, name: &str, f: impl FnOnce(&mut App)) {
        let mut w = self.world();
        let Some(a) = w.apps.get_mut(name) else {
            panic!("no application {name}");
        };
        f(a);
        publish_app(&self.shared, &mut w, name);
    }
}

fn publish_app(shared: &Shared, w: &mut World, name: &str) {
    let Some(a) = w.apps.get(name) else {
        return;
    };
    let s = a.detail.summary.clone();
    let env = s.environment.clone();
    let _ = shared.tx.send(StreamMessage {
        kind: "application".into(),
        action: "upsert".into(),
        name: name.into(),
        environment: env.clone(),
        application: Some(s),
        env: None,
    });
    if !env.is_empty() {
        w.recount(&env);
        if let Some(e) = w.envs.get(&env) {
            let _ = shared.tx.send(StreamMessage {
                kind: "environment".into(),
                action: "upsert".into(),
                name: env.clone(),
                environment: env.clone(),
                application: None,
                env: Some(e.clone()),
            });
        }
    }
}

fn routes(shared: Shared) -> Router {
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/environments", get(envs))
        .route(
            "/api/v1/environments/{name}",
            get(env_get).delete(env_delete),
        )
        .route("/api/v1/applications", get(apps))
        .route("/api/v1/applications/{name}", get(app_get))
        .route("/api/v1/applications/{name}/diff", get(app_diff))
        .route("/api/v1/applications/{name}/history", get(app_history))
        .route("/api/v1/applications/{name}/events", get(app_events))
        .route("/api/v1/applications/{name}/logs", get(app_logs))
        .route("/api/v1/applications/{name}/sync", post(app_sync))
        .route("/api/v1/applications/{name}/refresh", post(app_refresh))
        .route("/api/v1/applications/{name}/rollback", post(app_rollback))
        .route("/api/v1/applications/{name}/terminate", post(app_terminate))
        .route("/api/v1/stream", get(stream))
        .merge(server::ui::routes())
        .with_state(shared)
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ApiError { error: msg.into() })).into_response()
}

/// The caller's role, or the 401 answer.
fn auth(s: &Shared, headers: &HeaderMap, what: String) -> Result<String, Response> {
    let mut w = s.world.lock().expect("world lock");
    w.requests.push(what);
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "no token: send Authorization: Bearer TOKEN",
        ));
    };
    let token = v.strip_prefix("Bearer ").unwrap_or_default();
    match w.tokens.get(token) {
        Some(role) => Ok(role.clone()),
        None => Err(err(StatusCode::UNAUTHORIZED, "the token is not accepted")),
    }
}

fn may_change(role: &str, project: &str) -> bool {
    role == "admin" || role.strip_prefix("project:") == Some(project)
}

fn may_read(role: &str, project: &str) -> bool {
    role == "admin" || role == "readonly" || role.strip_prefix("project:") == Some(project)
}

async fn whoami(State(s): State<Shared>, h: HeaderMap) -> Response {
    match auth(&s, &h, "GET whoami".into()) {
        Ok(role) => Json(WhoAmI { role }).into_response(),
        Err(r) => r,
    }
}

async fn envs(State(s): State<Shared>, h: HeaderMap) -> Response {
    if let Err(r) = auth(&s, &h, "GET environments".into()) {
        return r;
    }
    let w = s.world.lock().expect("lock");
    Json(EnvList {
        items: w.envs.values().cloned().collect(),
    })
    .into_response()
}

async fn env_get(State(s): State<Shared>, h: HeaderMap, Path(name): Path<String>) -> Response {
    if let Err(r) = auth(&s, &h, format!("GET environments/{name}")) {
        return r;
    }
    let w = s.world.lock().expect("lock");
    match w.envs.get(&name) {
        Some(e) => Json(e.clone()).into_response(),
        None => err(
            StatusCode::NOT_FOUND,
            format!("environment {name} not found"),
        ),
    }
}

async fn env_delete(State(s): State<Shared>, h: HeaderMap, Path(name): Path<String>) -> Response {
    let role = match auth(&s, &h, format!("DELETE environments/{name}")) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if role != "admin" {
        return err(
            StatusCode::FORBIDDEN,
            format!("role {role} may not delete environments"),
        );
    }
    let mut w = s.world.lock().expect("lock");
    match w.envs.get_mut(&name) {
        Some(e) => {
            e.phase = "Deleting".into();
            Json(ActionResponse {
                message: format!("deleting environment {name}"),
            })
            .into_response()
        }
        None => err(
            StatusCode::NOT_FOUND,
            format!("environment {name} not found"),
        ),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    environment: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    health: String,
    #[serde(default)]
    sync: String,
    #[serde(default)]
    search: String,
    limit: Option<usize>,
    #[serde(rename = "continue", default)]
    continue_: String,
}

async fn apps(
    State(s): State<Shared>,
    h: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return err(StatusCode::BAD_REQUEST, "bad query");
    };
    let role = match auth(
        &s,
        &h,
        format!(
            "GET applications?environment={}&project={}&health={}&sync={}&search={}&limit={}&continue={}",
            q.environment,
            q.project,
            q.health,
            q.sync,
            q.search,
            q.limit.unwrap_or(0),
            q.continue_
        ),
    ) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let w = s.world.lock().expect("lock");
    let search = q.search.to_lowercase();
    let mut matching: Vec<&AppSummary> = w
        .apps
        .values()
        .map(|a| &a.detail.summary)
        .filter(|a| may_read(&role, &a.project))
        .filter(|a| q.environment.is_empty() || a.environment == q.environment)
        .filter(|a| q.project.is_empty() || a.project == q.project)
        .filter(|a| q.health.is_empty() || a.health_status == q.health)
        .filter(|a| q.sync.is_empty() || a.sync_status == q.sync)
        .filter(|a| {
            search.is_empty()
                || a.name.contains(&search)
                || a.service.contains(&search)
                || a.environment.contains(&search)
        })
        .collect();
    matching.sort_by(|a, b| (&a.environment, &a.name).cmp(&(&b.environment, &b.name)));
    let total = matching.len();
    let start: usize = q.continue_.parse().unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items: Vec<AppSummary> = matching
        .into_iter()
        .skip(start)
        .take(limit)
        .cloned()
        .collect();
    let next = start + items.len();
    Json(AppList {
        items,
        total,
        continue_: (next < total).then(|| next.to_string()),
    })
    .into_response()
}

/// Look an application up for `role`; 404 also when the role may not read it.
fn with_app<T>(
    s: &Shared,
    h: &HeaderMap,
    what: String,
    name: &str,
    f: impl FnOnce(&App) -> T,
) -> Result<(String, T), Response> {
    let role = auth(s, h, what)?;
    let w = s.world.lock().expect("lock");
    match w.apps.get(name) {
        Some(a) if may_read(&role, &a.detail.summary.project) => Ok((role, f(a))),
        _ => Err(err(
            StatusCode::NOT_FOUND,
            format!("application {name} not found"),
        )),
    }
}

async fn app_get(State(s): State<Shared>, h: HeaderMap, Path(name): Path<String>) -> Response {
    match with_app(&s, &h, format!("GET applications/{name}"), &name, |a| {
        a.detail.clone()
    }) {
        Ok((_, d)) => Json(d).into_response(),
        Err(r) => r,
    }
}

async fn app_diff(State(s): State<Shared>, h: HeaderMap, Path(name): Path<String>) -> Response {
    match with_app(
        &s,
        &h,
        format!("GET applications/{name}/diff"),
        &name,
        |a| a.diff.clone(),
    ) {
        Ok((_, d)) => Json(d).into_response(),
        Err(r) => r,
    }
}

async fn app_history(State(s): State<Shared>, h: HeaderMap, Path(name): Path<String>) -> Response {
    match with_app(
        &s,
        &h,
        format!("GET applications/{name}/history"),
        &name,
        |a| a.history.clone(),
    ) {
        Ok((_, d)) => Json(d).into_response(),
        Err(r) => r,
    }
}

async fn app_events(State(s): State<Shared>, h: HeaderMap, Path(name): Path<String>) -> Response {
    match with_app(
        &s,
        &h,
        format!("GET applications/{name}/events"),
        &name,
        |a| a.events.clone(),
    ) {
        Ok((_, d)) => Json(d).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    pod: String,
    #[serde(default)]
    container: String,
    tail: Option<usize>,
}

async fn app_logs(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(name): Path<String>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad query: pod=, container=, tail=",
        );
    };
    match with_app(
        &s,
        &h,
        format!("GET applications/{name}/logs?pod={}", q.pod),
        &name,
        |_| (),
    ) {
        Ok(_) => {
            let n = q.tail.unwrap_or(10).min(10);
            let c = if q.container.is_empty() {
                "main"
            } else {
                &q.container
            };
            let text: String = (1..=n)
                .map(|i| format!("{} {c}: log line {i}\n", q.pod))
                .collect();
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Err(r) => r,
    }
}

/// The role may change the application, or the 403/404 answer.
fn changing(s: &Shared, h: &HeaderMap, name: &str, action: &str) -> Result<(), Response> {
    let (role, project) = with_app(
        s,
        h,
        format!("POST applications/{name}/{action}"),
        name,
        |a| a.detail.summary.project.clone(),
    )?;
    if !may_change(&role, &project) {
        return Err(err(
            StatusCode::FORBIDDEN,
            format!("role {role} may not {action} applications of project {project}"),
        ));
    }
    Ok(())
}

async fn app_sync(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<SyncRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = changing(&s, &h, &name, "sync") {
        return r;
    }
    let Ok(Json(req)) = body else {
        return err(StatusCode::BAD_REQUEST, "bad sync request");
    };
    {
        let mut w = s.world.lock().expect("lock");
        w.syncs.push((name.clone(), req));
        if let Some(a) = w.apps.get_mut(&name) {
            a.detail.summary.operation_phase = "Running".into();
        }
        publish_app(&s, &mut w, &name);
    }
    // The "controller": the sync finishes a moment later.
    let s2 = s.clone();
    let n2 = name.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut w = s2.world.lock().expect("lock");
        if let Some(a) = w.apps.get_mut(&n2) {
            let fail = a.detail.summary.name.starts_with("broken");
            let sum = &mut a.detail.summary;
            sum.operation_phase = if fail { "Failed" } else { "Succeeded" }.into();
            if fail {
                sum.health_status = "Degraded".into();
                sum.health_message = "container crashed: exit code 1".into();
            } else {
                sum.sync_status = "Synced".into();
                sum.health_status = "Healthy".into();
                fn mark(n: &mut TreeNode) {
                    if !n.sync.is_empty() {
                        n.sync = "Synced".into();
                    }
                    n.health = "Healthy".into();
                    for c in &mut n.children {
                        mark(c);
                    }
                }
                a.detail.tree.iter_mut().for_each(mark);
                for o in &mut a.diff.objects {
                    o.status = "Synced".into();
                    o.diff.clear();
                }
                let id = a.history.len() as i64;
                a.history.push(HistoryEntry {
                    id,
                    revision: a.detail.summary.revision.clone(),
                    deployed_at: "2026-01-05T11:00:00Z".into(),
                    deploy_started_at: "2026-01-05T10:59:58Z".into(),
                });
            }
        }
        publish_app(&s2, &mut w, &n2);
    });
    Json(ActionResponse {
        message: format!("sync of {name} requested"),
    })
    .into_response()
}

async fn app_refresh(State(s): State<Shared>, h: HeaderMap, Path(name): Path<String>) -> Response {
    if let Err(r) = changing(&s, &h, &name, "refresh") {
        return r;
    }
    Json(ActionResponse {
        message: format!("refresh of {name} requested"),
    })
    .into_response()
}

async fn app_terminate(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = changing(&s, &h, &name, "terminate") {
        return r;
    }
    Json(ActionResponse {
        message: format!("termination of {name}'s operation requested"),
    })
    .into_response()
}

async fn app_rollback(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<RollbackRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = changing(&s, &h, &name, "rollback") {
        return r;
    }
    let Ok(Json(req)) = body else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad rollback request: expected {\"id\": N}",
        );
    };
    let w = s.world.lock().expect("lock");
    let known = w
        .apps
        .get(&name)
        .is_some_and(|a| a.history.iter().any(|e| e.id == req.id));
    if !known {
        return err(
            StatusCode::BAD_REQUEST,
            format!("{name} has no deployment {} in its history", req.id),
        );
    }
    Json(ActionResponse {
        message: format!("rollback of {name} to deployment {} requested", req.id),
    })
    .into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    #[serde(default)]
    environment: String,
    #[serde(default)]
    application: String,
}

async fn stream(
    State(s): State<Shared>,
    h: HeaderMap,
    q: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad query: environment= and application= only",
        );
    };
    if let Err(r) = auth(
        &s,
        &h,
        format!(
            "GET stream?environment={}&application={}",
            q.environment, q.application
        ),
    ) {
        return r;
    }
    let rx = s.tx.subscribe();
    let events = futures_util::stream::unfold(rx, move |mut rx| {
        let (env, app) = (q.environment.clone(), q.application.clone());
        async move {
            loop {
                match rx.recv().await {
                    Ok(m) => {
                        if !env.is_empty() && m.environment != env {
                            continue;
                        }
                        if !(app.is_empty() || m.kind == "application" && m.name == app) {
                            continue;
                        }
                        let data = serde_json::to_string(&m).unwrap_or_default();
                        let ev: Result<Event, Infallible> =
                            Ok(Event::default().event(m.kind.clone()).data(data));
                        return Some((ev, rx));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
