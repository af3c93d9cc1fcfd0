//! Helm's template functions on top of Sprig (Helm's `funcMap` + `initFunMap`):
//! `include`, `tpl`, `required`, `fail`, `toYaml`/`mustToYaml`, `fromYaml`,
//! `fromYamlArray`, `toJson`/`mustToJson`, `fromJson`, `fromJsonArray`, `toToml`,
//! `fromToml`, `lookup` (empty offline, or answered by a [`LookupHook`] the caller passes in
//! [`crate::RenderOptions::lookup`]), with `env`/`expandenv` removed and `getHostByName`
//! disabled, as `helm template` has them.

use std::cell::RefCell;
use std::sync::Arc;

use gotemplate::{FuncError, FuncMap, Function, Map, Param, TplError, Value};

/// The signature of a [`LookupHook`]: `(apiVersion, kind, namespace, name)` to the object as
/// JSON, or `None` when there is no such object.
pub type LookupFn = dyn Fn(&str, &str, &str, &str) -> Option<serde_json::Value> + Send + Sync;

/// What Helm's `lookup` answers from while a chart renders (Helm asks the cluster; `helm
/// template` has no cluster and answers an empty map). Called as
/// `hook(apiVersion, kind, namespace, name)`:
/// - with a `name`: the object (`{apiVersion, kind, metadata, ...}`), or `None` when there is none
///   (the template then sees an empty map, as Helm gives for a missing object);
/// - with an empty `name`: the list Helm returns, `{apiVersion, kind: "<Kind>List", metadata: {},
///   items: [...]}` (every namespace when `namespace` is empty), or `None` (an empty map).
///
/// The hook decides what a namespace means for cluster-scoped kinds (Helm ignores it). JSON
/// numbers reach the template as Kubernetes' unstructured decoding gives them: integers as
/// `int64`, others as `float64`.
#[derive(Clone)]
pub struct LookupHook(pub Arc<LookupFn>);

impl LookupHook {
    /// A hook from a closure.
    pub fn new(
        f: impl Fn(&str, &str, &str, &str) -> Option<serde_json::Value> + Send + Sync + 'static,
    ) -> Self {
        LookupHook(Arc::new(f))
    }
}

impl std::fmt::Debug for LookupHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupHook(..)")
    }
}

thread_local! {
    /// The hook of the render running on this thread (template execution is single-threaded
    /// per render: `include`/`tpl` run on the caller's thread), set by [`with_lookup`].
    static LOOKUP: RefCell<Option<LookupHook>> = const { RefCell::new(None) };
}

/// Restores the previous hook when a render ends, even by a panic.
struct LookupGuard(Option<LookupHook>);

impl Drop for LookupGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        LOOKUP.with(|l| *l.borrow_mut() = prev);
    }
}

/// Runs `f` (the execution of a render's templates) with `hook` answering `lookup`.
pub(crate) fn with_lookup<T>(hook: Option<&LookupHook>, f: impl FnOnce() -> T) -> T {
    let prev = LOOKUP.with(|l| std::mem::replace(&mut *l.borrow_mut(), hook.cloned()));
    let _guard = LookupGuard(prev);
    f()
}

/// Helm's `lookup`: an empty map offline, otherwise what the render's hook answers.
fn lookup(a: &[Value]) -> Value {
    // Clone the hook out so a hook that renders (re-entrancy) never meets a held borrow.
    let Some(hook) = LOOKUP.with(|l| l.borrow().clone()) else {
        return Value::map(Map::new());
    };
    let found = (hook.0)(
        arg_str(&a[0]),
        arg_str(&a[1]),
        arg_str(&a[2]),
        arg_str(&a[3]),
    );
    match found.map(unstructured) {
        Some(v @ Value::Map(..)) => v,
        _ => Value::map(Map::new()),
    }
}

/// JSON as Kubernetes' unstructured decoding gives it to Helm: integers `int64`, other numbers
/// `float64`.
fn unstructured(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::int64(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => Value::list(a.into_iter().map(unstructured).collect()),
        serde_json::Value::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                m.insert(k, unstructured(v));
            }
            Value::map(m)
        }
    }
}

/// Markers Helm wraps around `required`/`fail` messages so the engine can print them
/// as `execution error at (FILE:LINE:COL): MESSAGE`.
pub const WARN_START: &str = "HELM_ERR_START";
pub const WARN_END: &str = "HELM_ERR_END";

fn warn_wrap(s: &str) -> FuncError {
    FuncError(format!("{WARN_START}{s}{WARN_END}"))
}

fn arg_str(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The full function map `helm template` gives templates.
pub fn helm_funcs() -> FuncMap {
    let mut f = sprig::funcs();
    // Helm deletes these from Sprig's map; a template calling them fails to parse.
    let mut out = FuncMap::new();
    for name in f.names().map(str::to_string).collect::<Vec<_>>() {
        if name == "env" || name == "expandenv" {
            continue;
        }
        if let Some(func) = f.get(&name) {
            out.insert(name.clone(), func.clone());
        }
    }
    f = out;

    f.insert(
        "toYaml",
        Function::new(&[Param::Any], None, |_, a| {
            Ok(Value::str(
                crate::yaml_emit::to_yaml(&a[0]).unwrap_or_default(),
            ))
        }),
    );
    f.insert(
        "mustToYaml",
        Function::new(&[Param::Any], None, |_, a| {
            crate::yaml_emit::to_yaml(&a[0])
                .map(Value::str)
                .map_err(|e| FuncError(e.to_string()))
        }),
    );
    f.insert(
        "fromYaml",
        Function::new(&[Param::String], None, |_, a| {
            Ok(match crate::yaml::parse_map(arg_str(&a[0])) {
                Ok(m) => Value::map(m),
                Err(e) => {
                    let mut m = Map::new();
                    m.insert("Error".into(), Value::str(e.message));
                    Value::map(m)
                }
            })
        }),
    );
    f.insert(
        "fromYamlArray",
        Function::new(&[Param::String], None, |_, a| {
            Ok(match crate::yaml::parse(arg_str(&a[0])) {
                Ok(Value::List(l, _)) => Value::List(l, gotemplate::ListKind::Any),
                Ok(Value::Nil) => Value::list(Vec::new()),
                Ok(other) => Value::list(vec![Value::str(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(e) => Value::list(vec![Value::str(e.message)]),
            })
        }),
    );
    f.insert(
        "toJson",
        Function::new(&[Param::Any], None, |_, a| {
            Ok(Value::str(crate::json::marshal(&a[0]).unwrap_or_default()))
        })
        .with_bytes(),
    );
    f.insert(
        "mustToJson",
        Function::new(&[Param::Any], None, |_, a| {
            crate::json::marshal(&a[0])
                .map(Value::str)
                .map_err(|e| FuncError(e.to_string()))
        })
        .with_bytes(),
    );
    f.insert(
        "fromJson",
        Function::new(&[Param::String], None, |_, a| {
            Ok(match crate::json::parse(arg_str(&a[0])) {
                Ok(Value::Map(m, _)) => Value::Map(m, gotemplate::MapKind::Any),
                // json.Unmarshal of null leaves the map nil.
                Ok(Value::Nil) => Value::Map(
                    gotemplate::MapRef::new(Map::new()),
                    gotemplate::MapKind::NilAny,
                ),
                Ok(other) => error_map(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                )),
                Err(e) => error_map(e),
            })
        }),
    );
    f.insert(
        "fromJsonArray",
        Function::new(&[Param::String], None, |_, a| {
            Ok(match crate::json::parse(arg_str(&a[0])) {
                Ok(Value::List(l, _)) => Value::List(l, gotemplate::ListKind::Any),
                Ok(Value::Nil) => Value::List(
                    std::sync::Arc::new(Vec::new()),
                    gotemplate::ListKind::NilAny,
                ),
                Ok(other) => Value::list(vec![Value::str(format!(
                    "json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(e) => Value::list(vec![Value::str(e)]),
            })
        }),
    );
    f.insert(
        "toToml",
        Function::new(&[Param::Any], None, |_, a| {
            Ok(crate::toml::to_toml_value(&a[0]))
        }),
    );
    f.insert(
        "fromToml",
        Function::new(&[Param::String], None, |_, a| {
            Ok(match crate::toml::from_toml(arg_str(&a[0])) {
                Ok(m) => Value::map(m),
                Err(e) => error_map(e),
            })
        }),
    );
    f.insert(
        "include",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            ctx.execute_template(arg_str(&a[0]), &a[1])
                .map(Value::string_from_bytes)
        }),
    );
    f.insert(
        "tpl",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            let text = arg_str(&a[0]);
            match ctx.tpl("gotpl", text, &a[1]) {
                Ok(out) => Ok(Value::string_from_bytes(crate::replace_no_value(out))),
                Err(TplError::Parse(e)) => Err(FuncError(format!(
                    "cannot parse template {}: {e}",
                    go_quote(text)
                ))),
                Err(TplError::Exec(e)) => Err(FuncError(format!(
                    "error during tpl function execution for {}: {e}",
                    go_quote(text)
                ))),
            }
        }),
    );
    f.insert(
        "required",
        Function::new(&[Param::String, Param::Any], None, |_, a| match &a[1] {
            Value::Nil => Err(warn_wrap(&a[0].str_lossy().unwrap_or_default())),
            Value::String(s) if s.is_empty() => {
                Err(warn_wrap(&a[0].str_lossy().unwrap_or_default()))
            }
            v => Ok(v.clone()),
        })
        .with_bytes(),
    );
    f.insert(
        "fail",
        Function::new(&[Param::String], None, |_, a| {
            Err(warn_wrap(arg_str(&a[0])))
        }),
    );
    f.insert(
        "lookup",
        Function::new(
            &[Param::String, Param::String, Param::String, Param::String],
            None,
            |_, a| Ok(lookup(a)),
        ),
    );
    f.insert(
        "getHostByName",
        Function::new(&[Param::String], None, |_, _| Ok(Value::str(""))),
    );
    f
}

fn error_map(e: String) -> Value {
    let mut m = Map::new();
    m.insert("Error".into(), Value::str(e));
    Value::map(m)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(..) => "array",
        Value::Map(..) => "object",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        _ => "number",
    }
}

/// Go's `%q` of a string.
pub fn go_quote(s: &str) -> String {
    gotemplate::gofmt::quote(s)
}
