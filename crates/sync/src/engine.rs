//! The sync engine: diff an application's desired objects against the cluster cache, and sync them —
//! PreSync hooks, resources wave by wave (server-side apply, waiting for health between waves, CRDs
//! established before their custom resources), prune, PostSync hooks, SyncFail hooks on failure —
//! recording the operation so a restarted process resumes it, and retrying with exponential backoff.
//! Application deletion runs PreDelete/PostDelete hooks around the removal of tracked objects.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::cache::ClusterCache;
use crate::cluster::{Cluster, Propagation, Resolved};
use crate::diff::{self, IgnoreRule, SyncStatus};
use crate::error::{Error, Result};
use crate::exclusions::ResourceFilter;
use crate::fields::ManagedSets;
use crate::health::{self, Health, HealthStatus};
use crate::lua::CustomHealth;
use crate::object::{
    APPLIED_DIGEST, ARGO_HOOK, AppId, CompareOptions, DeletePolicy, HELM_HOOK, Hook, Manifest,
    ObjKey, ObjectOptions, Phase, TRACKING_ID, TrackingId, describe_tracking_key, group_of,
    set_annotation, str_at, sync_wave,
};
use crate::order::{Plan, Step, Task, TaskKind, kind_rank, order_key};
use crate::state::{
    AppState, ObjectResult, OpPhase, Operation, ResultCode, StateStore, now_rfc3339,
};

/// Retry policy for failed syncs: `limit` more attempts, waiting `duration`, then `duration * factor`
/// ... at most `max_duration` between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts after the first (0: no retry).
    pub limit: u32,
    /// First delay.
    pub duration: Duration,
    /// Growth factor.
    pub factor: u32,
    /// Largest delay.
    pub max_duration: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            limit: 0,
            duration: Duration::from_secs(5),
            factor: 2,
            max_duration: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let mut d = self.duration;
        for _ in 1..n {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.max_duration {
                return self.max_duration;
            }
        }
        d.min(self.max_duration)
    }
}

/// Application-level sync options (Argo CD's `syncOptions` plus the sync policy's knobs).
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Delete tracked objects that are no longer desired.
    pub prune: bool,
    /// Create the destination namespace when missing.
    pub create_namespace: bool,
    /// Server-side field validation (`Validate=false` turns it off).
    pub validate: bool,
    /// Replace instead of server-side apply.
    pub replace: bool,
    /// Prune after everything else, PostSync hooks included.
    pub prune_last: bool,
    /// Only write the objects that are out of sync. Off by default, as in Argo CD: a sync applies
    /// every resource once anything is out of sync. Either way, a sync that finds every resource
    /// in sync (and nothing to prune) writes nothing.
    pub apply_out_of_sync_only: bool,
    /// Propagation policy for pruning.
    pub prune_propagation: Propagation,
    /// Deadline for the whole operation, waits included.
    pub timeout: Duration,
    /// Wait for the application to be Healthy (or Degraded) before returning.
    pub wait_healthy: bool,
    /// Retries of a failed sync.
    pub retry: RetryPolicy,
    /// Objects applied concurrently within one kind of one wave.
    pub concurrency: usize,
    /// Take over objects whose tracking id names another application (`AllowTakeOver=true`).
    /// Off by default: such an object is refused with an error naming both applications.
    pub allow_takeover: bool,
    /// `ServerSideApply=true`: apply server-side (the default) even when `Replace=true` is set
    /// too; an object's own `Replace=true` still wins.
    pub server_side_apply: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            prune: false,
            create_namespace: false,
            validate: true,
            replace: false,
            prune_last: false,
            apply_out_of_sync_only: false,
            prune_propagation: Propagation::Foreground,
            timeout: Duration::from_secs(300),
            wait_healthy: true,
            retry: RetryPolicy::default(),
            concurrency: 16,
            allow_takeover: false,
            server_side_apply: false,
        }
    }
}

impl SyncOptions {
    /// Apply Argo CD-style `Key=Value` options (`CreateNamespace=true`, `Validate=false`,
    /// `Replace=true`, `PruneLast=true`, `ApplyOutOfSyncOnly=true`, `PrunePropagationPolicy=background`).
    pub fn apply_strings<'a>(&mut self, opts: impl IntoIterator<Item = &'a str>) {
        for o in opts {
            let Some((k, v)) = o.split_once('=') else {
                continue;
            };
            let b = v.trim().eq_ignore_ascii_case("true");
            match k.trim() {
                "CreateNamespace" => self.create_namespace = b,
                "Validate" => self.validate = b,
                "Replace" => self.replace = b,
                "PruneLast" => self.prune_last = b,
                "ApplyOutOfSyncOnly" => self.apply_out_of_sync_only = b,
                "Prune" => self.prune = b,
                "AllowTakeOver" => self.allow_takeover = b,
                "ServerSideApply" => self.server_side_apply = b,
                "PrunePropagationPolicy" => {
                    if let Some(p) = Propagation::parse(v.trim()) {
                        self.prune_propagation = p;
                    }
                }
                _ => {}
            }
        }
    }
}

/// An application as the engine sees it.
#[derive(Debug, Clone)]
pub struct App {
    /// Name; with `app_namespace`, the application's identity (see [`App::id`]).
    pub name: String,
    /// The namespace the application belongs to: part of its identity and of every tracking id it
    /// writes, and where its operation state is kept. For `trellis deploy` it is the destination
    /// namespace; for the controller's Application resources, their own namespace.
    pub app_namespace: String,
    /// Destination namespace for namespaced objects that name none.
    pub namespace: String,
    /// Revision being synced (recorded).
    pub revision: String,
    /// Options.
    pub options: SyncOptions,
    /// Differences to ignore.
    pub ignore: Vec<IgnoreRule>,
}

impl App {
    /// An application whose identity namespace is its destination namespace (as `trellis deploy`
    /// makes them), with default options.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> App {
        let namespace = namespace.into();
        App {
            name: name.into(),
            app_namespace: namespace.clone(),
            namespace,
            revision: String::new(),
            options: SyncOptions::default(),
            ignore: Vec::new(),
        }
    }

    /// The application's identity.
    pub fn id(&self) -> AppId {
        AppId::new(self.app_namespace.clone(), self.name.clone())
    }
}

/// Which live objects belong to an application: those whose tracking id carries its tracking key,
/// and those carrying the old form (its bare name) that its own recorded operation state lists;
/// never one of a same-named application in another namespace.
#[derive(Debug, Clone)]
struct Ownership {
    id: AppId,
    key: String,
    legacy: HashSet<ObjKey>,
    takeover: bool,
}

impl Ownership {
    fn of(app: &App, state: &AppState) -> Ownership {
        let legacy = state
            .operation
            .iter()
            .flat_map(|op| op.results.iter())
            .filter(|r| r.result != ResultCode::Pruned)
            .map(|r| r.key.clone())
            .collect();
        let id = app.id();
        Ownership {
            key: id.tracking_key(),
            id,
            legacy,
            takeover: app.options.allow_takeover,
        }
    }

    /// Whether the application whose tracking key is `owner` is this one.
    fn is_mine(&self, owner: &str, key: &ObjKey) -> bool {
        owner == self.key || (owner == self.id.name && self.legacy.contains(key))
    }

    /// The tracking key of another application that tracks `live`, if any.
    fn other_owner(&self, live: &Value) -> Option<String> {
        TrackingId::of_live(live)
            .filter(|t| !self.is_mine(&t.app, &t.key))
            .map(|t| t.app)
    }

    /// Live objects the application tracks.
    fn tracked(&self, cache: &ClusterCache) -> Vec<(ObjKey, Arc<Value>)> {
        let mut out = cache.tracked_by(&self.key);
        if !self.legacy.is_empty() {
            out.extend(
                cache
                    .tracked_by(&self.id.name)
                    .into_iter()
                    .filter(|(k, _)| self.legacy.contains(k)),
            );
        }
        out
    }
}

/// Something that happened during a sync, for progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The operation started (or resumed).
    Started {
        /// Resources and hooks to process.
        total: usize,
        /// Whether an interrupted operation is being resumed.
        resumed: bool,
        /// Whether this is the application's first sync.
        first_sync: bool,
    },
    /// A phase/wave started.
    Step {
        /// Phase.
        phase: Phase,
        /// Wave.
        wave: i64,
        /// Objects in it.
        objects: usize,
    },
    /// An object was processed.
    Object {
        /// The object.
        key: ObjKey,
        /// Outcome.
        result: ResultCode,
        /// Message.
        message: String,
    },
    /// Waiting for something (health, a hook).
    Waiting(String),
    /// A warning (forced conflict...).
    Warning(String),
    /// Retrying after a failure.
    Retrying {
        /// Attempt number about to start.
        attempt: u32,
        /// Delay before it.
        delay: Duration,
        /// Why.
        reason: String,
    },
}

/// Where progress events go (nowhere by default).
#[derive(Debug, Clone, Default)]
pub struct Progress(Option<tokio::sync::mpsc::UnboundedSender<Event>>);

impl Progress {
    /// Send events to a channel.
    pub fn channel() -> (Progress, tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Progress(Some(tx)), rx)
    }
    fn emit(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
}

/// The comparison of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    /// The object.
    pub key: ObjKey,
    /// Synced, OutOfSync, Missing or Extra.
    pub status: SyncStatus,
    /// Unified diff (live → desired), Secret values masked; empty when in sync.
    pub diff: String,
    /// Extra information (dry-run errors, ownership conflicts).
    pub message: String,
    /// The live object says `compare-options: IgnoreExtraneous`: when it is Extra, it does not
    /// make the application OutOfSync.
    pub ignore_extraneous: bool,
}

impl ObjectDiff {
    /// Whether this object makes the application OutOfSync: anything not Synced, except an
    /// Extra object marked `IgnoreExtraneous` (as Argo CD's compare option).
    pub fn makes_app_out_of_sync(&self) -> bool {
        match self.status {
            SyncStatus::Synced => false,
            SyncStatus::Extra => !self.ignore_extraneous,
            SyncStatus::OutOfSync | SyncStatus::Missing => true,
        }
    }
}

/// The result of a sync.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// How the operation ended.
    pub phase: OpPhase,
    /// Summary (first failure's reason).
    pub message: String,
    /// Application health at the end.
    pub health: Health,
    /// Per-object results.
    pub results: Vec<ObjectResult>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Whether an interrupted operation was resumed.
    pub resumed: bool,
    /// Whether it was the first sync.
    pub first_sync: bool,
}

/// A desired object ready to apply.
#[derive(Debug, Clone)]
struct Prepared {
    key: ObjKey,
    obj: Value,
    digest: String,
    res: Option<Resolved>,
}

/// What the engine expects to see in the cache after its own write.
#[derive(Debug, Clone)]
struct Written {
    uid: Option<String>,
    generation: Option<i64>,
}

/// A written object (or why not) with a conflict warning, and the verb to report.
type WriteResult = (ObjKey, Result<(Value, Option<String>)>, String);

/// Mutable state of one running operation.
struct OpCtx {
    /// The application's tracking key (whose cache notifications wake this operation's waits).
    app: String,
    /// Which live objects are the application's.
    own: Ownership,
    /// Write only out-of-sync objects in this operation (the option, or nothing was out of sync).
    only_out_of_sync: bool,
    state: AppState,
    op: Operation,
    persisted: bool,
    written: HashMap<ObjKey, Written>,
    deadline: Instant,
}

/// The engine: shared by every application of a process.
pub struct Engine {
    cache: Arc<ClusterCache>,
    store: StateStore,
    /// Custom health checks; replaceable while running (the controller reads `trellis-cm`).
    health: std::sync::RwLock<Arc<CustomHealth>>,
    dry_runs: Mutex<HashMap<(String, String), Arc<Value>>>,
    /// Last known state per application (this process is the only writer of an application's
    /// state, so the store is read once per application).
    states: Mutex<HashMap<AppId, AppState>>,
    /// Namespaces known to exist (checked or created once, however many applications ask).
    namespaces: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<()>>>>,
    /// Kinds left alone (`resource.exclusions` / `resource.inclusions`); replaceable while running.
    filter: std::sync::RwLock<Arc<ResourceFilter>>,
    /// The ignored managers' field sets of live objects, per object version: only for objects
    /// some `managedFieldsManagers` rule matches (the cache keeps no `managedFields`).
    managed: Mutex<HashMap<(ObjKey, String), Arc<ManagedSets>>>,
    /// System-level ignore rules (`resource.customizations.ignoreDifferences.*`), added to every
    /// application's own; replaceable while running.
    ignore_defaults: std::sync::RwLock<Arc<Vec<IgnoreRule>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cache", &self.cache)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Waits are woken by the application's cache notifications; they also look again this often, in
/// case a health rule depends on something the notifications do not cover.
const RECHECK: Duration = Duration::from_secs(2);

/// Longest wait for discovery to serve the kinds of an Established CustomResourceDefinition.
const CRD_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Most dry-run results kept before the memo is cleared.
const DRY_RUN_MEMO_LIMIT: usize = 20_000;

fn is_hook_obj(o: &Value) -> bool {
    crate::object::annotation(o, HELM_HOOK).is_some()
        || crate::object::annotation(o, ARGO_HOOK).is_some()
}

fn is_cronjob(o: &Value) -> bool {
    o.get("kind").and_then(Value::as_str) == Some("CronJob")
        && o.get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("batch/"))
}

fn uid_of(o: &Value) -> Option<String> {
    o.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn generation_of(o: &Value) -> Option<i64> {
    o.pointer("/metadata/generation").and_then(Value::as_i64)
}

fn hook_id(phase: Phase, key: &ObjKey) -> String {
    format!("{phase}:{key}")
}

impl Engine {
    /// An engine over a cache, keeping state in `store`, with custom health checks.
    pub fn new(cache: Arc<ClusterCache>, store: StateStore, health: CustomHealth) -> Engine {
        Engine {
            cache,
            store,
            health: std::sync::RwLock::new(Arc::new(health)),
            dry_runs: Mutex::new(HashMap::new()),
            states: Mutex::new(HashMap::new()),
            namespaces: Mutex::new(HashMap::new()),
            filter: std::sync::RwLock::new(Arc::new(ResourceFilter::default())),
            managed: Mutex::new(HashMap::new()),
            ignore_defaults: std::sync::RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// Replace the system-level ignore rules (Argo CD's
    /// `resource.customizations.ignoreDifferences.*`), applied besides each application's own.
    pub fn set_ignore_defaults(&self, rules: Vec<IgnoreRule>) {
        match self.ignore_defaults.write() {
            Ok(mut r) => *r = Arc::new(rules),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(rules),
        }
    }

    /// The application with the system-level ignore rules added to its own.
    fn effective<'a>(&self, app: &'a App) -> std::borrow::Cow<'a, App> {
        let defaults = self
            .ignore_defaults
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        if defaults.is_empty() {
            return std::borrow::Cow::Borrowed(app);
        }
        let mut a = app.clone();
        a.ignore.extend(defaults.iter().cloned());
        std::borrow::Cow::Owned(a)
    }

    /// Replace the resource exclusions/inclusions (for syncs and diffs from now on).
    pub fn set_resource_filter(&self, filter: ResourceFilter) {
        match self.filter.write() {
            Ok(mut f) => *f = Arc::new(filter),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(filter),
        }
    }

    /// The resource exclusions/inclusions in force.
    pub fn resource_filter(&self) -> Arc<ResourceFilter> {
        self.filter
            .read()
            .map(|f| f.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn is_excluded(&self, key: &ObjKey) -> bool {
        self.resource_filter().is_excluded(&key.group, &key.kind)
    }

    /// The rendered objects whose kind is excluded (`resource.exclusions`/`inclusions`): they are
    /// never applied, diffed or pruned; a caller reports them.
    pub fn excluded(&self, manifests: &[Manifest]) -> Vec<ObjKey> {
        let filter = self.resource_filter();
        if filter.is_empty() {
            return Vec::new();
        }
        manifests
            .iter()
            .map(Manifest::key)
            .filter(|k| filter.is_excluded(&k.group, &k.kind))
            .collect()
    }

    /// The field sets of the managers that `app`'s rules ignore on `live` (`None` when no rule
    /// names managers for it). Read from the API server (the cache keeps no `managedFields`) once
    /// per object version.
    async fn managed_sets(
        &self,
        app: &App,
        key: &ObjKey,
        res: Option<&Resolved>,
        live: &Value,
    ) -> Option<Arc<ManagedSets>> {
        let managers = diff::ignored_managers(&app.ignore, key);
        if managers.is_empty() {
            return None;
        }
        let rv = live
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let memo_key = (key.clone(), format!("{rv}:{}", managers.join(",")));
        if let Some(m) = self
            .managed
            .lock()
            .expect("managed memo lock poisoned")
            .get(&memo_key)
        {
            return Some(m.clone());
        }
        let full = if live.pointer("/metadata/managedFields").is_some() {
            Some(live.clone())
        } else if let Some(res) = res {
            match self.cluster().get(res, &key.namespace, &key.name).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(object = %key, error = %e, "reading managedFields");
                    None
                }
            }
        } else {
            None
        };
        let sets = Arc::new(
            full.map(|f| ManagedSets::of(&f, &managers))
                .unwrap_or_default(),
        );
        let mut memo = self.managed.lock().expect("managed memo lock poisoned");
        if memo.len() >= DRY_RUN_MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(memo_key, sets.clone());
        Some(sets)
    }

    /// The cluster.
    pub fn cluster(&self) -> &Arc<Cluster> {
        self.cache.cluster()
    }

    /// The cache.
    pub fn cache(&self) -> &Arc<ClusterCache> {
        &self.cache
    }

    /// Health of a live object ([`health::assess`]): custom Lua check first, then the built-in
    /// rule (a CronJob's from the Jobs the cache holds for it), else Healthy.
    pub fn object_health(&self, obj: &Value) -> Health {
        let jobs = if is_cronjob(obj) {
            uid_of(obj)
                .map(|uid| self.cache.children_of(&uid))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let jobs: Vec<&Value> = jobs
            .iter()
            .map(|j| &**j)
            .filter(|j| {
                j.get("kind").and_then(Value::as_str) == Some("Job")
                    && j.get("apiVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.starts_with("batch/"))
            })
            .collect();
        let custom = self
            .health
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        health::assess(obj, &custom, Some(&jobs))
    }

    /// Replace the custom health checks (for objects judged from now on).
    pub fn set_custom_health(&self, custom: CustomHealth) {
        match self.health.write() {
            Ok(mut h) => *h = Arc::new(custom),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(custom),
        }
    }

    /// Resolve kinds, fill namespaces, add the tracking id and digest.
    async fn prepare(&self, app: &App, manifests: &[Manifest]) -> Result<Vec<Prepared>> {
        // Scopes of CRDs in the same set, for custom resources whose kind is not served yet.
        let mut crd_scopes: HashMap<(String, String), bool> = HashMap::new();
        for m in manifests
            .iter()
            .filter(|m| m.kind() == "CustomResourceDefinition")
        {
            let g = str_at(&m.obj, &["spec", "group"])
                .unwrap_or_default()
                .to_string();
            let k = str_at(&m.obj, &["spec", "names", "kind"])
                .unwrap_or_default()
                .to_string();
            crd_scopes.insert(
                (g, k),
                str_at(&m.obj, &["spec", "scope"]) != Some("Cluster"),
            );
        }
        let cluster = self.cluster();
        let mut out = Vec::with_capacity(manifests.len());
        let mut seen = HashSet::new();
        let filter = self.resource_filter();
        for m in manifests {
            // Excluded kinds are left alone entirely (see `excluded` for reporting them).
            if filter.is_excluded(group_of(m.api_version()), m.kind()) {
                continue;
            }
            let res = cluster.resolve(m.api_version(), m.kind()).await?;
            let key0 = m.key();
            let namespaced = match &res {
                Some(r) => r.namespaced,
                None => crd_scopes
                    .get(&(key0.group.clone(), key0.kind.clone()))
                    .copied()
                    .unwrap_or(true),
            };
            let mut obj = m.obj.clone();
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                if namespaced {
                    if meta
                        .get("namespace")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        meta.insert("namespace".into(), Value::String(app.namespace.clone()));
                    }
                } else {
                    meta.remove("namespace");
                }
            }
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
            let key = ObjKey::of(&obj);
            if !seen.insert(key.clone()) {
                return Err(Error::InvalidManifest {
                    source_path: m.source.clone(),
                    message: format!("{key} is defined more than once"),
                });
            }
            set_annotation(
                &mut obj,
                TRACKING_ID,
                &key.tracking_id(&app.id().tracking_key()),
            );
            let digest = diff::digest(&obj);
            set_annotation(&mut obj, APPLIED_DIGEST, &digest);
            out.push(Prepared {
                key,
                obj,
                digest,
                res,
            });
        }
        Ok(out)
    }

    /// Make sure every kind in `prepared` (and those the application used before) is watched, plus
    /// ReplicaSets and Pods when workloads are present.
    async fn watch_kinds(
        &self,
        prepared: &[Prepared],
        previous: &BTreeSet<(String, String)>,
    ) -> Result<()> {
        let cluster = self.cluster();
        let mut seen = HashSet::new();
        let mut workloads = false;
        let mut cronjobs = false;
        for p in prepared {
            if let Some(r) = &p.res
                && seen.insert((r.ar.group.clone(), r.ar.kind.clone()))
            {
                workloads |= matches!(
                    r.ar.kind.as_str(),
                    "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job"
                );
                cronjobs |= r.ar.kind == "CronJob" && r.ar.group == "batch";
                self.cache.ensure(r).await?;
            }
        }
        let mut extra: Vec<(String, String)> = previous.iter().cloned().collect();
        if workloads {
            extra.push(("apps/v1".into(), "ReplicaSet".into()));
            extra.push(("v1".into(), "Pod".into()));
        }
        if cronjobs {
            // The Jobs a CronJob schedules decide its health.
            extra.push(("batch/v1".into(), "Job".into()));
        }
        let filter = self.resource_filter();
        for (av, kind) in extra {
            if filter.is_excluded(group_of(&av), &kind) {
                continue;
            }
            if let Some(r) = cluster.resolve(&av, &kind).await?
                && seen.insert((r.ar.group.clone(), r.ar.kind.clone()))
            {
                self.cache.ensure(&r).await?;
            }
        }
        Ok(())
    }

    /// Compare one prepared object with its live version. `want_text` renders the diff.
    async fn compare(
        &self,
        app: &App,
        own: &Ownership,
        p: &Prepared,
        res: Option<&Resolved>,
        live: Option<&Value>,
        want_text: bool,
    ) -> (SyncStatus, String, String) {
        let label = p.key.to_string();
        let Some(live) = live else {
            let text = if want_text {
                let (_, d) = diff::mask_secrets(None, Some(&diff::normalize(&p.obj, &app.ignore)));
                diff::unified(&label, "", &diff::to_yaml(d.as_ref()))
            } else {
                String::new()
            };
            return (SyncStatus::Missing, text, String::new());
        };
        if let Some(owner) = own.other_owner(live) {
            return (
                SyncStatus::OutOfSync,
                String::new(),
                format!(
                    "belongs to application {}, not {}",
                    describe_tracking_key(&owner),
                    own.id
                ),
            );
        }
        // Fields of ignored managers (`managedFieldsManagers`), read from the live object.
        let managed = self.managed_sets(app, &p.key, res, live).await;
        let managed = managed.as_deref();
        let fast = crate::object::annotation(live, APPLIED_DIGEST) == Some(p.digest.as_str())
            && diff::is_subset(&diff::normalize_with(&p.obj, &app.ignore, managed), live);
        if fast && !want_text {
            return (SyncStatus::Synced, String::new(), String::new());
        }
        if fast {
            return (SyncStatus::Synced, String::new(), String::new());
        }
        let rv = live
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The memo holds the normalised dry run: it depends on the rules that match the object
        // (which an edit of the Application changes) and on the ignored managers' sets (which
        // depend on `rv`).
        let rules: Vec<&IgnoreRule> = app.ignore.iter().filter(|r| r.matches(&p.key)).collect();
        let rules_sig = if rules.is_empty() {
            String::new()
        } else {
            diff::digest(&serde_json::to_value(&rules).unwrap_or(Value::Null))
        };
        let memo_key = (p.digest.clone(), format!("{}@{rv}#{rules_sig}", p.key));
        let cached = self
            .dry_runs
            .lock()
            .expect("memo lock poisoned")
            .get(&memo_key)
            .cloned();
        let dry = match cached {
            Some(d) => d,
            None => {
                let Some(res) = res else {
                    return (
                        SyncStatus::OutOfSync,
                        String::new(),
                        "kind not served yet".into(),
                    );
                };
                let validate = ObjectOptions::of(&p.obj)
                    .validate
                    .unwrap_or(app.options.validate);
                match self
                    .cluster()
                    .apply(res, &p.obj, true, true, validate)
                    .await
                {
                    Ok(d) => {
                        let d = Arc::new(diff::normalize_with(&d, &app.ignore, managed));
                        let mut memo = self.dry_runs.lock().expect("memo lock poisoned");
                        if memo.len() >= DRY_RUN_MEMO_LIMIT {
                            memo.clear();
                        }
                        memo.insert(memo_key, d.clone());
                        d
                    }
                    Err(e) => {
                        // Fall back to comparing the chart's fields only.
                        let synced = diff::is_subset(
                            &diff::normalize_with(&p.obj, &app.ignore, managed),
                            live,
                        );
                        let status = if synced {
                            SyncStatus::Synced
                        } else {
                            SyncStatus::OutOfSync
                        };
                        return (status, String::new(), format!("dry run failed: {e}"));
                    }
                }
            }
        };
        let nlive = diff::normalize_with(live, &app.ignore, managed);
        if *dry == nlive {
            return (SyncStatus::Synced, String::new(), String::new());
        }
        let text = if want_text {
            let (l, d) = diff::mask_secrets(Some(&nlive), Some(&dry));
            diff::unified(
                &label,
                &diff::to_yaml(l.as_ref()),
                &diff::to_yaml(d.as_ref()),
            )
        } else {
            String::new()
        };
        (SyncStatus::OutOfSync, text, String::new())
    }

    /// Diff desired against live: one entry per desired resource (hooks excluded) and per tracked
    /// object no longer desired (Extra).
    pub async fn diff(&self, app: &App, manifests: &[Manifest]) -> Result<Vec<ObjectDiff>> {
        let app = &*self.effective(app);
        let prepared = self.prepare(app, manifests).await?;
        let state = self.load_state(app).await?;
        let own = Ownership::of(app, &state);
        self.watch_kinds(&prepared, &state_kinds(&state)).await?;
        let plan = plan_of(&prepared, !state.synced_once);
        let by_key: HashMap<&ObjKey, &Prepared> = prepared.iter().map(|p| (&p.key, p)).collect();
        let mut out = Vec::new();
        for t in plan.resources() {
            let Some(p) = by_key.get(&t.key) else {
                continue;
            };
            let mut live = self.cache.get(&p.key).map(|o| (*o).clone());
            if live.is_none()
                && let Some(res) = &p.res
            {
                live = self
                    .cluster()
                    .get(res, &p.key.namespace, &p.key.name)
                    .await?;
            }
            let (status, diff, message) = self
                .compare(app, &own, p, p.res.as_ref(), live.as_ref(), true)
                .await;
            out.push(ObjectDiff {
                key: p.key.clone(),
                status,
                diff,
                message,
                ignore_extraneous: false,
            });
        }
        let desired: HashSet<&ObjKey> = prepared.iter().map(|p| &p.key).collect();
        for (key, live) in own.tracked(&self.cache) {
            if desired.contains(&key) || is_hook_obj(&live) || self.is_excluded(&key) {
                continue;
            }
            let (l, _) = diff::mask_secrets(Some(&diff::normalize(&live, &app.ignore)), None);
            let text = diff::unified(&key.to_string(), &diff::to_yaml(l.as_ref()), "");
            out.push(ObjectDiff {
                key,
                status: SyncStatus::Extra,
                diff: text,
                message: String::new(),
                ignore_extraneous: CompareOptions::of(&live).ignore_extraneous,
            });
        }
        Ok(out)
    }

    /// Sync an application, retrying failed attempts per `app.options.retry`.
    pub async fn sync(
        &self,
        app: &App,
        manifests: &[Manifest],
        progress: &Progress,
    ) -> Result<SyncOutcome> {
        let mut attempt = 0;
        loop {
            let out = self.sync_once(app, manifests, progress, attempt > 0).await;
            let reason = match &out {
                Ok(o) if o.phase != OpPhase::Succeeded => o.message.clone(),
                Err(e) if e.is_retryable() => e.to_string(),
                _ => return out,
            };
            if attempt >= app.options.retry.limit {
                return out;
            }
            attempt += 1;
            let delay = app.options.retry.delay(attempt);
            progress.emit(Event::Retrying {
                attempt: attempt + 1,
                delay,
                reason,
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// Whether anything is out of sync: a desired resource that is not Synced, or, when pruning, a
    /// tracked object that is no longer desired. Stops at the first one found.
    async fn needs_sync(
        &self,
        app: &App,
        own: &Ownership,
        plan: &Plan,
        by_key: &HashMap<ObjKey, Prepared>,
    ) -> bool {
        for t in plan.resources() {
            let Some(p) = by_key.get(&t.key) else {
                return true;
            };
            let Some(live) = self.cache.get(&p.key) else {
                return true;
            };
            let (status, _, _) = self
                .compare(app, own, p, p.res.as_ref(), Some(&live), false)
                .await;
            if status != SyncStatus::Synced {
                return true;
            }
        }
        app.options.prune
            && own.tracked(&self.cache).into_iter().any(|(k, o)| {
                !by_key.contains_key(&k)
                    && !is_hook_obj(&o)
                    && ObjectOptions::of(&o).prune
                    && !self.is_excluded(&k)
            })
    }

    /// Persist the state if the operation has been made visible already (or `force`).
    async fn checkpoint(&self, app: &App, ctx: &mut OpCtx, force: bool) -> Result<()> {
        if ctx.persisted || force {
            ctx.state.operation = Some(ctx.op.clone());
            self.save_state(app, &ctx.state).await?;
            ctx.persisted = true;
        }
        Ok(())
    }

    /// One attempt; `resume_failed` continues a failed operation of the same desired state (a retry).
    async fn sync_once(
        &self,
        app: &App,
        manifests: &[Manifest],
        progress: &Progress,
        resume_failed: bool,
    ) -> Result<SyncOutcome> {
        let app = &*self.effective(app);
        let started = Instant::now();
        let cluster = self.cluster().clone();
        if app.options.create_namespace {
            self.ensure_namespace(&app.namespace).await?;
        }
        let prepared = self.prepare(app, manifests).await?;
        let desired_digest = desired_digest(app, &prepared);
        let state = self.load_state(app).await?;
        let resume = state.operation.as_ref().filter(|op| {
            op.desired_digest == desired_digest
                && (op.phase == OpPhase::Running || (resume_failed && op.phase == OpPhase::Failed))
        });
        let resumed = resume.is_some_and(|op| op.phase == OpPhase::Running);
        let op = match resume {
            Some(op) => Operation {
                attempts: op.attempts + 1,
                phase: OpPhase::Running,
                ..op.clone()
            },
            None => Operation {
                revision: app.revision.clone(),
                desired_digest,
                first_sync: !state.synced_once,
                phase: OpPhase::Running,
                message: String::new(),
                started_at: now_rfc3339(),
                finished_at: None,
                completed_hooks: BTreeSet::new(),
                started_hooks: Default::default(),
                results: Vec::new(),
                attempts: 1,
                warnings: Vec::new(),
            },
        };
        let persisted = resume.is_some();
        let previous_kinds = state_kinds(&state);
        let own = Ownership::of(app, &state);
        let mut ctx = OpCtx {
            app: own.key.clone(),
            own,
            only_out_of_sync: app.options.apply_out_of_sync_only,
            state,
            op,
            persisted,
            written: HashMap::new(),
            deadline: started + app.options.timeout,
        };
        ctx.op.results.clear();
        let plan = plan_of(&prepared, ctx.op.first_sync);
        let total = plan.steps.iter().map(|s| s.tasks.len()).sum();
        progress.emit(Event::Started {
            total,
            resumed,
            first_sync: ctx.op.first_sync,
        });
        self.watch_kinds(&prepared, &previous_kinds).await?;
        let desired_kinds: Vec<(String, String)> = prepared
            .iter()
            .map(|p| {
                (
                    p.obj["apiVersion"].as_str().unwrap_or_default().to_string(),
                    p.key.kind.clone(),
                )
            })
            .collect();
        let by_key: HashMap<ObjKey, Prepared> =
            prepared.into_iter().map(|p| (p.key.clone(), p)).collect();

        if !ctx.only_out_of_sync && !self.needs_sync(app, &ctx.own, &plan, &by_key).await {
            // Nothing would change: the sync applies nothing (Argo CD would not start one).
            ctx.only_out_of_sync = true;
        }
        let run = self.run_plan(app, &plan, &by_key, &mut ctx, progress).await;
        let failure = run.err();
        if let Some(err) = &failure {
            ctx.op.phase = if matches!(err, Error::Transport { .. }) {
                OpPhase::Error
            } else {
                OpPhase::Failed
            };
            ctx.op.message = err.to_string();
            // SyncFail hooks; their own failure is only recorded.
            if !plan.fail_steps.is_empty()
                && let Err(e) = self
                    .run_steps(app, &plan.fail_steps, &by_key, &mut ctx, progress, false)
                    .await
            {
                ctx.op.warnings.push(format!("SyncFail hook failed: {e}"));
            }
        } else {
            ctx.op.phase = OpPhase::Succeeded;
            ctx.op.message = "successfully synced".into();
        }
        // Final health: all desired resources.
        let resources: Vec<ObjKey> = plan.resources().map(|t| t.key.clone()).collect();
        let health = if failure.is_none() && app.options.wait_healthy {
            self.wait_app_health(&resources, &ctx, progress).await
        } else {
            self.app_health(&resources, &ctx)
        };
        ctx.op.finished_at = Some(now_rfc3339());
        let mut kinds = previous_kinds;
        kinds.extend(desired_kinds);
        let first_or_changed = !ctx.state.synced_once || ctx.persisted;
        if ctx.op.phase == OpPhase::Succeeded {
            ctx.state.synced_once = true;
        }
        if first_or_changed {
            ctx.state.kinds = kinds;
            let op = ctx.op.clone();
            ctx.state.push_history(&op);
            self.checkpoint(app, &mut ctx, true).await?;
        }
        let _ = cluster;
        Ok(SyncOutcome {
            phase: ctx.op.phase,
            message: ctx.op.message.clone(),
            health,
            results: ctx.op.results.clone(),
            warnings: ctx.op.warnings.clone(),
            resumed,
            first_sync: ctx.op.first_sync,
        })
    }

    /// Whether the next sync of `app` is an upgrade in Helm's sense (`.Release.IsUpgrade`, the
    /// `pre-upgrade`/`post-upgrade` hooks): its recorded state says it has been synced
    /// successfully before. An interrupted operation keeps what it started as, so that a resumed
    /// sync renders the same objects it was started with. Renderers ask this before rendering.
    pub async fn is_upgrade(&self, app: &App) -> Result<bool> {
        let state = self.load_state(app).await?;
        Ok(match &state.operation {
            Some(op) if op.phase == OpPhase::Running => !op.first_sync,
            _ => state.synced_once,
        })
    }

    /// Whether the application's last operation succeeded on exactly these manifests at
    /// `app.revision` (a controller syncs automatically only when this is false, or to self-heal;
    /// a restarted process therefore never re-runs hooks for a state it already synced).
    pub async fn is_synced_to(&self, app: &App, manifests: &[Manifest]) -> Result<bool> {
        let state = self.load_state(app).await?;
        let Some(op) = state.operation.as_ref() else {
            return Ok(false);
        };
        if op.phase != OpPhase::Succeeded {
            return Ok(false);
        }
        let prepared = self.prepare(app, manifests).await?;
        Ok(op.desired_digest == desired_digest(app, &prepared))
    }

    /// The application's recorded operation state (last operation, history, first-sync flag).
    pub async fn state(&self, app: &App) -> Result<AppState> {
        self.load_state(app).await
    }

    /// Health of live objects as the cache shows them (Missing when absent), with their aggregate:
    /// what a controller reports between syncs.
    pub fn health_of_objects(&self, keys: &[ObjKey]) -> (Health, Vec<Health>) {
        let each: Vec<Health> = keys
            .iter()
            .map(|k| match self.cache.get(k) {
                Some(live) => self.object_health(&live),
                None => Health {
                    status: HealthStatus::Missing,
                    message: "not found in the cluster".into(),
                },
            })
            .collect();
        let named: Vec<(String, &Health)> = keys
            .iter()
            .zip(&each)
            .filter(|(_, h)| h.status != HealthStatus::Healthy)
            .map(|(k, h)| (k.to_string(), h))
            .collect();
        let agg = health::aggregate(named.iter().map(|(n, h)| (n.as_str(), *h)));
        (agg, each)
    }

    async fn load_state(&self, app: &App) -> Result<AppState> {
        let k = app.id();
        if let Some(st) = self
            .states
            .lock()
            .expect("state memo lock poisoned")
            .get(&k)
        {
            return Ok(st.clone());
        }
        let st = self.store.load(&k).await?;
        self.states
            .lock()
            .expect("state memo lock poisoned")
            .insert(k, st.clone());
        Ok(st)
    }

    async fn save_state(&self, app: &App, state: &AppState) -> Result<()> {
        let k = app.id();
        self.store.save(&k, state).await?;
        self.states
            .lock()
            .expect("state memo lock poisoned")
            .insert(k, state.clone());
        Ok(())
    }

    async fn ensure_namespace(&self, ns: &str) -> Result<()> {
        let cell = self
            .namespaces
            .lock()
            .expect("namespace memo lock poisoned")
            .entry(ns.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let cluster = self.cluster();
            let Some(res) = cluster.resolve("v1", "Namespace").await? else {
                return Err(Error::State("the server does not serve Namespaces".into()));
            };
            if cluster.get(&res, "", ns).await?.is_none() {
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                match cluster.apply(&res, &body, false, false, true).await {
                    // Another process created it at the same time.
                    Ok(_) | Err(Error::Api { code: 409, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// PreSync/Sync/PostSync steps with prune between Sync and PostSync, prune-last at the end.
    async fn run_plan(
        &self,
        app: &App,
        plan: &Plan,
        by_key: &HashMap<ObjKey, Prepared>,
        ctx: &mut OpCtx,
        progress: &Progress,
    ) -> Result<()> {
        let first_post = plan
            .steps
            .iter()
            .position(|s| s.phase == Phase::PostSync)
            .unwrap_or(plan.steps.len());
        let (before, after) = plan.steps.split_at(first_post);
        self.run_steps(app, before, by_key, ctx, progress, !after.is_empty())
            .await?;
        self.prune(app, by_key, ctx, progress, false).await?;
        self.run_steps(app, after, by_key, ctx, progress, false)
            .await?;
        self.prune(app, by_key, ctx, progress, true).await?;
        Ok(())
    }

    /// Run steps in order; between steps (and after the last one when `wait_after_last`), wait for
    /// the step's resources to be healthy.
    async fn run_steps(
        &self,
        app: &App,
        steps: &[Step],
        by_key: &HashMap<ObjKey, Prepared>,
        ctx: &mut OpCtx,
        progress: &Progress,
        wait_after_last: bool,
    ) -> Result<()> {
        let mut phase_start = 0;
        for (i, step) in steps.iter().enumerate() {
            if step.phase != steps[phase_start].phase {
                phase_start = i;
            }
            progress.emit(Event::Step {
                phase: step.phase,
                wave: step.wave,
                objects: step.tasks.len(),
            });
            let mut groups: Vec<&[Task]> = Vec::new();
            let mut start = 0;
            for j in 1..=step.tasks.len() {
                if j == step.tasks.len()
                    || kind_rank(&step.tasks[j].key.kind) != kind_rank(&step.tasks[start].key.kind)
                    || step.tasks[j].key.kind != step.tasks[start].key.kind
                {
                    groups.push(&step.tasks[start..j]);
                    start = j;
                }
            }
            let mut applied = Vec::new();
            let mut step_error = None;
            for group in groups {
                // Hooks run one after another, in order.
                for t in group {
                    if let TaskKind::Hook(h) = &t.kind {
                        self.run_hook(app, step.phase, t, h, by_key, ctx, progress)
                            .await?;
                    }
                }
                let resources: Vec<&Task> = group
                    .iter()
                    .filter(|t| t.kind == TaskKind::Resource)
                    .collect();
                if resources.is_empty() {
                    continue;
                }
                // A rejected object fails the step, but the rest of the wave is still attempted so
                // that every problem is reported at once.
                if let Err(e) = self
                    .apply_resources(app, step, &resources, by_key, ctx, progress)
                    .await
                {
                    step_error.get_or_insert(e);
                    continue;
                }
                applied.extend(resources.iter().map(|t| t.key.clone()));
                if resources[0].key.kind == "CustomResourceDefinition"
                    && resources[0].key.group == "apiextensions.k8s.io"
                {
                    let keys: Vec<ObjKey> = resources.iter().map(|t| t.key.clone()).collect();
                    progress.emit(Event::Waiting(format!(
                        "{} CustomResourceDefinitions to be established",
                        keys.len()
                    )));
                    self.wait_healthy(&keys, ctx, progress).await?;
                    self.wait_kinds_served(&keys, by_key, ctx, progress).await?;
                }
            }
            if let Some(e) = step_error {
                return Err(e);
            }
            let last = i + 1 == steps.len();
            if last || steps[i + 1].phase != step.phase {
                self.delete_succeeded_hooks(&steps[phase_start..=i], by_key, ctx)
                    .await?;
            }
            if !applied.is_empty() && (!last || wait_after_last) {
                progress.emit(Event::Waiting(format!(
                    "{} wave {}: {} objects to become healthy",
                    step.phase,
                    step.wave,
                    applied.len()
                )));
                self.wait_healthy(&applied, ctx, progress).await?;
            }
        }
        Ok(())
    }

    /// At the end of a phase whose hooks all succeeded: delete those with the `hook-succeeded` /
    /// `HookSucceeded` policy (completed in this operation, by this process or before a restart).
    async fn delete_succeeded_hooks(
        &self,
        steps: &[Step],
        by_key: &HashMap<ObjKey, Prepared>,
        ctx: &mut OpCtx,
    ) -> Result<()> {
        for step in steps {
            for t in &step.tasks {
                let TaskKind::Hook(h) = &t.kind else {
                    continue;
                };
                if !h.delete_policies.contains(&DeletePolicy::HookSucceeded)
                    || !ctx
                        .op
                        .completed_hooks
                        .contains(&hook_id(step.phase, &t.key))
                {
                    continue;
                }
                let Some(p) = by_key.get(&t.key) else {
                    continue;
                };
                let res = self.resolved(p).await?;
                self.cluster()
                    .delete(&res, &p.key.namespace, &p.key.name, Propagation::Background)
                    .await?;
                self.cache.observe_delete(&p.key);
            }
        }
        Ok(())
    }

    /// After CustomResourceDefinitions are Established, wait (with backoff, bounded) until discovery
    /// serves their kinds: a real API server's discovery lags a few hundred milliseconds behind the
    /// Established condition, and applying a custom resource before then fails.
    async fn wait_kinds_served(
        &self,
        crds: &[ObjKey],
        by_key: &HashMap<ObjKey, Prepared>,
        ctx: &OpCtx,
        progress: &Progress,
    ) -> Result<()> {
        let mut wanted = Vec::new();
        for k in crds {
            let Some(p) = by_key.get(k) else { continue };
            let group = str_at(&p.obj, &["spec", "group"]).unwrap_or_default();
            let Some(kind) = str_at(&p.obj, &["spec", "names", "kind"]) else {
                continue;
            };
            for v in p
                .obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let served = v.get("served").and_then(Value::as_bool).unwrap_or(true);
                if let (true, Some(version)) = (served, v.get("name").and_then(Value::as_str)) {
                    let av = if group.is_empty() {
                        version.to_string()
                    } else {
                        format!("{group}/{version}")
                    };
                    wanted.push((k.name.clone(), av, kind.to_string()));
                }
            }
        }
        let started = Instant::now();
        let deadline = (started + CRD_DISCOVERY_TIMEOUT).min(ctx.deadline);
        let mut delay = Duration::from_millis(50);
        let mut announced = false;
        loop {
            self.cluster().forget_missing_kinds();
            let mut missing = None;
            for (crd, av, kind) in &wanted {
                if self.cluster().resolve(av, kind).await?.is_none() {
                    missing = Some((crd, av, kind));
                    break;
                }
            }
            let Some((crd, av, kind)) = missing else {
                return Ok(());
            };
            if !announced {
                progress.emit(Event::Waiting(format!(
                    "discovery to serve {kind} in {av} (CustomResourceDefinition {crd})"
                )));
                announced = true;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(format!(
                    "CustomResourceDefinition {crd} is Established but the API server still does not serve kind {kind} in {av} after {}s",
                    started.elapsed().as_secs()
                )));
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        ctx: &mut OpCtx,
        progress: &Progress,
        phase: Phase,
        wave: i64,
        key: &ObjKey,
        result: ResultCode,
        message: String,
    ) {
        progress.emit(Event::Object {
            key: key.clone(),
            result,
            message: message.clone(),
        });
        ctx.op.results.push(ObjectResult {
            key: key.clone(),
            phase,
            wave,
            result,
            message,
        });
    }

    /// Resolve a kind again if it was not served at preparation time (a CRD installed since).
    async fn resolved(&self, p: &Prepared) -> Result<Resolved> {
        if let Some(r) = &p.res {
            return Ok(r.clone());
        }
        let av = p.obj["apiVersion"].as_str().unwrap_or_default();
        if ObjectOptions::of(&p.obj).skip_dry_run_on_missing_resource {
            // Its CRD may have been created since the kind was last looked up (by an earlier
            // wave's operator, or another application): ask discovery again.
            self.cluster().forget_missing_kinds();
        }
        match self.cluster().resolve(av, &p.key.kind).await? {
            Some(r) => {
                self.cache.ensure(&r).await?;
                Ok(r)
            }
            None => Err(Error::UnknownKind {
                key: Box::new(p.key.clone()),
                kind: p.key.kind.clone(),
                api_version: av.to_string(),
            }),
        }
    }

    /// Apply the resources of one kind of one wave, concurrently; any failure fails the step after
    /// all of them were attempted.
    async fn apply_resources(
        &self,
        app: &App,
        step: &Step,
        tasks: &[&Task],
        by_key: &HashMap<ObjKey, Prepared>,
        ctx: &mut OpCtx,
        progress: &Progress,
    ) -> Result<()> {
        // Decide what needs writing (no writes yet).
        let futs: Vec<_> = tasks
            .iter()
            .map(|t| self.decide(app, &ctx.own, t.key.clone(), by_key, ctx.only_out_of_sync))
            .collect();
        let decisions: Vec<(ObjKey, Result<Option<Resolved>>, String)> =
            futures::stream::iter(futs)
                .buffered(app.options.concurrency.max(1))
                .collect()
                .await;
        let mut to_write = Vec::new();
        let mut failed: Option<Error> = None;
        for (key, d, verb) in decisions {
            match d {
                Ok(None) => self.record(
                    ctx,
                    progress,
                    step.phase,
                    step.wave,
                    &key,
                    ResultCode::Unchanged,
                    verb,
                ),
                Ok(Some(res)) => to_write.push((key, res, verb)),
                Err(e) => {
                    self.record(
                        ctx,
                        progress,
                        step.phase,
                        step.wave,
                        &key,
                        ResultCode::SyncFailed,
                        e.to_string(),
                    );
                    failed.get_or_insert(e);
                }
            }
        }
        if !to_write.is_empty() && !ctx.persisted {
            self.checkpoint(app, ctx, true).await?;
        }
        let futs: Vec<_> = to_write
            .into_iter()
            .map(|(key, res, verb)| self.write(app, key, res, verb, by_key))
            .collect();
        let results: Vec<WriteResult> = futures::stream::iter(futs)
            .buffered(app.options.concurrency.max(1))
            .collect()
            .await;
        for (key, r, verb) in results {
            match r {
                Ok((obj, warning)) => {
                    self.cache.observe_write(&obj);
                    ctx.written.insert(
                        key.clone(),
                        Written {
                            uid: uid_of(&obj),
                            generation: generation_of(&obj),
                        },
                    );
                    if let Some(w) = warning {
                        progress.emit(Event::Warning(w.clone()));
                        ctx.op.warnings.push(w);
                    }
                    self.record(
                        ctx,
                        progress,
                        step.phase,
                        step.wave,
                        &key,
                        ResultCode::Synced,
                        verb,
                    );
                }
                Err(e) => {
                    self.record(
                        ctx,
                        progress,
                        step.phase,
                        step.wave,
                        &key,
                        ResultCode::SyncFailed,
                        e.to_string(),
                    );
                    failed.get_or_insert(e);
                }
            }
        }
        // Results are persisted with the next hook or at the end; only hooks need resuming.
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether a resource needs writing: `Ok(None)` when it is in sync and `only_out_of_sync`,
    /// `Ok(Some(resource))` to write it, `Err` when it cannot be applied.
    async fn decide(
        &self,
        app: &App,
        own: &Ownership,
        key: ObjKey,
        by_key: &HashMap<ObjKey, Prepared>,
        only_out_of_sync: bool,
    ) -> (ObjKey, Result<Option<Resolved>>, String) {
        let Some(p) = by_key.get(&key) else {
            return (
                key.clone(),
                Err(Error::State(format!("{key} not prepared"))),
                String::new(),
            );
        };
        let res = match self.resolved(p).await {
            Ok(r) => r,
            Err(e) => return (key, Err(e), String::new()),
        };
        let live = self.cache.get(&p.key);
        let mut verb_prefix = "";
        if let Some(owner) = live.as_deref().and_then(|l| own.other_owner(l)) {
            if !(own.takeover || ObjectOptions::of(&p.obj).allow_takeover) {
                let e = Error::SharedResource {
                    key: Box::new(p.key.clone()),
                    owner: describe_tracking_key(&owner),
                    app: own.id.to_string(),
                };
                return (key, Err(e), String::new());
            }
            verb_prefix = "taken over from another application and ";
        }
        if only_out_of_sync && live.is_some() && verb_prefix.is_empty() {
            let (status, _, _) = self
                .compare(app, own, p, Some(&res), live.as_deref(), false)
                .await;
            if status == SyncStatus::Synced {
                return (key, Ok(None), "unchanged".into());
            }
        }
        let verb = if live.is_some() {
            "configured"
        } else {
            "created"
        };
        (key, Ok(Some(res)), format!("{verb_prefix}{verb}"))
    }

    /// Write one resource: server-side apply (forcing over conflicts, with a warning) or replace.
    async fn write(
        &self,
        app: &App,
        key: ObjKey,
        res: Resolved,
        verb: String,
        by_key: &HashMap<ObjKey, Prepared>,
    ) -> WriteResult {
        let Some(p) = by_key.get(&key) else {
            return (
                key.clone(),
                Err(Error::State(format!("{key} not prepared"))),
                verb,
            );
        };
        let opts = ObjectOptions::of(&p.obj);
        let validate = opts.validate.unwrap_or(app.options.validate);
        let replace = uses_replace(&opts, &app.options);
        let r = if replace {
            self.cluster()
                .replace(&res, &p.obj)
                .await
                .map(|o| (o, None))
        } else {
            match self
                .cluster()
                .apply(&res, &p.obj, false, false, validate)
                .await
            {
                Err(Error::Api {
                    code: 409, message, ..
                }) => {
                    let warning =
                        format!("{key}: forced server-side apply over a field conflict: {message}");
                    self.cluster()
                        .apply(&res, &p.obj, true, false, validate)
                        .await
                        .map(|o| (o, Some(warning)))
                }
                other => other.map(|o| (o, None)),
            }
        };
        (key, r, verb)
    }

    /// Create a hook, wait for it to finish, apply its delete policies.
    #[allow(clippy::too_many_arguments)]
    async fn run_hook(
        &self,
        app: &App,
        phase: Phase,
        task: &Task,
        hook: &Hook,
        by_key: &HashMap<ObjKey, Prepared>,
        ctx: &mut OpCtx,
        progress: &Progress,
    ) -> Result<()> {
        let id = hook_id(phase, &task.key);
        if ctx.op.completed_hooks.contains(&id) {
            self.record(
                ctx,
                progress,
                phase,
                task.wave,
                &task.key,
                ResultCode::HookSucceeded,
                "already completed".into(),
            );
            return Ok(());
        }
        let p = by_key
            .get(&task.key)
            .ok_or_else(|| Error::State(format!("{} not prepared", task.key)))?;
        let res = match self.resolved(p).await {
            Ok(r) => r,
            Err(e) => {
                self.record(
                    ctx,
                    progress,
                    phase,
                    task.wave,
                    &task.key,
                    ResultCode::HookFailed,
                    e.to_string(),
                );
                return Err(e);
            }
        };
        if !ctx.persisted {
            self.checkpoint(app, ctx, true).await?;
        }
        let cluster = self.cluster();
        // A hook this operation created before the process was interrupted: wait for that one.
        let adopted = match ctx.op.started_hooks.get(&id) {
            Some(uid) => match self.cache.get(&p.key).or(cluster
                .get(&res, &p.key.namespace, &p.key.name)
                .await?
                .map(Arc::new))
            {
                Some(live) if uid_of(&live).as_deref() == Some(uid.as_str()) => Some(live),
                _ => None,
            },
            None => None,
        };
        let uid = if let Some(live) = adopted {
            self.cache.observe_write(&live);
            uid_of(&live)
        } else {
            self.create_hook(app, phase, task, p, &res, hook, ctx, progress)
                .await?
        };
        progress.emit(Event::Waiting(format!("hook {} ({phase})", task.key)));
        let deadline = Instant::now() + hook.timeout;
        let mut rx = self.cache.subscribe_app(&ctx.app);
        let outcome: std::result::Result<String, String> = loop {
            let live = self.cache.get(&p.key).filter(|o| uid_of(o) == uid);
            if let Some(live) = live {
                let h = self.object_health(&live);
                let kind = p.key.kind.as_str();
                let is_pod = kind == "Pod" && p.key.group.is_empty();
                let is_job = kind == "Job" && p.key.group == "batch";
                let pod_phase = str_at(&live, &["status", "phase"]);
                match h.status {
                    HealthStatus::Degraded => break Err(h.message),
                    _ if is_pod && pod_phase == Some("Succeeded") => {
                        break Ok("pod succeeded".into());
                    }
                    _ if is_pod && pod_phase == Some("Failed") => break Err(h.message),
                    HealthStatus::Healthy if !is_pod => {
                        break Ok(if is_job { h.message } else { "created".into() });
                    }
                    _ => {}
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(format!(
                    "timed out after {:?} waiting for the hook to complete",
                    hook.timeout
                ));
            }
            let _ = tokio::time::timeout((deadline - now).min(RECHECK), rx.changed()).await;
        };
        match outcome {
            Ok(msg) => {
                ctx.op.started_hooks.remove(&id);
                ctx.op.completed_hooks.insert(id);
                self.record(
                    ctx,
                    progress,
                    phase,
                    task.wave,
                    &task.key,
                    ResultCode::HookSucceeded,
                    msg,
                );
                self.checkpoint(app, ctx, true).await?;
                // `hook-succeeded` deletion waits for the end of the phase (Helm: after every hook
                // of the event; Argo CD: after the phase): a later-weight hook may use this one
                // (a hook Job's ServiceAccount, Role and RoleBinding).
                Ok(())
            }
            Err(msg) => {
                ctx.op.started_hooks.remove(&id);
                self.record(
                    ctx,
                    progress,
                    phase,
                    task.wave,
                    &task.key,
                    ResultCode::HookFailed,
                    msg.clone(),
                );
                if hook.delete_policies.contains(&DeletePolicy::HookFailed) {
                    cluster
                        .delete(&res, &p.key.namespace, &p.key.name, Propagation::Background)
                        .await?;
                    self.cache.observe_delete(&p.key);
                }
                Err(Error::HookFailed {
                    key: Box::new(task.key.clone()),
                    message: msg,
                })
            }
        }
    }

    /// Create a hook object (deleting the previous instance first per `before-hook-creation`),
    /// and record it as started so that a resumed operation waits for it instead.
    #[allow(clippy::too_many_arguments)]
    async fn create_hook(
        &self,
        app: &App,
        phase: Phase,
        task: &Task,
        p: &Prepared,
        res: &Resolved,
        hook: &Hook,
        ctx: &mut OpCtx,
        progress: &Progress,
    ) -> Result<Option<String>> {
        let cluster = self.cluster();
        if hook
            .delete_policies
            .contains(&DeletePolicy::BeforeHookCreation)
        {
            let old = self.cache.get(&p.key).and_then(|o| uid_of(&o));
            if cluster
                .delete(res, &p.key.namespace, &p.key.name, Propagation::Background)
                .await?
            {
                self.wait_gone(&ctx.app, &p.key, old.as_deref(), res, ctx.deadline)
                    .await?;
            }
        }
        let created = match cluster
            .apply(res, &p.obj, true, false, app.options.validate)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                self.record(
                    ctx,
                    progress,
                    phase,
                    task.wave,
                    &task.key,
                    ResultCode::HookFailed,
                    e.to_string(),
                );
                return Err(e);
            }
        };
        self.cache.observe_write(&created);
        let uid = uid_of(&created);
        if let Some(u) = &uid {
            ctx.op
                .started_hooks
                .insert(hook_id(phase, &task.key), u.clone());
            self.checkpoint(app, ctx, true).await?;
        }
        Ok(uid)
    }

    /// Wait until the object with `old_uid` has left the cache (or a GET says it is gone).
    async fn wait_gone(
        &self,
        app: &str,
        key: &ObjKey,
        old_uid: Option<&str>,
        res: &Resolved,
        deadline: Instant,
    ) -> Result<()> {
        let mut rx = self.cache.subscribe_app(app);
        loop {
            let still = self
                .cache
                .get(key)
                .is_some_and(|o| old_uid.is_none_or(|u| uid_of(&o).as_deref() == Some(u)));
            if !still {
                // The cache may not have held it at all: confirm with the server once.
                match self.cluster().get(res, &key.namespace, &key.name).await? {
                    None => return Ok(()),
                    Some(o) if old_uid.is_some() && uid_of(&o).as_deref() != old_uid => {
                        return Ok(());
                    }
                    Some(_) => {}
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(format!("waiting for {key} to be deleted")));
            }
            let _ =
                tokio::time::timeout((deadline - now).min(Duration::from_secs(1)), rx.changed())
                    .await;
        }
    }

    /// Health of one desired object as the cache shows it, taking the engine's own writes into
    /// account (an older version in the cache counts as Progressing).
    fn health_of(&self, key: &ObjKey, ctx: &OpCtx) -> Health {
        let Some(live) = self.cache.get(key) else {
            return Health {
                status: HealthStatus::Missing,
                message: "not found in the cluster".into(),
            };
        };
        if let Some(w) = ctx.written.get(key) {
            let stale = (w.uid.is_some() && uid_of(&live) != w.uid)
                || matches!((w.generation, generation_of(&live)), (Some(a), Some(b)) if b < a);
            if stale {
                return Health {
                    status: HealthStatus::Progressing,
                    message: "waiting for the watch to catch up".into(),
                };
            }
        }
        self.object_health(&live)
    }

    fn app_health(&self, keys: &[ObjKey], ctx: &OpCtx) -> Health {
        // Healthy objects cannot change the aggregate (Healthy is the best status), so only the
        // others are named.
        let hs: Vec<(String, Health)> = keys
            .iter()
            .map(|k| (k, self.health_of(k, ctx)))
            .filter(|(_, h)| h.status != HealthStatus::Healthy)
            .map(|(k, h)| (k.to_string(), h))
            .collect();
        health::aggregate(hs.iter().map(|(n, h)| (n.as_str(), h)))
    }

    /// Wait until all `keys` are Healthy (or Suspended); Degraded fails at once, the deadline fails
    /// with the first unhealthy object.
    async fn wait_healthy(&self, keys: &[ObjKey], ctx: &OpCtx, progress: &Progress) -> Result<()> {
        let mut rx = self.cache.subscribe_app(&ctx.app);
        let _ = progress;
        loop {
            let mut pending = None;
            for k in keys {
                let h = self.health_of(k, ctx);
                match h.status {
                    HealthStatus::Healthy | HealthStatus::Suspended | HealthStatus::Unknown => {}
                    HealthStatus::Degraded => {
                        return Err(Error::Api {
                            context: format!("{k} is Degraded"),
                            message: h.message,
                            reason: "Degraded".into(),
                            code: 0,
                        });
                    }
                    _ => {
                        pending.get_or_insert((k.clone(), h));
                    }
                }
            }
            let Some((k, h)) = pending else { return Ok(()) };
            let now = Instant::now();
            if now >= ctx.deadline {
                return Err(Error::Timeout(format!(
                    "{k} is {}: {}",
                    h.status, h.message
                )));
            }
            let _ = tokio::time::timeout((ctx.deadline - now).min(RECHECK), rx.changed()).await;
        }
    }

    /// Wait for the application to settle: Healthy, Degraded, or the deadline.
    async fn wait_app_health(&self, keys: &[ObjKey], ctx: &OpCtx, progress: &Progress) -> Health {
        let mut rx = self.cache.subscribe_app(&ctx.app);
        let mut announced = false;
        loop {
            let h = self.app_health(keys, ctx);
            if matches!(
                h.status,
                HealthStatus::Healthy | HealthStatus::Degraded | HealthStatus::Suspended
            ) {
                return h;
            }
            if !announced {
                progress.emit(Event::Waiting(format!(
                    "application to become healthy ({})",
                    h.message
                )));
                announced = true;
            }
            let now = Instant::now();
            if now >= ctx.deadline {
                return h;
            }
            let _ = tokio::time::timeout((ctx.deadline - now).min(RECHECK), rx.changed()).await;
        }
    }

    /// Delete tracked objects that are no longer desired, in reverse sync order. `last` selects the
    /// PruneLast pass.
    async fn prune(
        &self,
        app: &App,
        by_key: &HashMap<ObjKey, Prepared>,
        ctx: &mut OpCtx,
        progress: &Progress,
        last: bool,
    ) -> Result<()> {
        let mut extras: Vec<(ObjKey, Arc<Value>)> = ctx
            .own
            .tracked(&self.cache)
            .into_iter()
            .filter(|(k, o)| !by_key.contains_key(k) && !is_hook_obj(o) && !self.is_excluded(k))
            .collect();
        extras.sort_by_key(|(k, o)| std::cmp::Reverse(order_key(sync_wave(o), k)));
        for (key, live) in extras {
            let opts = ObjectOptions::of(&live);
            let wave = sync_wave(&live);
            if (opts.prune_last || app.options.prune_last) != last {
                continue;
            }
            if !app.options.prune {
                self.record(
                    ctx,
                    progress,
                    Phase::Sync,
                    wave,
                    &key,
                    ResultCode::PruneSkipped,
                    "ignored (requires pruning)".into(),
                );
                continue;
            }
            if !opts.prune {
                self.record(
                    ctx,
                    progress,
                    Phase::Sync,
                    wave,
                    &key,
                    ResultCode::PruneSkipped,
                    "ignored (Prune=false)".into(),
                );
                continue;
            }
            let av = live
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(res) = self.cluster().resolve(av, &key.kind).await? else {
                continue;
            };
            if !ctx.persisted {
                self.checkpoint(app, ctx, true).await?;
            }
            match self
                .cluster()
                .delete(
                    &res,
                    &key.namespace,
                    &key.name,
                    app.options.prune_propagation,
                )
                .await
            {
                Ok(_) => {
                    self.cache.observe_delete(&key);
                    self.record(
                        ctx,
                        progress,
                        Phase::Sync,
                        wave,
                        &key,
                        ResultCode::Pruned,
                        "pruned".into(),
                    );
                }
                Err(e) => {
                    self.record(
                        ctx,
                        progress,
                        Phase::Sync,
                        wave,
                        &key,
                        ResultCode::SyncFailed,
                        e.to_string(),
                    );
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Delete an application: PreDelete hooks, then every tracked object in reverse order (except
    /// `Delete=false` / `helm.sh/resource-policy: keep`), waiting until they are gone, then
    /// PostDelete hooks; finally its state.
    pub async fn delete_app(
        &self,
        app: &App,
        manifests: &[Manifest],
        progress: &Progress,
    ) -> Result<Vec<ObjectResult>> {
        let prepared = self.prepare(app, manifests).await?;
        let state = self.load_state(app).await?;
        let previous = state_kinds(&state);
        self.watch_kinds(&prepared, &previous).await?;
        let plan = plan_of(&prepared, false);
        let by_key: HashMap<ObjKey, Prepared> = prepared
            .iter()
            .map(|p| (p.key.clone(), p.clone()))
            .collect();
        let op = Operation {
            revision: app.revision.clone(),
            desired_digest: String::new(),
            first_sync: false,
            phase: OpPhase::Running,
            message: "deleting".into(),
            started_at: now_rfc3339(),
            finished_at: None,
            completed_hooks: BTreeSet::new(),
            started_hooks: Default::default(),
            results: Vec::new(),
            attempts: 1,
            warnings: Vec::new(),
        };
        let own = Ownership::of(app, &state);
        let mut ctx = OpCtx {
            app: own.key.clone(),
            own,
            only_out_of_sync: app.options.apply_out_of_sync_only,
            state,
            op,
            persisted: false,
            written: HashMap::new(),
            deadline: Instant::now() + app.options.timeout,
        };
        let pre: Vec<Step> = plan
            .delete_steps
            .iter()
            .filter(|s| s.phase == Phase::PreDelete)
            .cloned()
            .collect();
        let post: Vec<Step> = plan
            .delete_steps
            .iter()
            .filter(|s| s.phase == Phase::PostDelete)
            .cloned()
            .collect();
        self.run_steps(app, &pre, &by_key, &mut ctx, progress, false)
            .await?;
        let mut victims: Vec<(ObjKey, Arc<Value>)> = ctx
            .own
            .tracked(&self.cache)
            .into_iter()
            .filter(|(k, o)| !is_hook_obj(o) && !self.is_excluded(k))
            .collect();
        victims.sort_by_key(|(k, o)| std::cmp::Reverse(order_key(sync_wave(o), k)));
        for (key, live) in &victims {
            if !ObjectOptions::of(live).delete {
                self.record(
                    &mut ctx,
                    progress,
                    Phase::PreDelete,
                    0,
                    key,
                    ResultCode::PruneSkipped,
                    "kept (Delete=false)".into(),
                );
                continue;
            }
            let av = live
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(res) = self.cluster().resolve(av, &key.kind).await? else {
                continue;
            };
            self.cluster()
                .delete(
                    &res,
                    &key.namespace,
                    &key.name,
                    app.options.prune_propagation,
                )
                .await?;
            self.wait_gone(&ctx.app, key, uid_of(live).as_deref(), &res, ctx.deadline)
                .await?;
            self.record(
                &mut ctx,
                progress,
                Phase::PreDelete,
                0,
                key,
                ResultCode::Pruned,
                "deleted".into(),
            );
        }
        self.run_steps(app, &post, &by_key, &mut ctx, progress, false)
            .await?;
        self.store.remove(&app.id()).await?;
        self.states
            .lock()
            .expect("state memo lock poisoned")
            .remove(&app.id());
        Ok(ctx.op.results)
    }
}

/// What identifies an operation's desired state: the revision and every prepared object.
fn desired_digest(app: &App, prepared: &[Prepared]) -> String {
    let mut all = String::new();
    for p in prepared {
        all.push_str(&p.digest);
    }
    diff::digest(&json!([app.revision, all]))
}

/// Whether an object is written with replace (PUT) rather than server-side apply: the object's
/// own option first, then the application's; at the same level `ServerSideApply=true` wins over
/// `Replace=true`.
fn uses_replace(opts: &ObjectOptions, app: &SyncOptions) -> bool {
    match (opts.server_side_apply, opts.replace) {
        (Some(true), _) => false,
        (_, Some(r)) => r,
        _ => app.replace && !app.server_side_apply,
    }
}

fn state_kinds(state: &AppState) -> BTreeSet<(String, String)> {
    state.kinds.clone()
}

fn plan_of(prepared: &[Prepared], first_sync: bool) -> Plan {
    let ms: Vec<Manifest> = prepared
        .iter()
        .map(|p| Manifest {
            obj: p.obj.clone(),
            source: String::new(),
        })
        .collect();
    Plan::build(&ms, first_sync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_side_apply_wins_over_replace_at_the_same_level() {
        let obj = |ann: &str| {
            ObjectOptions::of(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "annotations": {"argocd.argoproj.io/sync-options": ann}}}))
        };
        let mut app = SyncOptions::default();
        assert!(!uses_replace(&obj(""), &app));
        app.apply_strings(["Replace=true"]);
        assert!(uses_replace(&obj(""), &app));
        assert!(!uses_replace(&obj("ServerSideApply=true"), &app));
        app.apply_strings(["ServerSideApply=true"]);
        assert!(
            !uses_replace(&obj(""), &app),
            "app-level SSA over app-level Replace"
        );
        assert!(
            uses_replace(&obj("Replace=true"), &app),
            "the object's own option first"
        );
        assert!(!uses_replace(
            &obj("Replace=true,ServerSideApply=true"),
            &app
        ));
    }

    #[test]
    fn retry_backoff_grows_and_caps() {
        let r = RetryPolicy {
            limit: 5,
            duration: Duration::from_secs(5),
            factor: 2,
            max_duration: Duration::from_secs(30),
        };
        assert_eq!(r.delay(1), Duration::from_secs(5));
        assert_eq!(r.delay(2), Duration::from_secs(10));
        assert_eq!(r.delay(3), Duration::from_secs(20));
        assert_eq!(r.delay(4), Duration::from_secs(30));
        assert_eq!(r.delay(9), Duration::from_secs(30));
    }

    #[test]
    fn sync_option_strings() {
        let mut o = SyncOptions::default();
        o.apply_strings([
            "CreateNamespace=true",
            "Validate=false",
            "PrunePropagationPolicy=background",
            "ApplyOutOfSyncOnly=true",
            "Bogus",
        ]);
        assert!(o.create_namespace && !o.validate && o.apply_out_of_sync_only);
        assert!(
            !SyncOptions::default().apply_out_of_sync_only,
            "off by default, as in Argo CD"
        );
        assert_eq!(o.prune_propagation, Propagation::Background);
    }
}
