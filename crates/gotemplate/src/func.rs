//! Function maps: how a host (Sprig, Helm) registers functions callable from templates.
//!
//! A function declares its Go signature ([`Param`] types, variadic tail) so the executor
//! can check arity and convert arguments exactly as Go's `reflect`-based call does, and
//! produce Go's messages (`wrong number of args for upper: want 1 got 2`,
//! `wrong type for value; expected string; got int`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::value::Value;

/// The Go type of a declared parameter. The executor converts an argument to it
/// (or fails with Go's error) before the function sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// `interface{}`: anything, including nil.
    Any,
    String,
    Bool,
    /// Go `int`
    Int,
    /// Go `int64`
    Int64,
    Float64,
    /// `[]interface{}` (a `[]string` is not assignable to it in Go: that is an error)
    List,
    /// `[]string`
    StringList,
    /// `map[string]interface{}`
    Map,
    /// `[]byte`
    Bytes,
}

/// Returned by a function. Its text becomes Go's `error calling NAME: TEXT`.
#[derive(Clone, Debug, PartialEq)]
pub struct FuncError(pub String);

impl<T: Into<String>> From<T> for FuncError {
    fn from(s: T) -> Self {
        FuncError(s.into())
    }
}

pub type FuncResult = Result<Value, FuncError>;

/// What a function may ask of the running template: the hooks Helm's `include` and
/// `tpl` need. Implemented by the executor.
pub trait CallContext {
    /// Execute the named template of the current set with `data` and return its output,
    /// Go's bytes (Helm's `include`). Missing-key values print as `<no value>` here, as in Go.
    /// The error text is Go's (`template: no template "x" associated with template "gotpl"`,
    /// or the nested execution error); more than 1000 nested calls of one name fail with
    /// Helm's `rendering template has a nested reference name: NAME: unable to execute template`.
    /// Inside [`CallContext::tpl`], "the current set" is the copy the `tpl` text was parsed into.
    fn execute_template(&mut self, name: &str, data: &Value) -> Result<Vec<u8>, FuncError>;
    /// Parse `text` as a new template named `name` that can see the templates of the
    /// current set, execute it with `data` and return the output (Helm's `tpl`).
    fn parse_and_execute(
        &mut self,
        name: &str,
        text: &str,
        data: &Value,
    ) -> Result<Vec<u8>, FuncError>;
    /// Name of the template being executed (`.Template.Name` style helpers).
    fn template_name(&self) -> &str;
    /// Like [`CallContext::parse_and_execute`] (Helm's `tpl`), but tells a parse failure
    /// (Helm wraps it as `cannot parse template ...`) from an execution failure (Helm:
    /// `error during tpl function execution for ...`).
    fn tpl(&mut self, name: &str, text: &str, data: &Value) -> Result<Vec<u8>, TplError> {
        self.parse_and_execute(name, text, data)
            .map_err(|e| TplError::Exec(e.0))
    }
}

/// Failure of [`CallContext::tpl`], carrying Go's error text.
#[derive(Clone, Debug, PartialEq)]
pub enum TplError {
    /// The text did not parse (`template: NAME:LINE: ...`).
    Parse(String),
    /// Executing it failed (`template: NAME:LINE:COL: executing ...`).
    Exec(String),
}

pub type FuncImpl = dyn Fn(&mut dyn CallContext, &[Value]) -> FuncResult + Send + Sync;

/// A callable function with its Go signature.
#[derive(Clone)]
pub struct Function {
    pub params: &'static [Param],
    /// Type of a variadic tail (`...interface{}`), if any.
    pub variadic: Option<Param>,
    pub f: Arc<FuncImpl>,
    /// The function handles strings of any bytes ([`Value::ByteStr`]). When false, such an
    /// argument reaches it as text with each invalid byte turned into U+FFFD (what Go code
    /// ranging over the string's runes sees).
    pub bytes: bool,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("params", &self.params)
            .field("variadic", &self.variadic)
            .finish()
    }
}

impl Function {
    pub fn new(
        params: &'static [Param],
        variadic: Option<Param>,
        f: impl Fn(&mut dyn CallContext, &[Value]) -> FuncResult + Send + Sync + 'static,
    ) -> Self {
        Function {
            params,
            variadic,
            f: Arc::new(f),
            bytes: false,
        }
    }
    /// Marks the function as handling strings of any bytes (see [`Function::bytes`]).
    pub fn with_bytes(mut self) -> Self {
        self.bytes = true;
        self
    }
}

/// Name → function. A host clones Sprig's map and inserts its own.
#[derive(Clone, Debug, Default)]
pub struct FuncMap {
    funcs: FastMap<String, Function>,
}

impl FuncMap {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, name: impl Into<String>, f: Function) {
        self.funcs.insert(name.into(), f);
    }
    pub fn get(&self, name: &str) -> Option<&Function> {
        self.funcs.get(name)
    }
    pub fn contains(&self, name: &str) -> bool {
        self.funcs.contains_key(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.funcs.keys().map(String::as_str)
    }
}

/// FNV-1a: function and template names are short, so this beats SipHash on every lookup.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A `HashMap` keyed by names, hashed with [`Fnv`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;
