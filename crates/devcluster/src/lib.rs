//! # devcluster
//!
//! A local Kubernetes API server that kubectl, Helm and `kube` accept: discovery,
//! OpenAPI, CRUD, watch, patch (including server-side apply), garbage collection and a
//! workload simulator. Depends on no other Trellis crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), devcluster::Error> {
//! let cluster = devcluster::DevCluster::start().await?;
//! let client = cluster.client();
//! println!("KUBECONFIG={}", cluster.kubeconfig_path().display());
//! # let _ = client; Ok(()) }
//! ```
//!
//! Modules: `store` (objects, resourceVersions, events, persistence), `registry` (served
//! kinds), `discovery`, `openapi`, `api` (verbs), `patch` and `ssa` (patch flavours and
//! managedFields), `controllers` (defaulting, GC, namespaces, workload simulator), `http`
//! (routing, list, watch), `tables` (kubectl's columns), `introspect` (pod logs, access
//! reviews), `proto` (protobuf for built-in kinds), `events`, `faults`, `tls` (certificates,
//! kubeconfig).

pub mod admission;
pub mod api;
pub mod controllers;
pub mod cron;
pub mod cronjobs;
pub mod discovery;
pub mod error;
pub mod events;
pub mod faults;
pub mod http;
pub mod introspect;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod proto;
pub mod quantity;
pub mod registry;
pub mod selectors;
pub mod ssa;
pub mod store;
pub mod tables;
pub mod tls;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use error::{ApiError, Error, Result};
use registry::{Registry, ResKey};
use store::Store;

/// Tunables of a cluster.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a Pod stays Pending before it runs and becomes Ready.
    pub pod_ready_delay: Duration,
    /// Interval of watch bookmarks (when the client allows them).
    pub bookmark_interval_secs: u64,
    /// Watch events retained for resumption; older resourceVersions get 410 Gone.
    pub history: usize,
    /// Faults to inject into API requests (none by default).
    pub faults: Option<faults::FaultSpec>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pod_ready_delay: Duration::from_millis(200),
            bookmark_interval_secs: 15,
            history: 50_000,
            faults: None,
        }
    }
}

/// Shared state of a running cluster.
pub struct State {
    pub store: Store,
    pub registry: Registry,
    pub token: Option<String>,
    pub config: Config,
    pub server_address: String,
    /// The fault injector, when the cluster was started with faults.
    pub faults: Option<faults::Faults>,
    pub(crate) kick: Notify,
    pub(crate) shutdown: AtomicBool,
    pub(crate) shutdown_tx: watch::Sender<bool>,
    pub(crate) foreground: Mutex<HashSet<(ResKey, String, String)>>,
    pub(crate) events: events::Recorder,
    ip_counter: AtomicU32,
    node_port: AtomicU32,
    births: Mutex<HashMap<String, Instant>>,
    /// Held from a quota check until the object is written (see [`admission`]).
    pub(crate) quota_lock: Mutex<()>,
    /// The CA the `kube-root-ca.crt` ConfigMaps publish.
    pub(crate) root_ca: std::sync::OnceLock<String>,
    /// Owners whose Pod creation was refused: (failures, not before).
    pub(crate) create_backoff: Mutex<HashMap<String, (u32, Instant)>>,
    /// How far the controllers' clock runs ahead of the wall clock (see
    /// [`DevCluster::advance_clock`]).
    clock_skew_ms: std::sync::atomic::AtomicI64,
    /// Per CronJob, the occurrences its controller already reported (one event per missed or
    /// refused schedule time, not one per pass).
    pub(crate) cron_noted: Mutex<HashMap<String, HashSet<String>>>,
}

impl State {
    fn new(store: Store, token: Option<String>, config: Config, server_address: String) -> Self {
        let (shutdown_tx, _) = watch::channel(false);
        State {
            store,
            registry: Registry::with_builtins(),
            token,
            faults: config.faults.clone().map(faults::Faults::new),
            config,
            server_address,
            kick: Notify::new(),
            shutdown: AtomicBool::new(false),
            shutdown_tx,
            foreground: Mutex::new(HashSet::new()),
            events: events::Recorder::default(),
            ip_counter: AtomicU32::new(10),
            node_port: AtomicU32::new(0),
            births: Mutex::new(HashMap::new()),
            quota_lock: Mutex::new(()),
            root_ca: std::sync::OnceLock::new(),
            create_backoff: Mutex::new(HashMap::new()),
            clock_skew_ms: std::sync::atomic::AtomicI64::new(0),
            cron_noted: Mutex::new(HashMap::new()),
        }
    }

    /// The time as the scheduling controllers (CronJobs) see it: the wall clock plus whatever
    /// [`DevCluster::advance_clock`] added.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            + chrono::Duration::milliseconds(self.clock_skew_ms.load(Ordering::Relaxed))
    }

    /// Next address in a /16 (`10.96` for services, `10.244` for pods).
    pub(crate) fn alloc_ip(&self, prefix: &str) -> String {
        let n = self.ip_counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}.{}.{}", (n / 250) % 250, n % 250 + 1)
    }

    pub(crate) fn alloc_node_port(&self) -> i64 {
        30000 + i64::from(self.node_port.fetch_add(1, Ordering::Relaxed) % 2768)
    }

    /// When a pod was first seen (pods from a previous run count from their creationTimestamp).
    pub(crate) fn pod_birth(&self, uid: &str, created: &str) -> Instant {
        let mut b = self.births.lock().expect("births lock poisoned");
        if b.len() > 100_000 {
            b.clear();
        }
        *b.entry(uid.to_string()).or_insert_with(|| {
            let age = chrono::DateTime::parse_from_rfc3339(created)
                .ok()
                .and_then(|t| {
                    (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                        .to_std()
                        .ok()
                })
                .unwrap_or_default();
            if age > Duration::from_secs(2) {
                Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
            } else {
                Instant::now()
            }
        })
    }
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct Builder {
    listen: SocketAddr,
    insecure_http: bool,
    data_dir: Option<PathBuf>,
    kubeconfig_out: Option<PathBuf>,
    config: Config,
    token: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            insecure_http: false,
            data_dir: None,
            kubeconfig_out: None,
            config: Config::default(),
            token: None,
        }
    }
}

impl Builder {
    /// Listen address (default `127.0.0.1:0`, a free loopback port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// Serve plain HTTP without authentication instead of HTTPS with a token.
    pub fn insecure_http(mut self, yes: bool) -> Self {
        self.insecure_http = yes;
        self
    }
    /// Persist state under this directory and reload it on start.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    /// Write the kubeconfig here (default: a temporary file removed on drop).
    pub fn kubeconfig_out(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig_out = Some(path.into());
        self
    }
    /// How long Pods stay Pending before becoming Running and Ready.
    pub fn pod_ready_delay(mut self, d: Duration) -> Self {
        self.config.pod_ready_delay = d;
        self
    }
    /// How many watch events are kept for resumption.
    pub fn watch_history(mut self, n: usize) -> Self {
        self.config.history = n;
        self
    }
    /// Bookmark interval for watches that allow bookmarks.
    pub fn bookmark_interval(mut self, secs: u64) -> Self {
        self.config.bookmark_interval_secs = secs;
        self
    }
    /// Inject these faults into API requests (see [`faults`]): errors, conflicts, latency,
    /// dropped watches and expired resourceVersions, reproducibly from the spec's seed.
    pub fn faults(mut self, spec: faults::FaultSpec) -> Self {
        self.config.faults = Some(spec);
        self
    }
    /// Use this bearer token instead of a random one.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Start serving.
    pub async fn start(self) -> Result<DevCluster> {
        let store = match &self.data_dir {
            Some(d) => Store::open(d, self.config.history)?,
            None => Store::new(self.config.history),
        };
        // A persisted cluster on a free port takes the port it had, when it is still free, so
        // a kubeconfig written before a restart still points at it.
        let kept_port = self
            .data_dir
            .as_ref()
            .filter(|_| self.listen.port() == 0)
            .and_then(|d| std::fs::read_to_string(d.join("port")).ok())
            .and_then(|p| p.trim().parse::<u16>().ok());
        let listener = match kept_port {
            Some(port) => match TcpListener::bind(SocketAddr::new(self.listen.ip(), port)).await {
                Ok(l) => l,
                Err(_) => TcpListener::bind(self.listen).await?,
            },
            None => TcpListener::bind(self.listen).await?,
        };
        let addr = listener.local_addr()?;
        if let Some(d) = &self.data_dir {
            std::fs::write(d.join("port"), addr.port().to_string())?;
        }
        let tls = if self.insecure_http {
            None
        } else {
            let host = addr.ip().to_string();
            Some(match &self.data_dir {
                Some(d) => tls::load_or_generate(&d.join("tls"), Some(&host))?,
                None => tls::generate(Some(&host))?,
            })
        };
        // The token is kept in the data dir too (unless one is given).
        let kept_token = self
            .data_dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("token")).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let token = if self.insecure_http {
            self.token.clone()
        } else {
            let t = self
                .token
                .clone()
                .or(kept_token)
                .unwrap_or_else(tls::random_token);
            if let Some(d) = &self.data_dir {
                write_private(&d.join("token"), &t)?;
            }
            Some(t)
        };
        let scheme = if self.insecure_http { "http" } else { "https" };
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let url = format!("{scheme}://{host}:{}", addr.port());
        let state = Arc::new(State::new(
            store,
            token.clone(),
            self.config.clone(),
            format!("{host}:{}", addr.port()),
        ));
        // What every namespace's kube-root-ca.crt publishes (a CA exists even over plain HTTP).
        let root_ca = match &tls {
            Some(t) => t.ca_pem.clone(),
            None => tls::generate(None)?.ca_pem,
        };
        let _ = state.root_ca.set(root_ca);
        // Re-register CRDs from persisted state, then seed namespaces and the node.
        if let Some(crd_ri) =
            state
                .registry
                .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        {
            let (_, crds, _) = state.store.list(&crd_ri.key(), None, None, 0, &|_| true);
            for crd in crds {
                if let Ok(infos) = registry::crd_resources(&crd)
                    && let Some(first) = infos.first()
                {
                    let (g, p) = (first.group.clone(), first.plural.clone());
                    state.registry.set_crd(&g, &p, infos);
                }
            }
        }
        controllers::seed(&state);
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let kubeconfig = tls::kubeconfig(&url, ca_pem.as_deref(), token.as_deref());
        let (kubeconfig_path, temp_dir) = match &self.kubeconfig_out {
            Some(p) => {
                if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                (p.clone(), None)
            }
            None => {
                let dir = std::env::temp_dir()
                    .join(format!("devcluster-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir)?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        write_private(&kubeconfig_path, &kubeconfig)?;
        let mut shutdown_rx = state.shutdown_tx.subscribe();
        let app = http::router(state.clone());
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config.clone()));
        let server = tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let _ = tcp.set_nodelay(true);
                        let app = app.clone();
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let svc = hyper_util::service::TowerToHyperService::new(app);
                            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                            match acceptor {
                                Some(acc) => {
                                    if let Ok(stream) = acc.accept(tcp).await {
                                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                                    }
                                }
                                None => {
                                    let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                                }
                            }
                        });
                    }
                    _ = shutdown_rx.changed() => return,
                }
            }
        });
        let ctrl = tokio::spawn(controllers::run(state.clone()));
        let client = make_client(&url, ca_pem.as_deref(), token.as_deref())?;
        Ok(DevCluster {
            url,
            kubeconfig_path,
            temp_dir,
            state,
            client,
            ca_pem,
            tasks: vec![server, ctrl],
        })
    }
}

pub(crate) fn write_private(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn make_client(url: &str, ca_pem: Option<&str>, token: Option<&str>) -> Result<kube::Client> {
    let kubeconfig = tls::kubeconfig(url, ca_pem, token);
    let kc =
        kube::config::Kubeconfig::from_yaml(&kubeconfig).map_err(|e| Error::Kube(e.to_string()))?;
    // Build the Config without blocking on anything: the kubeconfig is fully inline.
    let cfg = futures_util::FutureExt::now_or_never(kube::Config::from_custom_kubeconfig(
        kc,
        &kube::config::KubeConfigOptions::default(),
    ))
    .ok_or_else(|| Error::Kube("kubeconfig loading did not complete synchronously".into()))?
    .map_err(|e| Error::Kube(e.to_string()))?;
    kube::Client::try_from(cfg).map_err(|e| Error::Kube(e.to_string()))
}

/// A running cluster; shuts down when dropped.
pub struct DevCluster {
    url: String,
    kubeconfig_path: PathBuf,
    temp_dir: Option<PathBuf>,
    state: Arc<State>,
    client: kube::Client,
    ca_pem: Option<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl DevCluster {
    /// Start with defaults: HTTPS on a free loopback port, in memory.
    pub async fn start() -> Result<DevCluster> {
        Builder::default().start().await
    }

    /// A builder for other settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A `kube::Client` for this cluster.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The kubeconfig file for kubectl, Helm and other clients.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The server URL (`https://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA certificate (PEM), when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The bearer token, if authentication is on.
    pub fn token(&self) -> Option<&str> {
        self.state.token.as_deref()
    }

    /// How many faults were injected so far (all zero without faults).
    pub fn fault_counts(&self) -> faults::FaultCounts {
        self.state
            .faults
            .as_ref()
            .map(faults::Faults::counts)
            .unwrap_or_default()
    }

    /// The shared state (store, registry), for in-process inspection.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Move the controllers' clock forward (CronJob schedules fire as if that much time had
    /// passed), so tests need not wait for minutes; the API's timestamps stay on the wall clock.
    pub fn advance_clock(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.state.clock_skew_ms.fetch_add(ms, Ordering::Relaxed);
        self.state.kick.notify_one();
    }

    /// Stop serving (also done on drop).
    pub fn shutdown(&self) {
        self.state.shutdown.store(true, Ordering::Relaxed);
        let _ = self.state.shutdown_tx.send(true);
        self.state.kick.notify_one();
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(d) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
