//! `--data-dir`: a restarted cluster keeps its objects, TLS identity, bearer token and port, so
//! a kubeconfig written before the restart still works (checked with kubectl); writes are
//! on disk (fsync'd) before they are answered.

mod common;

use std::time::Duration;

use common::*;
use devcluster::DevCluster;
use serde_json::json;

const T: Duration = Duration::from_secs(60);

async fn start_in(dir: &std::path::Path, kubeconfig: &std::path::Path) -> DevCluster {
    DevCluster::builder()
        .data_dir(dir)
        .kubeconfig_out(kubeconfig)
        .start()
        .await
        .expect("cluster starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_written_before_a_restart_still_works() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let before = dir.path().join("kubeconfig-before");
    let (url, token) = {
        let c = start_in(&data, &before).await;
        let (code, s) = post(
            &c,
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": "kept"}, "data": {"a": "1"}}),
        )
        .await;
        assert_eq!(code, 201, "{s}");
        let o = run(kubectl(&before, &["get", "ns"]), T).await;
        assert!(o.status.success(), "{}", out(&o));
        (c.url().to_string(), c.token().map(str::to_string))
    };
    let kubeconfig_text = std::fs::read_to_string(&before).expect("kubeconfig kept");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Restarted (writing its kubeconfig elsewhere): same URL, token and CA.
    let after = dir.path().join("kubeconfig-after");
    let c = start_in(&data, &after).await;
    assert_eq!(c.url(), url);
    assert_eq!(c.token().map(str::to_string), token);
    assert_eq!(
        std::fs::read_to_string(&after).expect("new kubeconfig"),
        kubeconfig_text
    );
    let o = run(kubectl(&before, &["get", "ns"]), T).await;
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("default"),
        "{}",
        out(&o)
    );
    let o = run(
        kubectl(&before, &["get", "cm", "kept", "-o", "jsonpath={.data.a}"]),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1");
    // The key is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["tls/server.key", "token"] {
            let mode = std::fs::metadata(data.join(f))
                .expect("kept file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is private");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_answered_once_on_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = DevCluster::builder()
        .data_dir(dir.path())
        .start()
        .await
        .expect("cluster starts");
    let mut tasks = Vec::new();
    for i in 0..32 {
        let client = c.client();
        tasks.push(tokio::spawn(async move {
            let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
                kube::Api::namespaced(client, "default");
            let cm: k8s_openapi::api::core::v1::ConfigMap =
                serde_json::from_value(json!({"metadata": {"name": format!("c-{i}")}}))
                    .expect("configmap");
            api.create(&Default::default(), &cm).await.is_ok()
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task"), "create failed");
    }
    // Every answered write is in the log file already.
    let log = std::fs::read_to_string(dir.path().join("state.jsonl")).expect("log");
    for i in 0..32 {
        assert!(
            log.contains(&format!("\"n\":\"c-{i}\"")),
            "c-{i} not logged"
        );
    }
}
