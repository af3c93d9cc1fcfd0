//! # gotemplate
//!
//! Go's `text/template` language and the Sprig function library, reproducing what Helm
//! v3.17 (built with Go 1.23) prints, byte for byte, errors included.
//!
//! Owns: lexing, parsing, executing templates; the value model ([`Value`]); Go's `fmt`
//! formatting; Go's builtin functions. Sprig lives in the `sprig` crate; Helm's `include`,
//! `tpl`, `toYaml` are registered by the host through [`FuncMap`], with [`CallContext`]
//! giving them access to the running template set.
//!
//! Use: build a [`TemplateSet`] with a [`FuncMap`], [`TemplateSet::parse`] each file (defines
//! are global to the set), then [`TemplateSet::execute`] any template, concurrently if
//! wanted (sets are immutable and `Send + Sync`). `PARITY.md` lists what matches Go and what
//! does not.
//!
//! Modules: `lex` (items), `parse` (tree, Go's parse errors), `exec` (walking, builtins,
//! error context, `CallContext`), `set` (sets, options, errors), [`gofmt`] (Go's `fmt`),
//! [`func`] (function maps), [`value`] (data model).
//!
//! May call: nothing else in Trellis. Pure: no file, network or clock access.

mod exec;
pub mod func;
pub mod gofmt;
mod lex;
mod parse;
mod printable;
mod set;
pub mod value;

pub use exec::{query_escape, value_truth};
pub use func::{CallContext, FuncError, FuncMap, FuncResult, Function, Param, TplError};
pub use set::{Error, ExecOptions, Result, TemplateSet};
pub use value::{IntKind, ListKind, MAX_DEPTH, Map, MapKind, MapRef, Object, Value};
