//! `kubectl describe` for the common kinds, with the events the simulated controllers and kubelet
//! recorded, and those events read through `events.k8s.io/v1` as well as core `v1`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

const OBJECTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: desc}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.25, ports: [{containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: desc}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: desc}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: busybox}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: desc}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: nightly, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: desc}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: desc}
data: {mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: desc}
stringData: {password: s3cret}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site, namespace: desc}
spec:
  rules:
  - host: example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: desc}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: desc}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: desc}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: desc}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: desc}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: desc}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_common_kinds_with_their_events() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let o = run(kubectl(&kc, &["create", "namespace", "desc"]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, OBJECTS).expect("write the manifest");
    let o = run(
        kubectl(&kc, &["apply", "-f", &file.display().to_string()]),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let o = run(
        kubectl(
            &kc,
            &[
                "rollout",
                "status",
                "deployment/web",
                "-n",
                "desc",
                "--timeout=60s",
            ],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));

    // (what, text the description must hold)
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["deployment", "web"],
            &["Replicas:", "2 desired", "ScalingReplicaSet"],
        ),
        (&["replicaset", "-l", "app=web"], &["SuccessfulCreate"]),
        (
            &["pod", "-l", "app=web"],
            &["Status:", "Running", "Scheduled", "Pulled", "Started"],
        ),
        (&["statefulset", "db"], &["Replicas:", "SuccessfulCreate"]),
        (
            &["daemonset", "agent"],
            &["Desired Number of Nodes Scheduled"],
        ),
        (&["cronjob", "nightly"], &["Schedule:", "0 3 * * *"]),
        (
            &["service", "web"],
            &["Type:", "ClusterIP", "Endpoints:", "10.244."],
        ),
        (&["configmap", "settings"], &["mode:", "fast"]),
        (&["secret", "creds"], &["password:", "6 bytes"]),
        (&["ingress", "site"], &["example.com", "web:80 (10.244."]),
        (&["pvc", "data"], &["Status:", "Capacity:"]),
        (&["pdb", "web"], &["Min available:"]),
        (&["hpa", "web"], &["Reference:", "Deployment/web"]),
        (&["role", "reader"], &["PolicyRule:", "pods"]),
        (&["rolebinding", "reader"], &["Role:", "ServiceAccount"]),
        (&["serviceaccount", "default"], &["Name:", "default"]),
        (&["namespace", "desc"], &["Status:", "Active"]),
    ];
    for (what, expect) in cases {
        let mut args = vec!["describe", "-n", "desc"];
        args.extend_from_slice(what);
        let o = run(kubectl(&kc, &args), T).await;
        assert!(o.status.success(), "describe {what:?}: {}", out(&o));
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        for e in *expect {
            assert!(text.contains(e), "describe {what:?} lacks {e:?}:\n{text}");
        }
    }
    let o = run(kubectl(&kc, &["describe", "node"]), T).await;
    assert!(o.status.success(), "describe node: {}", out(&o));

    // The same events through events.k8s.io/v1.
    let o = run(
        kubectl(
            &kc,
            &["get", "events.v1.events.k8s.io", "-n", "desc", "-o", "json"],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let list: Value = serde_json::from_slice(&o.stdout).expect("JSON list");
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let scaling = items
        .iter()
        .find(|e| e["reason"] == "ScalingReplicaSet")
        .expect("a ScalingReplicaSet event in events.k8s.io/v1");
    assert_eq!(scaling["apiVersion"], "events.k8s.io/v1");
    assert_eq!(scaling["regarding"]["kind"], "Deployment");
    assert_eq!(scaling["reportingController"], "deployment-controller");
    assert!(
        scaling["note"]
            .as_str()
            .is_some_and(|n| n.contains("Scaled up replica set web-")),
        "{scaling}"
    );
    assert!(scaling["eventTime"].is_string(), "{scaling}");
    let o = run(
        kubectl(&kc, &["get", "events.v1.events.k8s.io", "-n", "desc"]),
        T,
    )
    .await;
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.lines()
            .next()
            .is_some_and(|h| h.split_whitespace().collect::<Vec<_>>().join(" ")
                == "LAST SEEN TYPE REASON OBJECT MESSAGE"),
        "{text}"
    );
    assert!(text.contains("deployment/web"), "{text}");
}
