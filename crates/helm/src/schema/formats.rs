//! gojsonschema's `format` checkers (the ones Helm's schema validation runs), for the
//! formats where they differ from the `jsonschema` crate's: `date-time` also takes a bare
//! date or time, `time` needs no offset, URIs are whatever Go's `url.Parse` accepts,
//! `uuid`, `regex` (Go's RE2 syntax) and the JSON pointers; `idn-hostname` is not a
//! format gojsonschema knows, so anything passes.

/// Registers the checkers on validator options.
pub(super) fn register(o: jsonschema::ValidationOptions) -> jsonschema::ValidationOptions {
    o.with_format("date-time", |s: &str| {
        is_date(s) || is_time(s) || is_rfc3339(s)
    })
    .with_format("time", is_time)
    .with_format("uri", |s: &str| {
        !s.contains('\\') && go_url_parse(s).is_some_and(|scheme| !scheme.is_empty())
    })
    .with_format("iri", |s: &str| {
        !s.contains('\\') && go_url_parse(s).is_some_and(|scheme| !scheme.is_empty())
    })
    .with_format("uri-reference", |s: &str| {
        !s.contains('\\') && go_url_parse(s).is_some()
    })
    .with_format("iri-reference", |s: &str| {
        !s.contains('\\') && go_url_parse(s).is_some()
    })
    .with_format("uri-template", |s: &str| {
        !s.contains('\\') && go_url_parse(s).is_some() && braces_balanced(url_path(s))
    })
    .with_format("uuid", is_uuid)
    .with_format("regex", sprig::go_regexp_compiles)
    .with_format("json-pointer", is_json_pointer)
    .with_format("relative-json-pointer", is_relative_json_pointer)
    .with_format("idn-hostname", |_: &str| true)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| c.is_ascii_digit())
}

/// Go's `time.Parse("2006-01-02", s)`.
fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || !digits(p[0], 4) || !digits(p[1], 2) || !digits(p[2], 2) {
        return false;
    }
    let (y, m, d): (u32, u32, u32) = match (p[0].parse(), p[1].parse(), p[2].parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return false,
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// `15:04:05` with optional fractional seconds; returns the rest of the string.
fn clock(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, sec) = (&s[0..2], &s[3..5], &s[6..8]);
    if !digits(h, 2) || !digits(m, 2) || !digits(sec, 2) {
        return None;
    }
    if h.parse::<u32>().ok()? > 23 || m.parse::<u32>().ok()? > 59 || sec.parse::<u32>().ok()? > 59 {
        return None;
    }
    let mut rest = &s[8..];
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &f[n..];
    }
    Some(rest)
}

/// A `Z07:00` zone: `Z` or `±hh:mm`.
fn zone(s: &str) -> bool {
    if s == "Z" {
        return true;
    }
    let b = s.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[3] == b':'
        && digits(&s[1..3], 2)
        && digits(&s[4..6], 2)
        && s[1..3].parse::<u32>().is_ok_and(|h| h <= 23)
        && s[4..6].parse::<u32>().is_ok_and(|m| m <= 59)
}

/// gojsonschema's `time`: `15:04:05Z07:00` or `15:04:05`.
fn is_time(s: &str) -> bool {
    clock(s).is_some_and(|rest| rest.is_empty() || zone(rest))
}

/// `time.RFC3339` / `RFC3339Nano`.
fn is_rfc3339(s: &str) -> bool {
    s.len() > 11
        && s.is_char_boundary(10)
        && is_date(&s[..10])
        && s.as_bytes()[10] == b'T'
        && clock(&s[11..]).is_some_and(zone)
}

fn is_uuid(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    p.len() == 5
        && p.iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

fn pointer_tokens_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, &c)| c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')))
}

fn is_json_pointer(s: &str) -> bool {
    s.is_empty() || (s.starts_with('/') && pointer_tokens_ok(s))
}

fn is_relative_json_pointer(s: &str) -> bool {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (n > 1 && s.starts_with('0')) {
        return false;
    }
    let rest = &s[n..];
    rest == "#" || is_json_pointer(rest)
}

/// `^([^{]*({[^}]*})?)*$`: every `{` closed by a `}` before the next `{`.
fn braces_balanced(path: &str) -> bool {
    let mut open = false;
    for c in path.chars() {
        match c {
            '{' if open => return false,
            '{' => open = true,
            '}' if open => open = false,
            _ => {}
        }
    }
    !open
}

/// The path of a URL as Go's `url.Parse` splits it (opaque URLs have none).
fn url_path(s: &str) -> &str {
    let s = s.split('#').next().unwrap_or("");
    let (scheme, rest) = split_scheme(s).unwrap_or(("", s));
    let rest = rest.split('?').next().unwrap_or("");
    if !rest.starts_with('/') && !scheme.is_empty() {
        return "";
    }
    if let Some(a) = rest.strip_prefix("//") {
        return a.find('/').map_or("", |i| &a[i..]);
    }
    rest
}

/// Go's `getScheme`: `Err` for a leading `:` ("missing protocol scheme").
fn split_scheme(s: &str) -> Result<(&str, &str), ()> {
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(()),
            b':' => return Ok((&s[..i], &s[i + 1..])),
            _ => return Ok(("", s)),
        }
    }
    Ok(("", s))
}

/// `%XX` escapes are all well formed.
fn escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() {
                return false;
            }
            if !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Go's `url.Parse`: `Some(scheme)` if it accepts `s`.
fn go_url_parse(s: &str) -> Option<String> {
    if s.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return None;
    }
    let (u, frag) = s.split_once('#').unwrap_or((s, ""));
    if !escapes_ok(frag) {
        return None;
    }
    if u == "*" {
        return Some(String::new());
    }
    let (scheme, rest) = split_scheme(u).ok()?;
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split('?').next().unwrap_or("")
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            return Some(scheme.to_ascii_lowercase());
        }
        if rest.split('/').next().unwrap_or("").contains(':') {
            return None;
        }
    }
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let a = &rest[2..];
        let (authority, p) = a.find('/').map_or((a, ""), |i| (&a[..i], &a[i..]));
        path = p;
        let (user, host) = authority.rsplit_once('@').unwrap_or(("", authority));
        let user_ok = user
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
        if !user_ok || !host_ok(host) {
            return None;
        }
    }
    escapes_ok(path).then(|| scheme.to_ascii_lowercase())
}

/// Go's `parseHost`: a bracketed IPv6 literal or a name, each with an optional `:port`.
fn host_ok(host: &str) -> bool {
    let (name, port) = if let Some(h) = host.strip_prefix('[') {
        let Some(i) = h.find(']') else { return false };
        (&h[..i], &h[i + 1..])
    } else if let Some(i) = host.rfind(':') {
        (&host[..i], &host[i..])
    } else {
        (host, "")
    };
    if !port.is_empty() {
        let Some(p) = port.strip_prefix(':') else {
            return false;
        };
        if !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    escapes_ok(name)
        && name.bytes().all(|c| {
            c >= 0x80 || c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"%".contains(&c)
        })
}
