//! The data model templates see: Go's `interface{}` values as Helm produces them.
//!
//! Helm's values come from YAML/JSON decoding into `map[string]interface{}`, so the
//! common shapes are nil, bool, int64/int/float64, string, `[]interface{}` and
//! `map[string]interface{}`. Sprig functions return a few more Go types (`[]string`,
//! `map[string]string`, `[]byte`, structs such as semver versions and certificates);
//! those are kept distinct where Go's `typeOf`/`kindOf`/`%T` or `printf` would show
//! the difference.
//!
//! Maps are references, as in Go: a [`MapRef`] is shared by every value that was
//! copied from it, so Sprig's `set`/`unset`/`merge` change the map in place and the
//! change is visible through every variable and field that refers to it.
//!
//! Go strings are bytes. Text that is valid UTF-8 (nearly all of it) is a
//! [`Value::String`] (`Arc<str>`, as fast as ever); any other byte sequence (a binary
//! file from `.Files.Get`, `b64dec` of binary, `trunc` inside a character, a `"\xff"`
//! literal) is a [`Value::ByteStr`], built only through [`Value::string_from_bytes`] so one
//! Go string always has one representation. Both are `string` to the executor, `printf`,
//! comparison and `len`; a function registered without [`crate::Function::with_bytes`]
//! sees a `ByteStr` `string` argument as Go code ranging over its runes would (each invalid
//! byte U+FFFD, [`go_lossy`]), an `interface{}` argument unchanged. Map keys keep such bytes
//! through an escape in the UTF-8 key ([`key_from_bytes`], [`key_value`]). The executor's
//! output is bytes ([`crate::TemplateSet::execute_bytes`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A string-keyed map with Go's sorted-key iteration order.
pub type Map = BTreeMap<String, Value>;

/// A shared, mutable Go map (`map[string]T` is a reference type in Go).
///
/// Cloning a `MapRef` (or a [`Value`] holding one) shares the map; use
/// [`MapRef::deep_copy`] for an independent copy. Reads take a recursive read lock,
/// so nested reads of the same map (a map that contains itself) never deadlock;
/// callers must not hold a [`MapRef::read`] guard of a map while writing to a map
/// that may be the same one: take a [`MapRef::snapshot`] first.
#[derive(Clone, Default)]
pub struct MapRef(Arc<RwLock<Map>>);

impl MapRef {
    /// A new map holding `m`, shared by nobody yet.
    pub fn new(m: Map) -> MapRef {
        MapRef(Arc::new(RwLock::new(m)))
    }
    /// Read access. Recursive: the same thread may hold several read guards of one map.
    pub fn read(&self) -> RwLockReadGuard<'_, Map> {
        self.0.read_recursive()
    }
    /// Write access. Must not be called while this thread holds a read guard of the same map.
    pub fn write(&self) -> RwLockWriteGuard<'_, Map> {
        self.0.write()
    }
    /// The value at `key`, cloned (cheap: values share their payloads).
    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.read().contains_key(key)
    }
    pub fn insert(&self, key: impl Into<String>, v: Value) -> Option<Value> {
        self.write().insert(key.into(), v)
    }
    pub fn remove(&self, key: &str) -> Option<Value> {
        self.write().remove(key)
    }
    pub fn len(&self) -> usize {
        self.read().len()
    }
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
    /// The keys, sorted as Go's template and fmt iteration sees them.
    pub fn keys(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }
    /// A copy of the entries at this moment (nested maps still shared).
    pub fn snapshot(&self) -> Map {
        self.read().clone()
    }
    /// True if both refer to the same map (Go pointer equality).
    pub fn ptr_eq(&self, other: &MapRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// An address identifying this map, for cycle detection and `%p`-like output.
    pub fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }
    /// A fresh map with every nested map copied too (Sprig `deepCopy`, Helm's
    /// per-render copy of values). A map reached again through itself is cut off
    /// at [`MAX_DEPTH`] levels and replaced by nil, where Go would overflow its stack.
    pub fn deep_copy(&self) -> MapRef {
        MapRef::new(self.deep_copy_map(0))
    }
    fn deep_copy_map(&self, depth: usize) -> Map {
        self.snapshot()
            .into_iter()
            .map(|(k, v)| {
                let v = v.deep_copy_at(depth + 1);
                (k, v)
            })
            .collect()
    }
}

impl From<Map> for MapRef {
    fn from(m: Map) -> MapRef {
        MapRef::new(m)
    }
}

/// Nesting depth beyond which printing, copying and serialising give up; only a
/// map that contains itself (directly or through others) reaches it in practice.
pub const MAX_DEPTH: usize = 1000;

impl fmt::Debug for MapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        thread_local! {
            static OPEN: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let addr = self.addr();
        if OPEN.with(|o| o.borrow().contains(&addr)) {
            return write!(f, "<cycle {addr:#x}>");
        }
        OPEN.with(|o| o.borrow_mut().push(addr));
        let r = f.debug_map().entries(self.read().iter()).finish();
        OPEN.with(|o| o.borrow_mut().pop());
        r
    }
}

/// Go element type of a list, kept so `typeOf` and `%T` match Go, and whether an empty
/// list is Go's nil slice (which `encoding/json` writes as `null`, `%#v` as `T(nil)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `[]interface {}`
    Any,
    /// `[]string`
    String,
    /// A nil `[]interface {}` (Sprig's `concat` of nothing, `rest`/`initial` of an empty
    /// list); only meaningful with no elements.
    NilAny,
    /// A nil `[]string` (`regexFindAll` without a match).
    NilString,
}

impl ListKind {
    /// True for `[]interface {}` (elements are interfaces), nil or not.
    pub fn is_any(self) -> bool {
        matches!(self, ListKind::Any | ListKind::NilAny)
    }
    /// True for `[]string`, nil or not.
    pub fn is_string(self) -> bool {
        matches!(self, ListKind::String | ListKind::NilString)
    }
}

/// Go value type of a map, kept so `typeOf` and `%T` match Go, and whether an empty map is
/// Go's nil map (which `encoding/json` writes as `null`, `%#v` as `T(nil)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKind {
    /// `map[string]interface {}`
    Any,
    /// `map[string]string`
    String,
    /// A nil `map[string]interface {}` (`fromJson "null"`); only meaningful with no entries.
    NilAny,
}

impl MapKind {
    /// True for `map[string]interface {}`, nil or not.
    pub fn is_any(self) -> bool {
        matches!(self, MapKind::Any | MapKind::NilAny)
    }
}

/// Go integer types that templates can observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntKind {
    /// Go `int` (64-bit here, as on Helm's platforms).
    Int,
    /// Go `int64`.
    Int64,
    /// Go `int32` (a rune literal such as `'a'` is an int32 constant).
    Int32,
    /// Go `uint8`/`byte`.
    Uint8,
}

/// A struct-like Go value exposed to templates with fields and methods
/// (for example `.Release`, `.Capabilities`, a semver `*Version`, a certificate).
pub trait Object: Send + Sync + fmt::Debug {
    /// Go type name as `%T` prints it, e.g. `*semver.Version`.
    fn type_name(&self) -> &str;
    /// A field or a zero-argument method, looked up by its exported name.
    /// `None` means Go's "can't evaluate field X in type T".
    fn field(&self, name: &str) -> Option<Value>;
    /// A method called with arguments (`.Capabilities.APIVersions.Has "v1"`,
    /// `.Files.Get "x"`). `None` means there is no such method.
    fn call_method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    /// True if `name` is a method (so `.X` with arguments is a call, not a field).
    fn has_method(&self, _name: &str) -> bool {
        false
    }
    /// The Go signature of method `name` (parameter types, variadic tail), so its
    /// arguments are counted, checked and converted exactly like a function's
    /// (`wrong number of args for Has: want 1 got 0`, `expected string; found 1`).
    /// `None` passes the arguments unchecked.
    fn method_params(
        &self,
        _name: &str,
    ) -> Option<(&'static [crate::func::Param], Option<crate::func::Param>)> {
        None
    }
    /// How `fmt.Sprint` (and so `{{ . }}`) prints it; Go's `String()` method if it has one.
    fn display(&self) -> String;
    /// How `fmt` prints a copy of it, as functions (`print`, `printf`, `quote`, ...) receive
    /// it: differs from [`display`](Object::display) only for a struct whose `String()`
    /// has a pointer receiver (Helm's `KubeVersion`), which `{{ . }}` can call on the
    /// addressable field but a copy cannot.
    fn display_copy(&self) -> String {
        self.display()
    }
    /// Conversion for `toYaml`/`toJson` (Go's marshalling of the struct), if any.
    ///
    /// By default, the [`json_fields`](Object::json_fields) as a map (sorted keys), if any.
    fn to_data(&self) -> Option<Value> {
        self.json_fields()
            .map(|fields| Value::map(fields.into_iter().collect()))
    }
    /// For a named Go map type (Helm's `engine.files` is a `map[string][]byte`): its
    /// entries sorted by key, so `range`, `index`, `len` and truth tests see a map.
    /// `None` (the default) for struct-like objects.
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// The map's element zero value, which `index` returns for a missing key.
    fn map_zero(&self) -> Value {
        Value::Nil
    }
    /// For a named Go slice type (Helm's `chartutil.VersionSet` is a `[]string` with a
    /// `Has` method): its elements as a list value, so `range`, `index`, `len`, truth tests
    /// and list functions see a slice. `None` (the default) for struct-like objects.
    fn list_items(&self) -> Option<Value> {
        None
    }
    /// For encoders that keep a Go struct's field order (`encoding/json`): the JSON fields
    /// in declaration order (json tags and `omitempty` applied). `None`: encode [`to_data`]'s
    /// map (sorted keys).
    ///
    /// [`to_data`]: Object::to_data
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// For a named Go `int64` type with methods (`time.Duration`): its integer, which
    /// `kindOf` (`int64`) and the integer verbs (`%d`, `%x`, ...) see.
    fn as_int(&self) -> Option<i64> {
        None
    }
}

/// A template value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go `nil` (an absent map key, YAML `null`).
    #[default]
    Nil,
    Bool(bool),
    Int(i64, IntKind),
    Float(f64),
    /// A Go `string` holding valid UTF-8 (the fast, common case).
    String(Arc<str>),
    /// A Go `string` whose bytes are not valid UTF-8 (a binary file read with `.Files.Get`,
    /// `b64dec` of binary, a cut inside a character). Never holds valid UTF-8: build it with
    /// [`Value::string_from_bytes`], which picks [`Value::String`] when it can, so two equal
    /// Go strings always have the same variant.
    ByteStr(Arc<[u8]>),
    /// Go `[]byte`.
    Bytes(Arc<[u8]>),
    List(Arc<Vec<Value>>, ListKind),
    Map(MapRef, MapKind),
    Object(Arc<dyn Object>),
}

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }
    /// A Go string made of `bytes`: [`Value::String`] when they are valid UTF-8, else
    /// [`Value::ByteStr`].
    pub fn string_from_bytes(bytes: impl Into<Vec<u8>>) -> Value {
        match String::from_utf8(bytes.into()) {
            Ok(s) => Value::String(s.into()),
            Err(e) => Value::ByteStr(e.into_bytes().into()),
        }
    }
    /// Like [`Value::string_from_bytes`], copying from a slice.
    pub fn string_from_slice(bytes: &[u8]) -> Value {
        match std::str::from_utf8(bytes) {
            Ok(s) => Value::String(s.into()),
            Err(_) => Value::ByteStr(bytes.into()),
        }
    }
    /// True for a Go string, whatever its bytes.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_) | Value::ByteStr(_))
    }
    /// The bytes of a Go string (either variant).
    pub fn str_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s.as_bytes()),
            Value::ByteStr(b) => Some(b),
            _ => None,
        }
    }
    /// The text of a Go string as Go code that ranges over its runes sees it: every byte
    /// that is not part of valid UTF-8 becomes U+FFFD (see [`go_lossy`]).
    pub fn str_lossy(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
            Value::ByteStr(b) => Some(go_lossy(b)),
            _ => None,
        }
    }
    pub fn int(i: i64) -> Value {
        Value::Int(i, IntKind::Int)
    }
    pub fn int64(i: i64) -> Value {
        Value::Int(i, IntKind::Int64)
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Arc::new(v), ListKind::Any)
    }
    pub fn string_list(v: Vec<Value>) -> Value {
        Value::List(Arc::new(v), ListKind::String)
    }
    pub fn map(m: Map) -> Value {
        Value::Map(MapRef::new(m), MapKind::Any)
    }
    /// A `map[string]string` value.
    pub fn string_map(m: Map) -> Value {
        Value::Map(MapRef::new(m), MapKind::String)
    }
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
    /// True for Go's nil map: an empty map of [`MapKind::NilAny`].
    pub fn is_nil_map(&self) -> bool {
        matches!(self, Value::Map(m, MapKind::NilAny) if m.is_empty())
    }
    /// True for Go's nil slice: an empty list of a `Nil*` [`ListKind`].
    pub fn is_nil_list(&self) -> bool {
        matches!(self, Value::List(l, ListKind::NilAny | ListKind::NilString) if l.is_empty())
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The shared map, if this is one.
    pub fn as_map(&self) -> Option<&MapRef> {
        match self {
            Value::Map(m, _) => Some(m),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l, _) => Some(l),
            _ => None,
        }
    }
}

impl Value {
    /// A copy sharing nothing mutable with `self`: maps are copied recursively,
    /// also inside lists (Sprig `deepCopy`, Helm's per-render values).
    pub fn deep_copy(&self) -> Value {
        self.deep_copy_at(0)
    }
    fn deep_copy_at(&self, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Nil;
        }
        match self {
            Value::Map(m, k) => Value::Map(MapRef::new(m.deep_copy_map(depth)), *k),
            Value::List(l, k) if l.iter().any(Value::holds_map) => Value::List(
                Arc::new(l.iter().map(|v| v.deep_copy_at(depth + 1)).collect()),
                *k,
            ),
            other => other.clone(),
        }
    }
    fn holds_map(&self) -> bool {
        match self {
            Value::Map(..) => true,
            Value::List(l, _) => l.iter().any(Value::holds_map),
            _ => false,
        }
    }

    /// Go's `%T` / Sprig `typeOf` name: `string`, `int`, `int64`, `float64`, `bool`,
    /// `[]interface {}`, `[]string`, `map[string]interface {}`, `[]uint8`, `<nil>`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_, IntKind::Int) => "int".into(),
            Value::Int(_, IntKind::Int64) => "int64".into(),
            Value::Int(_, IntKind::Int32) => "int32".into(),
            Value::Int(_, IntKind::Uint8) => "uint8".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) | Value::ByteStr(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(_, k) if k.is_any() => "[]interface {}".into(),
            Value::List(..) => "[]string".into(),
            Value::Map(_, k) if k.is_any() => "map[string]interface {}".into(),
            Value::Map(..) => "map[string]string".into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// Go's `reflect.Kind` name (Sprig `kindOf`): `string`, `int`, `int64`, `float64`,
    /// `bool`, `slice`, `map`, `ptr`/`struct`, `invalid` for nil.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_, IntKind::Int) => "int",
            Value::Int(_, IntKind::Int64) => "int64",
            Value::Int(_, IntKind::Int32) => "int32",
            Value::Int(_, IntKind::Uint8) => "uint8",
            Value::Float(_) => "float64",
            Value::String(_) | Value::ByteStr(_) => "string",
            Value::Bytes(_) | Value::List(..) => "slice",
            Value::Map(..) => "map",
            Value::Object(o) => {
                if o.as_int().is_some() {
                    "int64"
                } else if o.type_name().starts_with('*') {
                    "ptr"
                } else {
                    "struct"
                }
            }
        }
    }
}

/// Map keys are Rust `String`s; a Go string key that is not valid UTF-8 (a binary file's bytes
/// used with `dict`, `set`, `index`) is stored with each invalid byte `b` (always 0x80–0xFF) as
/// the character U+10FF00+`b` (the last 128 code points of the supplementary private use area
/// B, which text keys do not use), and turned back into its bytes wherever a key leaves the
/// map ([`key_value`], [`key_bytes`]). Valid UTF-8 keys are stored as they are, at no cost.
const KEY_ESCAPE_BASE: u32 = 0x10_FF00;

/// The map key for the Go string `bytes` (see [`KEY_ESCAPE_BASE`]).
pub fn key_from_bytes(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for &b in chunk.invalid() {
            out.push(char::from_u32(KEY_ESCAPE_BASE + u32::from(b)).unwrap_or('\u{fffd}'));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The map key for a Go string value (`None` for other values).
pub fn map_key(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::ByteStr(b) => Some(key_from_bytes(b)),
        _ => None,
    }
}

/// True when a map key stands for a Go string that is not UTF-8. Cheap: text keys rarely
/// hold the byte 0xF4 that starts every escape.
pub fn is_escaped_key(k: &str) -> bool {
    k.as_bytes().contains(&0xF4) && k.chars().any(is_key_escape)
}

fn is_key_escape(c: char) -> bool {
    (KEY_ESCAPE_BASE + 0x80..=KEY_ESCAPE_BASE + 0xFF).contains(&u32::from(c))
}

/// The Go string bytes a map key stands for.
pub fn key_bytes(k: &str) -> std::borrow::Cow<'_, [u8]> {
    if !is_escaped_key(k) {
        return std::borrow::Cow::Borrowed(k.as_bytes());
    }
    let mut out = Vec::with_capacity(k.len());
    for c in k.chars() {
        if is_key_escape(c) {
            out.push((u32::from(c) - KEY_ESCAPE_BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A map key as the Go string value it stands for.
pub fn key_value(k: &str) -> Value {
    if is_escaped_key(k) {
        Value::ByteStr(key_bytes(k).into_owned().into())
    } else {
        Value::String(k.into())
    }
}

/// A map key as text where Go converts it rune by rune (`encoding/json`): each byte that is
/// not UTF-8 becomes U+FFFD.
pub fn key_lossy(k: &str) -> std::borrow::Cow<'_, str> {
    if is_escaped_key(k) {
        std::borrow::Cow::Owned(go_lossy(&key_bytes(k)).into_owned())
    } else {
        std::borrow::Cow::Borrowed(k)
    }
}

/// Sorts map entries in Go's key order (bytewise on the Go strings) when an escaped key
/// makes it differ from the map's own order; otherwise leaves them as they are.
pub fn sort_go_key_order<V>(entries: &mut [(String, V)]) {
    if entries.iter().any(|(k, _)| is_escaped_key(k)) {
        entries.sort_by(|a, b| key_bytes(&a.0).cmp(&key_bytes(&b.0)));
    }
}

/// Bytes as text the way Go converts them rune by rune (`for range`, `[]rune(s)`,
/// `strings.Map`, `encoding/json`): each byte that does not start a valid UTF-8 sequence
/// becomes one U+FFFD (Rust's `from_utf8_lossy` replaces a cut sequence by a single one).
pub fn go_lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{fffd}');
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Go's `utf8.RuneCount`: runes of valid UTF-8 plus one per invalid byte.
pub fn rune_count(bytes: &[u8]) -> usize {
    let mut n = 0;
    for chunk in bytes.utf8_chunks() {
        n += chunk.valid().chars().count() + chunk.invalid().len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gofmt::sprint;

    fn one(k: &str, v: Value) -> Map {
        Map::from([(k.to_string(), v)])
    }

    #[test]
    fn clones_share_the_map_and_deep_copies_do_not() {
        let inner = Value::map(one("k", Value::int(1)));
        let outer = Value::map(one("n", inner.clone()));
        let alias = outer.clone();
        let copy = outer.deep_copy();
        inner.as_map().expect("map").insert("j", Value::int(2));
        alias
            .as_map()
            .expect("map")
            .insert("top", Value::Bool(true));
        assert_eq!(sprint(&outer), "map[n:map[j:2 k:1] top:true]");
        assert_eq!(sprint(&copy), "map[n:map[k:1]]");
        assert!(
            outer
                .as_map()
                .expect("map")
                .ptr_eq(alias.as_map().expect("map"))
        );
        assert!(
            !outer
                .as_map()
                .expect("map")
                .ptr_eq(copy.as_map().expect("map"))
        );
    }

    #[test]
    fn a_map_containing_itself_prints_copies_and_debugs_without_overflow() {
        let d = Value::map(one("a", Value::int(1)));
        let m = d.as_map().expect("map");
        // Inserting the map into itself: no read guard is held while writing.
        m.insert("self", d.clone());
        assert_eq!(sprint(&d), "map[a:1 self:map[<cycle>]]");
        assert!(format!("{d:?}").contains("<cycle"));
        let c = d.deep_copy();
        assert_eq!(c.as_map().expect("map").len(), 2);
        assert!(!c.as_map().expect("map").ptr_eq(m));
    }
}
