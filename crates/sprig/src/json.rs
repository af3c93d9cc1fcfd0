//! Go's `encoding/json` as Sprig uses it: `json.Marshal` (sorted keys, HTML escaping,
//! Go's float format), `MarshalIndent`, an `Encoder` without HTML escaping, and
//! `json.Unmarshal` into `interface{}` (numbers become float64).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use gotemplate::{ListKind, Value};

use crate::conv::format_float;

/// Options of one encoding run.
#[derive(Clone, Copy)]
pub(crate) struct Enc {
    pub escape_html: bool,
    /// `Some(indent)` for MarshalIndent with an empty prefix.
    pub indent: Option<&'static str>,
}

pub(crate) const MARSHAL: Enc = Enc {
    escape_html: true,
    indent: None,
};
pub(crate) const PRETTY: Enc = Enc {
    escape_html: true,
    indent: Some("  "),
};
pub(crate) const RAW: Enc = Enc {
    escape_html: false,
    indent: None,
};

/// Go's json error text for a value it cannot encode.
pub(crate) fn marshal(v: &Value, e: Enc) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, e, 0, &mut Vec::new())?;
    Ok(out)
}

fn newline(out: &mut String, e: Enc, depth: usize) {
    if let Some(ind) = e.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

/// `open` holds the addresses of the maps being written: a map met again inside itself
/// is Go's "encountered a cycle" error.
/// A non-empty `{"k": v, ...}` in the order given (a map's sorted keys, or a struct's fields).
fn write_object<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
    e: Enc,
    depth: usize,
    open: &mut Vec<usize>,
) -> Result<(), String> {
    out.push('{');
    for (i, (k, x)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, e, depth + 1);
        if gotemplate::value::is_escaped_key(k) {
            write_byte_string(out, &gotemplate::value::key_bytes(k), e.escape_html);
        } else {
            write_string(out, k, e.escape_html);
        }
        out.push(':');
        if e.indent.is_some() {
            out.push(' ');
        }
        write_value(out, x, e, depth + 1, open)?;
    }
    newline(out, e, depth);
    out.push('}');
    Ok(())
}

fn write_value(
    out: &mut String,
    v: &Value,
    e: Enc,
    depth: usize,
    open: &mut Vec<usize>,
) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n, _) => out.push_str(&n.to_string()),
        Value::Float(x) => out.push_str(&json_float(*x)?),
        Value::String(s) => write_string(out, s, e.escape_html),
        Value::ByteStr(b) => write_byte_string(out, b, e.escape_html),
        Value::Bytes(b) => {
            let enc = base64::engine::general_purpose::STANDARD.encode(b);
            write_string(out, &enc, e.escape_html);
        }
        Value::List(l, kind) => {
            if l.is_empty() {
                out.push_str(match kind {
                    ListKind::NilAny | ListKind::NilString => "null",
                    _ => "[]",
                });
                return Ok(());
            }
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, e, depth + 1);
                write_value(out, x, e, depth + 1, open)?;
            }
            newline(out, e, depth);
            out.push(']');
        }
        Value::Map(m, kind) => {
            if m.is_empty() {
                out.push_str(if *kind == gotemplate::MapKind::NilAny {
                    "null"
                } else {
                    "{}"
                });
                return Ok(());
            }
            if open.contains(&m.addr()) {
                return Err(format!(
                    "json: unsupported value: encountered a cycle via {}",
                    v.type_name()
                ));
            }
            open.push(m.addr());
            let snap = m.snapshot();
            if snap.keys().any(|k| gotemplate::value::is_escaped_key(k)) {
                // Keys of other bytes: encoding/json sorts the Go strings bytewise.
                let mut entries: Vec<(String, Value)> = snap.into_iter().collect();
                gotemplate::value::sort_go_key_order(&mut entries);
                write_object(out, entries.iter().map(|(k, x)| (k, x)), e, depth, open)?;
            } else {
                write_object(out, snap.iter(), e, depth, open)?;
            }
            open.pop();
        }
        Value::Object(o) => match (o.json_fields(), o.to_data()) {
            // A Go struct: fields in declaration order.
            (Some(fields), _) if !fields.is_empty() => {
                write_object(out, fields.iter().map(|(k, x)| (k, x)), e, depth, open)?
            }
            (Some(_), _) => out.push_str("{}"),
            (None, Some(d)) => write_value(out, &d, e, depth, open)?,
            (None, None) => out.push_str("{}"),
        },
    }
    Ok(())
}

/// encoding/json's float format: `'f'` unless the magnitude is below 1e-6 or at least
/// 1e21, then `'e'` with a short exponent (`1e-07` becomes `1e-7`).
fn json_float(x: f64) -> Result<String, String> {
    if x.is_nan() || x.is_infinite() {
        return Err(format!("json: unsupported value: {}", format_float(x, 'g')));
    }
    let a = x.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_float(x, 'e');
        // Go trims "e-07" to "e-7".
        let n = s.len();
        if n >= 4 && &s[n - 4..n - 2] == "e-" && &s[n - 2..n - 1] == "0" {
            return Ok(format!("{}{}", &s[..n - 2], &s[n - 1..]));
        }
        Ok(s)
    } else {
        Ok(format_float(x, 'f'))
    }
}

fn write_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    write_chars(out, s, escape_html);
    out.push('"');
}

/// A Go string of any bytes: `encoding/json` writes each invalid byte as `\ufffd`.
fn write_byte_string(out: &mut String, s: &[u8], escape_html: bool) {
    out.push('"');
    for chunk in s.utf8_chunks() {
        write_chars(out, chunk.valid(), escape_html);
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

fn write_chars(out: &mut String, s: &str, escape_html: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 0xf] as char);
            }
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 0xf] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

/// `json.Unmarshal` into `interface{}`.
pub(crate) fn unmarshal(s: &str) -> Result<Value, String> {
    check_valid(s.as_bytes())?;
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    Ok(from_serde(v))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ps {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside a literal: the remaining expected bytes.
    Lit(&'static [u8], &'static str),
}

/// Go's `quoteChar` for scanner error messages.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        _ => {
            let q = gotemplate::gofmt::quote(&char::from(c).to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// encoding/json's `checkValid`: the scanner's first syntax error, with Go's text.
fn check_valid(data: &[u8]) -> Result<(), String> {
    let mut st = St::BeginValue;
    let mut stack: Vec<Ps> = Vec::new();
    let mut end_top = false;
    for &c in data
        .iter()
        .chain(std::iter::once(&b' '))
        .take(data.len() + 1)
    {
        step(&mut st, &mut stack, &mut end_top, c)?;
    }
    if end_top {
        Ok(())
    } else {
        Err("unexpected end of JSON input".into())
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn err(c: u8, ctx: &str) -> Result<(), String> {
    Err(format!("invalid character {} {ctx}", quote_char(c)))
}

fn step(st: &mut St, stack: &mut Vec<Ps>, end_top: &mut bool, c: u8) -> Result<(), String> {
    match *st {
        St::BeginValueOrEmpty => {
            if is_space(c) {
                return Ok(());
            }
            if c == b']' {
                return end_value(st, stack, end_top, c);
            }
            begin_value(st, stack, c)
        }
        St::BeginValue => begin_value(st, stack, c),
        St::BeginStringOrEmpty => {
            if is_space(c) {
                return Ok(());
            }
            if c == b'}' {
                if let Some(last) = stack.last_mut() {
                    *last = Ps::ObjectValue;
                }
                return end_value(st, stack, end_top, c);
            }
            begin_string(st, c)
        }
        St::BeginString => begin_string(st, c),
        St::EndValue => end_value(st, stack, end_top, c),
        St::EndTop => {
            if !is_space(c) {
                return err(c, "after top-level value");
            }
            Ok(())
        }
        St::InString => {
            match c {
                b'"' => *st = St::EndValue,
                b'\\' => *st = St::InStringEsc,
                c if c < 0x20 => return err(c, "in string literal"),
                _ => {}
            }
            Ok(())
        }
        St::InStringEsc => {
            match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => *st = St::InString,
                b'u' => *st = St::InStringEscU(0),
                _ => return err(c, "in string escape code"),
            }
            Ok(())
        }
        St::InStringEscU(n) => {
            if !c.is_ascii_hexdigit() {
                return err(c, "in \\u hexadecimal character escape");
            }
            *st = if n == 3 {
                St::InString
            } else {
                St::InStringEscU(n + 1)
            };
            Ok(())
        }
        St::Neg => {
            match c {
                b'0' => *st = St::Zero,
                b'1'..=b'9' => *st = St::One,
                _ => return err(c, "in numeric literal"),
            }
            Ok(())
        }
        St::One if c.is_ascii_digit() => Ok(()),
        St::One | St::Zero => match c {
            b'.' => {
                *st = St::Dot;
                Ok(())
            }
            b'e' | b'E' => {
                *st = St::E;
                Ok(())
            }
            _ => end_value(st, stack, end_top, c),
        },
        St::Dot => {
            if !c.is_ascii_digit() {
                return err(c, "after decimal point in numeric literal");
            }
            *st = St::Dot0;
            Ok(())
        }
        St::Dot0 => match c {
            b'0'..=b'9' => Ok(()),
            b'e' | b'E' => {
                *st = St::E;
                Ok(())
            }
            _ => end_value(st, stack, end_top, c),
        },
        St::E => {
            if c == b'+' || c == b'-' {
                *st = St::ESign;
                return Ok(());
            }
            *st = St::ESign;
            step(st, stack, end_top, c)
        }
        St::ESign => {
            if !c.is_ascii_digit() {
                return err(c, "in exponent of numeric literal");
            }
            *st = St::E0;
            Ok(())
        }
        St::E0 => {
            if c.is_ascii_digit() {
                return Ok(());
            }
            end_value(st, stack, end_top, c)
        }
        St::Lit(rest, word) => {
            if c != rest[0] {
                return err(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(rest[0])),
                );
            }
            *st = if rest.len() == 1 {
                St::EndValue
            } else {
                St::Lit(&rest[1..], word)
            };
            Ok(())
        }
    }
}

fn begin_value(st: &mut St, stack: &mut Vec<Ps>, c: u8) -> Result<(), String> {
    *st = match c {
        c if is_space(c) => return Ok(()),
        b'{' => {
            stack.push(Ps::ObjectKey);
            St::BeginStringOrEmpty
        }
        b'[' => {
            stack.push(Ps::ArrayValue);
            St::BeginValueOrEmpty
        }
        b'"' => St::InString,
        b'-' => St::Neg,
        b'0' => St::Zero,
        b'1'..=b'9' => St::One,
        b't' => St::Lit(b"rue", "true"),
        b'f' => St::Lit(b"alse", "false"),
        b'n' => St::Lit(b"ull", "null"),
        _ => return err(c, "looking for beginning of value"),
    };
    Ok(())
}

fn begin_string(st: &mut St, c: u8) -> Result<(), String> {
    if is_space(c) {
        return Ok(());
    }
    if c == b'"' {
        *st = St::InString;
        return Ok(());
    }
    err(c, "looking for beginning of object key string")
}

fn end_value(st: &mut St, stack: &mut Vec<Ps>, end_top: &mut bool, c: u8) -> Result<(), String> {
    let Some(&ps) = stack.last() else {
        *st = St::EndTop;
        *end_top = true;
        return step(st, stack, end_top, c);
    };
    if is_space(c) {
        *st = St::EndValue;
        return Ok(());
    }
    let n = stack.len();
    match ps {
        Ps::ObjectKey => {
            if c == b':' {
                stack[n - 1] = Ps::ObjectValue;
                *st = St::BeginValue;
                return Ok(());
            }
            err(c, "after object key")
        }
        Ps::ObjectValue => {
            if c == b',' {
                stack[n - 1] = Ps::ObjectKey;
                *st = St::BeginString;
                return Ok(());
            }
            if c == b'}' {
                pop(st, stack, end_top);
                return Ok(());
            }
            err(c, "after object key:value pair")
        }
        Ps::ArrayValue => {
            if c == b',' {
                *st = St::BeginValue;
                return Ok(());
            }
            if c == b']' {
                pop(st, stack, end_top);
                return Ok(());
            }
            err(c, "after array element")
        }
    }
}

fn pop(st: &mut St, stack: &mut Vec<Ps>, end_top: &mut bool) {
    stack.pop();
    if stack.is_empty() {
        *st = St::EndTop;
        *end_top = true;
    } else {
        *st = St::EndValue;
    }
}

pub(crate) fn from_serde(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(s.into()),
        serde_json::Value::Array(a) => Value::List(
            Arc::new(a.into_iter().map(from_serde).collect()),
            ListKind::Any,
        ),
        serde_json::Value::Object(o) => {
            let m: BTreeMap<String, Value> =
                o.into_iter().map(|(k, v)| (k, from_serde(v))).collect();
            Value::map(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: Vec<(&str, Value)>) -> Value {
        Value::map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    // helm-template: `{{ dict "b" (list 1 "<x>" 1.5 nil) "a" 1e-7 "c" 1e21 | toJson }}`
    // → {"a":1e-7,"b":[1,"\u003cx\u003e",1.5,null],"c":1e+21}
    #[test]
    fn marshal_like_go() {
        let v = m(vec![
            (
                "b",
                Value::list(vec![
                    Value::int(1),
                    Value::str("<x>"),
                    Value::Float(1.5),
                    Value::Nil,
                ]),
            ),
            ("a", Value::Float(1e-7)),
            ("c", Value::Float(1e21)),
        ]);
        assert_eq!(
            marshal(&v, MARSHAL).unwrap(),
            r#"{"a":1e-7,"b":[1,"\u003cx\u003e",1.5,null],"c":1e+21}"#
        );
        assert_eq!(
            marshal(&v, RAW).unwrap(),
            r#"{"a":1e-7,"b":[1,"<x>",1.5,null],"c":1e+21}"#
        );
    }

    // helm-template: `{{ dict "a" (list 1 2) "b" (dict) "c" (list) | toPrettyJson }}`
    #[test]
    fn pretty_like_go() {
        let v = m(vec![
            ("a", Value::list(vec![Value::int(1), Value::int(2)])),
            ("b", m(vec![])),
            ("c", Value::list(vec![])),
        ]);
        assert_eq!(
            marshal(&v, PRETTY).unwrap(),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}"
        );
    }
}
