//! Helm's template functions on top of Sprig (Helm's `funcMap` + `initFunMap`):
//! `include`, `tpl`, `required`, `fail`, `toYaml`/`mustToYaml`, `fromYaml`,
//! `fromYamlArray`, `toJson`/`mustToJson`, `fromJson`, `fromJsonArray`, `toToml`,
//! `fromToml`, `lookup` (empty offline), with `env`/`expandenv` removed and
//! `getHostByName` disabled, as `helm template` has them.

use gotemplate::{FuncError, FuncMap, Function, Map, Param, TplError, Value};

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
        }),
    );
    f.insert(
        "mustToJson",
        Function::new(&[Param::Any], None, |_, a| {
            crate::json::marshal(&a[0])
                .map(Value::str)
                .map_err(|e| FuncError(e.to_string()))
        }),
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
            Ok(Value::str(crate::toml::to_toml(&a[0])))
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
            ctx.execute_template(arg_str(&a[0]), &a[1]).map(Value::str)
        }),
    );
    f.insert(
        "tpl",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            let text = arg_str(&a[0]);
            match ctx.tpl("gotpl", text, &a[1]) {
                Ok(out) => Ok(Value::str(out.replace("<no value>", ""))),
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
            Value::Nil => Err(warn_wrap(arg_str(&a[0]))),
            Value::String(s) if s.is_empty() => Err(warn_wrap(arg_str(&a[0]))),
            v => Ok(v.clone()),
        }),
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
            |_, _| Ok(Value::map(Map::new())),
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
