//! Differential test of the template engine, Sprig and Helm's functions against real Helm.
//!
//! Each `testdata/template-cases/<group>/<name>.txtar` is a throwaway chart (format and wrapper
//! in `testdata/README.md`); `scripts/regen-oracle` rendered it with real Helm v3.17.2 and stored
//! the result beside it. Here the real `trellis` binary renders the same chart and must print the
//! same bytes (or the same `Error: ...` and exit code). All cases run; one assertion lists every
//! mismatch. `TRELLIS_ORACLE_FILTER=substring` runs a subset.

mod oracle_support;

use oracle_support::{CHART_DIR, collect_cases, filtered, report, run_cases};

/// The suite must not silently shrink (e.g. testdata not found).
const MIN_CASES: usize = 320;

#[test]
fn template_cases_match_helm() {
    let cases = collect_cases("template-cases");
    if filtered() {
        assert!(
            !cases.is_empty(),
            "TRELLIS_ORACLE_FILTER matches no template case"
        );
    } else {
        assert!(
            cases.len() >= MIN_CASES,
            "expected at least {MIN_CASES} template cases, found {}",
            cases.len()
        );
    }
    let failures = run_cases(&cases, &|case, _work| match case.chart() {
        None => Ok(CHART_DIR.to_string()),
        Some(chart) => Err(format!("template case names a corpus chart ({chart})")),
    });
    report("template", cases.len(), &cases, &failures);
}
