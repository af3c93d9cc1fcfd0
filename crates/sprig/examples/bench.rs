//! Rough throughput of Sprig-heavy rendering through the gotemplate executor:
//! `cargo run --release -p sprig --example bench`.

use std::time::Instant;

use gotemplate::{ExecOptions, TemplateSet, Value};

const TEMPLATE: &str = r#"{{- range $i := until 50 }}
name: {{ printf "%s-%s-%d" "release" "chart-with-a-long-name" $i | trunc 63 | trimSuffix "-" | lower | quote }}
labels: {{ dict "app" "x" "i" $i "v" (semver "1.2.3").Minor | toJson }}
ok: {{ semverCompare ">=1.19-0 || ^2" "v1.32.0" }} {{ default "d" "" }} {{ coalesce nil "" "c" }}
sum: {{ sha256sum (toString $i) | trunc 8 }} {{ b64enc "hello" | b64dec }} {{ add $i 1 | mul 3 | toString }}
re: {{ regexReplaceAll "[^a-z0-9-]" (printf "My_App.%d" $i | lower) "-" }} {{ splitList "," "a,b,c" | uniq | sortAlpha | join "+" }}
merged: {{ merge (dict "a" 1) (dict "b" (dict "c" 2)) (dict "a" 3) | toJson }} {{ list 1 2 3 | rest | last }}
date: {{ dateInZone "2006-01-02T15:04:05Z07:00" 1700000000 "UTC" }} {{ snakecase "HTTPServerName" }} {{ camelcase "foo_bar" }}
{{- end }}
"#;

fn main() {
    let funcs_start = Instant::now();
    let funcs = sprig::funcs();
    let funcs_time = funcs_start.elapsed();
    let mut set = TemplateSet::new(funcs);
    set.parse("bench", TEMPLATE).expect("template parses");
    let opts = ExecOptions::default();
    let out = set
        .execute("bench", &Value::Nil, &opts)
        .expect("template executes");
    let iterations = 200;
    let start = Instant::now();
    for _ in 0..iterations {
        let o = set
            .execute("bench", &Value::Nil, &opts)
            .expect("template executes");
        assert_eq!(o.len(), out.len());
    }
    let per = start.elapsed() / iterations;
    let calls = 50 * 40;
    println!("sprig::funcs(): {funcs_time:?}");
    println!(
        "render ({} bytes, ~{calls} Sprig calls): {per:?} per render, {:.0} ns per call",
        out.len(),
        per.as_nanos() as f64 / calls as f64
    );
}
