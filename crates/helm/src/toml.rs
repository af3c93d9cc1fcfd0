//! `toToml`/`fromToml` as Helm has them (BurntSushi/toml): an encoder writing plain
//! keys first then `[tables]` (nested tables indented by two spaces), and a decoder
//! giving int64 integers, float64 floats and strings.

use gotemplate::{Map, Value};

fn quote_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(v: &Value) -> Option<String> {
    Some(match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i, _) => i.to_string(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                crate::yaml::format_float_g(*f)
            }
        }
        Value::String(s) => quote(s),
        Value::List(l, _) => {
            let items: Option<Vec<String>> = l.iter().map(scalar).collect();
            format!("[{}]", items?.join(", "))
        }
        _ => return None,
    })
}

fn write_table(out: &mut String, m: &Map, path: &[String], indent: usize) {
    let pad = "  ".repeat(indent);
    for (k, v) in m {
        if matches!(v, Value::Map(..) | Value::Nil) {
            continue;
        }
        if let Some(s) = scalar(v) {
            out.push_str(&format!("{pad}{} = {s}\n", quote_key(k)));
        }
    }
    for (k, v) in m {
        if let Value::Map(sub, _) = v {
            let mut p = path.to_vec();
            p.push(quote_key(k));
            out.push_str(&format!("\n{pad}[{}]\n", p.join(".")));
            write_table(out, &sub.snapshot(), &p, indent + 1);
        }
    }
}

/// Helm's `toToml`.
pub fn to_toml(v: &Value) -> String {
    match v {
        Value::Map(m, _) => {
            let mut out = String::new();
            write_table(&mut out, &m.snapshot(), &[], 0);
            out
        }
        Value::Object(o) => o.to_data().map(|d| to_toml(&d)).unwrap_or_default(),
        _ => "toml: top-level values must be Go maps or structs".into(),
    }
}

fn from_toml_value(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::str(s),
        toml::Value::Integer(i) => Value::int64(i),
        toml::Value::Float(f) => Value::Float(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::str(d.to_string()),
        toml::Value::Array(a) => Value::list(a.into_iter().map(from_toml_value).collect()),
        toml::Value::Table(t) => Value::map(
            t.into_iter()
                .map(|(k, v)| (k, from_toml_value(v)))
                .collect(),
        ),
    }
}

/// Helm's `fromToml`.
pub fn from_toml(text: &str) -> Result<Map, String> {
    let t: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    Ok(t.into_iter()
        .map(|(k, v)| (k, from_toml_value(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_shapes() {
        let m = from_toml("a = 1\n[t]\nb = \"x\"\n").unwrap();
        assert!(matches!(m["a"], Value::Int(1, _)));
        assert_eq!(to_toml(&Value::map(m)), "a = 1\n\n[t]\n  b = \"x\"\n");
    }
}
