//! Reading YAML as Helm does: `sigs.k8s.io/yaml` on top of go-yaml v2.
//!
//! go-yaml v2 resolves plain scalars with YAML 1.1 rules (`yes`/`on`/`y` are booleans,
//! `0755` is octal, `1_000` is an integer, `<<` merges, timestamps stay strings), then
//! sigs.k8s.io/yaml round-trips the result through JSON, so every number a template sees
//! from a values file is a Go `float64` and every map key is a string. This module owns
//! that conversion ([`parse`], [`parse_all`]) and the event-level parsing it needs.

use std::collections::HashMap;
use std::sync::Arc;

use gotemplate::{Map, Value};
use serde_saphyr::granit_parser::{
    ErrorKind, Event, Options, Parser, ScalarStyle, StructureStyle, Tag,
};

mod fast_block;
mod fast_head;
mod goyaml;

/// A YAML syntax or conversion error, with go-yaml's 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// The message as sigs.k8s.io/yaml words it (`error converting YAML to JSON: yaml: line N: ...`).
    pub message: String,
}

impl YamlError {
    fn syntax(line: usize, what: &str) -> Self {
        YamlError {
            line: Some(line),
            message: format!("error converting YAML to JSON: yaml: line {line}: {what}"),
        }
    }
    /// A go-yaml syntax error: `yaml: line N: PROBLEM`, or `yaml: PROBLEM` when go-yaml
    /// names no line (see [`goyaml`]).
    fn goyaml(line: Option<usize>, problem: &str) -> Self {
        let message = match line {
            Some(l) => format!("error converting YAML to JSON: yaml: line {l}: {problem}"),
            None => format!("error converting YAML to JSON: yaml: {problem}"),
        };
        YamlError { line, message }
    }
    fn convert(what: String) -> Self {
        YamlError {
            line: None,
            message: format!("error converting YAML to JSON: {what}"),
        }
    }
}

/// A YAML file's bytes as text for the parser, or the error go-yaml's reader gives when they
/// are not valid UTF-8 (see [`reader_error`]). Valid text is borrowed.
pub fn file_text(data: &[u8]) -> Result<std::borrow::Cow<'_, str>, YamlError> {
    match std::str::from_utf8(data) {
        Ok(text) => Ok(std::borrow::Cow::Borrowed(text)),
        Err(_) => match reader_error(data) {
            Some(e) => Err(e),
            None => Ok(String::from_utf8_lossy(data)),
        },
    }
}

/// go-yaml's raw read-ahead: the reader takes the input 512 bytes at a time and decodes each
/// such chunk whole when the scanner first needs a character from it.
const RAW_CHUNK: usize = 512;

/// The error go-yaml gives for a document that is not valid UTF-8 (Helm's manifests are Go
/// strings: any bytes). `None` when `doc` is valid UTF-8 (the parser's own checks then apply).
///
/// The reader decodes ahead of the scanner, a raw chunk of 512 bytes at a time, and stops at
/// the first byte sequence it cannot decode or character it does not allow; those errors carry
/// no line. A bad byte past the first chunk is met only when the scanner reaches that chunk,
/// so a syntax error in the complete lines before it is reported instead (the text up to the
/// chunk is parsed for one; a construct left open at the cut is not taken for an error). A
/// character cut by the end of the input is met only when the scanner gets there.
///
/// Not modelled: a document starting with a UTF-16 byte order mark (`FF FE`, `FE FF`), which
/// go-yaml would decode as UTF-16, and the scanner's look-ahead across a chunk's last line.
pub fn reader_error(doc: &[u8]) -> Option<YamlError> {
    if std::str::from_utf8(doc).is_ok() {
        return None;
    }
    let (at, err) = first_reader_error(doc)?;
    // Where the chunk holding the bad byte starts: each chunk ends before a character it cuts.
    let mut chunk = 0;
    loop {
        let end = (chunk + RAW_CHUNK).min(doc.len());
        if at < end {
            break;
        }
        let mut next = end;
        while next > chunk && next < doc.len() && doc[next] & 0xc0 == 0x80 {
            next -= 1;
        }
        chunk = next;
    }
    if at + 4 > doc.len() && err.message.ends_with("incomplete UTF-8 octet sequence") {
        // A sequence cut by the end of the input fails only once the reader knows the input
        // has ended: when the scanner asks for more than the characters before it.
        chunk = at;
    }
    if chunk > 0 {
        let before = &doc[..chunk];
        let lines = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(&before[..0], |i| &before[..=i]);
        if let Ok(text) = std::str::from_utf8(lines)
            && let Err(e) = parse_all(text)
            && !e.message.contains("end of stream")
        {
            return Some(e);
        }
    }
    Some(err)
}

/// The offset and error of the first sequence go-yaml's reader refuses.
fn first_reader_error(doc: &[u8]) -> Option<(usize, YamlError)> {
    let mut i = 0;
    let fail = |i: usize, e: YamlError| Some((i, e));
    while i < doc.len() {
        let lead = doc[i];
        let width = match lead {
            0x00..=0x7f => 1,
            _ if lead & 0xe0 == 0xc0 => 2,
            _ if lead & 0xf0 == 0xe0 => 3,
            _ if lead & 0xf8 == 0xf0 => 4,
            _ => return fail(i, YamlError::goyaml(None, "invalid leading UTF-8 octet")),
        };
        if width > doc.len() - i {
            return fail(
                i,
                YamlError::goyaml(None, "incomplete UTF-8 octet sequence"),
            );
        }
        let mut value: u32 = match width {
            1 => u32::from(lead & 0x7f),
            2 => u32::from(lead & 0x1f),
            3 => u32::from(lead & 0x0f),
            _ => u32::from(lead & 0x07),
        };
        for k in 1..width {
            let c = doc[i + k];
            if c & 0xc0 != 0x80 {
                return fail(i, YamlError::goyaml(None, "invalid trailing UTF-8 octet"));
            }
            value = (value << 6) + u32::from(c & 0x3f);
        }
        let shortest = match width {
            1 => true,
            2 => value >= 0x80,
            3 => value >= 0x800,
            _ => value >= 0x10000,
        };
        if !shortest {
            return fail(
                i,
                YamlError::goyaml(None, "invalid length of a UTF-8 sequence"),
            );
        }
        if (0xd800..=0xdfff).contains(&value) || value > 0x10ffff {
            return fail(i, YamlError::goyaml(None, "invalid Unicode character"));
        }
        let allowed = matches!(value, 0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff);
        if !allowed {
            return fail(i, goyaml::control_char_error());
        }
        i += width;
    }
    None
}

/// A node before JSON conversion: go-yaml's `interface{}` result.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Arc<str>),
    /// A plain `<<`: the merge key in a mapping's key position, the string "<<" anywhere
    /// else (a quoted "<<" is only ever a string).
    Merge,
    Seq(Vec<Node>),
    /// Keys in document order; duplicates resolved later-wins at conversion.
    Map(Vec<(Node, Node)>),
}

fn parser_options() -> Options {
    let mut o = Options::default();
    o.block_scalar_eof_without_line_feed = true;
    o.bom_inside_document_as_content = true;
    // go-yaml reports an unknown anchor by name, after parsing.
    o.emit_unresolved_aliases = true;
    o
}

/// Parse every document of a YAML stream into go-yaml nodes.
fn parse_nodes(text: &str) -> Result<Vec<Node>, YamlError> {
    parse_docs(text, usize::MAX)
}

/// Parse the first document only, as go-yaml's `Unmarshal` does: whatever follows
/// it (even invalid YAML) is never read. Empty input gives no document.
fn parse_first(text: &str) -> Result<Vec<Node>, YamlError> {
    parse_docs(text, 1)
}

/// Parse at most `max_docs` documents (see [`parse_docs_keeping`]).
fn parse_docs(text: &str, max_docs: usize) -> Result<Vec<Node>, YamlError> {
    parse_docs_keeping(text, max_docs, None)
}

/// Parse at most `max_docs` documents. Reading one document as go-yaml does, its tab
/// rules apply too (our parser accepts some tabs libyaml refuses).
///
/// `keep`: when the first document's root is a map, the values of its other string keys
/// are only checked (see [`skip_value`]) and stand as nulls in the result.
fn parse_docs_keeping(
    text: &str,
    max_docs: usize,
    keep: Option<&[&str]>,
) -> Result<Vec<Node>, YamlError> {
    // Plain block YAML (nearly every manifest and values file) is built without the parser.
    if max_docs == 1
        && let Some(root) = fast_block::parse(text)
    {
        return Ok(vec![root]);
    }
    parse_docs_full(text, max_docs, keep)
}

/// [`parse_docs_keeping`] through the event parser always (the reference for the fast path).
fn parse_docs_full(
    text: &str,
    max_docs: usize,
    keep: Option<&[&str]>,
) -> Result<Vec<Node>, YamlError> {
    let parsed = parse_docs_unchecked(text, max_docs, keep);
    // A '%' starting a line is a directive for libyaml's scanner, wherever it is; it fails on
    // one our parser reads otherwise. It gets there first on the first line, or once all
    // before the line reads fine.
    if let Some(line0) = goyaml::directive_line(text)
        && let Some(problem) = goyaml::directive_problem(text, line0)
        && (line0 == 0
            || (parsed.is_err() && {
                let before = text
                    .split('\n')
                    .take(line0)
                    .map(|l| l.len() + 1)
                    .sum::<usize>();
                parse_docs_unchecked(&text[..before], max_docs, None).is_ok()
            }))
    {
        return Err(YamlError::goyaml((line0 > 0).then_some(line0 + 1), problem));
    }
    // libyaml's reader decodes ahead of the scanner and refuses control characters.
    if max_docs == 1
        && let Some(line0) = goyaml::control_char_line(text)
    {
        match &parsed {
            Err(e) if e.line.is_some_and(|l| l < line0) => {}
            _ => return Err(goyaml::control_char_error()),
        }
    }
    let first_doc = match goyaml::dedented_root_end(text) {
        Some(end) if max_docs == 1 => {
            // libyaml still scans the token that closes the root.
            let next = text[end..].trim_start_matches(' ');
            if parsed.is_ok() && next.starts_with(['"', '\'']) && !goyaml::quote_closes(next) {
                return Err(YamlError::goyaml(
                    Some(text.matches('\n').count() + 1),
                    "found unexpected end of stream",
                ));
            }
            if parsed.is_ok()
                && let Some(problem) = goyaml::unscannable_token(&text[end..])
            {
                let line0 = text[..end].matches('\n').count();
                return Err(YamlError::goyaml(Some(line0 + 1), problem));
            }
            &text[..end]
        }
        _ => text,
    };
    if max_docs == 1
        && first_doc.contains('\t')
        && let Some((line0, tab)) = goyaml::tab_error(first_doc)
    {
        match &parsed {
            Ok(_) => return Err(tab),
            // Whichever libyaml meets first.
            Err(e) if line0 <= e.line.unwrap_or(0) => return Err(tab),
            Err(_) => {}
        }
    }
    parsed
}

fn parse_docs_unchecked(
    text: &str,
    max_docs: usize,
    mut keep: Option<&[&str]>,
) -> Result<Vec<Node>, YamlError> {
    let mut current = std::borrow::Cow::Borrowed(text);
    let mut untabbed = false;
    // Each retry rewrites one thing libyaml reads differently; a bound keeps hostile input
    // (thousands of `"x"#` on a line) from turning into thousands of parses.
    for _ in 0..64 {
        match parse_events(&current, max_docs, keep) {
            Ok(docs) => return Ok(docs),
            Err(Retry::Failed(e)) => return Err(e),
            Err(Retry::Full) => keep = None,
            Err(Retry::UntabFlow) if !untabbed => {
                untabbed = true;
                current = std::borrow::Cow::Owned(goyaml::untab_flow_lines(&current));
            }
            Err(Retry::UntabFlow) => {
                return Err(YamlError::goyaml(
                    None,
                    "found character that cannot start any token",
                ));
            }
            Err(Retry::SpaceBefore(at)) => {
                let mut owned = current.into_owned();
                owned.insert(at, ' ');
                current = std::borrow::Cow::Owned(owned);
            }
        }
    }
    Err(YamlError::goyaml(
        None,
        "comments must be separated from other tokens by whitespace",
    ))
}

/// Why [`parse_events`] stopped.
enum Retry {
    /// A tab indents a line inside a flow collection: fine for libyaml, not for our
    /// parser; parse again with those tabs as spaces.
    UntabFlow,
    /// A `#` right after a token (`"x"#c`, `[1]#c`): libyaml starts a comment wherever a
    /// token could start, our parser wants a blank first; parse again with a space before
    /// the `#` at this byte offset.
    SpaceBefore(usize),
    /// A value [`skip_value`] will not vouch for: parse again building every node.
    Full,
    Failed(YamlError),
}

impl From<YamlError> for Retry {
    fn from(e: YamlError) -> Self {
        Retry::Failed(e)
    }
}

fn parse_events(text: &str, max_docs: usize, keep: Option<&[&str]>) -> Result<Vec<Node>, Retry> {
    let mut parser = Parser::new_from_str_with_options(text, parser_options());
    let mut docs = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    // Stack of open collections: (node being built, pending key for maps, anchor id).
    enum Open {
        Seq(Vec<Node>, usize),
        Map(Vec<(Node, Node)>, Option<Node>, usize),
    }
    let mut stack: Vec<Open> = Vec::new();
    // Whether each open collection is a flow one (`[...]`, `{...}`), for error wording.
    let mut flow: Vec<bool> = Vec::new();
    let mut current_doc: Option<Node> = None;
    let mut depth_guard = 0usize;

    fn push(stack: &mut [Open], doc: &mut Option<Node>, node: Node) {
        match stack.last_mut() {
            Some(Open::Seq(items, _)) => items.push(node),
            Some(Open::Map(entries, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
            None => *doc = Some(node),
        }
    }

    while let Some(ev) = parser.next_event() {
        // The value of a root key the caller does not keep: checked, not built.
        let skip = keep.is_some_and(|keep| {
            docs.is_empty()
                && matches!(stack.as_slice(), [Open::Map(_, Some(Node::Str(key)), _)]
                    if !keep.contains(&&**key))
        }) && matches!(&ev, Ok((e, _)) if !matches!(e, Event::MappingEnd | Event::SequenceEnd));
        let ev = match ev {
            Ok((first, _)) if skip => {
                skip_value(&mut parser, first)?;
                push(&mut stack, &mut current_doc, Node::Null);
                continue;
            }
            other => other,
        };
        let (event, span) = match ev {
            Ok(e) => e,
            Err(e) => {
                if matches!(e.kind(), ErrorKind::MisplacedFlowCollectionEnd)
                    && max_docs == 1
                    && let Some(doc) = goyaml::flow_root_before(text, e.marker().index())
                {
                    // `[1]]`: libyaml scans a stray bracket without complaint and
                    // go-yaml stops reading after the first document's root node.
                    return Ok(parse_docs(doc, 1)?);
                }
                if max_docs == 1
                    && let Some(end) = goyaml::dedented_root_end(text)
                    && text[..end].chars().count() <= e.marker().index()
                {
                    // The first document ended before the error: go-yaml never reads it.
                    return Ok(parse_docs(&text[..end], 1)?);
                }
                if matches!(e.kind(), ErrorKind::CommentNotSeparated)
                    && let Some((at, '#')) = text.char_indices().nth(e.marker().index())
                {
                    return Err(Retry::SpaceBefore(at));
                }
                if matches!(e.kind(), ErrorKind::TabInBlockIndentation)
                    && goyaml::innermost_flow(text, e.marker().index()).is_some()
                {
                    return Err(Retry::UntabFlow);
                }
                let open = match (stack.last(), flow.last()) {
                    (None, _) => goyaml::Open::None,
                    (Some(Open::Seq(..)), Some(true)) => goyaml::Open::FlowSeq,
                    (Some(Open::Map(..)), Some(true)) => goyaml::Open::FlowMap,
                    (Some(Open::Seq(..)), _) => goyaml::Open::BlockSeq,
                    (Some(Open::Map(..)), _) => goyaml::Open::BlockMap,
                };
                return Err(Retry::Failed(goyaml::syntax_error(text, &e, open)));
            }
        };
        let line = span.start.line();
        match event {
            Event::DocumentStart(_, version) => {
                if version.is_some_and(|v| v.major != 1 || v.minor != 1) {
                    // go-yaml v2 reads only YAML 1.1 documents; the mark is the directive's.
                    let directive = text
                        .split('\n')
                        .position(|l| l.starts_with("%YAML"))
                        .unwrap_or(0);
                    return Err(Retry::Failed(YamlError::goyaml(
                        (directive > 0).then_some(directive),
                        "found incompatible YAML document",
                    )));
                }
                anchors.clear();
                current_doc = None;
            }
            Event::DocumentEnd => {
                docs.push(current_doc.take().unwrap_or(Node::Null));
                if docs.len() >= max_docs {
                    break;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                // go-yaml's decoder names no line for these.
                let node = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|m| YamlError::goyaml(None, &m))?;
                if anchor != 0 {
                    anchors.insert(anchor, node.clone());
                }
                push(&mut stack, &mut current_doc, node);
            }
            Event::UnresolvedAlias(name)
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                // libyaml's anchor names are `[A-Za-z0-9_-]+`, followed by a blank or
                // an indicator; anything else stops the scan.
                let line0 = span.start.line().saturating_sub(1);
                return Err(Retry::Failed(YamlError::goyaml(
                    (line0 > 0).then_some(line0 + 1),
                    "did not find expected alphabetic or numeric character",
                )));
            }
            Event::UnresolvedAlias(name) => {
                return Err(Retry::Failed(YamlError {
                    line: None,
                    message: format!(
                        "error converting YAML to JSON: yaml: unknown anchor '{name}' referenced"
                    ),
                }));
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().unwrap_or(Node::Null);
                push(&mut stack, &mut current_doc, node);
            }
            Event::SequenceStart(style, anchor, _) => {
                flow.push(style == StructureStyle::Flow);
                depth_guard += 1;
                if depth_guard > 10_000 {
                    return Err(Retry::Failed(YamlError::syntax(line, "exceeded max depth")));
                }
                stack.push(Open::Seq(Vec::new(), anchor));
            }
            Event::MappingStart(style, anchor, _) => {
                flow.push(style == StructureStyle::Flow);
                depth_guard += 1;
                if depth_guard > 10_000 {
                    return Err(Retry::Failed(YamlError::syntax(line, "exceeded max depth")));
                }
                stack.push(Open::Map(Vec::new(), None, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                flow.pop();
                depth_guard = depth_guard.saturating_sub(1);
                let (node, anchor) = match stack.pop() {
                    Some(Open::Seq(items, a)) => (Node::Seq(items), a),
                    Some(Open::Map(entries, _, a)) => (Node::Map(entries), a),
                    None => {
                        return Err(Retry::Failed(YamlError::syntax(
                            line,
                            "unbalanced collection",
                        )));
                    }
                };
                if anchor != 0 {
                    anchors.insert(anchor, node.clone());
                }
                push(&mut stack, &mut current_doc, node);
            }
            _ => {}
        }
    }
    Ok(docs)
}

/// Consume one node starting with `first` without building it, as long as converting it could
/// not fail and nothing else could need it: untagged, unanchored, no alias, no merge key, no
/// null or collection key, no infinite or NaN float (JSON has none), not absurdly deep.
/// Anything else, or a syntax error, asks for a full parse ([`Retry::Full`]), which then
/// reports exactly what a full parse reports.
fn skip_value<'a>(
    parser: &mut Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    first: Event<'a>,
) -> Result<(), Retry> {
    // Open collections: (is a map, expecting a key).
    let mut open: Vec<(bool, bool)> = Vec::new();
    let mut event = first;
    loop {
        let is_key = matches!(open.last(), Some((true, true)));
        match &event {
            Event::Scalar(text, style, anchor, tag) => {
                if *anchor != 0 || tag.is_some() {
                    return Err(Retry::Full);
                }
                let plain = *style == ScalarStyle::Plain;
                let null = plain && matches!(&**text, "" | "~" | "null" | "Null" | "NULL");
                let non_finite = plain
                    && matches!(
                        &**text,
                        ".nan"
                            | ".NaN"
                            | ".NAN"
                            | ".inf"
                            | ".Inf"
                            | ".INF"
                            | "+.inf"
                            | "+.Inf"
                            | "+.INF"
                            | "-.inf"
                            | "-.Inf"
                            | "-.INF"
                    );
                if non_finite || (is_key && plain && (null || &**text == "<<")) {
                    return Err(Retry::Full);
                }
                if let Some((true, expecting_key)) = open.last_mut() {
                    *expecting_key = !*expecting_key;
                }
            }
            Event::SequenceStart(_, anchor, tag) | Event::MappingStart(_, anchor, tag) => {
                if *anchor != 0 || tag.is_some() || is_key || open.len() > 512 {
                    return Err(Retry::Full);
                }
                let is_map = matches!(event, Event::MappingStart(..));
                open.push((is_map, true));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                open.pop();
                if let Some((true, expecting_key)) = open.last_mut() {
                    *expecting_key = !*expecting_key;
                }
            }
            _ => return Err(Retry::Full),
        }
        if open.is_empty() {
            return Ok(());
        }
        event = match parser.next_event() {
            Some(Ok((e, _))) => e,
            _ => return Err(Retry::Full),
        };
    }
}

fn is_core_tag(tag: &Tag, suffix: &str) -> bool {
    // `!!binary` and `!!timestamp` are YAML 1.1 tags outside the 1.2 core schema.
    tag.is_yaml_core_schema_tag(suffix) || tag.parts() == ("tag:yaml.org,2002:", suffix)
}

/// go-yaml v2's `resolve` for one scalar.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Node, String> {
    if let Some(tag) = tag {
        if is_core_tag(tag, "str") {
            return Ok(Node::Str(text.into()));
        }
        if is_core_tag(tag, "binary") {
            return goyaml::decode_binary(text)
                .map(|s| Node::Str(s.into()))
                .ok_or_else(|| "!!binary value contains invalid base64 data".to_string());
        }
        for want in ["null", "bool", "int", "float"] {
            if !is_core_tag(tag, want) {
                continue;
            }
            // go-yaml resolves the text as if plain, then insists on the tag's type
            // (an integer satisfies !!float).
            let n = resolve_plain(text);
            let got = match &n {
                Node::Null => "null",
                Node::Bool(_) => "bool",
                Node::Int(_) => "int",
                Node::Float(_) => "float",
                _ => "str",
            };
            return match (want, n) {
                ("float", Node::Int(i)) => Ok(Node::Float(i as f64)),
                (w, n) if w == got => Ok(n),
                _ => Err(format!("cannot decode !!{got} `{text}` as a !!{want}")),
            };
        }
        if is_core_tag(tag, "map") || is_core_tag(tag, "seq") {
            return Err(format!(
                "cannot decode !!str `{text}` as a {}",
                tag.suffix()
            ));
        }
    }
    match style {
        ScalarStyle::Plain => Ok(resolve_plain(text)),
        _ => Ok(Node::Str(text.into())),
    }
}

/// Resolution of an untagged plain scalar (YAML 1.1 as go-yaml v2 does it).
pub(crate) fn resolve_plain_value(text: &str) -> PlainKind {
    match resolve_plain(text) {
        Node::Null => PlainKind::Null,
        Node::Bool(_) => PlainKind::Bool,
        Node::Int(_) => PlainKind::Int,
        Node::Float(_) => PlainKind::Float,
        _ => PlainKind::Str,
    }
}

/// What a plain scalar resolves to, for the emitter's quoting decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainKind {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

fn resolve_plain(text: &str) -> Node {
    match text {
        "<<" => return Node::Merge,
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Node::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Node::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Node::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.' {
        if looks_like_timestamp(text) {
            return Node::Str(text.into());
        }
        let plain: String = text.chars().filter(|&c| c != '_').collect();
        if let Some(i) = go_parse_int(&plain) {
            return Node::Int(i);
        }
        // Go's ParseFloat fails on overflow (1e400), and go-yaml then keeps the text as a string.
        if is_yaml_float(&plain)
            && let Ok(f) = plain.parse::<f64>()
            && f.is_finite()
        {
            return Node::Float(f);
        }
        if let Some(rest) = plain.strip_prefix("0b")
            && let Ok(i) = i128::from_str_radix(rest, 2)
        {
            return Node::Int(i);
        }
        if let Some(rest) = plain.strip_prefix("-0b")
            && let Ok(i) = i128::from_str_radix(rest, 2)
        {
            return Node::Int(-i);
        }
    }
    Node::Str(text.into())
}

/// go-yaml v2's timestamp forms (kept as strings when decoded into `interface{}`).
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    // YYYY-M?M-D?D then optional [Tt ]time...
    let mut i = 0;
    let digits = |i: &mut usize, min: usize, max: usize| -> bool {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start >= min
    };
    if !digits(&mut i, 4, 4) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !digits(&mut i, 1, 2) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !digits(&mut i, 1, 2) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    // A time part: go parses with a fixed set of layouts; accept the common shape.
    let rest = &s[i..];
    let rest = rest.strip_prefix(['T', 't', ' ']).unwrap_or("");
    let rest = rest.trim_start();
    let rb = rest.as_bytes();
    rb.len() >= 5 && rb[0].is_ascii_digit() && rest.contains(':')
}

/// Go's `strconv.ParseInt(s, 0, 64)` (with ParseUint fallback), on an underscore-free string.
fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    if v < i64::MIN as i128 || v > u64::MAX as i128 {
        return None;
    }
    Some(v)
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let count = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if count(&mut i) == 0 {
            return false;
        }
    } else {
        if count(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            count(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if count(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_float_g(f: f64) -> String {
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
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    format_g_digits(&format!("{f:e}"))
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: shortest digits of the float32.
pub fn format_float_g32(f: f32) -> String {
    if !f.is_finite() || f == 0.0 {
        return format_float_g(f as f64);
    }
    format_g_digits(&format!("{f:e}"))
}

/// `%g` layout from Rust's shortest `{:e}` rendering.
fn format_g_digits(e: &str) -> String {
    let (mant, exp) = e.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (neg, mant) = mant.strip_prefix('-').map_or((false, mant), |m| (true, m));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        // %e form with at least two exponent digits.
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let (es, ea) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        format!("{sign}{m}e{es}{ea:02}")
    } else if exp < 0 {
        format!("{sign}0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{}{}", digits, "0".repeat(int_len - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
        }
    }
}

/// Convert a go-yaml node to what `json.Unmarshal` into `interface{}` gives:
/// numbers become float64, keys strings.
fn to_json_value(node: Node, depth: usize) -> Result<Value, YamlError> {
    if depth > 10_000 {
        return Err(YamlError::convert("exceeded max depth".into()));
    }
    Ok(match node {
        Node::Null => Value::Nil,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Float(i as f64),
        Node::Float(f) => {
            if !f.is_finite() {
                return Err(YamlError::convert(format!(
                    "json: unsupported value: {}",
                    format_float_g(f)
                )));
            }
            Value::Float(f)
        }
        Node::Str(s) => Value::String(s),
        Node::Merge => Value::str("<<"),
        Node::Seq(items) => Value::list(
            items
                .into_iter()
                .map(|n| to_json_value(n, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut m = Map::new();
            merge_into(&mut m, entries, depth, None)?;
            Value::map(m)
        }
    })
}

/// The errors [`to_json_value`] would give for `node`, in the same order, without building
/// anything (for values a caller does not need).
fn check_json_value(node: &Node, depth: usize) -> Result<(), YamlError> {
    if depth > 10_000 {
        return Err(YamlError::convert("exceeded max depth".into()));
    }
    match node {
        Node::Float(f) if !f.is_finite() => Err(YamlError::convert(format!(
            "json: unsupported value: {}",
            format_float_g(*f)
        ))),
        Node::Seq(items) => items
            .iter()
            .try_for_each(|n| check_json_value(n, depth + 1)),
        Node::Map(entries) => check_entries(entries, depth),
        _ => Ok(()),
    }
}

/// [`check_json_value`] for map entries, as [`merge_into`] walks them.
fn check_entries(entries: &[(Node, Node)], depth: usize) -> Result<(), YamlError> {
    for (k, v) in entries {
        if matches!(k, Node::Merge) {
            let merged: &[Node] = match v {
                Node::Seq(items) => items,
                other => std::slice::from_ref(other),
            };
            for item in merged {
                let Node::Map(inner) = item else {
                    return Err(YamlError::convert(
                        "yaml: map merge requires map or sequence of maps as the value".into(),
                    ));
                };
                check_entries(inner, depth + 1)?;
            }
            continue;
        }
        if matches!(k, Node::Seq(_) | Node::Map(_) | Node::Null) {
            key_string(k, v)?;
        }
        check_json_value(v, depth + 1)?;
    }
    Ok(())
}

/// `keep`: convert only the entries with these keys (the others are only checked).
fn merge_into(
    m: &mut Map,
    entries: Vec<(Node, Node)>,
    depth: usize,
    keep: Option<&[&str]>,
) -> Result<(), YamlError> {
    for (k, v) in entries {
        if matches!(&k, Node::Merge) {
            match v {
                Node::Map(inner) => merge_into(m, inner, depth + 1, keep)?,
                Node::Seq(items) => {
                    // go-yaml merges the list backwards: earlier maps take precedence.
                    for item in items.into_iter().rev() {
                        if let Node::Map(inner) = item {
                            merge_into(m, inner, depth + 1, keep)?;
                        } else {
                            return Err(YamlError::convert(
                                "yaml: map merge requires map or sequence of maps as the value"
                                    .into(),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(YamlError::convert(
                        "yaml: map merge requires map or sequence of maps as the value".into(),
                    ));
                }
            }
            continue;
        }
        let key = key_string(&k, &v)?;
        if keep.is_some_and(|keep| !keep.contains(&key.as_str())) {
            check_json_value(&v, depth + 1)?;
            continue;
        }
        m.insert(key, to_json_value(v, depth + 1)?);
    }
    Ok(())
}

fn key_string(k: &Node, v: &Node) -> Result<String, YamlError> {
    Ok(match k {
        Node::Str(s) => s.to_string(),
        Node::Merge => "<<".to_string(),
        Node::Int(i) => i.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Float(f) => {
            // sigs.k8s.io/yaml formats float keys with 32-bit precision.
            let s = format_float_g32(*f as f32);
            match s.as_str() {
                "+Inf" => ".inf".into(),
                "-Inf" => "-.inf".into(),
                "NaN" => ".nan".into(),
                _ => s,
            }
        }
        // sigs.k8s.io/yaml refuses a nil key (`null:`, `~:`, `? `), naming the value.
        Node::Null => {
            return Err(YamlError::convert(format!(
                "unsupported map key of type: %!s(<nil>), key: <nil>, value: {}",
                go_sharp_v(v, true)
            )));
        }
        other => {
            return Err(YamlError::convert(format!(
                "unsupported map key of type: {}",
                node_kind(other)
            )));
        }
    })
}

fn node_kind(n: &Node) -> &'static str {
    match n {
        Node::Seq(_) => "[]interface {}",
        Node::Map(_) => "map[interface {}]interface {}",
        _ => "scalar",
    }
}

/// Go's `%#v` of what go-yaml decoded (`top`: not inside a collection, where a nil
/// interface prints as `<nil>` rather than `interface {}(nil)`).
fn go_sharp_v(n: &Node, top: bool) -> String {
    match n {
        Node::Null if top => "<nil>".into(),
        Node::Null => "interface {}(nil)".into(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => format_float_g(*f),
        Node::Str(s) => gotemplate::gofmt::quote(s),
        Node::Merge => gotemplate::gofmt::quote("<<"),
        Node::Seq(items) => format!(
            "[]interface {{}}{{{}}}",
            items
                .iter()
                .map(|x| go_sharp_v(x, false))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Node::Map(entries) => {
            // fmt prints map keys sorted; later duplicates win, as in the Go map.
            let mut m: Vec<(String, String)> = Vec::new();
            for (k, v) in entries {
                let k = go_sharp_v(k, false);
                let v = go_sharp_v(v, false);
                match m.iter_mut().find(|(x, _)| *x == k) {
                    Some(e) => e.1 = v,
                    None => m.push((k, v)),
                }
            }
            m.sort();
            let body: Vec<String> = m.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[interface {{}}]interface {{}}{{{}}}", body.join(", "))
        }
    }
}

/// go-yaml's decoder refuses a sequence or mapping as a mapping key (Go can't hash
/// it) before anything is converted: the first one in document order.
fn check_map_keys(n: &Node) -> Result<(), YamlError> {
    match n {
        Node::Seq(items) => items.iter().try_for_each(check_map_keys),
        Node::Map(entries) => entries.iter().try_for_each(|(k, v)| {
            if matches!(k, Node::Seq(_) | Node::Map(_)) {
                return Err(YamlError::goyaml(
                    None,
                    &format!("invalid map key: {}", go_sharp_v(k, true)),
                ));
            }
            check_map_keys(v)
        }),
        _ => Ok(()),
    }
}

/// Parse the first document of `text` as Helm reads YAML into `interface{}`.
/// An empty document is `Nil`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut docs = parse_first(text)?;
    if docs.is_empty() {
        return Ok(Value::Nil);
    }
    check_map_keys(&docs[0])?;
    to_json_value(docs.swap_remove(0), 0)
}

/// The first document of `text` as `sigs.k8s.io/yaml` turns a manifest into JSON for the API
/// server (kubectl's, Helm's and Argo CD's clients read manifests this way): go-yaml v2's
/// YAML 1.1 scalars (`yes` is `true`, `0755` octal), merge keys, a repeated key taking its last
/// value, non-string keys as their text, integers kept exact (a whole float is the integer
/// Go's JSON round trip makes of it). An empty document is `Null`.
pub fn parse_json(text: &str) -> Result<serde_json::Value, YamlError> {
    let mut docs = parse_first(text)?;
    if docs.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    check_map_keys(&docs[0])?;
    to_serde_value(docs.swap_remove(0), 0)
}

/// [`to_json_value`] into `serde_json`, integers exact.
fn to_serde_value(node: Node, depth: usize) -> Result<serde_json::Value, YamlError> {
    use serde_json::Value as J;
    if depth > 10_000 {
        return Err(YamlError::convert("exceeded max depth".into()));
    }
    Ok(match node {
        Node::Null => J::Null,
        Node::Bool(b) => J::Bool(b),
        Node::Int(i) => match (i64::try_from(i), u64::try_from(i)) {
            (Ok(v), _) => J::from(v),
            (_, Ok(v)) => J::from(v),
            _ => J::from(i as f64),
        },
        Node::Float(f) => {
            if !f.is_finite() {
                return Err(YamlError::convert(format!(
                    "json: unsupported value: {}",
                    format_float_g(f)
                )));
            }
            // encoding/json writes a whole float below 1e21 without exponent; the API
            // server's decoder then reads it as an integer.
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                J::from(f as i64)
            } else {
                J::from(f)
            }
        }
        Node::Str(s) => J::String(s.to_string()),
        Node::Merge => J::String("<<".into()),
        Node::Seq(items) => J::Array(
            items
                .into_iter()
                .map(|n| to_serde_value(n, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut m = serde_json::Map::new();
            merge_into_serde(&mut m, entries, depth)?;
            J::Object(m)
        }
    })
}

/// [`merge_into`] into `serde_json`.
fn merge_into_serde(
    m: &mut serde_json::Map<String, serde_json::Value>,
    entries: Vec<(Node, Node)>,
    depth: usize,
) -> Result<(), YamlError> {
    for (k, v) in entries {
        if matches!(&k, Node::Merge) {
            let maps = match v {
                Node::Map(inner) => vec![Node::Map(inner)],
                // go-yaml merges the list backwards: earlier maps take precedence.
                Node::Seq(items) => items.into_iter().rev().collect(),
                _ => vec![Node::Null],
            };
            for item in maps {
                let Node::Map(inner) = item else {
                    return Err(YamlError::convert(
                        "yaml: map merge requires map or sequence of maps as the value".into(),
                    ));
                };
                merge_into_serde(m, inner, depth + 1)?;
            }
            continue;
        }
        let key = key_string(&k, &v)?;
        m.insert(key, to_serde_value(v, depth + 1)?);
    }
    Ok(())
}

/// [`parse`] with the same errors, but a top-level map keeps only the entries with these
/// keys: for reading an object's head without building the rest of a large document.
pub fn parse_keys(text: &str, keep: &[&str]) -> Result<Value, YamlError> {
    // Most manifests are plain block YAML: a line scan vouches for the whole document and
    // only the kept root entries are parsed.
    if let Some(head) = fast_head::head_text(text, keep) {
        if head.is_empty() {
            // A root mapping without any of the keys.
            return Ok(Value::map(Map::new()));
        }
        if let Ok(v) = parse_keys_with(&head, keep, true) {
            return Ok(v);
        }
    }
    parse_keys_with(text, keep, true)
}

/// `skip`: let the parser leave the other values unbuilt (only checked); `false` builds
/// the whole document first (the reference the fast path is tested against).
fn parse_keys_with(text: &str, keep: &[&str], skip: bool) -> Result<Value, YamlError> {
    let mut docs = if skip {
        parse_docs_keeping(text, 1, Some(keep))?
    } else {
        parse_docs_full(text, 1, None)?
    };
    if docs.is_empty() {
        return Ok(Value::Nil);
    }
    check_map_keys(&docs[0])?;
    match docs.swap_remove(0) {
        Node::Map(entries) => {
            let mut m = Map::new();
            merge_into(&mut m, entries, 0, Some(keep))?;
            Ok(Value::map(m))
        }
        other => to_json_value(other, 0),
    }
}

/// Parse a values-like document: must be a map (or empty). Helm's `ReadValues`.
pub fn parse_map(text: &str) -> Result<Map, YamlError> {
    match parse(text)? {
        Value::Nil => Ok(Map::new()),
        Value::Map(m, _) => Ok(m.snapshot()),
        // sigs.k8s.io/yaml's JSON step, after a successful conversion: no YAML prefix.
        other => Err(YamlError {
            line: None,
            message: format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            ),
        }),
    }
}

/// Every document of a stream (Helm's `fromYamlArray` reads only one; this serves tests and CRDs).
pub fn parse_all(text: &str) -> Result<Vec<Value>, YamlError> {
    parse_nodes(text)?
        .into_iter()
        .map(|n| to_json_value(n, 0))
        .collect()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(..) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Float(_) | Value::Int(..) => "number",
        _ => "object",
    }
}

/// The fast head scan seen from outside, for `helm`'s test that runs it over every document
/// the corpus charts render (rendering is `helm`'s). Not part of the API.
#[doc(hidden)]
pub mod fast_head_testing {
    use super::{Value, YamlError};

    /// True when the scan vouches for `doc` (the full parse is skipped).
    pub fn accepts(doc: &str, keep: &[&str]) -> bool {
        super::fast_head::head_text(doc, keep).is_some()
    }

    /// Why the scan declines `doc`.
    pub fn why_declined(doc: &str) -> String {
        super::fast_head::why_declined(doc)
    }

    /// Whether the fast builder builds `doc` (`Ok(true)`), declines it (`Ok(false)`), or
    /// builds something other than the full parser (`Err` with both).
    pub fn fast_block_agrees(doc: &str) -> Result<bool, String> {
        let Some(fast) = super::fast_block::parse(doc) else {
            return Ok(false);
        };
        match super::parse_docs_full(doc, 1, None) {
            Ok(full) if full.len() == 1 && full[0] == fast => Ok(true),
            other => Err(format!("fast: {fast:?}\nfull: {other:?}")),
        }
    }

    /// The full parse the scan must agree with.
    pub fn parse_keys_full(doc: &str, keep: &[&str]) -> Result<Value, YamlError> {
        super::parse_keys_with(doc, keep, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines that exercise what can make a document's conversion fail or depend on other
    /// parts of it (anchors, aliases, merges, tags, odd keys, special floats, syntax errors).
    const LINES: &[&str] = &[
        "kind: A",
        "apiVersion: v1",
        "metadata:",
        "  name: x",
        "  name: .inf",
        "  namespace: 3",
        "spec:",
        "  a: 1",
        "  b: .nan",
        "  c: &x {d: 1}",
        "  e: *x",
        "  <<: {f: 2}",
        "  <<: 3",
        "  ~: 1",
        "  ? [a]\n  : 1",
        "  g: !!str 5",
        "  h: !!int x",
        "  - 1",
        "- a",
        "  i: [1, {j: .inf}]",
        "  k: 'q'",
        "  l: |\n    text",
        "<<: {kind: M}",
        "x: &y\n  kind: N",
        "z: *y",
        "  m: null",
        "  n:\n    - o\n    - p: .NaN",
        "\tq: 1",
        "  bad: : x",
        "  \"r\": 1",
        "  1: one",
        "  true: t",
        "  null: n",
        "top: [a, *nope]",
        "data:",
        "  s: -.Inf",
        "  '<<': 1",
        "  t: {? {u: 1} : v}",
        "  w: !custom x",
        "spec: [1, 2",
        "  ''",
        "status: {a: [b, {c: ~}]}",
        "  &z v: 1",
        "  deep: [[[[[1]]]]]",
        "  key with spaces: v",
        "  x: \"unterminated",
        "  a: &s v",
        "kind: *s",
        "metadata: *x",
        "  name: *z",
        "spec: &s v\nkind: *s",
        "spec:\n  a: &s v\nkind: *s",
        "spec: &m {name: n}\nmetadata: *m",
        "s: !!float 1\nkind: k",
        "labels: {app.kubernetes.io/name: api, tier: \"web\"}",
        "  - {name: http, port: 80, targetPort: http}",
        "- {a: 1}",
        "  sel: {a: b,}",
        "  sel: {a:b}",
        "  cmd: [\"sh\", \"-c\", 'echo hi']",
    ];

    /// Lines at various indentations, most of them the shapes rendered manifests have, some
    /// of them invalid or outside the fast path's subset.
    const SHAPED: &[&str] = &[
        "kind: A",
        "apiVersion: v1",
        "metadata:",
        "  name: x",
        "  labels:",
        "    a: b",
        "    c: \"d\"",
        "spec:",
        "  x: 1",
        "  y: 'z'",
        "  list:",
        "  - a",
        "  - b: c",
        "    d: e",
        "- f",
        "    - g",
        "  z: |",
        "    text",
        "",
        "   ",
        "# c",
        "  # c",
        "  w: >-",
        "      folded",
        "  v: [a, \"b\"]",
        "  u: {}",
        "  t: []",
        "  s: a b c",
        "    continued",
        "  r: x # comment",
        "data:",
        "  k: v:",
        "  q: \"a\\nb\"",
        "  p: 'it''s'",
        "  o: -1",
        "  n: ~",
        "    deeper: 1",
        "      deepest: 2",
        "status: {}",
        "  m: a: b",
        "kind: B",
        "  l: |+",
        "  j: \"x\"y",
        "  i: 1.5",
        "  h: .inf",
        "  \"g\": 1",
        "  f: [--x]",
        "  e: http://x",
        "- - a",
        "  -",
        "  - ",
        " bad: 1",
        "  key: \"\\x41\"",
        "  key2: \"\\uD800\"",
        "list:",
        "- a: 1",
        "  b: 2",
        "- c",
        "  - d",
        "metadata: {}",
        "  name: \"q\" # c",
        "  empty:",
        "      x: 1",
        "    y: 2",
        "  'k': v",
        "  lit: |-",
        "",
        "      indented more",
        "    back",
        "  arr: [1, 2, three]",
        "  on: yes",
        "  1: one",
        "  .inf: x",
        "  key: \"unterminated",
        "  - \"q\"",
        "  - |",
        "      block in seq",
    ];

    /// When the line scanner vouches for `text`, the full parser reads it without error and the
    /// head read from the kept entries alone is the head of the whole.
    fn fast_head_agrees(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let keep = &["apiVersion", "kind", "metadata"];
        if fast_head::head_text(text, keep).is_some() {
            let full = parse_keys_with(text, keep, false);
            let fast = parse_keys(text, keep);
            proptest::prop_assert!(full.is_ok(), "{text:?} accepted but {full:?}");
            proptest::prop_assert_eq!(
                fast.map(|v| gotemplate::gofmt::sprint(&v)),
                full.map(|v| gotemplate::gofmt::sprint(&v)),
                "{:?}",
                text
            );
        }
        Ok(())
    }

    proptest::proptest! {
        /// When the line scanner vouches for a document, the full parser reads it without
        /// error and the head read from the kept entries alone is the head of the whole.
        #[test]
        fn fast_head_scan_only_accepts_what_the_full_parse_reads_the_same(
            picks in proptest::collection::vec(0..SHAPED.len(), 1..14)
        ) {
            let text: String = picks.iter().map(|&i| format!("{}\n", SHAPED[i])).collect();
            fast_head_agrees(&text)?;
        }
    }

    /// A small deterministic generator of block YAML documents shaped like manifests, then
    /// (mostly) damaged by one edit, so that both sides of the scanner's line are explored.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.next(from.len())]
        }
        fn scalar(&mut self) -> String {
            self.pick(&[
                "x",
                "1",
                "-1",
                "1.5",
                "true",
                "~",
                "null",
                "\"q\"",
                "'s'",
                "'it''s'",
                "a b",
                "http://h:1/p",
                "\"a\\nb\"",
                "[]",
                "{}",
                "[a, \"b\"]",
                "x # c",
                "\"x\" # c",
                "yes",
                "0o17",
                "2001-12-14",
                "a'b",
                "c\"d",
                ".5",
                "[1, 2]",
            ])
            .to_string()
        }
        fn key(&mut self) -> &'static str {
            self.pick(&[
                "a",
                "b",
                "name",
                "app.kubernetes.io/name",
                "'q'",
                "\"d\"",
                "x-y",
                "1",
                "on",
            ])
        }
        fn map(&mut self, indent: usize, depth: usize, out: &mut Vec<String>) {
            for _ in 0..1 + self.next(3) {
                self.entry(indent, depth, out);
            }
        }
        fn entry(&mut self, indent: usize, depth: usize, out: &mut Vec<String>) {
            let pad = " ".repeat(indent);
            let key = self.key();
            match if depth > 3 { 0 } else { self.next(6) } {
                0 | 1 => out.push(format!("{pad}{key}: {}", self.scalar())),
                2 => {
                    out.push(format!("{pad}{key}:"));
                    self.map(indent + 2, depth + 1, out);
                }
                3 => {
                    out.push(format!("{pad}{key}:"));
                    let at = indent + 2 * self.next(2);
                    self.seq(at, depth + 1, out);
                }
                4 => {
                    out.push(format!(
                        "{pad}{key}: {}",
                        self.pick(&["|", "|-", ">", ">-", "|+"])
                    ));
                    for _ in 0..self.next(3) {
                        let text = self.pick(&["text", "  more", "", "# not a comment", "k: v"]);
                        out.push(format!("{pad}  {text}"));
                    }
                }
                _ => {
                    out.push(format!(
                        "{pad}{key}: {}",
                        self.pick(&["long", "'quoted", "\"dq"])
                    ));
                    let close = self.pick(&["text", "more text'", "end\"", "x"]);
                    out.push(format!("{pad}  {close}"));
                }
            }
        }
        fn seq(&mut self, indent: usize, depth: usize, out: &mut Vec<String>) {
            let pad = " ".repeat(indent);
            for _ in 0..1 + self.next(3) {
                if self.next(2) == 0 || depth > 3 {
                    out.push(format!("{pad}- {}", self.scalar()));
                } else {
                    let key = self.key();
                    out.push(format!("{pad}- {key}: {}", self.scalar()));
                    self.map(indent + 2, depth + 1, out);
                }
            }
        }
        fn document(&mut self) -> String {
            let mut lines = vec!["apiVersion: v1".to_string(), "kind: K".to_string()];
            if self.next(2) == 0 {
                lines.push("metadata:".into());
                lines.push("  name: n".into());
            }
            self.map(0, 0, &mut lines);
            // One damaging edit most of the time.
            if !lines.is_empty() && self.next(4) != 0 {
                let at = self.next(lines.len());
                match self.next(5) {
                    0 => lines[at] = format!(" {}", lines[at]),
                    1 => lines[at] = lines[at].trim_start_matches(' ').to_string(),
                    2 => {
                        let suffix =
                            self.pick(&[": x", " #c", "\"", "'", " - a", ":", " &a", " *a"]);
                        lines[at].push_str(suffix);
                    }
                    3 => {
                        let extra = self.pick(LINES);
                        lines.insert(at, extra.to_string());
                    }
                    _ => lines[at] = format!("  {}", lines[at]),
                }
            }
            lines.join("\n") + "\n"
        }
    }

    proptest::proptest! {
        /// The same property over generated manifest-shaped documents.
        #[test]
        fn fast_head_scan_on_generated_documents(seed in 1u64..u64::MAX) {
            fast_head_agrees(&Gen(seed).document())?;
        }
    }

    proptest::proptest! {
        /// The node builder that skips the event parser builds exactly what the parser
        /// builds, on generated documents and on documents made of the tricky lines.
        #[test]
        fn fast_block_equals_full_parse_on_generated_documents(seed in 1u64..u64::MAX) {
            let text = Gen(seed).document();
            let agrees = fast_head_testing::fast_block_agrees(&text);
            proptest::prop_assert!(agrees.is_ok(), "{text:?}\n{}", agrees.err().unwrap_or_default());
        }

        #[test]
        fn fast_block_equals_full_parse_on_tricky_lines(
            picks in proptest::collection::vec(0..LINES.len(), 1..8)
        ) {
            let text: String = picks.iter().map(|&i| format!("{}\n", LINES[i])).collect();
            let agrees = fast_head_testing::fast_block_agrees(&text);
            proptest::prop_assert!(agrees.is_ok(), "{text:?}\n{}", agrees.err().unwrap_or_default());
        }
    }

    #[test]
    fn fast_block_builds_most_valid_generated_documents_and_block_scalars() {
        let (mut valid, mut built) = (0, 0);
        for seed in 1..3000u64 {
            let text = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)).document();
            if parse_docs_full(&text, 1, None).is_ok() {
                valid += 1;
                built += usize::from(fast_head_testing::fast_block_agrees(&text) == Ok(true));
            }
        }
        assert!(
            valid > 500 && built * 3 > valid,
            "{valid} valid, {built} built"
        );
        assert_eq!(
            fast_head_testing::fast_block_agrees("- x\n"),
            Ok(false),
            "a root sequence"
        );
        for doc in [
            "a: |\n  x\n\n  y\n\nb: 1\n",
            "a: |-\n  x\n   y\nb: 1\n",
            "a: |+\n  x\n\n\nb: 1\n",
            "a: |+\n  x\n\n",
            "a:\n- |\n  x\n  # not a comment\n- |-\n  y\n",
            "a:\n  - k: |\n      x\n    j: \"q\\u00e9\\n\"\n  - ['a', b, \"c d\", 1, yes]\n",
            "'k': 'it''s'\n\"q\": {}\nn: []\n",
            "a:\n  - {name: http, port: 80}\n  - [x, 'y']\nm: {a.b/c: d, e: \"f g\", n: 1, t: yes}\n",
            // The end of a text without a final line break, inside a block scalar.
            "a: |\n  x",
            "a: |+\n  x\n\n  ",
            "a: |-\n  x\n  y",
            "a: |\nb: |-\nc: 1\n",
            // Multi-line plain and single-quoted scalars, as CRD descriptions are written.
            "d:\n  description: Operation contains information about a requested or running\n    operation\n\n    more\n  type: object\n",
            "d: 'it''s\n  folded  \n\n  here  '\ne: x\n",
        ] {
            assert_eq!(
                fast_head_testing::fast_block_agrees(doc),
                Ok(true),
                "{doc:?}"
            );
        }
    }

    #[test]
    fn generated_documents_are_mostly_accepted_when_valid() {
        // The generator is only useful if the scanner accepts a good share of what it makes.
        let keep = &["apiVersion", "kind", "metadata"];
        let (mut valid, mut accepted) = (0, 0);
        for seed in 1..3000u64 {
            let text = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)).document();
            if parse_keys_with(&text, keep, false).is_ok() {
                valid += 1;
                accepted += usize::from(fast_head::head_text(&text, keep).is_some());
            }
        }
        eprintln!("generated: {valid} valid, {accepted} of them accepted");
        assert!(
            valid > 500 && accepted * 2 > valid,
            "{valid} valid, {accepted} accepted"
        );
    }

    proptest::proptest! {
        /// Reading only the head keys gives what reading the whole document and then
        /// picking them gives: the same values and the same first error.
        #[test]
        fn head_keys_fast_path_equals_full_parse(
            picks in proptest::collection::vec(0..LINES.len(), 1..8)
        ) {
            let text: String = picks.iter().map(|&i| format!("{}\n", LINES[i])).collect();
            let keep = &["apiVersion", "kind", "metadata"];
            let fast = parse_keys_with(&text, keep, true);
            let full = parse_keys_with(&text, keep, false);
            match (&fast, &full) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(
                    gotemplate::gofmt::sprint(a),
                    gotemplate::gofmt::sprint(b),
                    "{:?}", text
                ),
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b, "{:?}", text),
                _ => proptest::prop_assert!(false, "{text:?}: {fast:?} vs {full:?}"),
            }
        }
    }

    fn get<'a>(m: &'a Map, k: &str) -> &'a Value {
        m.get(k).expect("key present")
    }

    #[test]
    fn yaml11_scalars_resolve_like_go_yaml_v2() {
        let m = parse_map(
            "a: yes\nb: off\nc: 0755\nd: 1_000\ne: 0x1F\nf: 2001-12-14\ng: '123'\nh: ~\ni: 1.5e3\nj: y\nk: 08\nl: .5\n",
        )
        .unwrap();
        assert!(matches!(get(&m, "a"), Value::Bool(true)));
        assert!(matches!(get(&m, "b"), Value::Bool(false)));
        assert!(matches!(get(&m, "c"), Value::Float(f) if *f == 493.0));
        assert!(matches!(get(&m, "d"), Value::Float(f) if *f == 1000.0));
        assert!(matches!(get(&m, "e"), Value::Float(f) if *f == 31.0));
        assert_eq!(get(&m, "f").as_str(), Some("2001-12-14"));
        assert_eq!(get(&m, "g").as_str(), Some("123"));
        assert!(get(&m, "h").is_nil());
        assert!(matches!(get(&m, "i"), Value::Float(f) if *f == 1500.0));
        assert!(matches!(get(&m, "j"), Value::Bool(true)));
        assert!(matches!(get(&m, "k"), Value::Float(f) if *f == 8.0));
        assert!(matches!(get(&m, "l"), Value::Float(f) if *f == 0.5));
    }

    #[test]
    fn merge_keys_anchors_and_key_conversion() {
        let m = parse_map("base: &b {x: 1, z: 2}\nd:\n  <<: *b\n  z: 3\n1: one\nyes: t\n").unwrap();
        let d = get(&m, "d").as_map().unwrap();
        assert!(matches!(d.get("x"), Some(Value::Float(f)) if f == 1.0));
        assert!(matches!(d.get("z"), Some(Value::Float(f)) if f == 3.0));
        assert_eq!(get(&m, "1").as_str(), Some("one"));
        assert_eq!(get(&m, "true").as_str(), Some("t"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_map("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.line.is_some());
        assert!(
            e.message
                .starts_with("error converting YAML to JSON: yaml: line"),
            "{}",
            e.message
        );
        assert!(parse_map("- 1\n- 2\n").is_err());
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(format_float_g(1e6), "1e+06");
        assert_eq!(format_float_g(3.0), "3");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(123456.0), "123456");
        assert_eq!(format_float_g(1.5), "1.5");
        assert_eq!(format_float_g(1e20), "1e+20");
        assert_eq!(format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float_g(-2.5e-7), "-2.5e-07");
    }
}
