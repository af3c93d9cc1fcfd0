//! Reliability: `trellis deploy` of the demo's charts (a database with a seed hook, an API, a front
//! end) converges on a local API server injecting faults (seeded, so a failure reproduces): 500,
//! 503 and 429 answers, conflicts, latency, watches closed and resumed from expired
//! resourceVersions. The end state is the one a fault-free run reaches, the seed hook ran once,
//! and a second deploy finds nothing to change.

use std::path::{Path, PathBuf};
use std::process::Command;

use devcluster::DevCluster;
use devcluster::faults::FaultSpec;

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
