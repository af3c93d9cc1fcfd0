//! `trellis health`: judge Kubernetes objects read from files as a sync judges them — the
//! built-in rules, Lua customizations laid out as Argo CD's `resource_customizations`
//! (`--lua-dir`) and the health overrides of an Argo CD `argocd-cm` ConfigMap (`--config`), through
//! the same `sync::health::assess` the sync engine and the controller call.
//!
//! Each object gives one line: with `-o json`, `{"kind","name","status","message"}`; with `-o text`
//! (the default), `KIND/NAME  STATUS  MESSAGE`. Exit code 0 when every object could be judged
//! (whatever its health); 1 when a file cannot be read or holds something that is not a Kubernetes
//! object (the error names the file; the other files are still judged); 2 for a bad
//! `--lua-dir`/`--config`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sync::health::{Health, assess};
use sync::lua::CustomHealth;

/// `trellis health` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files of Kubernetes objects (YAML or JSON, one or many documents, `List`s flattened); `-`
    /// reads standard input.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Directory of Lua health checks laid out as Argo CD's `resource_customizations`
    /// (`<group>/<Kind>/health.lua`, `_` as a wildcard in directory names).
    #[arg(long, value_name = "DIR")]
    pub lua_dir: Option<PathBuf>,
    /// An Argo CD `argocd-cm` ConfigMap (YAML or JSON) whose `resource.customizations.health.*`
    /// keys override the checks of `--lua-dir`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
}

/// How results are printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// `KIND/NAME  STATUS  MESSAGE`, one object per line.
    Text,
}

pub fn run(args: Args) -> ExitCode {
    let custom = match load_checks(args.lua_dir.as_deref(), args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {}", super::error_chain(&e));
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for file in &args.files {
        let objects = match read_objects(file) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("Error: {}", super::error_chain(&e));
                failed = true;
                continue;
            }
        };
        for obj in objects {
            let h = assess(&obj, &custom, None);
            if writeln!(out, "{}", render(&obj, &h, args.output)).is_err() {
                return ExitCode::from(1);
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The checks of `--lua-dir` and `--config`.
pub fn load_checks(lua_dir: Option<&Path>, config: Option<&Path>) -> Result<CustomHealth> {
    let mut custom = CustomHealth::empty();
    if let Some(dir) = lua_dir {
        custom
            .add_dir(dir)
            .with_context(|| format!("loading Lua health checks from {}", dir.display()))?;
    }
    if let Some(path) = config {
        let docs = read_objects(path)?;
        let origin = path.display().to_string();
        for cm in docs {
            custom
                .add_configmap(&cm, &origin)
                .with_context(|| format!("reading health overrides of {origin}"))?;
        }
    }
    Ok(custom)
}

/// The Kubernetes objects in a file: every document must be a mapping with `apiVersion` and `kind`.
pub fn read_objects(path: &Path) -> Result<Vec<Value>> {
    let name = path.display().to_string();
    let text = super::read_input(&name)?;
    // JSON first (exact numbers and escapes), YAML otherwise.
    let json = if text.trim_start().starts_with(['{', '[']) {
        serde_json::from_str::<Value>(&text).ok()
    } else {
        None
    };
    let objects = match json {
        Some(Value::Array(items)) => items,
        Some(v)
            if v.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && v.get("items").is_some_and(Value::is_array) =>
        {
            v.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        Some(v) => vec![v],
        None => {
            sync::object::objects_from_yaml(&text, &name).map_err(|e| not_an_object(&name, e))?
        }
    };
    if objects.is_empty() {
        anyhow::bail!("{name}: not a Kubernetes object (no document with apiVersion and kind)");
    }
    for (i, obj) in objects.iter().enumerate() {
        let has = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        let missing = if !obj.is_object() {
            Some("not a mapping")
        } else if !has("apiVersion") {
            Some("missing apiVersion")
        } else if !has("kind") {
            Some("missing kind")
        } else {
            None
        };
        if let Some(what) = missing {
            anyhow::bail!(
                "{name}: not a Kubernetes object (document {}: {what})",
                i + 1
            );
        }
    }
    Ok(objects)
}

fn not_an_object(name: &str, e: sync::Error) -> anyhow::Error {
    match e {
        sync::Error::InvalidManifest { message, .. } => {
            anyhow::anyhow!("{name}: not a Kubernetes object: {message}")
        }
        other => anyhow::anyhow!("{name}: not a Kubernetes object: {other}"),
    }
}

/// One output line.
pub fn render(obj: &Value, h: &Health, format: Format) -> String {
    let kind = sync::object::str_at(obj, &["kind"]).unwrap_or_default();
    let name = sync::object::str_at(obj, &["metadata", "name"]).unwrap_or_default();
    match format {
        Format::Json => json!({
            "kind": kind,
            "name": name,
            "status": h.status.to_string(),
            "message": h.message,
        })
        .to_string(),
        Format::Text if h.message.is_empty() => format!("{kind}/{name}  {}", h.status),
        Format::Text => format!("{kind}/{name}  {}  {}", h.status, h.message),
    }
}
