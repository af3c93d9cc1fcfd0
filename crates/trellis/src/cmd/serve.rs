//! `trellis serve`: the controller and its HTTP server. Installs or upgrades the CRDs, serves the
//! webhooks and the health endpoints at once, and runs the controller while this replica holds
//! the leader Lease (several replicas are safe: one reconciles). Stops gracefully on SIGINT or
//! SIGTERM; an interrupted sync resumes on the next start without re-running completed hooks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Flags of `trellis serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kubeconfig of the cluster to manage; without it, the in-cluster service account (or
    /// `$KUBECONFIG`, `~/.kube/config`).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of Trellis' resources (EnvironmentSets, Environments, Applications, the
    /// `trellis-webhook` Secret, git credential Secrets, the leader Lease).
    #[arg(long, short = 'n', default_value = "trellis")]
    pub namespace: String,
    /// Address of the HTTP server: the web UI (`/`), the API (`/api/v1`), `/metrics`, the
    /// webhooks, `/healthz` and `/readyz`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where git mirrors are kept.
    #[arg(long, default_value = "trellis-data")]
    pub data_dir: PathBuf,
    /// Fallback polling of every repository in use (Go duration; jittered).
    #[arg(long, default_value = "3m")]
    pub poll_interval: String,
    /// How often environments are checked for cleanup (Go duration).
    #[arg(long, default_value = "10m")]
    pub cleanup_interval: String,
    /// Concurrent reconciles.
    #[arg(long, default_value_t = 64)]
    pub workers: usize,
    /// Concurrent syncs.
    #[arg(long, default_value_t = 256)]
    pub max_syncs: usize,
    /// Run without the leader Lease (only when a single replica runs).
    #[arg(long)]
    pub no_leader_election: bool,
    /// This replica's name in the leader Lease (default: host name and process id).
    #[arg(long)]
    pub identity: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// API tokens, one `TOKEN ROLE` per line (roles: admin, readonly, project:<name>); tokens
    /// are also read from the Secret `trellis-tokens` in --namespace.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Let requests without a token read (never act) through the API and the UI.
    #[arg(long)]
    pub anonymous_read: bool,
}

pub fn run(args: Args) -> ExitCode {
    if let Err(e) = init_logs(&args.log_format) {
        eprintln!("Error: {e:#}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", super::error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as text or JSON lines.
pub fn init_logs(format: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let res = match format {
        "json" => builder.json().try_init(),
        "text" => builder.try_init(),
        other => bail!("--log-format {other:?}: expected text or json"),
    };
    // A second initialisation (tests, the demo) keeps the first subscriber.
    let _ = res;
    Ok(())
}

fn duration(flag: &str, v: &str) -> Result<Duration> {
    controller::parse_go_duration(v)
        .with_context(|| format!("--{flag} {v:?}: not a duration (e.g. 30s, 3m, 1h)"))
}

/// The controller's configuration from the flags.
pub fn config(args: &Args) -> Result<controller::Config> {
    Ok(controller::Config {
        namespace: args.namespace.clone(),
        data_dir: args.data_dir.clone(),
        poll_interval: duration("poll-interval", &args.poll_interval)?,
        cleanup_interval: duration("cleanup-interval", &args.cleanup_interval)?,
        workers: args.workers.max(1),
        max_syncs: args.max_syncs.max(1),
        ..controller::Config::default()
    })
}

async fn serve(args: Args) -> Result<()> {
    let cfg = config(&args)?;
    let client = super::counted_kube_client(args.kubeconfig.as_deref(), &cfg.metrics).await?;
    let auth = api_auth(
        args.token_file.as_deref(),
        args.anonymous_read,
        &client,
        &cfg.namespace,
    )?;
    controller::install::install_crds(&client, Duration::from_secs(60))
        .await
        .context("installing the CRDs")?;
    ensure_namespace(&client, &cfg.namespace).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let readiness = server::Readiness::not_ready("the controller is starting");
    let state = server::ServerState::new(
        tx,
        server::WebhookSecrets::kubernetes(client.clone(), &cfg.namespace, Duration::from_secs(10)),
        readiness.clone(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics_registry = cfg.metrics.clone();
    let namespace = cfg.namespace.clone();
    let ctl = controller::Controller::new(client.clone(), cfg);
    let api = server::api::ApiState::start(client, &namespace, auth, Some(ctl.clone()));
    let metrics = server::metrics::MetricsState::new(
        Some(&metrics_registry),
        state.webhook_counts().clone(),
        Some(api.model().clone()),
    );
    let http = {
        let mut stop = stop_rx.clone();
        tokio::spawn(server::serve(
            listener,
            server::app(state, Some(api), metrics),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ))
    };
    {
        let ctl = ctl.clone();
        let readiness = readiness.clone();
        tokio::spawn(async move {
            loop {
                if ctl.is_ready() {
                    readiness.set_ready();
                } else {
                    readiness.set_not_ready("the controller is not running (standby, or starting)");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    let shutdown = {
        let stop_tx = stop_tx.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        }
    };
    let res = if args.no_leader_election {
        ctl.run(rx, shutdown).await
    } else {
        let identity = args.identity.clone().unwrap_or_else(default_identity);
        controller::run_with_leader_election(ctl, identity, rx, shutdown).await
    };
    let _ = stop_tx.send(true);
    let _ = http.await;
    res.map_err(anyhow::Error::from)
}

/// Who may use the API: the token file (if any), the Secret `trellis-tokens`, anonymous reading.
pub fn api_auth(
    token_file: Option<&std::path::Path>,
    anonymous_read: bool,
    client: &kube::Client,
    namespace: &str,
) -> Result<server::auth::Auth> {
    let secret = Some((client.clone(), namespace));
    let auth = match token_file {
        Some(p) => server::auth::Auth::from_file(p, anonymous_read, secret)?,
        None => server::auth::Auth::new("", "no token file", anonymous_read, secret)?,
    };
    Ok(auth)
}

async fn ensure_namespace(client: &kube::Client, ns: &str) -> Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: kube::Api<Namespace> = kube::Api::all(client.clone());
    if api
        .get_opt(ns)
        .await
        .context("reading the namespace")?
        .is_none()
    {
        let body =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match api
            .create(
                &kube::api::PostParams::default(),
                &serde_json::from_value(body).context("namespace body")?,
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e).with_context(|| format!("creating namespace {ns}")),
        }
    }
    Ok(())
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "trellis".into());
    format!("{host}-{}", std::process::id())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
