//! The fast manifest head scan (`goyaml::yaml`, which skips the full YAML parse for plain
//! documents) over every document the corpus charts render: it must vouch for most of them
//! and agree with the full parse on each one it vouches for. Here rather than in `goyaml`
//! because rendering the corpus is `helm`'s.

use goyaml::yaml::fast_head_testing;

#[test]
fn fast_head_scan_agrees_on_every_rendered_corpus_document() {
    // Every document the corpus charts render (with their CRDs): the scanner must accept
    // most of them (it exists for these) and agree with the full parse on all it accepts.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/charts");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("the corpus is beside the repository")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    paths.sort();
    let keep = &["apiVersion", "kind", "metadata"];
    let (mut docs, mut accepted) = (0, 0);
    let mut declined = Vec::new();
    for p in paths {
        let chart = helm::chart::load(&p).expect("corpus chart loads");
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
            if !fast_head_testing::accepts(&doc, keep) {
                declined.push(format!(
                    "{} bytes: {}",
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
    assert!(docs > 150, "{docs} documents rendered");
    eprintln!("fast head scan: {accepted} of {docs} corpus documents");
    assert!(
        accepted * 20 >= docs * 19,
        "only {accepted} of {docs} accepted; declined: {declined:#?}"
    );
}
