//! The controller process: one [`Controller`] (the shared context, in an `Arc`) holding the
//! watch-fed stores of the three resources, the git mirrors, the renderer, the sync engine and a
//! fair work queue; [`Controller::run`] starts the watches, the workers, the poller, the cleanup
//! timer and the webhook listener, and stops them on shutdown. [`run_with_leader_election`] runs
//! it only while this replica holds the Kubernetes Lease.
//!
//! Work is keyed by resource ([`Key`]) and laned by environment, so one environment's hundred
//! syncs never starve another's single change; a watch event on a tracked object requeues only its
//! Application; a periodic resync is only a safety net.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Semaphore;

use crate::app::{AppMemo, Next, env_of};

/// How long watch events about one Application's objects (or about an Environment's
/// Applications) are gathered before the one reconcile that looks at all of them.
const GATHER_WINDOW: Duration = Duration::from_millis(500);

/// A fingerprint of what a reconcile acts on in an Application besides its status: spec
/// (through `generation`), labels, annotations (sync, refresh and terminate requests),
/// finalizers, owners and deletion.
fn beyond_status(app: &Application) -> u64 {
    use std::hash::{Hash, Hasher};
    let m = &app.metadata;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.generation.hash(&mut h);
    // The spec itself too: a server that does not count generations still requeues on edits.
    serde_json::to_string(&app.spec)
        .unwrap_or_default()
        .hash(&mut h);
    m.uid.hash(&mut h);
    m.labels.hash(&mut h);
    m.annotations.hash(&mut h);
    m.finalizers.hash(&mut h);
    m.deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut h);
    if let Some(owners) = &m.owner_references {
        for o in owners {
            o.uid.hash(&mut h);
        }
    }
    h.finish()
}
use crate::error::{Error, Result};
use crate::queue::WorkQueue;
use crate::render::Renderer;
use crate::types::{Application, Environment, EnvironmentSet};
use crate::webhook::{Change, normalize_repo_url};

/// The ConfigMap holding Argo CD-style settings: health customizations
/// (`resource.customizations.health.*`) and `resource.exclusions` / `resource.inclusions`.
pub const HEALTH_CONFIGMAP: &str = "trellis-cm";

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The namespace of the controller's resources (EnvironmentSets, Environments, Applications,
    /// Secrets for git and webhooks, the Lease).
    pub namespace: String,
    /// Where git mirrors live.
    pub data_dir: PathBuf,
    /// Fallback polling of every repository in use (jittered ±10 %).
    pub poll_interval: Duration,
    /// How often environments are checked for cleanup.
    pub cleanup_interval: Duration,
    /// Concurrent reconciles.
    pub workers: usize,
    /// Concurrent syncs (each mostly waits on the API server and on health).
    pub max_syncs: usize,
    /// Concurrent git fetches across repositories.
    pub git_parallel: usize,
    /// Deadline of one sync (waits included).
    pub sync_timeout: Duration,
    /// Safety-net resync of every resource.
    pub resync_interval: Duration,
    /// Where the controller's Prometheus metrics go (shared with the kube client's
    /// [`crate::metrics::KubeRequestsLayer`] and the server's `/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: "trellis".into(),
            data_dir: PathBuf::from("trellis-data"),
            poll_interval: Duration::from_secs(180),
            cleanup_interval: Duration::from_secs(600),
            workers: 64,
            max_syncs: 256,
            git_parallel: 8,
            sync_timeout: Duration::from_secs(600),
            resync_interval: Duration::from_secs(1800),
            metrics: Arc::new(crate::metrics::Metrics::default()),
        }
    }
}

/// A unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// An Application by name.
    App(String),
    /// An Environment by name.
    Env(String),
    /// An EnvironmentSet by name (creates and updates its Environments).
    Set(String),
    /// The cleanup check of an EnvironmentSet.
    Cleanup(String),
}

/// Counters for tests, logs and (later) metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Reconciles run.
    pub reconciles: AtomicU64,
    /// Total reconcile time, microseconds.
    pub reconcile_micros: AtomicU64,
    /// Syncs that succeeded.
    pub syncs_succeeded: AtomicU64,
    /// Syncs that failed or errored.
    pub syncs_failed: AtomicU64,
    /// Git fetches that succeeded.
    pub fetches_ok: AtomicU64,
    /// Git fetches that failed.
    pub fetches_failed: AtomicU64,
    /// Environments deleted by cleanup.
    pub environments_cleaned: AtomicU64,
    /// Renders asked for (cache hits included) and their total time, microseconds.
    pub renders: AtomicU64,
    /// Total render time, microseconds.
    pub render_micros: AtomicU64,
}

impl Stats {
    pub(crate) fn observe_reconcile(&self, d: Duration) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        self.reconcile_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    pub(crate) fn observe_render(&self, d: Duration) {
        self.renders.fetch_add(1, Ordering::Relaxed);
        self.render_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    pub(crate) fn syncs(&self, result: &str) {
        if result == "succeeded" {
            self.syncs_succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.syncs_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Which Applications belong to which environment, kept from the Application watch (so that
/// dependency lookups never scan every Application).
#[derive(Debug, Default)]
pub struct Index {
    inner: Mutex<IndexInner>,
}

#[derive(Debug, Default)]
struct IndexInner {
    env_of_app: HashMap<String, String>,
    apps_of_env: HashMap<String, BTreeSet<String>>,
    all: BTreeSet<String>,
    repo_of_app: HashMap<String, String>,
    apps_of_repo: HashMap<String, BTreeSet<String>>,
}

impl Index {
    fn update(&self, app: &Application, deleted: bool) {
        let name = app.metadata.name.clone().unwrap_or_default();
        let mut st = self.inner.lock().expect("index lock");
        if let Some(old) = st.env_of_app.remove(&name)
            && let Some(set) = st.apps_of_env.get_mut(&old)
        {
            set.remove(&name);
        }
        if let Some(old) = st.repo_of_app.remove(&name)
            && let Some(set) = st.apps_of_repo.get_mut(&old)
        {
            set.remove(&name);
        }
        if deleted {
            st.all.remove(&name);
            return;
        }
        st.all.insert(name.clone());
        if let Some(env) = env_of(app) {
            st.env_of_app.insert(name.clone(), env.clone());
            st.apps_of_env.entry(env).or_default().insert(name.clone());
        }
        let repo = normalize_repo_url(&app.spec.source.repo_url);
        st.repo_of_app.insert(name.clone(), repo.clone());
        st.apps_of_repo.entry(repo).or_default().insert(name);
    }

    /// Applications labelled with this environment.
    pub fn apps_of_env(&self, env: &str) -> Vec<String> {
        let st = self.inner.lock().expect("index lock");
        st.apps_of_env
            .get(env)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every Application.
    pub fn all_apps(&self) -> Vec<String> {
        self.inner
            .lock()
            .expect("index lock")
            .all
            .iter()
            .cloned()
            .collect()
    }

    /// Applications whose source is this repository (normalised URL).
    pub fn apps_of_repo(&self, repo: &str) -> Vec<String> {
        let st = self.inner.lock().expect("index lock");
        st.apps_of_repo
            .get(repo)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// (repository, commit, directory) of a git tree read for rendering.
pub(crate) type TreeKey = (String, String, String);

type Writers = (
    reflector::store::Writer<Application>,
    reflector::store::Writer<Environment>,
    reflector::store::Writer<EnvironmentSet>,
);

/// The controller's shared context.
pub struct Controller {
    pub(crate) cfg: Config,
    pub(crate) client: kube::Client,
    pub(crate) engine: Arc<sync::engine::Engine>,
    pub(crate) mirrors: source::Mirrors,
    pub(crate) renderer: Arc<Renderer>,
    pub(crate) apps: Store<Application>,
    pub(crate) envs: Store<Environment>,
    pub(crate) sets: Store<EnvironmentSet>,
    pub(crate) queue: Arc<WorkQueue<Key>>,
    pub(crate) memo: Mutex<HashMap<String, AppMemo>>,
    pub(crate) index: Index,
    pub(crate) sync_slots: Semaphore,
    /// Syncs in progress, by Application: notified to terminate one.
    pub(crate) running: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// Counters.
    pub stats: Stats,
    /// Prometheus metrics (registered by the server).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// URL as written in a resource, by normalised URL (what webhooks are matched against), and
    /// the Secret holding its credentials.
    pub(crate) repo_urls: Mutex<BTreeMap<String, (String, Option<String>)>>,
    /// Git trees read for rendering, by (repository, commit, directory).
    pub(crate) trees: Mutex<HashMap<TreeKey, Arc<Vec<source::TreeFile>>>>,
    ready: AtomicBool,
    writers: Mutex<Option<Writers>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller over a client; the sync engine keeps application state in ConfigMaps.
    pub fn new(client: kube::Client, cfg: Config) -> Arc<Controller> {
        let cluster = Arc::new(sync::cluster::Cluster::new(client.clone()));
        Self::with_cluster(client, cluster, cfg)
    }

    /// Argo CD health customizations from the ConfigMap `trellis-cm` in the controller's
    /// namespace (keys `resource.customizations.health.<group>_<Kind>`, as in `argocd-cm`), and
    /// its `resource.exclusions` / `resource.inclusions`, read at start. Absent or unreadable, the built-in rules alone apply (and the reason is logged).
    async fn load_health_overrides(&self) {
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.client.clone(), &self.cfg.namespace);
        let cm = match api.get_opt(HEALTH_CONFIGMAP).await {
            Ok(Some(cm)) => cm,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading ConfigMap {HEALTH_CONFIGMAP}");
                return;
            }
        };
        let value = match serde_json::to_value(&cm) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "reading ConfigMap {HEALTH_CONFIGMAP}");
                return;
            }
        };
        match sync::exclusions::ResourceFilter::from_configmap(&value, HEALTH_CONFIGMAP) {
            Ok(filter) => {
                if !filter.is_empty() {
                    tracing::info!(
                        exclusions = filter.exclusions.len(),
                        inclusions = filter.inclusions.len(),
                        "resource exclusions/inclusions from ConfigMap {HEALTH_CONFIGMAP}"
                    );
                }
                self.engine.set_resource_filter(filter);
            }
            Err(e) => tracing::warn!(error = %e, "resource exclusions of {HEALTH_CONFIGMAP}"),
        }
        match sync::diff::rules_from_configmap(&value, HEALTH_CONFIGMAP) {
            Ok(rules) => {
                if !rules.is_empty() {
                    tracing::info!(
                        rules = rules.len(),
                        "system-level ignoreDifferences from ConfigMap {HEALTH_CONFIGMAP}"
                    );
                }
                for problem in sync::diff::check_rules(&rules) {
                    tracing::warn!("{HEALTH_CONFIGMAP}: {problem} (skipped)");
                }
                self.engine.set_ignore_defaults(rules);
            }
            Err(e) => tracing::warn!(error = %e, "ignoreDifferences of {HEALTH_CONFIGMAP}"),
        }
        let mut custom = sync::lua::CustomHealth::empty();
        match custom.add_configmap(&value, HEALTH_CONFIGMAP) {
            Ok(n) => {
                tracing::info!(
                    scripts = n,
                    "health customizations from ConfigMap {HEALTH_CONFIGMAP}"
                );
                self.engine.set_custom_health(custom);
            }
            Err(e) => tracing::warn!(error = %e, "health customizations of {HEALTH_CONFIGMAP}"),
        }
    }

    /// A controller whose sync engine talks through `cluster` (e.g. one that counts requests).
    pub fn with_cluster(
        client: kube::Client,
        cluster: Arc<sync::cluster::Cluster>,
        cfg: Config,
    ) -> Arc<Controller> {
        let cache = Arc::new(sync::cache::ClusterCache::new(cluster.clone()));
        let engine = Arc::new(sync::engine::Engine::new(
            cache,
            sync::state::StateStore::ConfigMap(cluster),
            sync::lua::CustomHealth::empty(),
        ));
        let (apps, wa) = reflector::store();
        let (envs, we) = reflector::store();
        let (sets, ws) = reflector::store();
        let metrics = cfg.metrics.clone();
        Arc::new(Controller {
            mirrors: source::Mirrors::new(cfg.data_dir.join("git"), cfg.git_parallel.max(1)),
            renderer: Arc::new(Renderer::new()),
            sync_slots: Semaphore::new(cfg.max_syncs.max(1)),
            running: Mutex::new(HashMap::new()),
            cfg,
            client,
            engine,
            apps,
            envs,
            sets,
            queue: Arc::new(WorkQueue::new()),
            memo: Mutex::new(HashMap::new()),
            index: Index::default(),
            stats: Stats::default(),
            metrics,
            repo_urls: Mutex::new(BTreeMap::new()),
            trees: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            writers: Mutex::new(Some((wa, we, ws))),
        })
    }

    /// Whether the watches have synced and workers run.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The Applications the controller sees.
    pub fn applications(&self) -> Vec<Arc<Application>> {
        self.apps.state()
    }

    /// The Environments the controller sees.
    pub fn environments(&self) -> Vec<Arc<Environment>> {
        self.envs.state()
    }

    /// The sync engine.
    pub fn engine(&self) -> &Arc<sync::engine::Engine> {
        &self.engine
    }

    /// Run until `shutdown` completes: watches, workers, poller, cleanup, webhook changes.
    pub async fn run(
        self: Arc<Self>,
        mut changes: tokio::sync::mpsc::UnboundedReceiver<Change>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<()> {
        let Some((wa, we, ws)) = self.writers.lock().expect("writers lock").take() else {
            return Err(Error::Invalid("the controller is already running".into()));
        };
        let mut tasks = tokio::task::JoinSet::new();
        let ns = self.cfg.namespace.clone();
        self.load_health_overrides().await;
        // Watches: every change requeues what it concerns.
        {
            let me = self.clone();
            let api: Api<Application> = Api::namespaced(self.client.clone(), &ns);
            tasks.spawn(async move {
                let stream = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .reflect(wa);
                futures::pin_mut!(stream);
                // What each Application's last event carried besides its status: a write of
                // the status alone (the controller's own, mostly) does not requeue it.
                let mut seen: HashMap<String, u64> = HashMap::new();
                // During a (re)list the store still shows the previous list until `InitDone`:
                // what the list brings is queued then, or a worker could look for an
                // Application created while the watch was down and not find it yet.
                let mut listing: Option<Vec<(Key, String)>> = None;
                while let Some(ev) = stream.next().await {
                    let Ok(ev) = ev else { continue };
                    let (objs, deleted, initial): (Vec<Application>, bool, bool) = match ev {
                        watcher::Event::Apply(o) => (vec![o], false, false),
                        watcher::Event::InitApply(o) => (vec![o], false, true),
                        watcher::Event::Delete(o) => (vec![o], true, false),
                        watcher::Event::Init => {
                            listing = Some(Vec::new());
                            (vec![], false, false)
                        }
                        watcher::Event::InitDone => {
                            for (key, lane) in listing.take().unwrap_or_default() {
                                match key {
                                    Key::Env(_) => me.queue.add_after(key, lane, GATHER_WINDOW),
                                    _ => me.queue.add(key, lane),
                                }
                            }
                            (vec![], false, false)
                        }
                    };
                    for o in objs {
                        me.index.update(&o, deleted);
                        if !deleted {
                            me.check_terminate(&o);
                        }
                        me.remember_repo(
                            &o.spec.source.repo_url,
                            o.spec.source.secret_ref.as_ref(),
                        );
                        let name = o.metadata.name.clone().unwrap_or_default();
                        let lane = env_of(&o).unwrap_or_else(|| name.clone());
                        let print = (!deleted).then(|| beyond_status(&o));
                        let changed = match print {
                            Some(p) => seen.insert(name.clone(), p) != Some(p),
                            None => {
                                seen.remove(&name);
                                true
                            }
                        };
                        let mut wanted = Vec::new();
                        if changed {
                            wanted.push((Key::App(name), lane.clone()));
                        }
                        // The Environment sums its Applications' statuses: a short window
                        // gathers the writes of many of them into one reconcile.
                        if let Some(e) = env_of(&o) {
                            wanted.push((Key::Env(e), lane));
                        }
                        match listing.as_mut().filter(|_| initial) {
                            Some(later) => later.extend(wanted),
                            None => {
                                for (key, lane) in wanted {
                                    match key {
                                        Key::Env(_) => me.queue.add_after(key, lane, GATHER_WINDOW),
                                        _ => me.queue.add(key, lane),
                                    }
                                }
                            }
                        }
                    }
                }
            });
        }
        {
            let me = self.clone();
            let api: Api<Environment> = Api::namespaced(self.client.clone(), &ns);
            tasks.spawn(async move {
                let stream = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .reflect(we)
                    .touched_objects();
                futures::pin_mut!(stream);
                while let Some(o) = stream.next().await {
                    let Ok(o) = o else { continue };
                    let name = o.metadata.name.clone().unwrap_or_default();
                    me.queue.add(Key::Env(name.clone()), name);
                }
            });
        }
        {
            let me = self.clone();
            let api: Api<EnvironmentSet> = Api::namespaced(self.client.clone(), &ns);
            tasks.spawn(async move {
                let stream = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .reflect(ws)
                    .touched_objects();
                futures::pin_mut!(stream);
                while let Some(o) = stream.next().await {
                    let Ok(o) = o else { continue };
                    for s in &o.spec.services {
                        me.remember_repo(&s.source.repo_url, s.source.secret_ref.as_ref());
                    }
                    let name = o.metadata.name.clone().unwrap_or_default();
                    me.queue.add(Key::Set(name.clone()), format!("set/{name}"));
                }
            });
        }
        for (what, ready) in [
            ("Applications", self.apps.wait_until_ready().await.is_ok()),
            ("Environments", self.envs.wait_until_ready().await.is_ok()),
            (
                "EnvironmentSets",
                self.sets.wait_until_ready().await.is_ok(),
            ),
        ] {
            if !ready {
                return Err(Error::Invalid(format!("the watch of {what} stopped")));
            }
        }
        // Changes to tracked objects requeue only their Application.
        {
            let me = self.clone();
            let mut rx = self.engine.cache().subscribe_touched();
            tasks.spawn(async move {
                let prefix = format!("{}_", me.cfg.namespace);
                while let Some(keys) = rx.recv().await {
                    for k in keys {
                        if let Some(name) = k.strip_prefix(&prefix) {
                            let lane = me
                                .apps
                                .get(&reflector::ObjectRef::new(name).within(&me.cfg.namespace))
                                .and_then(|a| env_of(&a))
                                .unwrap_or_else(|| name.to_string());
                            // Gathered: a rollout changes its objects several times in
                            // a row; one look after the burst sees where it got to.
                            me.queue
                                .add_after(Key::App(name.to_string()), lane, GATHER_WINDOW);
                        }
                    }
                }
            });
        }
        // Webhook changes: fetch the repository now, then requeue what uses it.
        {
            let me = self.clone();
            tasks.spawn(async move {
                while let Some(change) = changes.recv().await {
                    let me = me.clone();
                    tokio::spawn(async move { me.on_change(change).await });
                }
            });
        }
        // Polling fallback.
        {
            let me = self.clone();
            tasks.spawn(async move { me.poll_loop().await });
        }
        // Cleanup timer.
        {
            let me = self.clone();
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(me.cfg.cleanup_interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    for s in me.sets.state() {
                        let name = s.metadata.name.clone().unwrap_or_default();
                        me.queue.add(Key::Cleanup(name), "cleanup".into());
                    }
                }
            });
        }
        // Safety-net resync.
        {
            let me = self.clone();
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(me.cfg.resync_interval);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    for name in me.index.all_apps() {
                        me.queue.add(Key::App(name.clone()), name);
                    }
                }
            });
        }
        // Workers.
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.cfg.workers.max(1) {
            let me = self.clone();
            workers.spawn(async move { me.worker().await });
        }
        self.ready.store(true, Ordering::Relaxed);
        tracing::info!(namespace = %self.cfg.namespace, workers = self.cfg.workers, "controller running");
        shutdown.await;
        self.ready.store(false, Ordering::Relaxed);
        tracing::info!("controller stopping");
        self.queue.shutdown();
        tasks.abort_all();
        // Running reconciles get a moment to finish; an interrupted sync resumes on the next
        // start from its recorded state, without re-running completed hooks.
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        workers.abort_all();
        Ok(())
    }

    async fn worker(self: Arc<Self>) {
        while let Some((key, ticket)) = self.queue.next().await {
            self.metrics
                .queue_wait
                .observe(ticket.waited().as_secs_f64());
            self.metrics
                .queue_depth
                .set(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
            let lane = self.lane_of(&key);
            let started = std::time::Instant::now();
            let (kind, res) = match &key {
                Key::App(n) => ("application", self.reconcile_app(n).await),
                Key::Env(n) => ("environment", self.reconcile_env(n).await),
                Key::Set(n) => ("set", self.reconcile_set(n).await),
                Key::Cleanup(n) => ("cleanup", self.cleanup_set(n).await),
            };
            self.metrics.reconcile(kind, started.elapsed());
            match res {
                Ok(Next::Idle) => {}
                Ok(Next::After(d)) => self.queue.add_after(key.clone(), lane, d),
                Err(e) => {
                    tracing::warn!(?key, error = %e, "reconcile failed");
                    let delay = if e.is_transient() {
                        Duration::from_secs(5)
                    } else {
                        Duration::from_secs(120)
                    };
                    self.queue.add_after(key.clone(), lane, delay);
                }
            }
            self.queue.done(ticket);
            self.metrics
                .queue_depth
                .set(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
        }
    }

    pub(crate) fn lane_of(&self, key: &Key) -> String {
        match key {
            Key::App(n) => self
                .apps
                .get(&reflector::ObjectRef::new(n).within(&self.cfg.namespace))
                .and_then(|a| env_of(&a))
                .unwrap_or_else(|| n.clone()),
            Key::Env(n) => n.clone(),
            Key::Set(n) => format!("set/{n}"),
            Key::Cleanup(_) => "cleanup".into(),
        }
    }

    pub(crate) fn remember_repo(&self, url: &str, secret: Option<&crate::types::SecretRef>) {
        let norm = normalize_repo_url(url);
        self.repo_urls
            .lock()
            .expect("repo lock")
            .insert(norm, (url.to_string(), secret.map(|s| s.name.clone())));
    }

    /// Merge-patch the status subresource of one of the controller's resources; one that is
    /// gone meanwhile is not an error.
    pub(crate) async fn patch_status<K>(
        &self,
        name: &str,
        status: &impl serde::Serialize,
    ) -> Result<()>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.cfg.namespace);
        let patch = Patch::Merge(serde_json::json!({ "status": status }));
        match api
            .patch_status(name, &PatchParams::default(), &patch)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(Error::kube(
                format!("writing the status of {} {name}", K::kind(&())),
                e,
            )),
        }
    }

    /// Replace the finalizers of one of the controller's resources; one that is gone meanwhile is
    /// not an error.
    pub(crate) async fn set_finalizers<K>(&self, name: &str, finalizers: &[String]) -> Result<()>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.cfg.namespace);
        let patch = Patch::Merge(serde_json::json!({"metadata": {"finalizers": finalizers}}));
        match api.patch(name, &PatchParams::default(), &patch).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(Error::kube(
                format!("setting the finalizers of {} {name}", K::kind(&())),
                e,
            )),
        }
    }

    /// Fetch a repository (credentials from the Secret its source names); on success requeue
    /// what uses it when its refs changed.
    pub(crate) async fn fetch_repo(
        &self,
        url: &str,
        secret: Option<&crate::types::SecretRef>,
    ) -> Result<source::Snapshot> {
        let mut repo = source::Repo::new(url);
        if let Some(s) = secret {
            repo = repo.with_credentials(self.credentials(&s.name).await?);
        }
        let before = self.mirrors.snapshot(url).map(|s| refs_of(&s));
        let had_error = self.mirrors.last_error(url).is_some();
        let started = std::time::Instant::now();
        let fetched = self.mirrors.fetch(&repo).await;
        self.metrics
            .git_fetch(&normalize_repo_url(url), fetched.is_ok(), started.elapsed());
        match fetched {
            Ok(snap) => {
                self.stats.fetches_ok.fetch_add(1, Ordering::Relaxed);
                if had_error || before.as_ref() != Some(&refs_of(&snap)) {
                    self.requeue_repo_users(url);
                }
                Ok(snap)
            }
            Err(e) => {
                self.stats.fetches_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(repo = %url, error = %e, "git fetch failed");
                if !had_error {
                    // Its users say why in a condition (and keep their last good commit).
                    self.requeue_repo_users(url);
                }
                Err(e.into())
            }
        }
    }

    /// Git credentials from a Secret in the controller's namespace: `token`, or `username` and
    /// `password`, or `sshPrivateKey` (with optional `knownHosts`).
    async fn credentials(&self, secret: &str) -> Result<source::Credentials> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.cfg.namespace);
        let s = api
            .get(secret)
            .await
            .map_err(|e| Error::kube(format!("reading the git credentials Secret {secret}"), e))?;
        let get = |k: &str| {
            s.data
                .as_ref()
                .and_then(|d| d.get(k))
                .map(|b| {
                    String::from_utf8_lossy(&b.0)
                        .trim_end_matches('\n')
                        .to_string()
                })
                .or_else(|| s.string_data.as_ref().and_then(|d| d.get(k)).cloned())
        };
        if let Some(t) = get("token") {
            return Ok(source::Credentials::Token(t));
        }
        if let (Some(username), Some(password)) = (get("username"), get("password")) {
            return Ok(source::Credentials::Basic { username, password });
        }
        if let Some(private_key) = get("sshPrivateKey") {
            return Ok(source::Credentials::SshKey {
                private_key,
                known_hosts: get("knownHosts"),
            });
        }
        Err(Error::Invalid(format!(
            "Secret {secret} has none of the keys token, username+password, sshPrivateKey"
        )))
    }

    /// Requeue every Application and EnvironmentSet using a repository.
    pub(crate) fn requeue_repo_users(&self, url: &str) {
        let norm = normalize_repo_url(url);
        for name in self.index.apps_of_repo(&norm) {
            let lane = self.lane_of(&Key::App(name.clone()));
            self.queue.add(Key::App(name), lane);
        }
        for s in self.sets.state() {
            if s.spec
                .services
                .iter()
                .any(|x| normalize_repo_url(&x.source.repo_url) == norm)
            {
                let name = s.metadata.name.clone().unwrap_or_default();
                self.queue
                    .add(Key::Set(name.clone()), format!("set/{name}"));
                // A ref that moved or went away may end an environment (deleted, merged): the
                // same check a branch-delete webhook runs.
                self.queue.add(Key::Cleanup(name), "cleanup".into());
            }
        }
    }

    /// A verified webhook: fetch every repository in use that it names; a branch deletion also
    /// runs the cleanup check of the EnvironmentSets using the repository.
    pub async fn on_change(&self, change: Change) {
        let known: Vec<(String, String, Option<String>)> = {
            let urls = self.repo_urls.lock().expect("repo lock");
            urls.iter()
                .filter(|(norm, _)| change.concerns(norm))
                .map(|(n, (u, s))| (n.clone(), u.clone(), s.clone()))
                .collect()
        };
        for (norm, url, secret) in known {
            let secret = secret.map(|name| crate::types::SecretRef { name });
            let _ = self.fetch_repo(&url, secret.as_ref()).await;
            // A deleted branch, or a push that may merge one (to any branch: the default branch
            // of each set decides), runs the cleanup check of the sets using the repository.
            {
                for s in self.sets.state() {
                    if s.spec
                        .services
                        .iter()
                        .any(|x| normalize_repo_url(&x.source.repo_url) == norm)
                    {
                        let name = s.metadata.name.clone().unwrap_or_default();
                        self.queue.add(Key::Cleanup(name), "cleanup".into());
                    }
                }
            }
        }
    }

    async fn poll_loop(self: Arc<Self>) {
        loop {
            let jitter = {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                // ±10 %, from the clock's low bits (no RNG needed for spreading replicas).
                let span = self.cfg.poll_interval.as_millis() as f64 * 0.2;
                (f64::from(nanos % 10_000) / 10_000.0 - 0.5) * span
            };
            let wait = self.cfg.poll_interval.as_millis() as f64 + jitter;
            tokio::time::sleep(Duration::from_millis(wait.max(100.0) as u64)).await;
            let repos: Vec<(String, Option<String>)> = {
                let urls = self.repo_urls.lock().expect("repo lock");
                urls.values().cloned().collect()
            };
            let futs = repos.into_iter().map(|(u, s)| {
                let me = self.clone();
                async move {
                    let s = s.map(|name| crate::types::SecretRef { name });
                    let _ = me.fetch_repo(&u, s.as_ref()).await;
                }
            });
            futures::future::join_all(futs).await;
        }
    }
}

/// The refs of a snapshot, to tell whether a fetch changed anything.
fn refs_of(s: &source::Snapshot) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = s
        .branches
        .iter()
        .map(|b| (b.name.clone(), b.commit.clone()))
        .chain(s.tags.iter().cloned())
        .collect();
    v.sort();
    v
}

/// Run the controller only while this replica holds the Lease `trellis-controller` in the
/// controller's namespace (`kube-lease-manager`); a standby waits, and takes over when the
/// leader's lease expires. Returns when `shutdown` completes or leadership is lost.
pub async fn run_with_leader_election(
    ctl: Arc<Controller>,
    identity: String,
    changes: tokio::sync::mpsc::UnboundedReceiver<Change>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let manager =
        kube_lease_manager::LeaseManagerBuilder::new(ctl.client.clone(), "trellis-controller")
            .with_namespace(ctl.cfg.namespace.clone())
            .with_identity(identity.clone())
            .with_duration(15)
            .with_grace(5)
            .build()
            .await
            .map_err(|e| Error::Invalid(format!("leader election: {e}")))?;
    let (mut leader, task) = manager.watch().await;
    futures::pin_mut!(shutdown);
    tracing::info!(%identity, "waiting to become the leader");
    loop {
        if *leader.borrow_and_update() {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => { drop(leader); let _ = task.await; return Ok(()); }
            r = leader.changed() => if r.is_err() {
                return Err(Error::Invalid("leader election stopped".into()));
            },
        }
    }
    tracing::info!(%identity, "leading");
    let mut lost = leader.clone();
    let lost_fut = async move {
        loop {
            if lost.changed().await.is_err() || !*lost.borrow() {
                return;
            }
        }
    };
    let lost_flag = Arc::new(AtomicBool::new(false));
    let lf = lost_flag.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = lost_fut => { lf.store(true, Ordering::Relaxed); }
        }
    };
    let res = ctl.run(changes, stop).await;
    drop(leader);
    let _ = task.await;
    if lost_flag.load(Ordering::Relaxed) {
        return Err(Error::Invalid("lost the leader lease".into()));
    }
    res
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A JSON merge patch from `before` to `after` for a status whose optional fields are left out
/// when empty: every key `before` has and `after` lacks becomes `null`, so the API server clears
/// it (a merge patch that leaves a key out keeps the old value: a stale "waiting for ..." or
/// health message would stay forever). Arrays are replaced whole by a merge patch anyway.
pub(crate) fn clearing_patch(
    before: &serde_json::Value,
    after: serde_json::Value,
) -> serde_json::Value {
    use serde_json::Value;
    match (before, after) {
        (Value::Object(b), Value::Object(mut a)) => {
            for (k, bv) in b {
                match a.remove(k) {
                    None => {
                        a.insert(k.clone(), Value::Null);
                    }
                    Some(av) => {
                        a.insert(k.clone(), clearing_patch(bv, av));
                    }
                }
            }
            Value::Object(a)
        }
        (_, a) => a,
    }
}

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    sync::state::now_rfc3339()
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-12-07T04:18:28Z`, optional fraction).
pub(crate) fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Whether every field of `desired` is present with the same value in `have` (extra fields in
/// `have`, such as defaults the API server filled in, are ignored).
pub(crate) fn json_subset(desired: &serde_json::Value, have: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (desired, have) {
        (Value::Object(d), Value::Object(h)) => d.iter().all(|(k, v)| match h.get(k) {
            Some(hv) => json_subset(v, hv),
            None => v.is_null() || v.as_array().is_some_and(Vec::is_empty),
        }),
        (Value::Array(d), Value::Array(h)) => {
            d.len() == h.len() && d.iter().zip(h).all(|(a, b)| json_subset(a, b))
        }
        (d, h) => d == h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_reconcile_acts_on_requeues_an_application() {
        let app: Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "trellis.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "trellis", "generation": 1,
                         "annotations": {"a": "1"}},
            "spec": {"source": {"repoURL": "file:///r.git", "path": "charts"},
                     "destination": {"namespace": "env-a"}}
        }))
        .expect("an Application");
        let print = beyond_status(&app);
        let mut status_only = app.clone();
        status_only.status = Some(
            serde_json::from_value(
                serde_json::json!({"health": {"status": "Healthy"}, "reconciledAt": "now"}),
            )
            .expect("a status"),
        );
        status_only.metadata.resource_version = Some("99".into());
        assert_eq!(beyond_status(&status_only), print, "a status write alone");

        let mut asked = app.clone();
        asked
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(crate::app::SYNC_REQUEST.into(), "now".into());
        assert_ne!(beyond_status(&asked), print, "a sync request");
        let mut edited = app.clone();
        edited.spec.source.path = "charts/other".into();
        assert_ne!(
            beyond_status(&edited),
            print,
            "a spec edit, generation or not"
        );
        let mut deleting = app.clone();
        deleting.metadata = serde_json::from_value(serde_json::json!({
            "name": "web", "namespace": "trellis", "generation": 1, "annotations": {"a": "1"},
            "deletionTimestamp": "2026-12-07T00:00:00Z"
        }))
        .expect("metadata");
        assert_ne!(beyond_status(&deleting), print, "deletion");
    }

    #[test]
    fn a_status_patch_clears_what_is_gone() {
        let before = serde_json::json!({"waitingFor": "waiting for postgres: Progressing",
            "health": {"status": "Progressing", "message": "1 of 2 replicas"}, "conditions": [1]});
        let after = serde_json::json!({"health": {"status": "Healthy"}});
        assert_eq!(
            clearing_patch(&before, after),
            serde_json::json!({"waitingFor": null, "health": {"status": "Healthy", "message": null},
                               "conditions": null})
        );
    }

    #[test]
    fn rfc3339_round_trips() {
        for t in [0u64, 951_782_400, 1_798_369_385, 1_765_081_108] {
            let s = sync::state::rfc3339(t);
            assert_eq!(parse_rfc3339(&s), Some(t), "{s}");
        }
        assert_eq!(
            parse_rfc3339("2026-12-07T04:18:28.123Z"),
            parse_rfc3339("2026-12-07T04:18:28Z")
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }
}
