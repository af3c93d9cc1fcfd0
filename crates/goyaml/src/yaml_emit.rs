//! Helm's `toYaml` output, byte for byte: `sigs.k8s.io/yaml.Marshal`, which turns a
//! value into JSON and then emits it with go-yaml v2's emitter (block style, 2-space
//! indent, sequences not indented under keys, natural key order, libyaml's quoting
//! analysis, literal `|` blocks for multi-line strings, and folding of long plain and
//! quoted scalars past column 80).

use gotemplate::{Map, Value};

use crate::json::{self, MarshalError};

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;

/// A value after the JSON round trip, as go-yaml v2 decoded it.
enum Node {
    Null,
    Bool(bool),
    /// The integer's decimal text.
    Int(String),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

fn to_node(v: &Value, depth: usize) -> Result<Node, MarshalError> {
    if depth > 10_000 {
        return Err(MarshalError("nesting too deep".into()));
    }
    Ok(match v {
        Value::Nil => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(i, _) => Node::Int(i.to_string()),
        Value::Float(f) => {
            let s = json::format_float(*f)?;
            if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                // The JSON number is read back as an integer (`-0` is 0).
                if let Ok(i) = s.parse::<i64>() {
                    Node::Int(i.to_string())
                } else if let Ok(u) = s.parse::<u64>() {
                    Node::Int(u.to_string())
                } else {
                    Node::Float(*f)
                }
            } else {
                Node::Float(*f)
            }
        }
        Value::String(s) => Node::Str(read_back(s)?),
        // JSON first: each invalid byte becomes U+FFFD.
        Value::ByteStr(b) => Node::Str(read_back(&gotemplate::value::go_lossy(b))?),
        Value::Bytes(b) => Node::Str(json::base64_std(b)),
        Value::List(..) if v.is_nil_list() => Node::Null,
        Value::Map(..) if v.is_nil_map() => Node::Null,
        Value::List(l, _) => Node::Seq(
            l.iter()
                .map(|x| to_node(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m, _) => {
            // A map reached again inside itself: Go's json.Marshal reports the cycle.
            thread_local! {
                static OPEN: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            if OPEN.with(|o| o.borrow().contains(&m.addr())) {
                return Err(MarshalError(format!(
                    "encountered a cycle via {}",
                    v.type_name()
                )));
            }
            OPEN.with(|o| o.borrow_mut().push(m.addr()));
            let entries = sorted_entries(&m.snapshot(), depth);
            OPEN.with(|o| o.borrow_mut().pop());
            Node::Map(entries?)
        }
        Value::Object(o) => match o.to_data() {
            Some(d) => to_node(&d, depth + 1)?,
            None => Node::Map(Vec::new()),
        },
    })
}

/// A string as go-yaml reads it back from the JSON text `sigs.k8s.io/yaml` hands it: Go's
/// JSON leaves DEL, the C1 controls and U+FFFE/U+FFFF unescaped, and go-yaml's reader refuses
/// them (the whole `toYaml` fails; Helm's result is then empty); an unescaped NEL (U+0085) is
/// a line break inside the double-quoted scalar, folded as YAML folds breaks. Common strings
/// are checked with one byte scan and copied.
fn read_back(s: &str) -> Result<String, MarshalError> {
    // DEL, the lead byte of U+0080..U+00BF, and of U+F000..U+FFFF.
    if memchr::memchr3(0x7f, 0xc2, 0xef, s.as_bytes()).is_none() {
        return Ok(s.to_string());
    }
    let refused = |c: char| {
        c == '\u{7f}'
            || (('\u{80}'..='\u{9f}').contains(&c) && c != '\u{85}')
            || c == '\u{fffe}'
            || c == '\u{ffff}'
    };
    if s.chars().any(refused) {
        return Err(MarshalError(
            "error converting JSON to YAML: yaml: control characters are not allowed".into(),
        ));
    }
    if !s.contains('\u{85}') {
        return Ok(s.to_string());
    }
    // go-yaml's double-quoted scalar: spaces around a run of breaks are dropped; one break
    // folds to a space, n breaks to n-1 newlines (a NEL reads as a newline).
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ' ' && c != '\u{85}' {
            out.push(c);
            continue;
        }
        let (mut spaces, mut breaks) = (0usize, 0usize);
        let mut x = c;
        loop {
            if x == ' ' {
                if breaks == 0 {
                    spaces += 1;
                }
            } else {
                breaks += 1;
            }
            match chars.next_if(|&n| n == ' ' || n == '\u{85}') {
                Some(n) => x = n,
                None => break,
            }
        }
        match breaks {
            0 => out.extend(std::iter::repeat_n(' ', spaces)),
            1 => out.push(' '),
            n => out.extend(std::iter::repeat_n('\n', n - 1)),
        }
    }
    Ok(out)
}

/// [`read_back`] for a map key: a key with a line break in it is not a simple key for
/// go-yaml, and the round trip fails.
fn read_key_back(k: &str) -> Result<String, MarshalError> {
    if k.contains('\u{85}') {
        return Err(MarshalError(
            "error converting JSON to YAML: yaml: line 1: did not find expected key".into(),
        ));
    }
    read_back(k)
}

fn sorted_entries(m: &Map, depth: usize) -> Result<Vec<(String, Node)>, MarshalError> {
    let mut entries: Vec<(String, Node)> = m
        .iter()
        // JSON first: a key's bytes that are not UTF-8 become U+FFFD.
        .map(|(k, v)| {
            Ok((
                read_key_back(&gotemplate::value::key_lossy(k))?,
                to_node(v, depth + 1)?,
            ))
        })
        .collect::<Result<_, MarshalError>>()?;
    entries.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    Ok(entries)
}

/// go-yaml v2's `keyList.Less` for string keys: letters after non-letters, digit runs
/// compared numerically.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if natural_less(a, b) {
        Ordering::Less
    } else if natural_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn natural_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add((ar[ai] as u8 - b'0') as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add((br[bi] as u8 - b'0') as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// go-yaml v2's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
/// go-yaml v2 `parseTimestamp`: a plain scalar in one of its timestamp layouts
/// (`2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00` with `T` or `t`, `2006-1-2 15:4:5.999999999`)
/// would read back as a time, so the encoder quotes such strings.
fn is_timestamp(s: &str) -> bool {
    fn num(b: &[u8], i: &mut usize, max_digits: usize) -> Option<u32> {
        let start = *i;
        while *i < b.len() && *i - start < max_digits && b[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        std::str::from_utf8(&b[start..*i]).ok()?.parse().ok()
    }
    fn days_in(month: u32, year: u32) -> u32 {
        match month {
            2 if (year.is_multiple_of(4) && !year.is_multiple_of(100))
                || year.is_multiple_of(400) =>
            {
                29
            }
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year: u32 = s[..4].parse().unwrap_or(0);
    let mut i = 5;
    let Some(month) = num(b, &mut i, 2) else {
        return false;
    };
    if !(1..=12).contains(&month) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(b, &mut i, 2) else {
        return false;
    };
    if day < 1 || day > days_in(month, year) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let zoned = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return false,
    };
    i += 1;
    let time_ok = |i: &mut usize| -> bool {
        let Some(h) = num(b, i, 2) else { return false };
        if h > 23 || b.get(*i) != Some(&b':') {
            return false;
        }
        *i += 1;
        let Some(m) = num(b, i, 2) else { return false };
        if m > 59 || b.get(*i) != Some(&b':') {
            return false;
        }
        *i += 1;
        let Some(sec) = num(b, i, 2) else {
            return false;
        };
        if sec > 59 {
            return false;
        }
        if b.get(*i) == Some(&b'.') {
            *i += 1;
            let start = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            if *i == start {
                return false;
            }
        }
        true
    };
    if !time_ok(&mut i) {
        return false;
    }
    if !zoned {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let z = &b[i + 1..];
            z.len() == 5
                && z[0].is_ascii_digit()
                && z[1].is_ascii_digit()
                && z[2] == b':'
                && z[3].is_ascii_digit()
                && z[4].is_ascii_digit()
        }
        _ => false,
    }
}

fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        // [0-5]?[0-9]
        if i + 1 < b.len() && (b'0'..=b'5').contains(&b[i]) && b[i + 1].is_ascii_digit() {
            i += 2;
        } else if i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        } else {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// libyaml's scalar analysis result.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws =
            i + 1 >= n || matches!(chars[i + 1], ' ' | '\t') || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    block_indicators = true;
                }
                '?' | ':' if followed_by_ws => {
                    block_indicators = true;
                }
                '-' if followed_by_ws => {
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => {
                    block_indicators = true;
                }
                '#' if preceded_by_ws => {
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks {
        a.block_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// go-yaml v2 `encoder.stringv` + `yaml_emitter_select_scalar_style`.
fn string_style(s: &str, simple_key: bool) -> Style {
    let can_plain = crate::yaml::resolve_plain_value(s) == crate::yaml::PlainKind::Str
        && !is_base60_float(s)
        && !is_timestamp(s);
    let requested = if s.contains('\n') {
        Style::Literal
    } else if can_plain {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain {
        if !a.block_plain_allowed {
            style = Style::Single;
        }
        if s.is_empty() && simple_key {
            style = Style::Single;
        }
    }
    if style == Style::Single && !a.single_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

/// The emitter's output state (libyaml's column/whitespace/indention flags).
struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: usize,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }
    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }
    fn write_indent(&mut self) {
        let indent = self.indent;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }
    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace && !value.is_empty() {
            self.put(' ');
        }
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        for i in 0..chars.len() {
            let c = chars[i];
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let n = chars.len();
        for i in 0..n {
            let c = chars[i];
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < n - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                if c == '\'' {
                    self.put('\'');
                }
                self.indention = false;
                spaces = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        // go-yaml's `is_bom` looks at the start of the value, not at the current
        // character: a value that starts with a BOM has every character escaped.
        let bom = value.starts_with('\u{FEFF}');
        for i in 0..n {
            let c = chars[i];
            if bom || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let u = c as u32;
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let s = if u <= 0xFF {
                            format!("x{u:02X}")
                        } else if u <= 0xFFFF {
                            format!("u{u:04X}")
                        } else {
                            format!("U{u:08X}")
                        };
                        for ch in s.chars() {
                            self.put(ch);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != n - 1 {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        if chars.first().is_some_and(|c| *c == ' ' || is_break(*c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let chomp = match chars.last() {
            None => Some('-'),
            Some(c) if !is_break(*c) => Some('-'),
            Some(_) if chars.len() == 1 => Some('+'),
            Some(_) => {
                if is_break(chars[chars.len() - 2]) {
                    Some('+')
                } else {
                    None
                }
            }
        };
        if let Some(c) = chomp {
            self.write_indicator(&c.to_string(), false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                    breaks = false;
                }
                self.put(c);
                self.indention = false;
            }
        }
    }

    /// Emit a scalar at the current position; `indent` is the scalar's own indent.
    fn scalar(&mut self, text: &str, style: Style, simple_key: bool) {
        match style {
            Style::Plain => self.write_plain(text, !simple_key),
            Style::Single => self.write_single(text, !simple_key),
            Style::Double => self.write_double(text, !simple_key),
            Style::Literal => self.write_literal(text),
        }
    }

    fn node_scalar(&mut self, node: &Node, simple_key: bool) {
        match node {
            Node::Null => self.scalar("null", Style::Plain, simple_key),
            Node::Bool(b) => {
                self.scalar(if *b { "true" } else { "false" }, Style::Plain, simple_key)
            }
            Node::Int(s) => self.scalar(s, Style::Plain, simple_key),
            Node::Float(f) => {
                let s = if f.is_nan() {
                    ".nan".to_string()
                } else if f.is_infinite() {
                    if *f > 0.0 {
                        ".inf".into()
                    } else {
                        "-.inf".into()
                    }
                } else {
                    crate::yaml::format_float_g(*f)
                };
                self.scalar(&s, Style::Plain, simple_key)
            }
            Node::Str(s) => self.scalar(s, string_style(s, simple_key), simple_key),
            Node::Seq(_) | Node::Map(_) => {}
        }
    }

    /// Emit any node. `parent_indent` is the indent of the enclosing block (None at the root).
    fn node(&mut self, node: &Node, parent: Option<usize>, in_mapping_value: bool) {
        match node {
            Node::Seq(items) if items.is_empty() => self.flow_empty("[]"),
            Node::Map(entries) if entries.is_empty() => self.flow_empty("{}"),
            Node::Seq(items) => {
                let saved = self.indent;
                // Sequences directly under a mapping key are not indented.
                self.indent = match parent {
                    None => 0,
                    Some(p) if in_mapping_value && !self.indention => p,
                    Some(p) => p + BEST_INDENT,
                };
                let seq_indent = self.indent;
                for item in items {
                    self.indent = seq_indent;
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.item(item, seq_indent, false);
                }
                self.indent = saved;
            }
            Node::Map(entries) => {
                let saved = self.indent;
                self.indent = match parent {
                    None => 0,
                    Some(p) => p + BEST_INDENT,
                };
                let map_indent = self.indent;
                for (k, v) in entries {
                    self.indent = map_indent;
                    self.write_indent();
                    if is_simple_key(k) {
                        self.node_scalar(&Node::Str(k.clone()), true);
                        self.write_indicator(":", false, false, false);
                    } else {
                        // libyaml's complex key: `? key` then `: value` on its own line.
                        self.write_indicator("?", true, false, true);
                        self.node(&Node::Str(k.clone()), Some(map_indent), false);
                        self.indent = map_indent;
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.item(v, map_indent, true);
                }
                self.indent = saved;
            }
            scalar => {
                let saved = self.indent;
                self.indent = match parent {
                    None => BEST_INDENT,
                    Some(p) => p + BEST_INDENT,
                };
                self.node_scalar(scalar, false);
                self.indent = saved;
            }
        }
    }

    fn item(&mut self, v: &Node, indent: usize, in_mapping_value: bool) {
        self.node(v, Some(indent), in_mapping_value);
    }

    fn flow_empty(&mut self, s: &str) {
        self.write_indicator(s, true, false, false);
        self.whitespace = false;
        self.indention = false;
    }
}

/// libyaml's `check_simple_key` for a string key: at most 128 bytes and on one line.
fn is_simple_key(k: &str) -> bool {
    k.len() <= 128
        && !k
            .chars()
            .any(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
}

/// `sigs.k8s.io/yaml.Marshal(v)` (with its trailing newline).
pub fn marshal(v: &Value) -> Result<String, MarshalError> {
    let node = to_node(v, 0)?;
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: 0,
    };
    e.node(&node, None, false);
    e.indent = 0;
    e.write_indent();
    Ok(e.out)
}

/// Helm's `toYaml`: marshal and drop the final newline; errors give "".
pub fn to_yaml(v: &Value) -> Result<String, MarshalError> {
    let s = marshal(v)?;
    Ok(s.strip_suffix('\n').map(str::to_string).unwrap_or(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(text: &str) -> String {
        to_yaml(&crate::yaml::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn block_layout() {
        assert_eq!(
            y("a: 1\nb: [x, z]\nc: {d: {e: f}}\ng: []\nh: {}\n"),
            "a: 1\nb:\n- x\n- z\nc:\n  d:\n    e: f\ng: []\nh: {}"
        );
        assert_eq!(
            y("- a: 1\n  b: 2\n- [1, 2]\n"),
            "- a: 1\n  b: 2\n- - 1\n  - 2"
        );
    }

    #[test]
    fn natural_key_order() {
        assert_eq!(
            y("a10: 1\na9: 2\n_x: 3\nB: 4\n"),
            "_x: 3\nB: 4\na9: 2\na10: 1"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(
            y("a: 'true'\nb: ''\nc: '- x'\nd: 'x: y'\ne: \"a\\tb\"\nf: '123'\ng: '1:20'\n"),
            "a: \"true\"\nb: \"\"\nc: '- x'\nd: 'x: y'\ne: \"a\\tb\"\nf: \"123\"\ng: \"1:20\""
        );
        assert_eq!(
            y("a: \"l1\\nl2\\n\"\nb: \"x\\n\"\n"),
            "a: |\n  l1\n  l2\nb: |\n  x"
        );
    }
}

#[cfg(test)]
mod oracle {
    #[test]
    fn matches_helm_to_yaml_fixture() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/toyaml");
        let values = std::fs::read_to_string(format!("{dir}/values.yaml")).unwrap();
        let expected = std::fs::read_to_string(format!("{dir}/expected.yaml")).unwrap();
        let v = crate::yaml::parse(&values).unwrap();
        let got = super::to_yaml(&v).unwrap();
        let exp = expected.trim_end_matches('\n');
        for (i, (g, e)) in got.lines().zip(exp.lines()).enumerate() {
            assert_eq!(g, e, "line {}", i + 1);
        }
        assert_eq!(got, exp);
    }
}
