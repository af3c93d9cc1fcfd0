//! Byte-for-byte agreement with real Helm v3.17.2 on the template language: every case in
//! `tests/data/oracle_cases.json` was rendered by real Helm (through a throwaway chart, see
//! `tests/harness/mod.rs`); its output or error text is the expectation.

mod harness;

#[test]
fn agrees_with_helm_on_every_recorded_case() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("data/oracle_cases.json")).expect("valid JSON");
    let values = harness::from_json(
        &serde_json::from_str(include_str!("data/values.json")).expect("valid JSON"),
    );
    let funcs = harness::funcs();
    let cases = data["cases"].as_array().expect("cases");
    assert!(cases.len() > 200, "the recorded case set is complete");
    let mut failures = Vec::new();
    for c in cases {
        let template = c["template"].as_str().expect("template");
        let got = harness::run(template, &values, &funcs);
        if got != c["helm"] {
            failures.push(format!(
                "{template:?}\n  helm: {}\n  ours: {got}",
                c["helm"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
