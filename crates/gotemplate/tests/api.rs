//! The public API: template sets (parse, redefinition, sharing across threads), host
//! functions and objects, `CallContext` (include/tpl/template name) and the safety limits.
//! Error texts asserted here were produced by real Helm v3.17.2 (oracle chart runs noted per test).

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gotemplate::{Error, ExecOptions, FuncMap, Function, Map, Object, Param, TemplateSet, Value};

fn set_with(files: &[(&str, &str)], funcs: FuncMap) -> TemplateSet {
    let mut set = TemplateSet::new(funcs);
    for (name, text) in files {
        set.parse(name, text).expect("parses");
    }
    set
}

fn run(set: &TemplateSet, name: &str, data: &Value) -> Result<String, Error> {
    set.execute(name, data, &ExecOptions::default())
}

#[test]
fn template_sets_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TemplateSet>();
    let set = Arc::new(set_with(
        &[
            ("a", r#"{{ define "x" }}<{{ . }}>{{ end }}"#),
            ("main", r#"{{ range . }}{{ template "x" . }}{{ end }}"#),
        ],
        FuncMap::new(),
    ));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let set = set.clone();
            std::thread::spawn(move || {
                let data = Value::list(vec![Value::int(i), Value::int(i + 1)]);
                run(&set, "main", &data).expect("executes")
            })
        })
        .collect();
    let outs: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(outs, vec!["<0><1>", "<1><2>", "<2><3>", "<3><4>"]);
}

#[test]
fn later_non_empty_definition_wins_and_empty_never_replaces() {
    // Go's associate rule across Parse calls (Helm parses each chart file separately).
    let set = set_with(
        &[
            (
                "f1",
                r#"{{ define "x" }}one{{ end }}{{ define "y" }}Y{{ end }}"#,
            ),
            (
                "f2",
                r#"{{ define "x" }}two{{ end }}{{ define "y" }}  {{ end }}"#,
            ),
            ("main", r#"{{ template "x" }}{{ template "y" }}"#),
        ],
        FuncMap::new(),
    );
    assert_eq!(run(&set, "main", &Value::Nil).expect("runs"), "twoY");
}

#[test]
fn a_failed_parse_leaves_the_set_unchanged() {
    let mut set = set_with(&[("f1", r#"{{ define "x" }}one{{ end }}"#)], FuncMap::new());
    let err = set
        .parse("f2", r#"{{ define "x" }}two{{ end }}{{ if }}{{ end }}"#)
        .expect_err("bad template");
    // Helm printed: parse error at (f2:1): missing value for if  (Go's raw form below).
    assert_eq!(err.to_string(), "template: f2:1: missing value for if");
    set.parse("main", r#"{{ template "x" }}"#).expect("parses");
    assert_eq!(run(&set, "main", &Value::Nil).expect("runs"), "one");
}

#[test]
fn two_definitions_in_one_file_are_an_error_unless_one_is_empty() {
    let mut set = TemplateSet::new(FuncMap::new());
    let err = set
        .parse(
            "f",
            r#"{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}"#,
        )
        .expect_err("dup");
    assert_eq!(
        err.to_string(),
        "template: f:1: template: multiple definition of template \"a\""
    );
    set.parse(
        "g",
        r#"{{ define "b" }}{{ end }}{{ define "b" }}x{{ end }}"#,
    )
    .expect("empty first is fine");
    set.parse("main", r#"{{ template "b" }}"#).expect("parses");
    assert_eq!(run(&set, "main", &Value::Nil).expect("runs"), "x");
}

#[test]
fn executing_an_unknown_template_names_the_root() {
    let set = TemplateSet::new(FuncMap::new());
    let err = run(&set, "nope", &Value::Nil).expect_err("missing");
    assert_eq!(
        err.to_string(),
        "template: no template \"nope\" associated with template \"gotpl\""
    );
}

#[test]
fn undefined_functions_fail_at_parse_time() {
    let mut set = TemplateSet::new(FuncMap::new());
    let err = set.parse("t", "x\n{{ nope 1 }}").expect_err("undefined");
    assert_eq!(
        err.to_string(),
        "template: t:2: function \"nope\" not defined"
    );
}

#[test]
fn tpl_sees_the_set_and_its_defines_do_not_leak() {
    // Oracle: {{ tpl "{{ define \"t9\" }}x{{ end }}" . }}{{ include "t9" . }} fails in Helm with
    // `no template "t9" associated with template "gotpl"`; tpl text may include set defines.
    let funcs = harness::funcs();
    let set = set_with(
        &[
            ("h", r#"{{ define "base" }}B{{ . }}{{ end }}"#),
            (
                "main",
                r#"{{ tpl "{{ define \"t9\" }}x{{ end }}{{ include \"base\" 1 }}{{ include \"t9\" . }}" . }}|{{ include "t9" . }}"#,
            ),
        ],
        funcs,
    );
    let err = run(&set, "main", &Value::map(Map::new())).expect_err("t9 must not leak");
    let msg = err.to_string();
    assert!(
        msg.ends_with(
            "error calling include: template: no template \"t9\" associated with template \"gotpl\""
        ),
        "{msg}"
    );
    let set2 = set_with(
        &[
            ("h", r#"{{ define "base" }}B{{ . }}{{ end }}"#),
            ("m", r#"{{ tpl "{{ include \"base\" 1 }}" . }}"#),
        ],
        harness::funcs(),
    );
    assert_eq!(
        run(&set2, "m", &Value::map(Map::new())).expect("runs"),
        "B1"
    );
}

#[test]
fn host_functions_learn_the_template_being_executed() {
    let mut funcs = FuncMap::new();
    funcs.insert(
        "whoami",
        Function::new(&[], None, |ctx, _| Ok(Value::str(ctx.template_name()))),
    );
    let set = set_with(
        &[(
            "file.yaml",
            r#"{{ whoami }}/{{ define "d" }}{{ whoami }}{{ end }}{{ template "d" }}"#,
        )],
        funcs,
    );
    assert_eq!(
        run(&set, "file.yaml", &Value::Nil).expect("runs"),
        "file.yaml/d"
    );
}

#[test]
fn include_recursion_stops_with_helms_message() {
    // Oracle: Helm 3.17.2 rendering t/templates/f.yaml below fails with exactly this text
    // (its first segment, then 1001 identical nested segments, then Helm's limit message).
    let set = set_with(
        &[(
            "t/templates/f.yaml",
            r#"{{ define "c0" }}{{ include "c0" . }}{{ end }}{{ include "c0" . }}"#,
        )],
        harness::funcs(),
    );
    let msg = run(&set, "t/templates/f.yaml", &Value::Nil)
        .expect_err("recursion")
        .to_string();
    let first = "template: t/templates/f.yaml:1:49: executing \"t/templates/f.yaml\" at <include \"c0\" .>: error calling include: ";
    let nested = "template: t/templates/f.yaml:1:20: executing \"c0\" at <include \"c0\" .>: error calling include: ";
    let expected = format!(
        "{first}{}rendering template has a nested reference name: c0: unable to execute template",
        nested.repeat(1001)
    );
    assert!(
        msg == expected,
        "differs; got {} bytes, tail: {}",
        msg.len(),
        &msg[msg.len().saturating_sub(200)..]
    );
}

#[test]
fn template_recursion_stops_at_gos_depth_limit() {
    let set = set_with(
        &[(
            "f",
            r#"{{ define "r" }}{{ template "r" }}{{ end }}{{ template "r" }}"#,
        )],
        FuncMap::new(),
    );
    let opts = ExecOptions {
        max_depth: 50,
        ..ExecOptions::default()
    };
    let msg = set
        .execute("f", &Value::Nil, &opts)
        .expect_err("depth")
        .to_string();
    assert_eq!(
        msg,
        "template: f:1:28: executing \"r\" at <{{template \"r\"}}>: exceeded maximum template depth (50)"
    );
}

#[test]
fn cancellation_stops_a_long_range() {
    let cancel = Arc::new(AtomicBool::new(false));
    let mut funcs = FuncMap::new();
    let c2 = cancel.clone();
    funcs.insert(
        "tick",
        Function::new(&[Param::Any], None, move |_, a| {
            if matches!(a[0], Value::Int(500, _)) {
                c2.store(true, Ordering::Relaxed);
            }
            Ok(Value::Nil)
        }),
    );
    let items: Vec<Value> = (0..100_000).map(Value::int).collect();
    let set = set_with(&[("f", "{{ range . }}{{ tick . }}{{ end }}")], funcs);
    let opts = ExecOptions {
        cancel: Some(cancel),
        ..ExecOptions::default()
    };
    let err = set
        .execute("f", &Value::list(items), &opts)
        .expect_err("cancelled");
    assert_eq!(err, Error::Cancelled);
}

#[test]
fn output_and_iteration_limits_bound_hostile_templates() {
    let set = set_with(
        &[(
            "f",
            "{{ range . }}{{ range $.inner }}xxxxxxxxxx{{ end }}{{ end }}",
        )],
        FuncMap::new(),
    );
    let many: Vec<Value> = (0..1000).map(Value::int).collect();
    let mut m = Map::new();
    m.insert("inner".into(), Value::list(many.clone()));
    let data = Value::map(m);
    let opts = ExecOptions {
        max_output: 1 << 16,
        ..ExecOptions::default()
    };
    // `range .` over a map ranges its values: one inner list of 1000 gives 10000 bytes.
    assert_eq!(set.execute("f", &data, &opts).map(|s| s.len()), Ok(10_000));
    let set2 = set_with(
        &[(
            "f",
            "{{ range $.a }}{{ range $.a }}{{ range $.a }}x{{ end }}{{ end }}{{ end }}",
        )],
        FuncMap::new(),
    );
    let mut m3 = Map::new();
    m3.insert("a".into(), Value::list(many));
    let data3 = Value::map(m3);
    let err = set2.execute("f", &data3, &opts).expect_err("output limit");
    assert!(
        matches!(err, Error::Limit(ref s) if s == "template output exceeds 65536 bytes"),
        "{err}"
    );
    let opts2 = ExecOptions {
        max_range_iterations: 5000,
        ..ExecOptions::default()
    };
    let err = set2
        .execute("f", &data3, &opts2)
        .expect_err("iteration limit");
    assert!(
        matches!(err, Error::Limit(ref s) if s == "range iterations exceed the limit of 5000"),
        "{err}"
    );
}

/// Stand-in for Helm's `*chartutil.Capabilities` pieces, to check Go's method rules.
#[derive(Debug)]
struct Versions(Vec<&'static str>);

impl Object for Versions {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }
    fn method_params(&self, name: &str) -> Option<(&'static [Param], Option<Param>)> {
        (name == "Has").then_some((&[Param::String], None))
    }
    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "Has").then(|| {
            Ok(Value::Bool(
                self.0.contains(&args[0].as_str().unwrap_or("")),
            ))
        })
    }
    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
}

#[derive(Debug)]
struct Caps;

impl Object for Caps {
    fn type_name(&self) -> &str {
        "*chartutil.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "APIVersions" => Some(Value::Object(Arc::new(Versions(vec!["v1", "apps/v1"])))),
            "Name" => Some(Value::str("caps")),
            _ => None,
        }
    }
    fn display(&self) -> String {
        "&{...}".into()
    }
}

/// Runs `case` like the oracle chart did, with `.Capabilities`/`.Chart` objects at the top.
fn run_objects(case: &str) -> Result<String, String> {
    let mut set = TemplateSet::new(harness::funcs());
    set.parse(
        "t/templates/_x.tpl",
        &format!("{{{{- define \"c0\" }}}}{case}{{{{ end }}}}\n"),
    )
    .map_err(|e| e.to_string())?;
    set.parse("t/templates/t.yaml", "{{ include \"c0\" . }}")
        .map_err(|e| e.to_string())?;
    let mut top = Map::new();
    top.insert("Capabilities".into(), Value::Object(Arc::new(Caps)));
    top.insert("Chart".into(), Value::Object(Arc::new(Caps)));
    run(&set, "t/templates/t.yaml", &Value::map(top)).map_err(|e| e.to_string())
}

const PREFIX: &str = "template: t/templates/t.yaml:1:3: executing \"t/templates/t.yaml\" at <include \"c0\" .>: error calling include: ";

#[test]
fn object_methods_and_fields_follow_gos_rules() {
    // Expected texts: real Helm 3.17.2 on the same templates (its own Capabilities/Chart).
    assert_eq!(
        run_objects(
            r#"{{ .Capabilities.APIVersions.Has "v1" }}|{{ .Capabilities.APIVersions.Has "nope/v9" }}"#
        ),
        Ok("true|false".into())
    );
    assert_eq!(
        run_objects(r#"{{ "x" | .Capabilities.APIVersions.Has }}"#),
        Ok("false".into())
    );
    assert_eq!(
        run_objects("{{ .Capabilities.APIVersions.Has }}"),
        Err(format!(
            "{PREFIX}template: t/templates/_x.tpl:1:34: executing \"c0\" at <.Capabilities.APIVersions.Has>: wrong number of args for Has: want 1 got 0"
        ))
    );
    assert_eq!(
        run_objects("{{ .Capabilities.APIVersions.Has 1 }}"),
        Err(format!(
            "{PREFIX}template: t/templates/_x.tpl:1:51: executing \"c0\" at <1>: expected string; found 1"
        ))
    );
    assert_eq!(
        run_objects(r#"{{ .Chart.Name "x" }}"#),
        Err(format!(
            "{PREFIX}template: t/templates/_x.tpl:1:27: executing \"c0\" at <.Chart.Name>: Name has arguments but cannot be invoked as function"
        ))
    );
    assert_eq!(
        run_objects("{{ .Chart.Nope }}"),
        Err(format!(
            "{PREFIX}template: t/templates/_x.tpl:1:27: executing \"c0\" at <.Chart.Nope>: can't evaluate field Nope in type interface {{}}"
        ))
    );
    assert_eq!(
        run_objects("{{ .Chart.Name.x }}"),
        Err(format!(
            "{PREFIX}template: t/templates/_x.tpl:1:27: executing \"c0\" at <.Chart.Name.x>: can't evaluate field x in type string"
        ))
    );
}

#[test]
fn deep_nesting_neither_overflows_the_stack_nor_fails_wrongly() {
    // Go accepts 10000 nested parentheses (maxStackDepth) and rejects more.
    let n = 9_999;
    let text = format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
    let set = set_with(&[("p", &text)], FuncMap::new());
    assert_eq!(run(&set, "p", &Value::Nil).expect("runs"), "1");
    let text = format!("{{{{ {}1{} }}}}", "(".repeat(10_001), ")".repeat(10_001));
    let err = TemplateSet::new(FuncMap::new())
        .parse("p", &text)
        .expect_err("too deep");
    assert_eq!(
        err.to_string(),
        "template: p:1: max expression depth exceeded"
    );
    // An error deep inside nested parentheses prints the whole expression.
    let text = format!("{{{{ {}.a.b{} }}}}", "(".repeat(3000), ")".repeat(3000));
    let set = set_with(&[("p", &text)], FuncMap::new());
    let mut m = Map::new();
    m.insert("a".into(), Value::Nil);
    let msg = run(&set, "p", &Value::map(m))
        .expect_err("nil pointer")
        .to_string();
    assert!(
        msg.ends_with("nil pointer evaluating interface {}.b"),
        "{}",
        &msg[msg.len() - 80..]
    );
    // Deeply nested control structures.
    let depth = 20_000;
    let text = format!(
        "{}x{}",
        "{{ if true }}".repeat(depth),
        "{{ end }}".repeat(depth)
    );
    let set = set_with(&[("i", &text)], FuncMap::new());
    assert_eq!(run(&set, "i", &Value::Nil).expect("runs"), "x");
}

#[test]
fn missing_key_error_option_reports_missing_keys() {
    // Go's missingkey=error texts (text/template exec.go); Helm's default is missingkey=zero.
    let set = set_with(&[("m", "{{ .a }}|{{ .nope }}")], FuncMap::new());
    let mut m = Map::new();
    m.insert("a".into(), Value::str("A"));
    let data = Value::map(m);
    assert_eq!(run(&set, "m", &data).expect("zero mode"), "A|<no value>");
    let strict = ExecOptions {
        missing_key_error: true,
        ..ExecOptions::default()
    };
    let msg = set
        .execute("m", &data, &strict)
        .expect_err("strict")
        .to_string();
    assert_eq!(
        msg,
        "template: m:1:12: executing \"m\" at <.nope>: map has no entry for key \"nope\""
    );
}

#[test]
fn and_or_stop_at_the_deciding_operand() {
    // Oracle (Helm 3.17.2): {{ and 0 (fail "no") }}|{{ or 1 (fail "no") }} renders "0|1".
    let mut funcs = FuncMap::new();
    funcs.insert(
        "fail",
        Function::new(&[Param::String], None, |_, a| {
            Err(gotemplate::FuncError(
                a[0].as_str().unwrap_or("").to_string(),
            ))
        }),
    );
    let set = set_with(
        &[(
            "t",
            r#"{{ and 0 (fail "no") }}|{{ or 1 (fail "no") }}|{{ and 1 "x" }}|{{ or 0 "" }}"#,
        )],
        funcs,
    );
    assert_eq!(
        run(&set, "t", &Value::Nil).expect("short-circuits"),
        "0|1|x|"
    );
}

#[test]
fn values_built_in_loops_are_bounded_too() {
    let set = set_with(
        &[(
            "t",
            r#"{{ $x := "ab" }}{{ range . }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ len $x }}"#,
        )],
        FuncMap::new(),
    );
    let items = Value::list((0..64).map(Value::int).collect());
    let opts = ExecOptions {
        max_output: 1 << 20,
        ..ExecOptions::default()
    };
    let err = set.execute("t", &items, &opts).expect_err("bounded");
    assert!(
        matches!(err, Error::Limit(ref s) if s == "result of printf exceeds the limit of 1048576 bytes or elements"),
        "{err}"
    );
    let small = Value::list((0..4).map(Value::int).collect());
    assert_eq!(set.execute("t", &small, &opts).expect("fits"), "32");
}
