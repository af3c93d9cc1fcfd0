//! JSON as Helm's Go code produces and reads it: `encoding/json.Marshal` (sorted keys,
//! HTML-safe escaping, Go's float format) for `toJson`, and decoding into `interface{}`
//! (every number a float64) for `fromJson`, `--set-json` and schema validation.

use gotemplate::{Map, Value};

/// Go's `json.Marshal` failed (a NaN or infinite float).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("json: unsupported value: {0}")]
pub struct MarshalError(pub String);

/// `serde_json` → template value as `json.Unmarshal` into `interface{}` gives it.
pub fn from_serde(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => Value::list(a.into_iter().map(from_serde).collect()),
        serde_json::Value::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                m.insert(k, from_serde(v));
            }
            Value::map(m)
        }
    }
}

/// Template value → `serde_json` (for schema validation). Floats that are whole
/// numbers become JSON integers so `type: integer` accepts them, as Go's validator does.
pub fn to_serde(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i, _) => serde_json::Value::from(*i),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                serde_json::Value::from(*f as i64)
            } else {
                serde_json::Number::from_f64(*f)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
        }
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Bytes(b) => serde_json::Value::String(base64_std(b)),
        Value::List(l, _) => serde_json::Value::Array(l.iter().map(to_serde).collect()),
        Value::Map(m, _) => serde_json::Value::Object(
            m.read()
                .iter()
                .map(|(k, v)| (k.clone(), to_serde(v)))
                .collect(),
        ),
        Value::Object(o) => o
            .to_data()
            .map_or(serde_json::Value::Object(Default::default()), |d| {
                to_serde(&d)
            }),
    }
}

/// Parse JSON text into a template value (`fromJson`).
pub fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(from_serde)
        .map_err(|e| e.to_string())
}

/// Go's `json.Marshal`.
pub fn marshal(v: &Value) -> Result<String, MarshalError> {
    let mut out = String::new();
    write_value(&mut out, v, 0)?;
    Ok(out)
}

/// Go's float encoding in `encoding/json`.
pub fn format_float(f: f64) -> Result<String, MarshalError> {
    if !f.is_finite() {
        return Err(MarshalError(crate::yaml::format_float_g(f)));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // 'e' format with the exponent's leading zero removed (e-07 → e-7).
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').expect("`{:e}` has an exponent");
        let e: i32 = e.parse().expect("integer exponent");
        let sign = if e < 0 { '-' } else { '+' };
        Ok(format!("{m}e{sign}{}", e.abs()))
    } else {
        // Shortest repr in plain decimal.
        let s = format!("{f}");
        Ok(if s == "-0" { "-0".into() } else { s })
    }
}

fn write_value(out: &mut String, v: &Value, depth: usize) -> Result<(), MarshalError> {
    if depth > 10_000 {
        return Err(MarshalError("nesting too deep".into()));
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i, _) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float(*f)?),
        Value::String(s) => write_string(out, s),
        Value::Bytes(b) => write_string(out, &base64_std(b)),
        Value::List(l, _) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x, depth + 1)?;
            }
            out.push(']');
        }
        Value::Map(m, _) => {
            out.push('{');
            for (i, (k, x)) in m.snapshot().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, x, depth + 1)?;
            }
            out.push('}');
        }
        Value::Object(o) => match o.to_data() {
            Some(d) => write_value(out, &d, depth + 1)?,
            None => out.push_str("{}"),
        },
    }
    Ok(())
}

/// A Go JSON string literal with HTML-safe escaping.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding (Go's `[]byte` JSON encoding).
pub fn base64_std(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = match chunk.len() {
            3 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32,
            2 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8,
            _ => (chunk[0] as u32) << 16,
        };
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_marshal() {
        let v = parse(r#"{"b":[1,2.5,null,true],"a":"<x&y>","c":1e21,"d":0.0000001}"#).unwrap();
        assert_eq!(
            marshal(&v).unwrap(),
            r#"{"a":"\u003cx\u0026y\u003e","b":[1,2.5,null,true],"c":1e+21,"d":1e-7}"#
        );
        assert_eq!(format_float(1000000.0).unwrap(), "1000000");
        assert!(marshal(&Value::Float(f64::NAN)).is_err());
        assert_eq!(base64_std(b"ab"), "YWI=");
    }
}
