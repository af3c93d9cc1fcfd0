//! Path functions (`base`, `dir`, `clean`, `ext`, `isAbs` and their `os*` twins, which are
//! identical on Linux) with Go's `path` semantics, and the URL functions `urlParse` and
//! `urlJoin` with Go's `net/url` parsing and escaping.

use gotemplate::{FuncError, FuncMap, Map, MapRef, Param, Value};

use crate::conv::{reg, s, vstr};

use Param::{Map as PMap, String as Str};

/// Go's `path.Clean`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            x => parts.push(x),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn dir(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    clean(&p[..i])
}

fn ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Enc {
    Path,
    Host,
    UserPassword,
    Fragment,
}

fn should_escape(c: u8, mode: Enc) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Enc::Host && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Enc::Path => c == b'?',
                Enc::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Enc::Fragment => false,
                Enc::Host => true,
            };
        }
        _ => {}
    }
    if mode == Enc::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn escape(s: &str, mode: Enc) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if should_escape(b, mode) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Go's `strconv.Quote` of bytes that may end inside a UTF-8 sequence.
fn quote_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => gotemplate::gofmt::quote(s),
        Err(e) => {
            let (good, bad) = b.split_at(e.valid_up_to());
            let q = gotemplate::gofmt::quote(std::str::from_utf8(good).unwrap_or_default());
            let mut out = q[..q.len() - 1].to_string();
            for x in bad {
                out.push_str(&format!("\\x{x:02x}"));
            }
            out.push('"');
            out
        }
    }
}

/// Go's `url.unescape` (no `+` handling: path/host/userinfo/fragment modes).
fn unescape(s: &str, host: bool) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                let end = (i + 3).min(b.len());
                return Err(format!("invalid URL escape {}", quote_bytes(&b[i..end])));
            }
            let v = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("two hex digits");
            if host
                && v < 0x80
                && v != b' '
                && should_escape(v, Enc::Host)
                && s[..i].starts_with('[')
            {
                return Err(format!(
                    "invalid URL escape {}",
                    gotemplate::gofmt::quote(&s[i..i + 3])
                ));
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<(String, Option<String>)>,
    host: String,
    path: String,
    raw_query: String,
    fragment: String,
    force_query: bool,
    omit_host: bool,
}

fn get_scheme(raw: &str) -> Result<(String, &str), String> {
    for (i, c) in raw.char_indices() {
        if c.is_ascii_alphabetic() {
            continue;
        }
        if c.is_ascii_digit() || c == '+' || c == '-' || c == '.' {
            if i == 0 {
                return Ok((String::new(), raw));
            }
            continue;
        }
        if c == ':' {
            if i == 0 {
                return Err("missing protocol scheme".into());
            }
            return Ok((raw[..i].to_string(), &raw[i + 1..]));
        }
        return Ok((String::new(), raw));
    }
    Ok((String::new(), raw))
}

type UserInfo = (String, Option<String>);

fn parse_authority(auth: &str) -> Result<(Option<UserInfo>, String), String> {
    let (user, host) = match auth.rfind('@') {
        Some(i) => (Some(&auth[..i]), &auth[i + 1..]),
        None => (None, auth),
    };
    let host = if host.starts_with('[') {
        match host.find(']') {
            Some(_) => unescape(host, true)?,
            None => return Err("missing ']' in host".into()),
        }
    } else {
        if let Some(i) = host.rfind(':') {
            let port = &host[i + 1..];
            if !port.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "invalid port {} after host",
                    gotemplate::gofmt::quote(&host[i..])
                ));
            }
        }
        unescape(host, true)?
    };
    let user = match user {
        None => None,
        Some(u) => {
            let valid = u
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
            if !valid {
                return Err("net/url: invalid userinfo".into());
            }
            Some(match u.split_once(':') {
                Some((n, p)) => (unescape(n, false)?, Some(unescape(p, false)?)),
                None => (unescape(u, false)?, None),
            })
        }
    };
    Ok((user, host))
}

/// Go's `url.Parse`.
fn parse_url(raw: &str) -> Result<Url, String> {
    let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let mut url =
        parse_no_frag(u).map_err(|e| format!("parse {}: {e}", gotemplate::gofmt::quote(u)))?;
    if !frag.is_empty() {
        url.fragment = unescape(frag, false)
            .map_err(|e| format!("parse {}: {e}", gotemplate::gofmt::quote(raw)))?;
    }
    Ok(url)
}

fn parse_no_frag(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = Url::default();
    if raw == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        url.raw_query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut path = rest;
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let auth_rest = &rest[2..];
        let (auth, p) = match auth_rest.find('/') {
            Some(i) => (&auth_rest[..i], &auth_rest[i..]),
            None => (auth_rest, ""),
        };
        let (user, host) = parse_authority(auth)?;
        url.user = user;
        url.host = host;
        path = p;
    } else if !url.scheme.is_empty() && rest.starts_with('/') {
        url.omit_host = true;
    }
    url.path = unescape(path, false)?;
    Ok(url)
}

fn hostname(host: &str) -> String {
    if let Some(h) = host.strip_prefix('[') {
        return h.split(']').next().unwrap_or("").to_string();
    }
    match host.rfind(':') {
        Some(i) => host[..i].to_string(),
        None => host.to_string(),
    }
}

fn user_string(u: &(String, Option<String>)) -> String {
    let mut s = escape(&u.0, Enc::UserPassword);
    if let Some(p) = &u.1 {
        s.push(':');
        s.push_str(&escape(p, Enc::UserPassword));
    }
    s
}

/// Go's `(*url.URL).String`.
fn url_string(u: &Url) -> String {
    let mut buf = String::new();
    if !u.scheme.is_empty() {
        buf.push_str(&u.scheme);
        buf.push(':');
    }
    if !u.opaque.is_empty() {
        buf.push_str(&u.opaque);
    } else {
        let has_authority = !u.scheme.is_empty() || !u.host.is_empty() || u.user.is_some();
        let omit = u.omit_host && u.host.is_empty() && u.user.is_none();
        if has_authority && !omit {
            if !u.host.is_empty() || !u.path.is_empty() || u.user.is_some() {
                buf.push_str("//");
            }
            if let Some(user) = &u.user {
                buf.push_str(&user_string(user));
                buf.push('@');
            }
            if !u.host.is_empty() {
                buf.push_str(&escape(&u.host, Enc::Host));
            }
        }
        let path = if u.path == "*" {
            "*".to_string()
        } else {
            escape(&u.path, Enc::Path)
        };
        if !path.is_empty() && !path.starts_with('/') && !u.host.is_empty() {
            buf.push('/');
        }
        if buf.is_empty() && path.split('/').next().is_some_and(|seg| seg.contains(':')) {
            buf.push_str("./");
        }
        buf.push_str(&path);
    }
    if u.force_query || !u.raw_query.is_empty() {
        buf.push('?');
        buf.push_str(&u.raw_query);
    }
    if !u.fragment.is_empty() {
        buf.push('#');
        buf.push_str(&escape(&u.fragment, Enc::Fragment));
    }
    buf
}

fn url_parse(v: &str) -> Result<Value, FuncError> {
    let u = parse_url(v).map_err(|e| FuncError(format!("unable to parse url: {e}")))?;
    let mut d = Map::new();
    d.insert("scheme".into(), vstr(u.scheme.as_str()));
    d.insert("host".into(), vstr(u.host.as_str()));
    d.insert("hostname".into(), vstr(hostname(&u.host)));
    d.insert("path".into(), vstr(u.path.as_str()));
    d.insert("query".into(), vstr(u.raw_query.as_str()));
    d.insert("opaque".into(), vstr(u.opaque.as_str()));
    d.insert("fragment".into(), vstr(u.fragment.as_str()));
    d.insert(
        "userinfo".into(),
        vstr(u.user.as_ref().map(user_string).unwrap_or_default()),
    );
    Ok(Value::map(d))
}

fn url_join(d: &Map) -> Result<Value, FuncError> {
    let get = |k: &str| -> Result<String, FuncError> {
        match d.get(k) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            Some(other) => Err(FuncError(format!(
                "interface conversion: interface {{}} is {}, not string",
                if other.is_nil() {
                    "nil".to_string()
                } else {
                    other.type_name()
                }
            ))),
        }
    };
    let mut u = Url {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        raw_query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        ..Url::default()
    };
    let userinfo = get("userinfo")?;
    if !userinfo.is_empty() {
        let t = parse_url(&format!("proto://{userinfo}@host"))
            .map_err(|e| FuncError(format!("unable to parse userinfo in dict: {e}")))?;
        u.user = t.user;
    }
    Ok(vstr(url_string(&u)))
}

pub(crate) fn register(m: &mut FuncMap) {
    for (prefix, cap) in [("", false), ("os", true)] {
        let name = |n: &str| {
            if cap {
                format!("{prefix}{}{}", n[..1].to_uppercase(), &n[1..])
            } else {
                n.to_string()
            }
        };
        reg(m, &name("base"), &[Str], None, |a| Ok(vstr(base(s(&a[0])))));
        reg(m, &name("dir"), &[Str], None, |a| Ok(vstr(dir(s(&a[0])))));
        reg(m, &name("clean"), &[Str], None, |a| {
            Ok(vstr(clean(s(&a[0]))))
        });
        reg(m, &name("ext"), &[Str], None, |a| Ok(vstr(ext(s(&a[0])))));
        reg(m, &name("isAbs"), &[Str], None, |a| {
            Ok(Value::Bool(s(&a[0]).starts_with('/')))
        });
    }
    reg(m, "urlParse", &[Str], None, |a| url_parse(s(&a[0])));
    reg(m, "urlJoin", &[PMap], None, |a| {
        url_join(&a[0].as_map().map(MapRef::snapshot).unwrap_or_default())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // helm-template: `{{ list (base "/a/b/") (dir "a/b") (dir "/") (clean "a/../../b/./c//")
    //   (ext "a.b/c.tar.gz") (ext "a.b/c") (base "") (dir "") (clean "/../x") | toJson }}`
    // → ["b","a","/","../b/c",".gz","",".",".","/x"]
    #[test]
    fn paths_match_go() {
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(dir("a/b"), "a");
        assert_eq!(dir("/"), "/");
        assert_eq!(clean("a/../../b/./c//"), "../b/c");
        assert_eq!(ext("a.b/c.tar.gz"), ".gz");
        assert_eq!(ext("a.b/c"), "");
        assert_eq!(base(""), ".");
        assert_eq!(dir(""), ".");
        assert_eq!(clean("/../x"), "/x");
    }

    // helm-template: `{{ urlParse "https://u:p%40@Example.com:8080/a%20b/c?x=1&y=%20#fr%20ag" | toJson }}`
    // → {"fragment":"fr ag","host":"Example.com:8080","hostname":"Example.com","opaque":"",
    //    "path":"/a b/c","query":"x=1\u0026y=%20","scheme":"https","userinfo":"u:p%40"}
    // and urlJoin of that dict → https://u:p%40@Example.com:8080/a%20b/c?x=1&y=%20#fr%20ag
    #[test]
    fn urls_match_go() {
        let raw = "https://u:p%40@Example.com:8080/a%20b/c?x=1&y=%20#fr%20ag";
        let v = url_parse(raw).unwrap();
        let j = crate::json::marshal(&v, crate::json::MARSHAL).unwrap();
        assert_eq!(
            j,
            r#"{"fragment":"fr ag","host":"Example.com:8080","hostname":"Example.com","opaque":"","path":"/a b/c","query":"x=1\u0026y=%20","scheme":"https","userinfo":"u:p%40"}"#
        );
        let joined = url_join(&v.as_map().unwrap().snapshot()).unwrap();
        assert_eq!(joined.as_str().unwrap(), raw);
    }
}
