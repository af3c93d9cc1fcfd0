//! Conformance with kubectl, an independent client: apply (client-side and server-side),
//! diff, get -w, wait, rollout status, explain and delete against a started cluster.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write manifest");
    p.display().to_string()
}

const T: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_rollout_diff_update_and_delete() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(&dir, "d1.yaml", DEPLOY);
    let o = run(kubectl(&kc, &["apply", "-f", &f1]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("deployment.apps/web created"),
        "{}",
        out(&o)
    );

    let o = run(
        kubectl(
            &kc,
            &["rollout", "status", "deployment/web", "--timeout=60s"],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("successfully rolled out"),
        "{}",
        out(&o)
    );

    // Service got a ClusterIP and Endpoints with both ready pods.
    let o = run(kubectl(&kc, &["get", "endpoints", "web", "-o", "json"]), T).await;
    let ep: serde_json::Value = serde_json::from_slice(&o.stdout).expect("endpoints json");
    assert_eq!(
        ep["subsets"][0]["addresses"].as_array().map(Vec::len),
        Some(2),
        "{ep}"
    );

    // diff shows the change and exits 1; re-applying the same file shows nothing (exit 0).
    let f2 = write(&dir, "d2.yaml", &DEPLOY.replace("nginx:1.25", "nginx:1.26"));
    let o = run(kubectl(&kc, &["diff", "-f", &f1]), T).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = run(kubectl(&kc, &["diff", "-f", &f2]), T).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let diff = String::from_utf8_lossy(&o.stdout);
    assert!(
        diff.lines()
            .any(|l| l.starts_with('-') && l.contains("image: nginx:1.25")),
        "{diff}"
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("image: nginx:1.26")),
        "{diff}"
    );
    // The dry-run changed nothing.
    let o = run(
        kubectl(
            &kc,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
        ),
        T,
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&o.stdout), "nginx:1.25");

    // Rolling update on template change.
    let o = run(kubectl(&kc, &["apply", "-f", &f2]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let o = run(
        kubectl(
            &kc,
            &["rollout", "status", "deployment/web", "--timeout=60s"],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let o = run(kubectl(&kc, &["get", "deploy", "web", "-o", "json"]), T).await;
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["metadata"]["generation"], json!(2));
    assert_eq!(d["status"]["observedGeneration"], json!(2));
    assert_eq!(d["status"]["updatedReplicas"], json!(2));
    let o = run(
        kubectl(
            &kc,
            &[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={.items[*].spec.containers[0].image}",
            ],
        ),
        T,
    )
    .await;
    let images = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        !images.is_empty() && images.split(' ').all(|i| i == "nginx:1.26"),
        "{images}"
    );

    // wait --for=condition, then delete with cascade and wait --for=delete.
    let o = run(
        kubectl(
            &kc,
            &[
                "wait",
                "--for=condition=Available",
                "deployment/web",
                "--timeout=60s",
            ],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let o = run(
        kubectl(&kc, &["delete", "-f", &f2, "--wait=true", "--timeout=60s"]),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let pods = eventually("pods garbage-collected", || async {
        let o = run(kubectl(&kc, &["get", "pods", "-o", "name"]), T).await;
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        s.trim().is_empty().then_some(s)
    })
    .await;
    assert!(pods.trim().is_empty());
    let o = run(kubectl(&kc, &["get", "deploy", "web"]), T).await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("NotFound"),
        "{}",
        out(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_and_force() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(&dir, "d1.yaml", DEPLOY);
    let o = run(kubectl(&kc, &["apply", "--server-side", "-f", &f1]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("serverside-applied"),
        "{}",
        out(&o)
    );
    let f3 = write(
        &dir,
        "d3.yaml",
        &DEPLOY.replace("replicas: 2", "replicas: 3"),
    );
    let o = run(
        kubectl(
            &kc,
            &["apply", "--server-side", "--field-manager=other", "-f", &f3],
        ),
        T,
    )
    .await;
    assert!(!o.status.success(), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("conflict with \"kubectl\"") && err.contains(".spec.replicas"),
        "{err}"
    );
    let o = run(
        kubectl(
            &kc,
            &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
        ),
        T,
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "2",
        "a refused apply changes nothing"
    );
    let o = run(
        kubectl(
            &kc,
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "--force-conflicts",
                "-f",
                &f3,
            ],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let o = run(
        kubectl(
            &kc,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "json",
                "--show-managed-fields",
            ],
        ),
        T,
    )
    .await;
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["spec"]["replicas"], json!(3));
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(
        managers.contains(&"other") && managers.contains(&"kubectl"),
        "{managers:?}"
    );
    // kubectl's apply no longer owns replicas: re-applying its file (replicas: 2) conflicts now.
    let o = run(kubectl(&kc, &["apply", "--server-side", "-f", &f1]), T).await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("conflict with \"other\""),
        "{}",
        out(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_api_resources() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let o = run(kubectl(&kc, &["explain", "deployment.spec"]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("KIND:       Deployment") && s.contains("replicas") && s.contains("template"),
        "{s}"
    );
    let o = run(kubectl(&kc, &["explain", "pods.spec.containers.ports"]), T).await;
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("containerPort"),
        "{}",
        out(&o)
    );
    let o = run(kubectl(&kc, &["api-resources", "-o", "wide"]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.lines()
            .any(|l| l.starts_with("deployments") && l.contains("deploy") && l.contains("apps/v1")),
        "{s}"
    );
    let o = run(kubectl(&kc, &["get", "ns", "-o", "name"]), T).await;
    let s = String::from_utf8_lossy(&o.stdout);
    for ns in [
        "namespace/default",
        "namespace/kube-system",
        "namespace/kube-public",
    ] {
        assert!(s.contains(ns), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_validation_rejects_unknown_fields() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\nbogus: 1\n",
    );
    let o = run(kubectl(&kc, &["apply", "--validate=strict", "-f", &bad]), T).await;
    assert!(!o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown field \"bogus\""),
        "{}",
        out(&o)
    );
    let o = run(kubectl(&kc, &["get", "cm", "x"]), T).await;
    assert!(!o.status.success(), "nothing was created");
    let o = run(kubectl(&kc, &["apply", "--validate=false", "-f", &bad]), T).await;
    assert!(o.status.success(), "{}", out(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_streams_changes() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let mut child = kubectl(
        &kc,
        &[
            "get",
            "configmaps",
            "-w",
            "-o",
            "name",
            "--request-timeout=60s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("kubectl starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, _) = post(
        &c,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "watched"}, "data": {"a": "1"}}),
    )
    .await;
    assert_eq!(code, 201);
    let seen = tokio::time::timeout(WAIT, async {
        while let Some(line) = rx.recv().await {
            if line.contains("configmap/watched") {
                return true;
            }
        }
        false
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, Ok(true), "kubectl get -w saw the new ConfigMap");
}
