//! Scale benchmark (`cargo bench -p devcluster --bench scale`): create/list/watch throughput and
//! resident memory at 100,000 objects, through the real HTTPS API with the cluster's kube client.
//! Set DEVCLUSTER_BENCH_OBJECTS / DEVCLUSTER_BENCH_WATCHES to change the sizes, and
//! DEVCLUSTER_BENCH_DATA_DIR=1 to persist to a temporary data dir.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn send(
    client: &kube::Client,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> (u16, bytes::Bytes) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body)
        .expect("request");
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    let code = resp.status().as_u16();
    (
        code,
        resp.into_body().collect().await.expect("body").to_bytes(),
    )
}

async fn create_many(client: &kube::Client, ns: &str, n: usize, concurrency: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let next = next.clone();
        let ns = ns.to_string();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = json!({"metadata": {"name": format!("cm-{i:06}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
                    "data": {"key": "value", "index": i.to_string()}});
                let (code, b) = send(&client, "POST", &format!("/api/v1/namespaces/{ns}/configmaps"), body.to_string().into_bytes()).await;
                assert_eq!(code, 201, "{}", String::from_utf8_lossy(&b));
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let objects = env_usize("DEVCLUSTER_BENCH_OBJECTS", 100_000);
    let watches = env_usize("DEVCLUSTER_BENCH_WATCHES", 300);
    // DEVCLUSTER_BENCH_DATA_DIR=1: persist to a temporary data dir (fsync'd writes).
    let data_dir = std::env::var("DEVCLUSTER_BENCH_DATA_DIR")
        .ok()
        .filter(|v| v == "1")
        .map(|_| tempfile::tempdir().expect("temp dir"));
    let mut builder = devcluster::DevCluster::builder().watch_history(20_000);
    if let Some(d) = &data_dir {
        println!("persisting to {}", d.path().display());
        builder = builder.data_dir(d.path());
    }
    let cluster = builder.start().await.expect("start");
    let client = cluster.client();
    println!("baseline RSS: {:.0} MiB", rss_mib());
    for ns in ["ten", "bulk", "watched"] {
        let (code, _) = send(
            &client,
            "POST",
            "/api/v1/namespaces",
            json!({"metadata": {"name": ns}}).to_string().into_bytes(),
        )
        .await;
        assert_eq!(code, 201);
    }

    // 10,000 objects in one namespace, then time listing them.
    let ten = 10_000.min(objects);
    let took = create_many(&client, "ten", ten, 16).await;
    println!(
        "create {ten}: {:.2?} ({:.0}/s)",
        took,
        ten as f64 / took.as_secs_f64()
    );
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let (code, body) = send(
            &client,
            "GET",
            "/api/v1/namespaces/ten/configmaps",
            Vec::new(),
        )
        .await;
        times.push(t.elapsed());
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        // Ours, and the namespace's own `kube-root-ca.crt`.
        assert_eq!(v["items"].as_array().map(Vec::len), Some(ten + 1));
    }
    times.sort();
    println!(
        "list {ten} (HTTPS, client receive incl.): median {:.1?}, min {:.1?}, max {:.1?}",
        times[3], times[0], times[6]
    );
    let key = devcluster::registry::ResKey {
        group: String::new(),
        plural: "configmaps".into(),
    };
    let mut inproc = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let (_, items, _) = cluster
            .state()
            .store
            .list_with(&key, Some("ten"), None, 0, &|_| true);
        let bytes: Vec<u8> = items.iter().flat_map(|e| e.json.iter().copied()).collect();
        inproc.push(t.elapsed());
        assert!(bytes.len() > ten * 100);
    }
    inproc.sort();
    println!(
        "list {ten} in-process (store scan + body assembly): median {:.1?}",
        inproc[3]
    );

    // Up to `objects` in total.
    let rest = objects.saturating_sub(ten);
    let took = create_many(&client, "bulk", rest, 32).await;
    println!(
        "create {rest} more: {:.2?} ({:.0}/s); RSS at {objects} objects: {:.0} MiB",
        took,
        rest as f64 / took.as_secs_f64(),
        rss_mib()
    );
    let t = Instant::now();
    let (code, body) = send(
        &client,
        "GET",
        "/api/v1/configmaps?labelSelector=shard%3D3",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    println!(
        "label-selected list over {objects} objects ({} matches): {:.1?}",
        v["items"].as_array().map(Vec::len).unwrap_or(0),
        t.elapsed()
    );
    let t = Instant::now();
    let (code, _) = send(&client, "GET", "/api/v1/configmaps?limit=500", Vec::new()).await;
    assert_eq!(code, 200);
    println!(
        "first page of 500 over {objects} objects: {:.1?}",
        t.elapsed()
    );

    // Hundreds of concurrent watches, each receiving every event.
    let events = 1_000;
    let received = Arc::new(AtomicUsize::new(0));
    let rss_before_watch = rss_mib();
    let rv = cluster.state().store.current_rv();
    let mut handles = Vec::new();
    for _ in 0..watches {
        let client = client.clone();
        let received = received.clone();
        handles.push(tokio::spawn(async move {
            let req = http::Request::builder()
                .uri(format!("/api/v1/namespaces/watched/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=600"))
                .body(Vec::new())
                .expect("request");
            let resp = client.send(req.map(kube::client::Body::from)).await.expect("watch");
            let mut body = resp.into_body().into_data_stream();
            let mut buf = Vec::new();
            let mut count = 0;
            while let Some(chunk) = body.next().await {
                let Ok(chunk) = chunk else { break };
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if line.starts_with(b"{\"type\":\"ADDED\"") {
                        count += 1;
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if count >= events {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "{watches} open watches: RSS {:.0} MiB (+{:.0} MiB)",
        rss_mib(),
        rss_mib() - rss_before_watch
    );
    let t = Instant::now();
    create_many(&client, "watched", events, 8).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while received.load(Ordering::Relaxed) < events * watches && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total = received.load(Ordering::Relaxed);
    let took = t.elapsed();
    println!(
        "watch fan-out: {events} creates x {watches} watchers = {total} events delivered in {:.2?} ({:.0} events/s); RSS {:.0} MiB",
        took,
        total as f64 / took.as_secs_f64(),
        rss_mib()
    );
    for h in handles {
        h.abort();
    }
}
