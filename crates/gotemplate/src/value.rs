//! The data model templates see: Go's `interface{}` values as Helm produces them.
//!
//! Helm's values come from YAML/JSON decoding into `map[string]interface{}`, so the
//! common shapes are nil, bool, int64/int/float64, string, `[]interface{}` and
//! `map[string]interface{}`. Sprig functions return a few more Go types (`[]string`,
//! `map[string]string`, `[]byte`, structs such as semver versions and certificates);
//! those are kept distinct where Go's `typeOf`/`kindOf`/`%T` or `printf` would show
//! the difference.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A string-keyed map with Go's sorted-key iteration order.
pub type Map = BTreeMap<String, Value>;

/// Go element type of a list, kept so `typeOf` and `%T` match Go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `[]interface {}`
    Any,
    /// `[]string`
    String,
}

/// Go value type of a map, kept so `typeOf` and `%T` match Go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKind {
    /// `map[string]interface {}`
    Any,
    /// `map[string]string`
    String,
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
    /// Conversion for `toYaml`/`toJson` (Go's marshalling of the struct), if any.
    fn to_data(&self) -> Option<Value> {
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
    String(Arc<str>),
    /// Go `[]byte`.
    Bytes(Arc<[u8]>),
    List(Arc<Vec<Value>>, ListKind),
    Map(Arc<Map>, MapKind),
    Object(Arc<dyn Object>),
}

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
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
        Value::Map(Arc::new(m), MapKind::Any)
    }
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&Map> {
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
            Value::String(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(_, ListKind::Any) => "[]interface {}".into(),
            Value::List(_, ListKind::String) => "[]string".into(),
            Value::Map(_, MapKind::Any) => "map[string]interface {}".into(),
            Value::Map(_, MapKind::String) => "map[string]string".into(),
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
            Value::String(_) => "string",
            Value::Bytes(_) | Value::List(..) => "slice",
            Value::Map(..) => "map",
            Value::Object(o) => {
                if o.type_name().starts_with('*') {
                    "ptr"
                } else {
                    "struct"
                }
            }
        }
    }
}
