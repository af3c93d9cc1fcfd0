//! Go-style conversions Sprig builds on: `spf13/cast` (`toInt64`, `toInt`, `toFloat64`),
//! Sprig's `strval`/`strslice`, `empty` (text/template truthiness), `reflect.DeepEqual`,
//! Go's `strconv` number parsing and formatting, and the registration helpers every
//! module uses.

use std::sync::Arc;

use gotemplate::gofmt::sprint;
use gotemplate::{
    CallContext, FuncError, FuncMap, FuncResult, Function, IntKind, ListKind, Param, Value,
};

/// Registers `name` with its Go signature.
pub(crate) fn reg(
    m: &mut FuncMap,
    name: &str,
    params: &'static [Param],
    variadic: Option<Param>,
    f: impl Fn(&[Value]) -> FuncResult + Send + Sync + 'static,
) {
    m.insert(
        name,
        Function::new(
            params,
            variadic,
            move |_: &mut dyn CallContext, a: &[Value]| f(a),
        ),
    );
}

/// Registers `name`, written for strings of any bytes: a [`Value::ByteStr`] argument reaches
/// it as is (read it with [`b`]) instead of as Go's rune view of it.
pub(crate) fn regb(
    m: &mut FuncMap,
    name: &str,
    params: &'static [Param],
    variadic: Option<Param>,
    f: impl Fn(&[Value]) -> FuncResult + Send + Sync + 'static,
) {
    m.insert(
        name,
        Function::new(
            params,
            variadic,
            move |_: &mut dyn CallContext, a: &[Value]| f(a),
        )
        .with_bytes(),
    );
}

/// A `string` argument's bytes (functions registered with [`regb`]).
pub(crate) fn b(v: &Value) -> &[u8] {
    v.str_bytes().unwrap_or_default()
}

/// A Go string of `bytes` (UTF-8 or not).
pub(crate) fn vbytes(bytes: impl Into<Vec<u8>>) -> Value {
    Value::string_from_bytes(bytes)
}

/// Largest result (bytes or elements) a function builds. Go would try to allocate
/// whatever a template asks for and crash the process; here such a call fails instead.
pub(crate) const MAX_RESULT: u64 = 256 << 20;

/// Fails when a function is about to build a result of `n` bytes or elements above
/// [`MAX_RESULT`].
pub(crate) fn check_size(what: &str, n: u128) -> Result<(), FuncError> {
    if n > MAX_RESULT as u128 {
        return Err(FuncError(format!(
            "{what}: result of {n} bytes or elements exceeds the limit of {MAX_RESULT}"
        )));
    }
    Ok(())
}

/// An argument the executor already converted to `string`.
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// An argument the executor already converted to `int`/`int64`.
pub(crate) fn i(v: &Value) -> i64 {
    match v {
        Value::Int(n, _) => *n,
        _ => 0,
    }
}

/// An argument the executor already converted to `float64`.
pub(crate) fn f(v: &Value) -> f64 {
    match v {
        Value::Float(x) => *x,
        Value::Int(n, _) => *n as f64,
        _ => 0.0,
    }
}

pub(crate) fn vstr(s: impl Into<Arc<str>>) -> Value {
    Value::String(s.into())
}

pub(crate) fn vstrings(v: Vec<String>) -> Value {
    Value::string_list(v.into_iter().map(vstr).collect())
}

/// Go's `int64(f)` conversion of a float (amd64: out of range and NaN give MinInt64).
pub(crate) fn f64_to_i64(x: f64) -> i64 {
    if x.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x) {
        i64::MIN
    } else {
        x.trunc() as i64
    }
}

/// `cast`'s trimZeroDecimal: "3.00" → "3", anything else unchanged.
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix), and only
/// when the base came from the prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' {
        let c = b[i + 1] | 0x20;
        if c == b'x' || c == b'o' || c == b'b' {
            hex = c == b'x';
            i += 2;
            saw = b'0';
        }
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseInt(s, base, 64)`; `None` on any error (syntax or range).
pub(crate) fn parse_int(s: &str, base: u32) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(body, base, base == 0 && underscore_ok(s))?;
    if neg {
        if u > 1u64 << 63 {
            None
        } else {
            Some((u as i64).wrapping_neg())
        }
    } else if u > i64::MAX as u64 {
        None
    } else {
        Some(u as i64)
    }
}

fn parse_uint(s: &str, base: u32, allow_underscore: bool) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (mut base, mut digits) = (base, s);
    if base == 0 {
        base = 10;
        let b = s.as_bytes();
        if b[0] == b'0' {
            if b.len() >= 3 && matches!(b[1] | 0x20, b'x' | b'o' | b'b') {
                base = match b[1] | 0x20 {
                    b'x' => 16,
                    b'o' => 8,
                    _ => 2,
                };
                digits = &s[2..];
            } else {
                base = 8;
                digits = &s[1..];
                if digits.is_empty() {
                    return Some(0);
                }
            }
        }
    }
    let mut n: u64 = 0;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' && allow_underscore {
            continue;
        }
        let d = c.to_digit(base)?;
        n = n.checked_mul(base as u64)?.checked_add(d as u64)?;
        any = true;
    }
    if !any && base != 8 {
        return None;
    }
    Some(n)
}

/// `strconv.ParseFloat(s, 64)`; `None` on error. Go's syntax: decimal or hexadecimal
/// (`0x1.8p3`, the `p` exponent mandatory) mantissas, `_` between digits, `inf`/`nan`;
/// a result out of range is an error (Go returns ±Inf with `ErrRange`).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return s.parse::<f64>().ok();
    }
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let body: String = t.chars().filter(|&c| c != '_').collect();
    let x = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        parse_hex_float(hex)?
    } else {
        if body.is_empty()
            || !body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    let x = if s.starts_with('-') { -x } else { x };
    if x.is_infinite() { None } else { Some(x) }
}

/// The part of a Go hexadecimal float after `0x`: hex digits with an optional `.`, then
/// a mandatory `p` and a signed decimal power of two.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = match exp.strip_prefix('+') {
        Some(e) if !e.starts_with('-') => e.parse().ok()?,
        _ => exp.parse().ok()?,
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut m = 0f64;
    for c in int.chars().chain(frac.chars()) {
        m = m * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = i64::from(exp) - 4 * frac.len() as i64;
    Some(m * 2f64.powi(scale.clamp(-2000, 2000) as i32))
}

/// `cast.ToInt64` (errors become 0).
pub(crate) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(n, _) => *n,
        Value::Float(x) => f64_to_i64(*x),
        Value::String(s) => parse_int(trim_zero_decimal(s), 0).unwrap_or(0),
        Value::Bool(b) => *b as i64,
        _ => 0,
    }
}

/// `cast.ToFloat64` (errors become 0).
pub(crate) fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(n, _) => *n as f64,
        Value::Float(x) => *x,
        Value::String(s) => parse_float(s).unwrap_or(0.0),
        Value::Bool(true) => 1.0,
        _ => 0.0,
    }
}

/// Sprig's `strval`: strings and byte slices as text, everything else as `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => sprint(other),
    }
}

/// Sprig's `strval` as Go's bytes: a string or `[]byte` keeps its bytes.
pub(crate) fn strval_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::ByteStr(b) | Value::Bytes(b) => b.to_vec(),
        other => gotemplate::gofmt::sprint_bytes(other),
    }
}

/// True when `strslice(v)` would meet a string that is not UTF-8 (or a `[]byte`).
pub(crate) fn has_byte_strings(v: &Value) -> bool {
    match v {
        Value::List(l, _) => l
            .iter()
            .any(|x| matches!(x, Value::ByteStr(_) | Value::Bytes(_))),
        Value::ByteStr(_) => true,
        _ => false,
    }
}

/// Sprig's `strslice` keeping each string's bytes.
pub(crate) fn strslice_bytes(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::List(l, _) => l.iter().filter(|x| !x.is_nil()).map(strval_bytes).collect(),
        other => strslice(other)
            .into_iter()
            .map(String::into_bytes)
            .collect(),
    }
}

/// Sprig's `strslice`: a list's non-nil elements as strings; a scalar as one string.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l, _) => l.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Bytes(b) => b.iter().map(|x| x.to_string()).collect(),
        Value::Nil => Vec::new(),
        Value::Object(o) if o.list_items().is_some() => {
            o.list_items().as_ref().map(strslice).unwrap_or_default()
        }
        other => vec![strval(other)],
    }
}

/// Sprig's `empty`: nil, zero numbers, false, and zero-length strings/lists/maps.
pub(crate) fn empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(n, _) => *n == 0,
        Value::Float(x) => *x == 0.0,
        Value::String(s) => s.is_empty(),
        Value::ByteStr(b) | Value::Bytes(b) => b.is_empty(),
        Value::List(l, _) => l.is_empty(),
        Value::Map(m, _) => m.is_empty(),
        Value::Object(o) => o.list_items().is_some_and(|l| empty(&l)),
    }
}

/// `reflect.DeepEqual` over template values (Go types must match too).
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x, kx), Value::Int(y, ky)) => x == y && kx == ky,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::ByteStr(x), Value::ByteStr(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x, kx), Value::List(y, ky)) => {
            // reflect.DeepEqual: same element type, and a nil slice equals only a nil slice.
            kx.is_any() == ky.is_any()
                && a.is_nil_list() == b.is_nil_list()
                && x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x, kx), Value::Map(y, ky)) => {
            // Snapshots: no lock is held while nested maps (maybe these same) are read.
            let (x, y) = (x.snapshot(), y.snapshot());
            // Same value type, and a nil map equals only a nil map.
            kx.is_any() == ky.is_any()
                && a.is_nil_map() == b.is_nil_map()
                && x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Object(x), Value::Object(y)) => {
            Arc::ptr_eq(x, y) || (x.type_name() == y.type_name() && x.display() == y.display())
        }
        _ => false,
    }
}

/// Go's reflect Kind name of a value as Sprig error messages print it (`%s` of a Kind).
pub(crate) fn kind(v: &Value) -> &'static str {
    v.kind_name()
}

/// The elements of a Go slice or array (`reflect` `Index(i).Interface()`), or `None`
/// when the value is not one.
pub(crate) fn slice_elems(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::List(l, _) => Some(l.as_ref().clone()),
        Value::Object(o) => o.list_items().as_ref().and_then(slice_elems),
        Value::Bytes(b) => Some(
            b.iter()
                .map(|x| Value::Int(*x as i64, IntKind::Uint8))
                .collect(),
        ),
        _ => None,
    }
}

/// `reflect.TypeOf(nil).Kind()` panics in Go; text/template turns it into this error.
pub(crate) fn nil_kind_panic() -> FuncError {
    FuncError("runtime error: invalid memory address or nil pointer dereference".into())
}

pub(crate) fn list_any(v: Vec<Value>) -> Value {
    Value::List(Arc::new(v), ListKind::Any)
}

/// Go's nil `[]interface {}` (JSON `null`, `%#v` `[]interface {}(nil)`).
pub(crate) fn nil_list() -> Value {
    Value::List(Arc::new(Vec::new()), ListKind::NilAny)
}

/// A `[]string` that is Go's nil slice when empty (`regexp`'s `FindAllString` without a
/// match, `Split` with `n == 0`).
pub(crate) fn vstrings_or_nil(v: Vec<String>) -> Value {
    if v.is_empty() {
        Value::List(Arc::new(Vec::new()), ListKind::NilString)
    } else {
        vstrings(v)
    }
}

/// Go's `strconv.FormatFloat(x, fmt, -1, 64)` (shortest representation that round-trips).
pub(crate) fn format_float(x: f64, fmt: char) -> String {
    gotemplate::gofmt::format_float(x, fmt, -1)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from: /work/shared/tools/helm-template on a chart with
    // `{{ list (int "010") (int "0x1F") (int "1_000") (int "3.0") (int " 3") (int64 "3.00")
    //   (float64 "1e3") (float64 "0x10") (int true) (int 3.9) (int -3.9) (float64 "abc") | toJson }}`
    // → [8,31,1000,3,0,3,1000,0,1,3,-3,0]
    #[test]
    fn cast_semantics_match_helm() {
        let cases: Vec<(Value, i64)> = vec![
            (vstr("010"), 8),
            (vstr("0x1F"), 31),
            (vstr("1_000"), 1000),
            (vstr("3.0"), 3),
            (vstr(" 3"), 0),
            (vstr("3.00"), 3),
            (Value::Bool(true), 1),
            (Value::Float(3.9), 3),
            (Value::Float(-3.9), -3),
            (vstr("3.7"), 0),
        ];
        for (v, want) in cases {
            assert_eq!(to_int64(&v), want, "{v:?}");
        }
        assert_eq!(to_float64(&vstr("1e3")), 1000.0);
        assert_eq!(to_float64(&vstr("0x10")), 0.0);
        assert_eq!(to_float64(&vstr("abc")), 0.0);
    }

    #[test]
    fn float_formatting_like_strconv() {
        assert_eq!(format_float(1.5, 'g'), "1.5");
        assert_eq!(format_float(1e21, 'g'), "1e+21");
        assert_eq!(format_float(1e6, 'g'), "1e+06");
        assert_eq!(format_float(100000.0, 'g'), "100000");
        assert_eq!(format_float(0.0001, 'g'), "0.0001");
        assert_eq!(format_float(0.00001, 'g'), "1e-05");
        assert_eq!(format_float(1e-7, 'f'), "0.0000001");
        assert_eq!(format_float(123456789.0, 'f'), "123456789");
        assert_eq!(format_float(-2.5e-7, 'e'), "-2.5e-07");
    }
}
