//! Property tests: arbitrary template text (random characters, and random sequences of
//! template-language fragments) always parses to `Ok` or `Err` and executes to `Ok` or
//! `Err` under tight limits — never a panic or a hang — and execution is deterministic.

mod harness;

use gotemplate::{ExecOptions, Map, TemplateSet, Value};
use proptest::collection::vec;
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "{{/*",
    "*/}}",
    " ",
    "  ",
    "\n",
    ".",
    ".a",
    ".b",
    ".l",
    ".m.k",
    "$",
    "$x",
    "$y",
    ":=",
    "=",
    "|",
    "(",
    ")",
    ",",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "\"x\"",
    "\"%v-%d\"",
    "\"t\"",
    "\"c0\"",
    "`r`",
    "'c'",
    "'\\n'",
    "1",
    "-2",
    "3.5",
    "0x1F",
    "1e3",
    "1_0",
    "0o7",
    "1i",
    "nil",
    "true",
    "false",
    "len",
    "index",
    "slice",
    "printf",
    "print",
    "println",
    "eq",
    "ne",
    "lt",
    "ge",
    "and",
    "or",
    "not",
    "html",
    "js",
    "urlquery",
    "call",
    "include",
    "tpl",
    "upper",
    "list",
    "dict",
    "add",
    "abc",
    "\"",
    "'",
    "`",
    "{",
    "}",
    "-",
    "é",
    "\\",
    "/*",
    "*/",
];

fn data() -> Value {
    let mut m = Map::new();
    m.insert("a".into(), Value::str("A"));
    m.insert("b".into(), Value::Float(2.0));
    m.insert(
        "l".into(),
        Value::list((0..5).map(|i| Value::Float(f64::from(i))).collect()),
    );
    let mut inner = Map::new();
    inner.insert("k".into(), Value::Nil);
    m.insert("m".into(), Value::map(inner));
    Value::map(m)
}

fn opts() -> ExecOptions {
    ExecOptions {
        max_depth: 40,
        max_output: 1 << 16,
        max_range_iterations: 20_000,
        ..ExecOptions::default()
    }
}

fn check(text: &str) {
    let mut set = TemplateSet::new(harness::funcs());
    if set.parse("t", text).is_err() {
        return;
    }
    let data = data();
    let mut names: Vec<String> = set.names().map(str::to_string).collect();
    names.sort();
    for name in names {
        let first = set.execute(&name, &data, &opts());
        let second = set.execute(&name, &data, &opts());
        assert_eq!(
            first, second,
            "execution of {name:?} is not deterministic for {text:?}"
        );
    }
}

/// Mostly well-formed templates: actions and control structures over arbitrary pipelines,
/// so execution paths (not just parse errors) are exercised.
fn operand() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        ".",
        ".a",
        ".b",
        ".l",
        ".m",
        ".m.k",
        ".nope.x",
        "$",
        "$.l",
        "1",
        "-1",
        "2.5",
        "0x10",
        "'c'",
        "\"x\"",
        "\"%v\"",
        "true",
        "nil",
        "(list 1 2)",
        "(dict \"k\" 1)",
    ])
    .prop_map(str::to_string);
    leaf.prop_recursive(3, 24, 4, |inner| {
        (
            prop::sample::select(vec![
                "len", "index", "slice", "printf", "print", "eq", "ne", "lt", "and", "or", "not",
                "html", "js", "urlquery", "include", "tpl", "upper", "list", "dict", "add", "call",
                "println",
            ]),
            vec(inner, 0..4),
        )
            .prop_map(|(f, args)| format!("({f} {})", args.join(" ")))
    })
}

fn template() -> impl Strategy<Value = String> {
    let action = vec(operand(), 1..3).prop_map(|ops| format!("{{{{ {} }}}}", ops.join(" | ")));
    let leaf = prop_oneof![
        action,
        Just("text ".to_string()),
        operand().prop_map(|o| format!("{{{{ $x := {o} }}}}{{{{ $x }}}}")),
        Just("{{ break }}".to_string()),
        Just("{{ template \"c0\" . }}".to_string()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        (
            prop::sample::select(vec![
                "if",
                "with",
                "range",
                "range $i, $v :=",
                "define \"c0\"",
            ]),
            operand(),
            vec(inner.clone(), 0..3),
            prop::option::of(vec(inner, 0..2)),
        )
            .prop_map(|(kw, cond, body, els)| {
                let head = if kw.starts_with("define") {
                    format!("{{{{ {kw} }}}}")
                } else {
                    format!("{{{{ {kw} {cond} }}}}")
                };
                let els = match els {
                    Some(e) if !kw.starts_with("define") => format!("{{{{ else }}}}{}", e.concat()),
                    _ => String::new(),
                };
                format!("{head}{}{els}{{{{ end }}}}", body.concat())
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fragment_soup_never_panics(parts in vec(prop::sample::select(FRAGMENTS), 0..40)) {
        check(&parts.concat());
    }

    #[test]
    fn random_text_never_panics(chars in vec(any::<char>(), 0..80)) {
        let s: String = chars.into_iter().collect();
        check(&s);
        check(&format!("{{{{{s}}}}}"));
    }

    #[test]
    fn structured_templates_never_panic(parts in vec(template(), 1..4)) {
        check(&parts.concat());
    }

    #[test]
    fn wrapped_fragments_never_panic(parts in vec(prop::sample::select(FRAGMENTS), 0..20)) {
        check(&format!("{{{{ {} }}}}", parts.join(" ")));
        check(&format!("{{{{ define \"c0\" }}}}{{{{ {} }}}}{{{{ end }}}}{{{{ include \"c0\" . }}}}", parts.join(" ")));
    }
}
