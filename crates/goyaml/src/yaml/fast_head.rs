//! A line scanner that vouches for the plain Kubernetes-style YAML almost every rendered
//! manifest is, so reading a manifest's head does not run the full parser over megabytes of
//! CRD schema.
//!
//! [`head_text`] accepts only a conservative subset of block YAML — a root mapping; block
//! mappings and sequences (`- key: value` included); single-line plain, quoted and flow
//! scalars of simple forms; multi-line plain scalars; literal and folded block scalars;
//! comments — in which every document is valid for libyaml and converts to JSON without
//! error. For such a document it returns the text of just the root entries the caller keeps,
//! which the full parser then reads. Anything outside the subset (tabs, anchors, aliases, tags,
//! merge keys, null keys, complex flow collections, multi-line quoted scalars, directives,
//! `.inf`/`.nan`, odd indentation...) returns `None` and the caller parses the whole document:
//! declining is always safe, accepting must never be wrong. Pure; calls nothing else.

/// The root entries of `doc` whose keys are in `keep`, concatenated, when the whole document
/// is inside the subset; `None` otherwise.
pub(super) fn head_text(doc: &str, keep: &[&str]) -> Option<String> {
    if doc.starts_with('\u{feff}') || memchr::memchr2(b'\t', b'\r', doc.as_bytes()).is_some() {
        return None;
    }
    if super::goyaml::control_char_line(doc).is_some() {
        return None;
    }
    let mut scan = Scanner::default();
    let mut offset = 0;
    for line in doc.split('\n') {
        scan.line(line, offset)?;
        offset += line.len() + 1;
    }
    scan.finish()?;
    let mut out = String::new();
    for (i, (key, start)) in scan.roots.iter().enumerate() {
        if keep.contains(&key.as_str()) {
            let end = scan.roots.get(i + 1).map_or(doc.len(), |r| r.1);
            out.push_str(&doc[*start..end]);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    Some(out)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Map,
    Seq,
}

/// What the next content line may or must be, given the previous one.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    /// Anything at an indentation the open collections allow.
    Normal,
    /// After `key:` with nothing after it (key at `indent`): a node indented further, a
    /// sequence at the key's own indentation, or else the value is null.
    KeyValue { indent: usize },
    /// After a `-` with nothing after it: a node indented further, or else null.
    ItemValue { indent: usize },
    /// After a plain scalar whose owner sits at `indent`: deeper lines continue it.
    Plain { indent: usize },
    /// Inside a block scalar introduced at `indent`; `content` once the first line fixed it.
    Block {
        indent: usize,
        content: Option<usize>,
    },
    /// After a value that must end where it ends (quoted, flow): nothing deeper may follow.
    Closed { indent: usize },
    /// Inside a quoted scalar (`quote`) that continues on deeper lines than `indent`.
    Quoted { quote: u8, indent: usize },
}

#[derive(Default)]
struct Scanner {
    /// Open collections, outermost first: (indentation, kind).
    open: Vec<(usize, Kind)>,
    expect: Option<Expect>,
    /// Root keys with the byte offset of their line.
    roots: Vec<(String, usize)>,
}

impl Scanner {
    fn line(&mut self, line: &str, offset: usize) -> Option<()> {
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let expect = self.expect.unwrap_or(Expect::Normal);
        if let Expect::Block {
            indent: owner,
            content: fixed,
        } = expect
        {
            if content.trim_end_matches(' ').is_empty() {
                // Blank lines belong to the scalar; spaces on them must not exceed the
                // content's indentation once that is known (and before, must be none).
                return match fixed {
                    Some(c) if indent <= c => Some(()),
                    None if content.is_empty() && indent == 0 => Some(()),
                    _ => None,
                };
            }
            if indent > owner {
                return match fixed {
                    None => {
                        self.expect = Some(Expect::Block {
                            indent: owner,
                            content: Some(indent),
                        });
                        Some(())
                    }
                    Some(c) if indent >= c => Some(()),
                    Some(_) => None,
                };
            }
            // The scalar ended; the line is read normally.
            self.expect = Some(Expect::Normal);
        }
        let blank = content.trim_end_matches(' ').is_empty();
        if let Some(Expect::Quoted {
            quote,
            indent: owner,
        }) = self.expect
        {
            if blank {
                return Some(());
            }
            if indent <= owner {
                return None;
            }
            self.expect = Some(match scan_quoted(quote, content.as_bytes(), 0)? {
                Some(end) => {
                    trailing_ok(&content[end..])?;
                    Expect::Closed { indent: owner }
                }
                None => Expect::Quoted {
                    quote,
                    indent: owner,
                },
            });
            return Some(());
        }
        if blank {
            return Some(());
        }
        if content.starts_with('#') {
            // A comment ends a plain scalar: a deeper line after it would be out of place.
            if let Some(Expect::Plain { indent: owner }) = self.expect {
                self.expect = Some(Expect::Closed { indent: owner });
            }
            return Some(());
        }
        if indent == 0 && (content.starts_with("---") || content.starts_with("...")) {
            return None;
        }
        match self.expect.unwrap_or(Expect::Normal) {
            Expect::Plain { indent: owner } if indent > owner => {
                return plain_continuation(content);
            }
            Expect::Closed { indent: owner } if indent > owner => return None,
            _ => {}
        }
        let pending = self.expect.take().unwrap_or(Expect::Normal);
        if let Expect::KeyValue { indent: owner } | Expect::ItemValue { indent: owner } = pending
            && indent > owner
            && dash_item(content).is_none()
            && split_entry(content).is_none()
        {
            // The value on a line of its own (`resources:` then `  {}`): a one-line value
            // only, with nothing deeper after it.
            if content.starts_with(['|', '>']) {
                return None;
            }
            self.value(owner, content, false)?;
            return match self.expect {
                Some(Expect::Plain { .. }) | Some(Expect::Closed { .. }) => {
                    self.expect = Some(Expect::Closed { indent: owner });
                    Some(())
                }
                _ => None,
            };
        }
        if let Some(rest) = dash_item(content) {
            self.open_at(indent, Kind::Seq, pending)?;
            return self.after_dash(indent, rest);
        }
        let (key, value) = split_entry(content)?;
        self.open_at(indent, Kind::Map, pending)?;
        if self.open.len() == 1 {
            self.roots.push((key.to_string(), offset));
        }
        self.value(indent, value, true)
    }

    /// Makes the innermost open collection a `kind` at `indent`: an existing one, or a new
    /// one where the previous line left a value to fill.
    fn open_at(&mut self, indent: usize, kind: Kind, pending: Expect) -> Option<()> {
        while let Some(&(i, k)) = self.open.last() {
            // Deeper collections end; so does a sequence that shares its indentation with
            // the key above it when a key of that mapping comes next.
            let same_level_seq_ends = i == indent
                && k == Kind::Seq
                && kind == Kind::Map
                && self.open.len() >= 2
                && self.open[self.open.len() - 2] == (indent, Kind::Map);
            if i > indent || same_level_seq_ends {
                self.open.pop();
            } else {
                break;
            }
        }
        let opens_new = match pending {
            Expect::KeyValue { indent: key } => {
                indent > key || (indent == key && kind == Kind::Seq)
            }
            Expect::ItemValue { indent: dash } => indent > dash,
            _ => false,
        };
        if opens_new {
            if self.open.len() >= 64 {
                return None;
            }
            // A same-indentation sequence under a key sits beside the mapping's level.
            self.open.push((indent, kind));
            return Some(());
        }
        match self.open.last() {
            Some(&(i, k)) if i == indent && k == kind => Some(()),
            None if indent == 0 && kind == Kind::Map => {
                self.open.push((0, Kind::Map));
                Some(())
            }
            _ => None,
        }
    }

    /// The rest of a line after `- ` at `indent`.
    fn after_dash(&mut self, indent: usize, rest: &str) -> Option<()> {
        let col = indent + 2 + (rest.len() - rest.trim_start_matches(' ').len());
        let rest = rest.trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') {
            self.expect = Some(Expect::ItemValue { indent });
            return Some(());
        }
        if dash_item(rest).is_some() {
            return None;
        }
        if let Some((_, value)) = split_entry(rest) {
            // `- key: value`: a mapping opens at the key's column.
            if self.open.len() >= 64 {
                return None;
            }
            self.open.push((col, Kind::Map));
            return self.value(col, value, true);
        }
        self.value(indent, rest, false)
    }

    /// A value after `key:` (key at `owner`) or a scalar item after `- ` (dash at `owner`).
    fn value(&mut self, owner: usize, value: &str, after_key: bool) -> Option<()> {
        let v = value.trim_start_matches(' ');
        if v.is_empty() || v.starts_with('#') {
            self.expect = Some(if after_key {
                Expect::KeyValue { indent: owner }
            } else {
                Expect::ItemValue { indent: owner }
            });
            return Some(());
        }
        self.expect = Some(match v.as_bytes()[0] {
            q @ (b'"' | b'\'') => match scan_quoted(q, v.as_bytes(), 1)? {
                Some(end) => {
                    trailing_ok(&v[end..])?;
                    Expect::Closed { indent: owner }
                }
                None => Expect::Quoted {
                    quote: q,
                    indent: owner,
                },
            },
            b'|' | b'>' => {
                let header = v[1..].trim_end_matches(' ');
                let header = match header.find(" #") {
                    Some(i) => header[..i].trim_end_matches(' '),
                    None => header,
                };
                if !matches!(header, "" | "-" | "+") {
                    return None;
                }
                Expect::Block {
                    indent: owner,
                    content: None,
                }
            }
            b'[' | b'{' => {
                flow(v)?;
                Expect::Closed { indent: owner }
            }
            _ => {
                plain_value(v)?;
                if v.contains(" #") {
                    // A comment ends the scalar: no continuation lines.
                    Expect::Closed { indent: owner }
                } else {
                    Expect::Plain { indent: owner }
                }
            }
        });
        Some(())
    }

    fn finish(&mut self) -> Option<()> {
        match self.expect {
            // An unclosed quote is an error (a block scalar may end the document empty).
            Some(Expect::Quoted { .. }) => None,
            _ if self.roots.is_empty() => None,
            _ => Some(()),
        }
    }
}

/// `- ` or a lone `-`: the rest of the line after the dash.
fn dash_item(content: &str) -> Option<&str> {
    let t = content.trim_end_matches(' ');
    if t == "-" {
        return Some("");
    }
    content.strip_prefix("- ")
}

/// `key: value` or `key:` with a simple key: the key's text and the value's text.
fn split_entry(content: &str) -> Option<(&str, &str)> {
    let b = content.as_bytes();
    let (key, rest) = match b[0] {
        q @ (b'"' | b'\'') => {
            let end = memchr::memchr(q, &b[1..])? + 1;
            let key = &content[1..end];
            if key.bytes().any(|c| matches!(c, b'\\' | b'"' | b'\'')) {
                return None;
            }
            (key, &content[end + 1..])
        }
        first => {
            let end = memchr::memchr(b':', b)?;
            let key = &content[..end];
            let simple = |c: u8| c.is_ascii_alphanumeric() || b"_./$+-".contains(&c);
            if !(first.is_ascii_alphanumeric() || b"_./$".contains(&first))
                || !key.bytes().all(simple)
                || matches!(key, "null" | "Null" | "NULL")
            {
                return None;
            }
            (key, &content[end..])
        }
    };
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest))
}

/// After a closing quote or flow collection: only blanks and a comment may follow.
fn trailing_ok(rest: &str) -> Option<()> {
    let t = rest.trim_start_matches(' ');
    (t.is_empty() || (t.starts_with('#') && t.len() < rest.len())).then_some(())
}

/// A quoted scalar closed on this line with only escapes libyaml accepts; the text after it.
fn quoted(v: &str) -> Option<&str> {
    let end = scan_quoted(v.as_bytes()[0], v.as_bytes(), 1)??;
    Some(&v[end..])
}

/// Scan quoted-scalar text from `from` for the closing `q`: `Some(Some(i))` with `i` just past
/// it, `Some(None)` when the line ends first (the scalar continues), `None` for an escape
/// libyaml refuses.
fn scan_quoted(q: u8, b: &[u8], from: usize) -> Option<Option<usize>> {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            c if c == q => {
                if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                return Some(Some(i + 1));
            }
            b'\\' if q == b'"' => {
                let Some(&n) = b.get(i + 1) else {
                    // An escaped line break: the scalar goes on.
                    return Some(None);
                };
                let hex = match n {
                    b'0' | b'a' | b'b' | b't' | b'n' | b'v' | b'f' | b'r' | b'e' | b' ' | b'"'
                    | b'/' | b'\\' | b'N' | b'_' | b'L' | b'P' => 0,
                    b'x' => 2,
                    b'u' => 4,
                    b'U' => 8,
                    _ => return None,
                };
                let digits = b.get(i + 2..i + 2 + hex)?;
                if !digits.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                if hex > 0 {
                    // The code point must be a valid one (go-yaml refuses surrogates and the like).
                    let cp = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
                    char::from_u32(cp)?;
                }
                i += 2 + hex;
            }
            _ => i += 1,
        }
    }
    Some(None)
}

/// `[]`, `{}`, a one-line flow sequence of quoted strings and simple words, or a one-line
/// flow mapping of simple keys to such values (`{name: http, port: 80}`).
fn flow(v: &str) -> Option<()> {
    let t = v.trim_end_matches(' ');
    let (close, is_map) = if t.starts_with('[') {
        (']', false)
    } else {
        ('}', true)
    };
    let body = &t[1..];
    let end = body.find(close)?;
    let (body, rest) = (&body[..end], &body[end + 1..]);
    trailing_ok(rest)?;
    if body.trim_matches(' ').is_empty() {
        return Some(());
    }
    if body.contains(['[', ']', '{', '}']) {
        return None;
    }
    for item in body.split(',') {
        let item = item.trim_matches(' ');
        let value = if is_map {
            let (key, value) = flow_entry(item)?;
            let simple = |c: u8| c.is_ascii_alphanumeric() || b"_./$+-".contains(&c);
            let first = *key.as_bytes().first()?;
            if !(first.is_ascii_alphanumeric() || b"_./$".contains(&first))
                || !key.bytes().all(simple)
                || matches!(key, "null" | "Null" | "NULL" | "~")
            {
                return None;
            }
            value
        } else {
            item
        };
        flow_scalar(value)?;
    }
    Some(())
}

/// `key: value` inside a flow mapping: split at the first `: `.
pub(super) fn flow_entry(item: &str) -> Option<(&str, &str)> {
    let at = item.find(": ")?;
    Some((&item[..at], item[at + 2..].trim_start_matches(' ')))
}

/// A scalar inside a flow collection: a quoted string closed exactly, or a simple word.
fn flow_scalar(item: &str) -> Option<()> {
    match item.as_bytes().first()? {
        b'"' | b'\'' => {
            if !quoted(item)?.is_empty() || item.contains(',') {
                return None;
            }
        }
        _ => {
            let word = |c: char| c.is_ascii_alphanumeric() || "_./=+-".contains(c);
            if !item.chars().all(word) || item.starts_with('-') || special_float(item) {
                return None;
            }
        }
    }
    Some(())
}

/// A single-line plain scalar value that libyaml scans to the end of the line (a trailing
/// comment aside) and that converts to JSON.
fn plain_value(v: &str) -> Option<()> {
    let first = v.chars().next()?;
    if "&*!%@`?:,[]{}#|>\"'".contains(first) || v.starts_with("- ") || v == "-" {
        return None;
    }
    let text = match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    }
    .trim_end_matches(' ');
    if text.contains(": ") || text.ends_with(':') || special_float(text) {
        return None;
    }
    Some(())
}

/// A deeper line continuing a plain scalar: more text, with nothing a scanner would read as
/// structure.
fn plain_continuation(content: &str) -> Option<()> {
    // Inside a plain scalar only a comment ends a line early: indicators are text here.
    if content.starts_with('#') {
        return None;
    }
    let text = content.trim_end_matches(' ');
    if text.contains(": ") || text.ends_with(':') || text.contains(" #") {
        return None;
    }
    Some(())
}

/// `.inf`/`.nan` spellings: JSON has no such numbers (the conversion fails).
fn special_float(s: &str) -> bool {
    let s = s.trim_start_matches(['+', '-']);
    matches!(s, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN")
}

/// Where [`head_text`] gave up on `doc`, for test failure messages.
/// Why [`head_text`] declines `doc` (for tests of the scan over real documents).
pub(super) fn why_declined(doc: &str) -> String {
    let mut scan = Scanner::default();
    let mut offset = 0;
    for (n, line) in doc.split('\n').enumerate() {
        if scan.line(line, offset).is_none() {
            return format!(
                "line {n}: {line:?} (expect {:?}, open {:?})",
                scan.expect,
                scan.open.last()
            );
        }
        offset += line.len() + 1;
    }
    format!("finish {:?}: {doc:?}", scan.expect)
}

#[cfg(test)]
mod tests {
    use super::head_text;

    const KEEP: &[&str] = &["apiVersion", "kind", "metadata"];

    #[test]
    fn accepts_the_common_shapes_and_keeps_only_head_entries() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    a: \"b\"\ndata:\n  k: |\n    line\n\n    more\n  list:\n  - a\n  - b: c\n    d: [\"e\", f]\n";
        assert_eq!(
            head_text(doc, KEEP).as_deref(),
            Some(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    a: \"b\"\n"
            )
        );
    }

    #[test]
    fn declines_what_it_cannot_vouch_for() {
        for doc in [
            "kind: A\nspec: &a {b: 1}\n",
            "kind: A\nspec:\n  x: .inf\n",
            "kind: A\n<<: {b: 1}\n",
            "kind: A\nspec:\n\tb: 1\n",
            "kind: A\nspec: \"x\ny\"\n",
            "kind: A\nspec: a: b\n",
            "kind: A\nspec:\n  b: 1\n c: 2\n",
            "kind: A\nspec: x\n  y: z\n",
            "- a\n",
            "kind: A\nspec: \"x\"y\n",
            "kind: A\nspec: !!str x\n",
            "kind: A\nnull: x\n",
            "kind: A\nspec: \"\\q\"\n",
        ] {
            assert_eq!(head_text(doc, KEEP), None, "{doc:?}");
        }
    }
}
