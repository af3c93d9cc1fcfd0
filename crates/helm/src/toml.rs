//! `toToml`/`fromToml` as Helm has them (BurntSushi/toml): an encoder writing plain
//! keys first then `[tables]` and `[[arrays of tables]]` (indented two spaces per level,
//! a blank line before each top-level table), inline `{k = v}` tables inside mixed arrays,
//! and a decoder giving int64 integers, float64 floats and strings.

use gotemplate::{Map, Value};

const NO_KEY: &str = "toml: top-level values must be Go maps or structs";
const NIL_ELEMENT: &str = "toml: cannot encode array with nil element";

/// A key as BurntSushi/toml writes it: bare when it is `[A-Za-z0-9_-]+`, quoted otherwise.
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

/// A basic string: `"` and `\` escaped, `\b \t \n \f \r` by name, other control characters
/// (and DEL) as lower-case `\u00xx`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
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
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value as data (objects such as `.Capabilities` become maps).
fn data(v: &Value) -> Value {
    match v {
        Value::Object(o) => o.to_data().unwrap_or(Value::Nil),
        other => other.clone(),
    }
}

/// An array is an array of tables when it is non-empty and every element is a table; a nil
/// element anywhere is an error (checked while classifying, before anything is written).
fn is_table_array(l: &[Value]) -> Result<bool, &'static str> {
    let mut all_tables = !l.is_empty();
    for e in l {
        match data(e) {
            Value::Nil => return Err(NIL_ELEMENT),
            Value::Map(..) => {}
            Value::List(inner, _) => {
                is_table_array(&inner)?;
                all_tables = false;
            }
            _ => all_tables = false,
        }
    }
    Ok(all_tables)
}

/// Whether a map value is written after the plain keys (as `[table]` or `[[array]]`).
fn is_sub(v: &Value) -> Result<bool, &'static str> {
    Ok(match data(v) {
        Value::Map(..) => true,
        Value::List(l, _) => is_table_array(&l)?,
        _ => false,
    })
}

struct Encoder {
    out: String,
}

impl Encoder {
    /// A newline, unless nothing has been written yet.
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn header(key: &[String]) -> String {
        key.iter()
            .map(|k| quote_key(k))
            .collect::<Vec<_>>()
            .join(".")
    }

    fn indent(key: &[String]) -> String {
        "  ".repeat(key.len().saturating_sub(1))
    }

    /// An array element or an inline value.
    fn element(&mut self, v: &Value) -> Result<(), &'static str> {
        match data(v) {
            Value::Nil => return Err(NIL_ELEMENT),
            Value::Bool(b) => self.out.push_str(if b { "true" } else { "false" }),
            Value::Int(i, _) => self.out.push_str(&i.to_string()),
            Value::Float(f) => {
                if f.is_nan() {
                    self.out.push_str("nan");
                } else if f.is_infinite() {
                    self.out.push_str(if f < 0.0 { "-inf" } else { "+inf" });
                } else {
                    // Go's FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent.
                    let s = f.to_string();
                    self.out.push_str(&s);
                    if !s.contains('.') {
                        self.out.push_str(".0");
                    }
                }
            }
            Value::String(s) => self.out.push_str(&quote(&s)),
            // The encoder writes a string's bytes as they are: here as map-key escapes, turned
            // back into bytes by `to_toml_value`.
            Value::ByteStr(b) => self
                .out
                .push_str(&quote(&gotemplate::value::key_from_bytes(&b))),
            Value::Bytes(b) => {
                let items: Vec<String> = b.iter().map(u8::to_string).collect();
                self.out.push_str(&format!("[{}]", items.join(", ")));
            }
            Value::List(l, _) => {
                self.out.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.element(e)?;
                }
                self.out.push(']');
            }
            Value::Map(m, _) => self.map(&[], &m.snapshot(), true)?,
            Value::Object(_) => {}
        }
        Ok(())
    }

    fn key_value(&mut self, key: &[String], v: &Value) -> Result<(), &'static str> {
        let last = key.last().map(String::as_str).unwrap_or_default();
        self.out
            .push_str(&format!("{}{} = ", Self::indent(key), quote_key(last)));
        self.element(v)?;
        self.newline();
        Ok(())
    }

    fn encode(&mut self, key: &[String], v: &Value) -> Result<(), &'static str> {
        match data(v) {
            Value::Nil => Ok(()),
            Value::Map(m, _) => self.table(key, &m.snapshot()),
            Value::List(l, _) if is_table_array(&l)? => {
                for e in l.iter() {
                    self.newline();
                    self.out
                        .push_str(&format!("{}[[{}]]", Self::indent(key), Self::header(key)));
                    self.newline();
                    if let Value::Map(m, _) = data(e) {
                        self.map(key, &m.snapshot(), false)?;
                    }
                }
                Ok(())
            }
            other => self.key_value(key, &other),
        }
    }

    fn table(&mut self, key: &[String], m: &Map) -> Result<(), &'static str> {
        if key.len() == 1 {
            // A blank line between top-level tables (not before the first thing written).
            self.newline();
        }
        if !key.is_empty() {
            self.out
                .push_str(&format!("{}[{}]", Self::indent(key), Self::header(key)));
            self.newline();
        }
        self.map(key, m, false)
    }

    /// Plain keys first, then tables and arrays of tables, each group in key order.
    fn map(&mut self, key: &[String], m: &Map, inline: bool) -> Result<(), &'static str> {
        let mut direct = Vec::new();
        let mut sub = Vec::new();
        for (k, v) in m {
            if is_sub(v)? {
                sub.push((k, v));
            } else {
                direct.push((k, v));
            }
        }
        direct.sort_by(|a, b| a.0.cmp(b.0));
        sub.sort_by(|a, b| a.0.cmp(b.0));
        if inline {
            self.out.push('{');
        }
        let trailing_comma = !sub.is_empty();
        for (group, trail) in [(direct, trailing_comma), (sub, false)] {
            let n = group.len();
            for (i, (k, v)) in group.into_iter().enumerate() {
                if matches!(data(v), Value::Nil) {
                    continue;
                }
                if inline {
                    self.out.push_str(&format!("{} = ", quote_key(k)));
                    self.element(v)?;
                    if trail || i + 1 != n {
                        self.out.push_str(", ");
                    }
                } else {
                    let mut path = key.to_vec();
                    path.push(k.clone());
                    self.encode(&path, v)?;
                }
            }
        }
        if inline {
            self.out.push('}');
        }
        Ok(())
    }
}

/// [`to_toml`] as the Go string Helm returns: strings and keys that are not UTF-8 keep
/// their bytes.
pub fn to_toml_value(v: &Value) -> Value {
    let text = to_toml(v);
    match gotemplate::value::key_bytes(&text) {
        std::borrow::Cow::Borrowed(_) => Value::str(text),
        std::borrow::Cow::Owned(bytes) => Value::string_from_bytes(bytes),
    }
}

/// Helm's `toToml` (BurntSushi/toml's encoder): on an encoding error the result is the
/// error's text, as in Helm. Bytes that are not UTF-8 are map-key escapes here (see
/// [`to_toml_value`]).
pub fn to_toml(v: &Value) -> String {
    let mut enc = Encoder { out: String::new() };
    let result = match data(v) {
        Value::Map(m, _) => enc.table(&[], &m.snapshot()),
        Value::List(l, _) => match is_table_array(&l) {
            Ok(true) => Err(NO_KEY),
            Ok(false) => enc.element(v),
            Err(e) => Err(e),
        },
        Value::Nil => Err(NO_KEY),
        other => enc.element(&other),
    };
    match result {
        Ok(()) => enc.out,
        Err(e) => e.to_string(),
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
