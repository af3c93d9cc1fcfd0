//! Argo CD's diff customizations through the controller, end to end: `trellis serve` on the local
//! API server, an Application with `ignoreDifferences.jqPathExpressions` and self-heal, and
//! `resource.exclusions` in the ConfigMap `trellis-cm`.

use std::path::Path;
use std::time::Duration;

mod support;
use support::*;

/// A git repository whose `charts` holds a chart of a Deployment, a ConfigMap and a Secret.
fn chart_repo(root: &Path) -> String {
    let bare = root.join("remotes/shop.git");
    let work = root.join("work/shop");
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    std::fs::create_dir_all(work.join("charts/templates")).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(
        work.join("charts/Chart.yaml"),
        "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    )
    .expect("write");
    std::fs::write(
        work.join("charts/templates/all.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: main, image: "busybox:1.36", command: [sleep, "3600"]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: x}
"#,
    )
    .expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    let url = format!("file://{}", bare.display());
    git(&work, &["remote", "add", "origin", &url]);
    git(&work, &["push", "-q", "origin", "main"]);
    url
}

#[test]
fn jq_ignore_differences_and_exclusions_through_the_controller() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    base(&kc);
    let url = chart_repo(root);
    kubectl(
        &kc,
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: trellis-cm, namespace: trellis}\ndata:\n  resource.exclusions: |\n    - apiGroups: [\"\"]\n      kinds: [Secret]\n      clusters: [\"*\"]\n",
        ),
    );
    // trellis-cm is read at start; the Application's kind is installed by `trellis serve`.
    let mut srv = Serve::start(&kc, &root.join("data"), "1h", "1h", &[]);
    assert!(
        srv.wait_ready(Duration::from_secs(60)),
        "trellis serve ready"
    );
    kubectl(
        &kc,
        &["apply", "-f", "-"],
        Some(&format!(
            r#"apiVersion: trellis.dev/v1alpha1
kind: Application
metadata: {{name: shop, namespace: trellis}}
spec:
  project: default
  source: {{repoURL: "{url}", path: charts, targetRevision: main}}
  destination: {{namespace: shop}}
  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}
  ignoreDifferences:
    - group: apps
      kind: Deployment
      jqPathExpressions: [".spec.replicas"]
"#
        )),
    );
    let app = || get_json(&kc, "applications.trellis.dev/shop").unwrap_or_default();
    wait_for("the Application Synced", Duration::from_secs(120), || {
        app()["status"]["sync"]["status"] == "Synced"
    });
    let status = app()["status"].clone();
    let conditions = status["conditions"].to_string();
    assert!(
        conditions.contains("ExcludedResourceWarning") && conditions.contains("Secret/creds"),
        "{status}"
    );
    let secrets = kubectl(&kc, &["get", "secrets", "-n", "shop", "-o", "name"], None);
    assert!(
        !secrets.contains("creds"),
        "an excluded kind is never applied: {secrets}"
    );

    // Someone scales the Deployment: ignored by the jq expression, so self-heal leaves it and the
    // Application stays Synced.
    kubectl(
        &kc,
        &["scale", "deployment", "web", "--replicas=5", "-n", "shop"],
        None,
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        app()["status"]["sync"]["status"],
        "Synced",
        "{}",
        app()["status"]
    );
    let replicas = kubectl(
        &kc,
        &[
            "get",
            "deployment",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        None,
    );
    assert_eq!(
        replicas.trim(),
        "5",
        "self-heal left the ignored field alone"
    );

    // A field the rule does not cover is healed.
    kubectl(
        &kc,
        &[
            "patch",
            "configmap",
            "settings",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"mode":"slow"}}"#,
        ],
        None,
    );
    wait_for(
        "self-heal of the ConfigMap",
        Duration::from_secs(60),
        || {
            kubectl(
                &kc,
                &[
                    "get",
                    "configmap",
                    "settings",
                    "-n",
                    "shop",
                    "-o",
                    "jsonpath={.data.mode}",
                ],
                None,
            )
            .trim()
                == "fast"
        },
    );
    srv.kill();
}
