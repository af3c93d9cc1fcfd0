//! `trellis dev-cluster`: run the local Kubernetes API server (the `devcluster` crate) until
//! interrupted, printing the kubeconfig path once it is ready.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (loopback only by default).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: String,
    /// Where to write the kubeconfig (default: a temporary file removed on exit).
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Persist the cluster state in this directory and reload it on restart.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Serve plain HTTP without authentication instead of HTTPS with a bearer token.
    #[arg(long)]
    pub insecure_http: bool,
    /// How long simulated Pods stay Pending before they run and become Ready (e.g. 200ms, 2s).
    #[arg(long, default_value = "200ms")]
    pub pod_ready_delay: String,
    /// Inject faults for reliability tests, e.g.
    /// 'error-rate=0.05,latency=20ms..200ms,watch-drop-every=30s,conflict-rate=0.02,seed=1'
    /// (also gone-rate=R: watches resumed from a resourceVersion answered 410 Gone). The effective
    /// spec, seed included, is printed so that a run can be reproduced.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(secs) = s.strip_suffix('s') {
        return secs
            .parse::<f64>()
            .ok()
            .filter(|x| *x >= 0.0)
            .map(Duration::from_secs_f64);
    }
    s.parse::<u64>().ok().map(Duration::from_millis)
}

pub fn run(args: Args) -> ExitCode {
    let listen: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: --listen {:?}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    let Some(delay) = parse_duration(&args.pod_ready_delay) else {
        eprintln!(
            "Error: --pod-ready-delay {:?}: expected a duration such as 200ms or 2s",
            args.pod_ready_delay
        );
        return ExitCode::from(2);
    };
    let faults = match args
        .faults
        .as_deref()
        .map(str::parse::<devcluster::faults::FaultSpec>)
    {
        None => None,
        Some(Ok(spec)) => Some(spec),
        Some(Err(e)) => {
            eprintln!("Error: --faults: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let mut builder = devcluster::DevCluster::builder()
            .listen(listen)
            .insecure_http(args.insecure_http)
            .pod_ready_delay(delay);
        if let Some(dir) = &args.data_dir {
            builder = builder.data_dir(dir);
        }
        if let Some(spec) = faults {
            eprintln!("injecting faults: {spec}");
            builder = builder.faults(spec);
        }
        if let Some(out) = &args.kubeconfig_out {
            builder = builder.kubeconfig_out(out);
        }
        let cluster = match builder.start().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("Error: starting the dev cluster on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!("dev cluster serving at {}; stop with Ctrl-C", cluster.url());
        println!("{}", cluster.kubeconfig_path().display());
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("Error: waiting for Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
        drop(cluster);
        ExitCode::SUCCESS
    })
}
