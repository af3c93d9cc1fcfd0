//! `trellis health` against Argo CD's own health test data, kept outside the repository in
//! `$TRELLIS_SHARED/argo-health` (default `../shared` beside the repository):
//! - `builtin.tsv`: gitops-engine's built-in cases (`PATH<TAB>STATUS`), judged without `--lua-dir`;
//! - `resource_customizations/<group>/<Kind>/health_test.yaml`: every case of Argo CD's Lua health
//!   checks, judged with `--lua-dir resource_customizations` (status and message);
//! - the same cases of the kinds Trellis has built in, judged without `--lua-dir`.
//!
//! Without that folder each test says "skipped: ... absent" in one line and passes. The scripts are
//! Argo CD's code and are only read from there, never copied into the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn shared_dir() -> PathBuf {
    match std::env::var_os("TRELLIS_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// The argo-health folder, or `None` after saying it is absent.
fn argo_health(test: &str) -> Option<PathBuf> {
    let dir = shared_dir().join("argo-health");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {test}: Argo CD health test data {} absent (set TRELLIS_SHARED to the folder holding argo-health/)",
            dir.display()
        );
        None
    }
}

/// `trellis health -o json [--lua-dir DIR] FILE`: the (status, message) of each object.
fn judge(lua_dir: Option<&Path>, file: &Path) -> Result<Vec<(String, String)>, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trellis"));
    cmd.arg("health").arg("-o").arg("json");
    if let Some(d) = lua_dir {
        cmd.arg("--lua-dir").arg(d);
    }
    let out = cmd.arg(file).output().expect("run trellis health");
    if !out.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).map_err(|e| format!("{l}: {e}"))?;
            let s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Ok((s("status"), s("message")))
        })
        .collect()
}

struct LuaCase {
    /// The script's directory (`<group>/<Kind>`).
    dir: PathBuf,
    input: PathBuf,
    status: String,
    message: String,
}

fn lua_cases(root: &Path) -> Vec<LuaCase> {
    let mut tests = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().and_then(|n| n.to_str()) == Some("health_test.yaml") {
                tests.push(p);
            }
        }
    }
    tests.sort();
    let mut cases = Vec::new();
    for t in tests {
        let dir = t.parent().expect("has a parent").to_path_buf();
        let text = std::fs::read_to_string(&t).expect("read health_test.yaml");
        let doc: Value = serde_saphyr::from_str(&text).expect("health_test.yaml parses");
        for c in doc
            .get("tests")
            .and_then(Value::as_array)
            .expect("tests list")
        {
            let s = |p: &str| {
                c.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            // Go reads `inputPath` case-insensitively; some cases spell it `inputpath`.
            let input = match s("/inputPath") {
                p if p.is_empty() => s("/inputpath"),
                p => p,
            };
            cases.push(LuaCase {
                input: dir.join(input),
                status: s("/healthStatus/status"),
                message: s("/healthStatus/message"),
                dir: dir.clone(),
            });
        }
    }
    cases
}

#[test]
fn builtin_rules_match_gitops_engine() {
    let Some(root) = argo_health("builtin rules") else {
        return;
    };
    let tsv = std::fs::read_to_string(root.join("builtin.tsv")).expect("read builtin.tsv");
    let (mut total, mut failures) = (0, Vec::new());
    for line in tsv.lines().filter(|l| !l.trim().is_empty()) {
        let (path, want) = line.split_once('\t').expect("PATH<TAB>STATUS");
        total += 1;
        match judge(None, &root.join("builtin").join(path)) {
            Ok(got) if got.len() == 1 && got[0].0 == want => {}
            other => failures.push(format!("{path}: want {want}, got {other:?}")),
        }
    }
    eprintln!(
        "builtin: {}/{total} of gitops-engine's cases match",
        total - failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lua_customizations_match_argo_cd() {
    let Some(root) = argo_health("Lua customizations") else {
        return;
    };
    let lua_dir = root.join("resource_customizations");
    let cases = lua_cases(&lua_dir);
    assert!(
        !cases.is_empty(),
        "no health_test.yaml under {}",
        lua_dir.display()
    );
    let mut failures = Vec::new();
    for c in &cases {
        match judge(Some(&lua_dir), &c.input) {
            Ok(got) if got.len() == 1 && got[0] == (c.status.clone(), c.message.clone()) => {}
            other => failures.push(format!(
                "{}: want {} {:?}, got {other:?}",
                c.input.strip_prefix(&lua_dir).unwrap_or(&c.input).display(),
                c.status,
                c.message
            )),
        }
    }
    eprintln!(
        "lua: {}/{} of Argo CD's health_test.yaml cases match",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The kinds whose Argo CD script Trellis replaces with a built-in rule (`sync::crd_health`).
const BUILT_IN_KINDS: &[&str] = &[
    "cert-manager.io/Certificate",
    "cert-manager.io/Issuer",
    "cert-manager.io/ClusterIssuer",
    "keda.sh/ScaledObject",
    "helm.toolkit.fluxcd.io/HelmRelease",
    "kustomize.toolkit.fluxcd.io/Kustomization",
    "source.toolkit.fluxcd.io/GitRepository",
    "kafka.strimzi.io/Kafka",
    "monitoring.coreos.com/Prometheus",
    "monitoring.coreos.com/Alertmanager",
    "serving.knative.dev/Service",
    "external-secrets.io/ExternalSecret",
    "external-secrets.io/ClusterSecretStore",
    "pkg.crossplane.io/Provider",
];

#[test]
fn builtin_crd_rules_match_argo_cd_scripts() {
    let Some(root) = argo_health("built-in custom resource rules") else {
        return;
    };
    let lua_dir = root.join("resource_customizations");
    let cases: Vec<LuaCase> = lua_cases(&lua_dir)
        .into_iter()
        .filter(|c| {
            c.dir
                .strip_prefix(&lua_dir)
                .is_ok_and(|rel| BUILT_IN_KINDS.iter().any(|k| rel == Path::new(k)))
        })
        .collect();
    assert!(!cases.is_empty(), "none of the built-in kinds has cases");
    let mut failures = Vec::new();
    for c in &cases {
        match judge(None, &c.input) {
            Ok(got) if got.len() == 1 && got[0] == (c.status.clone(), c.message.clone()) => {}
            other => failures.push(format!(
                "{}: want {} {:?}, got {other:?}",
                c.input.display(),
                c.status,
                c.message
            )),
        }
    }
    eprintln!(
        "built-in custom resources (no --lua-dir): {}/{} of Argo CD's cases match",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
