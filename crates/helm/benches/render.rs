//! Rendering every corpus chart in-process (`../shared/corpus/charts` beside the repository, or
//! `TRELLIS_CORPUS`), with the parsed-template cache warm and cold.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use helm::{Engine, RenderOptions};

fn corpus() -> Vec<(String, helm::Chart)> {
    let dir = std::env::var("TRELLIS_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/charts").into()
    });
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    paths.sort();
    for p in paths {
        if let Ok(c) = helm::chart::load(&p) {
            out.push((
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                c,
            ));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let charts = corpus();
    let opts = RenderOptions {
        release_name: "myrel".into(),
        namespace: "apps".into(),
        ..RenderOptions::default()
    };
    let user = gotemplate::Map::new();
    let mut g = c.benchmark_group("render");
    for (name, chart) in &charts {
        let warm = Engine::new();
        // Charts that fail to render (external-dns's schema) still measure the path to the error.
        let _ = warm.render(chart, &user, &opts);
        g.bench_function(format!("{name}/cached"), |b| {
            b.iter(|| warm.render(chart, &user, &opts))
        });
        g.bench_function(format!("{name}/uncached"), |b| {
            b.iter(|| {
                let cold = Engine::new();
                cold.render(chart, &user, &opts)
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("load");
    let dir = std::env::var("TRELLIS_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/charts").into()
    });
    for name in ["podinfo", "bitnami-nginx"] {
        let p = PathBuf::from(&dir).join(name);
        if p.exists() {
            g.bench_function(name, |b| b.iter(|| helm::chart::load(&p)));
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
