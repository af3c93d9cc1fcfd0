//! Differential tests against outputs of real Helm v3.17.2 (`testdata/expected`, made by
//! `testdata/regen.sh`): each case of `testdata/cases.txt` is rendered in-process and
//! must produce the same stdout bytes, or the same `Error: ...` text and exit status.

use std::path::{Path, PathBuf};

use helm::render::OutputOptions;
use helm::{Engine, RenderOptions, ValueOptions};

/// What `helm template` would print: (stdout, stderr, exit code).
fn run(
    engine: &Engine,
    chart: &Path,
    release: &str,
    ns: &str,
    flags: &[&str],
) -> (String, String, i32) {
    let mut v = ValueOptions::default();
    let mut r = RenderOptions {
        release_name: release.into(),
        namespace: ns.into(),
        ..RenderOptions::default()
    };
    let mut o = OutputOptions::default();
    let mut i = 0;
    while i < flags.len() {
        let f = flags[i];
        let mut next = || {
            i += 1;
            flags[i].to_string()
        };
        match f {
            "--set" => v.set.push(next()),
            "--set-string" => v.set_string.push(next()),
            "--set-json" => v.set_json.push(next()),
            "--set-literal" => v.set_literal.push(next()),
            "-f" | "--values" => v.value_files.push(PathBuf::from(next())),
            "--is-upgrade" => r.is_upgrade = true,
            "--kube-version" => r.kube_version = Some(next()),
            "--api-versions" | "-a" => r.api_versions.push(next()),
            "--include-crds" => o.include_crds = true,
            "--skip-tests" => o.skip_tests = true,
            "--no-hooks" => o.no_hooks = true,
            "--show-only" | "-s" => o.show_only.push(next()),
            other => panic!("flag {other} not supported by the test driver"),
        }
        i += 1;
    }
    let err = |m: String| (String::new(), format!("Error: {m}\n"), 1);
    let user = match v.merge() {
        Ok(u) => u,
        Err(e) => return err(e.to_string()),
    };
    let chart = match helm::chart::load(chart) {
        Ok(c) => c,
        Err(e) => return err(e.to_string()),
    };
    let rendered = match engine.render(&chart, &user, &r) {
        Ok(x) => x,
        Err(e) => {
            let mut m = e.to_string();
            if e.during_render() {
                m.push_str("\n\nUse --debug flag to render out invalid YAML");
            }
            return err(m);
        }
    };
    match rendered.to_helm_output(&o) {
        Ok(out) => (out, String::new(), 0),
        Err(e) => err(e.to_string()),
    }
}

#[test]
fn fixtures_match_real_helm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).expect("crate dir exists");
    let cases = std::fs::read_to_string("testdata/cases.txt").expect("cases.txt");
    let engine = Engine::new();
    let mut failures = Vec::new();
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.splitn(5, '|').collect();
        let (name, chart, rel, ns, flags) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
        let flags: Vec<&str> = flags.split_whitespace().collect();
        let (out, err, code) = run(
            &engine,
            &root.join("testdata/charts").join(chart),
            rel,
            ns,
            &flags,
        );
        let exp_out =
            std::fs::read_to_string(format!("testdata/expected/{name}.out")).expect("expected out");
        let exp_err =
            std::fs::read_to_string(format!("testdata/expected/{name}.err")).expect("expected err");
        let exp_rc: i32 = std::fs::read_to_string(format!("testdata/expected/{name}.rc"))
            .expect("rc")
            .trim()
            .parse()
            .expect("rc");
        if out != exp_out || code != exp_rc || (exp_rc != 0 && err != exp_err) {
            let diff: Vec<String> = similar_lines(&exp_out, &out);
            failures.push(format!(
                "case {name}: rc {code} (want {exp_rc})\n stderr: {err:?}\n want:   {exp_err:?}\n{}",
                diff.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// First differing lines, for a readable failure.
fn similar_lines(want: &str, got: &str) -> Vec<String> {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = Vec::new();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (
            w.get(i).copied().unwrap_or("<eof>"),
            g.get(i).copied().unwrap_or("<eof>"),
        );
        if a != b {
            out.push(format!(" line {}: want {a:?}\n          got  {b:?}", i + 1));
            if out.len() > 5 {
                break;
            }
        }
    }
    out
}

#[test]
fn cache_reuses_parsed_templates_across_values() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chart = helm::chart::load(&root.join("testdata/charts/parent")).expect("fixture loads");
    let engine = Engine::new();
    let mut a = gotemplate::Map::new();
    helm::strvals::parse_into("replicas=1", &mut a).expect("valid --set");
    let mut b = gotemplate::Map::new();
    helm::strvals::parse_into("replicas=2", &mut b).expect("valid --set");
    let r1 = engine
        .render(&chart, &a, &RenderOptions::default())
        .expect("renders");
    let r2 = engine
        .render(&chart, &b, &RenderOptions::default())
        .expect("renders");
    assert_eq!(engine.cached_sets(), 1);
    assert_ne!(r1.manifests, r2.manifests);
    // A one-shot engine renders the same bytes and keeps nothing.
    let once = helm::Engine::uncached();
    let r3 = once
        .render(&chart, &b, &RenderOptions::default())
        .expect("renders");
    assert_eq!(r3.manifests, r2.manifests);
    assert_eq!(once.cached_sets(), 0);
    let cm = r2
        .manifests
        .iter()
        .find(|m| m.head.kind == "ConfigMap")
        .expect("configmap rendered");
    assert!(cm.content.contains("replicas: \"2\""));
    assert_eq!(cm.source, "parent/templates/configmap.yaml");
    let hook = r2
        .hooks
        .iter()
        .find(|h| h.head.kind == "Job")
        .expect("hook rendered");
    assert_eq!(hook.weight, -5);
    assert_eq!(hook.delete_policies, ["before-hook-creation"]);
}
