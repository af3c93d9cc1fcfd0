//! The web UI in real headless Chromium (Debian's `/usr/bin/chromium`, or `$TRELLIS_CHROMIUM`),
//! driven by `tests/ui/ui.test.mjs` with playwright-core (installed by `scripts/setup`, or here
//! with `npm ci` when missing), twice: against `trellis demo --serve --http` (the real server, a
//! real environment; the change is a git push) and against the in-memory server of the `/api/v1`
//! contract with 10,000 applications, one of them out of sync (the change is a new Pod). The
//! script asks this test to change the world (`STEP change`) and checks the page follows without
//! a reload.
//!
//! Screenshots are kept in `target/tmp/ui-artifacts/{demo,contract}/`. Skipped, with one line,
//! only when Chromium is not installed.

mod contract;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use contract::demo::{self, Demo};
use contract::fake_api::{FakeApi, World};
use contract::{ADMIN, READONLY};
use server::api::types::TreeNode;

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("TRELLIS_CHROMIUM").unwrap_or_default(),
        "/usr/bin/chromium".into(),
        "/usr/bin/chromium-browser".into(),
    ];
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// playwright-core in tests/ui/node_modules, installed from the lock file when missing.
fn node_deps(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("the UI tests need node and npm (scripts/setup installs them)");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

/// Runs the browser script; `on_step` makes the change a `STEP name` line asks for and returns
/// the JSON line that tells the script what to expect.
fn run_script(vars: &[(&str, String)], mut on_step: impl FnMut(&str) -> String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    node_deps(&dir);
    let mut child = Command::new("node")
        .arg("ui.test.mjs")
        .current_dir(&dir)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running node (scripts/setup installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut oks = 0;
    for line in stdout.lines() {
        let line = line.expect("script output");
        println!("{line}");
        if let Some(step) = line.strip_prefix("STEP ") {
            let answer = on_step(step.trim());
            writeln!(stdin, "{answer}").expect("answering the script");
        } else if line.starts_with("ok ") {
            oks += 1;
        }
    }
    let status = child.wait().expect("node");
    assert!(
        status.success(),
        "the browser checks failed (see above and the screenshots)"
    );
    assert!(oks >= 20, "only {oks} checks ran");
}

fn artifacts(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ui-artifacts")
        .join(name)
}

const NO_CHROMIUM: &str =
    "ui tests SKIPPED: no Chromium (apt-get install -y chromium, or set TRELLIS_CHROMIUM)";

#[test]
fn the_ui_in_chromium_against_trellis_demo() {
    let Some(chromium) = chromium() else {
        println!("{NO_CHROMIUM}");
        return;
    };
    let demo = Demo::start();
    // The environment is Ready before the page is opened (the CLI's own wait).
    let home = tempfile::tempdir().expect("tempdir");
    let out = contract::trellis(
        home.path(),
        &["env", "wait", demo::ENV, "--timeout", "2m"],
        &[("TRELLIS_SERVER", &demo.url), ("TRELLIS_TOKEN", ADMIN)],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        contract::text(&out.stderr),
        demo.log()
    );
    let artifacts = artifacts("demo");
    let vars = [
        ("TRELLIS_URL", demo.url.clone()),
        ("TRELLIS_ADMIN_TOKEN", ADMIN.to_string()),
        ("TRELLIS_READONLY_TOKEN", READONLY.to_string()),
        ("TRELLIS_CHROMIUM", chromium.display().to_string()),
        ("TRELLIS_ARTIFACTS", artifacts.display().to_string()),
        ("TRELLIS_UI_APP", format!("{}-api", demo::ENV)),
        ("TRELLIS_UI_ENV", demo::ENV.to_string()),
        ("TRELLIS_UI_SEARCH", "web".to_string()),
        ("TRELLIS_UI_TOTAL", "3".to_string()),
        ("TRELLIS_UI_OUT_OF_SYNC", "0".to_string()),
    ];
    run_script(&vars, |step| match step {
        "change" => {
            // A push to the branch: the controller fetches (poll 1s) and syncs; the page must
            // show the new commit (and the third Pod) from the stream.
            let commit = demo.push_api_change("replicas: 2", "replicas: 3");
            format!(r#"{{"commit":"{}","morePods":true}}"#, &commit[..7])
        }
        other => panic!("unknown step {other}"),
    });
    println!("screenshots: {}", artifacts.display());
}

#[test]
fn the_ui_in_chromium_against_the_contract_with_10000_applications() {
    let Some(chromium) = chromium() else {
        println!("{NO_CHROMIUM}");
        return;
    };
    let api = FakeApi::start(World::seeded(10_000));
    let artifacts = artifacts("contract");
    let vars = [
        ("TRELLIS_URL", api.url.clone()),
        ("TRELLIS_ADMIN_TOKEN", ADMIN.to_string()),
        ("TRELLIS_READONLY_TOKEN", READONLY.to_string()),
        ("TRELLIS_CHROMIUM", chromium.display().to_string()),
        ("TRELLIS_ARTIFACTS", artifacts.display().to_string()),
        ("TRELLIS_UI_APP", "feat-login-web".to_string()),
        ("TRELLIS_UI_ENV", "feat-login".to_string()),
        ("TRELLIS_UI_SEARCH", "feat-pay".to_string()),
        ("TRELLIS_UI_TOTAL", "10006".to_string()),
        ("TRELLIS_UI_OUT_OF_SYNC", "1".to_string()),
    ];
    run_script(&vars, |step| match step {
        "change" => {
            let commit = "c0ffee0123456789c0ffee0123456789c0ffee01";
            api.change_app("feat-login-web", |a| {
                a.detail.summary.revision = commit.into();
                let rs = &mut a.detail.tree[0].children[0];
                rs.children.push(TreeNode {
                    kind: "Pod".into(),
                    namespace: "feat-login".into(),
                    name: "web-5d8f7-fghij".into(),
                    health: "Progressing".into(),
                    live: true,
                    info: vec!["phase: Pending".into()],
                    ..Default::default()
                });
            });
            format!(r#"{{"commit":"{}","morePods":true}}"#, &commit[..7])
        }
        other => panic!("unknown step {other}"),
    });
    // The page read the list one page at a time, never all 10,000.
    let w = api.world();
    let lists: Vec<&String> = w
        .requests
        .iter()
        .filter(|r| r.starts_with("GET applications?"))
        .collect();
    assert!(!lists.is_empty());
    assert!(lists.iter().all(|r| r.contains("limit=100")), "{lists:?}");
    assert!(
        lists.iter().any(|r| r.contains("search=feat-pay")),
        "{lists:?}"
    );
    println!("screenshots: {}", artifacts.display());
}
