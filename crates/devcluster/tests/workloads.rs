//! The workload simulator as clients observe it: Jobs complete or fail (per the
//! `devcluster.trellis.dev/fail` annotation), StatefulSets and DaemonSets roll out, PVCs
//! bind, Services get a ClusterIP and Endpoints, and state persists across a restart.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(90);

const WORKLOADS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: ok}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    metadata:
      annotations: {devcluster.trellis.dev/fail: "true"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: postgres}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: agent}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_statefulsets_daemonsets_pvcs() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("w.yaml");
    std::fs::write(&f, WORKLOADS).unwrap();
    let f = f.display().to_string();
    let o = run(kubectl(&kc, &["apply", "-f", &f]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    for (args, what) in [
        (
            vec![
                "wait",
                "--for=condition=complete",
                "job/ok",
                "--timeout=60s",
            ],
            "job ok completes",
        ),
        (
            vec!["wait", "--for=condition=failed", "job/bad", "--timeout=60s"],
            "job bad fails",
        ),
        (
            vec!["rollout", "status", "statefulset/db", "--timeout=60s"],
            "sts rolls out",
        ),
        (
            vec!["rollout", "status", "daemonset/agent", "--timeout=60s"],
            "ds rolls out",
        ),
        (
            vec![
                "wait",
                "--for=jsonpath={.status.phase}=Bound",
                "pvc/data-db-0",
                "--timeout=60s",
            ],
            "pvc binds",
        ),
    ] {
        let o = run(kubectl(&kc, &args), T).await;
        assert!(o.status.success(), "{what}: {}", out(&o));
    }
    let (_, job) = get_json(&c, "/apis/batch/v1/namespaces/default/jobs/ok").await;
    assert_eq!(job["status"]["succeeded"], 1, "{job}");
    assert!(job["status"]["completionTime"].is_string());
    let (_, job) = get_json(&c, "/apis/batch/v1/namespaces/default/jobs/bad").await;
    assert_eq!(
        job["status"]["failed"], 2,
        "backoffLimit 1 allows one retry: {job}"
    );
    let fail = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap()
        .clone();
    assert_eq!(fail["reason"], "BackoffLimitExceeded");
    let (_, sts) = get_json(&c, "/apis/apps/v1/namespaces/default/statefulsets/db").await;
    assert_eq!(sts["status"]["readyReplicas"], 2);
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    let (code, pod) = get_json(&c, "/api/v1/namespaces/default/pods/db-1").await;
    assert_eq!(code, 200);
    assert_eq!(pod["status"]["phase"], "Running");
    let (code, _) = get_json(&c, "/apis/batch/v1/namespaces/default/cronjobs/nightly").await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_persists_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (uid, rv) = {
        let c = devcluster::DevCluster::builder()
            .data_dir(dir.path())
            .start()
            .await
            .unwrap();
        let (code, cm) = post(
            &c,
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": "kept"}, "data": {"a": "1"}}),
        )
        .await;
        assert_eq!(code, 201);
        post(
            &c,
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": "gone"}}),
        )
        .await;
        delete(&c, "/api/v1/namespaces/default/configmaps/gone", None).await;
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"plural": "things", "kind": "Thing"},
                     "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
        assert_eq!(
            post(
                &c,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                &crd
            )
            .await
            .0,
            201
        );
        assert_eq!(post(&c, "/apis/example.com/v1/things", &json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "x": 1})).await.0, 201);
        (cm["metadata"]["uid"].clone(), c.state().store.current_rv())
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = devcluster::DevCluster::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let (code, cm) = get_json(&c, "/api/v1/namespaces/default/configmaps/kept").await;
    assert_eq!(code, 200);
    assert_eq!(cm["metadata"]["uid"], uid);
    assert_eq!(cm["data"]["a"], "1");
    let (code, _) = get_json(&c, "/api/v1/namespaces/default/configmaps/gone").await;
    assert_eq!(code, 404);
    let (code, t) = get_json(&c, "/apis/example.com/v1/things/t").await;
    assert_eq!(
        (code, t["x"].clone()),
        (200, json!(1)),
        "CRD and its objects are served after reload"
    );
    assert!(
        c.state().store.current_rv() >= rv,
        "resourceVersions never go back"
    );
}
