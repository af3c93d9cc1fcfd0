//! The connection to one Kubernetes API server: building the client from a kubeconfig, counting the
//! requests it makes, resolving kinds to API resources at run time (custom resources included) and
//! the few verbs the engine needs (server-side apply, replace, get, delete), with retries and
//! exponential backoff on transient failures.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy,
    ValidationDirective,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_kind};
use kube::{Client, Config};
use serde_json::Value;

use crate::error::{Error, Result};

/// The field manager Trellis applies with.
pub const FIELD_MANAGER: &str = "trellis";

/// Counts of requests sent to the API server.
#[derive(Debug, Default)]
pub struct RequestStats {
    /// All requests.
    pub total: AtomicU64,
    /// GET requests (gets, lists and watches).
    pub reads: AtomicU64,
    /// Mutating requests that are not dry runs.
    pub writes: AtomicU64,
    /// Dry-run requests.
    pub dry_runs: AtomicU64,
}

impl RequestStats {
    fn record<B>(&self, req: &http::Request<B>) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let dry = req.uri().query().is_some_and(|q| q.contains("dryRun="));
        if req.method() == http::Method::GET {
            self.reads.fetch_add(1, Ordering::Relaxed);
        } else if dry {
            self.dry_runs.fetch_add(1, Ordering::Relaxed);
        } else {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (total, reads, writes, dry runs) now.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.total.load(Ordering::Relaxed),
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
            self.dry_runs.load(Ordering::Relaxed),
        )
    }
}

/// A tower layer that counts requests into [`RequestStats`].
#[derive(Debug, Clone)]
pub struct CountLayer(pub Arc<RequestStats>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CountService {
            inner,
            stats: self.0.clone(),
        }
    }
}

/// The service [`CountLayer`] wraps around the client's stack.
#[derive(Debug, Clone)]
pub struct CountService<S> {
    inner: S,
    stats: Arc<RequestStats>,
}

impl<S, B> tower::Service<http::Request<B>> for CountService<S>
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
        self.stats.record(&req);
        self.inner.call(req)
    }
}

/// How a kind is served.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub ar: ApiResource,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// What to do with dependents when deleting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Propagation {
    /// Delete dependents first (Argo CD's default for pruning).
    #[default]
    Foreground,
    /// Delete the owner now, dependents in the background.
    Background,
    /// Leave dependents.
    Orphan,
}

impl Propagation {
    /// Parse `foreground`, `background`, `orphan` (any case).
    pub fn parse(s: &str) -> Option<Propagation> {
        match s.to_ascii_lowercase().as_str() {
            "foreground" => Some(Propagation::Foreground),
            "background" => Some(Propagation::Background),
            "orphan" => Some(Propagation::Orphan),
            _ => None,
        }
    }
}

/// One kind's discovery answer, computed once even when many applications ask at the same time.
type KindCell = Arc<tokio::sync::OnceCell<Option<Resolved>>>;

/// A connection to one cluster.
pub struct Cluster {
    client: Client,
    kinds: Mutex<HashMap<(String, String), KindCell>>,
    stats: Arc<RequestStats>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Wrap a client (its requests are not counted).
    pub fn new(client: Client) -> Cluster {
        Cluster {
            client,
            kinds: Mutex::new(HashMap::new()),
            stats: Arc::default(),
        }
    }

    /// Connect with a kubeconfig file, or the usual inference (`KUBECONFIG`, `~/.kube/config`,
    /// in-cluster) when `None`; requests are counted.
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Cluster> {
        let cfg_err = |e: String| Error::Transport {
            context: "loading kubeconfig".into(),
            source: Box::new(kube::Error::Service(e.into())),
        };
        let config = match kubeconfig {
            Some(p) => {
                let kc = kube::config::Kubeconfig::read_from(p)
                    .map_err(|e| cfg_err(format!("{}: {e}", p.display())))?;
                Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| cfg_err(format!("{}: {e}", p.display())))?
            }
            None => Config::infer().await.map_err(|e| cfg_err(e.to_string()))?,
        };
        Cluster::from_config(config)
    }

    /// Build from a client configuration, counting requests.
    pub fn from_config(config: Config) -> Result<Cluster> {
        let stats = Arc::new(RequestStats::default());
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| Error::kube("building the client", e))?
            .with_layer(&CountLayer(stats.clone()))
            .build();
        Ok(Cluster {
            client,
            kinds: Mutex::new(HashMap::new()),
            stats,
        })
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Request counters.
    pub fn stats(&self) -> &Arc<RequestStats> {
        &self.stats
    }

    /// Resolve `apiVersion` + `kind` to the served resource; `None` when the server does not serve it.
    /// Answers are cached; call [`Cluster::forget_missing_kinds`] after installing CRDs.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<Option<Resolved>> {
        let cell = self
            .kinds
            .lock()
            .expect("kind cache lock poisoned")
            .entry((api_version.to_string(), kind.to_string()))
            .or_default()
            .clone();
        // Concurrent callers of one kind share a single discovery request; a failure leaves the
        // cell empty so that the next caller tries again.
        let resolved = cell
            .get_or_try_init(|| async {
                let (group, version) = match api_version.rsplit_once('/') {
                    Some((g, v)) => (g, v),
                    None => ("", api_version),
                };
                let gvk = GroupVersionKind::gvk(group, version, kind);
                match retry(|| pinned_kind(&self.client, &gvk)).await {
                    Ok((ar, caps)) => Ok(Some(Resolved {
                        ar,
                        namespaced: caps.scope == Scope::Namespaced,
                    })),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                    Err(kube::Error::Discovery(_)) => Ok(None),
                    Err(e) => Err(Error::kube(format!("discovering {api_version} {kind}"), e)),
                }
            })
            .await?;
        Ok(resolved.clone())
    }

    /// Drop cached "not served" answers (after CRDs were established).
    pub fn forget_missing_kinds(&self) {
        self.kinds
            .lock()
            .expect("kind cache lock poisoned")
            .retain(|_, v| !matches!(v.get(), Some(None)));
    }

    /// The dynamic API for a resource in a namespace (ignored for cluster-scoped kinds).
    pub fn api(&self, res: &Resolved, namespace: &str) -> Api<DynamicObject> {
        if res.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &res.ar)
        } else {
            Api::all_with(self.client.clone(), &res.ar)
        }
    }

    /// Server-side apply `obj` as [`FIELD_MANAGER`]; returns the object the server answered with.
    pub async fn apply(
        &self,
        res: &Resolved,
        obj: &Value,
        force: bool,
        dry_run: bool,
        validate: bool,
    ) -> Result<Value> {
        let (ns, name) = ns_name(obj);
        let api = self.api(res, &ns);
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        pp.force = force;
        pp.dry_run = dry_run;
        pp.field_validation = Some(if validate {
            ValidationDirective::Strict
        } else {
            ValidationDirective::Ignore
        });
        let patch = Patch::Apply(obj);
        let out = retry(|| api.patch(&name, &pp, &patch)).await.map_err(|e| {
            Error::kube(
                format!(
                    "{} {}{}",
                    if dry_run {
                        "dry-run applying"
                    } else {
                        "applying"
                    },
                    res.ar.kind,
                    display_name(&ns, &name)
                ),
                e,
            )
        })?;
        Ok(to_value(out, &res.ar))
    }

    /// Replace (PUT) `obj`, creating it when absent.
    pub async fn replace(&self, res: &Resolved, obj: &Value) -> Result<Value> {
        let (ns, name) = ns_name(obj);
        let api = self.api(res, &ns);
        let ctx = || format!("replacing {}{}", res.ar.kind, display_name(&ns, &name));
        let pp = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        let mut body: DynamicObject =
            serde_json::from_value(obj.clone()).map_err(|e| Error::InvalidManifest {
                source_path: ctx(),
                message: e.to_string(),
            })?;
        for _ in 0..5 {
            match retry(|| api.get_opt(&name))
                .await
                .map_err(|e| Error::kube(ctx(), e))?
            {
                None => match api.create(&pp, &body).await {
                    Ok(o) => return Ok(to_value(o, &res.ar)),
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(e) => return Err(Error::kube(ctx(), e)),
                },
                Some(live) => {
                    body.metadata.resource_version = live.metadata.resource_version.clone();
                    match api.replace(&name, &pp, &body).await {
                        Ok(o) => return Ok(to_value(o, &res.ar)),
                        Err(kube::Error::Api(s)) if s.code == 409 => continue,
                        Err(e) => return Err(Error::kube(ctx(), e)),
                    }
                }
            }
        }
        Err(Error::Api {
            context: ctx(),
            message: "kept conflicting with concurrent writers".into(),
            reason: "Conflict".into(),
            code: 409,
        })
    }

    /// Get an object; `None` when absent.
    pub async fn get(&self, res: &Resolved, namespace: &str, name: &str) -> Result<Option<Value>> {
        let api = self.api(res, namespace);
        let out = retry(|| api.get_opt(name)).await.map_err(|e| {
            Error::kube(
                format!("reading {}{}", res.ar.kind, display_name(namespace, name)),
                e,
            )
        })?;
        Ok(out.map(|o| to_value(o, &res.ar)))
    }

    /// Delete an object; `false` when it was already gone.
    pub async fn delete(
        &self,
        res: &Resolved,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) -> Result<bool> {
        let api = self.api(res, namespace);
        let dp = DeleteParams {
            propagation_policy: Some(match propagation {
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            ..DeleteParams::default()
        };
        match retry(|| api.delete(name, &dp)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(Error::kube(
                format!("deleting {}{}", res.ar.kind, display_name(namespace, name)),
                e,
            )),
        }
    }
}

fn display_name(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!(" {name}")
    } else {
        format!(" {ns}/{name}")
    }
}

fn ns_name(obj: &Value) -> (String, String) {
    let meta = obj.get("metadata");
    let s = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("namespace"), s("name"))
}

/// A dynamic object as JSON, with `apiVersion`/`kind` filled in (list items often lack them).
pub fn to_value(obj: DynamicObject, ar: &ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
        o.insert("kind".into(), Value::String(ar.kind.clone()));
    }
    v
}

/// Whether a failed request may succeed when sent again (throttling, 5xx, connection errors).
pub(crate) fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Run a request, retrying transient failures (429, 5xx, connection errors) up to 4 times with
/// exponential backoff from 100 ms.
pub async fn retry<T, F, Fut>(mut f: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        match f().await {
            Err(e) if transient(&e) && attempt < 4 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "transient API error, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}
