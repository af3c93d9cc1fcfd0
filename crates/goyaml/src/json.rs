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
        Value::ByteStr(b) => serde_json::Value::String(gotemplate::value::go_lossy(b).into_owned()),
        Value::Bytes(b) => serde_json::Value::String(base64_std(b)),
        Value::List(..) if v.is_nil_list() => serde_json::Value::Null,
        Value::Map(..) if v.is_nil_map() => serde_json::Value::Null,
        Value::List(l, _) => serde_json::Value::Array(l.iter().map(to_serde).collect()),
        Value::Map(m, _) => serde_json::Value::Object(
            m.read()
                .iter()
                .map(|(k, v)| (gotemplate::value::key_lossy(k).into_owned(), to_serde(v)))
                .collect(),
        ),
        Value::Object(o) => o
            .to_data()
            .map_or(serde_json::Value::Object(Default::default()), |d| {
                to_serde(&d)
            }),
    }
}

/// Parse JSON text into a template value as Go's `json.Unmarshal` into `interface{}`
/// does (`fromJson`, `fromJsonArray`), with Go's error texts: `invalid character 'x'
/// looking for beginning of value`, `unexpected end of JSON input`, `json: cannot
/// unmarshal number 1e999 into Go value of type float64`...
///
/// Like Go, the whole input is checked for syntax first (a syntax error anywhere wins
/// over a number that does not fit a float64), nesting deeper than 10000 is refused,
/// and escapes of lone UTF-16 surrogates decode to U+FFFD instead of failing.
pub fn parse(text: &str) -> Result<Value, String> {
    Decoder {
        b: text.as_bytes(),
        i: 0,
        range_error: None,
        stream: false,
        eof: false,
    }
    .run()
}

/// The first JSON value of `text` as Go's `json.Decoder.Decode` reads it (gojsonschema
/// loading `values.schema.json`): what follows the value is not read, no input is
/// `EOF`, input ending inside the value is `unexpected EOF`, other syntax errors are
/// worded as [`parse`] words them. Numbers are not range-checked (`UseNumber`).
pub fn decode_first(text: &str) -> Result<Value, String> {
    if text.trim_start_matches([' ', '\t', '\r', '\n']).is_empty() {
        return Err("EOF".into());
    }
    let mut d = Decoder {
        b: text.as_bytes(),
        i: 0,
        range_error: None,
        stream: true,
        eof: false,
    };
    match d.run() {
        Err(e) if e == UNEXPECTED_EOF || d.eof => Err("unexpected EOF".into()),
        other => other,
    }
}

/// Go's `encoding/json` nesting limit (`maxNestingDepth`).
const MAX_NESTING: usize = 10_000;

/// Go's `quoteChar`: a byte as the scanner's error messages show it.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        _ => {
            // strconv.Quote(string(rune(c))) without its double quotes.
            let r = char::from(c);
            let inner = match r {
                '\x07' => "\\a".into(),
                '\x08' => "\\b".into(),
                '\x0c' => "\\f".into(),
                '\n' => "\\n".into(),
                '\r' => "\\r".into(),
                '\t' => "\\t".into(),
                '\x0b' => "\\v".into(),
                '\\' => "\\\\".into(),
                r if (r as u32) < 0x20 || r as u32 == 0x7f => format!("\\x{:02x}", r as u32),
                // C1 controls, NBSP and the soft hyphen are not printable for strconv.
                r if (0x80..=0xa0).contains(&(r as u32)) || r as u32 == 0xad => {
                    format!("\\u{:04x}", r as u32)
                }
                r => r.to_string(),
            };
            format!("'{inner}'")
        }
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

const UNEXPECTED_EOF: &str = "unexpected end of JSON input";

/// An open array or object while decoding.
enum Open {
    Array(Vec<Value>),
    Object(Map, String),
}

struct Decoder<'a> {
    b: &'a [u8],
    i: usize,
    /// Go's first "saved" error: a number out of float64 range, reported only if
    /// the whole input is otherwise valid.
    range_error: Option<String>,
    /// Reading one value from a stream (`json.Decoder`): stop after it.
    stream: bool,
    /// A scanner state needed one more character and met the end of the input.
    eof: bool,
}

impl Decoder<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.b.get(self.i) {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// The next byte for a scanner state that must see one more character: at the
    /// end of input Go's scanner feeds it a space, so the error names `' '`.
    fn next_or_space(&mut self) -> u8 {
        self.eof |= self.peek().is_none();
        let c = self.peek().unwrap_or(b' ');
        self.i += 1;
        c
    }

    fn run(&mut self) -> Result<Value, String> {
        let mut stack: Vec<Open> = Vec::new();
        'value: loop {
            self.skip_ws();
            let Some(c) = self.peek() else {
                return Err(UNEXPECTED_EOF.into());
            };
            let mut v = match c {
                b'{' | b'[' => {
                    if stack.len() + 1 > MAX_NESTING {
                        return Err(invalid(c, "exceeded max depth"));
                    }
                    self.i += 1;
                    self.skip_ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        if c == b'{' {
                            Value::map(Map::new())
                        } else {
                            Value::list(Vec::new())
                        }
                    } else if c == b'[' {
                        stack.push(Open::Array(Vec::new()));
                        continue 'value;
                    } else {
                        let key = self.object_key()?;
                        stack.push(Open::Object(Map::new(), key));
                        continue 'value;
                    }
                }
                b'"' => {
                    self.i += 1;
                    Value::str(self.string()?)
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal("true", Value::Bool(true))?,
                b'f' => self.literal("false", Value::Bool(false))?,
                b'n' => self.literal("null", Value::Nil)?,
                c => return Err(invalid(c, "looking for beginning of value")),
            };
            // A complete value: hand it to the enclosing array or object.
            loop {
                self.skip_ws();
                match stack.last_mut() {
                    None => {
                        if self.stream {
                            return Ok(v);
                        }
                        if let Some(c) = self.peek() {
                            return Err(invalid(c, "after top-level value"));
                        }
                        return match self.range_error.take() {
                            Some(e) => Err(e),
                            None => Ok(v),
                        };
                    }
                    Some(Open::Array(items)) => {
                        items.push(v);
                        match self.peek() {
                            None => return Err(UNEXPECTED_EOF.into()),
                            Some(b',') => {
                                self.i += 1;
                                continue 'value;
                            }
                            Some(b']') => {
                                self.i += 1;
                                let Some(Open::Array(items)) = stack.pop() else {
                                    unreachable!("the top of the stack is this array")
                                };
                                v = Value::list(items);
                            }
                            Some(c) => return Err(invalid(c, "after array element")),
                        }
                    }
                    Some(Open::Object(m, key)) => {
                        m.insert(std::mem::take(key), v);
                        match self.peek() {
                            None => return Err(UNEXPECTED_EOF.into()),
                            Some(b',') => {
                                self.i += 1;
                                self.skip_ws();
                                *key = self.object_key()?;
                                continue 'value;
                            }
                            Some(b'}') => {
                                self.i += 1;
                                let Some(Open::Object(m, _)) = stack.pop() else {
                                    unreachable!("the top of the stack is this object")
                                };
                                v = Value::map(m);
                            }
                            Some(c) => return Err(invalid(c, "after object key:value pair")),
                        }
                    }
                }
            }
        }
    }

    /// `"key"` then `:`, positioned at the key's opening quote (whitespace skipped).
    fn object_key(&mut self) -> Result<String, String> {
        match self.peek() {
            None => return Err(UNEXPECTED_EOF.into()),
            Some(b'"') => self.i += 1,
            Some(c) => return Err(invalid(c, "looking for beginning of object key string")),
        }
        let key = self.string()?;
        self.skip_ws();
        match self.peek() {
            None => Err(UNEXPECTED_EOF.into()),
            Some(b':') => {
                self.i += 1;
                Ok(key)
            }
            Some(c) => Err(invalid(c, "after object key")),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut n = 0;
        for _ in 0..4 {
            let Some(c) = self.peek() else {
                return Err(UNEXPECTED_EOF.into());
            };
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| invalid(c, "in \\u hexadecimal character escape"))?;
            n = n * 16 + d;
            self.i += 1;
        }
        Ok(n)
    }

    /// The rest of a string literal after its opening quote, unescaped.
    fn string(&mut self) -> Result<String, String> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(UNEXPECTED_EOF.into());
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(UNEXPECTED_EOF.into());
                    };
                    self.i += 1;
                    let simple = match e {
                        b'b' => Some(b'\x08'),
                        b'f' => Some(b'\x0c'),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'\\' | b'/' | b'"' => Some(e),
                        b'u' => None,
                        c => return Err(invalid(c, "in string escape code")),
                    };
                    if let Some(x) = simple {
                        out.push(x);
                        continue;
                    }
                    let mut r = self.hex4()?;
                    if (0xd800..0xe000).contains(&r) {
                        // A surrogate: valid only as a high one followed by `\uLOW`.
                        let mut decoded = None;
                        if r < 0xdc00 && self.b[self.i..].starts_with(b"\\u") {
                            let save = self.i;
                            self.i += 2;
                            let lo = self.hex4()?;
                            if (0xdc00..0xe000).contains(&lo) {
                                decoded = Some(0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00));
                            } else {
                                self.i = save;
                            }
                        }
                        r = decoded.unwrap_or(0xfffd);
                    }
                    let ch = char::from_u32(r).unwrap_or('\u{fffd}');
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                c => out.push(c),
            }
        }
        // The input is a `str` and escapes push whole characters: still UTF-8.
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
            match self.peek() {
                Some(b'0'..=b'9') => {}
                _ => return Err(invalid(self.next_or_space(), "in numeric literal")),
            }
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            match self.peek() {
                Some(b'0'..=b'9') => self.digits(),
                _ => {
                    let c = self.next_or_space();
                    return Err(invalid(c, "after decimal point in numeric literal"));
                }
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            match self.peek() {
                Some(b'0'..=b'9') => self.digits(),
                _ => {
                    let c = self.next_or_space();
                    return Err(invalid(c, "in exponent of numeric literal"));
                }
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("0");
        let f: f64 = text.parse().unwrap_or(0.0);
        if f.is_infinite() {
            self.range_error.get_or_insert_with(|| {
                format!("json: cannot unmarshal number {text} into Go value of type float64")
            });
            return Ok(Value::Nil);
        }
        Ok(Value::Float(f))
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
        self.i += 1;
        for &want in &word.as_bytes()[1..] {
            let c = self.next_or_space();
            if c != want {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(want)),
                ));
            }
        }
        Ok(v)
    }
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
        Value::ByteStr(b) => write_byte_string(out, b),
        Value::Bytes(b) => write_string(out, &base64_std(b)),
        Value::List(..) if v.is_nil_list() => out.push_str("null"),
        Value::Map(..) if v.is_nil_map() => out.push_str("null"),
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
            let snap = m.snapshot();
            if snap.keys().any(|k| gotemplate::value::is_escaped_key(k)) {
                // Keys of other bytes: encoding/json sorts the Go strings bytewise.
                let mut entries: Vec<(String, Value)> = snap.into_iter().collect();
                gotemplate::value::sort_go_key_order(&mut entries);
                write_object(out, entries.iter().map(|(k, x)| (k, x)), depth)?
            } else {
                write_object(out, snap.iter(), depth)?
            }
        }
        Value::Object(o) => match (o.json_fields(), o.to_data()) {
            // A Go struct: fields in declaration order.
            (Some(fields), _) => write_object(out, fields.iter().map(|(k, x)| (k, x)), depth)?,
            (None, Some(d)) => write_value(out, &d, depth + 1)?,
            (None, None) => out.push_str("{}"),
        },
    }
    Ok(())
}

/// `{"k":v,...}` in the order given (a map's sorted keys, or a struct's fields).
fn write_object<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
    depth: usize,
) -> Result<(), MarshalError> {
    out.push('{');
    for (i, (k, x)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if gotemplate::value::is_escaped_key(k) {
            write_byte_string(out, &gotemplate::value::key_bytes(k));
        } else {
            write_string(out, k);
        }
        out.push(':');
        write_value(out, x, depth + 1)?;
    }
    out.push('}');
    Ok(())
}

/// A Go JSON string literal with HTML-safe escaping.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    write_chars(out, s);
    out.push('"');
}

/// A Go string of any bytes, as `encoding/json` writes it: each byte that is not part of
/// valid UTF-8 becomes the escape `\ufffd`.
pub fn write_byte_string(out: &mut String, s: &[u8]) {
    out.push('"');
    for chunk in s.utf8_chunks() {
        write_chars(out, chunk.valid());
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

fn write_chars(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go 1.22+ (Helm 3.17 is built with Go 1.23) writes these two short too.
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
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
        let mut s = String::new();
        write_string(&mut s, "a\u{8}b\u{c}\u{1}");
        assert_eq!(s, r#""a\bb\f\u0001""#);
    }

    /// Error texts real Helm v3.17.2 gave through `fromJson` (oracle case
    /// testdata/template-cases/helm-yaml/fromJson-error-classes).
    #[test]
    fn syntax_errors_read_as_go_encoding_json_words_them() {
        let cases = [
            ("", "unexpected end of JSON input"),
            ("{", "unexpected end of JSON input"),
            (
                "bad",
                "invalid character 'b' looking for beginning of value",
            ),
            (
                "{not json",
                "invalid character 'n' looking for beginning of object key string",
            ),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 \"b\":2}",
                "invalid character '\"' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            ("01", "invalid character '1' after top-level value"),
            ("-\n", "invalid character '\\n' in numeric literal"),
            (
                "1.x",
                "invalid character 'x' after decimal point in numeric literal",
            ),
            (
                "1e+\n",
                "invalid character '\\n' in exponent of numeric literal",
            ),
            (
                "trux",
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            ("\"abc\n", "invalid character '\\n' in string literal"),
            ("\"a\\qb\"", "invalid character 'q' in string escape code"),
            (
                "\"\\u12x4\"",
                "invalid character 'x' in \\u hexadecimal character escape",
            ),
            (
                "'a'",
                "invalid character '\\'' looking for beginning of value",
            ),
            (
                "\u{e9}",
                "invalid character '\u{c3}' looking for beginning of value",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).expect_err(input), want, "{input:?}");
        }
    }

    /// Go's json.Decoder texts, as Helm 3.17.2 printed them for values.schema.json
    /// (oracle cases testdata/template-cases/values-flags/schema-json-*).
    #[test]
    fn decode_first_reads_one_value_as_a_go_decoder() {
        assert_eq!(decode_first(" \n").unwrap_err(), "EOF");
        assert_eq!(decode_first("{\"a\": [1").unwrap_err(), "unexpected EOF");
        assert_eq!(decode_first("nul").unwrap_err(), "unexpected EOF");
        assert_eq!(
            decode_first("{\"a\":1,}").unwrap_err(),
            "invalid character '}' looking for beginning of object key string"
        );
        assert!(decode_first("{\"a\": 1} trailing {").is_ok());
    }

    #[test]
    fn decodes_as_go_does() {
        let v = parse(r#"{"a":"\ud800x","b":"\ud83d\ude00","c":[-0,1E2]}"#).unwrap();
        assert_eq!(
            marshal(&v).unwrap(),
            "{\"a\":\"\u{fffd}x\",\"b\":\"😀\",\"c\":[-0,100]}"
        );
        assert_eq!(
            parse("[1e999]").unwrap_err(),
            "json: cannot unmarshal number 1e999 into Go value of type float64"
        );
    }
}
