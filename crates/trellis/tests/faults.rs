//! Reliability: `trellis deploy` of the demo's charts (a database with a seed hook, an API, a front
//! end) converges on a local API server injecting faults (seeded, so a failure reproduces): 500,
//! 503 and 429 answers, conflicts, latency, watches closed and resumed from expired
//! resourceVersions. The end state is the one a fault-free run reaches, the seed hook ran once,
//! and a second deploy finds nothing to change. The same for the controller: `trellis serve`
//! brings a branch's environment up and follows a new commit with faults on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use devcluster::DevCluster;
use devcluster::faults::FaultSpec;

mod support;
use support::*;

const SPEC: &str = "error-rate=0.05,latency=1ms..20ms,watch-drop-every=3s,conflict-rate=0.05,gone-rate=0.3,seed=15";

fn deploy(kc: &Path, svc: &str) -> (bool, String) {
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/demo")
        .join(svc)
        .join("charts");
    let out = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["deploy", svc])
        .arg(&chart)
        .args(["-n", "faulty", "--create-namespace", "--timeout", "2m"])
        .arg("--kubeconfig")
        .arg(kc)
        .output()
        .expect("run trellis deploy");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// An object read inside the server (no faults on this path).
fn object(c: &DevCluster, group: &str, plural: &str, name: &str) -> Option<serde_json::Value> {
    let version = "v1";
    let ri = c.state().registry.find(group, version, plural)?;
    devcluster::api::get(c.state(), &ri, "faulty", name)
        .ok()
        .map(|v| (*v).clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_converges_on_the_demo_charts_under_faults() {
    // TRELLIS_FAULTS overrides the spec (another seed, higher rates) to hunt for failures.
    let text = std::env::var("TRELLIS_FAULTS").unwrap_or_else(|_| SPEC.to_string());
    let spec: FaultSpec = text.parse().expect("spec");
    eprintln!("faults: {spec}");
    let c = DevCluster::builder()
        .faults(spec.clone())
        .start()
        .await
        .expect("start the local API server");
    let kc = c.kubeconfig_path().to_path_buf();
    let spec_text = c
        .state()
        .faults
        .as_ref()
        .map(|f| f.spec().to_string())
        .unwrap_or_default();
    for svc in ["postgres", "api", "web"] {
        let kc = kc.clone();
        let (ok, out) = tokio::task::spawn_blocking(move || deploy(&kc, svc))
            .await
            .expect("deploy task");
        assert!(ok, "deploy {svc} under faults ({spec_text}) failed:\n{out}");
    }
    // The end state a fault-free run reaches.
    for (group, plural, name) in [
        ("apps", "statefulsets", "postgres"),
        ("apps", "deployments", "api"),
        ("apps", "deployments", "web"),
        ("", "services", "api"),
        ("", "configmaps", "web"),
    ] {
        assert!(
            object(&c, group, plural, name).is_some(),
            "{plural}/{name} missing after deploys under faults"
        );
    }
    let api = object(&c, "apps", "deployments", "api").expect("api");
    assert_eq!(api["status"]["readyReplicas"], 2, "{api}");
    let seed = object(&c, "batch", "jobs", "postgres-seed").expect("the seed hook's Job");
    let seed_uid = seed["metadata"]["uid"].clone();
    // Again: an upgrade that changes nothing and runs no pre-install hook.
    let kc2 = kc.clone();
    let (ok, text) = tokio::task::spawn_blocking(move || deploy(&kc2, "postgres"))
        .await
        .expect("deploy task");
    assert!(ok, "second deploy under faults failed:\n{text}");
    let seed = object(&c, "batch", "jobs", "postgres-seed").expect("the seed hook's Job");
    assert_eq!(
        seed["metadata"]["uid"], seed_uid,
        "the seed hook ran again:\n{text}"
    );
    let n = c.fault_counts();
    eprintln!("faults injected: {n:?}");
    assert!(
        n.internal_errors + n.unavailable + n.throttled > 0,
        "no errors injected: {n:?}"
    );
    assert!(n.delayed > 0, "{n:?}");
}

#[test]
fn dev_cluster_refuses_a_bad_fault_spec_naming_the_part() {
    let out = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args([
            "dev-cluster",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            "error-rate=0.05,latency=20ms..fast",
        ])
        .output()
        .expect("run trellis dev-cluster");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "Error: --faults: invalid fault spec part \"latency=20ms..fast\": \"fast\" is not a duration (a number with a unit: ms, s, m or h, e.g. 200ms)",
    );
}

/// An object read inside the server (no faults on this path), in namespace `ns`.
fn read(
    c: &DevCluster,
    group: &str,
    plural: &str,
    ns: &str,
    name: &str,
) -> Option<serde_json::Value> {
    let ri = c.state().registry.find(group, "v1", plural)?;
    devcluster::api::get(c.state(), &ri, ns, name)
        .ok()
        .map(|v| (*v).clone())
}

/// Sends a signed push webhook until it is accepted (the server may meet an injected fault
/// reading its webhook secret); how many tries it took.
fn push_until_accepted(serve: &Serve, repo: &Repo, branch: &str, tip: &str) -> usize {
    for attempt in 1..=20 {
        if serve.github("push", &push_payload(repo, branch, tip, false), SECRET) == 202 {
            return attempt;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the push webhook for {branch} was never accepted");
}

/// What the controller says about its Environments and Applications, and the end of its log: what
/// a failure message needs (read with faults paused).
fn explain(kc: &Path, serve: &Serve) -> String {
    let mut out = String::new();
    for what in [
        "environments.trellis.dev",
        "applications.trellis.dev",
        "environmentsets.trellis.dev",
    ] {
        if let Some(list) = get_json(kc, what) {
            for item in list["items"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "{what}/{}: {}\n",
                    item["metadata"]["name"].as_str().unwrap_or("?"),
                    item["status"]
                ));
            }
        }
    }
    let log = std::fs::read_to_string(&serve.log).unwrap_or_default();
    let tail: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("server::api::model"))
        .rev()
        .take(60)
        .collect();
    out.push_str("serve log (last lines):\n");
    for l in tail.iter().rev() {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Request faults only (errors, conflicts, latency): watches are left alone.
const REQUEST_FAULTS: &str = "error-rate=0.05,latency=1ms..20ms,conflict-rate=0.05,seed=15";

#[test]
fn the_controller_brings_an_environment_up_under_request_faults_and_runs_the_seed_hook_once() {
    controller_under_faults(REQUEST_FAULTS);
}

/// The full `SPEC`: watches also closed every 3 s and resumed watches answered 410 Gone. It found
/// Applications created while the controller's watch was down never being reconciled: queued
/// from the relist before the store had them, then never again (fixed: a relist queues at
/// `InitDone`).
#[test]
fn the_controller_brings_an_environment_up_under_watch_faults_too() {
    controller_under_faults(SPEC);
}

fn controller_under_faults(default_spec: &str) {
    let text = std::env::var("TRELLIS_FAULTS").unwrap_or_else(|_| default_spec.to_string());
    let spec: FaultSpec = text.parse().expect("spec");
    eprintln!("faults: {spec}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dc = rt
        .block_on(DevCluster::builder().faults(spec.clone()).start())
        .expect("start the local API server");
    let pause = |paused: bool| {
        dc.state()
            .faults
            .as_ref()
            .expect("faults are on")
            .pause(paused)
    };
    // The scene is set without faults (kubectl does not retry); the controller then runs with them.
    pause(true);
    let kc = dc.kubeconfig_path().to_path_buf();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api, web) = (
        Repo::new(tmp.path(), "postgres", None),
        Repo::new(tmp.path(), "api", None),
        Repo::new(tmp.path(), "web", None),
    );
    base(&kc);
    let before = dc.fault_counts();
    pause(false);
    // It starts (installs its CRDs, opens its watches) under faults too.
    let serve = Serve::start(
        &kc,
        &tmp.path().join("data"),
        "1h",
        "1h",
        &["--no-leader-election"],
    );
    assert!(
        serve.wait_ready(Duration::from_secs(120)),
        "trellis serve became ready under faults"
    );
    pause(true);
    setup(&kc, &[&pg, &api, &web], "previews", "{{branch}}");
    pause(false);
    let tip = api.commit("feat-f", "greeting: under faults");
    let tries = push_until_accepted(&serve, &api, "feat-f", &tip);
    // Waiting reads through kubectl, which meets the faults too: a failed read is a retry.
    let t = std::time::Instant::now();
    while env_phase(&kc, "feat-f").as_deref() != Some("Ready") {
        if t.elapsed() > Duration::from_secs(90) {
            pause(true);
            panic!(
                "environment feat-f not Ready after 90 s under faults:\n{}",
                explain(&kc, &serve)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "feat-f Ready under faults after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let seed = read(&dc, "batch", "jobs", "feat-f", "postgres-seed").expect("the seed hook's Job");
    let seed_uid = seed["metadata"]["uid"].clone();
    assert!(seed_uid.is_string(), "{seed}");

    // A new commit under faults: the api follows it, the database's seed hook does not run again.
    let tip2 = api.commit("feat-f", "greeting: again under faults");
    let tries2 = push_until_accepted(&serve, &api, "feat-f", &tip2);
    wait_for(
        "the api rendered from the new commit",
        Duration::from_secs(240),
        || {
            read(&dc, "", "configmaps", "feat-f", "api")
                .is_some_and(|cm| cm.to_string().contains(&tip2))
        },
    );
    let during = dc.fault_counts();
    pause(true);
    // The Environment's roll-up follows its Applications' statuses: it gets there too.
    let api_at = |env: &serde_json::Value| service_revision(env, "api") == tip2;
    wait_for(
        "environment feat-f Ready with the api on the new commit",
        Duration::from_secs(120),
        || {
            get_json(&kc, "environments.trellis.dev/feat-f")
                .is_some_and(|e| e["status"]["phase"] == "Ready" && api_at(&e))
        },
    );
    let env = get_json(&kc, "environments.trellis.dev/feat-f").expect("environment");
    let revision = |svc: &str| service_revision(&env, svc);
    assert_eq!(revision("api"), tip2, "{env}");
    assert_eq!(revision("postgres"), pg.main_commit(), "{env}");
    assert_eq!(revision("web"), web.main_commit(), "{env}");
    let seed = read(&dc, "batch", "jobs", "feat-f", "postgres-seed").expect("the seed hook's Job");
    assert_eq!(seed["metadata"]["uid"], seed_uid, "the seed hook ran again");
    for (group, plural, name) in [
        ("apps", "statefulsets", "postgres"),
        ("apps", "deployments", "api"),
        ("apps", "deployments", "web"),
    ] {
        assert!(
            read(&dc, group, plural, "feat-f", name).is_some(),
            "{plural}/{name} missing"
        );
    }
    let injected = |f: fn(&devcluster::faults::FaultCounts) -> u64| f(&during) - f(&before);
    let errors = injected(|n| n.internal_errors + n.unavailable + n.throttled);
    eprintln!(
        "faults met by the controller (and kubectl reads): {} requests, {errors} errors (500/503/429), {} conflicts, {} watch drops, {} 410 Gone; webhook accepted after {tries} and {tries2} tries",
        injected(|n| n.requests),
        injected(|n| n.conflicts),
        injected(|n| n.watch_drops),
        injected(|n| n.gone),
    );
    assert!(
        errors > 0,
        "no errors were injected while the controller ran"
    );
    drop(serve);
}
