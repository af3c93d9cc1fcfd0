//! `kubectl get` prints the columns a real API server (1.32) serves for each built-in kind: the
//! header lines below are those kubectl prints against a real cluster.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

const OBJECTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: busybox}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: once, image: busybox}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: nightly, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {p: cA==}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  rules:
  - host: example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec: {podSelector: {}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: robot, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tables-reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tables-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tables-reader}
subjects: [{kind: ServiceAccount, name: robot, namespace: default}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader}
spec: {holderIdentity: me}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: example.com/fast
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: small}
spec: {hard: {pods: "10"}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec: {limits: [{type: Container, default: {cpu: 500m}}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: vol}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /tmp/vol}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: checks}
webhooks: []
"#;

/// (what to get, the header line of a real server's table).
const HEADERS: &[(&str, &str)] = &[
    ("deployments", "NAME READY UP-TO-DATE AVAILABLE AGE"),
    ("statefulsets", "NAME READY AGE"),
    (
        "daemonsets",
        "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE",
    ),
    ("replicasets", "NAME DESIRED CURRENT READY AGE"),
    ("jobs", "NAME STATUS COMPLETIONS DURATION AGE"),
    (
        "cronjobs",
        "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE",
    ),
    ("pods", "NAME READY STATUS RESTARTS AGE"),
    ("services", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE"),
    ("configmaps", "NAME DATA AGE"),
    ("secrets", "NAME TYPE DATA AGE"),
    ("serviceaccounts", "NAME SECRETS AGE"),
    ("ingresses", "NAME CLASS HOSTS ADDRESS PORTS AGE"),
    ("ingressclasses", "NAME CONTROLLER PARAMETERS AGE"),
    ("networkpolicies", "NAME POD-SELECTOR AGE"),
    ("roles", "NAME CREATED AT"),
    ("rolebindings", "NAME ROLE AGE"),
    ("clusterroles", "NAME CREATED AT"),
    ("clusterrolebindings", "NAME ROLE AGE"),
    (
        "poddisruptionbudgets",
        "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE",
    ),
    (
        "horizontalpodautoscalers",
        "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE",
    ),
    ("leases", "NAME HOLDER AGE"),
    (
        "priorityclasses",
        "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY",
    ),
    (
        "storageclasses",
        "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE",
    ),
    ("resourcequotas", "NAME AGE REQUEST LIMIT"),
    ("limitranges", "NAME CREATED AT"),
    (
        "persistentvolumeclaims",
        "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE",
    ),
    (
        "persistentvolumes",
        "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE",
    ),
    ("endpoints", "NAME ENDPOINTS AGE"),
    ("endpointslices", "NAME ADDRESSTYPE PORTS ENDPOINTS AGE"),
    ("namespaces", "NAME STATUS AGE"),
    ("nodes", "NAME STATUS ROLES AGE VERSION"),
    ("validatingwebhookconfigurations", "NAME WEBHOOKS AGE"),
    ("events", "LAST SEEN TYPE REASON OBJECT MESSAGE"),
];

fn collapse(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_the_columns_of_a_real_server() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
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
            &["rollout", "status", "deployment/web", "--timeout=60s"],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));

    let mut wrong = Vec::new();
    for (what, header) in HEADERS {
        let o = run(kubectl(&kc, &["get", what]), T).await;
        assert!(o.status.success(), "get {what}: {}", out(&o));
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let first = text.lines().next().unwrap_or_default();
        if collapse(first) != *header {
            wrong.push(format!(
                "{what}: got {:?}, want {header:?}",
                collapse(first)
            ));
        }
        assert!(
            text.lines().count() >= 2,
            "get {what} printed no row: {text}"
        );
    }
    assert!(wrong.is_empty(), "headers differ:\n{}", wrong.join("\n"));

    // Rows read as on a real server too.
    let o = run(
        kubectl(&kc, &["get", "deployment", "web", "--no-headers"]),
        T,
    )
    .await;
    let row = collapse(&String::from_utf8_lossy(&o.stdout));
    assert!(row.starts_with("web 1/1 1 1 "), "{row}");
    let o = run(kubectl(&kc, &["get", "service", "web", "--no-headers"]), T).await;
    let row = collapse(&String::from_utf8_lossy(&o.stdout));
    assert!(row.starts_with("web ClusterIP 10.96."), "{row}");
    assert!(row.contains(" <none> 80/TCP "), "{row}");
    let o = run(kubectl(&kc, &["get", "deployments", "-o", "wide"]), T).await;
    let wide = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        collapse(wide.lines().next().unwrap_or_default())
            == "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR",
        "{wide}"
    );
    assert!(wide.contains("nginx") && wide.contains("app=web"), "{wide}");
}
