//! Benchmark: deploy a 100-service environment (100 copies of a corpus chart rendered by real Helm,
//! under different release names) into an empty namespace until every application is Healthy, then
//! re-sync all of them with no change. Reports wall time, API requests and peak memory.
//!
//! Run: `cargo bench -p sync --bench deploy` (local API server in-process, or a real cluster via
//! `TRELLIS_REAL_KUBECONFIG`). `TRELLIS_BENCH_COPIES` changes the number of services.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sync::cache::ClusterCache;
use sync::cluster::Cluster;
use sync::engine::{App, Engine, Progress, SyncOptions};
use sync::health::HealthStatus;
use sync::lua::CustomHealth;
use sync::object::{Manifest, manifests_from_yaml};
use sync::state::{OpPhase, StateStore};

static TIMES: std::sync::Mutex<Vec<(Duration, Duration, Duration)>> =
    std::sync::Mutex::new(Vec::new());

fn pct(mut v: Vec<Duration>) -> String {
    v.sort();
    if v.is_empty() {
        return String::new();
    }
    let at = |p: usize| v[(v.len() - 1) * p / 100].as_secs_f64();
    format!(
        "min {:.2}s p50 {:.2}s p90 {:.2}s max {:.2}s",
        at(0),
        at(50),
        at(90),
        at(100)
    )
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn corpus(copies: usize) -> Vec<(String, Vec<Manifest>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus-expected/default-bitnami-redis.stdout"
    );
    let text =
        std::fs::read_to_string(path).expect("corpus chart rendering (testdata/corpus-expected)");
    (0..copies)
        .map(|i| {
            let name = format!("svc{i:03}");
            let rendered = text.replace("myrel", &name);
            let mut ms = manifests_from_yaml(&rendered, path).expect("corpus parses");
            // Rendered with `-n apps`: deploy into the benchmark's namespace instead.
            for m in &mut ms {
                if let Some(meta) = m.obj.get_mut("metadata").and_then(|v| v.as_object_mut()) {
                    meta.remove("namespace");
                }
            }
            (name, ms)
        })
        .collect()
}

async fn connect() -> Option<(Arc<Cluster>, Box<dyn std::any::Any>)> {
    if let Ok(k) = std::env::var("TRELLIS_REAL_KUBECONFIG") {
        let c = Cluster::connect(Some(std::path::Path::new(&k)))
            .await
            .expect("connect");
        return Some((Arc::new(c), Box::new(())));
    }
    let dc = devcluster::DevCluster::start()
        .await
        .expect("local API server starts");
    let c = Cluster::connect(Some(dc.kubeconfig_path()))
        .await
        .expect("connect");
    Some((Arc::new(c), Box::new(dc)))
}

async fn sync_all(engine: &Arc<Engine>, apps: &Arc<Vec<(App, Vec<Manifest>)>>) -> (usize, usize) {
    // One task per application, as the controller runs them.
    let futs = (0..apps.len()).map(|i| {
        let engine = engine.clone();
        let apps = apps.clone();
        tokio::spawn(async move {
            let (app, ms) = &apps[i];
            let (progress, mut rx) = Progress::channel();
            let t0 = Instant::now();
            let timeline = tokio::spawn(async move {
                // (first event, last object written, end)
                let mut last_obj = Duration::ZERO;
                let mut first = None;
                while let Some(ev) = rx.recv().await {
                    let t = t0.elapsed();
                    first.get_or_insert(t);
                    if matches!(ev, sync::engine::Event::Object { .. }) {
                        last_obj = t;
                    }
                }
                (first.unwrap_or_default(), last_obj)
            });
            let r = engine.sync(app, ms, &progress).await;
            drop(progress);
            let end = t0.elapsed();
            let (first, last_obj) = timeline.await.unwrap_or_default();
            TIMES.lock().expect("lock").push((first, last_obj, end));
            r
        })
    });
    let results: Vec<_> = futures::future::join_all(futs)
        .await
        .into_iter()
        .map(|r| r.expect("sync task panicked"))
        .collect();
    let mut healthy = 0;
    let mut objects = 0;
    for (r, (app, _)) in results.into_iter().zip(apps.iter()) {
        match r {
            Ok(o) if o.phase == OpPhase::Succeeded && o.health.status == HealthStatus::Healthy => {
                healthy += 1;
                objects += o.results.len();
            }
            Ok(o) => eprintln!(
                "{}: {:?} {} / {} {}",
                app.name, o.phase, o.message, o.health.status, o.health.message
            ),
            Err(e) => eprintln!("{}: error {e}", app.name),
        }
    }
    (healthy, objects)
}

fn main() {
    let copies: usize = std::env::var("TRELLIS_BENCH_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let Some((cluster, _guard)) = connect().await else { return };
        let ns = format!("bench-{}", std::process::id());
        let cache = Arc::new(ClusterCache::new(cluster.clone()));
        let engine = Arc::new(Engine::new(cache.clone(), StateStore::ConfigMap(cluster.clone()), CustomHealth::empty()));
        let apps: Vec<(App, Vec<Manifest>)> = corpus(copies)
            .into_iter()
            .map(|(name, ms)| {
                let options = SyncOptions { create_namespace: true, timeout: Duration::from_secs(120), ..SyncOptions::default() };
                (App { name, app_namespace: ns.clone(), namespace: ns.clone(), revision: "bench".into(), options, ignore: vec![] }, ms)
            })
            .collect();
        let total_objects: usize = apps.iter().map(|(_, m)| m.len()).sum();
        let apps = Arc::new(apps);
        let stats = cluster.stats().clone();

        let t = Instant::now();
        let (healthy, _) = sync_all(&engine, &apps).await;
        let first = t.elapsed();
        let (req1, reads1, writes1, dry1) = stats.snapshot();
        {
            let times = std::mem::take(&mut *TIMES.lock().expect("lock"));
            println!("  started: {}", pct(times.iter().map(|t| t.0).collect()));
            println!("  all objects written: {}", pct(times.iter().map(|t| t.1).collect()));
            println!("  healthy: {}", pct(times.iter().map(|t| t.2).collect()));
        }
        println!(
            "first sync: {copies} services, {total_objects} objects, {healthy}/{copies} Healthy in {:.2}s; {req1} API requests ({reads1} reads, {writes1} writes, {dry1} dry runs); cache holds {} objects",
            first.as_secs_f64(),
            cache.len()
        );

        let t = Instant::now();
        let (healthy2, _) = sync_all(&engine, &apps).await;
        let second = t.elapsed();
        let (req2, reads2, writes2, dry2) = stats.snapshot();
        println!(
            "no-change re-sync: {healthy2}/{copies} Healthy in {:.3}s; {} API requests ({} reads, {} writes, {} dry runs)",
            second.as_secs_f64(),
            req2 - req1,
            reads2 - reads1,
            writes2 - writes1,
            dry2 - dry1
        );
        let t = Instant::now();
        let (app, ms) = &apps[0];
        let one = engine.sync(app, ms, &Progress::default()).await.expect("single re-sync");
        println!("single-service no-change re-sync: {:?} in {:.1} ms", one.health.status, t.elapsed().as_secs_f64() * 1000.0);
        println!("peak memory (VmHWM): {} MiB", peak_rss_kib() / 1024);
    });
}
