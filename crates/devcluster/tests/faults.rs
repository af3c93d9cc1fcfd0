//! Fault injection as a client sees it on the wire: failures with a real server's Status bodies
//! and `Retry-After`, conflicts on updates but not on server-side apply, 410 Gone on resumed
//! watches, watches closed by the server, and discovery left alone.

use std::time::{Duration, Instant};

use devcluster::DevCluster;
use devcluster::faults::FaultSpec;
use http_body_util::BodyExt;
use serde_json::Value;

async fn cluster(spec: &str) -> DevCluster {
    DevCluster::builder()
        .faults(spec.parse::<FaultSpec>().expect("spec"))
        .start()
        .await
        .expect("cluster starts")
}

/// One request through the router in-process (no client retries): status, headers, body.
async fn call(
    c: &DevCluster,
    method: &str,
    path: &str,
    ct: &str,
    body: &str,
) -> (u16, http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt;
    let app = devcluster::http::router(c.state().clone());
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct);
    if let Some(t) = c.token() {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .oneshot(
            req.body(axum::body::Body::from(body.to_string()))
                .expect("request"),
        )
        .await
        .expect("infallible");
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (code, headers, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_status_and_retry_after_and_spare_discovery() {
    let c = cluster("error-rate=1,seed=3").await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let (code, headers, body) = call(&c, "GET", "/api/v1/namespaces", "", "").await;
        let status: Value = serde_json::from_slice(&body).expect("a Status");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["code"], code);
        match code {
            500 => assert_eq!(status["reason"], "InternalError"),
            503 | 429 => {
                assert_eq!(
                    headers.get("retry-after").map(|v| v.as_bytes()),
                    Some(&b"1"[..])
                );
                assert_eq!(status["details"]["retryAfterSeconds"], 1);
            }
            other => panic!("unexpected {other}: {status}"),
        }
        seen.insert(code);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [429, 500, 503]);
    for path in ["/api", "/apis", "/api/v1", "/version", "/openapi/v3"] {
        let (code, _, _) = call(&c, "GET", path, "", "").await;
        assert_eq!(code, 200, "{path} is never faulted");
    }
    let n = c.fault_counts();
    assert_eq!(n.internal_errors + n.unavailable + n.throttled, 60, "{n:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_hit_updates_not_server_side_apply() {
    let c = cluster("conflict-rate=1,seed=1").await;
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#;
    let base = "/api/v1/namespaces/default/configmaps";
    let (code, _, _) = call(&c, "POST", base, "application/json", cm).await;
    assert_eq!(code, 201, "creates are not conflicted");
    let (code, _, body) = call(&c, "PUT", &format!("{base}/a"), "application/json", cm).await;
    assert_eq!(code, 409);
    let status: Value = serde_json::from_slice(&body).expect("a Status");
    assert_eq!(status["reason"], "Conflict");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("configmaps \"a\": the object has been modified")),
        "{status}"
    );
    let (code, _, _) = call(
        &c,
        "PATCH",
        &format!("{base}/a"),
        "application/merge-patch+json",
        r#"{"data":{"k":"w"}}"#,
    )
    .await;
    assert_eq!(code, 409);
    let (code, _, body) = call(
        &c,
        "PATCH",
        &format!("{base}/a?fieldManager=t"),
        "application/apply-patch+yaml",
        cm,
    )
    .await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(c.fault_counts().conflicts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_watches_expire_and_watches_are_dropped() {
    let c = cluster("gone-rate=1,watch-drop-every=300ms,seed=9").await;
    let base = "/api/v1/namespaces/default/configmaps";
    let (code, _, body) = call(&c, "GET", base, "", "").await;
    assert_eq!(code, 200);
    let list: Value = serde_json::from_slice(&body).expect("list");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    // Resuming from a resourceVersion: one ERROR event with a 410 Status, as after compaction.
    let (code, _, body) = call(
        &c,
        "GET",
        &format!("{base}?watch=true&resourceVersion={rv}"),
        "",
        "",
    )
    .await;
    assert_eq!(code, 200);
    let ev: Value = serde_json::from_slice(&body).expect("one event");
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    // A watch from now (no resourceVersion) is served, and closed by the server after about
    // 300ms (between 150ms and 450ms), long before its timeout.
    let t0 = Instant::now();
    let (code, _, _) = call(&c, "GET", &format!("{base}?watch=true"), "", "").await;
    assert_eq!(code, 200);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let n = c.fault_counts();
    assert_eq!((n.gone, n.watch_drops), (1, 1), "{n:?}");
}
