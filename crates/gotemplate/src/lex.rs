//! The template lexer: splits template text into Go `text/template` items (text, delimiters,
//! identifiers, fields, variables, literals...), including `{{-`/`-}}` trimming and comments.
//!
//! It follows the state machine of Go's `text/template/parse` lexer so that positions,
//! line numbers and error texts (`unclosed action`, `bad character U+0023 '#'`, ...)
//! come out the same.

/// Kind of a lexical item. Variants after `Keyword` are keywords (printed as `<word>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ItemType {
    Error,
    Bool,
    Char,
    CharConstant,
    Comment,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    Keyword,
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

#[derive(Clone, Debug)]
pub(crate) struct Item<'a> {
    pub typ: ItemType,
    pub pos: usize,
    /// The item's text (borrowed from the input), or an error message.
    pub val: std::borrow::Cow<'a, str>,
    pub line: usize,
}

impl std::fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            ItemType::Error => f.write_str(&self.val),
            t if t > ItemType::Keyword => write!(f, "<{}>", self.val),
            _ => {
                if self.val.chars().count() > 10 {
                    let short: String = self.val.chars().take(10).collect();
                    write!(f, "{}...", crate::gofmt::quote(&short))
                } else {
                    f.write_str(&crate::gofmt::quote(&self.val))
                }
            }
        }
    }
}

fn keyword(word: &str) -> Option<ItemType> {
    Some(match word {
        "." => ItemType::Dot,
        "block" => ItemType::Block,
        "break" => ItemType::Break,
        "continue" => ItemType::Continue,
        "define" => ItemType::Define,
        "else" => ItemType::Else,
        "end" => ItemType::End,
        "if" => ItemType::If,
        "range" => ItemType::Range,
        "nil" => ItemType::Nil,
        "template" => ItemType::Template,
        "with" => ItemType::With,
        _ => return None,
    })
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
const TRIM_MARKER_LEN: usize = 2;
/// Sentinel for end of input in `next`/`peek`.
const EOF: char = '\u{10FFFF}';

fn is_space(r: char) -> bool {
    matches!(r, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn is_alphanumeric(r: char) -> bool {
    r != EOF && (r == '_' || r.is_alphabetic() || r.is_numeric())
}

fn has_left_trim_marker(s: &[u8]) -> bool {
    s.len() >= 2 && s[0] == b'-' && is_space(s[1] as char)
}

fn has_right_trim_marker(s: &[u8]) -> bool {
    s.len() >= 2 && is_space(s[0] as char) && s[1] == b'-'
}

/// Newlines in `s` (a byte count the compiler vectorises; `str::matches` does not).
fn count_newlines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

/// Offset of the next `{{` (`memchr` for `{`, then a check of the next byte: template text is
/// mostly long stretches without braces, where this is several times faster than a
/// two-way substring search).
fn find_left_delim(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find('{') {
        let at = from + i;
        if b.get(at + 1) == Some(&b'{') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches([' ', '\t', '\r', '\n']).len()
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
}

pub(crate) struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    at_eof: bool,
    paren_depth: usize,
    line: usize,
    start_line: usize,
    inside_action: bool,
    pub break_ok: bool,
    pub continue_ok: bool,
    done: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a str) -> Self {
        Lexer {
            input,
            pos: 0,
            start: 0,
            at_eof: false,
            paren_depth: 0,
            line: 1,
            start_line: 1,
            inside_action: false,
            break_ok: true,
            continue_ok: true,
            done: false,
        }
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn next(&mut self) -> char {
        match self.rest().chars().next() {
            None => {
                self.at_eof = true;
                EOF
            }
            Some(r) => {
                self.pos += r.len_utf8();
                if r == '\n' {
                    self.line += 1;
                }
                r
            }
        }
    }

    fn peek(&mut self) -> char {
        let r = self.next();
        self.backup();
        r
    }

    fn backup(&mut self) {
        if !self.at_eof && self.pos > 0 {
            let r = self.input[..self.pos].chars().next_back().expect("pos > 0");
            self.pos -= r.len_utf8();
            if r == '\n' {
                self.line -= 1;
            }
        }
    }

    fn this_item(&mut self, typ: ItemType) -> Item<'a> {
        let it = Item {
            typ,
            pos: self.start,
            val: std::borrow::Cow::Borrowed(&self.input[self.start..self.pos]),
            line: self.start_line,
        };
        self.start = self.pos;
        self.start_line = self.line;
        it
    }

    fn ignore(&mut self) {
        self.line += count_newlines(&self.input[self.start..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn accept(&mut self, valid: &str) -> bool {
        let r = self.next();
        if r != EOF && valid.contains(r) {
            return true;
        }
        self.backup();
        false
    }

    fn accept_run(&mut self, valid: &str) {
        loop {
            let r = self.next();
            if r == EOF || !valid.contains(r) {
                break;
            }
        }
        self.backup();
    }

    fn errorf(&mut self, msg: String) -> Item<'a> {
        let it = Item {
            typ: ItemType::Error,
            pos: self.start,
            val: msg.into(),
            line: self.start_line,
        };
        self.done = true;
        it
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest().as_bytes();
        if has_right_trim_marker(rest)
            && rest[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM.as_bytes())
        {
            return (true, true);
        }
        if rest.starts_with(RIGHT_DELIM.as_bytes()) {
            return (true, false);
        }
        (false, false)
    }

    fn at_terminator(&mut self) -> bool {
        let r = self.peek();
        if is_space(r) {
            return true;
        }
        if matches!(r, EOF | '.' | ',' | '|' | ':' | ')' | '(') {
            return true;
        }
        self.rest().starts_with(RIGHT_DELIM)
    }

    /// Returns the next item. After an error or EOF it keeps returning EOF.
    pub fn next_item(&mut self) -> Item<'a> {
        if self.done {
            return Item {
                typ: ItemType::Eof,
                pos: self.pos,
                val: "EOF".into(),
                line: self.start_line,
            };
        }
        let mut state = if self.inside_action {
            State::InsideAction
        } else {
            State::Text
        };
        loop {
            match self.step(state) {
                Ok(item) => return item,
                Err(next) => state = next,
            }
        }
    }

    /// Runs one state function: either an item to emit or the next state.
    fn step(&mut self, state: State) -> Result<Item<'a>, State> {
        match state {
            State::Text => {
                if let Some(x) = find_left_delim(self.rest()) {
                    if x > 0 {
                        self.pos += x;
                        let mut trim = 0;
                        let delim_end = self.pos + LEFT_DELIM.len();
                        if has_left_trim_marker(&self.input.as_bytes()[delim_end..]) {
                            trim = right_trim_length(&self.input[self.start..self.pos]);
                        }
                        self.pos -= trim;
                        self.line += count_newlines(&self.input[self.start..self.pos]);
                        let it = self.this_item(ItemType::Text);
                        self.pos += trim;
                        self.ignore();
                        if !it.val.is_empty() {
                            return Ok(it);
                        }
                    }
                    return Err(State::LeftDelim);
                }
                self.pos = self.input.len();
                if self.pos > self.start {
                    self.line += count_newlines(&self.input[self.start..self.pos]);
                    return Ok(self.this_item(ItemType::Text));
                }
                let it = self.this_item(ItemType::Eof);
                self.done = true;
                Ok(it)
            }
            State::LeftDelim => {
                self.pos += LEFT_DELIM.len();
                let trim = has_left_trim_marker(self.rest().as_bytes());
                let after = if trim { TRIM_MARKER_LEN } else { 0 };
                if self.input[self.pos + after..].starts_with(LEFT_COMMENT) {
                    self.pos += after;
                    self.ignore();
                    return Err(State::Comment);
                }
                let it = self.this_item(ItemType::LeftDelim);
                self.inside_action = true;
                self.pos += after;
                self.ignore();
                self.paren_depth = 0;
                Ok(it)
            }
            State::Comment => {
                self.pos += LEFT_COMMENT.len();
                let Some(x) = self.rest().find(RIGHT_COMMENT) else {
                    return Ok(self.errorf("unclosed comment".into()));
                };
                self.pos += x + RIGHT_COMMENT.len();
                let (delim, trim) = self.at_right_delim();
                if !delim {
                    return Ok(self.errorf("comment ends before closing delimiter".into()));
                }
                self.line += count_newlines(&self.input[self.start..self.pos]);
                let _comment = self.this_item(ItemType::Comment);
                if trim {
                    self.pos += TRIM_MARKER_LEN;
                }
                self.pos += RIGHT_DELIM.len();
                if trim {
                    self.pos += left_trim_length(self.rest());
                }
                self.ignore();
                Err(State::Text)
            }
            State::RightDelim => {
                let (_, trim) = self.at_right_delim();
                if trim {
                    self.pos += TRIM_MARKER_LEN;
                    self.ignore();
                }
                self.pos += RIGHT_DELIM.len();
                let it = self.this_item(ItemType::RightDelim);
                if trim {
                    self.pos += left_trim_length(self.rest());
                    self.ignore();
                }
                self.inside_action = false;
                Ok(it)
            }
            State::InsideAction => {
                let (delim, _) = self.at_right_delim();
                if delim {
                    if self.paren_depth == 0 {
                        return Err(State::RightDelim);
                    }
                    return Ok(self.errorf("unclosed left paren".into()));
                }
                let r = self.next();
                match r {
                    EOF => Ok(self.errorf("unclosed action".into())),
                    r if is_space(r) => {
                        self.backup();
                        Err(State::Space)
                    }
                    '=' => Ok(self.this_item(ItemType::Assign)),
                    ':' => {
                        if self.next() != '=' {
                            return Ok(self.errorf("expected :=".into()));
                        }
                        Ok(self.this_item(ItemType::Declare))
                    }
                    '|' => Ok(self.this_item(ItemType::Pipe)),
                    '"' => Err(State::Quote),
                    '`' => Err(State::RawQuote),
                    '$' => Err(State::Variable),
                    '\'' => Err(State::Char),
                    '.' => {
                        if let Some(&c) = self.input.as_bytes().get(self.pos)
                            && !c.is_ascii_digit()
                        {
                            return Err(State::Field);
                        }
                        self.backup();
                        Err(State::Number)
                    }
                    '+' | '-' | '0'..='9' => {
                        self.backup();
                        Err(State::Number)
                    }
                    r if is_alphanumeric(r) => {
                        self.backup();
                        Err(State::Identifier)
                    }
                    '(' => {
                        self.paren_depth += 1;
                        Ok(self.this_item(ItemType::LeftParen))
                    }
                    ')' => {
                        if self.paren_depth == 0 {
                            return Ok(self.errorf("unexpected right paren".into()));
                        }
                        self.paren_depth -= 1;
                        Ok(self.this_item(ItemType::RightParen))
                    }
                    r if (' '..='~').contains(&r) => Ok(self.this_item(ItemType::Char)),
                    r => Ok(self.errorf(format!("unrecognized character in action: {}", fmt_u(r)))),
                }
            }
            State::Space => {
                let mut num_spaces = 0;
                loop {
                    let r = self.peek();
                    if !is_space(r) {
                        break;
                    }
                    self.next();
                    num_spaces += 1;
                }
                let b = &self.input.as_bytes()[self.pos - 1..];
                if has_right_trim_marker(b)
                    && b[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM.as_bytes())
                {
                    self.backup();
                    if num_spaces == 1 {
                        return Err(State::RightDelim);
                    }
                }
                Ok(self.this_item(ItemType::Space))
            }
            State::Identifier => loop {
                let r = self.next();
                if is_alphanumeric(r) {
                    continue;
                }
                self.backup();
                let word = &self.input[self.start..self.pos];
                if !self.at_terminator() {
                    return Ok(self.errorf(format!("bad character {}", fmt_u(r))));
                }
                let typ = match keyword(word) {
                    Some(ItemType::Break) if !self.break_ok => ItemType::Identifier,
                    Some(ItemType::Continue) if !self.continue_ok => ItemType::Identifier,
                    Some(k) => k,
                    None if word.starts_with('.') => ItemType::Field,
                    None if word == "true" || word == "false" => ItemType::Bool,
                    None => ItemType::Identifier,
                };
                return Ok(self.this_item(typ));
            },
            State::Field => self.field_or_variable(ItemType::Field),
            State::Variable => {
                if self.at_terminator() {
                    return Ok(self.this_item(ItemType::Variable));
                }
                self.field_or_variable(ItemType::Variable)
            }
            State::Char => {
                loop {
                    match self.next() {
                        '\\' => {
                            let r = self.next();
                            if r != EOF && r != '\n' {
                                continue;
                            }
                            return Ok(self.errorf("unterminated character constant".into()));
                        }
                        EOF | '\n' => {
                            return Ok(self.errorf("unterminated character constant".into()));
                        }
                        '\'' => break,
                        _ => {}
                    }
                }
                Ok(self.this_item(ItemType::CharConstant))
            }
            State::Number => {
                if !self.scan_number() {
                    let s = self.input[self.start..self.pos].to_string();
                    return Ok(
                        self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&s)))
                    );
                }
                let sign = self.peek();
                if sign == '+' || sign == '-' {
                    if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                        let s = self.input[self.start..self.pos].to_string();
                        return Ok(
                            self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&s)))
                        );
                    }
                    return Ok(self.this_item(ItemType::Complex));
                }
                Ok(self.this_item(ItemType::Number))
            }
            State::Quote => {
                loop {
                    match self.next() {
                        '\\' => {
                            let r = self.next();
                            if r != EOF && r != '\n' {
                                continue;
                            }
                            return Ok(self.errorf("unterminated quoted string".into()));
                        }
                        EOF | '\n' => return Ok(self.errorf("unterminated quoted string".into())),
                        '"' => break,
                        _ => {}
                    }
                }
                Ok(self.this_item(ItemType::String))
            }
            State::RawQuote => {
                loop {
                    match self.next() {
                        EOF => return Ok(self.errorf("unterminated raw quoted string".into())),
                        '`' => break,
                        _ => {}
                    }
                }
                Ok(self.this_item(ItemType::RawString))
            }
        }
    }

    fn field_or_variable(&mut self, typ: ItemType) -> Result<Item<'a>, State> {
        if self.at_terminator() {
            let t = if typ == ItemType::Variable {
                ItemType::Variable
            } else {
                ItemType::Dot
            };
            return Ok(self.this_item(t));
        }
        let mut r;
        loop {
            r = self.next();
            if !is_alphanumeric(r) {
                self.backup();
                break;
            }
        }
        if !self.at_terminator() {
            return Ok(self.errorf(format!("bad character {}", fmt_u(r))));
        }
        Ok(self.this_item(typ))
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if is_alphanumeric(self.peek()) {
            self.next();
            return false;
        }
        true
    }
}

/// Go's `%#U` of a rune: `U+0023 '#'`.
fn fmt_u(r: char) -> String {
    if r == EOF {
        // Go reports eof (-1) this way.
        return "U+FFFFFFFFFFFFFFFF".into();
    }
    crate::gofmt::sprintf(
        "%#U",
        &[crate::Value::Int(
            i64::from(r as u32),
            crate::IntKind::Int32,
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &str) -> Vec<(ItemType, String)> {
        let mut l = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            let it = l.next_item();
            let t = it.typ;
            out.push((t, it.val.into_owned()));
            if t == ItemType::Eof || t == ItemType::Error {
                break;
            }
        }
        out
    }

    #[test]
    fn lexes_trim_markers_and_comments() {
        use ItemType::*;
        let got = items("a  {{- .x -}}  b{{/* c */}}d {{- /* e */ -}} f");
        assert_eq!(
            got,
            vec![
                (Text, "a".into()),
                (LeftDelim, "{{".into()),
                (Field, ".x".into()),
                (RightDelim, "}}".into()),
                (Text, "b".into()),
                (Text, "d".into()),
                (Text, "f".into()),
                (Eof, "".into()),
            ]
        );
    }

    #[test]
    fn lexes_numbers_and_fields() {
        use ItemType::*;
        let got = items("{{.a.b $x.y 0x1F 1_000 -2.5e3 'a' (\"s\")|`r`}}");
        let kinds: Vec<ItemType> = got.iter().map(|x| x.0).collect();
        assert_eq!(
            kinds,
            vec![
                LeftDelim,
                Field,
                Field,
                Space,
                Variable,
                Field,
                Space,
                Number,
                Space,
                Number,
                Space,
                Number,
                Space,
                CharConstant,
                Space,
                LeftParen,
                String,
                RightParen,
                Pipe,
                RawString,
                RightDelim,
                Eof
            ]
        );
    }

    #[test]
    fn lex_errors() {
        assert_eq!(
            items("{{ \u{2603}").last().map(|x| x.1.clone()),
            Some("unrecognized character in action: U+2603 '\u{2603}'".into())
        );
        assert_eq!(
            items("{{ .a#").last().map(|x| x.1.clone()),
            Some("bad character U+0023 '#'".into())
        );
        assert_eq!(
            items("{{ 3x }}").last().map(|x| x.1.clone()),
            Some("bad number syntax: \"3x\"".into())
        );
        assert_eq!(
            items("{{ ( }}").last().map(|x| x.1.clone()),
            Some("unclosed left paren".into())
        );
        assert_eq!(
            items("{{/* x").last().map(|x| x.1.clone()),
            Some("unclosed comment".into())
        );
    }
}
