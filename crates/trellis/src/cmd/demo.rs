//! `trellis demo`: the whole chain on the embedded default, with no cluster needed.
//!
//! Starts the local API server in-process, renders the sample `hello` service chart (a
//! Deployment, Service, ConfigMap and a pre-install database-seed Job hook), syncs it with the
//! sync engine (hook first, then the resources in kind order), waits until it is Healthy, and
//! prints the live objects. With `--serve` the cluster keeps running so you can look at it with
//! kubectl until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::deploy::{self, Source};

/// The sample chart shipped in the repository.
const SAMPLE_CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello/charts");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Chart (or directory of manifests) to deploy; the sample `hello` service by default.
    #[arg(long, default_value = SAMPLE_CHART)]
    pub chart: PathBuf,
    /// Application (release) name.
    #[arg(long, default_value = "hello")]
    pub name: String,
    /// Namespace to deploy into (created if missing).
    #[arg(short, long, default_value = "demo")]
    pub namespace: String,
    /// Keep the local API server running after the deploy, until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Address of the local API server (a free loopback port by default).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

pub fn run(args: Args) -> ExitCode {
    match deploy::runtime().and_then(|rt| rt.block_on(demo(args))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn demo(args: Args) -> Result<ExitCode> {
    let cluster = devcluster::DevCluster::builder()
        .listen(args.listen)
        .start()
        .await
        .context("starting the local API server")?;
    let kubeconfig = cluster.kubeconfig_path().to_path_buf();
    println!("local API server: {}", cluster.url());
    println!("kubeconfig:       {}", kubeconfig.display());
    println!("deploying {} from {}", args.name, args.chart.display());

    let deploy_args = deploy::Args {
        source: Source {
            name: args.name.clone(),
            chart: args.chart.clone(),
            namespace: args.namespace.clone(),
            values: Vec::new(),
            set: Vec::new(),
            kubeconfig: Some(kubeconfig.clone()),
            sync_options: Vec::new(),
            health_checks: None,
            state_dir: None,
            ignore_differences: Vec::new(),
        },
        prune: true,
        create_namespace: true,
        timeout: "2m".into(),
        retry: 0,
        revision: "demo".into(),
    };
    let code = deploy::deploy(deploy_args).await?;

    println!("\nlive objects in namespace {}:", args.namespace);
    for line in live_summary(&cluster.client(), &args.namespace).await? {
        println!("  {line}");
    }
    if args.serve {
        println!(
            "\nthe local API server keeps running; try:\n  kubectl --kubeconfig {} get all -n {}\nCtrl-C to stop.",
            kubeconfig.display(),
            args.namespace
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    Ok(code)
}

/// One line per workload-ish object in the namespace, read back from the API server.
async fn live_summary(client: &kube::Client, ns: &str) -> Result<Vec<String>> {
    use kube::api::{Api, DynamicObject, ListParams};
    use kube::discovery::ApiResource;
    let kinds = [
        ("", "v1", "ConfigMap", "configmaps"),
        ("", "v1", "Service", "services"),
        ("apps", "v1", "Deployment", "deployments"),
        ("batch", "v1", "Job", "jobs"),
        ("", "v1", "Pod", "pods"),
    ];
    let mut out = Vec::new();
    for (group, version, kind, plural) in kinds {
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: if group.is_empty() {
                version.into()
            } else {
                format!("{group}/{version}")
            },
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        for o in api.list(&ListParams::default()).await?.items {
            let name = o.metadata.name.clone().unwrap_or_default();
            let status = &o.data["status"];
            let detail = match kind {
                "Deployment" => format!(
                    "ready {}/{}",
                    status["readyReplicas"].as_i64().unwrap_or(0),
                    status["replicas"].as_i64().unwrap_or(0)
                ),
                "Pod" => status["phase"].as_str().unwrap_or("Pending").to_string(),
                "Job" => format!("succeeded {}", status["succeeded"].as_i64().unwrap_or(0)),
                "Service" => format!(
                    "clusterIP {}",
                    o.data["spec"]["clusterIP"].as_str().unwrap_or("-")
                ),
                _ => String::new(),
            };
            out.push(format!("{kind}/{name} {detail}"));
        }
    }
    Ok(out)
}
