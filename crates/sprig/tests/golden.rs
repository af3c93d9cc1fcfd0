//! Data-driven check against real Helm: every line of `golden/cases.txt` is rendered by
//! the gotemplate executor with `sprig::funcs()` and compared with what Helm v3.17.2
//! printed for it (`golden/expected.txt`, produced by `golden/regen.sh`). Failing cases
//! are listed together so one run shows every divergence.

use base64::Engine;
use gotemplate::{ExecOptions, Function, Param, TemplateSet, Value};

/// Renders a case the way `regen.sh` has Helm render it: the line is the body of
/// `define "x"` (so a line may close it and define more templates, as the in-place
/// mutation cases do), run through `include`, which is Helm's and registered here.
fn render(text: &str) -> Result<String, String> {
    let mut funcs = sprig::funcs();
    funcs.insert(
        "include",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            ctx.execute_template(a[0].as_str().unwrap_or_default(), &a[1])
                .map(Value::string_from_bytes)
        }),
    );
    let mut set = TemplateSet::new(funcs);
    set.parse("t", &format!("{{{{ define \"x\" }}}}{text}{{{{ end }}}}"))
        .map_err(|e| e.to_string())?;
    set.execute("x", &Value::Nil, &ExecOptions::default())
        .map_err(|e| e.to_string())
}

/// Go's message without the template position: the text after the last `error calling NAME: `.
fn error_tail(msg: &str) -> String {
    let mut rest = msg;
    while let Some(i) = rest.find("error calling ") {
        let after = &rest[i + "error calling ".len()..];
        match after.find(": ") {
            Some(j)
                if after[..j]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                rest = &after[j + 2..]
            }
            _ => break,
        }
    }
    rest.to_string()
}

#[test]
fn sprig_matches_helm() {
    let cases = include_str!("golden/cases.txt");
    let expected = include_str!("golden/expected.txt");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut failures = Vec::new();
    let mut n = 0;
    for (case, want) in cases.lines().zip(expected.lines()) {
        n += 1;
        let got = render(case);
        let ok = match (want.split_once(' '), &got) {
            (Some(("OK", enc)), Ok(out)) => {
                let want = String::from_utf8(b64.decode(enc.trim()).expect("fixture is base64"))
                    .expect("utf-8");
                if &want == out {
                    None
                } else {
                    Some(format!("want {want:?}\n   got {out:?}"))
                }
            }
            (Some(("ERR", msg)), Err(e)) => {
                let tail = error_tail(e);
                if tail == msg {
                    None
                } else {
                    Some(format!("want error {msg:?}\n   got error {tail:?}"))
                }
            }
            (Some(("OK", enc)), Err(e)) => Some(format!(
                "want {:?}\n   got error {e:?}",
                String::from_utf8_lossy(&b64.decode(enc.trim()).unwrap_or_default())
            )),
            (_, Ok(out)) => Some(format!("want error {want:?}\n   got {out:?}")),
            _ => Some(format!("bad fixture line {want:?}")),
        };
        if let Some(diff) = ok {
            failures.push(format!("case {n}: {case}\n   {diff}"));
        }
    }
    assert_eq!(
        n,
        expected.lines().count(),
        "cases.txt and expected.txt differ in length"
    );
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ from Helm:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
