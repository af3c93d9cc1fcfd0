//! The product loop at scale, on the local API server in this process (`cargo bench -p trellis
//! --bench environments`). Prints:
//!
//! (a) one environment of `TRELLIS_BENCH_SERVICES` services (default 100, each its own git
//!     repository and chart): webhook → Environment Ready;
//! (b) `TRELLIS_BENCH_BRANCHES` branches (default 20) pushed at once to a 10-service set: median
//!     and max push → Ready;
//! (c) `TRELLIS_BENCH_SCALE_BRANCHES` branches (default 10; 100 gives the 10,000-Application
//!     figure) of the (a) set: time until all Healthy, controller memory per Application, idle CPU
//!     with nothing changing, API requests per Application.
//!
//! Every change arrives as a webhook would deliver it (`Controller::on_change`); polling is off.
//!
//! The local API server runs as its own process (`trellis dev-cluster`, this package's binary), so
//! the figures for the controller (this process: controller, git mirrors, the bench's driver) and
//! for the API server and its workload simulator are measured apart. `TRELLIS_BENCH_IN_PROCESS=1`
//! runs the API server in this process instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller::webhook::{Change, ChangeKind, Forge, GitRef};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.com")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A service repository: a small chart (ConfigMap, Deployment of 1, Service) on `main`.
fn make_repo(root: &Path, name: &str) -> (String, PathBuf) {
    let bare = root.join("remotes").join(format!("{name}.git"));
    let work = root.join("work").join(name);
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    let chart = work.join("charts");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    )
    .expect("write");
    std::fs::write(chart.join("values.yaml"), "replicas: 1\nmessage: hello\n").expect("write");
    std::fs::write(
        chart.join("templates/all.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n---\n\
apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n        - name: main\n          image: busybox:1.36\n---\n\
apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector: {app: {{ .Release.Name }}}\n  ports: [{port: 80}]\n",
    )
    .expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    let url = format!("file://{}", bare.display());
    git(&work, &["remote", "add", "origin", &url]);
    git(&work, &["push", "-q", "origin", "main"]);
    (url, work)
}

fn push_branch(work: &Path, branch: &str) {
    git(work, &["checkout", "-q", "-B", branch, "main"]);
    std::fs::write(
        work.join("charts/values.yaml"),
        format!("replicas: 1\nmessage: {branch}\n"),
    )
    .expect("write");
    git(work, &["commit", "-q", "-am", branch]);
    git(work, &["push", "-q", "-f", "origin", branch]);
}

fn change(url: &str, branch: &str) -> Change {
    Change {
        forge: Forge::GitHub,
        repo_urls: vec![url.to_string()],
        kind: ChangeKind::Push {
            git_ref: GitRef::Branch(branch.to_string()),
            after: None,
            deleted: false,
        },
    }
}

fn set_body(name: &str, template: &str, repos: &[(String, PathBuf)]) -> serde_json::Value {
    let services: Vec<serde_json::Value> = repos
        .iter()
        .enumerate()
        .map(|(i, (url, _))| json!({"name": format!("s{i:03}"), "source": {"repoURL": url, "path": "charts"}}))
        .collect();
    json!({"apiVersion": "trellis.dev/v1alpha1", "kind": "EnvironmentSet",
           "metadata": {"name": name, "namespace": "trellis"},
           "spec": {"defaultRevision": "main", "namespaceTemplate": template,
                    "branches": {"include": format!("^{name}-")},
                    "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
                    "cleanup": {"whenBranchDeleted": false, "whenMerged": false},
                    "services": services}})
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// The local API server in its own process: `trellis dev-cluster` on a free loopback port.
struct ApiServerProcess {
    child: std::process::Child,
    kubeconfig: PathBuf,
}

impl ApiServerProcess {
    fn start(dir: &Path) -> ApiServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let kubeconfig = dir.join("kubeconfig");
        let child = Command::new(env!("CARGO_BIN_EXE_trellis"))
            .args(["dev-cluster", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("trellis dev-cluster");
        let t = Instant::now();
        while !kubeconfig.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the local API server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The file is written once the server listens; give the write a moment to finish.
        std::thread::sleep(Duration::from_millis(200));
        ApiServerProcess { child, kubeconfig }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for ApiServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn ready_envs(client: &kube::Client, prefix: &str) -> Vec<(String, bool)> {
    let api: Api<controller::Environment> = Api::namespaced(client.clone(), "trellis");
    api.list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| e.spec.branch.starts_with(prefix))
                .map(|e| {
                    let ready = e.status.as_ref().is_some_and(|s| {
                        s.phase == Some(controller::types::EnvironmentPhase::Ready)
                    });
                    (e.spec.branch.clone(), ready)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this once, small, as a check.
    let full = std::env::args().any(|a| a == "--bench");
    let var = |name: &str, full_default: usize, test_default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if full { full_default } else { test_default })
    };
    let n = var("TRELLIS_BENCH_SERVICES", 100, 4);
    let branches = var("TRELLIS_BENCH_BRANCHES", 20, 2);
    let scale = var("TRELLIS_BENCH_SCALE_BRANCHES", 10, 1);
    if std::env::args().any(|a| a == "--list") {
        println!("environments: bench");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let tmp = tempfile::tempdir().expect("tmp");
        let in_process = std::env::var("TRELLIS_BENCH_IN_PROCESS").is_ok_and(|v| v == "1");
        let (dc, server) = if in_process {
            (Some(devcluster::DevCluster::start().await.expect("local API server")), None)
        } else {
            (None, Some(ApiServerProcess::start(tmp.path())))
        };
        let kc = match (&dc, &server) {
            (Some(dc), _) => dc.kubeconfig_path().to_path_buf(),
            (None, Some(s)) => s.kubeconfig.clone(),
            (None, None) => unreachable!("one of them runs"),
        };
        let server_pid = server.as_ref().map(ApiServerProcess::pid);
        let kcfg = kube::config::Kubeconfig::read_from(&kc).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kcfg, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(config.clone()).expect("client");
        controller::install::install_crds(&client, Duration::from_secs(30)).await.expect("crds");
        let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        nss.patch("trellis", &PatchParams::apply("bench").force(),
                  &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "trellis"}})))
            .await
            .expect("namespace");
        let t = Instant::now();
        let repos: Vec<(String, PathBuf)> = (0..n).map(|i| make_repo(tmp.path(), &format!("svc{i:03}"))).collect();
        println!("setup: {n} service repositories in {:.1}s", t.elapsed().as_secs_f64());
        let cluster = Arc::new(sync::cluster::Cluster::from_config(config).expect("cluster"));
        let cfg = controller::Config {
            namespace: "trellis".into(),
            data_dir: tmp.path().join("data"),
            poll_interval: Duration::from_secs(3600),
            cleanup_interval: Duration::from_secs(3600),
            workers: 128,
            ..controller::Config::default()
        };
        let ctl = controller::Controller::with_cluster(client.clone(), cluster.clone(), cfg);
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let running = {
            let ctl = ctl.clone();
            tokio::spawn(async move { ctl.run(rx, async move { let _ = stop_rx.wait_for(|s| *s).await; }).await })
        };
        let sets: Api<controller::EnvironmentSet> = Api::namespaced(client.clone(), "trellis");
        let rss0 = rss_kib();
        let server_rss0 = server_pid.as_deref().map(rss_kib_of).unwrap_or(0);

        // (a) one environment of n services.
        sets.patch("one", &PatchParams::apply("bench").force(), &Patch::Apply(set_body("one", "{{branch}}", &repos)))
            .await
            .expect("set");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let req0 = cluster.stats().snapshot().0;
        push_branch(&repos[0].1, "one-env");
        let t = Instant::now();
        ctl.on_change(change(&repos[0].0, "one-env")).await;
        loop {
            if ready_envs(&client, "one-env").await.iter().any(|(_, r)| *r) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(600),
                "(a) the environment is not Ready after 600 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let req = cluster.stats().snapshot().0 - req0;
        println!(
            "(a) {n} services, one environment: webhook -> Ready in {:.2}s; {req} API requests by the engine ({:.1} per Application)",
            t.elapsed().as_secs_f64(),
            req as f64 / n as f64
        );

        // (b) many branches at once on a 10-service set.
        let ten: Vec<(String, PathBuf)> = repos.iter().take(10).cloned().collect();
        sets.patch("ten", &PatchParams::apply("bench").force(), &Patch::Apply(set_body("ten", "{{branch}}", &ten)))
            .await
            .expect("set");
        let t = Instant::now();
        for b in 0..branches {
            push_branch(&repos[0].1, &format!("ten-{b:02}"));
        }
        let pushed = t.elapsed();
        ctl.on_change(change(&repos[0].0, "ten-00")).await;
        let mut ready_at: std::collections::BTreeMap<String, Duration> = Default::default();
        while ready_at.len() < branches && t.elapsed() < Duration::from_secs(900) {
            for (b, r) in ready_envs(&client, "ten-").await {
                if r {
                    ready_at.entry(b).or_insert_with(|| t.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ready_at.len(), branches, "(b) every environment becomes Ready");
        let mut times: Vec<f64> = ready_at.values().map(|d| d.as_secs_f64()).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "(b) {branches} branches x 10 services pushed at once (pushes took {:.1}s): {}/{branches} Ready; push -> Ready median {:.2}s, max {:.2}s",
            pushed.as_secs_f64(),
            times.len(),
            times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
            times.last().copied().unwrap_or(f64::NAN)
        );

        // (c) scale: `scale` branches of the n-service set.
        if scale > 0 {
            let req0 = cluster.stats().snapshot().0;
            let (ctl_cpu0, server_cpu0) = (
                cpu_seconds(),
                server_pid.as_deref().map(cpu_seconds_of).unwrap_or(0.0),
            );
            let load0 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            let t = Instant::now();
            for b in 0..scale {
                push_branch(&repos[0].1, &format!("one-s{b:03}"));
            }
            ctl.on_change(change(&repos[0].0, "one-s000")).await;
            let want = scale + 1;
            loop {
                let ready = ready_envs(&client, "one-").await.iter().filter(|(_, r)| *r).count();
                if ready >= want || t.elapsed() > Duration::from_secs(1800) {
                    println!(
                        "(c) {} Applications ({want} environments x {n} services): {ready}/{want} environments Ready in {:.1}s",
                        want * n,
                        t.elapsed().as_secs_f64()
                    );
                    let load1 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
                    println!(
                        "(c) CPU used meanwhile: controller process {:.1}s, local API server process {:.1}s (machine load average before {}, after {})",
                        cpu_seconds() - ctl_cpu0,
                        server_pid.as_deref().map(cpu_seconds_of).unwrap_or(0.0) - server_cpu0,
                        load0.split_whitespace().next().unwrap_or("?"),
                        load1.split_whitespace().next().unwrap_or("?"),
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let total_apps = ctl.applications().len().max(1);
            let req = cluster.stats().snapshot().0 - req0;
            tokio::time::sleep(Duration::from_secs(if full { 5 } else { 1 })).await;
            let cpu0 = cpu_seconds();
            let server_cpu0 = server_pid.as_deref().map(cpu_seconds_of).unwrap_or(0.0);
            let idle = Duration::from_secs(if full { 20 } else { 2 });
            tokio::time::sleep(idle).await;
            let cpu = cpu_seconds() - cpu0;
            let server_cpu = server_pid.as_deref().map(cpu_seconds_of).unwrap_or(0.0) - server_cpu0;
            let rss = rss_kib();
            let what = if in_process { " (local API server and simulator included)" } else { "" };
            println!(
                "(c) {total_apps} Applications in all: {req} engine API requests for the scale step ({:.1} per new Application); controller process RSS {} MiB, {:.0} KiB per Application above the start{what}; idle CPU {:.1}% of a core over {}s{what}",
                req as f64 / (scale * n).max(1) as f64,
                rss / 1024,
                (rss.saturating_sub(rss0)) as f64 / total_apps as f64,
                cpu / idle.as_secs_f64() * 100.0,
                idle.as_secs()
            );
            if let Some(pid) = server_pid.as_deref() {
                let srss = rss_kib_of(pid);
                println!(
                    "(c) local API server process (every object, the workload simulator): RSS {} MiB, {:.0} KiB per Application above the start; idle CPU {:.1}% of a core",
                    srss / 1024,
                    srss.saturating_sub(server_rss0) as f64 / total_apps as f64,
                    server_cpu / idle.as_secs_f64() * 100.0
                );
            }
        }
        println!(
            "controller: {} reconciles ({:.2} ms mean), {} syncs succeeded, {} failed, {} renders",
            ctl.stats.reconciles.load(std::sync::atomic::Ordering::Relaxed),
            ctl.stats.reconcile_micros.load(std::sync::atomic::Ordering::Relaxed) as f64
                / 1000.0
                / ctl.stats.reconciles.load(std::sync::atomic::Ordering::Relaxed).max(1) as f64,
            ctl.stats.syncs_succeeded.load(std::sync::atomic::Ordering::Relaxed),
            ctl.stats.syncs_failed.load(std::sync::atomic::Ordering::Relaxed),
            ctl.stats.renders.load(std::sync::atomic::Ordering::Relaxed),
        );
        let _ = stop_tx.send(true);
        let _ = running.await;
        drop(dc);
        drop(server);
    });
}
