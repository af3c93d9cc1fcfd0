//! String functions: trimming, case, abbreviation, wrapping, quoting, splitting, joining,
//! plus the goutils (`abbrev`, `wrap`, `initials`, `swapcase`, `untitle`, `nospace`) and
//! xstrings (`snakecase`, `camelcase`, `kebabcase`, `shuffle`) helpers Sprig wraps.
//! Go indexes strings by byte; cuts inside a UTF-8 sequence become U+FFFD here.

use std::collections::BTreeMap;

use gotemplate::{FuncError, FuncMap, Param, Value};
use rand::seq::SliceRandom;

use crate::conv::{
    b, check_size, has_byte_strings, i, reg, regb, s, strslice, strslice_bytes, strval_bytes,
    vbytes, vstr, vstrings,
};

use Param::{Any, Int, String as Str};

/// `s[a:b]` on bytes, as text (abbreviation and wrapping work on runes).
pub(crate) fn bslice(s: &str, a: usize, b: usize) -> String {
    match s.get(a..b) {
        Some(x) => x.to_string(),
        None => String::from_utf8_lossy(&s.as_bytes()[a..b]).into_owned(),
    }
}

/// Go's `s[a:b]`: bytes, so a cut inside a character keeps the cut bytes.
fn vslice(s: &[u8], a: usize, b: usize) -> Value {
    vbytes(&s[a..b])
}

/// Go's `strings.Index(s, sub) >= 0` on bytes.
fn bytes_contains(s: &[u8], sub: &[u8]) -> bool {
    sub.is_empty() || s.windows(sub.len()).any(|w| w == sub)
}

/// Go's `strings.Replace(s, old, new, -1)` on bytes: an empty `old` inserts `new` around
/// every rune (an invalid byte is one rune, kept as it is).
fn go_replace_bytes(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    if old.is_empty() {
        out.extend_from_slice(new);
        for chunk in s.utf8_chunks() {
            for c in chunk.valid().chars() {
                out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
                out.extend_from_slice(new);
            }
            for &x in chunk.invalid() {
                out.push(x);
                out.extend_from_slice(new);
            }
        }
        return out;
    }
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

fn slice_panic(lo: i64, hi: i64, len: usize, which_hi: bool) -> FuncError {
    if which_hi {
        FuncError(format!(
            "runtime error: slice bounds out of range [:{hi}] with length {len}"
        ))
    } else if lo < 0 {
        FuncError(format!("runtime error: slice bounds out of range [{lo}:]"))
    } else {
        FuncError(format!(
            "runtime error: slice bounds out of range [{lo}:{hi}]"
        ))
    }
}

/// Go's `unicode.IsSpace`.
pub(crate) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

/// Go's `unicode.IsPunct` (exact for ASCII and Latin-1, common ranges beyond).
fn is_punct(c: char) -> bool {
    match c as u32 {
        0..=0x7f => "!\"#%&'()*,-./:;?@[\\]_{}".contains(c),
        0xa1 | 0xa7 | 0xab | 0xb6 | 0xb7 | 0xbb | 0xbf => true,
        0x2010..=0x2027 | 0x2030..=0x205e | 0x3001..=0x3003 | 0x3008..=0x3011 => true,
        _ => false,
    }
}

/// Go's `strings.Title` (deprecated but what Sprig calls).
fn title(s: &str) -> String {
    fn is_sep(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphabetic() || c.is_numeric() {
            return false;
        }
        is_space(c)
    }
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_sep(prev) {
            out.extend(to_title(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Go's `unicode.IsTitle`: the titlecase letters (Lt).
fn is_title(c: char) -> bool {
    matches!(c as u32, 0x1c5 | 0x1c8 | 0x1cb | 0x1f2 | 0x1f88..=0x1f8f | 0x1f98..=0x1f9f | 0x1fa8..=0x1faf | 0x1fbc | 0x1fcc | 0x1ffc)
}

/// Title case of the Latin digraphs, where it differs from upper case.
fn digraph_title(c: char) -> Option<char> {
    Some(match c as u32 {
        0x1c4..=0x1c6 => '\u{1c5}',
        0x1c7..=0x1c9 => '\u{1c8}',
        0x1ca..=0x1cc => '\u{1cb}',
        0x1f1..=0x1f3 => '\u{1f2}',
        _ => return None,
    })
}

fn to_title(c: char) -> impl Iterator<Item = char> {
    if let Some(t) = digraph_title(c) {
        return std::iter::once(t);
    }
    // Title case equals the simple upper case except for the digraphs.
    std::iter::once(to_upper1(c))
}

/// Go's `unicode.ToUpper` (simple case mapping): where Rust's full mapping needs several
/// characters, Go maps to one or leaves the rune unchanged.
fn to_upper1(c: char) -> char {
    let u = c as u32;
    let simple = match u {
        0x1f80..=0x1f87 | 0x1f90..=0x1f97 | 0x1fa0..=0x1fa7 => Some(u + 8),
        0x1fb3 => Some(0x1fbc),
        0x1fc3 => Some(0x1fcc),
        0x1ff3 => Some(0x1ffc),
        _ => None,
    };
    if let Some(x) = simple.and_then(char::from_u32) {
        return x;
    }
    let mut up = c.to_uppercase();
    let first = up.next().unwrap_or(c);
    if up.next().is_none() { first } else { c }
}

/// Go's `unicode.ToLower` (simple case mapping).
fn to_lower1(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut lo = c.to_lowercase();
    let first = lo.next().unwrap_or(c);
    if lo.next().is_none() { first } else { c }
}

/// goutils `Uncapitalize` with whitespace delimiters: lower-case each word's first letter.
fn untitle(s: &str) -> String {
    let mut next = true;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_space(c) {
            next = true;
            out.push(c);
        } else if next {
            out.push(to_lower1(c));
            next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// goutils `SwapCase`.
fn swapcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() || is_title(c) {
                to_lower1(c)
            } else if c.is_lowercase() {
                to_upper1(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils `Initials`: first byte of each whitespace-separated word (bytewise, as Go does).
fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for &b in s.as_bytes() {
        let c = b as char;
        if is_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// goutils `AbbreviateFull`.
fn abbreviate_full(s: &str, offset: i64, max: i64) -> String {
    if s.is_empty() {
        return String::new();
    }
    let len = s.len() as i64;
    if len <= max {
        return s.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    if offset <= 4 {
        return bslice(s, 0, (max - 3) as usize) + "...";
    }
    if offset + max - 3 < len {
        let rest = bslice(s, offset as usize, s.len());
        return "...".to_string() + &abbreviate_full(&rest, 0, max - 3);
    }
    "...".to_string() + &bslice(s, (len - (max - 3)) as usize, s.len())
}

fn abbrev(width: i64, s: &str) -> String {
    if width < 4 {
        return s.to_string();
    }
    abbreviate_full(s, 0, width)
}

fn abbrevboth(left: i64, right: i64, s: &str) -> String {
    if right < 4 || (left > 0 && right < 7) {
        return s.to_string();
    }
    abbreviate_full(s, left, right)
}

/// goutils `WrapCustom`.
pub(crate) fn wrap_custom(s: &str, width: i64, nl: &str, wrap_long: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut offset = 0usize;
    let mut out = String::new();
    while len - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len);
        let space = b[offset..end].iter().rposition(|&c| c == b' ');
        if let Some(sp) = space {
            let at = sp + offset;
            out.push_str(&bslice(s, offset, at));
            out.push_str(nl);
            offset = at + 1;
        } else if wrap_long {
            out.push_str(&bslice(s, offset, width + offset));
            out.push_str(nl);
            offset += width;
        } else {
            let end = width + offset;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.push_str(&bslice(s, offset, len));
                    offset = len;
                }
                Some(idx) => {
                    let at = idx + end;
                    out.push_str(&bslice(s, offset, at));
                    out.push_str(nl);
                    offset = at + 1;
                }
            }
        }
    }
    out.push_str(&bslice(s, offset, len));
    out
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

fn is_alphabet(c: char) -> bool {
    c.is_alphabetic()
        && !matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// xstrings `ToPascalCase` logic (Sprig's `camelcase`).
fn camelcase(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let mut idx = 0;
    let mut r0 = '\0';
    let mut first_upper = false;
    let mut found = false;
    while idx < chars.len() {
        r0 = chars[idx];
        idx += 1;
        if !is_connector(r0) {
            first_upper = r0.is_uppercase();
            r0 = to_upper1(r0);
            found = true;
            break;
        }
        out.push(r0);
    }
    if idx >= chars.len() {
        if found {
            out.push(r0);
        }
        return out;
    }
    while idx < chars.len() {
        let r1 = r0;
        r0 = chars[idx];
        idx += 1;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = r0.is_uppercase();
            r0 = to_upper1(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = to_lower1(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alpha,
    Connector,
    Punct,
    Other,
}

/// xstrings `nextWord` over a char slice: (type, word, rest).
fn next_word(s: &[char]) -> (Word, &[char], &[char]) {
    if s.is_empty() {
        return (Word::Invalid, s, s);
    }
    let r = s[0];
    let mut off = 1;
    let wt;
    let take_while = |mut off: usize, pred: &dyn Fn(char) -> bool| {
        while off < s.len() && pred(s[off]) {
            off += 1;
        }
        off
    };
    if is_connector(r) {
        wt = Word::Connector;
        off = take_while(off, &is_connector);
    } else if is_punct(r) {
        wt = Word::Punct;
        off = take_while(off, &is_punct);
    } else if r.is_uppercase() {
        wt = Word::Upper;
        if off < s.len() {
            let n = s[off];
            if n.is_uppercase() {
                let mut end = take_while(off, &|c: char| c.is_uppercase());
                if end < s.len() && is_alphabet(s[end]) {
                    end -= 1;
                }
                off = end;
            } else if is_alphabet(n) {
                off = take_while(off, &|c: char| is_alphabet(c) && !c.is_uppercase());
            }
        }
    } else if is_alphabet(r) {
        wt = Word::Alpha;
        off = take_while(off, &|c: char| is_alphabet(c) && !c.is_uppercase());
    } else if r.is_numeric() {
        wt = Word::Number;
        off = take_while(off, &|c: char| c.is_numeric());
    } else {
        wt = Word::Other;
        off = take_while(off, &|c: char| {
            !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c))
        });
    }
    (wt, &s[..off], &s[off..])
}

fn lower_word(out: &mut String, wt: Word, w: &[char], conn: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.extend(w.iter());
        return;
    }
    for &c in w {
        if is_connector(c) {
            out.push(conn);
        } else if c.is_uppercase() {
            out.push(to_lower1(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings `camelCaseToLowerCase` (snakecase/kebabcase).
fn to_lower_case(s: &str, conn: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let (mut wt, mut word, mut rem) = next_word(&chars);
    while !rem.is_empty() {
        if wt != Word::Connector {
            lower_word(&mut out, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word, rem) = next_word(rem);
        match prev {
            Word::Number => {
                while wt == Word::Alpha || wt == Word::Number {
                    lower_word(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Word::Invalid && wt != Word::Punct && wt != Word::Connector {
                    out.push(conn);
                }
            }
            Word::Connector => lower_word(&mut out, prev, last, conn),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                if rem.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, rem) = next_word(rem);
                if wt != Word::Alpha {
                    lower_word(&mut out, Word::Number, last, conn);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                out.push(conn);
                lower_word(&mut out, Word::Number, last, conn);
                while wt == Word::Alpha || wt == Word::Number {
                    lower_word(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Word::Invalid && wt != Word::Connector && wt != Word::Punct {
                    out.push(conn);
                }
            }
        }
    }
    lower_word(&mut out, wt, word, conn);
    out
}

fn split_map(parts: Vec<&str>) -> Value {
    let m: BTreeMap<String, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(n, p)| (format!("_{n}"), vstr(p)))
        .collect();
    Value::string_map(m)
}

/// Go's `strings.Split` (an empty separator splits into UTF-8 sequences).
fn go_split<'a>(s: &'a str, sep: &str, n: i64) -> Vec<&'a str> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let mut v: Vec<&str> = Vec::new();
        let idx: Vec<usize> = s.char_indices().map(|(p, _)| p).collect();
        let limit = if n < 0 {
            idx.len()
        } else {
            (n as usize).min(idx.len())
        };
        for k in 0..limit {
            let end = if k + 1 == limit { s.len() } else { idx[k + 1] };
            v.push(&s[idx[k]..end]);
        }
        return v;
    }
    if n < 0 {
        s.split(sep).collect()
    } else {
        s.splitn(n as usize, sep).collect()
    }
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "hello", &[], None, |_| Ok(vstr("Hello!")));
    reg(m, "abbrev", &[Int, Str], None, |a| {
        Ok(vstr(abbrev(i(&a[0]), s(&a[1]))))
    });
    reg(m, "abbrevboth", &[Int, Int, Str], None, |a| {
        Ok(vstr(abbrevboth(i(&a[0]), i(&a[1]), s(&a[2]))))
    });
    regb(m, "trunc", &[Int, Str], None, |a| {
        let (c, st) = (i(&a[0]), b(&a[1]));
        let len = st.len() as i64;
        Ok(if c < 0 && len + c > 0 {
            vslice(st, (len + c) as usize, st.len())
        } else if c >= 0 && len > c {
            vslice(st, 0, c as usize)
        } else {
            a[1].clone()
        })
    });
    regb(m, "trim", &[Str], None, |a| match &a[0] {
        Value::String(st) => Ok(vstr(st.trim_matches(is_space))),
        other => Ok(vbytes(trim_space_bytes(b(other)))),
    });
    reg(m, "upper", &[Str], None, |a| {
        Ok(vstr(s(&a[0]).chars().map(to_upper1).collect::<String>()))
    });
    reg(m, "lower", &[Str], None, |a| {
        Ok(vstr(s(&a[0]).chars().map(to_lower1).collect::<String>()))
    });
    reg(m, "title", &[Str], None, |a| Ok(vstr(title(s(&a[0])))));
    reg(m, "untitle", &[Str], None, |a| Ok(vstr(untitle(s(&a[0])))));
    regb(m, "substr", &[Int, Int, Str], None, |a| {
        let (start, end, st) = (i(&a[0]), i(&a[1]), b(&a[2]));
        let len = st.len() as i64;
        if start < 0 {
            if end < 0 || end > len {
                return Err(slice_panic(0, end, st.len(), true));
            }
            return Ok(vslice(st, 0, end as usize));
        }
        if end < 0 || end > len {
            if start > len {
                return Err(FuncError(format!(
                    "runtime error: slice bounds out of range [{start}:{len}]"
                )));
            }
            return Ok(vslice(st, start as usize, st.len()));
        }
        if start > end {
            return Err(slice_panic(start, end, st.len(), false));
        }
        Ok(vslice(st, start as usize, end as usize))
    });
    regb(m, "repeat", &[Int, Str], None, |a| {
        let n = i(&a[0]);
        match &a[1] {
            Value::String(st) => Ok(vstr(go_repeat(st, n)?)),
            other => Ok(vbytes(go_repeat_bytes(b(other), n)?)),
        }
    });
    let trim_all = |a: &[Value]| {
        let cut = s(&a[0]);
        Ok(vstr(s(&a[1]).trim_matches(|c| cut.contains(c))))
    };
    reg(m, "trimall", &[Str, Str], None, trim_all);
    reg(m, "trimAll", &[Str, Str], None, trim_all);
    regb(m, "trimSuffix", &[Str, Str], None, |a| {
        let (suf, st) = (b(&a[0]), b(&a[1]));
        Ok(vbytes(st.strip_suffix(suf).unwrap_or(st)))
    });
    regb(m, "trimPrefix", &[Str, Str], None, |a| {
        let (pre, st) = (b(&a[0]), b(&a[1]));
        Ok(vbytes(st.strip_prefix(pre).unwrap_or(st)))
    });
    reg(m, "nospace", &[Str], None, |a| {
        Ok(vstr(
            s(&a[0])
                .chars()
                .filter(|c| !is_space(*c))
                .collect::<String>(),
        ))
    });
    reg(m, "initials", &[Str], None, |a| {
        Ok(vstr(initials(s(&a[0]))))
    });
    reg(m, "swapcase", &[Str], None, |a| {
        Ok(vstr(swapcase(s(&a[0]))))
    });
    reg(m, "shuffle", &[Str], None, |a| {
        let mut v: Vec<char> = s(&a[0]).chars().collect();
        v.shuffle(&mut rand::rng());
        Ok(vstr(v.into_iter().collect::<String>()))
    });
    reg(m, "snakecase", &[Str], None, |a| {
        Ok(vstr(to_lower_case(s(&a[0]), '_')))
    });
    reg(m, "kebabcase", &[Str], None, |a| {
        Ok(vstr(to_lower_case(s(&a[0]), '-')))
    });
    reg(m, "camelcase", &[Str], None, |a| {
        Ok(vstr(camelcase(s(&a[0]))))
    });
    reg(m, "wrap", &[Int, Str], None, |a| {
        Ok(vstr(wrap_custom(s(&a[1]), i(&a[0]), "\n", false)))
    });
    reg(m, "wrapWith", &[Int, Str, Str], None, |a| {
        Ok(vstr(wrap_custom(s(&a[2]), i(&a[0]), s(&a[1]), true)))
    });
    regb(m, "contains", &[Str, Str], None, |a| {
        Ok(Value::Bool(bytes_contains(b(&a[1]), b(&a[0]))))
    });
    regb(m, "hasPrefix", &[Str, Str], None, |a| {
        Ok(Value::Bool(b(&a[1]).starts_with(b(&a[0]))))
    });
    regb(m, "hasSuffix", &[Str, Str], None, |a| {
        Ok(Value::Bool(b(&a[1]).ends_with(b(&a[0]))))
    });
    // `fmt.Sprintf("%q", strval(x))`: other bytes are escaped as `\xNN`.
    regb(m, "quote", &[], Some(Any), |a| {
        let v: Vec<String> = a
            .iter()
            .filter(|x| !x.is_nil())
            .map(|x| gotemplate::gofmt::quote_bytes(&strval_bytes(x)))
            .collect();
        Ok(vstr(v.join(" ")))
    });
    regb(m, "squote", &[], Some(Any), |a| {
        let mut out = Vec::new();
        for x in a.iter().filter(|x| !x.is_nil()) {
            if !out.is_empty() {
                out.push(b' ');
            }
            out.push(b'\'');
            out.extend_from_slice(&gotemplate::gofmt::sprint_bytes(x));
            out.push(b'\'');
        }
        Ok(vbytes(out))
    });
    regb(m, "cat", &[], Some(Any), |a| {
        // fmt.Sprintf("%v %v ...") of the non-nil values: always space-separated.
        let mut out = Vec::new();
        for x in a.iter().filter(|x| !x.is_nil()) {
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(&gotemplate::gofmt::sprint_bytes(x));
        }
        Ok(vbytes(out))
    });
    regb(m, "indent", &[Int, Str], None, |a| {
        indent(i(&a[0]), &a[1], false, "indent")
    });
    regb(m, "nindent", &[Int, Str], None, |a| {
        indent(i(&a[0]), &a[1], true, "nindent")
    });
    regb(m, "replace", &[Str, Str, Str], None, |a| {
        match (&a[2], &a[0], &a[1]) {
            (Value::String(st), Value::String(old), Value::String(new)) => {
                Ok(vstr(go_replace(st, old, new)))
            }
            (st, old, new) => Ok(vbytes(go_replace_bytes(b(st), b(old), b(new)))),
        }
    });
    reg(m, "plural", &[Str, Str, Int], None, |a| {
        Ok(if i(&a[2]) == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    // `[]byte` and strings keep their bytes (Go's `string(b)`).
    regb(m, "toString", &[Any], None, |a| {
        Ok(vbytes(strval_bytes(&a[0])))
    });
    reg(m, "split", &[Str, Str], None, |a| {
        Ok(split_map(go_split(s(&a[1]), s(&a[0]), -1)))
    });
    reg(m, "splitList", &[Str, Str], None, |a| {
        Ok(vstrings(
            go_split(s(&a[1]), s(&a[0]), -1)
                .into_iter()
                .map(String::from)
                .collect(),
        ))
    });
    reg(m, "splitn", &[Str, Int, Str], None, |a| {
        Ok(split_map(go_split(s(&a[2]), s(&a[0]), i(&a[1]))))
    });
    reg(m, "toStrings", &[Any], None, |a| {
        Ok(vstrings(strslice(&a[0])))
    });
    regb(m, "join", &[Str, Any], None, |a| {
        if let Value::String(sep) = &a[0]
            && !has_byte_strings(&a[1])
        {
            return Ok(vstr(strslice(&a[1]).join(sep.as_ref())));
        }
        // Some element (or the separator) is a string of other bytes: join the bytes.
        Ok(vbytes(strslice_bytes(&a[1]).join(b(&a[0]))))
    });
}

/// Go's `strings.TrimSpace` on bytes: Unicode spaces go from both ends; a byte that is not
/// part of valid UTF-8 is not a space and stops the trimming.
fn trim_space_bytes(st: &[u8]) -> &[u8] {
    let mut start = 0;
    while start < st.len() {
        match leading_char(&st[start..]) {
            Some(c) if is_space(c) => start += c.len_utf8(),
            _ => break,
        }
    }
    let mut end = st.len();
    while end > start {
        match trailing_char(&st[start..end]) {
            Some(c) if is_space(c) => end -= c.len_utf8(),
            _ => break,
        }
    }
    &st[start..end]
}

/// The character `st` starts with, if its first bytes are valid UTF-8.
fn leading_char(st: &[u8]) -> Option<char> {
    let n = st.len().min(4);
    (1..=n).find_map(|w| {
        std::str::from_utf8(&st[..w])
            .ok()
            .and_then(|t| t.chars().next())
    })
}

/// The character `st` ends with, if its last bytes are valid UTF-8.
fn trailing_char(st: &[u8]) -> Option<char> {
    let n = st.len().min(4);
    (1..=n).find_map(|w| {
        std::str::from_utf8(&st[st.len() - w..])
            .ok()
            .and_then(|t| t.chars().next_back())
    })
}

/// Sprig's `indent`/`nindent`: `pad + strings.Replace(v, "\n", "\n"+pad, -1)` on the
/// string's bytes.
fn indent(n: i64, v: &Value, newline: bool, what: &str) -> Result<Value, FuncError> {
    let pad = go_repeat(" ", n)?;
    let st = b(v);
    let lines = st.iter().filter(|&&c| c == b'\n').count() as u128 + 1;
    check_size(what, lines * pad.len() as u128)?;
    let mut out = Vec::with_capacity(st.len() + lines as usize * pad.len() + 1);
    if newline {
        out.push(b'\n');
    }
    out.extend_from_slice(pad.as_bytes());
    for &c in st {
        out.push(c);
        if c == b'\n' {
            out.extend_from_slice(pad.as_bytes());
        }
    }
    Ok(vbytes(out))
}

/// [`go_repeat`] on bytes.
fn go_repeat_bytes(st: &[u8], n: i64) -> Result<Vec<u8>, FuncError> {
    if n < 0 {
        return Err(FuncError("strings: negative Repeat count".into()));
    }
    if !st.is_empty() && st.len() as u128 * n as u128 > i64::MAX as u128 {
        return Err(FuncError("strings: Repeat output length overflow".into()));
    }
    check_size("repeat", st.len() as u128 * n as u128)?;
    Ok(st.repeat(n as usize))
}

/// Go's `strings.Repeat` with its panics as errors.
fn go_repeat(st: &str, n: i64) -> Result<String, FuncError> {
    if n < 0 {
        return Err(FuncError("strings: negative Repeat count".into()));
    }
    if !st.is_empty() && st.len() as u128 * n as u128 > i64::MAX as u128 {
        return Err(FuncError("strings: Repeat output length overflow".into()));
    }
    check_size("repeat", st.len() as u128 * n as u128)?;
    Ok(st.repeat(n as usize))
}

/// Go's `strings.Replace(s, old, new, -1)`: an empty `old` inserts `new` around every rune.
fn go_replace(s: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::from(new);
        for c in s.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    s.replace(old, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from real Helm (/work/shared/tools/helm-template), template:
    // `{{ list . (snakecase .) (kebabcase .) (camelcase .) (untitle .) (title .) (swapcase .)
    //    (initials .) (nospace .) | toJson }}` over each input below.
    const CASES: &[[&str; 9]] = &[
        [
            "FirstName",
            "first_name",
            "first-name",
            "FirstName",
            "firstName",
            "FirstName",
            "fIRSTnAME",
            "F",
            "FirstName",
        ],
        [
            "HTTPServer",
            "http_server",
            "http-server",
            "Httpserver",
            "hTTPServer",
            "HTTPServer",
            "httpsERVER",
            "H",
            "HTTPServer",
        ],
        [
            "NoHTTPS", "no_https", "no-https", "NoHTTPS", "noHTTPS", "NoHTTPS", "nOhttps", "N",
            "NoHTTPS",
        ],
        [
            "GO_PATH", "go_path", "go-path", "GoPath", "gO_PATH", "GO_PATH", "go_path", "G",
            "GO_PATH",
        ],
        [
            "GO PATH", "go_path", "go-path", "GoPath", "gO pATH", "GO PATH", "go path", "GP",
            "GOPATH",
        ],
        [
            "GO-PATH", "go_path", "go-path", "GoPath", "gO-PATH", "GO-PATH", "go-path", "G",
            "GO-PATH",
        ],
        [
            "http2xx", "http_2xx", "http-2xx", "Http2xx", "http2xx", "Http2xx", "HTTP2XX", "h",
            "http2xx",
        ],
        [
            "HTTP20xOK",
            "http_20x_ok",
            "http-20x-ok",
            "Http20xOK",
            "hTTP20xOK",
            "HTTP20xOK",
            "http20Xok",
            "H",
            "HTTP20xOK",
        ],
        [
            "Duration2m3s",
            "duration_2m3s",
            "duration-2m3s",
            "Duration2m3s",
            "duration2m3s",
            "Duration2m3s",
            "dURATION2M3S",
            "D",
            "Duration2m3s",
        ],
        [
            "Bld4Floor3rd",
            "bld4_floor_3rd",
            "bld4-floor-3rd",
            "Bld4Floor3rd",
            "bld4Floor3rd",
            "Bld4Floor3rd",
            "bLD4fLOOR3RD",
            "B",
            "Bld4Floor3rd",
        ],
        [
            "a__b", "a__b", "a--b", "A_B", "a__b", "A__b", "A__B", "a", "a__b",
        ],
        ["_a", "_a", "-a", "_A", "_a", "_a", "_A", "_", "_a"],
        ["ab_", "ab_", "ab-", "Ab_", "ab_", "Ab_", "AB_", "a", "ab_"],
        [
            "foo_bar", "foo_bar", "foo-bar", "FooBar", "foo_bar", "Foo_bar", "FOO_BAR", "f",
            "foo_bar",
        ],
        [
            "foo-bar baz",
            "foo_bar_baz",
            "foo-bar-baz",
            "FooBarBaz",
            "foo-bar baz",
            "Foo-Bar Baz",
            "FOO-BAR BAZ",
            "fb",
            "foo-barbaz",
        ],
        [
            "fooBar", "foo_bar", "foo-bar", "FooBar", "fooBar", "FooBar", "FOObAR", "f", "fooBar",
        ],
        [
            "  x  y ", "__x__y_", "--x--y-", "  X Y ", "  x  y ", "  X  Y ", "  X  Y ", "xy", "xy",
        ],
        [
            "aBC", "a_bc", "a-bc", "ABC", "aBC", "ABC", "Abc", "a", "aBC",
        ],
        [
            "Abc.Def", "abc.def", "abc.def", "Abc.Def", "abc.Def", "Abc.Def", "aBC.dEF", "A",
            "Abc.Def",
        ],
        [
            "a1b2", "a_1b2", "a-1b2", "A1b2", "a1b2", "A1b2", "A1B2", "a", "a1b2",
        ],
        ["ID", "id", "id", "Id", "iD", "ID", "id", "I", "ID"],
        [
            "myID", "my_id", "my-id", "MyID", "myID", "MyID", "MYid", "m", "myID",
        ],
        [
            "x__y__", "x__y__", "x--y--", "X_Y__", "x__y__", "X__y__", "X__Y__", "x", "x__y__",
        ],
        [
            "Hello World",
            "hello_world",
            "hello-world",
            "HelloWorld",
            "hello world",
            "Hello World",
            "hELLO wORLD",
            "HW",
            "HelloWorld",
        ],
        [
            "snake_Case",
            "snake_case",
            "snake-case",
            "SnakeCase",
            "snake_Case",
            "Snake_Case",
            "SNAKE_cASE",
            "s",
            "snake_Case",
        ],
        [
            "hello-world_foo bar",
            "hello_world_foo_bar",
            "hello-world-foo-bar",
            "HelloWorldFooBar",
            "hello-world_foo bar",
            "Hello-World_foo Bar",
            "HELLO-WORLD_FOO BAR",
            "hb",
            "hello-world_foobar",
        ],
        ["ABC", "abc", "abc", "Abc", "aBC", "ABC", "abc", "A", "ABC"],
        ["a", "a", "a", "A", "a", "A", "A", "a", "a"],
        ["ÀÉ", "àé", "àé", "Àé", "àÉ", "ÀÉ", "àé", "Ã", "ÀÉ"],
    ];

    #[test]
    fn case_functions_match_helm() {
        for c in CASES {
            let x = c[0];
            assert_eq!(to_lower_case(x, '_'), c[1], "snakecase {x}");
            assert_eq!(to_lower_case(x, '-'), c[2], "kebabcase {x}");
            assert_eq!(camelcase(x), c[3], "camelcase {x}");
            assert_eq!(untitle(x), c[4], "untitle {x}");
            assert_eq!(title(x), c[5], "title {x}");
            assert_eq!(swapcase(x), c[6], "swapcase {x}");
            assert_eq!(initials(x), c[7], "initials {x}");
            assert_eq!(nospace(x), c[8], "nospace {x}");
        }
    }

    fn nospace(x: &str) -> String {
        x.chars().filter(|c| !is_space(*c)).collect()
    }
}
