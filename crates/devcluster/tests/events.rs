//! Events as the real controllers and kubelet record them, read back with kubectl: a Deployment
//! (ScalingReplicaSet, SuccessfulCreate, Scheduled, Pulled, Created, Started) and a Job
//! (SuccessfulCreate, Completed) in `kubectl get events`, `-o json` and `kubectl describe`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: evs
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: evs
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: nginx
          image: nginx:1.27
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
  namespace: evs
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox:1.36
          command: ["true"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_and_kubelet_record_events_kubectl_shows() {
    if !have_kubectl() {
        eprintln!("SKIPPED: kubectl not installed");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("all.yaml");
    std::fs::write(&f, MANIFESTS).expect("write manifests");
    let o = run(kubectl(&kc, &["apply", "-f", &f.to_string_lossy()]), T).await;
    assert!(o.status.success(), "{}", out(&o));

    // The printed table: a real server's columns, one row per event.
    let wanted = [
        (
            "deployment/web",
            "ScalingReplicaSet",
            "Scaled up replica set web-",
        ),
        ("replicaset/web-", "SuccessfulCreate", "Created pod: web-"),
        ("pod/web-", "Scheduled", "Successfully assigned evs/web-"),
        (
            "pod/web-",
            "Pulled",
            "Container image \"nginx:1.27\" already present",
        ),
        ("pod/web-", "Created", "Created container: nginx"),
        ("pod/web-", "Started", "Started container nginx"),
        ("job/once", "SuccessfulCreate", "Created pod: once-"),
        ("job/once", "Completed", "Job completed"),
        ("pod/once-", "Started", "Started container main"),
    ];
    let deadline = Instant::now() + T;
    let table = loop {
        let o = run(kubectl(&kc, &["get", "events", "-n", "evs"]), T).await;
        assert!(o.status.success(), "{}", out(&o));
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let missing: Vec<_> = wanted
            .iter()
            .filter(|(obj, reason, msg)| {
                !text.lines().any(|l| {
                    l.contains(&format!(" {obj}"))
                        && l.contains(&format!(" {reason} "))
                        && l.contains(msg)
                })
            })
            .collect();
        if missing.is_empty() {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "events missing: {missing:?}\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let header: Vec<&str> = table
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{table}"
    );

    // The objects: involvedObject, source, count and timestamps as client-go writes them.
    let o = run(
        kubectl(&kc, &["get", "events", "-n", "evs", "-o", "json"]),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let list: Value = serde_json::from_slice(&o.stdout).expect("event list");
    let items = list["items"].as_array().expect("items");
    let started = items
        .iter()
        .find(|e| e["reason"] == "Started" && e["message"] == "Started container nginx")
        .expect("a Started event");
    assert_eq!(started["type"], "Normal", "{started}");
    assert_eq!(started["source"]["component"], "kubelet", "{started}");
    assert_eq!(
        started["involvedObject"]["fieldPath"], "spec.containers{nginx}",
        "{started}"
    );
    assert!(
        started["involvedObject"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    for e in items {
        assert!(e["count"].as_i64().is_some_and(|n| n >= 1), "{e}");
        assert!(e["firstTimestamp"].is_string(), "{e}");
        assert!(e["lastTimestamp"].is_string(), "{e}");
        assert_eq!(e["involvedObject"]["namespace"], "evs", "{e}");
    }
    // Each pod is scheduled once: one Scheduled event per pod, not one per controller pass.
    let scheduled: Vec<&Value> = items
        .iter()
        .filter(|e| e["reason"] == "Scheduled")
        .collect();
    assert_eq!(scheduled.len(), 3, "{scheduled:#?}");
    assert!(scheduled.iter().all(|e| e["count"] == 1), "{scheduled:#?}");

    // `kubectl describe` finds an object's events by field selector.
    let o = run(
        kubectl(&kc, &["describe", "deployment", "web", "-n", "evs"]),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("ScalingReplicaSet") && text.contains("deployment-controller"),
        "{text}"
    );
    let o = run(kubectl(&kc, &["describe", "job", "once", "-n", "evs"]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Completed") && text.contains("job-controller"),
        "{text}"
    );

    // Scaling down is recorded too.
    let o = run(
        kubectl(
            &kc,
            &["scale", "deployment", "web", "-n", "evs", "--replicas=1"],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    eventually(
        "ScalingReplicaSet down and SuccessfulDelete events",
        || async {
            let o = run(kubectl(&kc, &["get", "events", "-n", "evs"]), T).await;
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            (text.contains("Scaled down replica set web-") && text.contains("SuccessfulDelete"))
                .then_some(())
        },
    )
    .await;
}
