//! go-yaml v2's syntax error texts for the errors our YAML parser finds.
//!
//! Helm reads YAML with go-yaml v2 (through sigs.k8s.io/yaml), a port of libyaml, and
//! prints its errors as `yaml: line N: PROBLEM`. Our parser (granit, also libyaml's
//! descendant) finds the same problems at the same tokens for the errors users hit
//! (tabs, bad indentation, unclosed quotes and flow collections, a missing `:`, stray
//! indicators); this module words them as go-yaml does and numbers the line by
//! go-yaml's rules:
//!
//! - a *scanner* error names the 1-based line of the character where scanning failed;
//! - a *parser* error names the 0-based line of the unexpected token (go-yaml prints
//!   the mark without adding one), so it reads one less than the line in an editor;
//! - either way, a mark on the first line (0-based line 0) prints no line at all;
//! - the end of the stream is a token on a line of its own when the text does not end
//!   with a line break (libyaml forces a new line before STREAM-END).

use serde_saphyr::granit_parser::{ErrorKind, ScanError};

use super::YamlError;

/// The innermost collection open when the error came (none: at the top level).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Open {
    None,
    BlockMap,
    BlockSeq,
    FlowMap,
    FlowSeq,
}

/// Which libyaml stage reports a problem; they number lines differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Scanner,
    Parser,
}

/// go-yaml's wording and stage for one of our parser's errors. `None`: no
/// counterpart known; the caller keeps our own wording.
fn classify(kind: &ErrorKind) -> Option<(Stage, &'static str)> {
    use ErrorKind as K;
    use Stage::{Parser as P, Scanner as S};
    Some(match kind {
        // Parser errors (an unexpected token).
        K::ExpectedNodeContent | K::UnexpectedEof => (P, "did not find expected node content"),
        K::ExpectedBlockMappingKey | K::UnexpectedEofBlockMapping => {
            (P, "did not find expected key")
        }
        K::ExpectedBlockSequenceEntry | K::UnexpectedEofBlockSequence => {
            (P, "did not find expected '-' indicator")
        }
        K::ExpectedFlowSequenceSeparator | K::UnexpectedEofFlowSequence => {
            (P, "did not find expected ',' or ']'")
        }
        K::ExpectedFlowMappingSeparator
        | K::UnexpectedEofFlowMapping
        | K::UnexpectedEofImplicitFlowMapping => (P, "did not find expected ',' or '}'"),
        K::ExpectedDocumentStart | K::MissingDocumentEndBeforeDirective => {
            (P, "did not find expected <document start>")
        }
        K::ExpectedStreamStart => (P, "did not find expected <stream-start>"),
        K::UndeclaredTagHandle => (P, "found undefined tag handle"),
        K::DuplicateVersionDirective => (P, "found duplicate %YAML directive"),
        K::UnsupportedYamlMajorVersion => (P, "found incompatible YAML document"),
        K::DuplicateTagDirective => (P, "found duplicate %TAG directive"),
        K::UnclosedFlowCollection { open: '{' }
        | K::MismatchedFlowCollectionEnd { open: '{', .. } => {
            (P, "did not find expected ',' or '}'")
        }
        K::UnclosedFlowCollection { .. } | K::MismatchedFlowCollectionEnd { .. } => {
            (P, "did not find expected ',' or ']'")
        }
        // `a: ]`: libyaml scans the bracket, then finds no node where a value must be.
        K::MisplacedFlowCollectionEnd => (P, "did not find expected node content"),
        K::UnclosedVerbatimTag => (S, "did not find the expected '>'"),
        // `a: "x"y`: libyaml scans a second scalar where the next key must be.
        K::InvalidTrailingSingleQuotedScalar | K::InvalidTrailingDoubleQuotedScalar => {
            (P, "did not find expected key")
        }
        // Scanner errors (a character that cannot be scanned).
        K::UnexpectedCharacter { .. }
        | K::TabInIndentation
        | K::TabInBlockIndentation
        | K::TabNotAllowed
        | K::BomInsideDocument => (S, "found character that cannot start any token"),
        K::MappingValueNotAllowed
        | K::InvalidMappingValueWhitespace
        | K::FlowMappingValueAdjacentCollection
        | K::InvalidColonPlacement => (S, "mapping values are not allowed in this context"),
        K::MappingKeyNotAllowed => (S, "mapping keys are not allowed in this context"),
        // `a: b # c` then a deeper `d: e`: libyaml ends the scalar at the comment and
        // then meets a key where none may start.
        K::CommentInterceptedScalar => (P, "did not find expected key"),
        K::BlockSequenceEntryNotAllowed | K::BlockEntryInFlowCollection => {
            (S, "block sequence entries are not allowed in this context")
        }
        K::SimpleKeyExpected | K::InvalidSimpleKey => (S, "could not find expected ':'"),
        K::UnclosedQuotedScalar => (S, "found unexpected end of stream"),
        K::DocumentIndicatorInQuotedScalar => (S, "found unexpected document indicator"),
        K::UnknownQuotedScalarEscape => (S, "found unknown escape character"),
        K::InvalidQuotedScalarHexEscape | K::InvalidLowSurrogateHexEscape => {
            (S, "did not find expected hexdecimal number")
        }
        K::InvalidUnicodeEscape
        | K::InvalidLowSurrogate
        | K::MissingLowSurrogate
        | K::UnpairedLowSurrogate => (S, "found invalid Unicode character escape code"),
        K::TabInPlainScalar => (S, "found a tab character that violates indentation"),
        K::TabAtBlockScalarStart => (
            S,
            "found a tab character where an indentation space is expected",
        ),
        K::ZeroBlockScalarIndent => (S, "found an indentation indicator equal to 0"),
        K::InvalidBlockScalarHeader | K::InvalidDirectiveTerminator => {
            (S, "did not find expected comment or line break")
        }
        K::MissingAnchorOrAliasName => (S, "did not find expected alphabetic or numeric character"),
        K::InvalidTagTerminator | K::InvalidTagDirectiveTerminator => {
            (S, "did not find expected whitespace or line break")
        }
        K::MissingTagUri => (S, "did not find expected tag URI"),
        K::ExpectedTagBang | K::ExpectedTagDirectiveBang => (S, "did not find expected '!'"),
        K::MissingDirectiveName => (S, "could not find expected directive name"),
        K::InvalidDirectiveName => (S, "found unexpected non-alphabetical character"),
        K::MissingYamlVersion | K::MissingYamlVersionSeparator => {
            (S, "did not find expected digit or '.' character")
        }
        K::YamlVersionTooLong => (S, "found extremely long version number"),
        K::InvalidTagEscape | K::InvalidTagUtf8 => (S, "found an invalid escape sequence"),
        K::InvalidTagUtf8LeadingByte => (S, "found an incorrect leading UTF-8 octet"),
        K::InvalidTagUtf8TrailingByte => (S, "found an incorrect trailing UTF-8 octet"),
        _ => return None,
    })
}

/// The 0-based line libyaml's STREAM-END token is on: after the last line break, or
/// on a new line when the text does not end with one.
fn stream_end_line(text: &str) -> usize {
    let breaks = text.matches('\n').count();
    if text.is_empty() || text.ends_with('\n') {
        breaks
    } else {
        breaks + 1
    }
}

/// The 0-based line of the end of the text (no forced line break).
fn text_end_line(text: &str) -> usize {
    text.matches('\n').count()
}

/// Where libyaml notices that a key on line `key_line` (0-based) lacks its `:`: at the
/// next line holding anything (a plain scalar's scan stops before a comment line), or
/// the next token proper after a quoted key; at the stream end if there is none.
fn key_stale_line(text: &str, key_line: usize, skip_comments: bool) -> usize {
    text.split('\n')
        .enumerate()
        .skip(key_line + 1)
        .find(|(_, l)| {
            let t = l.trim_start_matches([' ', '\t', '\r']);
            let skipped = t.is_empty() || (skip_comments && t.starts_with('#'));
            !skipped
        })
        .map_or_else(|| stream_end_line(text), |(i, _)| i)
}

/// True if the last non-blank character before `index` (a char index) is an
/// indicator after which a node must follow (`:`, `-`, `?`), or there is none.
fn after_indicator(text: &str, index: usize) -> bool {
    let before: Vec<char> = text.chars().take(index).collect();
    match before.iter().rev().find(|c| !c.is_whitespace()) {
        None => true,
        Some(c) => matches!(c, ':' | '-' | '?'),
    }
}

/// True if line `line0` (0-based) starts with a quoted scalar not followed by `:`.
fn quoted_key_without_colon(text: &str, line0: usize) -> bool {
    let Some(line) = text.split('\n').nth(line0) else {
        return false;
    };
    let line = line.trim_start_matches([' ', '\t']);
    let mut chars = line.chars();
    let Some(q) = chars.next().filter(|c| *c == '"' || *c == '\'') else {
        return false;
    };
    // Skip to the closing quote (`\x` escapes in double quotes, `''` in single).
    let mut rest = chars.as_str();
    loop {
        let mut it = rest.chars();
        match it.next() {
            None => return false,
            Some('\\') if q == '"' => {
                it.next();
            }
            Some(c) if c == q => {
                if q == '\'' && it.as_str().starts_with('\'') {
                    it.next();
                } else {
                    rest = it.as_str();
                    break;
                }
            }
            Some(_) => {}
        }
        rest = it.as_str();
    }
    !rest.trim_start_matches([' ', '\t']).starts_with(':')
}

/// The innermost flow collection (`[` or `{`) open at char `index`, reading the text
/// roughly as libyaml's scanner does (quotes and comments hide brackets).
pub(super) fn innermost_flow(text: &str, index: usize) -> Option<char> {
    let mut open: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    let mut chars = text.chars().take(index).peekable();
    while let Some(c) = chars.next() {
        if comment {
            comment = c != '\n';
        } else if let Some(q) = quote {
            if q == '"' && c == '\\' {
                chars.next();
            } else if c == q {
                if q == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
        } else {
            match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
                '[' | '{' => open.push(c),
                ']' | '}' => {
                    open.pop();
                }
                _ => {}
            }
        }
        prev = c;
    }
    open.last().copied()
}

/// True if line `line0` (0-based) starts, after indentation, with a quote.
fn quoted_at_line_start(text: &str, line0: usize) -> bool {
    text.split('\n')
        .nth(line0)
        .is_some_and(|l| l.trim_start_matches([' ', '\t']).starts_with(['"', '\'']))
}

/// The first line from `from` (0-based) whose indentation holds a tab.
fn tab_indented_line(text: &str, from: usize) -> Option<usize> {
    text.split('\n')
        .enumerate()
        .skip(from)
        .find(|(_, l)| {
            l.chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .any(|c| c == '\t')
        })
        .map(|(i, _)| i)
}

/// Our parser's error `e` on `text`, as sigs.k8s.io/yaml words go-yaml's.
pub(super) fn syntax_error(text: &str, e: &ScanError, open: Open) -> YamlError {
    let kind = e.kind();
    let Some((mut stage, mut problem)) = classify(kind) else {
        return YamlError::syntax(e.marker().line().max(1), &e.info());
    };
    let mut token_after_quote = false;
    match kind {
        // In a flow collection libyaml accepts the `:` and then misses the separator.
        // (Our parser may not have opened the collection yet: it scans a flow
        // collection whole to see whether it is a key, so the text decides.)
        ErrorKind::MappingValueNotAllowed
        | ErrorKind::InvalidMappingValueWhitespace
        | ErrorKind::FlowMappingValueAdjacentCollection
        | ErrorKind::InvalidColonPlacement => match innermost_flow(text, e.marker().index()) {
            Some('[') => (stage, problem) = (Stage::Parser, "did not find expected ',' or ']'"),
            Some(_) => (stage, problem) = (Stage::Parser, "did not find expected ',' or '}'"),
            None => {}
        },
        // A bracket after a complete value, where the next entry must start.
        ErrorKind::MisplacedFlowCollectionEnd if !after_indicator(text, e.marker().index()) => {
            problem = match open {
                Open::BlockSeq => "did not find expected '-' indicator",
                _ => "did not find expected key",
            };
        }
        // `"a" 1` at the start of a line is a key missing its `:`.
        ErrorKind::InvalidTrailingSingleQuotedScalar
        | ErrorKind::InvalidTrailingDoubleQuotedScalar
            if quoted_key_without_colon(text, e.marker().line().saturating_sub(1)) =>
        {
            (stage, problem) = (Stage::Scanner, "could not find expected ':'");
        }
        // libyaml scans the token after the closing quote before its parser objects to
        // it: a token that cannot be scanned (`"x"|word`, `"x"@`) is the error it reports.
        ErrorKind::InvalidTrailingSingleQuotedScalar
        | ErrorKind::InvalidTrailingDoubleQuotedScalar => {
            let rest: String = text.chars().skip(e.marker().index()).take(80).collect();
            let unscannable = if innermost_flow(text, e.marker().index()).is_some() {
                // In a flow collection `|` and `>` are no block scalar indicators.
                rest.starts_with(['|', '>', '%', '@', '`'])
                    .then_some("found character that cannot start any token")
            } else {
                // (Not at column 0, so `%` starts no directive.)
                unscannable_token(&format!(" {rest}"))
            };
            if let Some(p) = unscannable {
                (stage, problem) = (Stage::Scanner, p);
                token_after_quote = true;
            }
        }
        _ => {}
    }
    // Our marks are 1-based; libyaml's are 0-based.
    let mark_line0 = e.marker().line().saturating_sub(1);
    let at_end = e.marker().index() >= text.chars().count();
    let line0 = match kind {
        // The unscannable token's own line.
        _ if token_after_quote => mark_line0,
        // Reported where input ran out: libyaml's mark is there, ours at the opener.
        ErrorKind::UnclosedQuotedScalar => text_end_line(text),
        ErrorKind::UnclosedFlowCollection { .. } => stream_end_line(text),
        // libyaml notices a stale key when it reaches the next token (or the end).
        ErrorKind::CommentInterceptedScalar => key_stale_line(text, mark_line0, true),
        ErrorKind::SimpleKeyExpected | ErrorKind::InvalidSimpleKey => {
            key_stale_line(text, mark_line0, quoted_at_line_start(text, mark_line0))
        }
        ErrorKind::InvalidTrailingSingleQuotedScalar
        | ErrorKind::InvalidTrailingDoubleQuotedScalar
            if stage == Stage::Scanner =>
        {
            key_stale_line(text, mark_line0, true)
        }
        // libyaml stops at the offending tab; ours marks the scalar.
        ErrorKind::TabInPlainScalar | ErrorKind::TabAtBlockScalarStart => {
            tab_indented_line(text, mark_line0).unwrap_or(mark_line0)
        }
        _ if at_end => match stage {
            Stage::Parser => stream_end_line(text),
            Stage::Scanner => text_end_line(text),
        },
        _ => mark_line0,
    };
    let shown = match (stage, line0) {
        (_, 0) => None,
        (Stage::Scanner, l) => Some(l + 1),
        (Stage::Parser, l) => Some(l),
    };
    YamlError::goyaml(shown, problem)
}

/// A `!!binary` scalar's text as go-yaml decodes it: standard base64 with padding,
/// line breaks ignored; the bytes read as a string. `None`: not valid base64.
pub(super) fn decode_binary(text: &str) -> Option<String> {
    let mut sextets = Vec::with_capacity(text.len());
    let mut padding = 0;
    for c in text.bytes().filter(|c| *c != b'\n' && *c != b'\r') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            _ => return None,
        };
        if padding > 0 {
            return None;
        }
        sextets.push(v);
    }
    // Padded to whole quanta of four, with exactly the padding the last one needs.
    if sextets.len() % 4 == 1 || padding != (4 - sextets.len() % 4) % 4 {
        return None;
    }
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &v)| acc | u32::from(v) << (18 - 6 * i));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// For a stray closing bracket at char `index`: the text before it, if that is a
/// document whose root is a flow collection, complete by then (go-yaml reads
/// that document and never looks further).
pub(super) fn flow_root_before(text: &str, index: usize) -> Option<&str> {
    let end = text
        .char_indices()
        .nth(index)
        .map_or(text.len(), |(i, _)| i);
    let prefix = &text[..end];
    let first = prefix
        .split('\n')
        .map(|l| l.trim_start_matches([' ', '\t', '\r']))
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let closed = innermost_flow(text, index).is_none();
    (closed && (first.starts_with('[') || first.starts_with('{'))).then_some(prefix)
}

/// A block scalar (`|`, `>`) being read: its parent's indentation and, once its
/// first content line is seen, its own.
struct BlockScalar {
    parent: usize,
    indent: Option<usize>,
}

/// go-yaml's tab rules that our parser does not enforce, checked on the first
/// document's text: in block context a tab may not start a line's indentation (libyaml
/// does not skip it where a simple key may start: `found character that cannot start
/// any token`), may not indent the continuation of a plain scalar below its
/// indentation (`found a tab character that violates indentation`), nor a block
/// scalar's lines (`found a tab character where an indentation space is expected`).
/// Returns the 0-based line and the error. Tabs in flow collections and inside
/// quoted scalars are fine, as in libyaml.
pub(super) fn tab_error(text: &str) -> Option<(usize, YamlError)> {
    const START: &str = "found character that cannot start any token";
    const PLAIN: &str = "found a tab character that violates indentation";
    const BLOCK: &str = "found a tab character where an indentation space is expected";
    let fail = |line0: usize, problem: &str| {
        Some((
            line0,
            YamlError::goyaml((line0 > 0).then_some(line0 + 1), problem),
        ))
    };
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    let mut block: Option<BlockScalar> = None;
    // The indentation a plain scalar ending the previous line continues at.
    let mut plain: Option<usize> = None;
    let mut seen_content = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let spaces = line.len() - line.trim_start_matches(' ').len();
        if let Some(b) = &mut block {
            let after = &line[spaces..];
            let blank = after.trim_start_matches([' ', '\t']).is_empty();
            match b.indent {
                Some(ind) if spaces < ind && after.starts_with('\t') => return fail(i, BLOCK),
                None if after.starts_with('\t') => return fail(i, BLOCK),
                _ => {}
            }
            if blank {
                continue;
            }
            let ind = *b.indent.get_or_insert(spaces.max(b.parent + 1));
            if spaces >= ind {
                continue;
            }
            block = None;
        }
        if quote.is_none() && flow == 0 {
            if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
                if seen_content {
                    return None; // go-yaml never reads past the first document
                }
                plain = None;
                continue;
            }
            let ws_len = line.len() - line.trim_start_matches([' ', '\t']).len();
            let (ws, rest) = line.split_at(ws_len);
            if let Some(tab) = ws.find('\t') {
                match plain {
                    Some(ind) if tab >= ind => {}
                    Some(_) => return fail(i, PLAIN),
                    None => return fail(i, START),
                }
            }
            if rest.is_empty() {
                continue;
            }
            if rest.starts_with('#') {
                plain = None;
                continue;
            }
            seen_content = true;
            // Block sequence indicators: a tab in the blanks after `-` is not skipped.
            let mut r = rest;
            while let Some(after) = r.strip_prefix('-') {
                if !(after.is_empty() || after.starts_with([' ', '\t'])) {
                    break;
                }
                let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
                if after[..blanks].contains('\t') {
                    return fail(i, START);
                }
                r = &after[blanks..];
            }
        }
        // Scan the line: quotes, flow brackets and a trailing comment.
        let start_flow = flow;
        let mut prev = ' ';
        let mut last = None; // last significant character outside a comment
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                if q == '"' && c == '\\' {
                    chars.next();
                } else if c == q {
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                        last = Some(c);
                    }
                }
                prev = c;
                continue;
            }
            match c {
                '#' if prev == ' ' || prev == '\t' => break,
                '"' | '\'' if prev == ' ' || prev == '\t' || "[{,:-".contains(prev) => {
                    quote = Some(c)
                }
                '[' | '{' => flow += 1,
                ']' | '}' => flow = flow.saturating_sub(1),
                _ => {}
            }
            if !c.is_whitespace() {
                last = Some(c);
            }
            prev = c;
        }
        if quote.is_some() || flow > 0 || start_flow > 0 {
            plain = None;
            continue;
        }
        let content = line.trim_start_matches([' ', '\t']);
        // The column of the collection this line's value belongs to: its key's, or
        // the last `-` indicator's when the line is a bare sequence entry.
        let mut col = line.len() - content.len();
        let mut entry = content;
        let mut dash_col = None;
        while let Some(after) = entry.strip_prefix('-') {
            if !(after.is_empty() || after.starts_with([' ', '\t'])) {
                break;
            }
            dash_col = Some(col);
            let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
            col += 1 + blanks;
            entry = &after[blanks..];
        }
        let has_key = entry.contains(": ") || entry.contains(":\t") || entry.ends_with(':');
        let parent = if has_key {
            col
        } else {
            dash_col.unwrap_or(col)
        };
        match last {
            Some(':' | '"' | '\'' | ']' | '}') | None => plain = None,
            Some(_) => {
                let value = line.trim_end_matches([' ', '\t']);
                let header = value
                    .rsplit([' ', '\t'])
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit());
                if header == "|" || header == ">" {
                    block = Some(BlockScalar {
                        parent,
                        indent: None,
                    });
                    plain = None;
                } else if has_key || dash_col.is_some() || plain.is_none() {
                    // A plain scalar ends the line (a continuation keeps its start's).
                    plain = Some(parent + 1);
                }
            }
        }
    }
    None
}

/// `text` with the tabs in the indentation of lines that start inside a flow
/// collection turned into spaces (same length, so marks do not move). libyaml
/// allows them there (they only separate flow entries); our parser refuses them
/// when the flow collection sits in a block one.
pub(super) fn untab_flow_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut index = 0; // char index of the current line's start
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let ws = line.len() - line.trim_start_matches([' ', '\t']).len();
        if line[..ws].contains('\t') && innermost_flow(text, index).is_some() {
            out.extend(line[..ws].chars().map(|_| ' '));
            out.push_str(&line[ws..]);
        } else {
            out.push_str(line);
        }
        index += line.chars().count() + 1;
    }
    out
}

/// The 0-based line of the first character libyaml's reader refuses (`control
/// characters are not allowed`): C0 controls other than tab and line breaks, DEL,
/// C1 controls other than NEL, U+FFFE and U+FFFF.
pub(super) fn control_char_line(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    // Almost every document has none of the bytes that can start one: a branch-free pass
    // (vectorised) first, as rendered CRDs can be megabytes.
    let suspect =
        |c: u8| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) | matches!(c, 0x7f | 0xc2 | 0xef);
    if !b
        .chunks(64)
        .any(|chunk| chunk.iter().fold(false, |acc, &c| acc | suspect(c)))
    {
        return None;
    }
    let bad = b.iter().enumerate().position(|(i, &c)| match c {
        b'\t' | b'\n' | b'\r' => false,
        0..0x20 | 0x7f => true,
        0xc2 => b
            .get(i + 1)
            .is_some_and(|&n| (0x80..0xa0).contains(&n) && n != 0x85),
        0xef => b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)),
        _ => false,
    })?;
    Some(b[..bad].iter().filter(|&&c| c == b'\n').count())
}

/// The 0-based line of the first line starting with '%' (a directive for libyaml's scanner).
pub(super) fn directive_line(text: &str) -> Option<usize> {
    if !(text.starts_with('%') || text.contains("\n%")) {
        return None;
    }
    text.split('\n').position(|l| l.starts_with('%'))
}

/// What libyaml's scanner says about the directive on line `line0`, if it refuses it:
/// a name of letters, digits, '-' and '_' followed by a blank; `YAML` with a version
/// `digits.digits`; `TAG`; nothing else. (A `%YAML` other than 1.1 is refused later.)
pub(super) fn directive_problem(text: &str, line0: usize) -> Option<&'static str> {
    let line = text.split('\n').nth(line0)?.trim_end_matches('\r');
    let rest = line.strip_prefix('%')?;
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(rest.len());
    if name_len == 0 {
        return Some("could not find expected directive name");
    }
    let (name, after) = rest.split_at(name_len);
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return Some("found unexpected non-alphabetical character");
    }
    match name {
        "YAML" => {
            let version = after.trim_start_matches([' ', '\t']);
            let major = version
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(version.len());
            if major == 0 {
                return Some("did not find expected version number");
            }
            let Some(minor) = version[major..].strip_prefix('.') else {
                return Some("did not find expected digit or '.' character");
            };
            let minor_len = minor
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(minor.len());
            (minor_len == 0).then_some("did not find expected version number")
        }
        "TAG" => None,
        _ => Some("found unknown directive name"),
    }
}

/// libyaml's reader error (it names no line).
pub(super) fn control_char_error() -> YamlError {
    YamlError::goyaml(None, "control characters are not allowed")
}

/// Where go-yaml's first document ends when its root is an indented block
/// collection: at the first line (outside flow collections and quoted scalars) that
/// starts left of the root's column. libyaml closes the root there and reads no
/// further, whatever follows. Returns that line's byte offset.
pub(super) fn dedented_root_end(text: &str) -> Option<usize> {
    let mut root: Option<usize> = None;
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    let mut offset = 0;
    for line in text.split('\n') {
        let start = offset;
        offset += line.len() + 1;
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let at_token = flow == 0
            && quote.is_none()
            && !content.is_empty()
            && !content.starts_with(['#', '\t', '\r']);
        if at_token {
            match root {
                // Only a block collection closes on a dedent (a plain scalar root runs on).
                None if indent == 0
                    || content.starts_with(['[', '{', '"', '\'', '|', '>'])
                    || !(content.starts_with("- ")
                        || content == "-"
                        || content.contains(": ")
                        || content.contains(":\t")
                        || content.trim_end().ends_with(':')) =>
                {
                    return None;
                }
                None => root = Some(indent),
                Some(r) if indent < r => return Some(start),
                Some(_) => {}
            }
        }
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                if q == '"' && c == '\\' {
                    chars.next();
                } else if c == q {
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
            } else {
                match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    '"' | '\'' if prev == ' ' || prev == '\t' || "[{,:-".contains(prev) => {
                        quote = Some(c)
                    }
                    '[' | '{' => flow += 1,
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                }
            }
            prev = c;
        }
    }
    None
}

/// True if the quoted scalar `text` starts with is closed somewhere.
pub(super) fn quote_closes(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(q) = chars.next() else {
        return false;
    };
    while let Some(c) = chars.next() {
        if q == '"' && c == '\\' {
            chars.next();
        } else if c == q {
            if q == '\'' && chars.as_str().starts_with('\'') {
                chars.next();
            } else {
                return true;
            }
        }
    }
    false
}

/// The scanner error libyaml meets on the token at the start of `line` (the one
/// that closes an indented root, which it still scans), for the simple cases: a
/// character that starts no token, an unnamed directive, a bad block scalar header.
pub(super) fn unscannable_token(line: &str) -> Option<&'static str> {
    let line = line.split('\n').next().unwrap_or("");
    let token = line.trim_start_matches(' ');
    let at_column_0 = token.len() == line.len();
    if let Some(rest) = token.strip_prefix('%')
        && at_column_0
    {
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        return (name_len == 0).then_some("could not find expected directive name");
    }
    if token.starts_with(['%', '@', '`']) {
        return Some("found character that cannot start any token");
    }
    if let Some(rest) = token.strip_prefix(['|', '>']) {
        let rest = rest.trim_start_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit());
        let header = &token[1..token.len() - rest.len()];
        if header.contains('0') {
            return Some("found an indentation indicator equal to 0");
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with('#') || rest == "\r") {
            return Some("did not find expected comment or line break");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    /// Inputs and the errors real Helm v3.17.2 gave for them through `fromYaml`
    /// (recorded with a throwaway chart; see also the oracle case
    /// testdata/template-cases/helm-yaml/fromYaml-error-classes).
    const HELM: &[(&str, &str)] = &[
        (
            "a:\n\tb: 1\n",
            "line 2: found character that cannot start any token",
        ),
        (
            "a: b: c\n",
            "mapping values are not allowed in this context",
        ),
        (
            "x: 1\na: b: c\n",
            "line 2: mapping values are not allowed in this context",
        ),
        ("a: [1", "line 1: did not find expected ',' or ']'"),
        ("a: 1\nb\nc: 2\n", "line 3: could not find expected ':'"),
        ("a: 1\nb\n\n# c\n", "line 4: could not find expected ':'"),
        ("a:\n  b: 1\n c: 2\n", "line 2: did not find expected key"),
        ("a: 'abc\nb: 2\n", "line 3: found unexpected end of stream"),
        ("a: {b: 1, c\n", "line 1: did not find expected ',' or '}'"),
        ("- a\nb: 1\n", "line 1: did not find expected '-' indicator"),
        ("a: &x 1\nb: *y\n", "unknown anchor 'y' referenced"),
        (
            "key: value\n\tother: 1\n",
            "line 2: found a tab character that violates indentation",
        ),
        (
            "a: |\n\tb\n",
            "line 2: found a tab character where an indentation space is expected",
        ),
        ("a: \"\\q\"\n", "found unknown escape character"),
        ("a: ]\n", "did not find expected node content"),
        ("a: `x\n", "found character that cannot start any token"),
        ("a: !!int x\n", "cannot decode !!str `x` as a !!int"),
        ("a: !!null x\n", "cannot decode !!str `x` as a !!null"),
        (
            "a: !!binary \"%%\"\n",
            "!!binary value contains invalid base64 data",
        ),
        ("%YAML 1.3\n---\na: 1\n", "found incompatible YAML document"),
        ("a: \"x\"y\n", "did not find expected key"),
        ("\"a\": 1\n\"b\" 2\n", "line 3: could not find expected ':'"),
        (
            "a: [1, 2\nb: 3\n",
            "line 1: did not find expected ',' or ']'",
        ),
        ("a: [b, c]]\n", "did not find expected key"),
        ("{a: [b}\n", "did not find expected ',' or ']'"),
        ("a: !<x\n", "did not find the expected '>'"),
        // go-yaml's tab rules (oracle case helm-yaml/fromYaml-tabs).
        ("\ta: 1\n", "found character that cannot start any token"),
        (
            "a: 1\n\t\nb: 2\n",
            "line 2: found a tab character that violates indentation",
        ),
        (
            "a: \"x\"\n\t\nb: 2\n",
            "line 2: found character that cannot start any token",
        ),
        (
            "- a\n-\tb\n",
            "line 2: found character that cannot start any token",
        ),
        (
            "a: |\n  x\n\t\n  y\n",
            "line 3: found a tab character where an indentation space is expected",
        ),
        ("a: b\x01c\n", "control characters are not allowed"),
        (
            "a: *b#\n",
            "did not find expected alphabetic or numeric character",
        ),
        (
            "  a: 1\n % # c\n",
            "line 2: found character that cannot start any token",
        ),
    ];

    #[test]
    fn errors_read_as_go_yaml_v2_words_them() {
        for (input, want) in HELM {
            let got = parse(input).expect_err(input).message;
            assert_eq!(
                got,
                format!("error converting YAML to JSON: yaml: {want}"),
                "{input:?}"
            );
        }
    }

    #[test]
    fn go_yaml_reads_only_the_first_document_and_stops_at_its_root() {
        // Helm parsed these without error (what follows the root is never read).
        for input in [
            "a: 1\n---\nb: [\n",
            "{a: 1}}\n",
            "k: v\n---\n\tx: 1\n",
            "a: [\n\t1,\n\t2\n]\n",
            "a:\n  b: x\n    \t\n",
            "a:\tb\n",
            "a: 'x\n\ty'\n",
            "a: |\n  x\n  \ty\n",
            // An indented root ends at the first line left of it.
            "  a: 1\nb: 2\n",
            "  a: 1\n[b\n",
        ] {
            let v = parse(input).expect(input);
            assert!(v.as_map().is_some_and(|m| m.len() == 1), "{input:?}");
        }
        let v = parse("a: !!binary aGVsbG8=\n").expect("valid base64");
        assert_eq!(
            v.as_map()
                .and_then(|m| m.get("a"))
                .and_then(|a| a.as_str().map(str::to_owned)),
            Some("hello".to_owned())
        );
    }
}
