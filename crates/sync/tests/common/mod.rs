//! Test harness: a cluster to sync into (the in-process local API server, or a real one named by
//! `TRELLIS_REAL_KUBECONFIG`), a client that records the order of write requests, and helpers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use serde_json::{Value, json};
use sync::cache::ClusterCache;
use sync::cluster::Cluster;
use sync::engine::{App, Engine, SyncOptions};
use sync::lua::CustomHealth;
use sync::object::Manifest;
use sync::state::StateStore;

/// Records `METHOD path` of every mutating, non-dry-run request, in the order they are sent.
#[derive(Clone, Default)]
pub struct Writes(pub Arc<Mutex<Vec<String>>>);

impl Writes {
    pub fn list(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
    pub fn clear(&self) {
        self.0.lock().expect("lock").clear();
    }
    /// Index of the first write whose path ends with `suffix` (e.g. `configmaps/a`).
    pub fn position(&self, suffix: &str) -> Option<usize> {
        self.list()
            .iter()
            .position(|w| w.split('?').next().is_some_and(|p| p.ends_with(suffix)))
    }
    /// Writes other than the engine's own state bookkeeping.
    pub fn object_writes(&self) -> Vec<String> {
        self.list()
            .into_iter()
            .filter(|w| !w.contains("/configmaps/trellis-app-"))
            .collect()
    }
}

#[derive(Clone)]
pub struct RecordLayer(pub Writes);

impl<S> tower::Layer<S> for RecordLayer {
    type Service = RecordService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordService {
            inner,
            writes: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RecordService<S> {
    inner: S,
    writes: Writes,
}

impl<S, B> tower::Service<http::Request<B>> for RecordService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let q = req.uri().query().unwrap_or_default();
        if req.method() != http::Method::GET && !q.contains("dryRun") {
            self.writes.0.lock().expect("lock").push(format!(
                "{} {}",
                req.method(),
                req.uri().path()
            ));
        }
        self.inner.call(req)
    }
}

/// A cluster for one test.
pub struct TestCluster {
    pub kubeconfig: PathBuf,
    _dev: Option<Box<dyn std::any::Any + Send>>,
}

/// The environment variable naming the kubeconfig of a real cluster to run the scenarios against.
pub const REAL_KUBECONFIG: &str = "TRELLIS_REAL_KUBECONFIG";

/// The cluster to test against, or `None` (with a message saying why the test is skipped).
///
/// With `TRELLIS_REAL_KUBECONFIG=<kubeconfig>` every scenario runs against that cluster (each in
/// its own namespace, deleted afterwards); otherwise against the in-process local API server, and
/// the test says that the real-cluster run was skipped (visible with `--nocapture`).
pub async fn cluster(test: &str) -> Option<TestCluster> {
    match std::env::var(REAL_KUBECONFIG) {
        Ok(k) if !k.is_empty() => {
            let kubeconfig = PathBuf::from(k);
            if !kubeconfig.is_file() {
                panic!(
                    "{test}: {REAL_KUBECONFIG}={} is not a readable kubeconfig",
                    kubeconfig.display()
                );
            }
            eprintln!(
                "{test}: running against the real cluster of {}",
                kubeconfig.display()
            );
            Some(TestCluster {
                kubeconfig,
                _dev: None,
            })
        }
        _ => {
            eprintln!(
                "{test}: real-cluster run SKIPPED ({REAL_KUBECONFIG} is not set); running against the in-process local API server"
            );
            dev_cluster(test).await
        }
    }
}

async fn dev_cluster(test: &str) -> Option<TestCluster> {
    match devcluster::DevCluster::start().await {
        Ok(dc) => Some(TestCluster {
            kubeconfig: dc.kubeconfig_path().to_path_buf(),
            _dev: Some(Box::new(dc)),
        }),
        Err(e) => {
            eprintln!(
                "SKIPPED {test}: the local API server did not start ({e}) and TRELLIS_REAL_KUBECONFIG is not set"
            );
            None
        }
    }
}

impl TestCluster {
    /// A cluster some other process serves (a child process of a test connecting to its parent's).
    pub fn external(kubeconfig: PathBuf) -> TestCluster {
        TestCluster {
            kubeconfig,
            _dev: None,
        }
    }

    /// A counting client whose write requests are recorded.
    pub async fn connect(&self, writes: &Writes) -> Arc<Cluster> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("config");
        let client = kube::client::ClientBuilder::try_from(config)
            .expect("client")
            .with_layer(&RecordLayer(writes.clone()))
            .build();
        Arc::new(Cluster::new(client))
    }

    /// A fresh engine (as a new process would have) keeping state in ConfigMaps.
    pub async fn engine(&self, writes: &Writes) -> Engine {
        let cluster = self.connect(writes).await;
        let cache = Arc::new(ClusterCache::new(cluster.clone()));
        Engine::new(cache, StateStore::ConfigMap(cluster), CustomHealth::empty())
    }

    /// A plain kube client (as kubectl would be).
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("config");
        kube::Client::try_from(config).expect("client")
    }
}

/// A unique namespace name for a test.
pub fn namespace(test: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t-{test}-{}-{}", std::process::id() % 10_000, n % 100_000)
}

/// An application with sensible test options.
pub fn app(name: &str, ns: &str) -> App {
    let options = SyncOptions {
        create_namespace: true,
        timeout: std::time::Duration::from_secs(60),
        ..SyncOptions::default()
    };
    App {
        name: name.into(),
        app_namespace: ns.into(),
        namespace: ns.into(),
        revision: "r1".into(),
        options,
        ignore: vec![],
    }
}

pub fn m(v: Value) -> Manifest {
    Manifest::new(v, "test.yaml").expect("valid manifest")
}

pub fn configmap(name: &str, data: Value, ann: Value) -> Manifest {
    m(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "annotations": ann}, "data": data}),
    )
}

pub fn deployment(name: &str, replicas: i64, ann: Value) -> Manifest {
    m(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": ann},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}}
    }))
}

pub fn job(name: &str, ann: Value, fail: bool) -> Manifest {
    let pod_ann = if fail {
        json!({"devcluster.trellis.dev/fail": "true"})
    } else {
        json!({})
    };
    let cmd = if fail {
        json!(["sh", "-c", "exit 1"])
    } else {
        json!(["true"])
    };
    m(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "annotations": ann},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": pod_ann},
                 "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36", "command": cmd}]}}}
    }))
}

/// GET an object as JSON through the dynamic API.
pub async fn get(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .expect("discovery");
    let api: kube::Api<kube::api::DynamicObject> =
        if caps.scope == kube::discovery::Scope::Namespaced {
            kube::Api::namespaced_with(client.clone(), ns, &ar)
        } else {
            kube::Api::all_with(client.clone(), &ar)
        };
    api.get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
}

/// Delete a test namespace (best effort).
pub async fn cleanup(client: &kube::Client, ns: &str) {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let _ = api.delete(ns, &Default::default()).await;
}

/// Whether an object is gone or being deleted (a real server keeps an object pruned with
/// foreground propagation, marked for deletion, until its dependents are removed).
pub async fn gone(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> bool {
    get(client, api_version, kind, ns, name)
        .await
        .is_none_or(|o| o["metadata"]["deletionTimestamp"].is_string())
}
