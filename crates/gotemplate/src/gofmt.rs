//! Go's `fmt` package as templates observe it: `fmt.Sprint` (how `{{ . }}` prints a value),
//! `fmt.Sprintln`, and `fmt.Sprintf` with Go's verbs, flags, width, precision, argument
//! indexes and its `%!verb(type=value)` mistake reports. Also the pieces of `strconv` those
//! rest on (`FormatFloat`, `Quote`, `QuoteRune`), exposed for Sprig.
//!
//! The structure follows Go's `fmt/print.go` and `fmt/format.go` behaviour so that
//! corner cases (zero padding with signs, `#` on floats, `%x` on strings) come out the same.

use crate::value::{IntKind, MapKind, Value};

/// `fmt.Sprint(v)` for one value: what `%v` prints (nil is `<nil>`). Bytes of a string
/// that are not UTF-8 come out as U+FFFD here; [`sprint_bytes`] keeps them.
pub fn sprint(v: &Value) -> String {
    into_text(sprint_bytes(v))
}

/// `fmt.Sprint(v)` as Go's bytes.
pub fn sprint_bytes(v: &Value) -> Vec<u8> {
    let mut p = Printer::default();
    p.print_arg(v, 'v');
    p.buf.0
}

/// `fmt.Sprint(args...)`: operands are separated by a space when neither side is a string.
pub fn sprint_args(args: &[Value]) -> String {
    into_text(sprint_args_bytes(args))
}

/// [`sprint_args`] as Go's bytes.
pub fn sprint_args_bytes(args: &[Value]) -> Vec<u8> {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = a.is_string();
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf.0
}

/// `fmt.Sprintln(args...)`: operands always separated by spaces, newline appended.
pub fn sprintln_args(args: &[Value]) -> String {
    into_text(sprintln_args_bytes(args))
}

/// [`sprintln_args`] as Go's bytes.
pub fn sprintln_args_bytes(args: &[Value]) -> Vec<u8> {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf.0
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    into_text(sprintf_bytes(format.as_bytes(), args))
}

/// `fmt.Sprintf(format, args...)` on Go's bytes: the format and string operands may hold
/// any bytes, and so may the result.
pub fn sprintf_bytes(format: &[u8], args: &[Value]) -> Vec<u8> {
    let mut p = Printer::default();
    p.do_printf(format, args);
    p.buf.0
}

/// Printed bytes as text: valid UTF-8 as is, other bytes as U+FFFD.
fn into_text(b: Vec<u8>) -> String {
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => crate::value::go_lossy(e.as_bytes()).into_owned(),
    }
}

/// `Sprint`'s output buffer: Go's bytes.
#[derive(Default)]
struct Buf(Vec<u8>);

impl Buf {
    fn push(&mut self, c: char) {
        if c.is_ascii() {
            self.0.push(c as u8);
        } else {
            self.0
                .extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
        }
    }
    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    fn push_bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn extend(&mut self, it: impl Iterator<Item = char>) {
        for c in it {
            self.push(c);
        }
    }
}

/// Go's `strconv.Quote`: a double-quoted Go string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    append_quoted(&mut out, s.as_bytes(), '"', false);
    out
}

/// Go's `strconv.Quote` of a string's bytes: invalid UTF-8 is escaped as `\xNN`.
pub fn quote_bytes(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    append_quoted(&mut out, s, '"', false);
    out
}

/// Go's `strconv.QuoteToASCII`.
pub fn quote_to_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    append_quoted(&mut out, s.as_bytes(), '"', true);
    out
}

/// Go's `strconv.QuoteRune`.
pub fn quote_rune(r: char) -> String {
    let mut out = String::from('\'');
    append_escaped_rune(&mut out, r, '\'', false);
    out.push('\'');
    out
}

/// Go's `strconv.FormatFloat(f, fmt, prec, 64)` for `fmt` in `b e E f g G x X`
/// (`prec < 0` means the shortest representation that round-trips).
pub fn format_float(f: f64, fmt: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = f.is_sign_negative();
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let mut exp = biased;
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    exp -= 1023;
    match fmt {
        'b' => {
            let mut s = String::new();
            if neg {
                s.push('-');
            }
            s.push_str(&mant.to_string());
            s.push('p');
            let e = exp - 52;
            if e >= 0 {
                s.push('+');
            }
            s.push_str(&e.to_string());
            s
        }
        'x' | 'X' => fmt_x(prec, fmt, neg, mant, exp),
        'e' | 'E' | 'f' | 'g' | 'G' => {
            let abs = f.abs();
            let shortest = prec < 0;
            let mut prec = prec;
            let digs = if shortest {
                let d = shortest_digits(abs);
                prec = match fmt {
                    'e' | 'E' => (d.nd() as i32 - 1).max(0),
                    'f' => (d.nd() as i32 - d.dp).max(0),
                    _ => d.nd() as i32,
                };
                d
            } else if fmt == 'f' {
                let mut s = String::new();
                if neg {
                    s.push('-');
                }
                s.push_str(&format!("{:.*}", prec as usize, abs));
                return s;
            } else {
                let digits = match fmt {
                    'e' | 'E' => prec + 1,
                    _ => {
                        if prec == 0 {
                            prec = 1;
                        }
                        prec
                    }
                };
                fixed_digits(abs, digits as usize)
            };
            format_digits(neg, &digs, prec, fmt, shortest)
        }
        _ => {
            // Go prints `%` followed by the format char for an unknown format.
            format!("%{fmt}")
        }
    }
}

/// A decimal digit string `0.d1d2d3... * 10^dp` with no trailing zeros (zero: no digits).
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

impl Digits {
    fn nd(&self) -> usize {
        self.d.len()
    }
}

/// Parses Rust's `{:e}` output (`1.2345e-7`) into digits.
fn digits_from_exp(s: &str) -> Digits {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let mut d: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: e + 1 }
}

fn shortest_digits(abs: f64) -> Digits {
    if abs == 0.0 {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    digits_from_exp(&format!("{abs:e}"))
}

fn fixed_digits(abs: f64, n: usize) -> Digits {
    if abs == 0.0 {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    digits_from_exp(&format!("{:.*e}", n.saturating_sub(1), abs))
}

fn format_digits(neg: bool, digs: &Digits, prec: i32, fmt: char, shortest: bool) -> String {
    match fmt {
        'e' | 'E' => fmt_e(neg, digs, prec, fmt),
        'f' => fmt_f(neg, digs, prec),
        _ => {
            let nd = digs.nd() as i32;
            let mut eprec = prec;
            if eprec > nd && nd >= digs.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            let efmt = if fmt == 'G' { 'E' } else { 'e' };
            let mut prec = prec;
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                return fmt_e(neg, digs, prec - 1, efmt);
            }
            if prec > digs.dp {
                prec = nd;
            }
            fmt_f(neg, digs, (prec - digs.dp).max(0))
        }
    }
}

fn fmt_e(neg: bool, d: &Digits, prec: i32, fmt: char) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(d.d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        s.push('.');
        let mut i = 1usize;
        let m = d.nd().min(prec as usize + 1);
        while i < m {
            s.push(d.d[i] as char);
            i += 1;
        }
        while i <= prec as usize {
            s.push('0');
            i += 1;
        }
    }
    s.push(fmt);
    let mut exp = d.dp - 1;
    if d.nd() == 0 {
        exp = 0;
    }
    if exp < 0 {
        s.push('-');
        exp = -exp;
    } else {
        s.push('+');
    }
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

fn fmt_f(neg: bool, d: &Digits, prec: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if d.dp > 0 {
        let m = d.nd().min(d.dp as usize);
        for &c in &d.d[..m] {
            s.push(c as char);
        }
        for _ in m..d.dp as usize {
            s.push('0');
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            let j = d.dp + i - 1;
            let c = if j >= 0 && (j as usize) < d.nd() {
                d.d[j as usize] as char
            } else {
                '0'
            };
            s.push(c);
        }
    }
    s
}

/// `%x` of a float: `-0x1.yyyyp±dd`.
fn fmt_x(prec: i32, fmt: char, neg: bool, mant: u64, exp: i64) -> String {
    let mut mant = mant;
    let mut exp = exp;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = (prec * 4) as u32;
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if fmt == 'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push('0');
    s.push(fmt);
    s.push((b'0' + ((mant >> 60) & 1) as u8) as char);
    mant <<= 4;
    if prec < 0 && mant != 0 {
        s.push('.');
        while mant != 0 {
            s.push(hex[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
        }
    } else if prec > 0 {
        s.push('.');
        for _ in 0..prec {
            s.push(hex[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
        }
    }
    s.push(if fmt == 'X' { 'P' } else { 'p' });
    if exp < 0 {
        s.push('-');
        exp = -exp;
    } else {
        s.push('+');
    }
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space,
/// by Unicode 15.0.0's categories (Go 1.23's; table in `printable.rs`).
pub fn is_print(r: char) -> bool {
    let c = r as u32;
    if c < 0x7f {
        return c >= 0x20;
    }
    crate::printable::PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

fn append_escaped_rune(out: &mut String, r: char, quote: char, ascii_only: bool) {
    if r == quote || r == '\\' {
        out.push('\\');
        out.push(r);
        return;
    }
    if ascii_only {
        if (r as u32) < 0x80 && is_print(r) {
            out.push(r);
            return;
        }
    } else if is_print(r) {
        out.push(r);
        return;
    }
    match r {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ => {
            let c = r as u32;
            if c < 0x20 || c == 0x7f {
                out.push_str(&format!("\\x{c:02x}"));
            } else if c < 0x10000 {
                out.push_str(&format!("\\u{c:04x}"));
            } else {
                out.push_str(&format!("\\U{c:08x}"));
            }
        }
    }
}

/// Appends `bytes` quoted with `quote`, escaping invalid UTF-8 as `\xNN` like Go.
fn append_quoted(out: &mut String, bytes: &[u8], quote: char, ascii_only: bool) {
    out.push(quote);
    for chunk in bytes.utf8_chunks() {
        for r in chunk.valid().chars() {
            append_escaped_rune(out, r, quote, ascii_only);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push(quote);
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &[u8]) -> bool {
    match std::str::from_utf8(s) {
        Ok(s) => !s
            .chars()
            .any(|r| r == '\u{feff}' || (r < ' ' && r != '\t') || r == '`' || r == '\u{7f}'),
        Err(_) => false,
    }
}

const LDIGITS: &[u8; 16] = b"0123456789abcdef";
const UDIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Go's `fmt` flags state for one verb.
#[derive(Default, Clone, Copy)]
struct Flags {
    wid: usize,
    wid_present: bool,
    prec: usize,
    prec_present: bool,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    sharp_v: bool,
    plus_v: bool,
}

#[derive(Default)]
struct Printer {
    buf: Buf,
    f: Flags,
    /// Addresses of the maps being printed, outermost first: a map met again inside
    /// itself prints as `map[<cycle>]` (Go recurses until its stack overflows).
    open_maps: Vec<usize>,
}

/// Go refuses widths and precisions above 1e6 as "too large".
const TOO_LARGE: usize = 1_000_000;

impl Printer {
    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero && !self.f.minus {
            '0'
        } else {
            ' '
        };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    fn pad(&mut self, s: &str) {
        self.pad_bytes(s.as_bytes());
    }

    /// Go's `fmt.pad`: the width counts runes (an invalid byte is one).
    fn pad_bytes(&mut self, s: &[u8]) {
        if !self.f.wid_present || self.f.wid == 0 {
            self.buf.push_bytes(s);
            return;
        }
        let width = self.f.wid.saturating_sub(crate::value::rune_count(s));
        if !self.f.minus {
            self.write_padding(width);
            self.buf.push_bytes(s);
        } else {
            self.buf.push_bytes(s);
            self.write_padding(width);
        }
    }

    fn fmt_boolean(&mut self, b: bool) {
        self.pad(if b { "true" } else { "false" });
    }

    fn fmt_s(&mut self, s: &str) {
        self.fmt_sb(s.as_bytes());
    }

    /// Go's `fmtS` on a string's bytes: precision cuts runes, width pads runes.
    fn fmt_sb(&mut self, s: &[u8]) {
        let s = self.truncate_bytes(s);
        self.pad_bytes(s);
    }

    fn fmt_q(&mut self, s: &[u8]) {
        let s = self.truncate_bytes(s);
        let mut out = String::new();
        if self.f.sharp
            && can_backquote(s)
            && let Ok(text) = std::str::from_utf8(s)
        {
            out.push('`');
            out.push_str(text);
            out.push('`');
        } else {
            append_quoted(&mut out, s, '"', self.f.plus);
        }
        self.pad(&out);
    }

    fn truncate_bytes<'a>(&self, s: &'a [u8]) -> &'a [u8] {
        if !self.f.prec_present {
            return s;
        }
        // Go truncates by runes, counting each invalid byte as one rune.
        let mut n = 0;
        let mut pos = 0;
        for chunk in s.utf8_chunks() {
            for (i, _) in chunk.valid().char_indices() {
                if n == self.f.prec {
                    return &s[..pos + i];
                }
                n += 1;
            }
            pos += chunk.valid().len();
            for _ in chunk.invalid() {
                if n == self.f.prec {
                    return &s[..pos];
                }
                n += 1;
                pos += 1;
            }
        }
        s
    }

    fn fmt_sbx(&mut self, s: &[u8], digits: &[u8; 16]) {
        let mut length = s.len();
        if self.f.prec_present && self.f.prec < length {
            length = self.f.prec;
        }
        let mut width = 2 * length;
        if width > 0 {
            if self.f.space {
                if self.f.sharp {
                    width *= 2;
                }
                width += length - 1;
            } else if self.f.sharp {
                width += 2;
            }
        } else {
            if self.f.wid_present {
                self.write_padding(self.f.wid);
            }
            return;
        }
        if self.f.wid_present && self.f.wid > width && !self.f.minus {
            self.write_padding(self.f.wid - width);
        }
        if self.f.sharp {
            self.buf.push('0');
            self.buf.push(if digits == UDIGITS { 'X' } else { 'x' });
        }
        for (i, &c) in s[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push('0');
                    self.buf.push(if digits == UDIGITS { 'X' } else { 'x' });
                }
            }
            self.buf.push(digits[(c >> 4) as usize] as char);
            self.buf.push(digits[(c & 0xf) as usize] as char);
        }
        if self.f.wid_present && self.f.wid > width && self.f.minus {
            self.write_padding(self.f.wid - width);
        }
    }

    /// Go's `fmt.fmtInteger`.
    fn fmt_integer(&mut self, u: u64, base: u32, is_signed: bool, verb: char, digits: &[u8; 16]) {
        let negative = is_signed && (u as i64) < 0;
        let mut u = if negative {
            (u as i64).unsigned_abs()
        } else {
            u
        };
        let mut prec = 0usize;
        if self.f.prec_present {
            prec = self.f.prec;
            if prec == 0 && u == 0 {
                let old = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid);
                self.f.zero = old;
                return;
            }
        } else if self.f.zero && !self.f.minus && self.f.wid_present {
            prec = self.f.wid;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut rev: Vec<u8> = Vec::with_capacity(24);
        let b = u64::from(base);
        while u >= b {
            rev.push(digits[(u % b) as usize]);
            u /= b;
        }
        rev.push(digits[u as usize]);
        while rev.len() < prec {
            rev.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => rev.extend_from_slice(b"b0"),
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => {
                    rev.push(if digits == UDIGITS { b'X' } else { b'x' });
                    rev.push(b'0');
                }
                _ => {}
            }
        }
        if verb == 'O' {
            rev.extend_from_slice(b"o0");
        }
        if negative {
            rev.push(b'-');
        } else if self.f.plus {
            rev.push(b'+');
        } else if self.f.space {
            rev.push(b' ');
        }
        rev.reverse();
        let s = String::from_utf8(rev).expect("ASCII digits");
        let old = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = old;
    }

    fn fmt_c(&mut self, u: u64) {
        let r = u32::try_from(u)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or('\u{fffd}');
        let mut s = String::new();
        s.push(r);
        self.pad(&s);
    }

    fn fmt_qc(&mut self, u: u64) {
        let r = u32::try_from(u)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or('\u{fffd}');
        let mut s = String::from('\'');
        append_escaped_rune(&mut s, r, '\'', self.f.plus);
        s.push('\'');
        self.pad(&s);
    }

    fn fmt_unicode(&mut self, u: u64) {
        let mut prec = 4;
        if self.f.prec_present && self.f.prec > 4 {
            prec = self.f.prec;
        }
        let mut hex = format!("{u:X}");
        while hex.len() < prec {
            hex.insert(0, '0');
        }
        let mut s = format!("U+{hex}");
        if self.f.sharp
            && let Some(r) = u32::try_from(u).ok().and_then(char::from_u32)
            && is_print(r)
        {
            s.push_str(" '");
            s.push(r);
            s.push('\'');
        }
        let old = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = old;
    }

    /// Go's `fmt.fmtFloat`.
    fn fmt_float_raw(&mut self, v: f64, verb: char, prec: i32) {
        let prec = if self.f.prec_present {
            self.f.prec as i32
        } else {
            prec
        };
        let formatted = format_float(v, verb, prec);
        let mut num: Vec<u8> = Vec::with_capacity(formatted.len() + 1);
        if formatted.starts_with('-') || formatted.starts_with('+') {
            num.extend_from_slice(formatted.as_bytes());
        } else {
            num.push(b'+');
            num.extend_from_slice(formatted.as_bytes());
        }
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if num.get(1) == Some(&b'I') || num.get(1) == Some(&b'N') {
            let old = self.f.zero;
            self.f.zero = false;
            let mut start = 0;
            if num[1] == b'N' && !self.f.space && !self.f.plus {
                start = 1;
            }
            let s = String::from_utf8_lossy(&num[start..]).into_owned();
            self.pad(&s);
            self.f.zero = old;
            return;
        }
        if self.f.sharp && verb != 'b' {
            let mut digits: i32 = 0;
            if matches!(verb, 'v' | 'g' | 'G' | 'x') {
                digits = prec;
                if digits == -1 {
                    digits = 6;
                }
            }
            let mut tail: Vec<u8> = Vec::new();
            let mut has_decimal_point = false;
            let mut saw_nonzero = false;
            let mut i = 1;
            while i < num.len() {
                match num[i] {
                    b'.' => has_decimal_point = true,
                    b'p' | b'P' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    b'e' | b'E' if verb != 'x' && verb != 'X' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    c => {
                        if c != b'0' {
                            saw_nonzero = true;
                        }
                        if saw_nonzero {
                            digits -= 1;
                        }
                    }
                }
                i += 1;
            }
            if !has_decimal_point {
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            while digits > 0 {
                num.push(b'0');
                digits -= 1;
            }
            num.extend_from_slice(&tail);
        }
        let s = String::from_utf8(num).expect("float formatting is ASCII");
        if self.f.plus || !s.starts_with('+') {
            if self.f.zero && !self.f.minus && self.f.wid_present && self.f.wid > s.len() {
                self.buf.push_str(&s[..1]);
                let n = self.f.wid - s.len();
                self.write_padding(n);
                self.buf.push_str(&s[1..]);
                return;
            }
            self.pad(&s);
            return;
        }
        self.pad(&s[1..]);
    }

    fn fmt_float(&mut self, v: f64, verb: char) {
        match verb {
            'v' => self.fmt_float_raw(v, 'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float_raw(v, verb, -1),
            'f' | 'e' | 'E' => self.fmt_float_raw(v, verb, 6),
            'F' => self.fmt_float_raw(v, 'f', 6),
            _ => self.bad_verb(verb, Some(&Value::Float(v))),
        }
    }

    fn fmt_int(&mut self, v: i64, kind: IntKind, verb: char) {
        let is_signed = kind != IntKind::Uint8;
        let u = v as u64;
        match verb {
            'v' => {
                if self.f.sharp_v && !is_signed {
                    self.fmt_0x64(u, true);
                } else {
                    self.fmt_integer(u, 10, is_signed, verb, LDIGITS);
                }
            }
            'd' => self.fmt_integer(u, 10, is_signed, verb, LDIGITS),
            'b' => self.fmt_integer(u, 2, is_signed, verb, LDIGITS),
            'o' | 'O' => self.fmt_integer(u, 8, is_signed, verb, LDIGITS),
            'x' => self.fmt_integer(u, 16, is_signed, verb, LDIGITS),
            'X' => self.fmt_integer(u, 16, is_signed, verb, UDIGITS),
            'c' => self.fmt_c(u),
            'q' => self.fmt_qc(u),
            'U' => self.fmt_unicode(u),
            _ => self.bad_verb(verb, Some(&Value::Int(v, kind))),
        }
    }

    fn fmt_0x64(&mut self, u: u64, leading0x: bool) {
        let sharp = self.f.sharp;
        self.f.sharp = leading0x;
        self.fmt_integer(u, 16, false, 'v', LDIGITS);
        self.f.sharp = sharp;
    }

    fn fmt_string(&mut self, s: &[u8], verb: char) {
        match verb {
            'v' => {
                if self.f.sharp_v {
                    self.fmt_q(s);
                } else {
                    self.fmt_sb(s);
                }
            }
            's' => self.fmt_sb(s),
            'x' => self.fmt_sbx(s, LDIGITS),
            'X' => self.fmt_sbx(s, UDIGITS),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(verb, Some(&Value::string_from_slice(s))),
        }
    }

    fn fmt_bytes(&mut self, v: &[u8], verb: char) {
        match verb {
            'v' | 'd' => {
                if self.f.sharp_v {
                    self.buf.push_str("[]byte{");
                    for (i, &c) in v.iter().enumerate() {
                        if i > 0 {
                            self.buf.push_str(", ");
                        }
                        self.fmt_0x64(u64::from(c), true);
                    }
                    self.buf.push('}');
                } else {
                    self.buf.push('[');
                    for (i, &c) in v.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(' ');
                        }
                        self.fmt_integer(u64::from(c), 10, false, verb, LDIGITS);
                    }
                    self.buf.push(']');
                }
            }
            's' => self.fmt_sb(v),
            'x' => self.fmt_sbx(v, LDIGITS),
            'X' => self.fmt_sbx(v, UDIGITS),
            'q' => self.fmt_q(v),
            _ => {
                self.buf.push('[');
                for (i, &c) in v.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.fmt_int(i64::from(c), IntKind::Uint8, verb);
                }
                self.buf.push(']');
            }
        }
    }

    fn fmt_pointer(&mut self, v: &Value, verb: char) {
        let addr: u64 = match v {
            Value::List(l, _) => 0xc000_0100_0000 + (l.len() as u64) * 8,
            Value::Map(m, _) => 0xc000_0200_0000 + (m.len() as u64) * 8,
            Value::Bytes(b) => 0xc000_0300_0000 + (b.len() as u64),
            Value::Object(_) => 0xc000_0400_0000,
            _ => {
                self.bad_verb(verb, Some(v));
                return;
            }
        };
        let sharp = self.f.sharp;
        self.f.sharp = !sharp;
        self.fmt_integer(addr, 16, false, 'v', LDIGITS);
        self.f.sharp = sharp;
    }

    fn bad_verb(&mut self, verb: char, v: Option<&Value>) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match v {
            Some(v) if !v.is_nil() => {
                self.buf.push_str(&v.type_name());
                self.buf.push('=');
                self.print_value(v, 'v', 0);
            }
            _ => self.buf.push_str("<nil>"),
        }
        self.buf.push(')');
    }

    /// Go's `printArg`: a top-level operand.
    fn print_arg(&mut self, v: &Value, verb: char) {
        if v.is_nil() {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(verb, None),
            }
            return;
        }
        match verb {
            'T' => {
                let t = v.type_name();
                self.fmt_s(&t);
                return;
            }
            'p' => {
                self.fmt_pointer(v, 'p');
                return;
            }
            _ => {}
        }
        self.print_value(v, verb, 0);
    }

    /// Go's `printValue` for a concrete value at `depth`.
    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        match v {
            Value::Nil => {
                // A nil interface element inside a list or map.
                if self.f.sharp_v {
                    self.buf.push_str("interface {}(nil)");
                } else if depth == 0 && verb != 'v' {
                    self.bad_verb(verb, None);
                } else {
                    self.buf.push_str("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.fmt_boolean(*b),
                _ => self.bad_verb(verb, Some(v)),
            },
            Value::Int(i, k) => self.fmt_int(*i, *k, verb),
            Value::Float(f) => self.fmt_float(*f, verb),
            Value::String(s) => self.fmt_string(s.as_bytes(), verb),
            Value::ByteStr(s) => self.fmt_string(s, verb),
            Value::Bytes(b) => self.fmt_bytes(b, verb),
            Value::List(l, kind) => {
                if self.f.sharp_v && v.is_nil_list() {
                    self.buf.push_str(if kind.is_string() {
                        "[]string(nil)"
                    } else {
                        "[]interface {}(nil)"
                    });
                } else if self.f.sharp_v {
                    self.buf.push_str(if kind.is_string() {
                        "[]string{"
                    } else {
                        "[]interface {}{"
                    });
                    for (i, e) in l.iter().enumerate() {
                        if i > 0 {
                            self.buf.push_str(", ");
                        }
                        self.print_value(e, verb, depth + 1);
                    }
                    self.buf.push('}');
                } else {
                    self.buf.push('[');
                    for (i, e) in l.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(' ');
                        }
                        self.print_value(e, verb, depth + 1);
                    }
                    self.buf.push(']');
                }
            }
            Value::Map(..) if self.f.sharp_v && v.is_nil_map() => {
                self.buf.push_str("map[string]interface {}(nil)");
            }
            Value::Map(m, kind) => {
                if self.f.sharp_v {
                    self.buf.push_str(if *kind == MapKind::String {
                        "map[string]string{"
                    } else {
                        "map[string]interface {}{"
                    });
                } else {
                    self.buf.push_str("map[");
                }
                let addr = m.addr();
                if self.open_maps.contains(&addr) {
                    self.buf.push_str("<cycle>");
                    self.buf.push(if self.f.sharp_v { '}' } else { ']' });
                    return;
                }
                self.open_maps.push(addr);
                // A snapshot, so no lock is held while nested values are printed.
                let mut entries: Vec<(String, Value)> = m.snapshot().into_iter().collect();
                // Go prints a map's keys sorted bytewise.
                crate::value::sort_go_key_order(&mut entries);
                for (i, (k, e)) in entries.iter().enumerate() {
                    if i > 0 {
                        if self.f.sharp_v {
                            self.buf.push_str(", ");
                        } else {
                            self.buf.push(' ');
                        }
                    }
                    self.fmt_string(&crate::value::key_bytes(k), verb);
                    self.buf.push(':');
                    self.print_value(e, verb, depth + 1);
                }
                self.open_maps.pop();
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Object(o) => match verb {
                'v' | 's' => {
                    let d = o.display_copy();
                    self.fmt_s(&d);
                }
                'q' => {
                    let d = o.display_copy();
                    self.fmt_q(d.as_bytes());
                }
                // A named integer with a String method: the string verbs print String(),
                // the others the integer.
                'x' | 'X' if o.as_int().is_some() => {
                    let d = o.display_copy();
                    self.fmt_string(d.as_bytes(), verb);
                }
                _ if o.as_int().is_some() => {
                    self.fmt_int(o.as_int().unwrap_or_default(), IntKind::Int64, verb)
                }
                _ => {
                    self.buf.push_str("%!");
                    self.buf.push(verb);
                    self.buf.push('(');
                    self.buf.push_str(o.type_name());
                    self.buf.push('=');
                    self.buf.push_str(&o.display());
                    self.buf.push(')');
                }
            },
        }
    }

    fn arg_number(
        &mut self,
        arg_num: usize,
        format: &[u8],
        i: usize,
        num_args: usize,
        st: &mut State,
    ) -> (usize, usize, bool) {
        if format.len() <= i || format[i] != b'[' {
            return (arg_num, i, false);
        }
        st.reordered = true;
        let (index, wid, ok) = parse_arg_number(&format[i..]);
        if ok && index >= 0 && (index as usize) < num_args {
            return (index as usize, i + wid, true);
        }
        st.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    fn do_printf(&mut self, format: &[u8], a: &[Value]) {
        let fb = format;
        let end = fb.len();
        let mut arg_num = 0usize;
        let mut after_index;
        let mut st = State {
            reordered: false,
            good_arg_num: true,
        };
        let mut i = 0usize;
        while i < end {
            st.good_arg_num = true;
            let lasti = i;
            while i < end && fb[i] != b'%' {
                i += 1;
            }
            if i > lasti {
                self.buf.push_bytes(&format[lasti..i]);
            }
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            while i < end {
                match fb[i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    _ => break,
                }
                i += 1;
            }
            (arg_num, i, after_index) = self.arg_number(arg_num, fb, i, a.len(), &mut st);
            if i < end && fb[i] == b'*' {
                i += 1;
                let (n, ok, na) = int_from_arg(a, arg_num);
                arg_num = na;
                self.f.wid_present = ok;
                if !ok {
                    self.buf.push_str("%!(BADWIDTH)");
                }
                if n < 0 {
                    self.f.wid = n.unsigned_abs() as usize;
                    self.f.minus = true;
                    self.f.zero = false;
                } else {
                    self.f.wid = n as usize;
                }
                after_index = false;
            } else {
                let (n, ok, ni) = parse_num(fb, i, end);
                self.f.wid = n;
                self.f.wid_present = ok;
                i = ni;
                if after_index && ok {
                    st.good_arg_num = false;
                }
            }
            if i + 1 < end && fb[i] == b'.' {
                i += 1;
                if after_index {
                    st.good_arg_num = false;
                }
                (arg_num, i, after_index) = self.arg_number(arg_num, fb, i, a.len(), &mut st);
                if i < end && fb[i] == b'*' {
                    i += 1;
                    let (n, ok, na) = int_from_arg(a, arg_num);
                    arg_num = na;
                    self.f.prec_present = ok;
                    self.f.prec = n.max(0) as usize;
                    if n < 0 {
                        self.f.prec_present = false;
                    }
                    if !self.f.prec_present {
                        self.buf.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (n, ok, ni) = parse_num(fb, i, end);
                    i = ni;
                    self.f.prec = if ok { n } else { 0 };
                    self.f.prec_present = true;
                }
            }
            if !after_index {
                (arg_num, i, _) = self.arg_number(arg_num, fb, i, a.len(), &mut st);
            }
            if i >= end {
                self.buf.push_str("%!(NOVERB)");
                break;
            }
            // Go decodes the verb as a rune: an invalid byte is U+FFFD, one byte wide.
            let (verb, width) = match format[i..].utf8_chunks().next() {
                Some(c) if !c.valid().is_empty() => {
                    let r = c.valid().chars().next().unwrap_or('\u{fffd}');
                    (r, r.len_utf8())
                }
                _ => ('\u{fffd}', 1),
            };
            i += width;
            if verb == '%' {
                self.buf.push('%');
            } else if !st.good_arg_num {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(BADINDEX)");
            } else if arg_num >= a.len() {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(MISSING)");
            } else if verb == 'w' {
                self.bad_verb('w', Some(&a[arg_num]));
                arg_num += 1;
            } else {
                if verb == 'v' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&a[arg_num], verb);
                arg_num += 1;
            }
        }
        if !st.reordered && arg_num < a.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (i, arg) in a[arg_num..].iter().enumerate() {
                if i > 0 {
                    self.buf.push_str(", ");
                }
                if arg.is_nil() {
                    self.buf.push_str("<nil>");
                } else {
                    self.buf.push_str(&arg.type_name());
                    self.buf.push('=');
                    self.print_arg(arg, 'v');
                }
            }
            self.buf.push(')');
        }
    }
}

struct State {
    reordered: bool,
    good_arg_num: bool,
}

fn parse_num(s: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num = 0usize;
    let mut isnum = false;
    let mut i = start;
    while i < end && s[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (0, false, end);
        }
        num = num * 10 + usize::from(s[i] - b'0');
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

fn parse_arg_number(format: &[u8]) -> (i64, usize, bool) {
    if format.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..format.len() {
        if format[i] == b']' {
            let (width, ok, newi) = parse_num(format, 1, i);
            if !ok || newi != i {
                return (0, i + 1, false);
            }
            return (width as i64 - 1, i + 1, true);
        }
    }
    (0, 1, false)
}

fn int_from_arg(a: &[Value], arg_num: usize) -> (i64, bool, usize) {
    if arg_num < a.len() {
        let (mut num, mut ok) = match &a[arg_num] {
            Value::Int(i, _) => (*i, true),
            _ => (0, false),
        };
        if num > TOO_LARGE as i64 || num < -(TOO_LARGE as i64) {
            num = 0;
            ok = false;
        }
        return (num, ok, arg_num + 1);
    }
    (0, false, arg_num)
}

#[cfg(test)]
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;
    use crate::value::Map;

    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn i(x: i64) -> Value {
        Value::int(x)
    }
    fn f(x: f64) -> Value {
        Value::Float(x)
    }

    // Every expected string below was produced by real Helm v3.17.2 (printf / print in a
    // template), see the oracle runs recorded in the crate's test notes.

    #[test]
    fn sprint_floats_like_go() {
        let cases = [
            (1.0, "1"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (100.0, "100"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (12345678.0, "1.2345678e+07"),
            (1.5e-5, "1.5e-05"),
            (3.0e100, "3e+100"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (2.5, "2.5"),
        ];
        for (v, want) in cases {
            assert_eq!(sprint(&f(v)), want, "{v}");
        }
    }

    #[test]
    fn sprint_composites() {
        let l = Value::list(vec![i(1), s("a"), Value::Nil, f(2.5)]);
        assert_eq!(sprint(&l), "[1 a <nil> 2.5]");
        let mut m = Map::new();
        m.insert("b".into(), i(1));
        m.insert("a".into(), s("x"));
        assert_eq!(sprint(&Value::map(m)), "map[a:x b:1]");
        assert_eq!(sprint(&Value::Nil), "<nil>");
        assert_eq!(sprint(&Value::Bytes(vec![1u8, 2, 3].into())), "[1 2 3]");
        assert_eq!(
            sprint_args(&[i(1), i(2), s("a"), s("b"), i(3), Value::Nil, i(4)]),
            "1 2ab3 <nil> 4"
        );
        assert_eq!(sprintln_args(&[i(1), s("a"), Value::Nil]), "1 a <nil>\n");
        assert_eq!(sprint_args(&[Value::Nil, Value::Nil]), "<nil> <nil>");
    }

    #[test]
    fn printf_padding_and_flags() {
        assert_eq!(sprintf("%5.2f|%x", &[f(3.14159), i(255)]), " 3.14|ff");
        assert_eq!(
            sprintf(
                "[%05s|%-05s|%05x|%05q|%-05d|%05d|%+05d|% 05d]",
                &[s("ab"), s("ab"), s("ab"), s("ab"), i(1), i(-1), i(1), i(1)]
            ),
            "[000ab|ab   |06162|0\"ab\"|1    |-0001|+0001| 0001]"
        );
        assert_eq!(
            sprintf(
                "%6.2f|%-8.3f|%08.3f|%+.2e|% f|%+f",
                &[
                    f(3.14159),
                    f(3.14159),
                    f(-3.14159),
                    f(12345.678),
                    f(1.0),
                    f(1.0)
                ]
            ),
            "  3.14|3.142   |-003.142|+1.23e+04| 1.000000|+1.000000"
        );
        assert_eq!(
            sprintf(
                "%c|%q|%U|%#U|%#x|%#o|%O|%#b|%x|%.3d|%8.3d|%-8.3d|",
                &[
                    i(65),
                    i(65),
                    i(65),
                    i(65),
                    i(255),
                    i(8),
                    i(8),
                    i(5),
                    i(-255),
                    i(7),
                    i(7),
                    i(7)
                ]
            ),
            "A|'A'|U+0041|U+0041 'A'|0xff|010|0o10|0b101|-ff|007|     007|007     |"
        );
    }

    #[test]
    fn printf_mistakes() {
        assert_eq!(sprintf("%d", &[f(3.0)]), "%!d(float64=3)");
        assert_eq!(sprintf("%w|%d", &[i(1), i(2)]), "%!w(int=1)|2");
        assert_eq!(
            sprintf("%5z|%!|%", &[i(1)]),
            "%!z(int=    1)|%!!(MISSING)|%!(NOVERB)"
        );
        assert_eq!(sprintf("%d %d", &[i(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[i(1), i(2), s("x"), Value::Nil]),
            "1%!(EXTRA int=2, string=x, <nil>)"
        );
        assert_eq!(
            sprintf("%s|%v|%d", &[Value::Nil, Value::Nil, Value::Nil]),
            "%!s(<nil>)|<nil>|%!d(<nil>)"
        );
        assert_eq!(
            sprintf(
                "%t|%t|%v|%s",
                &[
                    Value::Bool(true),
                    i(1),
                    Value::Bool(false),
                    Value::Bool(true)
                ]
            ),
            "true|%!t(int=1)|false|%!s(bool=true)"
        );
        assert_eq!(
            sprintf(
                "%*d|%-*d|%.*f|%*d",
                &[i(5), i(1), i(5), i(1), i(2), f(3.14159), s("x"), i(1)]
            ),
            "    1|1    |3.14|%!(BADWIDTH)1"
        );
        assert_eq!(
            sprintf("%[2]d %[1]d|%[3]d|%[0]d", &[i(1), i(2)]),
            "2 1|%!d(BADINDEX)|%!d(BADINDEX)"
        );
    }

    #[test]
    fn printf_composites() {
        let l1 = Value::list(vec![i(1), s("a"), Value::Nil, f(2.5)]);
        let l2 = Value::list(vec![i(1), s("a"), Value::Nil]);
        let l3 = Value::list(vec![i(1), s("a")]);
        let l4 = Value::list(vec![i(10), s("a")]);
        assert_eq!(
            sprintf("%v|%d|%s|%x", &[l1, l2, l3, l4]),
            "[1 a <nil> 2.5]|[1 %!d(string=a) <nil>]|[%!s(int=1) a]|[a 61]"
        );
        let mut m = Map::new();
        m.insert("b".into(), i(1));
        m.insert("a".into(), s("x"));
        let m1 = Value::map(m.clone());
        m.insert("c".into(), Value::Nil);
        let m2 = Value::map(m);
        assert_eq!(
            sprintf("%v|%d|%#v", &[m1.clone(), m1, m2]),
            "map[a:x b:1]|map[%!d(string=a):%!d(string=x) %!d(string=b):1]|map[string]interface {}{\"a\":\"x\", \"b\":1, \"c\":interface {}(nil)}"
        );
        assert_eq!(
            sprintf(
                "%#v|%#v|%#v|%#v|%#v|%#v",
                &[
                    i(1),
                    s("a"),
                    f(1.0),
                    Value::Bool(true),
                    Value::Nil,
                    Value::list(vec![i(1), s("a"), Value::Nil])
                ]
            ),
            "1|\"a\"|1|true|<nil>|[]interface {}{1, \"a\", interface {}(nil)}"
        );
        assert_eq!(
            sprintf(
                "%T|%T|%T|%T|%T|%T|%T",
                &[
                    i(1),
                    s("a"),
                    f(1.0),
                    Value::Bool(true),
                    Value::Nil,
                    Value::list(vec![i(1)]),
                    Value::map(Map::new())
                ]
            ),
            "int|string|float64|bool|<nil>|[]interface {}|map[string]interface {}"
        );
        let sl = Value::string_list(vec![s("a"), s("b")]);
        let sl2 = Value::string_list(vec![s("1"), s("2")]);
        assert_eq!(
            sprintf("%s|%d|%x|%q", &[sl.clone(), sl2, sl.clone(), sl]),
            "[a b]|[%!d(string=1) %!d(string=2)]|[61 62]|[\"a\" \"b\"]"
        );
    }

    #[test]
    fn printf_floats() {
        assert_eq!(
            sprintf(
                "%#g|%#.3g|%#e|%#f|%#.0f|%#v|%#x",
                &[f(1.0), f(1.0), f(1.0), f(1.0), f(1.0), f(1.5), f(1.0)]
            ),
            "1.00000|1.00|1.000000e+00|1.000000|1.|1.5|0x1.0000p+00"
        );
        assert_eq!(
            sprintf(
                "%x|%X|%b|%e|%E|%.3e|%G|%.3g|%g|%g",
                &[
                    f(1.5),
                    f(1.5),
                    f(1.5),
                    f(123456.789),
                    f(123456.789),
                    f(123456.789),
                    f(1e-7),
                    f(1234.0),
                    f(1e21),
                    f(1e-5)
                ]
            ),
            "0x1.8p+00|0X1.8P+00|6755399441055744p-52|1.234568e+05|1.234568E+05|1.235e+05|1E-07|1.23e+03|1e+21|1e-05"
        );
    }

    #[test]
    fn printf_strings() {
        assert_eq!(
            sprintf(
                "%q|%+q|%#q|%x|% x|%# x|%X|%.1q|%.2s|%5.1s|",
                &[
                    s("héllo\n"),
                    s("héllo"),
                    s("he`l"),
                    s("hi"),
                    s("hi"),
                    s("hi"),
                    s("hi"),
                    s("héllo"),
                    s("héllo"),
                    s("héllo")
                ]
            ),
            "\"héllo\\n\"|\"h\\u00e9llo\"|\"he`l\"|6869|68 69|0x68 0x69|6869|\"h\"|hé|    h|"
        );
    }

    #[test]
    fn printf_more_oracle_cases() {
        assert_eq!(
            sprintf(
                "%.0f|%.0f|%.0f|%.1f|%.1f|%.2g|%e|%g|%v|%.3v|%8.3v|%x|%.2x|%08.2f|%-8.2f|%+08d|%x|%X",
                &[
                    f(0.5),
                    f(1.5),
                    f(2.5),
                    f(0.25),
                    f(0.35),
                    f(0.0),
                    f(0.0),
                    f(0.0),
                    f(1e-7),
                    f(3.14159),
                    f(3.14159),
                    f(-2.0),
                    f(1.0),
                    f(-1.5),
                    f(1.5),
                    i(-5),
                    f(-1.0),
                    i(255)
                ]
            ),
            "0|2|2|0.2|0.3|0|0.000000e+00|0|1e-07|3.14|    3.14|-0x1p+01|0x1.00p+00|-0001.50|1.50    |-0000005|-0x1p+00|FF"
        );
        assert_eq!(
            sprintf(
                "%5t|%-7v|%07v|%.1v|%q|%v|%c|%U",
                &[
                    Value::Bool(true),
                    Value::Bool(false),
                    i(12),
                    s("abc"),
                    i(0x1F600),
                    i(0x1F600),
                    i(0x1F600),
                    i(-1)
                ]
            ),
            " true|false  |0000012|a|'\u{1F600}'|128512|\u{1F600}|U+FFFFFFFFFFFFFFFF"
        );
        let mut m = Map::new();
        m.insert("k".into(), s("v"));
        assert_eq!(
            sprintf(
                "%s|%10.4v|%-10s|",
                &[
                    Value::list(vec![s("a"), i(1)]),
                    Value::list(vec![f(1.23456), s("abcdef")]),
                    Value::map(m)
                ]
            ),
            "[a %!s(int=1)]|[     1.235       abcd]|map[k         :v         ]|"
        );
        assert_eq!(
            sprintf(
                "%.3s|%.10s|%q|%x",
                &[s("éééé"), s("a"), s("\t\u{a0}\u{200b}\x7f"), s("")]
            ),
            "ééé|a|\"\\t\\u00a0\\u200b\\x7f\"|"
        );
        assert_eq!(
            sprintf("%d|%s", &[Value::Bool(true), f(3.5)]),
            "%!d(bool=true)|%!s(float64=3.5)"
        );
        assert_eq!(sprintf("%6.2%|%-5%|", &[]), "%|%|");
        assert_eq!(sprintf("%[1]d %d %d", &[i(1), i(2)]), "1 2 %!d(MISSING)");
        assert_eq!(sprintf("%[2]*[1]d|", &[i(12), i(5)]), "   12|");
        assert_eq!(sprintf("%[3]*.[2]*[1]f", &[f(12.0), i(2), i(6)]), " 12.00");
        assert_eq!(sprintf("%.[2]d", &[i(1)]), "%!d(BADINDEX)");
        assert_eq!(sprintf("%v %v", &[f(1e300), f(-1e-300)]), "1e+300 -1e-300");
        assert_eq!(
            sprintf("%.30f", &[f(0.1)]),
            "0.100000000000000005551115123126"
        );
        assert_eq!(sprintf("%.20e", &[f(1.0)]), "1.00000000000000000000e+00");
        assert_eq!(
            sprintf("%G %E", &[f(1e-10), f(1e-10)]),
            "1E-10 1.000000E-10"
        );
    }
}
