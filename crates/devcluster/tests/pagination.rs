//! Paginated lists (`limit` + `continue`) read a snapshot at the first page's resourceVersion,
//! as a real (etcd-backed) server does; an expired snapshot is 410 Expired.

mod common;

use std::time::Duration;

use common::*;
use devcluster::DevCluster;
use serde_json::{Value, json};

// Secrets rather than ConfigMaps: every namespace holds the ConfigMap `kube-root-ca.crt`, while
// no Secret is made for us.
const NS: &str = "/api/v1/namespaces/default/secrets";

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn create(c: &DevCluster, name: &str) {
    let (code, s) = post(
        c,
        NS,
        &json!({"metadata": {"name": name}, "data": {"v": "MQ=="}}),
    )
    .await;
    assert_eq!(code, 201, "{s}");
}

async fn page(c: &DevCluster, limit: usize, cont: &str) -> (u16, Value) {
    get_json(c, &format!("{NS}?limit={limit}&continue={cont}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_pages_read_the_first_pages_snapshot() {
    let c = DevCluster::builder()
        .watch_history(64)
        .start()
        .await
        .expect("cluster starts");
    for i in 0..10 {
        create(&c, &format!("p-{i:02}")).await;
    }
    let (code, first) = page(&c, 4, "").await;
    assert_eq!(code, 200);
    assert_eq!(names(&first), ["p-00", "p-01", "p-02", "p-03"]);
    let rv = first["metadata"]["resourceVersion"].clone();
    let cont = first["metadata"]["continue"]
        .as_str()
        .expect("more remain")
        .to_string();

    // Between pages: a create inside the remaining range and one after it, a delete, an update.
    create(&c, "p-05a").await;
    create(&c, "p-99").await;
    let (code, _) = delete(&c, &format!("{NS}/p-06"), None).await;
    assert_eq!(code, 200);
    let (code, _) = patch(
        &c,
        &format!("{NS}/p-07"),
        "application/merge-patch+json",
        r#"{"data": {"v": "Mg=="}}"#,
    )
    .await;
    assert_eq!(code, 200);

    let (code, second) = page(&c, 4, &cont).await;
    assert_eq!(code, 200, "{second}");
    assert_eq!(names(&second), ["p-04", "p-05", "p-06", "p-07"]);
    assert_eq!(second["metadata"]["resourceVersion"], rv);
    assert_eq!(second["items"][3]["data"]["v"], "MQ==", "p-07 as it was");
    let cont = second["metadata"]["continue"]
        .as_str()
        .expect("more remain")
        .to_string();
    let (code, third) = page(&c, 4, &cont).await;
    assert_eq!(code, 200);
    assert_eq!(names(&third), ["p-08", "p-09"]);
    assert!(third["metadata"].get("continue").is_none(), "{third}");

    // A new list sees the present.
    let (_, now) = get_json(&c, NS).await;
    let now = names(&now);
    assert!(
        now.contains(&"p-05a".to_string())
            && now.contains(&"p-99".to_string())
            && !now.contains(&"p-06".to_string()),
        "{now:?}"
    );

    // Once the events since the snapshot are no longer retained: 410 Expired.
    let (_, first) = page(&c, 2, "").await;
    let cont = first["metadata"]["continue"]
        .as_str()
        .expect("more remain")
        .to_string();
    for i in 0..80 {
        create(&c, &format!("q-{i:02}")).await;
    }
    let (code, s) = page(&c, 2, &cont).await;
    assert_eq!(code, 410, "{s}");
    assert_eq!(s["reason"], "Expired");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The provided continue parameter is too old")),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_chunked_get_lists_everything() {
    if !have_kubectl() {
        return;
    }
    let c = start().await;
    for i in 0..10 {
        create(&c, &format!("k-{i:02}")).await;
    }
    let kc = c.kubeconfig_path().to_path_buf();
    let o = run(
        kubectl(
            &kc,
            &["get", "secrets", "--chunk-size=3", "-o", "name", "-v=6"],
        ),
        Duration::from_secs(60),
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let got: Vec<&str> = stdout.lines().filter(|l| l.contains("/k-")).collect();
    assert_eq!(got.len(), 10, "{stdout}");
    // It did page: the later requests carried a continue token.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("continue="),
        "{}",
        out(&o)
    );
}
