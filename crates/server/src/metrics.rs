//! `GET /metrics`: the Prometheus metrics (OpenMetrics text), unauthenticated as is usual for a
//! scrape endpoint; they carry no secrets and no per-object labels.
//!
//! The controller's families ([`controller::metrics::Metrics`]) are registered as they are; the
//! server adds, computed at each scrape from what it already holds:
//! - `trellis_webhooks_total{provider,result}`;
//! - `trellis_app_info{name,environment,project,sync_status,health_status}` (1 per Application:
//!   one series per Application, bounded by the number of Applications, as Argo CD's
//!   `argocd_app_info`);
//! - `trellis_environments{phase}`;
//! - `trellis_applications` (how many Applications the API knows).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::api::model::Model;
use crate::state::WebhookCounts;

/// What the server computes at each scrape.
#[derive(Debug)]
struct ServerCollector {
    webhooks: WebhookCounts,
    model: Option<Arc<Model>>,
}

const PHASES: [&str; 4] = ["Creating", "Ready", "Degraded", "Deleting"];

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let mut m = encoder.encode_descriptor(
                "trellis_webhooks",
                "Webhook requests by provider and result",
                None,
                MetricType::Counter,
            )?;
            for (provider, result, n) in self.webhooks.snapshot() {
                let labels = [("provider", provider), ("result", result)];
                ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
            }
        }
        let Some(model) = &self.model else {
            return Ok(());
        };
        {
            let mut m = encoder.encode_descriptor(
                "trellis_app_info",
                "One series per Application with its sync and health status (always 1)",
                None,
                MetricType::Gauge,
            )?;
            let mut res = Ok(());
            model.for_each_app(|a| {
                if res.is_err() {
                    return;
                }
                let labels = [
                    ("name", a.name.as_str()),
                    ("environment", a.environment.as_str()),
                    ("project", a.project.as_str()),
                    ("sync_status", a.sync_status.as_str()),
                    ("health_status", a.health_status.as_str()),
                ];
                res = m
                    .encode_family(&labels)
                    .and_then(|e| ConstGauge::new(1i64).encode(e));
            });
            res?;
        }
        {
            let mut counts = [0i64; PHASES.len()];
            for e in model.environments() {
                if let Some(i) = PHASES.iter().position(|p| *p == e.phase) {
                    counts[i] += 1;
                }
            }
            let mut m = encoder.encode_descriptor(
                "trellis_environments",
                "Environments by phase",
                None,
                MetricType::Gauge,
            )?;
            for (phase, n) in PHASES.iter().zip(counts) {
                ConstGauge::new(n).encode(m.encode_family(&[("phase", *phase)])?)?;
            }
        }
        {
            let (apps, _) = model.counts();
            let m = encoder.encode_descriptor(
                "trellis_applications",
                "Applications the API knows",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(apps).unwrap_or(i64::MAX)).encode(m)?;
        }
        Ok(())
    }
}

/// The registry `/metrics` encodes.
#[derive(Clone, Debug)]
pub struct MetricsState(Arc<Registry>);

impl MetricsState {
    /// The controller's families (when this process runs one), the webhook counts, and the
    /// per-application and per-environment gauges from `model` (when the API runs).
    pub fn new(
        controller: Option<&controller::metrics::Metrics>,
        webhooks: WebhookCounts,
        model: Option<Arc<Model>>,
    ) -> MetricsState {
        let mut registry = Registry::default();
        if let Some(m) = controller {
            m.register(&mut registry);
        }
        registry.register_collector(Box::new(ServerCollector { webhooks, model }));
        MetricsState(Arc::new(registry))
    }

    /// The metrics as OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.0)?;
        Ok(out)
    }
}

/// `GET /metrics`.
pub fn routes(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<MetricsState>) -> Response {
    match state.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed",
        )
            .into_response(),
    }
}
