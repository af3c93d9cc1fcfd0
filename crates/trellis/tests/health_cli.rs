//! `trellis health` with our own objects, scripts and ConfigMap: output formats, exit codes, the
//! error for a file that is not Kubernetes objects, `--lua-dir` and `--config` precedence.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn trellis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(args)
        .output()
        .expect("run trellis")
}

fn write(dir: &Path, rel: &str, text: &str) -> String {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

const OBJECTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: widgets.example.com/v1
kind: Widget
metadata: {name: w1}
status: {phase: Broken}
"#;

const WIDGET_SCRIPT: &str = r#"
local hs = {status = "Healthy", message = "fine"}
if obj.status ~= nil and obj.status.phase == "Broken" then
  hs.status = "Degraded"
  hs.message = "widget " .. obj.metadata.name .. " is " .. string.lower(obj.status.phase)
end
return hs
"#;

#[test]
fn judges_every_document_as_json_lines_and_text() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let objects = write(dir.path(), "objects.yaml", OBJECTS);
    let out = trellis(&["health", "-o", "json", &objects]);
    assert!(out.status.success(), "{out:?}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        serde_json::json!({"kind": "Deployment", "name": "web", "status": "Progressing",
            "message": "Waiting for rollout to finish: 1 of 3 updated replicas are available..."})
    );
    assert_eq!(lines[1]["status"], "Healthy");
    assert_eq!(lines[1]["message"], "");
    // No rule and no script for the Widget: Healthy, as in a sync.
    assert_eq!(lines[2]["status"], "Healthy");

    let out = trellis(&["health", &objects]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "Deployment/web  Progressing  Waiting for rollout to finish: 1 of 3 updated replicas are available...\n"
        ),
        "{text}"
    );
    assert!(text.contains("ConfigMap/settings  Healthy\n"), "{text}");

    // JSON input, a List flattened.
    let list = write(
        dir.path(),
        "list.json",
        r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "status": {"phase": "Pending"}}]}"#,
    );
    let out = trellis(&["health", "-o", "json", &list]);
    assert_eq!(
        json_lines(&out),
        vec![
            serde_json::json!({"kind": "PersistentVolumeClaim", "name": "data", "status": "Progressing", "message": ""})
        ]
    );
}

#[test]
fn a_file_that_is_not_kubernetes_objects_is_named_and_fails() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let good = write(dir.path(), "good.yaml", OBJECTS);
    let bad = write(dir.path(), "notes.yaml", "title: shopping\nitems: [milk]\n");
    let out = trellis(&["health", "-o", "json", &bad, &good]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{bad}: not a Kubernetes object")),
        "{stderr}"
    );
    // The good file is still judged.
    assert_eq!(json_lines(&out).len(), 3);
    let out = trellis(&[
        "health",
        &dir.path().join("absent.yaml").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.yaml"));
}

#[test]
fn lua_dir_and_config_overrides() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let objects = write(dir.path(), "objects.yaml", OBJECTS);
    let lua = dir.path().join("checks");
    write(&lua, "widgets.example.com/Widget/health.lua", WIDGET_SCRIPT);
    // A script for a kind with a built-in rule wins over the rule.
    write(
        &lua,
        "apps/Deployment/health.lua",
        "return {status = 'Suspended', message = 'held by script'}",
    );
    let lua_dir = lua.display().to_string();
    let out = trellis(&["health", "-o", "json", "--lua-dir", &lua_dir, &objects]);
    assert!(out.status.success(), "{out:?}");
    let lines = json_lines(&out);
    assert_eq!(lines[0]["status"], "Suspended");
    assert_eq!(lines[0]["message"], "held by script");
    assert_eq!(lines[2]["status"], "Degraded");
    assert_eq!(lines[2]["message"], "widget w1 is broken");

    // argocd-cm keys override the directory; without useOpenLibs `string` is not there, so the
    // script fails and the object is Unknown (exit 0: it was judged).
    let cm = write(
        dir.path(),
        "argocd-cm.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-cm}
data:
  resource.customizations.health.widgets.example.com_Widget: |
    return {status = "Progressing", message = string.upper("from config")}
  resource.customizations.health.apps_Deployment: |
    return {status = "Healthy", message = "config says so"}
"#,
    );
    let out = trellis(&[
        "health",
        "-o",
        "json",
        "--lua-dir",
        &lua_dir,
        "--config",
        &cm,
        &objects,
    ]);
    assert!(out.status.success(), "{out:?}");
    let lines = json_lines(&out);
    assert_eq!(lines[0]["message"], "config says so");
    assert_eq!(lines[2]["status"], "Unknown");
    assert!(
        lines[2]["message"]
            .as_str()
            .is_some_and(|m| m.contains("string")),
        "{}",
        lines[2]
    );
    let open = std::fs::read_to_string(&cm).expect("read cm")
        + "  resource.customizations.useOpenLibs.widgets.example.com_Widget: \"true\"\n";
    let cm = write(dir.path(), "argocd-cm-open.yaml", &open);
    let out = trellis(&[
        "health",
        "-o",
        "json",
        "--lua-dir",
        &lua_dir,
        "--config",
        &cm,
        &objects,
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines[2]["status"], "Progressing");
    assert_eq!(lines[2]["message"], "FROM CONFIG");

    // A looping script gives Unknown, quickly, and the command still exits 0.
    write(
        &lua,
        "widgets.example.com/Widget/health.lua",
        "while true do end",
    );
    let started = std::time::Instant::now();
    let out = trellis(&["health", "-o", "json", "--lua-dir", &lua_dir, &objects]);
    assert!(out.status.success());
    assert_eq!(json_lines(&out)[2]["status"], "Unknown");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
