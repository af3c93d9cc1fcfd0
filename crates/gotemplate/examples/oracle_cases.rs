//! Developer tool: runs template cases the way `/tmp` oracle charts run them through real
//! Helm (each case wrapped in `define "c0"` in `t/templates/_x.tpl`, rendered by
//! `t/templates/t.yaml` as `c0: {{ include "c0" . | b64enc }}`), so outputs and error texts
//! can be compared byte for byte with Helm's.
//!
//! usage: cargo run -p gotemplate --example oracle_cases -- CASES.json [VALUES.json]
//! Prints one line per case: `JSON_CASE => {"ok": TEXT}` or `{"err": MESSAGE}`.
//!
//! The few Sprig/Helm functions the cases use are simple stand-ins defined here.

use gotemplate::{ExecOptions, FuncError, FuncMap, Function, Param, TemplateSet, Value};

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "include",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            Ok(Value::str(
                ctx.execute_template(a[0].as_str().unwrap_or(""), &a[1])?,
            ))
        }),
    );
    m.insert(
        "tpl",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            let s = ctx.parse_and_execute("gotpl", a[0].as_str().unwrap_or(""), &a[1])?;
            Ok(Value::str(s.replace("<no value>", "")))
        }),
    );
    m.insert(
        "b64enc",
        Function::new(&[Param::String], None, |_, a| {
            Ok(Value::str(b64(a[0].as_str().unwrap_or("").as_bytes())))
        }),
    );
    m.insert(
        "upper",
        Function::new(&[Param::String], None, |_, a| {
            Ok(Value::str(a[0].as_str().unwrap_or("").to_uppercase()))
        }),
    );
    m.insert(
        "list",
        Function::new(&[], Some(Param::Any), |_, a| Ok(Value::list(a.to_vec()))),
    );
    m.insert(
        "dict",
        Function::new(&[], Some(Param::Any), |_, a| {
            let mut map = gotemplate::Map::new();
            for p in a.chunks(2) {
                let k = gotemplate::gofmt::sprint(&p[0]);
                map.insert(k, p.get(1).cloned().unwrap_or(Value::Nil));
            }
            Ok(Value::map(map))
        }),
    );
    m.insert(
        "toStrings",
        Function::new(&[Param::Any], None, |_, a| {
            let l = a[0]
                .as_list()
                .map(|l| {
                    l.iter()
                        .map(|x| Value::str(gotemplate::gofmt::sprint(x)))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Value::string_list(l))
        }),
    );
    m.insert(
        "add",
        Function::new(&[], Some(Param::Any), |_, a| {
            let mut s = 0i64;
            for x in a {
                match x {
                    Value::Int(i, _) => s += i,
                    Value::Float(f) => s += *f as i64,
                    _ => {}
                }
            }
            Ok(Value::int64(s))
        }),
    );
    m.insert(
        "fail",
        Function::new(&[Param::String], None, |_, a| {
            Err(FuncError(a[0].as_str().unwrap_or("").to_string()))
        }),
    );
    m
}

fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::str(s.as_str()),
        serde_json::Value::Array(a) => Value::list(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

fn run(case: &str, values: &Value, funcs: &FuncMap) -> serde_json::Value {
    let mut set = TemplateSet::new(funcs.clone());
    let x = format!("{{{{- define \"c0\" }}}}{case}{{{{ end }}}}\n");
    if let Err(e) = set.parse("t/templates/_x.tpl", &x) {
        return serde_json::json!({ "err": format!("Error: {e}") });
    }
    if let Err(e) = set.parse(
        "t/templates/t.yaml",
        "c0: {{ include \"c0\" . | b64enc }}\n",
    ) {
        return serde_json::json!({ "err": format!("Error: {e}") });
    }
    let mut top = gotemplate::Map::new();
    top.insert("Values".into(), values.clone());
    match set.execute(
        "t/templates/t.yaml",
        &Value::map(top),
        &ExecOptions::default(),
    ) {
        Ok(s) => {
            let out = s
                .trim_end_matches('\n')
                .strip_prefix("c0: ")
                .unwrap_or("")
                .to_string();
            // Decode our own base64 back to compare text.
            let dec = decode_b64(&out);
            serde_json::json!({ "ok": dec })
        }
        Err(e) => serde_json::json!({ "err": format!("Error: {e}") }),
    }
}

fn decode_b64(s: &str) -> String {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

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
