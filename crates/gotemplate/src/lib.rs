//! # gotemplate
//!
//! Go's `text/template` language and the Sprig function library, reproducing what Helm
//! v3.17 (built with Go 1.23) prints, byte for byte, errors included.
//!
//! Owns: lexing, parsing, executing templates; the value model ([`Value`]); Go's `fmt`
//! formatting; the builtin functions and Sprig. Knows nothing of Helm (no `include`,
//! `tpl`, `toYaml`: a host registers those through [`FuncMap`]).
//!
//! May call: nothing else in Trellis. Pure: no file, network or clock access except
//! where Sprig's contract demands it (`now`, random functions).

mod exec;
pub mod func;
pub mod gofmt;
mod lex;
mod parse;
mod set;
pub mod value;

pub use exec::{query_escape, value_truth};
pub use func::{CallContext, FuncError, FuncMap, FuncResult, Function, Param, TplError};
pub use set::{Error, ExecOptions, Result, TemplateSet};
pub use value::{IntKind, ListKind, Map, MapKind, Object, Value};
