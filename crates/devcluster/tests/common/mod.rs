//! Shared helpers for the integration tests: raw API requests through the cluster's own
//! `kube::Client`, kubectl/helm processes with timeouts, and bounded polling.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use devcluster::DevCluster;
use http_body_util::BodyExt;
use serde_json::Value;

/// Generous bound for anything asynchronous (2 shared cores, other builds running).
pub const WAIT: Duration = Duration::from_secs(60);

pub async fn start() -> DevCluster {
    DevCluster::builder()
        .pod_ready_delay(Duration::from_millis(50))
        .start()
        .await
        .expect("cluster starts")
}

/// Send a raw request; returns status code and parsed JSON body (Null if not JSON).
pub async fn raw(
    c: &DevCluster,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    content_type: &str,
) -> (u16, Value) {
    let (code, bytes, _) = raw_bytes(c, method, path, body, content_type).await;
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub async fn raw_bytes(
    c: &DevCluster,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    content_type: &str,
) -> (u16, Vec<u8>, http::HeaderMap) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body.map(|b| b.to_vec()).unwrap_or_default())
        .expect("valid request");
    let resp = c
        .client()
        .send(req.map(kube::client::Body::from))
        .await
        .expect("request is sent");
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("body is read")
        .to_bytes()
        .to_vec();
    (code, bytes, headers)
}

pub async fn get_json(c: &DevCluster, path: &str) -> (u16, Value) {
    raw(c, "GET", path, None, "application/json").await
}

pub async fn post(c: &DevCluster, path: &str, body: &Value) -> (u16, Value) {
    raw(
        c,
        "POST",
        path,
        Some(body.to_string().as_bytes()),
        "application/json",
    )
    .await
}

pub async fn put(c: &DevCluster, path: &str, body: &Value) -> (u16, Value) {
    raw(
        c,
        "PUT",
        path,
        Some(body.to_string().as_bytes()),
        "application/json",
    )
    .await
}

pub async fn patch(c: &DevCluster, path: &str, ct: &str, body: &str) -> (u16, Value) {
    raw(c, "PATCH", path, Some(body.as_bytes()), ct).await
}

pub async fn delete(c: &DevCluster, path: &str, body: Option<&Value>) -> (u16, Value) {
    let b = body.map(|b| b.to_string());
    raw(
        c,
        "DELETE",
        path,
        b.as_deref().map(str::as_bytes),
        "application/json",
    )
    .await
}

/// Poll `f` until it returns Some, or panic after `WAIT` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Run a command with a hard timeout (killing it on expiry), off the async runtime.
pub async fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("command starts");
        let deadline = Instant::now() + timeout;
        loop {
            if child.try_wait().expect("poll child").is_some() {
                return child.wait_with_output().expect("collect output");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect output");
                panic!(
                    "command timed out after {timeout:?}: stdout={} stderr={}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .expect("join")
}

pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", kubeconfig)
        .env("HOME", std::env::temp_dir())
        .args(args);
    cmd
}

pub fn out(o: &Output) -> String {
    format!(
        "status={:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn have_kubectl() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Call the router in-process (no client retries, no network): status and JSON body.
pub async fn oneshot(c: &DevCluster, method: &str, path: &str) -> (u16, Value) {
    use tower::ServiceExt;
    let app = devcluster::http::router(c.state().clone());
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(t) = c.token() {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .oneshot(req.body(axum::body::Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
