//! Building go-yaml's nodes straight from the plain block YAML that rendered manifests,
//! `Chart.yaml` and `values.yaml` almost always are, without the event parser.
//!
//! [`parse`] runs only on a document [`super::fast_head`]'s line scan has vouched for (valid
//! for libyaml, converts to JSON without error), and builds a narrower subset still: block
//! mappings and sequences (`- key: value` included), plain scalars (multi-line ones folded),
//! quoted scalars (single-quoted ones across lines), literal block scalars (`|`, `|-`, `|+`),
//! one-line flow sequences and mappings of words and quoted strings, comments. A double-quoted
//! scalar across lines, a folded block scalar or anything else unusual returns `None` and the
//! caller runs the full parser: declining is
//! always safe, a result must be exactly the full parser's (tests compare the two on every
//! corpus document and on generated ones). Plain scalars resolve through the same
//! [`super::resolve_plain`] as the full parser. Pure.

use std::sync::Arc;

use super::{Node, resolve_plain};

/// The document's root node, or `None` when it is outside the subset.
pub(super) fn parse(doc: &str) -> Option<Node> {
    super::fast_head::head_text(doc, &[])?;
    let lines: Vec<&str> = doc.split('\n').collect();
    let mut b = Builder { lines, depth: 0 };
    let first = b.next_content(0)?;
    if b.indent(first) != 0 {
        return None;
    }
    let (node, end) = b.block(first)?;
    // Everything must have been read.
    b.next_content(end).is_none().then_some(node)
}

struct Builder<'a> {
    lines: Vec<&'a str>,
    depth: usize,
}

impl<'a> Builder<'a> {
    fn indent(&self, i: usize) -> usize {
        let l = self.lines[i];
        l.len() - l.trim_start_matches(' ').len()
    }

    fn content(&self, i: usize) -> &'a str {
        self.lines[i].trim_start_matches(' ')
    }

    /// The first line at or after `i` that is neither blank nor a comment.
    fn next_content(&self, mut i: usize) -> Option<usize> {
        while i < self.lines.len() {
            let c = self.content(i).trim_end_matches(' ');
            if !c.is_empty() && !c.starts_with('#') {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// The collection starting on content line `i`; the index after its last line.
    fn block(&mut self, i: usize) -> Option<(Node, usize)> {
        self.depth += 1;
        if self.depth > 64 {
            return None;
        }
        let indent = self.indent(i);
        let out = if dash_rest(self.content(i)).is_some() {
            self.seq(i, indent)
        } else {
            self.map(i, indent, None)
        };
        self.depth -= 1;
        out
    }

    /// A block sequence of items at `indent`, from line `i`.
    fn seq(&mut self, mut i: usize, indent: usize) -> Option<(Node, usize)> {
        let mut items = Vec::new();
        let mut next = Some(i);
        while let Some(j) = next {
            if self.indent(j) != indent {
                break;
            }
            let Some(rest) = dash_rest(self.content(j)) else {
                break;
            };
            let col = indent + 2 + (rest.len() - rest.trim_start_matches(' ').len());
            let rest = rest.trim_start_matches(' ');
            let (item, end) = if rest.is_empty() || rest.starts_with('#') {
                self.nested(j, indent, false)?
            } else if let Some((key, value)) = entry(rest) {
                // `- key: value`: a mapping at the key's column.
                self.map(j, col, Some((key, value)))?
            } else {
                self.inline(j, rest, indent)?
            };
            items.push(item);
            i = end;
            next = self.next_content(i);
        }
        Some((Node::Seq(items), i))
    }

    /// A block mapping at `indent` from line `i`; `first`: its first entry's key and value
    /// when they sit after a `- ` on line `i`.
    fn map(
        &mut self,
        mut i: usize,
        indent: usize,
        first: Option<(&'a str, &'a str)>,
    ) -> Option<(Node, usize)> {
        let mut entries = Vec::new();
        let mut pending = first;
        let mut line = i;
        loop {
            let (key, value) = match pending.take() {
                Some(kv) => kv,
                None => {
                    let Some(j) = self.next_content(i) else { break };
                    if self.indent(j) != indent || dash_rest(self.content(j)).is_some() {
                        break;
                    }
                    line = j;
                    entry(self.content(j))?
                }
            };
            let k = key_node(key)?;
            let v = value.trim_start_matches(' ');
            let (node, end) = if v.is_empty() || v.starts_with('#') {
                self.nested(line, indent, true)?
            } else {
                self.inline(line, v, indent)?
            };
            entries.push((k, node));
            i = end;
        }
        Some((Node::Map(entries), i))
    }

    /// The value of a `key:` (at `owner`, `after_key`) or a `-` (at `owner`) with nothing
    /// after it on line `i`: a deeper collection, a sequence at the key's own indentation,
    /// or null.
    fn nested(&mut self, i: usize, owner: usize, after_key: bool) -> Option<(Node, usize)> {
        let Some(j) = self.next_content(i + 1) else {
            return Some((Node::Null, i + 1));
        };
        let ind = self.indent(j);
        let c = self.content(j);
        if ind > owner {
            if dash_rest(c).is_some() || entry(c).is_some() {
                return self.block(j);
            }
            // A value on a line of its own: one line, nothing deeper after it.
            return self.inline(j, c, owner);
        }
        if after_key && ind == owner && dash_rest(c).is_some() {
            return self.block(j);
        }
        Some((Node::Null, i + 1))
    }

    /// A value written after `key: ` or `- ` on line `i` (owner at `owner`).
    fn inline(&mut self, i: usize, v: &'a str, owner: usize) -> Option<(Node, usize)> {
        let node = match v.as_bytes()[0] {
            b'\'' if quoted(b'\'', v).is_none() => return self.single_quoted_lines(i, v),
            q @ (b'"' | b'\'') => Node::Str(quoted(q, v)?.into()),
            b'|' => return self.literal(i, v, owner),
            b'>' => return None,
            b'[' | b'{' => flow(v)?,
            _ => {
                let text = match v.find(" #") {
                    Some(at) => &v[..at],
                    None => v,
                }
                .trim_end_matches(' ');
                if !v.contains(" #") {
                    // Deeper lines continue a plain scalar (a comment would have ended it).
                    let (folded, end) = self.folded(i, owner, text.to_string());
                    if end > i + 1 {
                        return Some((resolve_plain(&folded), end));
                    }
                }
                resolve_plain(text)
            }
        };
        // A deeper line would continue the scalar (double-quoted across lines): not built here.
        if let Some(j) = self.next_content(i + 1)
            && self.indent(j) > owner
            && !matches!(node, Node::Seq(_) | Node::Map(_))
        {
            return None;
        }
        Some((node, i + 1))
    }

    /// A plain scalar's continuation lines after line `i` (deeper than `owner`), folded onto
    /// `text` as YAML folds flow scalars: a line break is a space, each blank line a newline.
    /// The folded text and the index after its last line.
    fn folded(&self, i: usize, owner: usize, mut text: String) -> (String, usize) {
        let (mut j, mut end, mut blanks) = (i + 1, i + 1, 0);
        while j < self.lines.len() {
            let body = self.content(j).trim_end_matches(' ');
            if body.is_empty() {
                blanks += 1;
                j += 1;
                continue;
            }
            if self.indent(j) <= owner || body.starts_with('#') {
                break;
            }
            fold(&mut text, blanks);
            blanks = 0;
            text.push_str(body);
            j += 1;
            end = j;
        }
        (text, end)
    }

    /// A single-quoted scalar opened on line `i` (`v` from its quote) and closed on a later
    /// line, folded as YAML folds flow scalars.
    fn single_quoted_lines(&self, i: usize, v: &str) -> Option<(Node, usize)> {
        let mut text = v[1..].replace("''", "'").trim_end_matches(' ').to_string();
        let (mut j, mut blanks) = (i + 1, 0);
        while j < self.lines.len() {
            let body = self.content(j);
            if body.trim_end_matches(' ').is_empty() {
                blanks += 1;
                j += 1;
                continue;
            }
            fold(&mut text, blanks);
            blanks = 0;
            let with_quote = format!("'{body}");
            if let Some(closed) = quoted(b'\'', &with_quote) {
                text.push_str(&closed);
                return Some((Node::Str(text.into()), j + 1));
            }
            text.push_str(body.replace("''", "'").trim_end_matches(' '));
            j += 1;
        }
        None
    }

    /// A literal block scalar (`|`, `|-`, `|+`) whose header is on line `i`.
    fn literal(&self, i: usize, header: &str, owner: usize) -> Option<(Node, usize)> {
        let h = header[1..].trim_end_matches(' ');
        let h = match h.find(" #") {
            Some(at) => h[..at].trim_end_matches(' '),
            None => h,
        };
        let (strip, keep) = match h {
            "" => (false, false),
            "-" => (true, false),
            "+" => (false, true),
            _ => return None,
        };
        let mut j = i + 1;
        let mut content_indent = None;
        let mut text = String::new();
        // Blank lines seen since the last content line (their line breaks).
        let mut blanks = 0usize;
        while j < self.lines.len() {
            let line = self.lines[j];
            let body = line.trim_start_matches(' ');
            let ind = line.len() - body.len();
            if body.is_empty() {
                // A line of spaces only: more than the content's indentation is content.
                if content_indent.is_some_and(|c| ind > c) || (content_indent.is_none() && ind > 0)
                {
                    return None;
                }
                blanks += 1;
                j += 1;
                continue;
            }
            if ind <= owner {
                break;
            }
            let c = *content_indent.get_or_insert(ind);
            if ind < c {
                return None;
            }
            for _ in 0..blanks {
                text.push('\n');
            }
            blanks = 0;
            text.push_str(&line[c..]);
            text.push('\n');
            j += 1;
        }
        if content_indent.is_none() {
            // No content: empty, unless kept blank lines make it line breaks.
            return (!keep).then(|| (Node::Str(Arc::from("")), j));
        }
        let last_unbroken = j == self.lines.len()
            && self
                .lines
                .last()
                .is_some_and(|l| !l.trim_start_matches(' ').is_empty());
        if last_unbroken {
            // The text ends inside the scalar without a final line break: its last line has
            // none, whatever the chomping.
            text.pop();
        } else if strip {
            text.pop();
        } else if keep {
            // The trailing blank lines of the document's last line break aside.
            if j == self.lines.len() {
                blanks = blanks.saturating_sub(1);
            }
            for _ in 0..blanks {
                text.push('\n');
            }
        }
        Some((Node::Str(Arc::from(text)), j))
    }
}

/// Joins a folded scalar's next line: a space, or a newline per blank line before it.
fn fold(text: &mut String, blanks: usize) {
    if blanks == 0 {
        text.push(' ');
    }
    for _ in 0..blanks {
        text.push('\n');
    }
}

/// The rest of a `- ` item line (or `""` for a lone `-`).
fn dash_rest(content: &str) -> Option<&str> {
    if content.trim_end_matches(' ') == "-" {
        return Some("");
    }
    content.strip_prefix("- ")
}

/// `key: value` / `key:`: the key's text (quotes included) and what follows the colon.
fn entry(content: &str) -> Option<(&str, &str)> {
    let b = content.as_bytes();
    let colon = match b.first()? {
        q @ (b'"' | b'\'') => memchr::memchr(*q, &b[1..])? + 2,
        // As the scan reads keys: anything else (`{`, `[`, indicators) starts a value.
        c if c.is_ascii_alphanumeric() || b"_./$".contains(c) => memchr::memchr(b':', b)?,
        _ => return None,
    };
    let rest = content[colon..].strip_prefix(':')?;
    (rest.is_empty() || rest.starts_with(' ')).then_some((&content[..colon], rest))
}

/// A key as the full parser resolves it: quoted keys are strings, plain ones resolve.
fn key_node(key: &str) -> Option<Node> {
    match key.as_bytes().first()? {
        q @ (b'"' | b'\'') => Some(Node::Str(quoted(*q, key)?.into())),
        _ => Some(resolve_plain(key)),
    }
}

/// The text of a quoted scalar closed on this line (`v` starts with the quote).
fn quoted(q: u8, v: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = v[1..].char_indices();
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' if q == b'\'' => {
                if chars.as_str().starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some(out);
                }
            }
            '"' if q == b'"' => return Some(out),
            '\\' if q == b'"' => {
                let (_, e) = chars.next()?;
                let hex = match e {
                    '0' => Some('\0'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    't' => Some('\t'),
                    'n' => Some('\n'),
                    'v' => Some('\u{b}'),
                    'f' => Some('\u{c}'),
                    'r' => Some('\r'),
                    'e' => Some('\u{1b}'),
                    ' ' => Some(' '),
                    '"' => Some('"'),
                    '/' => Some('/'),
                    '\\' => Some('\\'),
                    'N' => Some('\u{85}'),
                    '_' => Some('\u{a0}'),
                    'L' => Some('\u{2028}'),
                    'P' => Some('\u{2029}'),
                    _ => None,
                };
                if let Some(c) = hex {
                    out.push(c);
                    continue;
                }
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    _ => return None,
                };
                let rest = chars.as_str();
                let digits = rest.get(..n)?;
                let cp = u32::from_str_radix(digits, 16).ok()?;
                out.push(char::from_u32(cp)?);
                for _ in 0..n {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    // Not closed on this line.
    None
}

/// `{}`, `[]`, or a one-line flow sequence or mapping of words and quoted strings (as the
/// scan vouched).
fn flow(v: &str) -> Option<Node> {
    let t = match v.find(" #") {
        Some(at) => &v[..at],
        None => v,
    }
    .trim_end_matches(' ');
    let (body, is_map) = match (t.strip_prefix('{'), t.strip_prefix('[')) {
        (Some(b), _) => (b.strip_suffix('}')?, true),
        (_, Some(b)) => (b.strip_suffix(']')?, false),
        _ => return None,
    };
    if body.contains([']', '[', '{', '}']) {
        return None;
    }
    if body.trim_matches(' ').is_empty() {
        return Some(if is_map {
            Node::Map(Vec::new())
        } else {
            Node::Seq(Vec::new())
        });
    }
    let scalar = |item: &str| -> Option<Node> {
        Some(match item.as_bytes().first()? {
            q @ (b'"' | b'\'') => {
                if item.contains(',') {
                    return None;
                }
                Node::Str(quoted(*q, item)?.into())
            }
            _ => resolve_plain(item),
        })
    };
    if is_map {
        let mut entries = Vec::new();
        for item in body.split(',') {
            let (k, v) = super::fast_head::flow_entry(item.trim_matches(' '))?;
            entries.push((resolve_plain(k), scalar(v)?));
        }
        return Some(Node::Map(entries));
    }
    let mut items = Vec::new();
    for item in body.split(',') {
        items.push(scalar(item.trim_matches(' '))?);
    }
    Some(Node::Seq(items))
}
