//! Conformance with real Helm 3 (installed by `scripts/setup`): install and upgrade a chart of
//! this repository (`tests/data/charts/webapp`: helpers, `tpl`, `.Files`, a config checksum) with
//! `--wait`, then uninstall, against a started cluster. Needs nothing beside the repository.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Real Helm 3, as `scripts/setup` installs it: `$HELM_ORACLE_HOME/bin/helm3`, by default
/// `~/.cache/helm-oracle/bin/helm3`.
fn helm_bin() -> Option<PathBuf> {
    let home = std::env::var_os("HELM_ORACLE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/helm-oracle"),
        PathBuf::from,
    );
    let p = home.join("bin/helm3");
    p.exists().then_some(p)
}

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/charts/webapp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_uninstall_with_wait() {
    let chart = chart();
    let Some(helm) = helm_bin() else {
        // `scripts/test` (and so CI) installs the oracle first: there, a missing binary is a
        // failure, never a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "helm oracle missing in CI (scripts/setup installs it)"
        );
        eprintln!("SKIPPED: helm oracle missing (run scripts/setup)");
        return;
    };
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let helm_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&helm);
        cmd.env("KUBECONFIG", &kc)
            .env("HELM_CACHE_HOME", tmp.path().join("cache"))
            .env("HELM_CONFIG_HOME", tmp.path().join("config"))
            .env("HELM_DATA_HOME", tmp.path().join("data"))
            .args(args);
        cmd
    };
    let t = Duration::from_secs(150);
    let chart_s = chart.display().to_string();
    let o = run(
        helm_cmd(&[
            "install",
            "pi",
            &chart_s,
            "--namespace",
            "apps",
            "--create-namespace",
            "--wait",
            "--timeout",
            "120s",
        ]),
        t,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("STATUS: deployed"),
        "{}",
        out(&o)
    );
    // Helm's --wait judges the new ReplicaSet; the Deployment's own status follows it
    // asynchronously (as with the real deployment controller), so poll for it.
    let mut o;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        o = run(
            kubectl(
                &kc,
                &[
                    "-n",
                    "apps",
                    "get",
                    "deploy",
                    "pi-webapp",
                    "-o",
                    "jsonpath={.status.readyReplicas}",
                ],
            ),
            t,
        )
        .await;
        if String::from_utf8_lossy(&o.stdout) == "1" || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1", "{}", out(&o));

    let o = run(
        helm_cmd(&[
            "upgrade",
            "pi",
            &chart_s,
            "-n",
            "apps",
            "--wait",
            "--timeout",
            "120s",
            "--set",
            "replicaCount=3",
            "--set",
            "image.tag=6.5.0",
        ]),
        t,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let o = run(
        kubectl(
            &kc,
            &["-n", "apps", "get", "deploy", "pi-webapp", "-o", "json"],
        ),
        t,
    )
    .await;
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["status"]["readyReplicas"], 3, "{d}");
    assert!(
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .ends_with(":6.5.0")
    );
    // `tpl` and `.Files` reached the server through Helm.
    let o = run(
        kubectl(&kc, &["-n", "apps", "get", "cm", "pi-webapp", "-o", "json"]),
        t,
    )
    .await;
    let cm: serde_json::Value = serde_json::from_slice(&o.stdout).expect("configmap json");
    assert_eq!(cm["data"]["greeting"], "hello from pi", "{cm}");
    assert_eq!(cm["data"]["motd.txt"], "motd: served by webapp\n", "{cm}");
    let o = run(helm_cmd(&["history", "pi", "-n", "apps", "-o", "json"]), t).await;
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).expect("history json");
    assert_eq!(h.as_array().map(Vec::len), Some(2), "{h}");

    let o = run(
        helm_cmd(&[
            "uninstall",
            "pi",
            "-n",
            "apps",
            "--wait",
            "--timeout",
            "120s",
        ]),
        t,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let left = eventually("release objects removed", || async {
        let o = run(
            kubectl(
                &kc,
                &["-n", "apps", "get", "deploy,svc,secrets,pods", "-o", "name"],
            ),
            t,
        )
        .await;
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        s.trim().is_empty().then_some(s)
    })
    .await;
    assert!(left.is_empty());
}
