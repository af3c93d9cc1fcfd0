//! Developer tool: runs template cases through our engine exactly the way the oracle chart
//! runs them through real Helm (see `tests/harness/mod.rs`), to compare outputs and errors.
//!
//! usage: cargo run -p gotemplate --example oracle_cases -- CASES.json [VALUES.json]
//! Prints one line per case: `JSON_CASE => {"ok": TEXT}` or `{"err": MESSAGE}`.

#[path = "../tests/harness/mod.rs"]
mod harness;

use gotemplate::Value;
use harness::{from_json, funcs, run};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cases: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&args[1]).expect("cases file"))
            .expect("JSON list");
    let values = match args.get(2) {
        Some(p) => from_json(
            &serde_json::from_str(&std::fs::read_to_string(p).expect("values file")).expect("JSON"),
        ),
        None => Value::map(Default::default()),
    };
    let f = funcs();
    for c in cases {
        let r = run(&c, &values, &f);
        println!("{} => {}", serde_json::to_string(&c).expect("json"), r);
    }
}
