//! Issue 10, item (d): the 100 Applications of one environment rendered in-process through the
//! controller's [`Renderer`], versus `helm template` run once per Application as Argo CD's repo
//! server does.
//!
//! `cargo bench -p controller --bench render` (a plain `harness = false` program: it prints the
//! figures). Two environments of `BENCH_SERVICES` (default 100) services, each service with its
//! own chart (each copy gets its own chart name, `<chart>-svc<N>`, so no two services share parsed
//! templates: the in-process "cold" figure parses and renders 100 distinct charts):
//!
//! - **services**: the microservice charts of the product's use case, the repository's own
//!   `examples/hello` and `examples/demo/{api,postgres,web}` charts (helpers, ConfigMap,
//!   Deployment, Service, a seed hook Job), cycled. Always runs.
//! - **corpus**: the real-world charts at `${TRELLIS_SHARED:-../shared}/corpus/charts/*` (skipped
//!   with a line when absent), cycled: large off-the-shelf charts (argo-cd's 1.9 MB of CRDs,
//!   bitnami's RSA key generation) that no per-branch environment has 100 of, as a worst case.
//!
//! Figures per environment: in-process cold (a fresh `Renderer`), in-process after a new commit
//! (every digest new, parsed templates still cached, as when a push touches every service),
//! in-process warm (the same 100 requests again: cache hits), and `helm template` × 100
//! (`HELM_BIN`, else `helm` on `PATH`, else `~/.cache/helm-oracle/bin/helm3` from
//! `scripts/setup`; skipped with a line when there is none). Both sides run as many renders at once
//! as there are cores. Charts that do not render with their defaults (external-dns needs
//! `policy`) are skipped with a line. Before the totals, a table shows where one render's time
//! goes per chart: the whole pipeline, Helm's render alone, and the sync crate's YAML → objects
//! conversion.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use controller::render::{RenderRequest, Renderer};
use source::{FileKind, TreeFile};

const NAMESPACE: &str = "env-feature-x";

/// A chart as git would hand it over: every file, relative to the chart directory.
struct ChartSrc {
    name: String,
    files: Vec<TreeFile>,
    /// From the external corpus (else one of the repository's service charts).
    corpus: bool,
}

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<TreeFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            read_tree(root, &p, out)?;
        } else {
            let rel = p
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .replace('\\', "/");
            out.push(TreeFile {
                path: rel,
                data: std::fs::read(&p)?,
                kind: FileKind::Regular,
            });
        }
    }
    Ok(())
}

fn load_chart(dir: &Path) -> Option<ChartSrc> {
    let mut files = Vec::new();
    read_tree(dir, dir, &mut files).ok()?;
    let name = dir.file_name()?.to_string_lossy().into_owned();
    Some(ChartSrc {
        name,
        files,
        corpus: false,
    })
}

/// The chart's files with its top-level `name:` replaced.
fn renamed(src: &ChartSrc, name: &str) -> Vec<TreeFile> {
    src.files
        .iter()
        .map(|f| {
            if f.path != "Chart.yaml" {
                return f.clone();
            }
            let text = String::from_utf8_lossy(&f.data);
            let text: Vec<String> = text
                .lines()
                .map(|l| {
                    if l.starts_with("name:") {
                        format!("name: {name}")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            TreeFile {
                path: f.path.clone(),
                data: (text.join("\n") + "\n").into_bytes(),
                kind: f.kind,
            }
        })
        .collect()
}

/// One Application: its service's chart (its own name), at a commit.
struct Service {
    chart: String,
    release: String,
    files: Arc<Vec<TreeFile>>,
}

fn request(s: &Service, commit: &str) -> RenderRequest {
    RenderRequest {
        repo_url: format!("https://git.example/org/{}.git", s.release),
        commit: commit.into(),
        target_revision: "feature-x".into(),
        path: String::new(),
        files_root: String::new(),
        files: s.files.clone(),
        app_name: s.release.clone(),
        namespace: NAMESPACE.into(),
        ..RenderRequest::default()
    }
}

/// Renders every service's request concurrently through `renderer`; the wall time.
fn render_all(
    rt: &tokio::runtime::Runtime,
    renderer: &Renderer,
    services: &[Service],
    commit: &str,
) -> Duration {
    let reqs: Vec<RenderRequest> = services.iter().map(|s| request(s, commit)).collect();
    let start = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = reqs
            .into_iter()
            .map(|req| {
                let r = renderer.clone();
                tokio::spawn(async move { r.render(req).await })
            })
            .collect();
        for t in tasks {
            match t.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("render failed: {e}"),
                Err(e) => panic!("task failed: {e}"),
            }
        }
    });
    start.elapsed()
}

fn find_helm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HELM_BIN") {
        return Some(PathBuf::from(p));
    }
    let works = |p: &Path| {
        Command::new(p)
            .args(["version", "--short"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works(Path::new("helm")) {
        return Some(PathBuf::from("helm"));
    }
    let home = std::env::var_os("HELM_ORACLE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/helm-oracle"))
        })?;
    let p = home.join("bin/helm3");
    works(&p).then_some(p)
}

fn write_files(dir: &Path, files: &[TreeFile]) -> std::io::Result<()> {
    for f in files {
        let p = dir.join(&f.path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, &f.data)?;
    }
    Ok(())
}

/// `helm template` once per service, `parallel` processes at a time, as a repo server would run
/// them; the wall time, or the first failure.
fn helm_all(
    helm: &Path,
    scratch: &Path,
    services: &[Service],
    parallel: usize,
) -> Result<Duration, String> {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                scope.spawn(|| {
                    let mut failed = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(s) = services.get(i) else {
                            return failed;
                        };
                        let out = Command::new(helm)
                            .arg("template")
                            .arg(&s.release)
                            .arg(scratch.join("charts").join(&s.release))
                            .args(["--namespace", NAMESPACE, "--include-crds"])
                            .env("HELM_CACHE_HOME", scratch.join("helm/cache"))
                            .env("HELM_CONFIG_HOME", scratch.join("helm/config"))
                            .env("HELM_DATA_HOME", scratch.join("helm/data"))
                            .env("KUBECONFIG", "/dev/null")
                            .stdout(Stdio::null())
                            .stderr(Stdio::piped())
                            .output();
                        match out {
                            Ok(o) if o.status.success() => {}
                            Ok(o) => failed.push(format!(
                                "{}: {}",
                                s.chart,
                                String::from_utf8_lossy(&o.stderr).trim()
                            )),
                            Err(e) => failed.push(format!("{}: {e}", s.chart)),
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let took = start.elapsed();
    match failures.first() {
        Some(f) => Err(f.clone()),
        None => Ok(took),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours skips the run.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && a != "render")
    {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var_os("TRELLIS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"));
    let n_services: usize = std::env::var("BENCH_SERVICES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());

    let mut charts: Vec<ChartSrc> = Vec::new();
    for (name, dir) in [
        ("hello", "examples/hello/charts"),
        ("demo-api", "examples/demo/api/charts"),
        ("demo-postgres", "examples/demo/postgres/charts"),
        ("demo-web", "examples/demo/web/charts"),
    ] {
        charts.extend(load_chart(&root.join(dir)).map(|mut c| {
            c.name = name.into();
            c
        }));
    }
    let corpus = shared.join("corpus/charts");
    match std::fs::read_dir(&corpus) {
        Ok(entries) => {
            let mut dirs: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("Chart.yaml").is_file())
                .collect();
            dirs.sort();
            charts.extend(dirs.iter().filter_map(|d| load_chart(d)).map(|mut c| {
                c.corpus = true;
                c
            }));
        }
        Err(_) => println!(
            "corpus charts not found at {}: the service charts only",
            corpus.display()
        ),
    }

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(parallel)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            return;
        }
    };

    // Keep the charts that render with their defaults (some corpus charts need values). Each
    // probe is its own repository: the cache trusts (repository, commit) to name the files.
    let probe = Renderer::new();
    charts.retain(|c| {
        let s = Service {
            chart: c.name.clone(),
            release: format!("probe-{}", c.name),
            files: Arc::new(c.files.clone()),
        };
        match rt.block_on(probe.render(request(&s, "0"))) {
            Ok(r) => {
                println!(
                    "chart {:<20} {:>4} files {:>4} objects",
                    c.name,
                    c.files.len(),
                    r.manifests.len()
                );
                true
            }
            Err(e) => {
                println!(
                    "chart {:<20} skipped: does not render with its defaults: {e}",
                    c.name
                );
                false
            }
        }
    });
    if charts.is_empty() {
        println!("no chart renders: nothing to measure");
        return;
    }

    // Where one render's time goes, per chart (parsed templates cached): the whole pipeline,
    // Helm's render alone, and turning its YAML into the sync engine's objects.
    println!(
        "\n{:<20} {:>10} {:>10} {:>10}",
        "chart", "pipeline", "helm", "to objects"
    );
    for c in &charts {
        let s = Service {
            chart: c.name.clone(),
            release: format!("probe-{}", c.name),
            files: Arc::new(c.files.clone()),
        };
        let req = request(&s, "0");
        let engine = helm::Engine::new();
        let best = |f: &mut dyn FnMut()| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        let pipeline = best(&mut || {
            let _ = controller::render::render_once(&engine, &req);
        });
        let files: Vec<helm::chart::File> = c
            .files
            .iter()
            .map(|f| helm::chart::File {
                name: f.path.clone(),
                data: f.data.clone().into(),
            })
            .collect();
        let Ok(chart) = helm::chart::load_files(files, 0) else {
            continue;
        };
        let opts = helm::RenderOptions {
            release_name: s.release.clone(),
            namespace: NAMESPACE.into(),
            ..helm::RenderOptions::default()
        };
        let user = gotemplate::Map::new();
        let mut out = None;
        let helm_only = best(&mut || out = engine.render(&chart, &user, &opts).ok());
        let Some(out) = out else { continue };
        let objects = best(&mut || {
            for m in &out.manifests {
                let _ = sync::object::manifests_from_yaml(&m.content, &m.source);
            }
        });
        println!(
            "{:<20} {:>8.2}ms {:>8.2}ms {:>8.2}ms",
            c.name,
            ms(pipeline),
            ms(helm_only),
            ms(objects)
        );
    }

    let (corpus_charts, service_charts): (Vec<ChartSrc>, Vec<ChartSrc>) =
        charts.into_iter().partition(|c| c.corpus);
    measure(&rt, "services", &service_charts, n_services, parallel);
    measure(&rt, "corpus", &corpus_charts, n_services, parallel);
}

/// The figures for one environment of `n_services` services over `charts`.
fn measure(
    rt: &tokio::runtime::Runtime,
    label: &str,
    charts: &[ChartSrc],
    n_services: usize,
    parallel: usize,
) {
    if charts.is_empty() {
        println!("\n[{label}] no chart: nothing to measure");
        return;
    }
    let services: Vec<Service> = (0..n_services)
        .map(|i| {
            let c = &charts[i % charts.len()];
            let release = format!("svc{i:03}");
            let name = format!("{}-{release}", c.name);
            Service {
                chart: c.name.clone(),
                files: Arc::new(renamed(c, &name)),
                release,
            }
        })
        .collect();
    println!(
        "\n[{label}] {n_services} services over {} charts, namespace {NAMESPACE}, {parallel} at a time",
        charts.len()
    );

    let commit_a = "a".repeat(40);
    let commit_b = "b".repeat(40);
    let runs = 3;
    let (mut cold, mut new_commit, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let renderer = Renderer::new();
        cold.push(render_all(rt, &renderer, &services, &commit_a));
        new_commit.push(render_all(rt, &renderer, &services, &commit_b));
        warm.push(render_all(rt, &renderer, &services, &commit_b));
        assert_eq!(renderer.renders(), 2 * n_services as u64);
    }
    let (cold, new_commit, warm) = (median(cold), median(new_commit), median(warm));
    println!(
        "in-process, cold (fresh Renderer)          {:>10.1} ms",
        ms(cold)
    );
    println!(
        "in-process, new commit (templates parsed)  {:>10.1} ms",
        ms(new_commit)
    );
    println!(
        "in-process, warm (cache hits)              {:>10.3} ms",
        ms(warm)
    );

    let Some(helm) = find_helm() else {
        println!("helm not found (HELM_BIN, PATH, ~/.cache/helm-oracle/bin/helm3): no comparison");
        return;
    };
    let scratch = std::env::temp_dir().join(format!("trellis-bench-render-{}", std::process::id()));
    let written = services
        .iter()
        .try_for_each(|s| write_files(&scratch.join("charts").join(&s.release), &s.files));
    if let Err(e) = written {
        println!(
            "cannot write the charts for helm under {}: {e}",
            scratch.display()
        );
        let _ = std::fs::remove_dir_all(&scratch);
        return;
    }
    let helm_time = helm_all(&helm, &scratch, &services, parallel);
    let _ = std::fs::remove_dir_all(&scratch);
    let helm_time = match helm_time {
        Ok(t) => t,
        Err(e) => {
            println!("helm template failed, no comparison: {e}");
            return;
        }
    };
    println!(
        "helm template x {n_services} ({})  {:>10.1} ms",
        helm.display(),
        ms(helm_time)
    );
    let ratio = |d: Duration| helm_time.as_secs_f64() / d.as_secs_f64().max(1e-9);
    println!(
        "ratio helm / in-process, cold               {:>10.1}x",
        ratio(cold)
    );
    println!(
        "ratio helm / in-process, new commit         {:>10.1}x",
        ratio(new_commit)
    );
    println!(
        "ratio helm / in-process, warm               {:>10.0}x",
        ratio(warm)
    );
    println!("(target: >= 100x)");
}
