//! Go maps are references: a template's `set` on `.Values.x` is seen by the templates
//! Helm executes after it (deepest first, then reverse lexical order), a subchart's
//! `.Values` is the parent's `.Values.<sub>` map, and nothing leaks into the next
//! render of the same loaded chart. Expected output: `testdata/expected/mapref.out`,
//! from real Helm v3.17.2 (`testdata/regen.sh`, case `mapref`).

use std::path::Path;

use helm::render::OutputOptions;
use helm::{Engine, RenderOptions};

#[test]
fn set_is_shared_within_a_render_and_never_leaks_into_the_next() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let want = std::fs::read_to_string(dir.join("expected/mapref.out")).expect("fixture");
    let chart = helm::chart::load(&dir.join("charts/mapref")).expect("chart loads");
    let user = gotemplate::Map::new();
    let opts = RenderOptions {
        release_name: "rel".into(),
        namespace: "ns".into(),
        ..RenderOptions::default()
    };
    let engine = Engine::new();
    for round in 1..=3 {
        let got = engine
            .render(&chart, &user, &opts)
            .expect("renders")
            .to_helm_output(&OutputOptions::default())
            .expect("output");
        assert_eq!(got, want, "render {round} differs from Helm");
    }
    // The loaded chart's defaults are untouched by the renders' `set`s.
    let x = chart.values.get("x").and_then(gotemplate::Value::as_map);
    assert_eq!(x.map(|m| m.keys()), Some(vec!["k".to_string()]));
}

#[test]
fn to_yaml_of_a_map_containing_itself_is_gos_cycle_error_not_a_stack_overflow() {
    let v = gotemplate::Value::map(gotemplate::Map::new());
    v.as_map().expect("map").insert("self", v.clone());
    let err = helm::yaml_emit::to_yaml(&v).expect_err("a cycle cannot be marshalled");
    assert_eq!(
        err.to_string(),
        "json: unsupported value: encountered a cycle via map[string]interface {}"
    );
}
