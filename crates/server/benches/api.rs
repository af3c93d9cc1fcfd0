//! The API at 10,000 Applications, over real HTTP: time to first byte and to the whole answer of
//! the list (first page, filtered, searched, an environment, the last page), the environments
//! overview and one Application's summary; the memory of the model; and the stream's fan-out
//! (100 SSE clients, time until every one has a change). Prints figures; asserts nothing.
//!
//! `cargo bench -p server --bench api` (`-- --apps N --clients N` to change the sizes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use controller::Application;
use serde_json::json;
use server::api::ApiState;
use server::api::model::Model;
use server::auth::Auth;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TOKEN: &str = "bench-token";

fn app(i: usize, envs: usize, health: &str) -> Application {
    let env = format!("env-{:03}", i % envs);
    let svc = format!("svc-{:03}", i / envs);
    serde_json::from_value(json!({
        "apiVersion": "trellis.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": format!("{env}-{svc}"), "namespace": "trellis",
                     "creationTimestamp": "2026-12-01T10:00:00Z",
                     "labels": {"trellis.dev/environment": env, "trellis.dev/service": svc}},
        "spec": {"project": if i.is_multiple_of(3) { "shop" } else { "bank" },
                 "source": {"repoURL": format!("https://git.example.com/acme/{svc}.git"), "path": "charts",
                            "targetRevision": "main"},
                 "destination": {"namespace": env},
                 "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
        "status": {"sync": {"status": "Synced", "revision": format!("{:040x}", i)},
                   "health": {"status": health},
                   "reconciledAt": "2026-12-01T10:00:05Z"}
    }))
    .expect("an Application")
}

fn env(i: usize, services: usize) -> controller::Environment {
    let name = format!("env-{i:03}");
    serde_json::from_value(json!({
        "apiVersion": "trellis.dev/v1alpha1", "kind": "Environment",
        "metadata": {"name": name, "namespace": "trellis", "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"environmentSet": "previews", "branch": format!("feature/{i}"), "namespace": name,
                 "services": (0..services).map(|s| json!({"name": format!("svc-{s:03}"),
                     "repoURL": format!("https://git.example.com/acme/svc-{s:03}.git"),
                     "revision": "main"})).collect::<Vec<_>>()},
        "status": {"phase": "Ready", "ready": services, "total": services}
    }))
    .expect("an Environment")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One GET over a new connection: (time to the first byte, time to the end, body length).
async fn get(port: u16, path: &str) -> (Duration, Duration, usize) {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("send");
    let mut r = BufReader::new(s);
    let mut first = String::new();
    r.read_line(&mut first).await.expect("status line");
    let ttfb = t.elapsed();
    assert!(first.contains(" 200 "), "{path}: {first}");
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut r, &mut rest)
        .await
        .expect("body");
    (ttfb, t.elapsed(), rest.len())
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("api: bench");
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this once, small, as a check.
    let full = args.iter().any(|a| a == "--bench");
    let rounds = if full { 200 } else { 3 };
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let apps = arg("--apps", if full { 10_000 } else { 300 });
    let clients = arg("--clients", if full { 100 } else { 5 });
    let envs = 100.min(apps);
    let services = apps.div_ceil(envs);

    let before = rss_kib();
    let t = Instant::now();
    let model = Model::new();
    for i in 0..envs {
        model.apply_env(Arc::new(env(i, services)));
    }
    for i in 0..apps {
        let health = if i.is_multiple_of(97) {
            "Degraded"
        } else {
            "Healthy"
        };
        model.apply_app(Arc::new(app(i, envs, health)));
    }
    model.set_synced();
    let built = t.elapsed();
    let rss = rss_kib().saturating_sub(before);
    println!(
        "model: {apps} Applications in {envs} environments built in {} ({:.1} µs each); RSS +{} KiB ({:.2} KiB per Application, objects included)",
        ms(built),
        built.as_secs_f64() * 1e6 / apps as f64,
        rss,
        rss as f64 / apps as f64
    );

    let client = kube::Client::try_from(kube::Config::new(
        "http://127.0.0.1:9".parse().expect("url"),
    ))
    .expect("client");
    let auth = Auth::new(&format!("{TOKEN} admin"), "bench", false, None).expect("auth");
    let api = ApiState::with_model(client, "trellis", auth, None, model.clone());
    let router = server::api::routes(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let last_env = format!("env-{:03}", envs - 1);
    let cases: Vec<(&str, String)> = vec![
        (
            "first page (limit=100)",
            "/api/v1/applications?limit=100".into(),
        ),
        (
            "search one service",
            "/api/v1/applications?search=svc-042&limit=100".into(),
        ),
        (
            "search two words",
            "/api/v1/applications?search=env-057%20svc-04&limit=100".into(),
        ),
        (
            "filter health=Degraded",
            "/api/v1/applications?health=Degraded&limit=100".into(),
        ),
        (
            "one environment",
            "/api/v1/applications?environment=env-057&limit=100".into(),
        ),
        (
            "project + sync filter",
            "/api/v1/applications?project=shop&sync=Synced&limit=100".into(),
        ),
        (
            "last page (continue)",
            format!("/api/v1/applications?limit=100&continue={last_env}/{last_env}-svc-000"),
        ),
        ("environments overview", "/api/v1/environments".into()),
        (
            "one environment's card",
            "/api/v1/environments/env-057".into(),
        ),
    ];
    // Warm up.
    for (_, p) in &cases {
        get(port, p).await;
    }
    println!(
        "\nGET over HTTP at {apps} Applications ({rounds} requests each, new connection each):"
    );
    println!(
        "{:<28} {:>12} {:>12} {:>12} {:>10}",
        "request", "TTFB p50", "TTFB p99", "total p99", "bytes"
    );
    for (label, path) in &cases {
        let mut ttfb = Vec::new();
        let mut total = Vec::new();
        let mut bytes = 0;
        for _ in 0..rounds {
            let (a, b, n) = get(port, path).await;
            ttfb.push(a);
            total.push(b);
            bytes = n;
        }
        println!(
            "{label:<28} {:>12} {:>12} {:>12} {bytes:>10}",
            ms(pct(&mut ttfb, 0.5)),
            ms(pct(&mut ttfb, 0.99)),
            ms(pct(&mut total, 0.99))
        );
    }

    // The stream: `clients` subscribers, each change timed until every one has it.
    let mut readers = Vec::new();
    for _ in 0..clients {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        s.write_all(
            format!(
                "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("send");
        let mut r = BufReader::new(s);
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).await.expect("read");
            if line.starts_with("event: ready") {
                break;
            }
        }
        readers.push(r);
    }
    let mut fanout = Vec::new();
    let changes = if full { 20 } else { 2 };
    for round in 0..changes {
        let mut a = app(round * envs, envs, "Progressing");
        if let Some(st) = a.status.as_mut() {
            st.reconciled_at = Some(format!("2026-12-01T11:00:{round:02}Z"));
        }
        let t = Instant::now();
        model.apply_app(Arc::new(a));
        let mut waits = Vec::new();
        for r in readers.iter_mut() {
            let mut line = String::new();
            loop {
                line.clear();
                r.read_line(&mut line).await.expect("read");
                if line.starts_with("event: application") {
                    break;
                }
            }
            waits.push(t.elapsed());
        }
        fanout.push(*waits.iter().max().expect("clients"));
        // Put it back (its environment's card changes too: two events per round).
        let t2 = Instant::now();
        model.apply_app(Arc::new(app(round * envs, envs, "Healthy")));
        for r in readers.iter_mut() {
            let mut line = String::new();
            loop {
                line.clear();
                r.read_line(&mut line).await.expect("read");
                if line.starts_with("event: application") {
                    break;
                }
            }
        }
        let _ = t2;
    }
    println!(
        "\nstream fan-out: a change reaches all {clients} SSE clients in p50 {} / max {} ({changes} changes)",
        ms(pct(&mut fanout.clone(), 0.5)),
        ms(*fanout.iter().max().expect("rounds"))
    );
}
