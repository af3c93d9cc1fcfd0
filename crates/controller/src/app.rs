//! Application reconcile: resolve the source revision from the git mirror, render the chart (once
//! per digest, shared), gate on `dependsOn`, diff against the cluster cache, sync per the sync
//! policy with the `sync` engine, and write the status (only when it changed). Deletion with the
//! resources finalizer runs the application's delete hooks and removes its objects.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use sync::diff::SyncStatus as DiffStatus;
use sync::engine::{App as SyncApp, Progress, SyncOptions};
use sync::health::HealthStatus as EngineHealth;
use sync::object::{Manifest, ObjKey};
use sync::state::{OpPhase, ResultCode};

use crate::error::{Error, Result};
use crate::render::{RenderRequest, Rendered};
use crate::run::{Controller, Key, now_rfc3339};
use crate::types::{
    Application, ApplicationStatus, Condition, HealthStatus, HealthStatusCode, OperationPhase,
    OperationState, ResourceResult, ResourceStatus, RevisionHistory, SERVICE_LABEL, SyncStatus,
    SyncStatusCode,
};

/// The finalizer that makes deleting an Application delete its objects (Argo CD's
/// `resources-finalizer.argocd.argoproj.io`); Environments put it on the Applications they own.
pub const RESOURCES_FINALIZER: &str = "trellis.dev/resources-finalizer";

/// Annotation asking for a sync now (manual sync policy, or a forced one): any new value.
pub const SYNC_REQUEST: &str = "trellis.dev/sync-requested";

/// Annotation asking to stop the running sync operation (Argo CD's `terminate`): a new value stops
/// it. The operation is marked Failed ("terminated"); the next sync resumes it where it stopped, so
/// hooks that ran are not run again.
pub const TERMINATE_REQUEST: &str = "trellis.dev/terminate";

/// What a sync request may ask beyond "sync now", when the [`SYNC_REQUEST`] annotation's value is
/// a JSON object (any other value is a plain request): `{"at": "...", "prune": true,
/// "revision": "v2", "resources": [{"group": "apps", "kind": "Deployment", "name": "web"}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequestOptions {
    /// When it was asked (makes each request a new value).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub at: String,
    /// Delete tracked objects no longer rendered, whatever the sync policy says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    /// Sync this branch, tag or commit instead of `targetRevision` (a rollback names the commit
    /// of a history entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Only these objects (`group`, `kind`, `name`, optional `namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceSelector>>,
    /// The history entry rolled back to, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<i64>,
}

/// An object a sync request names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResourceSelector {
    /// API group (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (empty: any).
    #[serde(default)]
    pub namespace: String,
}

impl SyncRequestOptions {
    /// The options a sync request annotation's value carries (none for a plain value).
    pub fn parse(value: &str) -> SyncRequestOptions {
        if value.trim_start().starts_with('{') {
            serde_json::from_str(value).unwrap_or_default()
        } else {
            SyncRequestOptions::default()
        }
    }

    fn selects(&self, obj: &serde_json::Value) -> bool {
        let Some(sel) = &self.resources else {
            return true;
        };
        let api = obj.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
        let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let kind = obj.get("kind").and_then(|v| v.as_str()).unwrap_or("");
        let meta = obj.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let ns = meta
            .and_then(|m| m.get("namespace"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        sel.iter().any(|r| {
            r.group == group
                && r.kind == kind
                && r.name == name
                && (r.namespace.is_empty() || ns.is_empty() || r.namespace == ns)
        })
    }
}

/// Annotation asking for a git fetch before the next reconcile (Argo CD's `refresh`).
pub const REFRESH_REQUEST: &str = "trellis.dev/refresh";

/// What the controller remembers about an Application between reconciles (in memory only: a
/// restarted controller rebuilds it from the resources and the engine's recorded state).
#[derive(Debug, Clone, Default)]
pub struct AppMemo {
    /// Health at the last reconcile.
    pub health: Option<HealthStatusCode>,
    /// Sync status at the last reconcile.
    pub sync: Option<SyncStatusCode>,
    /// Commit deployed (or being deployed).
    pub revision: Option<String>,
    /// Failed automated sync attempts of the current desired state, and which state.
    pub attempts: u32,
    /// Render digest the attempts are about.
    pub attempts_digest: String,
    /// The last sync request annotation value acted on.
    pub sync_request_seen: Option<String>,
    /// The last refresh annotation value acted on.
    pub refresh_seen: Option<String>,
    /// The last terminate annotation value acted on.
    pub terminate_seen: Option<String>,
    /// When a sync last finished (for Environments' `lastActivity`).
    pub last_sync: Option<String>,
}

/// What a reconcile decided about the next one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Nothing scheduled: a change (watch event, git, dependency) will requeue it.
    Idle,
    /// Reconcile again after this long (retry backoff, waiting for a dependency's health...).
    After(Duration),
}

impl Controller {
    /// Reconcile one Application by name (in the controller's namespace).
    pub(crate) async fn reconcile_app(self: &Arc<Self>, name: &str) -> Result<Next> {
        let Some(app) = self
            .apps
            .get(&ObjectRef::new(name).within(&self.cfg.namespace))
        else {
            self.memo.lock().expect("memo lock").remove(name);
            return Ok(Next::Idle);
        };
        if app.metadata.deletion_timestamp.is_some() {
            return self.finalize_app(&app).await;
        }
        let started = Instant::now();
        let mut status = app.status.clone().unwrap_or_default();
        let mut before = status.clone();
        status.conditions.retain(|c| {
            !matches!(
                c.type_.as_str(),
                "ComparisonError"
                    | "SyncError"
                    | "RepoUnreachable"
                    | "DependencyCycle"
                    | "SharedResource"
                    | "ExcludedResourceWarning"
            )
        });
        let outcome = self
            .reconcile_app_inner(&app, &mut status, &mut before)
            .await;
        let next = match outcome {
            Ok(n) => n,
            Err(e) => {
                let kind = match &e {
                    Error::Render(_) | Error::Invalid(_) => "ComparisonError",
                    Error::Git(_) => "ComparisonError",
                    _ => "SyncError",
                };
                set_condition(&mut status, kind, &e.to_string());
                if matches!(e, Error::Render(_) | Error::Git(_) | Error::Invalid(_)) {
                    status.sync = Some(SyncStatus {
                        status: SyncStatusCode::Unknown,
                        revision: status.sync.as_ref().and_then(|s| s.revision.clone()),
                    });
                }
                if e.is_transient() {
                    Next::After(Duration::from_secs(10))
                } else {
                    Next::Idle
                }
            }
        };
        // A condition that still holds keeps the time it started holding (and the status stays
        // equal, so an unchanged Application is not written, nor woken by its own write).
        for c in &mut status.conditions {
            if let Some(b) = before
                .conditions
                .iter()
                .find(|b| b.type_ == c.type_ && b.message == c.message)
            {
                c.last_transition_time = b.last_transition_time.clone();
            }
        }
        self.stats.observe_reconcile(started.elapsed());
        self.write_app_status(&app, &before, status).await?;
        Ok(next)
    }

    /// `written`: the status as last written, which the final write compares with (a sync
    /// records its Running operation on the way).
    async fn reconcile_app_inner(
        self: &Arc<Self>,
        app: &Application,
        status: &mut ApplicationStatus,
        written: &mut ApplicationStatus,
    ) -> Result<Next> {
        let name = app.metadata.name.clone().unwrap_or_default();
        let spec = &app.spec;
        self.ensure_finalizer_if_owned(app).await?;
        let annotations = app.metadata.annotations.clone().unwrap_or_default();
        let (refresh, sync_request) = {
            let memo = self.memo.lock().expect("memo lock");
            let m = memo.get(&name);
            (
                annotations
                    .get(REFRESH_REQUEST)
                    .filter(|v| m.and_then(|m| m.refresh_seen.as_ref()) != Some(*v))
                    .cloned(),
                annotations
                    .get(SYNC_REQUEST)
                    .filter(|v| m.and_then(|m| m.sync_request_seen.as_ref()) != Some(*v))
                    .cloned(),
            )
        };
        let asked = sync_request
            .as_deref()
            .map(SyncRequestOptions::parse)
            .unwrap_or_default();
        // 1. The revision, from the shared mirror (fetched only when never fetched or asked).
        let url = spec.source.repo_url.clone();
        let rev = asked
            .revision
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| {
                spec.source
                    .target_revision
                    .clone()
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "HEAD".into())
            });
        if refresh.is_some() || self.mirrors.snapshot(&url).is_none() {
            if let Err(e) = self.fetch_repo(&url, spec.source.secret_ref.as_ref()).await {
                if self.mirrors.snapshot(&url).is_none() {
                    return Err(e);
                }
                set_condition(
                    status,
                    "RepoUnreachable",
                    &format!("{e}; using the last fetched commit"),
                );
            }
        } else if let Some(e) = self.mirrors.last_error(&url) {
            set_condition(
                status,
                "RepoUnreachable",
                &format!("{e}; using the last fetched commit"),
            );
        }
        if let Some(r) = &refresh {
            self.memo
                .lock()
                .expect("memo lock")
                .entry(name.clone())
                .or_default()
                .refresh_seen = Some(r.clone());
        }
        let commit = self.mirrors.resolve(&url, &rev).await?;
        let dest_ns = spec
            .destination
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.cfg.namespace.clone());
        let mut sapp = self.sync_app(app, &dest_ns, &commit);
        if asked.prune {
            sapp.options.prune = true;
        }
        // 2. Render (as Helm's upgrade once the engine has synced it once).
        let is_upgrade = self.engine.is_upgrade(&sapp).await?;
        let rendered = self.render_app(app, &commit, &dest_ns, is_upgrade).await?;
        let manifests = &rendered.manifests;
        // 3. Dependencies.
        let (waiting, cycle) = self.dependency_gate(app);
        status.waiting_for = waiting.clone();
        if let Some(c) = &cycle {
            set_condition(status, "DependencyCycle", c);
        }
        // Rendered objects of excluded kinds are left alone: say which.
        let excluded = self.engine.excluded(manifests);
        if !excluded.is_empty() {
            let names: Vec<String> = excluded.iter().map(ToString::to_string).collect();
            set_condition(
                status,
                "ExcludedResourceWarning",
                &format!(
                    "not managed, their kinds are excluded by resource.exclusions/resource.inclusions of {}: {}",
                    crate::run::HEALTH_CONFIGMAP,
                    names.join(", ")
                ),
            );
        }
        // ignoreDifferences jq expressions that cannot be used (they are skipped).
        let problems = sync::diff::check_rules(&sapp.ignore);
        if !problems.is_empty() {
            set_condition(status, "ComparisonError", &problems.join("; "));
        }
        // 4. Diff, then sync per policy.
        let diffs = self.engine.diff(&sapp, manifests).await?;
        let out_of_sync = diffs.iter().any(|d| d.makes_app_out_of_sync());
        let automated = spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref());
        let synced_to = self.engine.is_synced_to(&sapp, manifests).await?;
        let wants_sync = sync_request.is_some()
            || (automated.is_some() && !synced_to)
            || (automated.is_some_and(|a| a.self_heal) && out_of_sync);
        let mut next = Next::Idle;
        let blocked = waiting.is_some() || cycle.is_some();
        if wants_sync && blocked {
            next = Next::After(Duration::from_secs(30));
        }
        if wants_sync && !blocked {
            let digest = rendered.digest.clone();
            let attempts = {
                let mut memo = self.memo.lock().expect("memo lock");
                let m = memo.entry(name.clone()).or_default();
                if m.attempts_digest != digest {
                    m.attempts_digest = digest.clone();
                    m.attempts = 0;
                }
                if let Some(r) = &sync_request {
                    m.sync_request_seen = Some(r.clone());
                    m.attempts = 0;
                }
                m.attempts
            };
            let retry = self.retry_policy(app);
            if sync_request.is_some() || attempts <= retry.limit {
                let _permit = self.sync_slots.acquire().await;
                let subset: Vec<sync::object::Manifest>;
                let to_sync = if asked.resources.is_some() {
                    subset = manifests
                        .iter()
                        .filter(|m| asked.selects(&m.obj))
                        .cloned()
                        .collect();
                    &subset[..]
                } else {
                    &manifests[..]
                };
                let stop = Arc::new(tokio::sync::Notify::new());
                self.running
                    .lock()
                    .expect("running lock")
                    .insert(name.clone(), stop.clone());
                // Say that a sync runs (what `terminate` stops, what the UI shows) before it
                // starts; the final status below replaces it.
                let running = OperationState {
                    phase: OperationPhase::Running,
                    message: Some(format!("syncing to {}", short_commit(&commit))),
                    started_at: now_rfc3339(),
                    finished_at: None,
                    sync_result: None,
                    retry_count: (attempts > 0).then_some(i64::from(attempts)),
                };
                match self
                    .patch_status::<Application>(
                        &name,
                        &serde_json::json!({ "operationState": running }),
                    )
                    .await
                {
                    // The final status is compared with this, not with the status the reconcile
                    // started from: a sync that ends where the last one did must still replace
                    // "Running" (its own write does not requeue the Application).
                    Ok(()) => written.operation_state = Some(running),
                    Err(e) => {
                        tracing::debug!(app = %name, error = %e, "recording the running operation")
                    }
                }
                let progress = Progress::default();
                let out = tokio::select! {
                    out = self.engine.sync(&sapp, to_sync, &progress) => Some(out),
                    () = stop.notified() => None,
                };
                self.running.lock().expect("running lock").remove(&name);
                let Some(out) = out else {
                    // Terminated: no automated retry of this desired state; a new commit or a
                    // sync request starts again.
                    self.memo
                        .lock()
                        .expect("memo lock")
                        .entry(name.clone())
                        .or_default()
                        .attempts = u32::MAX;
                    self.metrics.sync("terminated");
                    return self.terminated(&sapp, status, &commit).await;
                };
                let result = match &out {
                    Ok(o) if o.phase == OpPhase::Succeeded => "succeeded",
                    Ok(_) => "failed",
                    Err(_) => "error",
                };
                self.stats.syncs(result);
                self.metrics.sync(result);
                let failed = match &out {
                    Ok(o) => o.phase != OpPhase::Succeeded,
                    Err(_) => true,
                };
                {
                    let mut memo = self.memo.lock().expect("memo lock");
                    let m = memo.entry(name.clone()).or_default();
                    m.last_sync = Some(now_rfc3339());
                    if failed {
                        m.attempts = m.attempts.saturating_add(1);
                    } else {
                        m.attempts = 0;
                    }
                }
                match out {
                    Ok(o) => {
                        if let Some(w) = o.warnings.iter().find(|w| w.contains("belongs to")) {
                            set_condition(status, "SharedResource", w);
                        }
                        if o.phase != OpPhase::Succeeded {
                            set_condition(status, "SyncError", &o.message);
                            if o.results.iter().any(|r| {
                                r.result == ResultCode::SyncFailed
                                    && r.message.contains("belongs to application")
                            }) {
                                set_condition(status, "SharedResource", &o.message);
                            }
                            if attempts < retry.limit {
                                next = Next::After(retry.delay(attempts + 1));
                            }
                        }
                    }
                    Err(e) => {
                        set_condition(status, "SyncError", &e.to_string());
                        if attempts < retry.limit || e.is_retryable() {
                            next = Next::After(retry.delay(attempts + 1));
                        }
                    }
                }
            }
        }
        // 5. Status: sync, health, resources, operation, history.
        let diffs = if wants_sync && !blocked {
            self.engine.diff(&sapp, manifests).await?
        } else {
            diffs
        };
        let keys: Vec<ObjKey> = diffs
            .iter()
            .filter(|d| d.status != DiffStatus::Extra)
            .map(|d| d.key.clone())
            .collect();
        let (health, each) = self.engine.health_of_objects(&keys);
        let health_by_key: HashMap<&ObjKey, &sync::health::Health> =
            keys.iter().zip(&each).collect();
        let sync_code = if !diffs.iter().any(|d| d.makes_app_out_of_sync()) {
            SyncStatusCode::Synced
        } else {
            SyncStatusCode::OutOfSync
        };
        status.sync = Some(SyncStatus {
            status: sync_code,
            revision: Some(commit.clone()),
        });
        let health_code = health_code(health.status);
        status.health = Some(HealthStatus {
            status: health_code,
            message: (!health.message.is_empty()).then(|| health.message.clone()),
        });
        // The version of each kind as rendered (the tree and the UI read objects with it).
        let versions: HashMap<(&str, &str), &str> = manifests
            .iter()
            .filter_map(|m| {
                let api = m.obj.get("apiVersion")?.as_str()?;
                let kind = m.obj.get("kind")?.as_str()?;
                let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
                Some(((group, kind), version))
            })
            .collect();
        status.resources = diffs
            .iter()
            .map(|d| ResourceStatus {
                group: d.key.group.clone(),
                version: versions
                    .get(&(d.key.group.as_str(), d.key.kind.as_str()))
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                kind: d.key.kind.clone(),
                namespace: d.key.namespace.clone(),
                name: d.key.name.clone(),
                status: Some(match d.status {
                    DiffStatus::Synced => SyncStatusCode::Synced,
                    _ => SyncStatusCode::OutOfSync,
                }),
                health: health_by_key.get(&d.key).map(|h| HealthStatus {
                    status: health_code_of(h.status),
                    message: (!h.message.is_empty()).then(|| h.message.clone()),
                }),
                hook: false,
                requires_pruning: d.status == DiffStatus::Extra,
            })
            .collect();
        let state = self.engine.state(&sapp).await?;
        // A terminated sync stays recorded as running in the engine (so the next sync resumes
        // it without running its hooks again); its status stays "terminated" until then.
        let terminated = state.operation.as_ref().is_some_and(|op| {
            op.phase == OpPhase::Running
                && !self
                    .running
                    .lock()
                    .expect("running lock")
                    .contains_key(&name)
                && self
                    .memo
                    .lock()
                    .expect("memo lock")
                    .get(&name)
                    .is_some_and(|m| m.attempts == u32::MAX)
        });
        if let Some(op) = state.operation.as_ref().filter(|_| !terminated) {
            status.operation_state = Some(OperationState {
                phase: match op.phase {
                    OpPhase::Running => OperationPhase::Running,
                    OpPhase::Succeeded => OperationPhase::Succeeded,
                    OpPhase::Failed => OperationPhase::Failed,
                    OpPhase::Error => OperationPhase::Error,
                },
                message: (!op.message.is_empty()).then(|| op.message.clone()),
                started_at: op.started_at.clone(),
                finished_at: op.finished_at.clone(),
                sync_result: Some(crate::types::SyncOperationResult {
                    revision: op.revision.clone(),
                    resources: op
                        .results
                        .iter()
                        .map(|r| ResourceResult {
                            group: r.key.group.clone(),
                            kind: r.key.kind.clone(),
                            namespace: r.key.namespace.clone(),
                            name: r.key.name.clone(),
                            status: Some(format!("{:?}", r.result)),
                            message: (!r.message.is_empty()).then(|| r.message.clone()),
                            hook_phase: matches!(
                                r.result,
                                ResultCode::HookSucceeded | ResultCode::HookFailed
                            )
                            .then(|| {
                                if r.result == ResultCode::HookSucceeded {
                                    "Succeeded".to_string()
                                } else {
                                    "Failed".to_string()
                                }
                            }),
                            sync_phase: Some(r.phase.to_string()),
                        })
                        .collect(),
                }),
                retry_count: Some(i64::from(op.attempts.saturating_sub(1))),
            });
        }
        let limit = usize::try_from(spec.revision_history_limit.unwrap_or(10).max(1)).unwrap_or(10);
        let history: Vec<RevisionHistory> = state
            .history
            .iter()
            .filter(|h| h.phase == OpPhase::Succeeded)
            .enumerate()
            .map(|(i, h)| RevisionHistory {
                id: i as i64,
                revision: h.revision.clone(),
                deployed_at: h.finished_at.clone(),
                deploy_started_at: Some(h.started_at.clone()),
                source: Some(spec.source.clone()),
            })
            .collect();
        let skip = history.len().saturating_sub(limit);
        status.history = history.into_iter().skip(skip).collect();
        status.observed_generation = app.metadata.generation;
        {
            let mut memo = self.memo.lock().expect("memo lock");
            let m = memo.entry(name.clone()).or_default();
            let changed = m.health != Some(health_code) || m.sync != Some(sync_code);
            m.health = Some(health_code);
            m.sync = Some(sync_code);
            m.revision = Some(commit.clone());
            drop(memo);
            if changed {
                self.requeue_dependents(app);
            }
        }
        if next == Next::Idle && health_code == HealthStatusCode::Progressing {
            // Watch events requeue it as its objects change; look again now and then anyway.
            next = Next::After(Duration::from_secs(60));
        }
        Ok(next)
    }

    /// The status of a sync stopped by a terminate request.
    async fn terminated(
        &self,
        sapp: &SyncApp,
        status: &mut ApplicationStatus,
        commit: &str,
    ) -> Result<Next> {
        let started_at = self
            .engine
            .state(sapp)
            .await
            .ok()
            .and_then(|s| s.operation.map(|o| o.started_at))
            .unwrap_or_else(now_rfc3339);
        status.operation_state = Some(OperationState {
            phase: OperationPhase::Failed,
            message: Some("Operation terminated by request".into()),
            started_at,
            finished_at: Some(now_rfc3339()),
            sync_result: Some(crate::types::SyncOperationResult {
                revision: commit.to_string(),
                resources: Vec::new(),
            }),
            retry_count: None,
        });
        set_condition(
            status,
            "SyncError",
            "the sync operation was terminated by request",
        );
        Ok(Next::Idle)
    }

    /// A terminate request on an Application whose sync is running stops it (called on every
    /// watch event of an Application, outside the work queue, so it reaches a running sync).
    pub(crate) fn check_terminate(&self, app: &Application) {
        let name = app.metadata.name.clone().unwrap_or_default();
        let Some(v) = app
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TERMINATE_REQUEST))
        else {
            return;
        };
        let mut memo = self.memo.lock().expect("memo lock");
        let m = memo.entry(name.clone()).or_default();
        if m.terminate_seen.as_ref() == Some(v) {
            return;
        }
        m.terminate_seen = Some(v.clone());
        drop(memo);
        if let Some(stop) = self.running.lock().expect("running lock").get(&name) {
            tracing::info!(app = %name, "terminating the running sync");
            stop.notify_one();
        }
    }

    /// The diff of an Application against the cluster now: its revision (resolved from the
    /// mirror, fetched first when never fetched) rendered and compared, one entry per rendered or
    /// tracked object (Secret values masked). What the API's `/diff` answers.
    pub async fn diff_application(
        self: &Arc<Self>,
        app: &Application,
    ) -> Result<(String, Vec<sync::engine::ObjectDiff>)> {
        let spec = &app.spec;
        let url = spec.source.repo_url.clone();
        let rev = spec
            .source
            .target_revision
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "HEAD".into());
        if self.mirrors.snapshot(&url).is_none() {
            self.fetch_repo(&url, spec.source.secret_ref.as_ref())
                .await?;
        }
        let commit = self.mirrors.resolve(&url, &rev).await?;
        let dest_ns = spec
            .destination
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.cfg.namespace.clone());
        let sapp = self.sync_app(app, &dest_ns, &commit);
        let is_upgrade = self.engine.is_upgrade(&sapp).await?;
        let rendered = self.render_app(app, &commit, &dest_ns, is_upgrade).await?;
        let diffs = self.engine.diff(&sapp, &rendered.manifests).await?;
        Ok((commit, diffs))
    }

    /// The engine's view of an Application: identity (its namespace and name), destination,
    /// revision and options from its sync policy.
    pub(crate) fn sync_app(&self, app: &Application, dest_ns: &str, commit: &str) -> SyncApp {
        let mut options = SyncOptions {
            create_namespace: true,
            wait_healthy: false,
            timeout: self.cfg.sync_timeout,
            ..SyncOptions::default()
        };
        if let Some(p) = &app.spec.sync_policy {
            options.apply_strings(p.sync_options.iter().map(String::as_str));
            if let Some(a) = &p.automated {
                options.prune = a.prune;
            }
        }
        // Retries are the controller's (a delayed requeue), never a sleep inside a worker.
        options.retry.limit = 0;
        let ignore = app
            .spec
            .ignore_differences
            .iter()
            .map(|d| sync::diff::IgnoreRule {
                group: d.group.clone().unwrap_or_default(),
                kind: d.kind.clone(),
                name: d.name.clone(),
                namespace: d.namespace.clone(),
                json_pointers: d.json_pointers.clone(),
                jq_path_expressions: d.jq_path_expressions.clone(),
                managed_fields_managers: d.managed_fields_managers.clone(),
            })
            .collect();
        SyncApp {
            name: app.metadata.name.clone().unwrap_or_default(),
            app_namespace: app
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| self.cfg.namespace.clone()),
            namespace: dest_ns.to_string(),
            revision: commit.to_string(),
            options,
            ignore,
        }
    }

    fn retry_policy(&self, app: &Application) -> sync::engine::RetryPolicy {
        let mut r = sync::engine::RetryPolicy {
            limit: 5,
            ..sync::engine::RetryPolicy::default()
        };
        if let Some(s) = app.spec.sync_policy.as_ref().and_then(|p| p.retry.as_ref()) {
            if let Some(l) = s.limit {
                r.limit = u32::try_from(l.max(0)).unwrap_or(u32::MAX);
            }
            if let Some(b) = &s.backoff {
                if let Some(d) = b.duration() {
                    r.duration = d;
                }
                if let Some(d) = b.max_duration() {
                    r.max_duration = d;
                }
                r.factor = b.factor();
            }
        }
        r
    }

    /// `dependsOn`: `(waiting for, cycle)`. Dependencies are the services of the same environment
    /// (label `trellis.dev/environment`), or, for an Application outside environments, the
    /// Applications of that name in its namespace. A dependency is met when Healthy and Synced.
    pub(crate) fn dependency_gate(&self, app: &Application) -> (Option<String>, Option<String>) {
        if app.spec.depends_on.is_empty() {
            return (None, None);
        }
        let env = env_of(app);
        let peers = self.env_peers(env.as_deref(), app);
        if let Some(cycle) = find_cycle(&peers, &service_of(app)) {
            return (
                None,
                Some(format!("dependsOn forms a cycle: {}", cycle.join(" → "))),
            );
        }
        let memo = self.memo.lock().expect("memo lock");
        let mut waiting = Vec::new();
        for dep in &app.spec.depends_on {
            let Some((dep_app, _)) = peers.get(dep) else {
                waiting.push(format!("{dep}: not found"));
                continue;
            };
            let m = memo.get(dep_app);
            let health = m.and_then(|m| m.health).or_else(|| {
                self.apps
                    .get(&ObjectRef::new(dep_app).within(&self.cfg.namespace))
                    .and_then(|a| a.status.as_ref()?.health.as_ref().map(|h| h.status))
            });
            let sync = m.and_then(|m| m.sync);
            match health {
                Some(HealthStatusCode::Healthy) if sync != Some(SyncStatusCode::OutOfSync) => {}
                Some(h) => waiting.push(format!("{dep}: {h:?}")),
                None => waiting.push(format!("{dep}: not synced yet")),
            }
        }
        if waiting.is_empty() {
            (None, None)
        } else {
            (Some(format!("waiting for {}", waiting.join(", "))), None)
        }
    }

    /// The Applications of an environment (or of the namespace, outside environments) by service
    /// name: service → (application name, its dependsOn).
    fn env_peers(
        &self,
        env: Option<&str>,
        app: &Application,
    ) -> HashMap<String, (String, Vec<String>)> {
        let mut out = HashMap::new();
        let names: Vec<String> = match env {
            Some(e) => self.index.apps_of_env(e),
            None => app.spec.depends_on.clone(),
        };
        for n in names.iter().chain(std::iter::once(
            &app.metadata.name.clone().unwrap_or_default(),
        )) {
            if let Some(a) = self
                .apps
                .get(&ObjectRef::new(n).within(&self.cfg.namespace))
            {
                if env.is_none() && env_of(&a).is_some() {
                    continue;
                }
                out.insert(
                    service_of(&a),
                    (
                        a.metadata.name.clone().unwrap_or_default(),
                        a.spec.depends_on.clone(),
                    ),
                );
            }
        }
        out
    }

    /// Requeue the Applications that depend on this one, and its Environment.
    fn requeue_dependents(&self, app: &Application) {
        let env = env_of(app);
        let service = service_of(app);
        let lane = env.clone().unwrap_or_default();
        let candidates: Vec<String> = match &env {
            Some(e) => self.index.apps_of_env(e),
            None => self.index.all_apps(),
        };
        for n in candidates {
            if let Some(a) = self
                .apps
                .get(&ObjectRef::new(&n).within(&self.cfg.namespace))
                && a.spec.depends_on.contains(&service)
            {
                self.queue.add(Key::App(n), lane.clone());
            }
        }
        if let Some(e) = env {
            self.queue.add(Key::Env(e.clone()), e);
        }
    }

    /// Environment-owned Applications carry the resources finalizer so that deleting them deletes
    /// their objects; others only if their author put it there (as in Argo CD).
    async fn ensure_finalizer_if_owned(&self, app: &Application) -> Result<()> {
        let owned = env_of(app).is_some();
        let has = app
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == RESOURCES_FINALIZER));
        if !owned || has {
            return Ok(());
        }
        let mut finalizers = app.metadata.finalizers.clone().unwrap_or_default();
        finalizers.push(RESOURCES_FINALIZER.to_string());
        let name = app.metadata.name.clone().unwrap_or_default();
        self.set_finalizers::<Application>(&name, &finalizers).await
    }

    /// An Application being deleted: with the resources finalizer, run its delete hooks and
    /// delete its objects (rendered at the revision it was synced to), then let it go.
    async fn finalize_app(self: &Arc<Self>, app: &Application) -> Result<Next> {
        let name = app.metadata.name.clone().unwrap_or_default();
        let finalizers = app.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == RESOURCES_FINALIZER) {
            return Ok(Next::Idle);
        }
        let dest_ns = app
            .spec
            .destination
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.cfg.namespace.clone());
        let commit = app
            .status
            .as_ref()
            .and_then(|s| s.sync.as_ref()?.revision.clone())
            .unwrap_or_default();
        let sapp = self.sync_app(app, &dest_ns, &commit);
        // Delete hooks need the manifests; if they cannot be rendered, the tracked objects are
        // still deleted (without hooks) rather than left behind.
        let manifests: Vec<Manifest> = if commit.is_empty() {
            Vec::new()
        } else {
            match self.render_app(app, &commit, &dest_ns, true).await {
                Ok(r) => r.manifests.clone(),
                Err(e) => {
                    tracing::warn!(app = %name, error = %e, "deleting without delete hooks: the chart does not render");
                    Vec::new()
                }
            }
        };
        let _permit = self.sync_slots.acquire().await;
        self.engine
            .delete_app(&sapp, &manifests, &Progress::default())
            .await?;
        let rest: Vec<String> = finalizers
            .into_iter()
            .filter(|f| f != RESOURCES_FINALIZER)
            .collect();
        self.set_finalizers::<Application>(&name, &rest).await?;
        self.memo.lock().expect("memo lock").remove(&name);
        if let Some(e) = env_of(app) {
            self.queue.add(Key::Env(e.clone()), e);
        }
        Ok(Next::Idle)
    }

    /// Write the status subresource when it changed (`reconciledAt` alone is refreshed at most
    /// every five minutes, so 10,000 idle Applications do not write every resync).
    async fn write_app_status(
        &self,
        app: &Application,
        before: &ApplicationStatus,
        mut status: ApplicationStatus,
    ) -> Result<()> {
        let mut cmp = status.clone();
        cmp.reconciled_at = before.reconciled_at.clone();
        let stale = before
            .reconciled_at
            .as_deref()
            .and_then(crate::run::parse_rfc3339)
            .is_none_or(|t| crate::run::unix_now().saturating_sub(t) > 300);
        if cmp == *before && !stale {
            return Ok(());
        }
        status.reconciled_at = Some(now_rfc3339());
        let name = app.metadata.name.clone().unwrap_or_default();
        let patch = crate::run::clearing_patch(
            &serde_json::to_value(before).unwrap_or_default(),
            serde_json::to_value(&status).unwrap_or_default(),
        );
        self.patch_status::<Application>(&name, &patch).await
    }
}

impl Controller {
    /// Render an Application's chart at `commit` (the renderer renders each digest once, however
    /// many Applications ask; the git tree is read once per (repository, commit, directory)).
    pub(crate) async fn render_app(
        &self,
        app: &Application,
        commit: &str,
        dest_ns: &str,
        is_upgrade: bool,
    ) -> Result<Arc<Rendered>> {
        let src = &app.spec.source;
        let mut req = RenderRequest {
            repo_url: src.repo_url.clone(),
            commit: commit.to_string(),
            target_revision: src.target_revision.clone().unwrap_or_default(),
            path: src.path.clone(),
            helm: src.helm.clone(),
            app_name: app.metadata.name.clone().unwrap_or_default(),
            namespace: dest_ns.to_string(),
            is_upgrade,
            lookup: Some(self.lookup_hook()),
            ..RenderRequest::default()
        };
        let root = req.required_files_root();
        req.files = self.tree(&src.repo_url, commit, &root).await?;
        req.files_root = root;
        let started = Instant::now();
        let out = self.renderer.render(req).await;
        self.stats.observe_render(started.elapsed());
        self.metrics
            .render_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(out?)
    }

    /// The files under `root` of a commit, shared by every render that needs them.
    async fn tree(
        &self,
        url: &str,
        commit: &str,
        root: &str,
    ) -> Result<Arc<Vec<source::TreeFile>>> {
        let key = (url.to_string(), commit.to_string(), root.to_string());
        if let Some(t) = self.trees.lock().expect("tree lock").get(&key) {
            return Ok(t.clone());
        }
        let files = Arc::new(self.mirrors.read_tree(url, commit, root).await?);
        let mut trees = self.trees.lock().expect("tree lock");
        if trees.len() >= TREE_CACHE_LIMIT {
            trees.clear();
        }
        trees.insert(key, files.clone());
        Ok(files)
    }

    /// Helm's `lookup`, answered from the cluster cache (objects Trellis tracks), else with one
    /// GET; a list lookup (empty name) answers an empty map, as `helm template` does.
    fn lookup_hook(&self) -> helm::LookupHook {
        let engine = self.engine.clone();
        helm::LookupHook::new(move |api_version, kind, namespace, name| {
            if name.is_empty() {
                return None;
            }
            let key = ObjKey {
                group: sync::object::group_of(api_version).to_string(),
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            };
            if let Some(o) = engine.cache().get(&key) {
                return Some((*o).clone());
            }
            let handle = tokio::runtime::Handle::try_current().ok()?;
            let cluster = engine.cluster().clone();
            handle.block_on(async move {
                let res = cluster.resolve(api_version, kind).await.ok()??;
                cluster.get(&res, namespace, name).await.ok()?
            })
        })
    }
}

/// Trees kept for rendering (one per repository, commit and directory in use).
const TREE_CACHE_LIMIT: usize = 4096;

/// Set (or refresh) a condition; the transition time is kept while the message is unchanged.
pub(crate) fn set_condition(status: &mut ApplicationStatus, type_: &str, message: &str) {
    if let Some(c) = status.conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.message != message {
            c.message = message.to_string();
            c.last_transition_time = Some(now_rfc3339());
        }
        return;
    }
    status.conditions.push(Condition {
        type_: type_.to_string(),
        message: message.to_string(),
        last_transition_time: Some(now_rfc3339()),
    });
}

/// The environment an Application belongs to (its label).
pub(crate) fn env_of(app: &Application) -> Option<String> {
    app.metadata
        .labels
        .as_ref()?
        .get(crate::types::ENVIRONMENT_LABEL)
        .cloned()
}

/// The service an Application deploys (label `trellis.dev/service`, else its name).
pub(crate) fn service_of(app: &Application) -> String {
    app.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_LABEL).cloned())
        .unwrap_or_else(|| app.metadata.name.clone().unwrap_or_default())
}

/// A dependency cycle through `start` among `peers` (service → (app, dependsOn)), as the path.
pub(crate) fn find_cycle(
    peers: &HashMap<String, (String, Vec<String>)>,
    start: &str,
) -> Option<Vec<String>> {
    fn visit(
        peers: &HashMap<String, (String, Vec<String>)>,
        node: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let Some((_, deps)) = peers.get(node) else {
            return false;
        };
        for d in deps {
            if d == start {
                path.push(d.clone());
                return true;
            }
            if seen.insert(d.clone()) {
                path.push(d.clone());
                if visit(peers, d, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    visit(peers, start, start, &mut path, &mut seen).then_some(path)
}

fn health_code(h: EngineHealth) -> HealthStatusCode {
    health_code_of(h)
}

pub(crate) fn health_code_of(h: EngineHealth) -> HealthStatusCode {
    match h {
        EngineHealth::Healthy => HealthStatusCode::Healthy,
        EngineHealth::Progressing => HealthStatusCode::Progressing,
        EngineHealth::Degraded => HealthStatusCode::Degraded,
        EngineHealth::Suspended => HealthStatusCode::Suspended,
        EngineHealth::Missing => HealthStatusCode::Missing,
        EngineHealth::Unknown => HealthStatusCode::Unknown,
    }
}

/// The first 7 characters of a commit id.
fn short_commit(c: &str) -> &str {
    c.get(..7).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(edges: &[(&str, &[&str])]) -> HashMap<String, (String, Vec<String>)> {
        edges
            .iter()
            .map(|(s, d)| {
                (
                    s.to_string(),
                    (
                        format!("app-{s}"),
                        d.iter().map(|x| x.to_string()).collect(),
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        let p = peers(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]);
        assert_eq!(
            find_cycle(&p, "a"),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            find_cycle(&p, "d"),
            None,
            "d depends on a cycle but is not in it"
        );
        let p = peers(&[("web", &["db", "auth"]), ("auth", &["db"]), ("db", &[])]);
        assert_eq!(find_cycle(&p, "web"), None);
        let p = peers(&[("self", &["self"])]);
        assert_eq!(
            find_cycle(&p, "self"),
            Some(vec!["self".into(), "self".into()])
        );
    }
}
