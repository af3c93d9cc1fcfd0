//! Custom health checks written in Lua, run as Argo CD runs them.
//!
//! A script reads the global `obj` (the live object, JSON numbers as Lua numbers, `null`s absent) and
//! returns a table `{status = "Healthy"|"Progressing"|"Degraded"|"Suspended"|"Missing"|"Unknown",
//! message = "..."}`. The interpreter is LuaJIT with its compiler off: Lua 5.1 plus `goto`, the
//! language gopher-lua (Argo CD's interpreter) accepts, so numbers print as Argo CD prints them
//! (`3`, never `3.0`) and scripts that `goto continue` run.
//!
//! Where scripts come from, most specific first:
//! 1. overrides from an Argo CD `argocd-cm` ConfigMap ([`CustomHealth::add_configmap`]): keys
//!    `resource.customizations.health.<group>_<Kind>` (the kind alone for the core group; `*` in
//!    either part is a wildcard), the older `resource.customizations` block, and
//!    `resource.customizations.useOpenLibs.<group>_<Kind>`;
//! 2. a directory laid out as Argo CD's `resource_customizations` ([`CustomHealth::load_dir`]):
//!    `<group>/<Kind>/health.lua`, a core kind as `<Kind>/health.lua` (or `core/<Kind>`), and
//!    wildcard directories where `_` stands for any text: `_.crossplane.io/_` is every kind of every
//!    group ending in `.crossplane.io`.
//!
//! An exact group and kind wins over a wildcard within each source.
//!
//! The environment: the base library without `dofile`/`loadfile`, `table`, `package` (`require`
//! finds only the preloaded `os`), and an `os` holding only `time` and `date`; scripts from a
//! directory (Argo CD's built-in ones) and overrides marked `useOpenLibs` also get `string` and
//! `math`. Files, processes and the debug library are never reachable. Each run has a fresh
//! interpreter, an instruction budget, a wall-clock limit and a memory limit: a script that errors,
//! loops or allocates without end yields an error, which the caller turns into `Unknown`.

use crate::exclusions::glob;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::health::{Health, HealthStatus};
use crate::object::{group_of, str_at};

/// Lua instructions a script may execute before it is stopped.
pub const INSTRUCTION_BUDGET: u64 = 20_000_000;
/// Wall-clock time a script may run (Argo CD allows one second).
pub const TIME_LIMIT: Duration = Duration::from_secs(1);
/// Memory a script's interpreter may hold.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// How often (in instructions) the budget is checked.
const HOOK_EVERY: u32 = 1_000;

/// The message Argo CD gives when a script returns a status it does not know.
const INVALID_STATUS: &str = "Lua returned an invalid health status";

/// A set of custom health checks.
#[derive(Debug, Clone, Default)]
pub struct CustomHealth {
    /// From a ConfigMap: they win over `dir`.
    overrides: Vec<Entry>,
    /// From a `resource_customizations` directory.
    dir: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Group pattern (`*` matches any text); empty for the core group.
    group: String,
    /// Kind pattern.
    kind: String,
    script: Arc<Script>,
}

impl Entry {
    fn is_wildcard(&self) -> bool {
        self.group.contains('*') || self.kind.contains('*')
    }
}

#[derive(Debug)]
struct Script {
    /// Where it came from (a file path or a ConfigMap key), for error messages.
    path: String,
    source: String,
    /// Whether `string` and `math` are opened.
    open_libs: bool,
}

/// Find the script for a group and kind among entries: an exact match first, then the most
/// specific wildcard match.
fn lookup<'a>(entries: &'a [Entry], group: &str, kind: &str) -> Option<&'a Arc<Script>> {
    entries
        .iter()
        .find(|e| !e.is_wildcard() && e.group == group && e.kind == kind)
        .or_else(|| {
            // The most specific wildcard: the most literal text in its group, then its kind.
            let literal = |p: &str| p.chars().filter(|c| *c != '*').count();
            entries
                .iter()
                .filter(|e| e.is_wildcard() && glob(&e.group, group) && glob(&e.kind, kind))
                .max_by_key(|e| (literal(&e.group), literal(&e.kind)))
        })
        .map(|e| &e.script)
}

/// `group_Kind` (a config key) or a directory name with `_` wildcards, as a pattern.
fn dir_pattern(name: &str) -> String {
    name.replace('_', "*")
}

/// Split a ConfigMap key suffix `<group>_<Kind>` (or `<Kind>` for the core group).
fn split_key(key: &str) -> (String, String) {
    match key.split_once('_') {
        Some((g, k)) => (g.to_string(), k.to_string()),
        None => (String::new(), key.to_string()),
    }
}

impl CustomHealth {
    /// No custom checks.
    pub fn empty() -> CustomHealth {
        CustomHealth::default()
    }

    /// Load every health script under `dir`, laid out as Argo CD's `resource_customizations`.
    pub fn load_dir(dir: &Path) -> Result<CustomHealth> {
        let mut out = CustomHealth::default();
        out.add_dir(dir)?;
        Ok(out)
    }

    /// Add the health scripts under `dir` (see the module documentation for the layout).
    pub fn add_dir(&mut self, dir: &Path) -> Result<()> {
        let io = |p: &Path, source| Error::Io {
            path: p.display().to_string(),
            source,
        };
        let name_of = |p: &Path| {
            p.file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut found: Vec<(String, String, std::path::PathBuf)> = Vec::new();
        for top in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let top = top.map_err(|e| io(dir, e))?.path();
            if !top.is_dir() {
                continue;
            }
            let top_name = name_of(&top);
            // A core kind: `<Kind>/health.lua`.
            if top.join("health.lua").is_file() {
                found.push((String::new(), top_name.clone(), top.join("health.lua")));
            }
            for kind in std::fs::read_dir(&top).map_err(|e| io(&top, e))? {
                let kind = kind.map_err(|e| io(&top, e))?.path();
                let script = kind.join("health.lua");
                if !kind.is_dir() || !script.is_file() {
                    continue;
                }
                let group = if top_name == "core" {
                    String::new()
                } else {
                    dir_pattern(&top_name)
                };
                found.push((group, dir_pattern(&name_of(&kind)), script));
            }
        }
        found.sort();
        for (group, kind, path) in found {
            let source = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            self.dir.push(Entry {
                group,
                kind,
                script: Arc::new(Script {
                    path: path.display().to_string(),
                    source,
                    open_libs: true,
                }),
            });
        }
        Ok(())
    }

    /// Add the health overrides of an Argo CD `argocd-cm` ConfigMap (any object with a `data` map).
    /// They take precedence over scripts from a directory. Returns how many scripts were added.
    pub fn add_configmap(&mut self, cm: &Value, origin: &str) -> Result<usize> {
        let bad = |message: String| Error::HealthScript {
            script: origin.to_string(),
            message,
        };
        let Some(data) = cm.get("data").and_then(Value::as_object) else {
            return Ok(0);
        };
        const HEALTH: &str = "resource.customizations.health.";
        const OPEN_LIBS: &str = "resource.customizations.useOpenLibs.";
        let mut scripts: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
        let mut open: BTreeMap<(String, String), bool> = BTreeMap::new();
        // The older form: one YAML block keyed by `group/Kind`.
        if let Some(block) = data.get("resource.customizations").and_then(Value::as_str) {
            let parsed: Value = serde_saphyr::from_str(block)
                .map_err(|e| bad(format!("resource.customizations: {e}")))?;
            for (key, v) in parsed.as_object().into_iter().flatten() {
                let (g, k) = match key.split_once('/') {
                    Some((g, k)) => (g.to_string(), k.to_string()),
                    None => (String::new(), key.clone()),
                };
                if let Some(src) = v.get("health.lua").and_then(Value::as_str) {
                    scripts.insert(
                        (g.clone(), k.clone()),
                        (
                            src.to_string(),
                            format!("{origin}: resource.customizations {key}"),
                        ),
                    );
                }
                if let Some(b) = v.get("useOpenLibs").and_then(Value::as_bool) {
                    open.insert((g, k), b);
                }
            }
        }
        for (key, v) in data {
            let Some(text) = v.as_str() else { continue };
            if let Some(rest) = key.strip_prefix(HEALTH) {
                scripts.insert(
                    split_key(rest),
                    (text.to_string(), format!("{origin}: {key}")),
                );
            } else if let Some(rest) = key.strip_prefix(OPEN_LIBS) {
                open.insert(split_key(rest), text.trim() == "true");
            }
        }
        let n = scripts.len();
        for ((group, kind), (source, path)) in scripts {
            let open_libs = open
                .get(&(group.clone(), kind.clone()))
                .copied()
                .unwrap_or(false);
            self.overrides.push(Entry {
                group,
                kind,
                script: Arc::new(Script {
                    path,
                    source,
                    open_libs,
                }),
            });
        }
        Ok(n)
    }

    /// Add one script for a group and kind (`*` wildcards allowed), as a directory script.
    pub fn insert(&mut self, group: &str, kind: &str, path: &str, source: String) {
        self.dir.push(Entry {
            group: group.to_string(),
            kind: kind.to_string(),
            script: Arc::new(Script {
                path: path.to_string(),
                source,
                open_libs: true,
            }),
        });
    }

    /// Number of scripts.
    pub fn len(&self) -> usize {
        self.overrides.len() + self.dir.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Run the script for this object's group and kind, if there is one.
    pub fn assess(&self, obj: &Value) -> Option<Result<Health>> {
        let group = group_of(str_at(obj, &["apiVersion"]).unwrap_or_default());
        let kind = str_at(obj, &["kind"]).unwrap_or_default();
        let script =
            lookup(&self.overrides, group, kind).or_else(|| lookup(&self.dir, group, kind))?;
        Some(run(script, obj))
    }
}

/// A fresh interpreter with Argo CD's environment.
fn new_vm(open_libs: bool) -> mlua::Result<Lua> {
    let mut libs = StdLib::TABLE | StdLib::OS | StdLib::PACKAGE | StdLib::JIT;
    if open_libs {
        libs |= StdLib::STRING | StdLib::MATH;
    }
    let lua = Lua::new_with(libs, LuaOptions::new())?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let g = lua.globals();
    // Interpret only: instruction-count hooks do not run inside compiled traces, and the budget
    // must hold for every loop. Then the `jit` module goes away.
    lua.load("jit.off() jit.flush()")
        .set_name("=trellis")
        .exec()?;
    g.raw_set("jit", mlua::Value::Nil)?;
    for name in ["dofile", "loadfile"] {
        g.raw_set(name, mlua::Value::Nil)?;
    }
    // `os` with only `time` and `date`, also what `require("os")` returns.
    let full_os: mlua::Table = g.get("os")?;
    let os = lua.create_table()?;
    os.set("time", full_os.get::<mlua::Function>("time")?)?;
    os.set("date", full_os.get::<mlua::Function>("date")?)?;
    g.set("os", &os)?;
    let package: mlua::Table = g.get("package")?;
    package.set("path", "")?;
    package.set("cpath", "")?;
    package.set("loadlib", mlua::Value::Nil)?;
    let loaded: mlua::Table = package.get("loaded")?;
    loaded.set("os", &os)?;
    loaded.set("jit", mlua::Value::Nil)?;
    // Only the preload searcher: `require` never reads a file.
    let loaders: mlua::Table = package.get("loaders")?;
    let preload_searcher: mlua::Value = loaders.get(1)?;
    let only = lua.create_table()?;
    only.set(1, preload_searcher)?;
    package.set("loaders", only)?;
    Ok(lua)
}

/// Once a script is stopped (budget or time), `pcall`, `xpcall` and `coroutine.resume` pass the
/// error on instead of catching it, so a script cannot swallow its own stop and loop on.
fn guard_protected_calls(lua: &Lua, stopped: Arc<AtomicBool>) -> mlua::Result<()> {
    let is_stopped = lua.create_function(move |_, ()| Ok(stopped.load(Ordering::Relaxed)))?;
    let g = lua.globals();
    let coroutine: mlua::Value = g.get("coroutine")?;
    let resume: mlua::Value = match &coroutine {
        mlua::Value::Table(t) => t.get("resume")?,
        _ => mlua::Value::Nil,
    };
    lua.load(
        r#"
local stopped, raw_pcall, raw_xpcall, raw_resume, error = ...
local function pass_on(ok, ...)
  if not ok and stopped() then error((...), 0) end
  return ok, ...
end
pcall = function(...) return pass_on(raw_pcall(...)) end
xpcall = function(...) return pass_on(raw_xpcall(...)) end
if raw_resume then
  coroutine.resume = function(...) return pass_on(raw_resume(...)) end
end
"#,
    )
    .set_name("=trellis")
    .call::<()>((
        is_stopped,
        g.get::<mlua::Value>("pcall")?,
        g.get::<mlua::Value>("xpcall")?,
        resume,
        g.get::<mlua::Value>("error")?,
    ))
}

/// A JSON value as Argo CD hands it to Lua: objects and arrays as tables (arrays from 1), numbers as
/// Lua numbers, `null` as nil (so an object's null field is absent).
fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<mlua::Value> {
    Ok(match v {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().unwrap_or_default()),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
        Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
    })
}

/// A field of the returned table as Argo CD reads it (through JSON into a Go string): a string, or
/// empty when absent; anything else is an error.
fn string_field(t: &mlua::Table, name: &str) -> std::result::Result<String, String> {
    match t.raw_get::<mlua::Value>(name) {
        Ok(mlua::Value::Nil) => Ok(String::new()),
        Ok(mlua::Value::String(s)) => Ok(s.to_string_lossy()),
        Ok(other) => Err(format!(
            "the returned {name} is a {}, not a string",
            lua_type(&other)
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn run(script: &Script, obj: &Value) -> Result<Health> {
    let fail = |message: String| Error::HealthScript {
        script: script.path.clone(),
        message,
    };
    let err = |e: mlua::Error| fail(lua_error_text(&e));
    let lua = new_vm(script.open_libs).map_err(err)?;
    let used = Arc::new(AtomicU64::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let (counter, stop) = (used.clone(), stopped.clone());
    let started = Instant::now();
    // A global hook: coroutines the script creates count against the same budget.
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            let n = counter.fetch_add(u64::from(HOOK_EVERY), Ordering::Relaxed);
            let why = if n >= INSTRUCTION_BUDGET {
                format!(
                    "stopped after {INSTRUCTION_BUDGET} instructions (instruction budget exceeded)"
                )
            } else if started.elapsed() > TIME_LIMIT {
                format!(
                    "stopped after {}s (time limit exceeded)",
                    TIME_LIMIT.as_secs()
                )
            } else {
                return Ok(VmState::Continue);
            };
            stop.store(true, Ordering::Relaxed);
            Err(mlua::Error::RuntimeError(why))
        },
    )
    .map_err(err)?;
    guard_protected_calls(&lua, stopped).map_err(err)?;
    let lobj = to_lua(&lua, obj).map_err(err)?;
    lua.globals().set("obj", lobj).map_err(err)?;
    let ret: mlua::Value = lua
        .load(&script.source)
        .set_name(format!("={}", script.path))
        .eval()
        .map_err(err)?;
    match ret {
        mlua::Value::Table(t) => {
            let status = string_field(&t, "status").map_err(fail)?;
            let message = string_field(&t, "message").map_err(fail)?;
            Ok(match HealthStatus::parse(&status) {
                Some(status) => Health { status, message },
                None => Health {
                    status: HealthStatus::Unknown,
                    message: INVALID_STATUS.to_string(),
                },
            })
        }
        // Argo CD takes a script that returns nothing as having no opinion on the status.
        mlua::Value::Nil => Ok(Health {
            status: HealthStatus::Unknown,
            message: String::new(),
        }),
        other => Err(fail(format!(
            "expect table output from Lua script, not {}",
            lua_type(&other)
        ))),
    }
}

/// A value's type as Lua names it (`number` for integers too).
fn lua_type(v: &mlua::Value) -> &'static str {
    match v {
        mlua::Value::Integer(_) | mlua::Value::Number(_) => "number",
        other => other.type_name(),
    }
}

/// The message of a Lua error without mlua's traceback decoration.
fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => {
            m.lines().next().unwrap_or_default().to_string()
        }
        mlua::Error::MemoryError(m) => format!("out of memory ({m})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob("*.crossplane.io", "aws.crossplane.io"));
        assert!(!glob("*.crossplane.io", "crossplane.io"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("a?c", "abc"));
    }

    #[test]
    fn config_keys_split_into_group_and_kind() {
        assert_eq!(
            split_key("cert-manager.io_Certificate"),
            ("cert-manager.io".to_string(), "Certificate".to_string())
        );
        assert_eq!(split_key("Pod"), (String::new(), "Pod".to_string()));
        assert_eq!(
            split_key("*.crossplane.io_*"),
            ("*.crossplane.io".to_string(), "*".to_string())
        );
    }

    use crate::health::assess;
    use proptest::prelude::*;
    use serde_json::json;
    use std::time::Instant;

    fn widget(spec: Value) -> Value {
        json!({"apiVersion": "example.trellis.dev/v1", "kind": "Widget",
               "metadata": {"name": "w"}, "spec": spec})
    }

    fn one(script: &str) -> CustomHealth {
        let mut c = CustomHealth::empty();
        c.insert(
            "example.trellis.dev",
            "Widget",
            "widget.lua",
            script.to_string(),
        );
        c
    }

    fn judge(script: &str, obj: &Value) -> Health {
        assess(obj, &one(script), None)
    }

    #[test]
    fn numbers_print_as_lua_5_1_does() {
        let h = judge(
            r#"return {status = "Healthy", message = "replicas " .. obj.spec.replicas .. ", half " .. obj.spec.replicas / 2}"#,
            &widget(json!({"replicas": 3})),
        );
        assert_eq!(h.message, "replicas 3, half 1.5");
    }

    #[test]
    fn nulls_are_absent_and_arrays_start_at_one() {
        let h = judge(
            r#"local n = 0
               for i, item in ipairs(obj.spec.items) do n = n + i end
               local absent = obj.spec.gone == nil
               return {status = "Progressing", message = #obj.spec.items .. " " .. n .. " " .. tostring(absent) .. " " .. obj.spec.items[1]}"#,
            &widget(json!({"items": ["a", "b", "c"], "gone": null})),
        );
        assert_eq!(h.status, HealthStatus::Progressing);
        assert_eq!(h.message, "3 6 true a");
    }

    #[test]
    fn directory_scripts_get_string_math_table_and_safe_os() {
        let h = judge(
            r#"local parts = {}
               table.insert(parts, string.upper("ok"))
               table.insert(parts, tostring(math.max(2, 7)))
               table.insert(parts, string.format("%05.1f", 2.5))
               table.insert(parts, os.date("!%Y-%m-%d", 86400))
               table.insert(parts, tostring(type(os.time()) == "number"))
               table.insert(parts, tostring(os.time({year = 2020, month = 1, day = 1, hour = 12}) > 0))
               local osmod = require("os")
               table.insert(parts, tostring(osmod.time ~= nil))
               return {status = "Healthy", message = table.concat(parts, ",")}"#,
            &widget(json!({})),
        );
        assert_eq!(h.status, HealthStatus::Healthy, "{}", h.message);
        assert_eq!(h.message, "OK,7,002.5,1970-01-02,true,true,true");
    }

    #[test]
    fn files_processes_and_the_debug_library_are_out_of_reach() {
        let h = judge(
            r#"local seen = {}
               for _, name in ipairs({"io", "debug", "dofile", "loadfile"}) do
                 if _G[name] ~= nil then table.insert(seen, name) end
               end
               for _, name in ipairs({"execute", "exit", "remove", "rename", "getenv", "tmpname"}) do
                 if os[name] ~= nil then table.insert(seen, "os." .. name) end
               end
               if package.loadlib ~= nil then table.insert(seen, "loadlib") end
               local ok = pcall(require, "io")
               if ok then table.insert(seen, "require io") end
               return {status = "Healthy", message = table.concat(seen, ",")}"#,
            &widget(json!({})),
        );
        assert_eq!(h, Health::new(HealthStatus::Healthy, ""));
    }

    #[test]
    fn config_overrides_need_use_open_libs_for_string() {
        let script = r#"return {status = "Healthy", message = string.lower("X")}"#;
        let cm = |open: Option<&str>| {
            let mut data = serde_json::Map::new();
            data.insert(
                "resource.customizations.health.example.trellis.dev_Widget".into(),
                json!(script),
            );
            if let Some(o) = open {
                data.insert(
                    "resource.customizations.useOpenLibs.example.trellis.dev_Widget".into(),
                    json!(o),
                );
            }
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": data})
        };
        let mut closed = CustomHealth::empty();
        assert_eq!(closed.add_configmap(&cm(None), "cm").expect("config"), 1);
        let h = assess(&widget(json!({})), &closed, None);
        assert_eq!(h.status, HealthStatus::Unknown);
        assert!(h.message.contains("string"), "{}", h.message);
        let mut open = CustomHealth::empty();
        open.add_configmap(&cm(Some("true")), "cm").expect("config");
        assert_eq!(
            assess(&widget(json!({})), &open, None),
            Health::new(HealthStatus::Healthy, "x")
        );
    }

    #[test]
    fn what_a_script_returns_decides_as_in_argo_cd() {
        let obj = widget(json!({}));
        assert_eq!(
            judge(r#"return {status = "Great"}"#, &obj),
            Health::new(HealthStatus::Unknown, INVALID_STATUS)
        );
        let h = judge("return 42", &obj);
        assert_eq!(h.status, HealthStatus::Unknown);
        assert!(
            h.message
                .contains("expect table output from Lua script, not number"),
            "{}",
            h.message
        );
        let h = judge(r#"error("custom failure")"#, &obj);
        assert_eq!(h.status, HealthStatus::Unknown);
        assert!(h.message.contains("custom failure"), "{}", h.message);
        assert!(h.message.contains("widget.lua"), "{}", h.message);
        let h = judge("return {status = 'Degraded', message = 7}", &obj);
        assert_eq!(h.status, HealthStatus::Unknown, "{}", h.message);
        assert_eq!(
            judge("return {status = 'Suspended'}", &obj),
            Health::new(HealthStatus::Suspended, "")
        );
    }

    #[test]
    fn directory_layout_wildcards_and_precedence() {
        let dir = std::env::temp_dir().join(format!("trellis-lua-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let put = |rel: &str, message: &str| {
            let d = dir.join(rel);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(
                d.join("health.lua"),
                format!("return {{status = \"Healthy\", message = \"{message}\"}}"),
            )
            .expect("write script");
        };
        put("_.example.io/_", "any kind of any example.io group");
        put("db.example.io/Database", "exact");
        put("web.example.io/_", "any kind of web.example.io");
        put("core/ConfigMap", "core group");
        put("Secret", "core kind at the top");
        let checks = CustomHealth::load_dir(&dir).expect("load");
        let msg = |api: &str, kind: &str| {
            checks
                .assess(&json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}}))
                .map(|r| r.expect("runs").message)
        };
        assert_eq!(
            msg("db.example.io/v1", "Database").as_deref(),
            Some("exact")
        );
        assert_eq!(
            msg("db.example.io/v1", "Table").as_deref(),
            Some("any kind of any example.io group")
        );
        assert_eq!(
            msg("web.example.io/v1", "Site").as_deref(),
            Some("any kind of web.example.io")
        );
        assert_eq!(msg("v1", "ConfigMap").as_deref(), Some("core group"));
        assert_eq!(msg("v1", "Secret").as_deref(), Some("core kind at the top"));
        assert_eq!(msg("example.io/v1", "Thing"), None, "`_.` needs a prefix");
        assert_eq!(msg("apps/v1", "Deployment"), None);

        // A ConfigMap override wins over the directory, exact or wildcard.
        let mut with_cm = checks.clone();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": {
            "resource.customizations.health.db.example.io_Database": "return {status = 'Degraded', message = 'from config'}",
            "resource.customizations.health.*.example.io_*": "return {status = 'Suspended', message = 'config wildcard'}",
            "resource.customizations": "web.example.io/Site:\n  health.lua: |\n    return {status = 'Progressing', message = 'old form'}\n"
        }});
        assert_eq!(
            with_cm
                .add_configmap(&cm, "argocd-cm.yaml")
                .expect("config"),
            3
        );
        let h = |api: &str, kind: &str| {
            with_cm
                .assess(&json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}}))
                .map(|r| r.expect("runs"))
        };
        assert_eq!(
            h("db.example.io/v1", "Database"),
            Some(Health::new(HealthStatus::Degraded, "from config"))
        );
        assert_eq!(
            h("web.example.io/v1", "Site"),
            Some(Health::new(HealthStatus::Progressing, "old form"))
        );
        assert_eq!(
            h("db.example.io/v1", "Table"),
            Some(Health::new(HealthStatus::Suspended, "config wildcard"))
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_script_overrides_the_builtin_rule_and_judges_deletion_too() {
        let mut c = CustomHealth::empty();
        c.insert(
            "apps",
            "Deployment",
            "d.lua",
            "if obj.metadata.deletionTimestamp ~= nil then return {status = 'Progressing', message = 'going'} end return {status = 'Degraded', message = 'says the script'}".into(),
        );
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}});
        assert_eq!(
            assess(&d, &c, None),
            Health::new(HealthStatus::Degraded, "says the script")
        );
        d["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            assess(&d, &c, None),
            Health::new(HealthStatus::Progressing, "going")
        );
        // Without a script, an object being deleted is pending deletion whatever its rule says.
        assert_eq!(
            assess(&d, &CustomHealth::empty(), None),
            Health::new(HealthStatus::Progressing, "Pending deletion")
        );
    }

    /// Scripts that never finish normally: each must give Unknown, quickly, and leave the process
    /// unharmed.
    fn runaway_script() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{0,20}".prop_map(|m| format!("error(\"{m}\")")),
            (1u32..50).prop_map(|n| format!("local x = 0 while true do x = x + {n} end")),
            (1u32..8).prop_map(|n| format!("repeat local t = {{}} for i = 1, {n} do t[i] = i end until false")),
            (1u32..64).prop_map(|n| format!("local s = string.rep('x', {n}) while true do s = s .. s end")),
            (1u32..1000).prop_map(|n| format!("local t = {{}} local i = 0 while true do i = i + 1 t[i] = {{i, {n}, 'x'}} end")),
            Just("local function f(n) return f(n + 1) + 1 end return f(1)".to_string()),
            Just("return string.rep('x', 2 ^ 40)".to_string()),
            (0u32..5).prop_map(|n| format!("local t = nil return t.field{n}")),
            Just("while true do pcall(error, 'again') end".to_string()),
            Just("while true do pcall(function() while true do end end) end".to_string()),
            Just("while true do xpcall(function() while true do end end, function(e) return e end) end".to_string()),
            Just("while true do coroutine.resume(coroutine.create(function() while true do end end)) end".to_string()),
            Just("coroutine.wrap(function() local s = 'x' while true do s = s .. s end end)()".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn runaway_scripts_are_unknown_within_budget(script in runaway_script()) {
            let started = Instant::now();
            let h = judge(&script, &widget(json!({})));
            prop_assert_eq!(h.status, HealthStatus::Unknown, "{}: {}", script, h.message);
            prop_assert!(started.elapsed() < TIME_LIMIT * 3, "{} took {:?}", script, started.elapsed());
        }
    }
}
