//! Values as Helm computes them: the user's values from `-f` files and `--set*` flags
//! ([`ValueOptions::merge`]), dependency processing (`condition`, `tags`, `alias`,
//! `import-values`; Helm's `ProcessDependenciesWithMerge`), and coalescing chart
//! defaults with user values down the subchart tree, `global` flowing down and `null`
//! deleting a key (Helm's `CoalesceValues`/`MergeValues`).

use std::path::{Path, PathBuf};

use gotemplate::{Map, MapRef, Value};

use crate::chart::{Chart, Dependency};
use crate::semver::is_compatible_range;
use crate::strvals;

/// An error computing values; the text is Helm's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValuesError {
    /// A `-f` file could not be read.
    #[error("open {path}: {message}")]
    Read { path: String, message: String },
    /// A `-f` file is not valid YAML: Helm's `failed to parse FILE: ...`.
    #[error("failed to parse {path}: {message}")]
    Parse {
        path: String,
        message: String,
        line: Option<usize>,
    },
    #[error("failed parsing --set data: {0}")]
    Set(String),
    #[error("failed parsing --set-string data: {0}")]
    SetString(String),
    #[error("failed parsing --set-file data: {0}")]
    SetFile(String),
    #[error("failed parsing --set-json data {0}")]
    SetJson(String),
    #[error("failed parsing --set-literal data: {0}")]
    SetLiteral(String),
    #[error("type mismatch on {name}: %!t({kind}={value})")]
    TypeMismatch {
        name: String,
        kind: String,
        value: String,
    },
}

/// The value flags of `helm template`, in the order given on the command line per kind.
#[derive(Debug, Clone, Default)]
pub struct ValueOptions {
    /// `-f/--values` files (`-` is standard input).
    pub value_files: Vec<PathBuf>,
    pub set_json: Vec<String>,
    pub set: Vec<String>,
    pub set_string: Vec<String>,
    pub set_file: Vec<String>,
    pub set_literal: Vec<String>,
    /// Contents already fetched by the caller for sources that are not local files (Helm
    /// reads `http(s)://` values files and `--set-file` sources with its getters), keyed by
    /// the source exactly as given. This crate does no network I/O itself.
    pub fetched: std::collections::HashMap<String, Vec<u8>>,
}

impl ValueOptions {
    /// Every `-f` and `--set-file` source that names a URL (`http://`, `https://`): what a
    /// caller fetches into [`ValueOptions::fetched`] before [`ValueOptions::merge`].
    pub fn url_sources(&self) -> Vec<String> {
        let is_url = |s: &str| s.starts_with("http://") || s.starts_with("https://");
        let files = self
            .value_files
            .iter()
            .map(|p| p.to_string_lossy().into_owned());
        let set_files = self
            .set_file
            .iter()
            .flat_map(|s| s.split(','))
            .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_string()));
        let mut out: Vec<String> = files.chain(set_files).filter(|s| is_url(s)).collect();
        out.dedup();
        out
    }
}

fn read_source_fetched(
    path: &Path,
    fetched: &std::collections::HashMap<String, Vec<u8>>,
) -> Result<Vec<u8>, ValuesError> {
    match fetched.get(path.to_string_lossy().as_ref()) {
        Some(bytes) => Ok(bytes.clone()),
        None => read_source(path),
    }
}

fn read_source(path: &Path) -> Result<Vec<u8>, ValuesError> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|e| {
            ValuesError::Read {
                path: "-".into(),
                message: e.to_string(),
            }
        })?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| ValuesError::Read {
        path: path.display().to_string(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".into(),
            std::io::ErrorKind::PermissionDenied => "permission denied".into(),
            _ => e.to_string(),
        },
    })
}

impl ValueOptions {
    /// Helm's `values.Options.MergeValues`: files merged in order, then `--set-json`,
    /// `--set`, `--set-string`, `--set-file`, `--set-literal`.
    pub fn merge(&self) -> Result<Map, ValuesError> {
        let mut base = Map::new();
        for path in &self.value_files {
            let bytes = read_source_fetched(path, &self.fetched)?;
            let current = crate::yaml::file_text(&bytes)
                .and_then(|text| crate::yaml::parse_map(&text))
                .map_err(|e| ValuesError::Parse {
                    path: path.display().to_string(),
                    message: e.message,
                    line: e.line,
                })?;
            base = strvals::merge_maps(&base, &current);
        }
        for s in &self.set_json {
            strvals::parse_json(s, &mut base).map_err(|_| ValuesError::SetJson(s.clone()))?;
        }
        for s in &self.set {
            strvals::parse_into(s, &mut base).map_err(|e| ValuesError::Set(e.0))?;
        }
        for s in &self.set_string {
            strvals::parse_into_string(s, &mut base).map_err(|e| ValuesError::SetString(e.0))?;
        }
        let read = |p: &str| -> Result<Vec<u8>, String> {
            read_source_fetched(Path::new(p), &self.fetched).map_err(|e| e.to_string())
        };
        for s in &self.set_file {
            strvals::parse_into_file(s, &mut base, &read).map_err(|e| ValuesError::SetFile(e.0))?;
        }
        for s in &self.set_literal {
            strvals::parse_literal_into(s, &mut base).map_err(|e| ValuesError::SetLiteral(e.0))?;
        }
        Ok(base)
    }
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(..))
}

/// A map value as an owned table (a snapshot; nested maps stay shared).
fn table_of(v: &Value) -> Option<Map> {
    v.as_map().map(MapRef::snapshot)
}

/// Coalesces `src` into the map `dv` holds, in place. Only maps this computation
/// owns reach here: the inputs are deep-copied first (see [`coalesce_values_for`]).
fn coalesce_into_value(dv: &Value, src: Map, prefix: &str, merge: bool) {
    if let Value::Map(dm, _) = dv {
        let mut inner = dm.snapshot();
        coalesce_tables(&mut inner, src, prefix, merge);
        *dm.write() = inner;
    }
}

/// A copy of `m` whose maps are all fresh: templates may `set` into the values of a
/// render without touching the caller's maps or a cached chart's defaults.
fn deep_copy_map(m: &Map) -> Map {
    m.iter().map(|(k, v)| (k.clone(), v.deep_copy())).collect()
}

/// Helm's `coalesceTablesFullKey`: `dst` is authoritative. A null in `dst` deletes the key only
/// where `src` (the defaults) has it; a null for a key the defaults lack stays, as a nil value.
fn coalesce_tables(dst: &mut Map, src: Map, prefix: &str, merge: bool) {
    for (key, val) in src {
        let full_key = concat_prefix(prefix, &key);
        match dst.get_mut(&key) {
            Some(dv) if !merge && dv.is_nil() => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(dv) => match val {
                Value::Map(vm, _) if is_table(dv) => {
                    coalesce_into_value(dv, vm.snapshot(), &full_key, merge);
                }
                Value::Map(..) => warn(
                    298,
                    format!(
                        "cannot overwrite table with non table for {full_key} ({})",
                        gotemplate::gofmt::sprint(&val)
                    ),
                ),
                Value::Nil => {}
                _ if is_table(dv) => warn(
                    301,
                    format!(
                        "destination for {full_key} is a table. Ignoring non-table value ({})",
                        gotemplate::gofmt::sprint(&val)
                    ),
                ),
                _ => {}
            },
        }
    }
}

/// Helm's `concatPrefix`.
fn concat_prefix(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

thread_local! {
    /// Where coalescing warnings go while [`with_warnings`] runs (Helm logs them).
    static WARNINGS: std::cell::RefCell<Option<Vec<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// A coalescing warning, in the form Helm's Go logger prints it (`coalesce.go:LINE: warning: ...`).
fn warn(line: u32, msg: String) {
    log_line(&format!("coalesce.go:{line}: warning: {msg}"));
}

/// A line Helm logs (with Go's `file.go:LINE: ` prefix) while processing values.
fn log_line(line: &str) {
    WARNINGS.with(|w| {
        if let Some(list) = w.borrow_mut().as_mut() {
            list.push(line.to_string());
        }
    });
}

/// Runs `f`, collecting the warnings Helm would log while coalescing values inside it
/// (a table given where the chart has a scalar, or the reverse), in order.
pub fn with_warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let outer = WARNINGS.with(|w| w.borrow_mut().replace(Vec::new()));
    let out = f();
    let collected = WARNINGS.with(|w| std::mem::replace(&mut *w.borrow_mut(), outer));
    (out, collected.unwrap_or_default())
}

/// `MergeTables`/`CoalesceTables` as a value-returning helper.
fn tables(mut dst: Map, src: Map, merge: bool) -> Map {
    coalesce_tables(&mut dst, src, "", merge);
    dst
}

/// Helm's `coalesceGlobals`: the parent's `global` wins over the subchart's.
fn coalesce_globals(dest: &mut Map, src: &Map) {
    let mut dg = match dest.get("global") {
        None => Map::new(),
        Some(Value::Map(m, _)) => m.snapshot(),
        Some(_) => return,
    };
    let sg = match src.get("global") {
        None => Map::new(),
        Some(Value::Map(m, _)) => m.snapshot(),
        Some(_) => return,
    };
    for (key, val) in sg {
        if let Value::Map(vm, _) = &val {
            let mut vv = vm.snapshot();
            match dg.get(&key) {
                None => {
                    dg.insert(key, Value::map(vv));
                }
                Some(Value::Map(destv, _)) => {
                    coalesce_tables(&mut vv, destv.snapshot(), "", true);
                    dg.insert(key, Value::map(vv));
                }
                Some(_) => {}
            }
        } else if dg.get(&key).is_some_and(is_table) {
            // A table in the subchart is not replaced by a scalar.
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert("global".into(), Value::map(dg));
}

fn coalesce_values(c: &Chart, v: &mut Map, prefix: &str, merge: bool) {
    let sub_prefix = concat_prefix(prefix, c.name());
    for (key, val) in &c.values {
        // Fresh maps: the chart's defaults must never be changed by a render.
        let val = val.deep_copy();
        match v.get_mut(key) {
            Some(value) => {
                if value.is_nil() && !merge {
                    v.remove(key);
                } else if is_table(value) {
                    if let Some(src) = table_of(&val) {
                        let merge = merge || c.dependencies.iter().any(|d| d.name() == key);
                        coalesce_into_value(value, src, &concat_prefix(&sub_prefix, key), merge);
                    } else if !val.is_nil() {
                        warn(
                            237,
                            format!("skipped value for {sub_prefix}.{key}: Not a table."),
                        );
                    }
                }
            }
            None => {
                v.insert(key.clone(), val);
            }
        }
    }
}

fn go_kind_value(v: &Value) -> (String, String) {
    (v.type_name(), gotemplate::gofmt::sprint(v))
}

fn coalesce_deps(c: &Chart, dest: &mut Map, prefix: &str, merge: bool) -> Result<(), ValuesError> {
    let sub_prefix = concat_prefix(prefix, c.name());
    for sub in &c.dependencies {
        let name = sub.name().to_string();
        let mut dv = match dest.remove(&name) {
            None => Map::new(),
            Some(Value::Map(m, _)) => m.snapshot(),
            Some(other) => {
                let (kind, value) = go_kind_value(&other);
                return Err(ValuesError::TypeMismatch { name, kind, value });
            }
        };
        coalesce_globals(&mut dv, dest);
        coalesce(sub, &mut dv, &sub_prefix, merge)?;
        dest.insert(name, Value::map(dv));
    }
    Ok(())
}

fn coalesce(c: &Chart, dest: &mut Map, prefix: &str, merge: bool) -> Result<(), ValuesError> {
    coalesce_values(c, dest, prefix, merge);
    coalesce_deps(c, dest, prefix, merge)
}

/// Helm's `CoalesceValues`: chart defaults under `vals`, nulls deleting keys.
/// Every map of the result is fresh (shared with neither `vals` nor the chart).
pub fn coalesce_values_for(c: &Chart, vals: &Map) -> Result<Map, ValuesError> {
    let mut v = deep_copy_map(vals);
    coalesce(c, &mut v, "", false)?;
    Ok(v)
}

/// Helm's `MergeValues`: like coalescing but nulls are kept.
pub fn merge_values_for(c: &Chart, vals: &Map) -> Result<Map, ValuesError> {
    let mut v = deep_copy_map(vals);
    coalesce(c, &mut v, "", true)?;
    Ok(v)
}

/// Helm's `Values.Table`: a nested table by dotted path.
pub fn table(v: &Map, path: &str) -> Option<Map> {
    table_or_missing(v, path).ok()
}

/// Like [`table`], or Helm's `ErrNoTable` text naming the first path element that is not a table
/// (`"exports" is not a table`).
fn table_or_missing(v: &Map, path: &str) -> Result<Map, String> {
    let mut cur = v.clone();
    for part in path.split('.') {
        cur = cur
            .get(part)
            .and_then(|x| x.as_map().map(MapRef::snapshot))
            .ok_or_else(|| format!("{} is not a table", gotemplate::gofmt::quote(part)))?;
    }
    Ok(cur)
}

/// Helm's `Values.PathValue`: a non-table value by dotted path.
fn path_value(v: &Map, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (table(v, p)?, k),
        None => (v.clone(), path),
    };
    parent.get(key).filter(|x| !is_table(x)).cloned()
}

fn process_tags(reqs: &mut [Dependency], cvals: &Map) {
    let Some(vt) = table(cvals, "tags") else {
        return;
    };
    for r in reqs {
        let (mut has_true, mut has_false) = (false, false);
        for k in &r.tags {
            if let Some(Value::Bool(b)) = vt.get(k) {
                if *b {
                    has_true = true;
                } else {
                    has_false = true;
                }
            }
        }
        if !has_true && has_false {
            r.enabled = false;
        } else if has_true || !has_false {
            r.enabled = true;
        }
    }
}

fn process_conditions(reqs: &mut [Dependency], cvals: &Map, cpath: &str) {
    for r in reqs {
        for c in r.condition.trim().split(',') {
            if c.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(cvals, &format!("{cpath}{c}")) {
                r.enabled = b;
                break;
            }
        }
    }
}

fn alias_dependency(charts: &[Chart], dep: &Dependency) -> Option<Chart> {
    let c = charts
        .iter()
        .find(|c| c.name() == dep.name && is_compatible_range(&dep.version, &c.metadata.version))?;
    let mut out = c.clone();
    if !dep.alias.is_empty() {
        out.metadata.name = dep.alias.clone();
    }
    Some(out)
}

/// Helm's `processDependencyEnabled`.
fn process_enabled(c: &mut Chart, v: &Map, path: &str) -> Result<(), ValuesError> {
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let mut deps: Vec<Chart> = Vec::new();
    for existing in &c.dependencies {
        let declared = c.metadata.dependencies.iter().any(|r| {
            existing.name() == r.name && is_compatible_range(&r.version, &existing.metadata.version)
        });
        if !declared {
            deps.push(existing.clone());
        }
    }
    for req in c.metadata.dependencies.iter_mut() {
        if let Some(d) = alias_dependency(&c.dependencies, req) {
            deps.push(d);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    c.dependencies = deps;
    for r in c.metadata.dependencies.iter_mut() {
        r.enabled = true;
    }
    let cvals = coalesce_values_for(c, v)?;
    process_tags(&mut c.metadata.dependencies, &cvals);
    process_conditions(&mut c.metadata.dependencies, &cvals, path);
    let rm: Vec<String> = c
        .metadata
        .dependencies
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    c.dependencies.retain(|d| !rm.contains(&d.metadata.name));
    c.metadata.dependencies.retain(|d| !rm.contains(&d.name));
    for t in c.dependencies.iter_mut() {
        let subpath = format!("{path}{}.", t.metadata.name);
        process_enabled(t, &cvals, &subpath)?;
    }
    Ok(())
}

/// `pathToMap`: `a.b` + data → `{a: {b: data}}`; `.` is the data itself.
fn path_to_map(path: &str, data: Map) -> Map {
    if path == "." {
        return data;
    }
    let mut out = data;
    for part in path.split('.').rev() {
        let mut m = Map::new();
        m.insert(part.to_string(), Value::map(out));
        out = m;
    }
    out
}

fn trim_nil(m: Map) -> Map {
    m.into_iter()
        .filter(|(_, v)| !v.is_nil())
        .map(|(k, v)| match v {
            Value::Map(inner, kind) => {
                (k, Value::Map(MapRef::new(trim_nil(inner.snapshot())), kind))
            }
            other => (k, other),
        })
        .collect()
}

/// Helm's `processImportValues` for one chart.
fn process_import_values(c: &mut Chart, merge: bool) -> Result<(), ValuesError> {
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let cvals = if merge {
        merge_values_for(c, &Map::new())?
    } else {
        coalesce_values_for(c, &Map::new())?
    };
    let mut b = Map::new();
    for r in c.metadata.dependencies.iter_mut() {
        let mut out = Vec::new();
        for riv in &r.import_values {
            let (child, parent, string_form) = match riv {
                Value::Map(m, _) => {
                    let child = m
                        .get("child")
                        .as_ref()
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let parent = m
                        .get("parent")
                        .as_ref()
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    (child, parent, false)
                }
                Value::String(s) => (format!("exports.{s}"), ".".to_string(), true),
                _ => continue,
            };
            let mut entry = Map::new();
            entry.insert("child".into(), Value::str(child.clone()));
            entry.insert("parent".into(), Value::str(parent.clone()));
            out.push(Value::map(entry));
            let vv = match table_or_missing(&cvals, &format!("{}.{child}", r.name)) {
                Ok(vv) => vv,
                Err(e) => {
                    log_line(&if string_form {
                        format!("dependencies.go:286: Warning: ImportValues missing table: {e}")
                    } else {
                        format!(
                            "dependencies.go:269: Warning: ImportValues missing table from chart {}: {e}",
                            r.name
                        )
                    });
                    continue;
                }
            };
            b = tables(b, path_to_map(&parent, vv.clone()), merge);
        }
        r.import_values = out;
    }
    c.values = if merge {
        tables(cvals, b, true)
    } else {
        tables(trim_nil(cvals), b, false)
    };
    Ok(())
}

fn process_import_values_rec(c: &mut Chart, merge: bool) -> Result<(), ValuesError> {
    for d in c.dependencies.iter_mut() {
        process_import_values_rec(d, merge)?;
    }
    process_import_values(c, merge)
}

/// Helm's `ProcessDependenciesWithMerge`: prune disabled subcharts, apply aliases,
/// import values. Mutates the chart (callers work on a copy).
pub fn process_dependencies(c: &mut Chart, vals: &Map) -> Result<(), ValuesError> {
    process_enabled(c, vals, "")?;
    process_import_values_rec(c, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{File, load_files};

    fn f(name: &str, data: &str) -> File {
        File {
            name: name.into(),
            data: data.as_bytes().into(),
        }
    }

    fn parent() -> Chart {
        load_files(
            vec![
                f(
                    "Chart.yaml",
                    "apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: '>=0.1.0'\n  condition: sub.enabled\n- name: sub\n  alias: other\n  version: '*'\n  import-values:\n  - child: data\n    parent: imported\n",
                ),
                f("values.yaml", "global:\n  g: 1\nsub:\n  enabled: true\n  a: parent\nother:\n  enabled: false\nkeep: 1\ndrop: 2\n"),
                f("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
                f("charts/sub/values.yaml", "a: child\nb: child\ndata:\n  x: 1\nglobal:\n  g: 0\n  h: 2\n"),
            ],
            0,
        )
        .unwrap()
    }

    #[test]
    fn aliases_conditions_imports_and_coalescing() {
        let mut c = parent();
        let mut user = Map::new();
        strvals::parse_into("drop=null,sub.b=user", &mut user).unwrap();
        process_dependencies(&mut c, &user).unwrap();
        let names: Vec<&str> = c.dependencies.iter().map(Chart::name).collect();
        assert_eq!(names, ["sub", "other"]);
        let v = coalesce_values_for(&c, &user).unwrap();
        assert!(!v.contains_key("drop"));
        let sub = v["sub"].as_map().unwrap().snapshot();
        assert_eq!(sub["a"].as_str(), Some("parent"));
        assert_eq!(sub["b"].as_str(), Some("user"));
        // The parent's global wins; the child's extra global key stays.
        let g = sub["global"].as_map().unwrap().snapshot();
        assert!(matches!(g["g"], Value::Float(f) if f == 1.0));
        assert!(matches!(g["h"], Value::Float(f) if f == 2.0));
        // import-values child/parent form.
        assert!(
            matches!(v["imported"].as_map().unwrap().get("x"), Some(Value::Float(f)) if f == 1.0)
        );
    }

    #[test]
    fn condition_false_removes_subchart() {
        let mut c = parent();
        let mut user = Map::new();
        strvals::parse_into("sub.enabled=false", &mut user).unwrap();
        process_dependencies(&mut c, &user).unwrap();
        let names: Vec<&str> = c.dependencies.iter().map(Chart::name).collect();
        assert_eq!(names, ["other"]);
    }
}
