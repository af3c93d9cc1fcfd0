//! Regular expressions with Go `regexp` (RE2) semantics on top of the `regex` crate:
//! Perl classes (`\d \w \s \b`) are ASCII as in Go, `FindAll`/`ReplaceAll`/`Split` skip
//! an empty match right after a previous match as Go does, `$1`/`${name}` expansion,
//! and Go's `QuoteMeta`. Error texts follow Go's `error parsing regexp: ...` form.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use gotemplate::{FuncError, FuncMap, Param, Value};
use regex::Regex;

use crate::conv::{i, reg, s, vstr, vstrings_or_nil};

use Param::{Int, String as Str};

/// Rewrites a Go pattern into the `regex` crate's dialect with the same meaning.
fn translate(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len() + 16);
    let mut chars = pat.chars().peekable();
    let mut in_class = false;
    // Inside a class, a `-` right after a class escape (`[\w-.]`) is a literal in Go; the
    // expansion (`0-9A-Za-z_`) would otherwise turn it into a range in the `regex` crate.
    let mut after_class_escape = false;
    while let Some(c) = chars.next() {
        let after_escape = std::mem::take(&mut after_class_escape);
        if c == '\\' {
            let Some(n) = chars.next() else {
                out.push('\\');
                break;
            };
            let rep = match (n, in_class) {
                ('d', false) => "[0-9]",
                ('D', false) => "[^0-9]",
                ('w', false) => "[0-9A-Za-z_]",
                ('W', false) => "[^0-9A-Za-z_]",
                ('s', false) => r"[\t\n\x0C\r ]",
                ('S', false) => r"[^\t\n\x0C\r ]",
                ('b', false) => r"(?-u:\b)",
                ('B', false) => r"(?-u:\B)",
                ('d', true) => "0-9",
                ('D', true) => "[^0-9]",
                ('w', true) => "0-9A-Za-z_",
                ('W', true) => "[^0-9A-Za-z_]",
                ('s', true) => r"\t\n\x0C\r ",
                ('S', true) => r"[^\t\n\x0C\r ]",
                _ => "",
            };
            if rep.is_empty() {
                out.push('\\');
                out.push(n);
            } else {
                out.push_str(rep);
                after_class_escape = in_class;
            }
            continue;
        }
        if in_class {
            // Rust treats `[` inside a class as a nested class and `&&`, `--`, `~~` as set
            // operators; Go treats them literally.
            match c {
                ']' => in_class = false,
                '[' if chars.peek() == Some(&':') => {
                    // POSIX class [:alpha:] — copy through to the closing ":]".
                    out.push('[');
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == ']' {
                            break;
                        }
                    }
                    continue;
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                }
                '-' if after_escape => out.push('\\'),
                // Go reads `a--b` as the range a..'-' then 'b': escape the second dash.
                '-' if out.ends_with('-') && !out.ends_with("\\-") => out.push('\\'),
                _ => {}
            }
            out.push(c);
            continue;
        }
        if c == '{' {
            // Go reads a brace that does not start `{n}`, `{n,}` or `{n,m}` as a literal.
            let rest: String = chars.clone().collect();
            if !is_repeat(&rest) {
                out.push_str("\\{");
                continue;
            }
        }
        if c == '[' {
            in_class = true;
            out.push(c);
            if chars.peek() == Some(&'^') {
                out.push('^');
                chars.next();
            }
            if chars.peek() == Some(&']') {
                out.push_str("\\]");
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Compiled patterns, shared across renders: charts call `regexReplaceAll` with the same
/// few patterns in loops, and compiling dominates the call otherwise.
static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const CACHE_LIMIT: usize = 512;

/// True if `rest` (the text after a `{`) continues a counted repetition `n}`, `n,}` or `n,m}`.
fn is_repeat(rest: &str) -> bool {
    let b = rest.as_bytes();
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(0);
    if n == 0 {
        return false;
    }
    let mut i = n;
    if b.get(i) == Some(&b',') {
        i += 1;
        i += digits(i);
    }
    b.get(i) == Some(&b'}')
}

/// `regexp.Compile` with Go's error text.
pub(crate) fn compile(pat: &str) -> Result<Regex, FuncError> {
    if let Some(re) = CACHE.lock().ok().and_then(|c| c.get(pat).cloned()) {
        return Ok(re);
    }
    let re = Regex::new(&translate(pat)).map_err(|e| FuncError(go_error(pat, &e.to_string())))?;
    if let Ok(mut c) = CACHE.lock() {
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(pat.to_string(), re.clone());
    }
    Ok(re)
}

fn go_error(pat: &str, rust: &str) -> String {
    let code = if rust.contains("unclosed group") {
        format!("missing closing ): `{pat}`")
    } else if rust.contains("unopened group") {
        format!("unexpected ): `{pat}`")
    } else if rust.contains("unclosed character class") {
        let from = pat.rfind('[').unwrap_or(0);
        format!("missing closing ]: `{}`", &pat[from..])
    } else if rust.contains("repetition operator missing expression") {
        let op = pat.chars().find(|c| "*+?{".contains(*c)).unwrap_or('*');
        format!("missing argument to repetition operator: `{op}`")
    } else if rust.contains("unrecognized escape") || rust.contains("incomplete escape") {
        let at = pat.find('\\').unwrap_or(0);
        let end = pat[at..]
            .char_indices()
            .nth(2)
            .map(|(p, _)| at + p)
            .unwrap_or(pat.len());
        format!("invalid escape sequence: `{}`", &pat[at..end])
    } else if rust.contains("invalid character class range") || rust.contains("invalid range") {
        format!("invalid character class range: `{pat}`")
    } else {
        format!("invalid or unsupported Perl syntax: `{pat}`")
    };
    format!("error parsing regexp: {code}")
}

/// Go's `FindAllStringIndex(s, n)`.
pub(crate) fn find_all(re: &Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let n = if n < 0 { usize::MAX } else { n as usize };
    let mut pos = 0usize;
    let mut prev_end: Option<usize> = None;
    while out.len() < n && pos <= s.len() {
        let Some(m) = re.find_at(s, pos) else { break };
        let mut accept = true;
        if m.end() == pos {
            if Some(m.start()) == prev_end {
                accept = false;
            }
            pos += s[pos..].chars().next().map_or(1, char::len_utf8);
        } else {
            pos = m.end();
        }
        prev_end = Some(m.end());
        if accept {
            out.push((m.start(), m.end()));
        }
    }
    out
}

/// Go's `ReplaceAllString` (`literal` = `ReplaceAllLiteralString`).
pub(crate) fn replace_all(re: &Regex, src: &str, repl: &str, literal: bool) -> String {
    let mut buf = String::new();
    let mut last_end = 0usize;
    let mut pos = 0usize;
    while pos <= src.len() {
        let Some(caps) = re.captures_at(src, pos) else {
            break;
        };
        let m = caps.get(0).expect("group 0 always participates");
        buf.push_str(&src[last_end..m.start()]);
        if m.end() > last_end || m.start() == 0 {
            if literal {
                buf.push_str(repl);
            } else {
                caps.expand(repl, &mut buf);
            }
        }
        last_end = m.end();
        let width = src[pos..].chars().next().map_or(1, char::len_utf8);
        if pos + width > m.end() {
            pos += width;
        } else if pos + 1 > m.end() {
            pos += 1;
        } else {
            pos = m.end();
        }
    }
    buf.push_str(&src[last_end.min(src.len())..]);
    buf
}

/// Go's `Regexp.Split(s, n)`.
fn split(re: &Regex, pat: &str, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !pat.is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let matches = find_all(re, s, n);
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, b) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = b;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn register(m: &mut FuncMap) {
    // The non-must forms call regexp.MustCompile, whose panic text text/template reports:
    // "regexp: Compile(`PAT`): error parsing regexp: ...".
    let must_compile = |p: &str| {
        compile(p).map_err(|e| FuncError(format!("regexp: Compile({}): {}", go_backquote(p), e.0)))
    };
    // regexMatch uses regexp.MatchString and drops the error: a bad pattern is `false`.
    reg(m, "regexMatch", &[Str, Str], None, |a| {
        Ok(Value::Bool(
            compile(s(&a[0])).is_ok_and(|re| re.is_match(s(&a[1]))),
        ))
    });
    reg(m, "mustRegexMatch", &[Str, Str], None, |a| {
        Ok(Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))))
    });
    reg(m, "regexFindAll", &[Str, Str, Int], None, move |a| {
        let re = must_compile(s(&a[0]))?;
        let st = s(&a[1]);
        Ok(vstrings_or_nil(
            find_all(&re, st, i(&a[2]))
                .into_iter()
                .map(|(x, y)| st[x..y].to_string())
                .collect(),
        ))
    });
    reg(m, "mustRegexFindAll", &[Str, Str, Int], None, |a| {
        let re = compile(s(&a[0]))?;
        let st = s(&a[1]);
        Ok(vstrings_or_nil(
            find_all(&re, st, i(&a[2]))
                .into_iter()
                .map(|(x, y)| st[x..y].to_string())
                .collect(),
        ))
    });
    reg(m, "regexFind", &[Str, Str], None, move |a| {
        let re = must_compile(s(&a[0]))?;
        Ok(vstr(re.find(s(&a[1])).map_or("", |x| x.as_str())))
    });
    reg(m, "mustRegexFind", &[Str, Str], None, |a| {
        let re = compile(s(&a[0]))?;
        Ok(vstr(re.find(s(&a[1])).map_or("", |x| x.as_str())))
    });
    reg(m, "regexReplaceAll", &[Str, Str, Str], None, move |a| {
        Ok(vstr(replace_all(
            &must_compile(s(&a[0]))?,
            s(&a[1]),
            s(&a[2]),
            false,
        )))
    });
    reg(m, "mustRegexReplaceAll", &[Str, Str, Str], None, |a| {
        Ok(vstr(replace_all(
            &compile(s(&a[0]))?,
            s(&a[1]),
            s(&a[2]),
            false,
        )))
    });
    reg(
        m,
        "regexReplaceAllLiteral",
        &[Str, Str, Str],
        None,
        move |a| {
            Ok(vstr(replace_all(
                &must_compile(s(&a[0]))?,
                s(&a[1]),
                s(&a[2]),
                true,
            )))
        },
    );
    reg(
        m,
        "mustRegexReplaceAllLiteral",
        &[Str, Str, Str],
        None,
        |a| {
            Ok(vstr(replace_all(
                &compile(s(&a[0]))?,
                s(&a[1]),
                s(&a[2]),
                true,
            )))
        },
    );
    reg(m, "regexSplit", &[Str, Str, Int], None, move |a| {
        let re = must_compile(s(&a[0]))?;
        Ok(vstrings_or_nil(split(&re, s(&a[0]), s(&a[1]), i(&a[2]))))
    });
    reg(m, "mustRegexSplit", &[Str, Str, Int], None, |a| {
        let re = compile(s(&a[0]))?;
        Ok(vstrings_or_nil(split(&re, s(&a[0]), s(&a[1]), i(&a[2]))))
    });
    reg(m, "regexQuoteMeta", &[Str], None, |a| {
        Ok(vstr(quote_meta(s(&a[0]))))
    });
}

/// Go's `%q`-free backquoting used in MustCompile's panic: `regexp: Compile(` + quote + `)`.
fn go_backquote(p: &str) -> String {
    // regexp.MustCompile uses quote(s): strconv.CanBackquote ? "`"+s+"`" : strconv.Quote(s)
    if p.chars()
        .all(|c| c != '`' && c != '\u{feff}' && (c == '\t' || !c.is_control()))
    {
        format!("`{p}`")
    } else {
        gotemplate::gofmt::quote(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(pat: &str, s: &str, n: i64) -> Vec<String> {
        let re = compile(pat).unwrap();
        find_all(&re, s, n)
            .into_iter()
            .map(|(a, b)| s[a..b].to_string())
            .collect()
    }

    // Expected values from helm-template (argo-cd's redis-ha uses this pattern):
    // a: {{ regexMatch "^[\\w-\\.]+$" "my-master.x" }} → true
    // b: {{ regexMatch "^[\\w-\\.]+$" "my master" }} → false
    // c: {{ regexFind "[\\d-x]+" "ab12-x3" | quote }} → "12-x3"
    #[test]
    fn dash_after_class_escape_is_literal() {
        let re = compile(r"^[\w-\.]+$").unwrap();
        assert!(re.is_match("my-master.x"));
        assert!(!re.is_match("my master"));
        assert_eq!(all(r"[\d-x]+", "ab12-x3", -1), vec!["12-x3"]);
    }

    // Expected values from helm-template:
    // {{ regexFindAll "a*" "baaab" -1 | toJson }} → ["","aaa",""]
    // {{ regexFindAll "\\d+" "a1٣2b34" -1 | toJson }} → ["1","2","34"]
    // {{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} → -W-xxW-
    // {{ regexReplaceAll "a*" "baaab" "X" }} → XbXbX
    // {{ regexSplit "a*" "baaab" -1 | toJson }} → ["b","b"]
    // {{ regexSplit "," "a,b,c" 2 | toJson }} → ["a","b,c"]
    // {{ regexQuoteMeta "a.b-c#[x]" }} → a\.b-c#\[x\]
    #[test]
    fn go_semantics() {
        assert_eq!(all("a*", "baaab", -1), vec!["", "aaa", ""]);
        assert_eq!(all(r"\d+", "a1٣2b34", -1), vec!["1", "2", "34"]);
        let re = compile("a(x*)b").unwrap();
        assert_eq!(replace_all(&re, "-ab-axxb-", "${1}W", false), "-W-xxW-");
        let re = compile("a*").unwrap();
        assert_eq!(replace_all(&re, "baaab", "X", false), "XbXbX");
        assert_eq!(split(&re, "a*", "baaab", -1), vec!["b", "b"]);
        let re = compile(",").unwrap();
        assert_eq!(split(&re, ",", "a,b,c", 2), vec!["a", "b,c"]);
        assert_eq!(quote_meta("a.b-c#[x]"), r"a\.b-c#\[x\]");
    }
}
