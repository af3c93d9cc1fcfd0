//! Test harness shared by the oracle tests and the `oracle_cases` example: runs a template
//! case the way our throwaway oracle chart runs it through real Helm (the case wrapped in
//! `define "c0"` in `t/templates/_x.tpl`, rendered by `t/templates/t.yaml` as
//! `c0: {{ include "c0" . | b64enc }}`, `.Values` from a JSON file whose numbers are
//! float64 as Helm decodes them), so outputs and error texts compare byte for byte.
//!
//! The few Sprig/Helm functions the cases use are small stand-ins defined here
//! (`include` and `tpl` wrap errors exactly as Helm 3.17 does).
#![allow(dead_code)]

use gotemplate::{
    ExecOptions, FuncError, FuncMap, Function, Param, TemplateSet, TplError, Value, gofmt,
};

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

pub fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "include",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            Ok(Value::string_from_bytes(
                ctx.execute_template(a[0].as_str().unwrap_or(""), &a[1])?,
            ))
        }),
    );
    m.insert(
        "tpl",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            let text = a[0].as_str().unwrap_or("");
            match ctx.tpl("gotpl", text, &a[1]) {
                Ok(s) => Ok(Value::str(
                    String::from_utf8_lossy(&s).replace("<no value>", ""),
                )),
                Err(TplError::Parse(e)) => Err(FuncError(format!(
                    "cannot parse template {}: {e}",
                    gofmt::quote(text)
                ))),
                Err(TplError::Exec(e)) => Err(FuncError(format!(
                    "error during tpl function execution for {}: {e}",
                    gofmt::quote(text)
                ))),
            }
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
    m
}

pub fn from_json(v: &serde_json::Value) -> Value {
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

pub fn run(case: &str, values: &Value, funcs: &FuncMap) -> serde_json::Value {
    let mut set = TemplateSet::new(funcs.clone());
    let x = format!("{{{{- define \"c0\" }}}}{case}{{{{ end }}}}\n");
    if let Err(e) = set.parse("t/templates/_x.tpl", &x) {
        // Helm's cleanupParseError: "parse error at (LOCATION): LAST PART".
        let msg = e.to_string();
        let tokens: Vec<&str> = msg.split(": ").collect();
        return serde_json::json!({ "err": format!("Error: parse error at ({}): {}", tokens[1], tokens[tokens.len() - 1]) });
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
