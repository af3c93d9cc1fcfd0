//! Custom health checks written in Lua, in Argo CD's format: a script that reads the global `obj` (the
//! live object) and returns a table `{status = "Healthy"|"Progressing"|..., message = "..."}`.
//! Scripts are loaded from a configuration directory laid out as `<group>/<Kind>/health.lua` (`_` or
//! `core` for the core group), run in a fresh interpreter each time with only the `table`, `string`
//! and `math` libraries and an instruction budget, so a script cannot touch files or hang the engine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mlua::{HookTriggers, Lua, LuaOptions, LuaSerdeExt, StdLib, VmState};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::health::{Health, HealthStatus};
use crate::object::{group_of, str_at};

/// Instructions a script may execute before it is stopped.
const INSTRUCTION_BUDGET: u64 = 10_000_000;

/// A set of custom health checks keyed by (group, kind).
#[derive(Debug, Clone, Default)]
pub struct CustomHealth {
    scripts: HashMap<(String, String), Arc<Script>>,
}

#[derive(Debug)]
struct Script {
    path: String,
    source: String,
}

impl CustomHealth {
    /// No custom checks.
    pub fn empty() -> CustomHealth {
        CustomHealth::default()
    }

    /// Load every `<group>/<Kind>/health.lua` under `dir`.
    pub fn load_dir(dir: &Path) -> Result<CustomHealth> {
        let io = |p: &Path, source| Error::Io {
            path: p.display().to_string(),
            source,
        };
        let mut out = CustomHealth::default();
        for group in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let group = group.map_err(|e| io(dir, e))?.path();
            if !group.is_dir() {
                continue;
            }
            for kind in std::fs::read_dir(&group).map_err(|e| io(&group, e))? {
                let kind = kind.map_err(|e| io(&group, e))?.path();
                let script = kind.join("health.lua");
                if !script.is_file() {
                    continue;
                }
                let source = std::fs::read_to_string(&script).map_err(|e| io(&script, e))?;
                let g = group
                    .file_name()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                let g = if g == "_" || g == "core" { "" } else { g };
                let k = kind
                    .file_name()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                out.insert(g, k, &script.display().to_string(), source);
            }
        }
        Ok(out)
    }

    /// Add one script for a group and kind.
    pub fn insert(&mut self, group: &str, kind: &str, path: &str, source: String) {
        self.scripts.insert(
            (group.to_string(), kind.to_string()),
            Arc::new(Script {
                path: path.to_string(),
                source,
            }),
        );
    }

    /// Number of scripts.
    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }

    /// Run the script for this object's kind, if there is one.
    pub fn assess(&self, obj: &Value) -> Option<Result<Health>> {
        let group = group_of(str_at(obj, &["apiVersion"]).unwrap_or_default());
        let kind = str_at(obj, &["kind"]).unwrap_or_default();
        let script = self.scripts.get(&(group.to_string(), kind.to_string()))?;
        Some(run(script, obj))
    }
}

fn run(script: &Script, obj: &Value) -> Result<Health> {
    let err = |e: mlua::Error| Error::HealthScript {
        script: script.path.clone(),
        message: e.to_string(),
    };
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::new(),
    )
    .map_err(err)?;
    let used = Arc::new(AtomicU64::new(0));
    let counter = used.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(10_000),
        move |_, _| {
            if counter.fetch_add(10_000, Ordering::Relaxed) > INSTRUCTION_BUDGET {
                return Err(mlua::Error::RuntimeError(
                    "instruction budget exceeded".into(),
                ));
            }
            Ok(VmState::Continue)
        },
    )
    .map_err(err)?;
    let opts = mlua::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let lobj = lua.to_value_with(obj, opts).map_err(err)?;
    lua.globals().set("obj", lobj).map_err(err)?;
    let ret: mlua::Value = lua
        .load(&script.source)
        .set_name(&script.path)
        .eval()
        .map_err(err)?;
    let mlua::Value::Table(t) = ret else {
        return Err(Error::HealthScript {
            script: script.path.clone(),
            message: "script did not return a table".into(),
        });
    };
    let status: String = t.get("status").map_err(err)?;
    let message: Option<String> = t.get("message").map_err(err)?;
    let status = HealthStatus::parse(&status).ok_or_else(|| Error::HealthScript {
        script: script.path.clone(),
        message: format!("unknown health status {status:?}"),
    })?;
    Ok(Health {
        status,
        message: message.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CERT_SCRIPT: &str = r#"
hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
    if condition.type == "Ready" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
"#;

    #[test]
    fn runs_argo_style_script_from_a_directory() {
        let dir = std::env::temp_dir().join(format!("trellis-lua-{}", std::process::id()));
        let kdir = dir.join("cert-manager.io").join("Certificate");
        std::fs::create_dir_all(&kdir).expect("tmp dir");
        std::fs::write(kdir.join("health.lua"), CERT_SCRIPT).expect("write script");
        let checks = CustomHealth::load_dir(&dir).expect("load");
        assert_eq!(checks.len(), 1);
        let cert = |conds: Value| json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "status": {"conditions": conds}});
        let h = checks
            .assess(&cert(
                json!([{"type": "Ready", "status": "False", "message": "issuer not found"}]),
            ))
            .expect("has script")
            .expect("runs");
        assert_eq!(
            h,
            Health {
                status: HealthStatus::Degraded,
                message: "issuer not found".into()
            }
        );
        let h = checks
            .assess(&cert(json!([])))
            .expect("has script")
            .expect("runs");
        assert_eq!(h.status, HealthStatus::Progressing);
        assert!(
            checks
                .assess(&json!({"apiVersion": "v1", "kind": "Pod"}))
                .is_none()
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_scripts_fail_cleanly() {
        let mut checks = CustomHealth::empty();
        checks.insert("x.io", "Loop", "loop.lua", "while true do end".into());
        checks.insert("x.io", "Io", "io.lua", "return {status = io.read()}".into());
        checks.insert("x.io", "Bad", "bad.lua", "return {status = 'Great'}".into());
        for kind in ["Loop", "Io", "Bad"] {
            let r = checks
                .assess(&json!({"apiVersion": "x.io/v1", "kind": kind}))
                .expect("has script");
            assert!(
                matches!(r, Err(Error::HealthScript { .. })),
                "{kind}: {r:?}"
            );
        }
    }
}
