//! Differential test of chart rendering on the shared corpus of real public charts.
//!
//! Each `testdata/corpus-expected/<name>.txtar` names a chart of `../shared/corpus/charts/`
//! (header `chart:`), the release, namespace and `helm template` flags, and any values files
//! (`@file` sections, written to the working directory). `scripts/regen-oracle` rendered each with
//! real Helm three times: lines that differed (random passwords, certificates) are listed in
//! `<name>.random` with a regex and compared by shape; everything else byte for byte.
//! `TRELLIS_ORACLE_FILTER=substring` runs a subset; `TRELLIS_SHARED` points at another shared/;
//! without a corpus there the test is skipped with one line.

mod oracle_support;

use oracle_support::{collect_cases, filtered, report, run_cases, shared_dir};

/// 11 charts with default values, external-dns with its CI values, and the non-default cases.
const MIN_CASES: usize = 22;

#[test]
fn corpus_charts_match_helm() {
    // The corpus of public charts lives outside the repository; without it this test says so in
    // one line and passes (the charts of this repository are covered by the other tests).
    let charts = shared_dir().join("corpus/charts");
    if !charts.is_dir() {
        eprintln!(
            "SKIPPED: no chart corpus at {} (set TRELLIS_SHARED to the folder holding corpus/)",
            charts.display()
        );
        return;
    }
    let cases = collect_cases("corpus-expected");
    if filtered() {
        assert!(
            !cases.is_empty(),
            "TRELLIS_ORACLE_FILTER matches no corpus case"
        );
    } else {
        assert!(
            cases.len() >= MIN_CASES,
            "expected at least {MIN_CASES} corpus cases, found {}",
            cases.len()
        );
    }
    let failures = run_cases(&cases, &|case, _work| {
        let name = case
            .chart()
            .ok_or("corpus case without a `chart:` header")?;
        let dir = charts.join(name);
        if !dir.is_dir() {
            return Err(format!("corpus chart not found: {}", dir.display()));
        }
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir.to_string_lossy().into_owned())
    });
    report("corpus", cases.len(), &cases, &failures);
}
