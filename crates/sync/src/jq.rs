//! jq path expressions for `ignoreDifferences.jqPathExpressions`, evaluated with jaq.
//!
//! An expression selects parts of an object (`.spec.replicas`,
//! `.spec.template.spec.containers[] | select(.name == "istio-proxy")`); the diff removes the
//! selected paths from both sides before comparing, as Argo CD deletes them with `del(expr)`.
//!
//! Expressions come from Application resources, so their evaluation is bounded:
//!
//! - before compiling, an expression is refused when it is longer than [`MAX_LEN`] characters,
//!   has more than [`MAX_TOKENS`] tokens or nests brackets deeper than [`MAX_DEPTH`] (jaq's parser,
//!   compiler and evaluator recurse per nesting level), or uses a construct that
//!   can run without end or blow up independently of the object's size: definitions (`def`,
//!   hence recursion), `reduce`/`foreach`, `label`, `import`/`include`, multiplication (string
//!   repetition), and the generators `range`, `repeat`, `while`, `until`, `recurse(f)`,
//!   `combinations`, `limit`-free inputs (`input`, `inputs`), `env`/`$ENV`, `halt`, `now`,
//!   `debug`/`stderr`. What remains (paths, `..`, `select`, comparisons, string and regex
//!   filters, `map`, `to_entries`, ...) runs in time polynomial in the object's size;
//! - evaluation stops after [`MAX_PATHS`] selected paths or [`TIME_BUDGET`], whichever comes
//!   first, and reports which expression exceeded it;
//! - a runtime error (`.spec.initContainers[]` where there are none) selects nothing, as in
//!   Argo CD; compile errors are reported with the expression.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jaq_core::load::lex::{StrPart, Tok, Token};
use jaq_core::load::{Arena, File, Lexer, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;
use serde_json::Value;

/// Longest accepted expression, in bytes.
pub const MAX_LEN: usize = 2048;
/// Deepest accepted bracket nesting.
pub const MAX_DEPTH: usize = 32;
/// Most tokens in an expression (string interpolations included). jaq's parser, compiler and
/// evaluator recurse once per nesting level (`- - - x`, `a | b | c`, `try try x`), so this bounds
/// their stack use well within a 2 MiB worker thread's stack; real expressions have a few dozen.
pub const MAX_TOKENS: usize = 200;
/// Most paths one expression may select in one object.
pub const MAX_PATHS: usize = 10_000;
/// Longest one expression may run on one object.
pub const TIME_BUDGET: Duration = Duration::from_millis(500);

/// Words refused anywhere in an expression (keywords and filters that can loop or explode).
const DENIED_WORDS: &[&str] = &[
    "def",
    "reduce",
    "foreach",
    "label",
    "import",
    "include",
    "range",
    "repeat",
    "while",
    "until",
    "combinations",
    "input",
    "inputs",
    "env",
    "halt",
    "halt_error",
    "now",
    "debug",
    "stderr",
    "input_filename",
    "stderr_empty",
    "debug_empty",
];

/// Why an expression cannot be used or did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JqError {
    /// The expression does not parse or compile, or uses a refused construct.
    #[error("jq path expression {expr:?}: {message}")]
    Invalid {
        /// The expression.
        expr: String,
        /// Why.
        message: String,
    },
    /// The expression selected too many paths or ran too long on an object.
    #[error("jq path expression {expr:?}: {message}")]
    Budget {
        /// The expression.
        expr: String,
        /// Which limit.
        message: String,
    },
}

/// One step of a selected path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Object key.
    Key(String),
    /// Array index (negative counts from the end).
    Index(i64),
}

type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// A compiled expression.
pub struct JqPaths {
    expr: String,
    filter: Filter,
}

impl std::fmt::Debug for JqPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JqPaths")
            .field("expr", &self.expr)
            .finish_non_exhaustive()
    }
}

fn invalid(expr: &str, message: impl Into<String>) -> JqError {
    JqError::Invalid {
        expr: expr.to_string(),
        message: message.into(),
    }
}

/// Refuse expressions whose parsing or evaluation could run away (see the module's doc).
fn check_shape(expr: &str) -> Result<(), JqError> {
    if expr.trim().is_empty() {
        return Err(invalid(expr, "empty expression"));
    }
    if expr.len() > MAX_LEN {
        return Err(invalid(expr, format!("longer than {MAX_LEN} characters")));
    }
    let mut depth = 0usize;
    for c in expr.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(invalid(
                        expr,
                        format!("brackets nested deeper than {MAX_DEPTH}"),
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn count_tokens(tokens: &[Token<&str>]) -> usize {
    tokens
        .iter()
        .map(|Token(_, tok)| {
            1 + match tok {
                Tok::Block(inner) => count_tokens(inner),
                Tok::Str(parts) => parts
                    .iter()
                    .map(|p| match p {
                        StrPart::Term(t) => count_tokens(std::slice::from_ref(t)),
                        _ => 1,
                    })
                    .sum(),
                _ => 0,
            }
        })
        .sum()
}

fn check_tokens(expr: &str, tokens: &[Token<&str>]) -> Result<(), JqError> {
    for Token(s, tok) in tokens {
        match tok {
            Tok::Word if DENIED_WORDS.contains(s) => {
                return Err(invalid(
                    expr,
                    format!("`{s}` is not allowed in an ignoreDifferences expression"),
                ));
            }
            Tok::Word if *s == "recurse" => {
                // `recurse` alone is `..` (finite); `recurse(f)` may not end.
                return Err(invalid(
                    expr,
                    "`recurse` is not allowed in an ignoreDifferences expression (use `..`)",
                ));
            }
            Tok::Var if *s == "$ENV" || s.starts_with("$__") => {
                return Err(invalid(
                    expr,
                    format!("`{s}` is not allowed in an ignoreDifferences expression"),
                ));
            }
            Tok::Sym if s.starts_with('*') => {
                return Err(invalid(
                    expr,
                    "`*` is not allowed in an ignoreDifferences expression",
                ));
            }
            Tok::Block(inner) => check_tokens(expr, inner)?,
            Tok::Str(parts) => {
                for p in parts {
                    if let StrPart::Term(t) = p {
                        check_tokens(expr, std::slice::from_ref(t))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl JqPaths {
    /// Compile an expression (refusing those that could run away).
    pub fn compile(expr: &str) -> Result<JqPaths, JqError> {
        check_shape(expr)?;
        let tokens = Lexer::new(expr)
            .lex()
            .map_err(|e| invalid(expr, format!("does not parse ({} lexing errors)", e.len())))?;
        let n = count_tokens(&tokens);
        if n > MAX_TOKENS {
            return Err(invalid(expr, format!("{n} tokens, more than {MAX_TOKENS}")));
        }
        check_tokens(expr, &tokens)?;
        // Evaluated as `path(EXPR)`: the paths it selects, not their values.
        let program = format!("path({expr})");
        // The whole prelude: its own definitions may use what expressions may not name.
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs::<data::JustLut<Val>>()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(
                &arena,
                File {
                    code: program.as_str(),
                    path: (),
                },
            )
            .map_err(|errs| {
                let what: Vec<String> = errs.iter().map(|(_, e)| describe_load(e)).collect();
                invalid(expr, format!("does not parse: {}", what.join("; ")))
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                let what: Vec<String> = errs
                    .iter()
                    .flat_map(|(_, es)| es.iter())
                    .map(|(name, u)| format!("undefined {} `{name}`", u.as_str()))
                    .collect();
                invalid(expr, what.join("; "))
            })?;
        Ok(JqPaths {
            expr: expr.to_string(),
            filter,
        })
    }

    /// The expression's text.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The paths the expression selects in `obj`. A runtime error selects nothing (`Ok` empty);
    /// exceeding [`MAX_PATHS`] or [`TIME_BUDGET`] is an error.
    pub fn paths(&self, obj: &Value) -> Result<Vec<Vec<Step>>, JqError> {
        let budget = |message: String| JqError::Budget {
            expr: self.expr.clone(),
            message,
        };
        let input: Val = match serde_json::from_value(obj.clone()) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(expr = %self.expr, error = %e, "jq input");
                return Ok(Vec::new());
            }
        };
        let started = Instant::now();
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        for r in self.filter.id.run((ctx, input)) {
            if started.elapsed() > TIME_BUDGET {
                return Err(budget(format!(
                    "ran longer than {} ms",
                    TIME_BUDGET.as_millis()
                )));
            }
            let v = match r.map_err(|e| e.get_err()) {
                Ok(v) => v,
                Err(Ok(e)) => {
                    // As in Argo CD: an expression that fails on this object removes nothing.
                    tracing::debug!(expr = %self.expr, error = %e, "jq path expression failed");
                    return Ok(Vec::new());
                }
                Err(Err(_)) => return Ok(Vec::new()),
            };
            if out.len() >= MAX_PATHS {
                return Err(budget(format!("selected more than {MAX_PATHS} paths")));
            }
            if let Some(p) = to_steps(&v) {
                out.push(p);
            }
        }
        Ok(out)
    }
}

fn describe_load(e: &jaq_core::load::Error<&str>) -> String {
    match e {
        jaq_core::load::Error::Io(v) => v
            .iter()
            .map(|(p, m)| format!("{p}: {m}"))
            .collect::<Vec<_>>()
            .join(", "),
        jaq_core::load::Error::Lex(v) => v
            .iter()
            .map(|(exp, at)| format!("expected {} at {at:?}", exp.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        jaq_core::load::Error::Parse(v) => v
            .iter()
            .map(|(exp, at)| format!("expected {} at {at:?}", exp.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A path value (`["spec", "replicas"]`, `["items", 0]`) as steps.
fn to_steps(v: &Val) -> Option<Vec<Step>> {
    let json: Value = serde_json::from_str(&v.to_string()).ok()?;
    json.as_array()?
        .iter()
        .map(|s| match s {
            Value::String(k) => Some(Step::Key(k.clone())),
            Value::Number(n) => n.as_i64().map(Step::Index),
            _ => None,
        })
        .collect()
}

/// Compiled expressions by text (each compiled once per process; an invalid one is remembered
/// with its error). Bounded: cleared when it grows past this many entries.
const CACHE_LIMIT: usize = 4096;

type Compiled = Result<Arc<JqPaths>, JqError>;

fn cache() -> &'static Mutex<HashMap<String, Compiled>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The compiled expression, from the process-wide cache.
pub fn compiled(expr: &str) -> Compiled {
    if let Some(c) = cache().lock().expect("jq cache lock poisoned").get(expr) {
        return c.clone();
    }
    let c = JqPaths::compile(expr).map(Arc::new);
    let mut m = cache().lock().expect("jq cache lock poisoned");
    if m.len() >= CACHE_LIMIT {
        m.clear();
    }
    m.insert(expr.to_string(), c.clone());
    c
}

/// Remove the values at `paths` from `v`. Array elements are removed from the highest index
/// down, so that one removal does not shift the others.
pub fn remove_paths(v: &mut Value, paths: &[Vec<Step>]) {
    let mut sorted: Vec<&Vec<Step>> = paths.iter().filter(|p| !p.is_empty()).collect();
    // Longest and highest first: children before parents, later indexes before earlier ones.
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    for p in sorted {
        remove_path(v, p);
    }
}

fn remove_path(v: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for s in parent {
        let next = match (s, cur) {
            (Step::Key(k), Value::Object(o)) => o.get_mut(k),
            (Step::Index(i), Value::Array(a)) => {
                let len = a.len() as i64;
                let i = if *i < 0 { len + i } else { *i };
                usize::try_from(i).ok().and_then(|i| a.get_mut(i))
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur) {
        (Step::Key(k), Value::Object(o)) => {
            o.shift_remove(k);
        }
        (Step::Index(i), Value::Array(a)) => {
            let len = a.len() as i64;
            let i = if *i < 0 { len + i } else { *i };
            if let Ok(i) = usize::try_from(i)
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn del(expr: &str, v: &Value) -> Value {
        let q = JqPaths::compile(expr).expect("compiles");
        let paths = q.paths(v).expect("within budget");
        let mut v = v.clone();
        remove_paths(&mut v, &paths);
        v
    }

    #[test]
    fn selected_paths_are_removed() {
        let d = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "app", "image": "a"}, {"name": "istio-proxy", "image": "b"}, {"name": "x", "image": "c"}]}}}});
        assert_eq!(del(".spec.replicas", &d)["spec"].get("replicas"), None);
        let out = del(
            r#".spec.template.spec.containers[] | select(.name == "istio-proxy")"#,
            &d,
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "a"}, {"name": "x", "image": "c"}])
        );
        // Several elements of one array: all removed, whatever their order.
        let out = del(
            r#".spec.template.spec.containers[] | select(.name != "app") | .image"#,
            &d,
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "a"}, {"name": "istio-proxy"}, {"name": "x"}])
        );
        let out = del(".spec.template.spec.containers[]", &d);
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([]));
        // Keys with dots, via bracket syntax.
        let cm = json!({"data": {"a.b": "1", "c": "2"}});
        assert_eq!(del(r#".data["a.b"]"#, &cm), json!({"data": {"c": "2"}}));
        // `..` finds a key anywhere.
        let out = del(r#".. | select(type == "object") | .image? // empty"#, &d);
        assert!(!out.to_string().contains("image"), "{out}");
    }

    #[test]
    fn runtime_errors_select_nothing() {
        let d = json!({"spec": {"replicas": 1}});
        assert_eq!(del(".spec.initContainers[] | .image", &d), d);
        assert_eq!(del(".spec.replicas.x", &d), d);
    }

    #[test]
    fn bad_and_unbounded_expressions_are_refused_with_their_text() {
        for (expr, why) in [
            (".spec[", "does not parse"),
            ("nosuchfilter", "undefined"),
            ("def f: f; f", "`def`"),
            ("repeat(.)", "`repeat`"),
            ("recurse(.[])", "`recurse`"),
            ("[range(1e9)]", "`range`"),
            (r#"."x" * 1e12"#, "`*`"),
            ("reduce .[] as $x (.; .)", "`reduce`"),
            ("$ENV", "`$ENV`"),
            ("", "empty"),
        ] {
            let e = JqPaths::compile(expr).expect_err(expr).to_string();
            assert!(
                e.contains(why) && e.contains(&format!("{expr:?}")),
                "{expr}: {e}"
            );
        }
        let deep = format!("{}.{}", "(".repeat(100), ")".repeat(100));
        assert!(JqPaths::compile(&deep).is_err());
        let long = format!("{}.", "- ".repeat(MAX_TOKENS));
        let e = JqPaths::compile(&long)
            .expect_err("too many tokens")
            .to_string();
        assert!(e.contains("tokens"), "{e}");
    }

    #[test]
    fn output_budget_is_enforced() {
        let big = Value::Array((0..(MAX_PATHS + 5)).map(|i| json!(i)).collect());
        let q = JqPaths::compile(".[]").expect("compiles");
        let e = q.paths(&big).expect_err("too many paths").to_string();
        assert!(e.contains("more than"), "{e}");
    }

    #[test]
    fn non_path_expressions_select_nothing() {
        let d = json!({"a": 1});
        // `1 + 1` is not a path expression: an error at run time, nothing removed.
        assert_eq!(del(".a + 1", &d), d);
    }

    proptest::proptest! {
        #[test]
        fn random_expressions_never_panic(expr in "[ -~]{0,40}") {
            let obj = json!({"spec": {"replicas": 2, "list": [1, {"a": "b"}], "s": "text"}});
            if let Ok(q) = JqPaths::compile(&expr)
                && let Ok(paths) = q.paths(&obj)
            {
                let mut v = obj.clone();
                remove_paths(&mut v, &paths);
            }
        }

        #[test]
        fn random_jq_like_expressions_never_panic(
            expr in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(".".to_string()),
                proptest::strategy::Just("..".to_string()),
                proptest::strategy::Just("[]".to_string()),
                proptest::strategy::Just("|".to_string()),
                proptest::strategy::Just(",".to_string()),
                proptest::strategy::Just("?".to_string()),
                proptest::strategy::Just("select(".to_string()),
                proptest::strategy::Just(")".to_string()),
                proptest::strategy::Just("spec".to_string()),
                proptest::strategy::Just("list".to_string()),
                proptest::strategy::Just("[0]".to_string()),
                proptest::strategy::Just("[-1]".to_string()),
                proptest::strategy::Just("==".to_string()),
                proptest::strategy::Just("\"b\"".to_string()),
                proptest::strategy::Just("type".to_string()),
                proptest::strategy::Just("//".to_string()),
                proptest::strategy::Just("empty".to_string()),
                proptest::strategy::Just("paths".to_string()),
                proptest::strategy::Just("[1:]".to_string()),
            ], 0..12)
        ) {
            let expr = expr.join("");
            let obj = json!({"spec": {"replicas": 2, "list": [1, {"a": "b"}], "s": "text"}});
            if let Ok(q) = JqPaths::compile(&expr)
                && let Ok(paths) = q.paths(&obj)
            {
                let mut v = obj.clone();
                remove_paths(&mut v, &paths);
            }
        }
    }
}

#[cfg(test)]
mod stack_tests {
    use super::*;
    use serde_json::json;

    /// The worst nesting an accepted expression can have, on a thread with a tokio worker's
    /// default stack (2 MiB): compiling and evaluating must not overflow it.
    #[test]
    fn long_expressions_fit_a_worker_stack() {
        // Each just within MAX_TOKENS.
        let cases = [
            format!("{}.", "- ".repeat(MAX_TOKENS - 1)),
            format!("{}.{}", "if . then ".repeat(49), " end".repeat(49)),
            format!("{}.", "try ".repeat(MAX_TOKENS - 1)),
            format!("{}.", ". as $a | ".repeat(MAX_TOKENS / 5 - 1)),
            format!("{}.a", ".a|".repeat(MAX_TOKENS / 3 - 1)),
            format!("{}.", "not|".repeat(MAX_TOKENS / 2 - 1)),
            format!("{}1", "1 + ".repeat(MAX_TOKENS / 2 - 1)),
            format!("{}.", ". // ".repeat(MAX_TOKENS / 2 - 1)),
            format!("{}.", ".[]?|".repeat(MAX_TOKENS / 5 - 1)),
        ];
        let only: Option<usize> = std::env::var("JQ_CASE").ok().and_then(|s| s.parse().ok());
        for (i, expr) in cases.into_iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let expr = expr.chars().take(MAX_LEN).collect::<String>();
            let handle = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let q = JqPaths::compile(&expr).expect("within the limits");
                    let _ = q.paths(&json!({"a": {"a": 1}}));
                })
                .expect("thread");
            handle.join().expect("no overflow");
        }
    }
}
