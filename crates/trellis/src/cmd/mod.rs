//! One module per subcommand, and what several share.

pub mod app;
pub mod client;
pub mod crds;
pub mod demo;
pub mod deploy;
pub mod dev_cluster;
pub mod diff;
pub mod env;
pub mod health;
pub mod import;
pub mod login;
pub mod progress;
pub mod repo_chart;
pub mod serve;
pub mod template;
pub mod watch;

use std::path::Path;

use anyhow::{Context, Result};

/// An error and its causes, each said once: a cause whose text the previous message already
/// contains (libraries often repeat their source in their own message) is not printed again.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The text of a file named on the command line, `-` meaning standard input.
pub fn read_input(name: &str) -> Result<String> {
    if name == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(name).with_context(|| format!("reading {name}"))
}

/// A Kubernetes client from a kubeconfig file, or the usual inference (in-cluster service
/// account, `$KUBECONFIG`, `~/.kube/config`).
pub async fn kube_client(kubeconfig: Option<&Path>) -> Result<kube::Client> {
    kube::Client::try_from(kube_config(kubeconfig).await?).context("building the Kubernetes client")
}

/// A Kubernetes client like [`kube_client`] whose requests are counted in `metrics`
/// (`trellis_kube_requests_total{verb,code}`).
pub async fn counted_kube_client(
    kubeconfig: Option<&Path>,
    metrics: &std::sync::Arc<controller::metrics::Metrics>,
) -> Result<kube::Client> {
    let config = kube_config(kubeconfig).await?;
    let builder =
        kube::client::ClientBuilder::try_from(config).context("building the Kubernetes client")?;
    Ok(builder
        .with_layer(&controller::metrics::KubeRequestsLayer(metrics.clone()))
        .build())
}

async fn kube_config(kubeconfig: Option<&Path>) -> Result<kube::Config> {
    let config = match kubeconfig {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .with_context(|| format!("reading kubeconfig {}", p.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("kubeconfig {}", p.display()))?
        }
        None => kube::Config::infer().await.context(
            "no kubeconfig given and none found (in-cluster, $KUBECONFIG, ~/.kube/config)",
        )?,
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let inner = anyhow::anyhow!("connection refused");
        let e = inner
            .context("ServiceError: connection refused")
            .context("loading kubeconfig");
        assert_eq!(
            error_chain(&e),
            "loading kubeconfig: ServiceError: connection refused"
        );
    }
}
