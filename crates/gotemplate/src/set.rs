//! Template sets: what a host parses files into and executes (Go's `*template.Template`
//! with its associated templates), the execution options and limits, and the error type.
//!
//! A set is built by `parse` calls (Helm parses every chart file into one set, so
//! `define`s are global) and then shared immutably (`Arc`, `Send + Sync`) between any
//! number of concurrent executions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::exec::{BUILTIN_NAMES, Rv, Shared, State};
use crate::func::{FastMap, FuncMap};
use crate::gofmt;
use crate::parse::{self, Tree};
use crate::value::Value;

/// A template failure; `Display` is Go's error text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// Parsing failed: `template: NAME:LINE: MESSAGE`.
    #[error("{0}")]
    Parse(String),
    /// Execution failed: `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`,
    /// or `template: no template "x" associated with template "y"`.
    #[error("{0}")]
    Exec(String),
    /// A safety limit of [`ExecOptions`] was hit (depth, output size, iterations).
    #[error("{0}")]
    Limit(String),
    /// The cancellation flag of [`ExecOptions`] was set.
    #[error("template execution cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Limits and hooks of one execution. The defaults never bind a sane chart.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Maximum nesting of `template`/`include`/`tpl` calls (Go limits `template`
    /// nesting to 100000, with the same error text).
    pub max_depth: usize,
    /// Maximum bytes of output of any one template execution; also the largest string
    /// (bytes) or list/map (elements) a function may return.
    pub max_output: usize,
    /// Maximum total `range` iterations of one execution (including nested ones).
    pub max_range_iterations: u64,
    /// Set it to `true` from another thread to stop the execution (checked in loops
    /// and at each template call).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Go's `missingkey=error` (Helm's `--strict` lint): a missing map key is an error
    /// (`map has no entry for key "x"`) instead of printing `<no value>`.
    pub missing_key_error: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            max_depth: 100_000,
            max_output: 256 << 20,
            max_range_iterations: 50_000_000,
            cancel: None,
            missing_key_error: false,
        }
    }
}

/// The shared, immutable part of a set.
#[derive(Clone, Debug)]
pub(crate) struct SetInner {
    pub funcs: Arc<FuncMap>,
    pub templates: FastMap<String, Arc<Tree>>,
    /// Name of the root template (Helm: `gotpl`), used in "no template associated" errors.
    pub root_name: String,
}

impl SetInner {
    /// Parses `text` as template `name` into this set (Go's `t.New(name).Parse(text)`) and
    /// returns the tree of `name` as parsed (even if the set kept an earlier definition).
    pub(crate) fn parse_into(&mut self, name: &str, text: &str) -> Result<Arc<Tree>> {
        let trees = parse_trees(&self.funcs, name, text)?;
        self.associate(name, trees)
    }

    /// Adds the trees parsed from template `name` (Go's `AddParseTree` for each).
    fn associate(&mut self, name: &str, trees: HashMap<String, Tree>) -> Result<Arc<Tree>> {
        let mut mine = None;
        for (tname, tree) in trees {
            let tree = Arc::new(tree);
            if tname == name {
                mine = Some(tree.clone());
            }
            // Go's `associate`: an empty definition never replaces an existing template.
            let keep_old = self.templates.contains_key(&tname) && parse::is_empty_list(&tree.root);
            if !keep_old {
                self.templates.insert(tname, tree);
            }
        }
        let mine = match mine {
            Some(t) => t,
            None => self
                .templates
                .get(name)
                .cloned()
                .ok_or_else(|| Error::Parse(format!("template: {name}: no tree")))?,
        };
        Ok(mine)
    }
}

/// Parses one text into its trees; touches no set, so texts can be parsed in parallel.
fn parse_trees(funcs: &FuncMap, name: &str, text: &str) -> Result<HashMap<String, Tree>> {
    let has_func = |n: &str| funcs.contains(n) || BUILTIN_NAMES.contains(&n);
    parse::parse(name, text, &has_func).map_err(|e| Error::Parse(e.0))
}

/// Below this many bytes of template text, a second parsing thread costs more than it saves.
const PARALLEL_PARSE_BYTES: usize = 128 * 1024;

/// Parses `files` in order, each until the first failure: results up to and including it.
fn parse_run(funcs: &FuncMap, files: &[(&str, &str)]) -> Vec<Result<HashMap<String, Tree>>> {
    let mut out = Vec::with_capacity(files.len());
    for (name, text) in files {
        let r = parse_trees(funcs, name, text);
        let failed = r.is_err();
        out.push(r);
        if failed {
            break;
        }
    }
    out
}

/// A parsed set of templates plus the functions they may call.
///
/// ```
/// use gotemplate::{ExecOptions, FuncMap, TemplateSet, Value};
/// let mut set = TemplateSet::new(FuncMap::new());
/// set.parse("a.tpl", r#"{{ define "greet" }}hi {{ . }}{{ end }}"#).unwrap();
/// set.parse("main", r#"{{ template "greet" "you" }}!"#).unwrap();
/// assert_eq!(set.execute("main", &Value::Nil, &ExecOptions::default()).unwrap(), "hi you!");
/// ```
#[derive(Clone, Debug)]
pub struct TemplateSet {
    inner: Arc<SetInner>,
}

impl TemplateSet {
    /// An empty set whose templates may call `funcs` (plus Go's builtins). The root
    /// template is named `gotpl`, as in Helm.
    pub fn new(funcs: FuncMap) -> Self {
        Self::with_root_name(funcs, "gotpl")
    }

    /// Like [`TemplateSet::new`] with another root template name (only seen in the
    /// `no template "x" associated with template "ROOT"` error).
    pub fn with_root_name(funcs: FuncMap, root: &str) -> Self {
        TemplateSet {
            inner: Arc::new(SetInner {
                funcs: Arc::new(funcs),
                templates: FastMap::default(),
                root_name: root.to_string(),
            }),
        }
    }

    /// Parses `text` as template `name`, adding it and every `define`/`block` in it to
    /// the set. A later non-empty definition of a name replaces an earlier one; an empty
    /// one never does. On error the set is unchanged.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<()> {
        // Copy-on-write: a set not shared yet is updated in place. `parse_into` only
        // mutates after the text parsed, so a failure leaves the set unchanged.
        Arc::make_mut(&mut self.inner).parse_into(name, text)?;
        Ok(())
    }

    /// Parses each `(name, text)` in order, exactly as that many [`TemplateSet::parse`]
    /// calls would (later definitions replace earlier ones in this order). Large inputs are
    /// parsed on two threads (parsing a text never depends on the set); the trees are then
    /// added in order. On error, returns the index of the first file that fails in order,
    /// with the set holding the files before it.
    pub fn parse_all(&mut self, files: &[(&str, &str)]) -> Result<(), (usize, Error)> {
        let total: usize = files.iter().map(|(_, t)| t.len()).sum();
        let funcs = self.inner.funcs.clone();
        let results = if total < PARALLEL_PARSE_BYTES || files.len() < 2 {
            parse_run(&funcs, files)
        } else {
            // Split where half of the bytes are on each side.
            let mut acc = 0;
            let split = files
                .iter()
                .position(|(_, t)| {
                    acc += t.len();
                    acc * 2 >= total
                })
                .map_or(files.len(), |i| i + 1)
                .min(files.len() - 1);
            let (head, tail) = files.split_at(split);
            std::thread::scope(|scope| {
                let later = std::thread::Builder::new()
                    .spawn_scoped(scope, || parse_run(&funcs, tail))
                    .ok();
                let mut first = parse_run(&funcs, head);
                if first.len() == head.len() && first.last().is_none_or(Result::is_ok) {
                    // Without a second thread (or if it died), parse the rest here.
                    match later.and_then(|h| h.join().ok()) {
                        Some(rest) => first.extend(rest),
                        None => first.extend(parse_run(&funcs, tail)),
                    }
                }
                first
            })
        };
        let inner = Arc::make_mut(&mut self.inner);
        for (i, r) in results.into_iter().enumerate() {
            let (name, _) = files[i];
            r.and_then(|trees| inner.associate(name, trees))
                .map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// True if a template of that name is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.inner.templates.contains_key(name)
    }

    /// Names of all templates in the set (unordered).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inner.templates.keys().map(String::as_str)
    }

    /// Executes template `name` with `data` as dot and `$` (Go's `ExecuteTemplate`).
    /// A missing value prints as `<no value>`, as Go does.
    pub fn execute(&self, name: &str, data: &Value, opts: &ExecOptions) -> Result<String> {
        self.execute_bytes(name, data, opts)
            .map(|b| match String::from_utf8(b) {
                Ok(s) => s,
                Err(e) => crate::value::go_lossy(e.as_bytes()).into_owned(),
            })
    }

    /// Like [`TemplateSet::execute`], returning the output as Go writes it: bytes, which are
    /// not UTF-8 when the template printed such strings (a binary file, `b64dec`).
    pub fn execute_bytes(&self, name: &str, data: &Value, opts: &ExecOptions) -> Result<Vec<u8>> {
        let Some(tree) = self.inner.templates.get(name) else {
            return Err(Error::Exec(format!(
                "template: no template {} associated with template {}",
                gofmt::quote(name),
                gofmt::quote(&self.inner.root_name)
            )));
        };
        let mut shared = Shared {
            opts,
            iterations: 0,
            include_counts: FastMap::default(),
            fatal: None,
        };
        let dot = match data {
            Value::Nil => Rv::Invalid,
            v => Rv::Val(v.clone()),
        };
        let state = State::new(&self.inner, tree, &tree.name, dot.clone(), 0, &mut shared);
        let r = stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, || state.run(dot));
        if let Some(e) = shared.fatal.take() {
            return Err(e);
        }
        r
    }
}

#[cfg(test)]
mod parse_all_tests {
    use super::*;

    /// Enough files and bytes to take the two-thread path.
    fn files(n: usize) -> Vec<(String, String)> {
        let pad = "x".repeat(PARALLEL_PARSE_BYTES / n + 1);
        (0..n)
            .map(|i| {
                (
                    format!("f{i}"),
                    format!(
                        "{pad}{}{i}{}",
                        r#"{{ define "d" }}"#, r#"{{ end }}{{ template "d" }}"#
                    ),
                )
            })
            .collect()
    }

    fn refs(f: &[(String, String)]) -> Vec<(&str, &str)> {
        f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }

    #[test]
    fn parse_all_is_sequential_parse() {
        let f = files(8);
        let mut one = TemplateSet::new(FuncMap::new());
        for (n, t) in &f {
            one.parse(n, t).unwrap();
        }
        let mut all = TemplateSet::new(FuncMap::new());
        all.parse_all(&refs(&f)).unwrap();
        let opts = ExecOptions::default();
        for (n, _) in &f {
            assert_eq!(
                all.execute(n, &Value::Nil, &opts).unwrap(),
                one.execute(n, &Value::Nil, &opts).unwrap()
            );
        }
        assert!(
            all.execute("f0", &Value::Nil, &opts)
                .unwrap()
                .ends_with('7')
        );
    }

    #[test]
    fn parse_all_reports_the_first_failure_in_order() {
        for bad in [[1, 6], [5, 6], [6, 7]] {
            let mut f = files(8);
            for b in bad {
                f[b].1.push_str("{{ if }}");
            }
            let mut set = TemplateSet::new(FuncMap::new());
            let (i, e) = set.parse_all(&refs(&f)).unwrap_err();
            assert_eq!(i, bad[0]);
            let mut one = TemplateSet::new(FuncMap::new());
            assert_eq!(one.parse(&f[i].0, &f[i].1).unwrap_err(), e);
            assert!(set.contains(&f[i - 1].0) && !set.contains(&f[i].0));
        }
    }
}
