//! The fast manifest head scan (`goyaml::yaml`, which skips the full YAML parse for plain
//! documents) over every document the charts render: it must vouch for most of them and agree
//! with the full parse on each one it vouches for. Here rather than in `goyaml` because
//! rendering charts is `helm`'s. The charts of this repository are always checked; the external
//! corpus of public charts (`$TRELLIS_SHARED/corpus/charts`, by default `../shared` beside the
//! repository) only when present, with one SKIPPED line otherwise. `FAST_BLOCK_DEBUG=1` prints
//! where the fast block builder gave up on each document it declined.

use std::path::{Path, PathBuf};

use goyaml::yaml::fast_head_testing;

/// The chart directories under `dir` (each subdirectory holding a `Chart.yaml`), sorted.
fn chart_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    paths.sort();
    paths
}

/// The node builder that skips the event parser (`goyaml`'s fast block path) on `doc`: it
/// must build exactly what the parser builds whenever it builds. Whether it built.
fn fast_block(doc: &str, what: &str) -> bool {
    match fast_head_testing::fast_block_agrees(doc) {
        Ok(built) => built,
        Err(e) => panic!("{what}: the fast block builder disagrees with the parser:\n{e}\n{doc}"),
    }
}

/// Renders every chart of `paths` with its defaults (CRDs included) and checks the scanner on
/// each document, and the fast block builder on each document and each chart's `Chart.yaml`
/// and `values.yaml`. Returns (documents, accepted, why each declined one was declined).
fn scan(paths: &[PathBuf]) -> (usize, usize, Vec<String>) {
    let keep = &["apiVersion", "kind", "metadata"];
    let (mut docs, mut accepted) = (0, 0);
    let (mut files, mut built_files, mut built_docs) = (0, 0, 0);
    let mut declined = Vec::new();
    for p in paths {
        for f in ["Chart.yaml", "values.yaml"] {
            if let Ok(text) = std::fs::read_to_string(p.join(f)) {
                files += 1;
                built_files += usize::from(fast_block(&text, &p.join(f).display().to_string()));
            }
        }
        let chart = helm::chart::load(p).expect("chart loads");
        let Ok(r) = helm::Engine::uncached().render(
            &chart,
            &gotemplate::Map::new(),
            &helm::RenderOptions::default(),
        ) else {
            continue; // external-dns refuses its default values by design
        };
        let text = r.to_helm_output(&helm::OutputOptions {
            include_crds: true,
            ..Default::default()
        });
        for doc in helm::manifest::split_manifests(&text.expect("no --show-only")) {
            docs += 1;
            let built = fast_block(&doc, &p.display().to_string());
            built_docs += usize::from(built);
            if !built && std::env::var_os("FAST_BLOCK_DEBUG").is_some() {
                let lines: Vec<&str> = doc.split('\n').collect();
                let first_bad = (1..=lines.len())
                    .rfind(|&n| {
                        let prefix = lines[..n].join("\n") + "\n";
                        matches!(fast_head_testing::fast_block_agrees(&prefix), Ok(true))
                    })
                    .map(|n| (n + 1).min(lines.len()));
                eprintln!(
                    "declined ({} bytes, ends with newline: {}): first failing prefix line {:?}: {:?}",
                    doc.len(),
                    doc.ends_with('\n'),
                    first_bad,
                    first_bad.map(|n| lines[n.saturating_sub(3)..n].join("\n"))
                );
            }
            if !fast_head_testing::accepts(&doc, keep) {
                declined.push(format!(
                    "{}: {} bytes: {}",
                    p.display(),
                    doc.len(),
                    fast_head_testing::why_declined(&doc)
                ));
            } else {
                accepted += 1;
                let fast =
                    helm::yaml::parse_keys(&doc, keep).map(|v| gotemplate::gofmt::sprint(&v));
                let full = fast_head_testing::parse_keys_full(&doc, keep)
                    .map(|v| gotemplate::gofmt::sprint(&v));
                assert_eq!(fast, full, "{}: {doc}", p.display());
            }
        }
    }
    eprintln!(
        "fast block builder: {built_docs} of {docs} documents, {built_files} of {files} Chart.yaml/values.yaml"
    );
    // It exists for these documents: most of them must take the fast path.
    assert!(
        built_docs * 3 >= docs * 2,
        "the fast block builder took only {built_docs} of {docs} documents"
    );
    (docs, accepted, declined)
}

#[test]
fn fast_head_scan_agrees_on_every_rendered_in_repo_document() {
    // The charts written in this repository (tests' and examples'): always present.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths = chart_dirs(&root.join("crates/helm/testdata/charts"));
    paths.extend(chart_dirs(
        &root.join("crates/devcluster/tests/data/charts"),
    ));
    for app in [
        "examples/demo/api",
        "examples/demo/web",
        "examples/demo/postgres",
    ] {
        paths.extend(chart_dirs(&root.join(app)));
    }
    paths.extend(chart_dirs(&root.join("examples/hello")));
    assert!(paths.len() >= 7, "in-repo charts: {paths:?}");
    let (docs, accepted, declined) = scan(&paths);
    eprintln!("fast head scan: {accepted} of {docs} in-repo documents");
    assert!(docs >= 15, "{docs} documents rendered");
    // These charts write flow maps (`labels: {a: b}`) that the scanner declines by design (the
    // full parse reads them), so only most of them, not 95%, are accepted.
    assert!(
        accepted * 3 >= docs * 2,
        "only {accepted} of {docs} accepted; declined: {declined:#?}"
    );
}

#[test]
fn fast_head_scan_agrees_on_every_rendered_corpus_document() {
    // Every document the external corpus renders (with their CRDs): the scanner must accept
    // most of them (it exists for these) and agree with the full parse on all it accepts.
    let shared = std::env::var_os("TRELLIS_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let dir = shared.join("corpus/charts");
    let paths = chart_dirs(&dir);
    if paths.is_empty() {
        eprintln!(
            "SKIPPED: no chart corpus at {} (set TRELLIS_SHARED to the folder holding corpus/)",
            dir.display()
        );
        return;
    }
    let (docs, accepted, declined) = scan(&paths);
    assert!(docs > 150, "{docs} documents rendered");
    eprintln!("fast head scan: {accepted} of {docs} corpus documents");
    assert!(
        accepted * 20 >= docs * 19,
        "only {accepted} of {docs} accepted; declined: {declined:#?}"
    );
}
