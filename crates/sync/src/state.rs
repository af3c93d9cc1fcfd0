//! Operation state: what a sync did and is doing (phase, per-object results, completed hooks,
//! start/finish, revision), persisted so that a restarted process resumes an interrupted sync without
//! re-running completed hooks. Stored in a ConfigMap beside the application's objects, in a file, or
//! in memory (tests).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::object::{AppId, ObjKey, Phase};

/// Phase of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpPhase {
    /// In progress (or interrupted, if found on start-up).
    Running,
    /// Finished successfully.
    Succeeded,
    /// A resource or hook failed.
    Failed,
    /// Trellis could not carry it out (API unreachable...).
    Error,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultCode {
    /// Applied (or already in sync).
    Synced,
    /// Left alone because it was already in sync (`ApplyOutOfSyncOnly`).
    Unchanged,
    /// The server rejected it, or it could not be applied.
    SyncFailed,
    /// Deleted because it is no longer desired.
    Pruned,
    /// Not deleted (`Prune=false`, pruning disabled, or tracked by another application).
    PruneSkipped,
    /// A hook that finished successfully.
    HookSucceeded,
    /// A hook that failed or timed out.
    HookFailed,
}

/// Result of one object in an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectResult {
    /// The object.
    pub key: ObjKey,
    /// Phase it belongs to.
    pub phase: Phase,
    /// Wave.
    pub wave: i64,
    /// Outcome.
    pub result: ResultCode,
    /// Server message or reason.
    pub message: String,
}

/// One sync operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Revision being synced (git commit, chart version...).
    pub revision: String,
    /// Digest of the desired manifests, to recognise the same operation after a restart.
    pub desired_digest: String,
    /// Whether this is the application's first sync (Helm install hooks) or a later one.
    pub first_sync: bool,
    /// Phase.
    pub phase: OpPhase,
    /// Summary.
    pub message: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 finish time.
    pub finished_at: Option<String>,
    /// Hooks that completed, as `Phase:key`.
    pub completed_hooks: BTreeSet<String>,
    /// Hooks created in this operation and not finished yet, as `Phase:key` → the object's uid:
    /// a process that resumes the operation waits for that object instead of creating it again.
    #[serde(default)]
    pub started_hooks: std::collections::BTreeMap<String, String>,
    /// Per-object results.
    pub results: Vec<ObjectResult>,
    /// Attempts so far.
    pub attempts: u32,
    /// Warnings (forced conflicts...).
    pub warnings: Vec<String>,
}

/// A finished operation in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Revision.
    pub revision: String,
    /// Phase it finished in.
    pub phase: OpPhase,
    /// Start.
    pub started_at: String,
    /// Finish.
    pub finished_at: String,
}

/// Everything persisted about one application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    /// Whether a sync has succeeded once (later syncs are Helm upgrades).
    pub synced_once: bool,
    /// The current or last operation.
    pub operation: Option<Operation>,
    /// Recent finished operations, newest last.
    pub history: Vec<HistoryEntry>,
    /// `(apiVersion, kind)` of everything the application has applied, so that kinds no longer
    /// rendered are still watched (and pruned).
    #[serde(default)]
    pub kinds: BTreeSet<(String, String)>,
}

/// How many history entries are kept.
pub const HISTORY_LIMIT: usize = 10;

impl AppState {
    /// Record a finished operation in the history.
    pub fn push_history(&mut self, op: &Operation) {
        self.history.push(HistoryEntry {
            revision: op.revision.clone(),
            phase: op.phase,
            started_at: op.started_at.clone(),
            finished_at: op.finished_at.clone().unwrap_or_default(),
        });
        let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..excess);
    }
}

/// Where application state is kept. Every form is keyed by the application's identity
/// ([`AppId`]: namespace and name), never by its name alone.
#[derive(Clone)]
pub enum StateStore {
    /// A ConfigMap named `trellis-app-<name>` in the application's own namespace (for
    /// `trellis deploy`, its destination namespace).
    ConfigMap(Arc<Cluster>),
    /// A JSON file per application in a directory: `<namespace>_<name>.json`.
    Dir(PathBuf),
    /// In memory, shared by clones (tests).
    Memory(Arc<Mutex<HashMap<AppId, AppState>>>),
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateStore::ConfigMap(_) => f.write_str("StateStore::ConfigMap"),
            StateStore::Dir(d) => write!(f, "StateStore::Dir({})", d.display()),
            StateStore::Memory(_) => f.write_str("StateStore::Memory"),
        }
    }
}

/// Name of the ConfigMap holding an application's state (in the application's namespace).
pub fn configmap_name(app: &str) -> String {
    format!("trellis-app-{app}")
}

fn io_err(p: &std::path::Path, e: std::io::Error) -> Error {
    Error::Io {
        path: p.display().to_string(),
        source: e,
    }
}

/// Read a file; `None` when it does not exist.
fn read_opt(p: &std::path::Path) -> Result<Option<String>> {
    match std::fs::read_to_string(p) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(p, e)),
    }
}

impl StateStore {
    /// A fresh in-memory store.
    pub fn memory() -> StateStore {
        StateStore::Memory(Arc::default())
    }

    /// Load an application's state (default when none was stored).
    pub async fn load(&self, app: &AppId) -> Result<AppState> {
        let parse = |text: &str| {
            serde_json::from_str::<AppState>(text)
                .map_err(|e| Error::State(format!("reading state of {app}: {e}")))
        };
        match self {
            StateStore::Memory(m) => Ok(m
                .lock()
                .expect("state lock poisoned")
                .get(app)
                .cloned()
                .unwrap_or_default()),
            StateStore::Dir(d) => {
                if let Some(t) = read_opt(&d.join(dir_file(app)))? {
                    return parse(&t);
                }
                // Earlier versions named the file by the application's name alone, so one file
                // may hold the state of a same-named application of another namespace: keep only
                // what it says about this application's namespace.
                match read_opt(&d.join(format!("{}.json", app.name)))? {
                    Some(t) => {
                        let mut st = parse(&t)?;
                        // (cluster-scoped objects only when it also names objects of this
                        // namespace: otherwise the file is another namespace's).
                        if let Some(op) = st.operation.as_mut() {
                            let ours = op.results.iter().any(|r| r.key.namespace == app.namespace);
                            op.results.retain(|r| {
                                ours && (r.key.namespace.is_empty()
                                    || r.key.namespace == app.namespace)
                            });
                            if op.results.is_empty() {
                                st = AppState::default();
                            }
                        }
                        Ok(st)
                    }
                    None => Ok(AppState::default()),
                }
            }
            StateStore::ConfigMap(c) => {
                let Some(res) = c.resolve("v1", "ConfigMap").await? else {
                    return Err(Error::State("the server does not serve ConfigMaps".into()));
                };
                match c
                    .get(&res, &app.namespace, &configmap_name(&app.name))
                    .await?
                {
                    None => Ok(AppState::default()),
                    Some(cm) => parse(
                        cm.pointer("/data/state")
                            .and_then(Value::as_str)
                            .unwrap_or("{}"),
                    ),
                }
            }
        }
    }

    /// Store an application's state.
    pub async fn save(&self, app: &AppId, state: &AppState) -> Result<()> {
        let text = serde_json::to_string(state).map_err(|e| Error::State(e.to_string()))?;
        match self {
            StateStore::Memory(m) => {
                m.lock()
                    .expect("state lock poisoned")
                    .insert(app.clone(), state.clone());
                Ok(())
            }
            StateStore::Dir(d) => {
                std::fs::create_dir_all(d).map_err(|e| io_err(d, e))?;
                let p = d.join(dir_file(app));
                let tmp = d.join(format!(".{}.tmp", dir_file(app)));
                std::fs::write(&tmp, text).map_err(|e| io_err(&tmp, e))?;
                std::fs::rename(&tmp, &p).map_err(|e| io_err(&p, e))
            }
            StateStore::ConfigMap(c) => {
                let Some(res) = c.resolve("v1", "ConfigMap").await? else {
                    return Err(Error::State("the server does not serve ConfigMaps".into()));
                };
                let cm = json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": configmap_name(&app.name), "namespace": app.namespace,
                                 "labels": {"app.kubernetes.io/managed-by": "trellis", "trellis.dev/app": app.name}},
                    "data": {"state": text}
                });
                c.apply(&res, &cm, true, false, true).await.map(|_| ())
            }
        }
    }
}

impl StateStore {
    /// Forget an application's state (after it was deleted); nothing to do when none is stored.
    pub async fn remove(&self, app: &AppId) -> Result<()> {
        match self {
            StateStore::Memory(m) => {
                m.lock().expect("state lock poisoned").remove(app);
                Ok(())
            }
            StateStore::Dir(d) => {
                let p = d.join(dir_file(app));
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&p, e)),
                    _ => Ok(()),
                }
            }
            StateStore::ConfigMap(c) => {
                let Some(res) = c.resolve("v1", "ConfigMap").await? else {
                    return Ok(());
                };
                match c
                    .delete(
                        &res,
                        &app.namespace,
                        &configmap_name(&app.name),
                        crate::cluster::Propagation::Background,
                    )
                    .await
                {
                    Ok(_) => Ok(()),
                    // The namespace itself is gone: so is the state.
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// The state file of an application in a [`StateStore::Dir`].
fn dir_file(app: &AppId) -> String {
    format!("{}_{}.json", app.namespace, app.name)
}

/// Now as RFC 3339 UTC (`2026-11-27T14:03:05Z`).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_369_385), "2026-12-27T11:03:05Z");
    }

    #[tokio::test]
    async fn dir_store_round_trips_and_defaults() {
        let dir = std::env::temp_dir().join(format!("trellis-state-{}", std::process::id()));
        let store = StateStore::Dir(dir.clone());
        let id = AppId::new("ns", "a");
        assert_eq!(store.load(&id).await.expect("load"), AppState::default());
        let mut st = AppState {
            synced_once: true,
            ..AppState::default()
        };
        let op = Operation {
            revision: "r1".into(),
            desired_digest: "d".into(),
            first_sync: true,
            phase: OpPhase::Succeeded,
            message: String::new(),
            started_at: now_rfc3339(),
            finished_at: Some(now_rfc3339()),
            completed_hooks: BTreeSet::from(["PreSync:batch/Job/ns/seed".to_string()]),
            started_hooks: Default::default(),
            results: vec![],
            attempts: 1,
            warnings: vec![],
        };
        for _ in 0..15 {
            st.push_history(&op);
        }
        st.operation = Some(op);
        assert_eq!(st.history.len(), HISTORY_LIMIT);
        store.save(&id, &st).await.expect("save");
        assert_eq!(store.load(&id).await.expect("load"), st);
        assert_eq!(
            store.load(&AppId::new("other", "a")).await.expect("load"),
            AppState::default(),
            "same name, another namespace: another application"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    fn result(ns: &str, name: &str) -> ObjectResult {
        ObjectResult {
            key: ObjKey {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: ns.into(),
                name: name.into(),
            },
            phase: Phase::Sync,
            wave: 0,
            result: ResultCode::Synced,
            message: String::new(),
        }
    }

    #[tokio::test]
    async fn legacy_dir_state_is_read_for_its_own_namespace_only() {
        let dir = std::env::temp_dir().join(format!("trellis-legacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let st = AppState {
            synced_once: true,
            operation: Some(Operation {
                revision: "r".into(),
                desired_digest: "d".into(),
                first_sync: true,
                phase: OpPhase::Succeeded,
                message: String::new(),
                started_at: now_rfc3339(),
                finished_at: None,
                completed_hooks: BTreeSet::new(),
                started_hooks: Default::default(),
                results: vec![result("a", "x"), result("", "cluster-wide")],
                attempts: 1,
                warnings: vec![],
            }),
            ..AppState::default()
        };
        let text = serde_json::to_string(&st).expect("json");
        std::fs::write(dir.join("app.json"), text).expect("write legacy");
        let store = StateStore::Dir(dir.clone());
        let mine = store.load(&AppId::new("a", "app")).await.expect("load");
        assert_eq!(mine.operation.map(|o| o.results.len()), Some(2));
        let other = store.load(&AppId::new("b", "app")).await.expect("load");
        assert_eq!(other, AppState::default(), "namespace a's file is not b's");
        std::fs::remove_dir_all(&dir).ok();
    }
}
