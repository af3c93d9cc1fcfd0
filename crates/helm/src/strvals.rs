//! Helm's `strvals`: the `--set`, `--set-string`, `--set-file`, `--set-json` and
//! `--set-literal` syntax (`a.b=1,c[0].d={x,y}`, `\,` and `\.` escapes, type inference
//! to int64/bool/null), merged into a values map with Helm's semantics and messages.

use gotemplate::{Map, Value};

/// Helm's `MaxIndex`.
const MAX_INDEX: usize = 65536;
/// Helm's `MaxNestedNameLevel`.
const MAX_NESTED: usize = 30;

/// A `--set` syntax error; the text is Helm's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

type Result<T> = std::result::Result<T, Flow>;

/// Internal control flow: Go's `io.EOF` is not an error at the top level.
#[derive(Debug)]
enum Flow {
    Eof,
    NotList,
    Err(String),
}

fn err<T>(s: impl Into<String>) -> Result<T> {
    Err(Flow::Err(s.into()))
}

/// How a value's runes become a value.
enum Reader<'a> {
    Typed,
    String,
    File(&'a dyn Fn(&str) -> std::result::Result<Vec<u8>, String>),
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    reader: Reader<'a>,
    json: bool,
}

impl Parser<'_> {
    fn read(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }
    fn unread(&mut self) {
        self.pos -= 1;
    }

    /// Go's `runesUntil`: (runes, stop rune or None at EOF).
    fn until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let mut v = String::new();
        loop {
            match self.read() {
                None => return (v, None),
                Some(c) if stop.contains(&c) => return (v, Some(c)),
                Some('\\') => match self.read() {
                    None => return (v, None),
                    Some(n) => v.push(n),
                },
                Some(c) => v.push(c),
            }
        }
    }

    fn convert(&self, s: &str) -> Result<Value> {
        match &self.reader {
            Reader::Typed => Ok(typed_val(s)),
            Reader::String => Ok(Value::str(s)),
            // Go's `string(bytes)`: a binary file's bytes as they are.
            Reader::File(f) => f(s).map(Value::string_from_bytes).map_err(Flow::Err),
        }
    }

    fn parse(&mut self, data: &mut Map) -> std::result::Result<(), ParseError> {
        loop {
            match self.key(data, 0) {
                Ok(()) => continue,
                Err(Flow::Eof) => return Ok(()),
                Err(Flow::NotList) => return Err(ParseError("not a list".into())),
                Err(Flow::Err(e)) => return Err(ParseError(e)),
            }
        }
    }

    fn key(&mut self, data: &mut Map, mut level: usize) -> Result<()> {
        let (k, last) = self.until(&['=', '[', ',', '.']);
        match last {
            None => {
                if k.is_empty() {
                    return Err(Flow::Eof);
                }
                err(format!("key {k:?} has no value"))
            }
            Some('[') => {
                let i = self.key_index()?;
                let mut list = match data.get(&k) {
                    None => Vec::new(),
                    Some(Value::List(l, _)) => l.as_ref().clone(),
                    Some(other) => return err(unable_to_parse(other, "[]interface {}")),
                };
                let r = self.list_item(&mut list, i, level);
                set(data, &k, Value::list(list));
                r
            }
            Some('=') => {
                if self.json {
                    if self.empty_val() {
                        set(data, &k, Value::Nil);
                        return Ok(());
                    }
                    let v = self.json_value()?;
                    set(data, &k, v);
                    self.empty_val();
                    return Ok(());
                }
                match self.val_list() {
                    Ok(vl) => {
                        set(data, &k, Value::list(vl));
                        Ok(())
                    }
                    Err(Flow::Eof) => {
                        set(data, &k, Value::str(""));
                        Err(Flow::Eof)
                    }
                    Err(Flow::NotList) => {
                        let (rs, _) = self.until(&[',']);
                        let v = self.convert(&rs)?;
                        set(data, &k, v);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Some(',') => {
                set(data, &k, Value::str(""));
                err(format!("key {k:?} has no value (cannot end with ,)"))
            }
            Some(_) => {
                level += 1;
                if level > MAX_NESTED {
                    return err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED}"
                    ));
                }
                let mut inner = match data.get(&k) {
                    None => Map::new(),
                    Some(Value::Map(m, _)) => m.snapshot(),
                    Some(other) => return err(unable_to_parse(other, "map[string]interface {}")),
                };
                let e = self.key(&mut inner, level);
                if e.is_ok() && inner.is_empty() {
                    return err(format!("key map {k:?} has no value"));
                }
                if !inner.is_empty() {
                    set(data, &k, Value::map(inner));
                }
                e
            }
        }
    }

    fn key_index(&mut self) -> Result<i64> {
        let (v, last) = self.until(&[']']);
        if last.is_none() {
            return Err(Flow::Eof).or_else(|_| err("error parsing index: EOF"));
        }
        go_atoi(&v).map_err(|e| Flow::Err(format!("error parsing index: {e}")))
    }

    fn list_item(&mut self, list: &mut Vec<Value>, i: i64, level: usize) -> Result<()> {
        if i < 0 {
            return err(format!("negative {i} index not allowed"));
        }
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return err(format!("unexpected data at end of array index: {k:?}"));
        }
        match last {
            None => Err(Flow::Eof),
            Some('=') => {
                if self.json {
                    if self.empty_val() {
                        return set_index(list, i, Value::Nil);
                    }
                    let v = self.json_value()?;
                    set_index(list, i, v)?;
                    self.empty_val();
                    return Ok(());
                }
                match self.val_list() {
                    Ok(vl) => set_index(list, i, Value::list(vl)),
                    Err(Flow::Eof) => set_index(list, i, Value::str("")),
                    Err(Flow::NotList) => {
                        let (rs, _) = self.until(&[',']);
                        let v = self.convert(&rs)?;
                        set_index(list, i, v)
                    }
                    Err(e) => Err(e),
                }
            }
            Some('[') => {
                let next = self.key_index()?;
                let mut crt = match list.get(i as usize) {
                    None | Some(Value::Nil) => Vec::new(),
                    Some(Value::List(l, _)) => l.as_ref().clone(),
                    Some(other) => return err(unable_to_parse(other, "[]interface {}")),
                };
                self.list_item(&mut crt, next, level)?;
                set_index(list, i, Value::list(crt))
            }
            Some(_) => {
                let mut inner = match list.get(i as usize) {
                    Some(Value::Map(m, _)) => m.snapshot(),
                    _ => Map::new(),
                };
                self.key(&mut inner, level)?;
                set_index(list, i, Value::map(inner))
            }
        }
    }

    /// Consume spaces up to a comma or EOF (empty value) or stop before anything else.
    fn empty_val(&mut self) -> bool {
        loop {
            match self.read() {
                None | Some(',') => return true,
                Some(c) if c.is_whitespace() => continue,
                Some(_) => {
                    self.unread();
                    return false;
                }
            }
        }
    }

    fn json_value(&mut self) -> Result<Value> {
        let rest: String = self.chars[self.pos..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(v)) => {
                let consumed = rest[..stream.byte_offset()].chars().count();
                self.pos += consumed;
                Ok(crate::json::from_serde(v))
            }
            Some(Err(e)) => err(e.to_string()),
            None => err("unexpected end of JSON input"),
        }
    }

    fn val_list(&mut self) -> Result<Vec<Value>> {
        match self.read() {
            None => return Err(Flow::Eof),
            Some('{') => {}
            Some(_) => {
                self.unread();
                return Err(Flow::NotList);
            }
        }
        let mut list = Vec::new();
        loop {
            let (rs, last) = self.until(&[',', '}']);
            match last {
                None => return err("list must terminate with '}'"),
                Some('}') => {
                    if let Some(c) = self.read()
                        && c != ','
                    {
                        self.unread();
                    }
                    list.push(self.convert(&rs)?);
                    return Ok(list);
                }
                Some(_) => list.push(self.convert(&rs)?),
            }
        }
    }
}

fn unable_to_parse(found: &Value, want: &str) -> String {
    let have = match found {
        Value::Nil => "nil".to_string(),
        other => other.type_name(),
    };
    format!("unable to parse key: interface conversion: interface {{}} is {have}, not {want}")
}

fn set(data: &mut Map, key: &str, v: Value) {
    if !key.is_empty() {
        data.insert(key.to_string(), v);
    }
}

fn set_index(list: &mut Vec<Value>, i: i64, v: Value) -> Result<()> {
    if i < 0 {
        return err(format!("negative {i} index not allowed"));
    }
    let i = i as usize;
    if i > MAX_INDEX {
        return err(format!(
            "index of {i} is greater than maximum supported index of {MAX_INDEX}"
        ));
    }
    if list.len() <= i {
        list.resize(i + 1, Value::Nil);
    }
    list[i] = v;
    Ok(())
}

/// Go's `strconv.Atoi` with its error text.
fn go_atoi(s: &str) -> std::result::Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

/// Helm's `typedVal`: `true`/`false`/`null` (any case), int64 when it parses and does
/// not start with `0`, else the string.
pub fn typed_val(s: &str) -> Value {
    if s.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if s.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if s.eq_ignore_ascii_case("null") {
        return Value::Nil;
    }
    if s == "0" {
        return Value::int64(0);
    }
    if !s.is_empty() && !s.starts_with('0') {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(i) = s.parse::<i64>()
        {
            return Value::int64(i);
        }
    }
    Value::str(s)
}

fn run(
    s: &str,
    dest: &mut Map,
    reader: Reader<'_>,
    json: bool,
) -> std::result::Result<(), ParseError> {
    let mut p = Parser {
        chars: s.chars().collect(),
        pos: 0,
        reader,
        json,
    };
    p.parse(dest)
}

/// `--set`: merge `s` into `dest` with type inference.
pub fn parse_into(s: &str, dest: &mut Map) -> std::result::Result<(), ParseError> {
    run(s, dest, Reader::Typed, false)
}

/// `--set-string`.
pub fn parse_into_string(s: &str, dest: &mut Map) -> std::result::Result<(), ParseError> {
    run(s, dest, Reader::String, false)
}

/// `--set-file`: each value is a path whose content becomes the string value.
pub fn parse_into_file(
    s: &str,
    dest: &mut Map,
    read: &dyn Fn(&str) -> std::result::Result<Vec<u8>, String>,
) -> std::result::Result<(), ParseError> {
    run(s, dest, Reader::File(read), false)
}

/// `--set-json`: values are JSON documents.
pub fn parse_json(s: &str, dest: &mut Map) -> std::result::Result<(), ParseError> {
    run(s, dest, Reader::Typed, true)
}

/// `--set-literal`: one key path, the whole rest is the string value.
pub fn parse_literal_into(s: &str, dest: &mut Map) -> std::result::Result<(), ParseError> {
    let chars: Vec<char> = s.chars().collect();
    let mut pos = 0;
    literal_key(&chars, &mut pos, dest, 0).map_err(ParseError)
}

fn literal_until(chars: &[char], pos: &mut usize, stop: &[char]) -> (String, Option<char>) {
    let mut v = String::new();
    while let Some(&c) = chars.get(*pos) {
        *pos += 1;
        if stop.contains(&c) {
            return (v, Some(c));
        }
        v.push(c);
    }
    (v, None)
}

fn literal_key(
    chars: &[char],
    pos: &mut usize,
    data: &mut Map,
    mut level: usize,
) -> std::result::Result<(), String> {
    let (k, last) = literal_until(chars, pos, &['=', '[', '.']);
    match last {
        None => Err(format!("key {k:?} has no value")),
        Some('=') => {
            let v: String = chars[*pos..].iter().collect();
            *pos = chars.len();
            set(data, &k, Value::str(v));
            Ok(())
        }
        Some('.') => {
            level += 1;
            if level > MAX_NESTED {
                return Err(format!(
                    "value name nested level is greater than maximum supported nested level of {MAX_NESTED}"
                ));
            }
            let mut inner = match data.get(&k) {
                None => Map::new(),
                Some(Value::Map(m, _)) => m.snapshot(),
                Some(other) => return Err(unable_to_parse(other, "map[string]interface {}")),
            };
            let e = literal_key(chars, pos, &mut inner, level);
            if e.is_ok() && inner.is_empty() {
                return Err(format!("key map {k:?} has no value"));
            }
            if !inner.is_empty() {
                set(data, &k, Value::map(inner));
            }
            e
        }
        Some(_) => {
            let (idx, l) = literal_until(chars, pos, &[']']);
            if l.is_none() {
                return Err("error parsing index: EOF".into());
            }
            let i = go_atoi(&idx).map_err(|e| format!("error parsing index: {e}"))?;
            let mut list = match data.get(&k) {
                None => Vec::new(),
                Some(Value::List(l, _)) => l.as_ref().clone(),
                Some(other) => return Err(unable_to_parse(other, "[]interface {}")),
            };
            let r = literal_list_item(chars, pos, &mut list, i, level);
            set(data, &k, Value::list(list));
            r
        }
    }
}

fn literal_list_item(
    chars: &[char],
    pos: &mut usize,
    list: &mut Vec<Value>,
    i: i64,
    level: usize,
) -> std::result::Result<(), String> {
    let flow = |r: Result<()>| match r {
        Ok(()) | Err(Flow::Eof) => Ok(()),
        Err(Flow::NotList) => Err("not a list".to_string()),
        Err(Flow::Err(e)) => Err(e),
    };
    if i < 0 {
        return Err(format!("negative {i} index not allowed"));
    }
    let (k, last) = literal_until(chars, pos, &['[', '.', '=']);
    if !k.is_empty() {
        return Err(format!("unexpected data at end of array index: {k:?}"));
    }
    match last {
        None => Ok(()),
        Some('=') => {
            let v: String = chars[*pos..].iter().collect();
            *pos = chars.len();
            flow(set_index(list, i, Value::str(v)))
        }
        Some('[') => {
            let (idx, _) = literal_until(chars, pos, &[']']);
            let next = go_atoi(&idx).map_err(|e| format!("error parsing index: {e}"))?;
            let mut crt = match list.get(i as usize) {
                Some(Value::List(l, _)) => l.as_ref().clone(),
                _ => Vec::new(),
            };
            literal_list_item(chars, pos, &mut crt, next, level)?;
            flow(set_index(list, i, Value::list(crt)))
        }
        Some(_) => {
            let mut inner = match list.get(i as usize) {
                Some(Value::Map(m, _)) => m.snapshot(),
                _ => Map::new(),
            };
            literal_key(chars, pos, &mut inner, level)?;
            flow(set_index(list, i, Value::map(inner)))
        }
    }
}

/// Helm's `mergeMaps` for `-f` files: maps merge recursively, anything else replaces.
pub fn merge_maps(a: &Map, b: &Map) -> Map {
    let mut out = a.clone();
    for (k, v) in b {
        if let Value::Map(vm, _) = v
            && let Some(Value::Map(bm, _)) = out.get(k)
        {
            let merged = merge_maps(&bm.snapshot(), &vm.snapshot());
            out.insert(k.clone(), Value::map(merged));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_str(s: &str) -> Map {
        let mut m = Map::new();
        parse_into(s, &mut m).unwrap();
        m
    }

    fn path(m: &Map, p: &[&str]) -> Value {
        let mut cur = m.get(p[0]).unwrap().clone();
        for k in &p[1..] {
            cur = match k.parse::<usize>() {
                Ok(i) => cur.as_list().unwrap()[i].clone(),
                Err(_) => cur.as_map().unwrap().get(k).unwrap(),
            };
        }
        cur
    }

    #[test]
    fn dotted_lists_escapes_and_types() {
        let m = set_str("a.b=1,c[1].d=x,e={p,q},f=tru\\,e,g\\.h=0,i=012,j=NULL,k=-5");
        assert!(matches!(
            path(&m, &["a", "b"]),
            Value::Int(1, gotemplate::IntKind::Int64)
        ));
        assert!(path(&m, &["c", "0"]).is_nil());
        assert_eq!(path(&m, &["c", "1", "d"]).as_str(), Some("x"));
        assert_eq!(path(&m, &["e", "1"]).as_str(), Some("q"));
        assert_eq!(path(&m, &["f"]).as_str(), Some("tru,e"));
        assert!(matches!(path(&m, &["g.h"]), Value::Int(0, _)));
        assert_eq!(path(&m, &["i"]).as_str(), Some("012"));
        assert!(path(&m, &["j"]).is_nil());
        assert!(matches!(path(&m, &["k"]), Value::Int(-5, _)));
    }

    #[test]
    fn helm_error_messages() {
        let e = |s: &str| {
            let mut m = Map::new();
            parse_into(s, &mut m).unwrap_err().0
        };
        assert_eq!(e("a"), "key \"a\" has no value");
        assert_eq!(e("a,b=1"), "key \"a\" has no value (cannot end with ,)");
        assert_eq!(
            e("a[x]=1"),
            "error parsing index: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(e("a[-1]=1"), "negative -1 index not allowed");
        assert_eq!(e("a={b"), "list must terminate with '}'");
        assert_eq!(
            e("a=1,a.b=2"),
            "unable to parse key: interface conversion: interface {} is int64, not map[string]interface {}"
        );
    }

    #[test]
    fn string_json_literal_forms() {
        let mut m = Map::new();
        parse_into_string("a=true,b=10", &mut m).unwrap();
        assert_eq!(path(&m, &["a"]).as_str(), Some("true"));
        parse_json("c={\"x\":[1,2]},d=", &mut m).unwrap();
        assert!(matches!(path(&m, &["c", "x", "1"]), Value::Float(f) if f == 2.0));
        assert!(path(&m, &["d"]).is_nil());
        parse_literal_into("e.f=a,b\\c", &mut m).unwrap();
        assert_eq!(path(&m, &["e", "f"]).as_str(), Some("a,b\\c"));
    }
}
