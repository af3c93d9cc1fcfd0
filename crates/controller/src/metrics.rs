//! The controller's Prometheus metrics (`prometheus-client`): the families it updates itself as it
//! reconciles, renders, fetches and syncs, and a tower layer that counts the Kubernetes API
//! requests of a `kube::Client`. The server registers them with its own (webhooks, per-application
//! info, environments by phase) and serves `/metrics`. Labels are bounded: nothing is labelled by
//! Kubernetes object; `repo` is one value per repository in use.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// One label.
pub type Label = (&'static str, String);

fn histogram(start: f64, factor: f64, n: u16) -> Histogram {
    Histogram::new(exponential_buckets(start, factor, n))
}

/// The families the controller updates.
#[derive(Debug)]
pub struct Metrics {
    /// `trellis_sync_total{result}`: `succeeded`, `failed`, `error`.
    pub sync_total: Family<[Label; 1], Counter>,
    /// `trellis_reconcile_duration_seconds{kind}`: `application`, `environment`, `set`, `cleanup`.
    pub reconcile_duration: Family<[Label; 1], Histogram>,
    /// `trellis_render_duration_seconds` (cache hits included).
    pub render_duration: Histogram,
    /// `trellis_git_fetch_total{repo,result}`.
    pub git_fetch_total: Family<[Label; 2], Counter>,
    /// `trellis_git_fetch_duration_seconds`.
    pub git_fetch_duration: Histogram,
    /// `trellis_kube_requests_total{verb,code}`.
    pub kube_requests_total: Family<[Label; 2], Counter>,
    /// `trellis_queue_depth`: items waiting or being processed.
    pub queue_depth: Gauge,
    /// `trellis_queue_wait_seconds`: from enqueue to a worker taking the item.
    pub queue_wait: Histogram,
    /// `trellis_environment_ready_seconds`: from the push (the branch's newest commit or sync
    /// request) to the environment being Ready.
    pub environment_ready: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            sync_total: Family::default(),
            reconcile_duration: Family::new_with_constructor(|| histogram(0.001, 2.0, 16)),
            render_duration: histogram(0.0005, 2.0, 16),
            git_fetch_total: Family::default(),
            git_fetch_duration: histogram(0.005, 2.0, 14),
            kube_requests_total: Family::default(),
            queue_depth: Gauge::default(),
            queue_wait: histogram(0.0005, 2.0, 18),
            environment_ready: histogram(0.5, 2.0, 12),
        }
    }
}

impl Metrics {
    /// Register every family in `registry` (names without the `_total` suffix, which the
    /// OpenMetrics encoder adds to counters).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "trellis_sync",
            "Sync operations by result (succeeded, failed, error)",
            self.sync_total.clone(),
        );
        registry.register(
            "trellis_reconcile_duration_seconds",
            "Time of one reconcile, by kind of resource",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "trellis_render_duration_seconds",
            "Time to render an Application's chart (cache hits included)",
            self.render_duration.clone(),
        );
        registry.register(
            "trellis_git_fetch",
            "Git fetches by repository and result (ok, error)",
            self.git_fetch_total.clone(),
        );
        registry.register(
            "trellis_git_fetch_duration_seconds",
            "Time of one git fetch",
            self.git_fetch_duration.clone(),
        );
        registry.register(
            "trellis_kube_requests",
            "Kubernetes API requests by verb and HTTP status code",
            self.kube_requests_total.clone(),
        );
        registry.register(
            "trellis_queue_depth",
            "Work items waiting or being processed",
            self.queue_depth.clone(),
        );
        registry.register(
            "trellis_queue_wait_seconds",
            "Time a work item waited in the queue before a worker took it",
            self.queue_wait.clone(),
        );
        registry.register(
            "trellis_environment_ready_seconds",
            "Time from a branch's push to its environment being Ready",
            self.environment_ready.clone(),
        );
    }

    /// Count one sync operation.
    pub fn sync(&self, result: &str) {
        self.sync_total
            .get_or_create(&[("result", result.to_string())])
            .inc();
    }

    /// Observe one reconcile.
    pub fn reconcile(&self, kind: &str, d: Duration) {
        self.reconcile_duration
            .get_or_create(&[("kind", kind.to_string())])
            .observe(d.as_secs_f64());
    }

    /// Observe one git fetch.
    pub fn git_fetch(&self, repo: &str, ok: bool, d: Duration) {
        self.git_fetch_total
            .get_or_create(&[
                ("repo", repo.to_string()),
                ("result", if ok { "ok" } else { "error" }.to_string()),
            ])
            .inc();
        self.git_fetch_duration.observe(d.as_secs_f64());
    }
}

/// A tower layer counting the requests of a `kube::Client` in
/// `trellis_kube_requests_total{verb,code}` (`code` is the HTTP status, or `error` when no answer
/// came). Add it with `kube::client::ClientBuilder::with_layer`.
#[derive(Clone, Debug)]
pub struct KubeRequestsLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for KubeRequestsLayer {
    type Service = KubeRequests<S>;
    fn layer(&self, inner: S) -> KubeRequests<S> {
        KubeRequests {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// The service of [`KubeRequestsLayer`].
#[derive(Clone, Debug)]
pub struct KubeRequests<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// Kubernetes' verb for an HTTP request (`watch` and `list` told apart by the query).
fn verb_of<B>(req: &http::Request<B>) -> &'static str {
    let query = req.uri().query().unwrap_or("");
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    match *req.method() {
        http::Method::GET if watch => "watch",
        http::Method::GET => {
            // A collection path ends with the plural; an object path with its name. Without the
            // discovery data, tell them apart by the path's shape: /api/v1/<plural>,
            // /api/v1/namespaces/<ns>/<plural>, /apis/<g>/<v>/<plural>, ... have an even or odd
            // segment count depending on the prefix.
            let segs: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
            let base = if segs.first() == Some(&"api") { 2 } else { 3 };
            let rest = segs.len().saturating_sub(base);
            let rest = if segs.get(base) == Some(&"namespaces") && rest >= 3 {
                rest - 2
            } else {
                rest
            };
            if rest == 1 { "list" } else { "get" }
        }
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for KubeRequests<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let verb = verb_of(&req);
        let metrics = self.metrics.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            metrics
                .kube_requests_total
                .get_or_create(&[("verb", verb.to_string()), ("code", code)])
                .inc();
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verb(method: &str, uri: &str) -> &'static str {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .expect("request");
        verb_of(&req)
    }

    #[test]
    fn verbs_follow_the_path_shape() {
        assert_eq!(verb("GET", "/api/v1/namespaces"), "list");
        assert_eq!(verb("GET", "/api/v1/namespaces/x"), "get");
        assert_eq!(verb("GET", "/api/v1/namespaces/x/pods"), "list");
        assert_eq!(verb("GET", "/api/v1/namespaces/x/pods/p"), "get");
        assert_eq!(verb("GET", "/api/v1/namespaces/x/pods/p/log"), "get");
        assert_eq!(verb("GET", "/apis/apps/v1/deployments"), "list");
        assert_eq!(
            verb("GET", "/apis/apps/v1/namespaces/x/deployments/d"),
            "get"
        );
        assert_eq!(
            verb("GET", "/apis/apps/v1/namespaces/x/deployments?watch=true"),
            "watch"
        );
        assert_eq!(
            verb("PATCH", "/apis/apps/v1/namespaces/x/deployments/d"),
            "patch"
        );
        assert_eq!(verb("DELETE", "/api/v1/namespaces/x"), "delete");
    }

    #[test]
    fn encoded_names_are_those_the_dashboard_uses() {
        let m = Metrics::default();
        m.sync("succeeded");
        m.git_fetch("file:///r", true, Duration::from_millis(5));
        let mut reg = Registry::default();
        m.register(&mut reg);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
        assert!(
            out.contains("trellis_sync_total{result=\"succeeded\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("trellis_git_fetch_total{repo=\"file:///r\",result=\"ok\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("trellis_git_fetch_duration_seconds_count 1"),
            "{out}"
        );
        assert!(out.contains("# TYPE trellis_queue_depth gauge"), "{out}");
    }
}
