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
        K::UnclosedFlowCollection { open: '{' } => (P, "did not find expected ',' or '}'"),
        K::UnclosedFlowCollection { .. } => (P, "did not find expected ',' or ']'"),
        // `a: ]`: libyaml scans the bracket, then finds no node where a value must be.
        K::MisplacedFlowCollectionEnd | K::MismatchedFlowCollectionEnd { .. } => {
            (P, "did not find expected node content")
        }
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

/// The first line after `after` (0-based) holding a token: not blank, not a comment.
fn next_token_line(text: &str, after: usize) -> Option<usize> {
    text.split('\n')
        .enumerate()
        .skip(after + 1)
        .find(|(_, l)| {
            let t = l.trim_start_matches([' ', '\t', '\r']);
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(i, _)| i)
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
pub(super) fn syntax_error(text: &str, e: &ScanError) -> YamlError {
    let kind = e.kind();
    let Some((stage, problem)) = classify(kind) else {
        return YamlError::syntax(e.marker().line().max(1), &e.info());
    };
    // Our marks are 1-based; libyaml's are 0-based.
    let mark_line0 = e.marker().line().saturating_sub(1);
    let at_end = e.marker().index() >= text.chars().count();
    let line0 = match kind {
        // Reported where input ran out: libyaml's mark is there, ours at the opener.
        ErrorKind::UnclosedQuotedScalar => text_end_line(text),
        ErrorKind::UnclosedFlowCollection { .. } => stream_end_line(text),
        // libyaml notices a stale key when it reaches the next token (or the end).
        ErrorKind::SimpleKeyExpected | ErrorKind::InvalidSimpleKey => {
            next_token_line(text, mark_line0).unwrap_or_else(|| stream_end_line(text))
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
