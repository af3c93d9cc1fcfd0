//! Full schemas of the built-in kinds, checked with kubectl as an independent client: strict
//! field validation at any depth (kubectl's default `--validate=strict`), `Warn`, `kubectl
//! explain` texts, and client-side apply's `$setElementOrder` (lists ordered as the manifest).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(90);

/// A Deployment using many deep fields (probes, security contexts, affinity, volume sources,
/// env sources, lifecycle hooks); `extra` is inserted under the liveness probe's `httpGet`.
fn deployment(name: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
  annotations: {{note: deep}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
    matchExpressions: [{{key: app, operator: In, values: [{name}]}}]
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      securityContext:
        runAsNonRoot: true
        fsGroup: 1000
        seccompProfile: {{type: RuntimeDefault}}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{{key: kubernetes.io/os, operator: In, values: [linux]}}]
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 10
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {{matchLabels: {{app: {name}}}}}
      tolerations: [{{key: k, operator: Exists, effect: NoSchedule}}]
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {{matchLabels: {{app: {name}}}}}}}
      volumes:
      - name: cfg
        configMap: {{name: cfg, items: [{{key: k, path: p, mode: 0644}}], defaultMode: 0644, optional: true}}
      - name: tok
        projected:
          sources:
          - serviceAccountToken: {{path: token, expirationSeconds: 3600}}
          - downwardAPI: {{items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}]}}
      - name: scratch
        emptyDir: {{medium: Memory, sizeLimit: 64Mi}}
      containers:
      - name: app
        image: nginx:1.25
        env:
        - name: POD_IP
          valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
        - name: LIMIT
          valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}
        envFrom: [{{configMapRef: {{name: cfg, optional: true}}, prefix: CFG_}}]
        resources:
          limits: {{cpu: "1", memory: 256Mi}}
          requests: {{cpu: 100m, memory: 128Mi}}
        ports: [{{name: http, containerPort: 8080, protocol: TCP}}]
        livenessProbe:
          httpGet:
            path: /healthz
            port: http
            scheme: HTTP
            httpHeaders: [{{name: X-Probe, value: "1"}}]{extra}
          periodSeconds: 5
          timeoutSeconds: 2
        readinessProbe:
          exec: {{command: ["true"]}}
        startupProbe:
          tcpSocket: {{port: 8080}}
          failureThreshold: 30
        lifecycle:
          preStop: {{exec: {{command: [sleep, "5"]}}}}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {{drop: [ALL]}}
        volumeMounts:
        - {{name: cfg, mountPath: /etc/cfg, readOnly: true}}
        - {{name: scratch, mountPath: /tmp}}
"#
    )
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write manifest");
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_validation_at_any_depth_with_kubectl() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().expect("temp dir");

    // Many valid deep fields: accepted (create, then apply again).
    let ok = write(&dir, "ok.yaml", &deployment("deep", ""));
    for _ in 0..2 {
        let o = run(kubectl(&kc, &["apply", "-f", &ok]), T).await;
        assert!(o.status.success(), "{}", out(&o));
    }
    let o = run(kubectl(&kc, &["create", "-f", &ok, "--dry-run=server"]), T).await;
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already exists"),
        "{}",
        out(&o)
    );

    // A deep unknown field: refused with the real server's text, by apply and by create.
    let field = "spec.template.spec.containers[0].livenessProbe.httpGet.bogus";
    let bad = write(
        &dir,
        "bad.yaml",
        &deployment("deep-bad", "\n            bogus: 1"),
    );
    for args in [["apply", "-f", &bad], ["create", "-f", &bad]] {
        let o = run(kubectl(&kc, &args), T).await;
        let text = out(&o);
        assert!(!o.status.success(), "{text}");
        assert!(
            text.contains(&format!(
                "Deployment in version \"v1\" cannot be handled as a Deployment: \
                 strict decoding error: unknown field \"{field}\""
            )),
            "{text}"
        );
    }
    // A value of the wrong type is refused whatever the validation, as Go's decoder says it.
    let typed = write(
        &dir,
        "typed.yaml",
        &deployment("typed", "").replace("value: \"1\"", "value: 1"),
    );
    let o = run(
        kubectl(&kc, &["create", "-f", &typed, "--validate=false"]),
        T,
    )
    .await;
    assert!(
        !o.status.success()
            && out(&o).contains(
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot \
                 unmarshal number into Go struct field HTTPHeader.spec.template.spec.containers.\
                 livenessProbe.httpGet.httpHeaders.value of type string"
            ),
        "{}",
        out(&o)
    );
    // An unknown field in an existing object's update (apply patches it) is refused too.
    let bad_update = write(
        &dir,
        "bad-update.yaml",
        &deployment("deep", "\n            bogus: 1"),
    );
    let o = run(kubectl(&kc, &["apply", "-f", &bad_update]), T).await;
    assert!(
        !o.status.success() && out(&o).contains(&format!("unknown field \"{field}\"")),
        "{}",
        out(&o)
    );
    // --validate=warn (fieldValidation=Warn): created, with the warning printed.
    let o = run(kubectl(&kc, &["create", "-f", &bad, "--validate=warn"]), T).await;
    assert!(
        o.status.success() && out(&o).contains(&format!("unknown field \"{field}\"")),
        "{}",
        out(&o)
    );
    // metadata and status are checked as well.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "m", "labelz": {"a": "b"}}, "data": {"a": "b"}});
    let (code, s) = post(
        &c,
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        &cm,
    )
    .await;
    assert_eq!(code, 400, "{s}");
    assert_eq!(
        s["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: \
         strict decoding error: unknown field \"metadata.labelz\""
    );
    // An update (PUT) says the same; a patch answers the decoding error alone.
    let (code, _) = post(
        &c,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "m"}}),
    )
    .await;
    assert_eq!(code, 201);
    let (code, s) = put(
        &c,
        "/api/v1/namespaces/default/configmaps/m?fieldValidation=Strict",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "datta": {}}),
    )
    .await;
    assert_eq!(code, 400, "{s}");
    assert_eq!(
        s["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: \
         strict decoding error: unknown field \"datta\""
    );
    let (code, s) = patch(
        &c,
        "/api/v1/namespaces/default/configmaps/m?fieldValidation=Strict",
        "application/merge-patch+json",
        r#"{"datta": {}}"#,
    )
    .await;
    assert_eq!(code, 400, "{s}");
    assert_eq!(
        s["message"],
        "strict decoding error: unknown field \"datta\""
    );
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False", "bogus": 1}]}});
    let (code, _, headers) = raw_bytes(
        &c,
        "POST",
        "/api/v1/namespaces/default/pods?fieldValidation=Warn",
        Some(pod.to_string().as_bytes()),
        "application/json",
    )
    .await;
    assert_eq!(code, 201);
    let warning = headers
        .get("warning")
        .and_then(|w| w.to_str().ok())
        .unwrap_or_default();
    assert!(
        warning.contains(r#"unknown field \"status.conditions[0].bogus\""#),
        "{warning}"
    );
    // Free-form places stay free: a ControllerRevision's data (a RawExtension).
    let rev = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
        "revision": 1, "data": {"spec": {"template": {"anything": {"goes": true}}}}});
    let (code, s) = post(
        &c,
        "/apis/apps/v1/namespaces/default/controllerrevisions?fieldValidation=Strict",
        &rev,
    )
    .await;
    assert_eq!(code, 201, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_upstream_descriptions() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let o = run(
        kubectl(
            &kc,
            &[
                "explain",
                "deployment.spec.template.spec.containers.livenessProbe.httpGet",
            ],
        ),
        T,
    )
    .await;
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        s.contains("HTTPGet specifies an HTTP GET request to perform.")
            && s.contains("httpHeaders")
            && s.contains("<HTTPGetAction>")
            && s.contains("port\t<IntOrString> -required-"),
        "{s}"
    );
    let o = run(kubectl(&kc, &["explain", "pod.spec.securityContext"]), T).await;
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        s.contains("seccompProfile") && s.contains("runAsNonRoot"),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_orders_lists_as_the_manifest() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = |first: &str, second: &str, env: &[&str]| {
        let env: String = env
            .iter()
            .map(|e| format!("\n        - {{name: {e}, value: v}}"))
            .collect();
        let container = |n: &str| {
            let env = if n == "a" {
                format!("\n        env:{env}")
            } else {
                String::new()
            };
            format!("\n      - name: {n}\n        image: img-{n}{env}")
        };
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: order}}
spec:
  selector: {{matchLabels: {{app: order}}}}
  template:
    metadata: {{labels: {{app: order}}}}
    spec:
      containers:{}{}
"#,
            container(first),
            container(second)
        )
    };
    let names = |d: &Value, path: &[&str]| -> Vec<String> {
        let mut v = d;
        for p in path {
            v = &v[*p];
        }
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let path = "/apis/apps/v1/namespaces/default/deployments/order";
    let f = write(&dir, "a.yaml", &manifest("a", "b", &["EX", "EY", "EZ"]));
    let o = run(kubectl(&kc, &["apply", "-f", &f]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    // Reordered containers and env, nothing else changed.
    let f = write(&dir, "b.yaml", &manifest("b", "a", &["EZ", "EX", "EY"]));
    let o = run(kubectl(&kc, &["apply", "-f", &f]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let (_, d) = get_json(&c, path).await;
    assert_eq!(
        names(&d, &["spec", "template", "spec", "containers"]),
        ["b", "a"]
    );
    let containers = d["spec"]["template"]["spec"]["containers"].clone();
    assert_eq!(names(&containers[1], &["env"]), ["EZ", "EX", "EY"]);
    // A new env var placed in the middle, one removed.
    let f = write(&dir, "c.yaml", &manifest("b", "a", &["EZ", "EN", "EY"]));
    let o = run(kubectl(&kc, &["apply", "-f", &f]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let (_, d) = get_json(&c, path).await;
    let containers = d["spec"]["template"]["spec"]["containers"].clone();
    assert_eq!(names(&containers[1], &["env"]), ["EZ", "EN", "EY"]);
}
