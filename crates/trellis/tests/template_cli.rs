//! `trellis template`'s command line against real `helm template` (v3.17.2, installed by
//! `scripts/setup`): for each argument list, both programs run on the same chart and must print
//! the same stdout, the same stderr and exit with the same code. Covers the flags Helm accepts
//! without changing the output, `--flag=BOOL`, `-g`/`--name-template`, and Helm's wording of
//! usage errors (unknown flags, missing values, extra arguments).

use std::path::PathBuf;
use std::process::Command;

/// Real Helm 3, as `scripts/setup` installs it: `$HELM_ORACLE_HOME/bin/helm3`, by default
/// `~/.cache/helm-oracle/bin/helm3`.
fn helm_bin() -> Option<PathBuf> {
    let home = std::env::var_os("HELM_ORACLE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/helm-oracle"),
        PathBuf::from,
    );
    let p = home.join("bin/helm3");
    p.exists().then_some(p)
}

/// A chart `name` at `dir` (version 0.1.0) with these files (paths relative to the chart).
fn write_chart(dir: &std::path::Path, name: &str, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("templates")).expect("chart dir");
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    )
    .expect("Chart.yaml");
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("inside the chart")).expect("dir");
        std::fs::write(path, text).expect("chart file");
    }
}

/// Real helm and the trellis under test; `None` (with a note, and never in CI) without the
/// oracle.
fn programs() -> Option<(PathBuf, PathBuf)> {
    let Some(helm) = helm_bin() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "helm oracle missing in CI"
        );
        eprintln!("SKIPPED: helm oracle missing (run scripts/setup)");
        return None;
    };
    Some((helm, PathBuf::from(env!("CARGO_BIN_EXE_trellis"))))
}

fn run(bin: &std::path::Path, args: &[&str], tmp: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(tmp)
        .env("HELM_CACHE_HOME", tmp.join("cache"))
        .env("HELM_CONFIG_HOME", tmp.join("config"))
        .env("HELM_DATA_HOME", tmp.join("data"))
        .env("KUBECONFIG", "/dev/null")
        .env_remove("HELM_NAMESPACE")
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn command_line_matches_helm() {
    let Some((helm, trellis)) = programs() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    write_chart(&chart, "cli", &[]);
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n  namespace: {{ .Release.Namespace }}\ndata:\n  upgrade: {{ .Release.IsUpgrade | quote }}\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/test.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n",
    )
    .unwrap();
    // getHostByName answers only with --enable-dns (localhost: no network needed).
    std::fs::create_dir_all(tmp.path().join("dns/templates")).unwrap();
    std::fs::write(
        tmp.path().join("dns/Chart.yaml"),
        "apiVersion: v2\nname: dns\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("dns/templates/a.yaml"),
        "a: {{ getHostByName \"localhost\" | regexMatch \"^(127.0.0.1|::1)$\" }}\n",
    )
    .unwrap();
    // Post-renderers: one that rewrites (and logs its arguments on stderr, which Helm hides),
    // one that fails, one that prints nothing.
    for (name, body) in [
        (
            "post.sh",
            "#!/bin/sh\necho \"args: $*\" >&2\nsed s/-cm/-post/\n",
        ),
        ("fail.sh", "#!/bin/sh\necho oops >&2\nexit 3\n"),
        ("empty.sh", "#!/bin/sh\ncat >/dev/null\n"),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let path = tmp.path().join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Files that are not chart archives: Helm names what they look like.
    std::fs::write(tmp.path().join("small.yaml"), "a: 1\n").unwrap();
    std::fs::write(tmp.path().join("big.yaml"), "a: 1\n".repeat(200)).unwrap();
    std::fs::write(tmp.path().join("page.tgz"), "<html><body>404</body></html>").unwrap();
    std::fs::write(tmp.path().join("chart.zip"), b"PK\x03\x04rest").unwrap();
    // A real archive cut short, and gzip's magic with nothing valid after it.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &[7u8; 4096]).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(tmp.path().join("bad.tgz"), &gz[..gz.len() / 2]).unwrap();
    std::fs::write(tmp.path().join("short.tgz"), b"\x1f\x8b\x08\x00").unwrap();
    let cases: &[&[&str]] = &[
        &["template", "rel", "chart"],
        &["template", "chart"],
        &["template", "-g", "chart"],
        &["template", "--generate-name", "chart"],
        &[
            "template",
            "--name-template",
            "nt-{{ \"Y\" | lower }}",
            "chart",
        ],
        &["template", "--name-template", "{{ nope }}", "chart"],
        &["template", "--name-template", "x{{ .Foo }}", "chart"],
        &["template", "rel", "chart", "--name-template", "y"],
        &["template", "rel", "chart", "-g"],
        &["template", "rel", "chart", "--skip-tests=false"],
        &["template", "rel", "chart", "--skip-tests=1"],
        &["template", "rel", "chart", "--skip-tests"],
        &["template", "rel", "chart", "--is-upgrade=true"],
        &["template", "rel", "chart", "--include-crds=maybe"],
        &["template", "rel", "chart", "--dry-run"],
        &["template", "rel", "chart", "--dry-run=server"],
        &["template", "rel", "chart", "--dry-run=bogus"],
        &["template", "rel", "chart", "--dry-run", "server"],
        &[
            "template",
            "rel",
            "chart",
            "--wait",
            "--atomic",
            "--timeout",
            "5m",
            "--create-namespace",
            "--description",
            "d",
            "--version",
            "1",
            "--labels",
            "a=b",
            "--kube-context",
            "c",
            "--devel",
            "--hide-notes",
            "--repo",
            "https://x",
        ],
        &["template", "rel", "chart", "-n", "--weird"],
        &["template", "rel", "chart", "extra", "more"],
        &["template", "rel", "chart", "--bogus"],
        &["template", "rel", "chart", "--bogus=3"],
        &["template", "rel", "chart", "-x"],
        &["template", "rel", "chart", "-xn", "ns"],
        &["template", "rel", "chart", "-n"],
        &["template", "rel", "chart", "--set"],
        &["template", "rel", "chart", "--kube-version"],
        &["template", "rel", "chart", "--skip-tests", "--", "extra"],
        &[
            "template",
            "rel",
            "chart",
            "--post-renderer",
            "./post.sh",
            "--post-renderer-args",
            "a b",
        ],
        &["template", "rel", "chart", "--post-renderer", "./fail.sh"],
        &["template", "rel", "chart", "--post-renderer", "./empty.sh"],
        &[
            "template",
            "rel",
            "chart",
            "--post-renderer",
            "cat",
            "-s",
            "templates/cm.yaml",
        ],
        &[
            "template",
            "rel",
            "chart",
            "--post-renderer",
            "./missing.sh",
        ],
        &[
            "template",
            "rel",
            "chart",
            "--post-renderer",
            "no-such-program-anywhere",
        ],
        &["template", "rel", "chart", "--post-renderer", "chart"],
        &["template", "rel", "dns"],
        &["template", "rel", "dns", "--enable-dns"],
        &["template", "rel", "chart", "-n", "a", "-n", "b"],
        &[
            "template",
            "rel",
            "chart",
            "--kube-version",
            "1.20",
            "--kube-version",
            "1.25",
        ],
        &["template", "rel", "chart", "--force"],
        &["template", "rel", "chart", "--ca-file", "missing.pem"],
        &["template", "rel", "chart", "--ca-file", "small.yaml"],
        &["template", "rel", "chart", "--verify"],
        &["template", "rel", "bitnami/nginx"],
        &["template", "rel", "nginx"],
        &["template", "rel", "./nope"],
        &["template", "rel", "small.yaml"],
        &["template", "rel", "big.yaml"],
        &["template", "rel", "page.tgz"],
        &["template", "rel", "chart.zip"],
        &["template", "rel", "bad.tgz"],
        &["template", "rel", "short.tgz"],
    ];
    let mut failures = Vec::new();
    for args in cases {
        let h = run(&helm, args, tmp.path());
        let t = run(&trellis, args, tmp.path());
        if h != t {
            failures.push(format!(
                "{args:?}\n  helm:    exit {} stdout {:?} stderr {:?}\n  trellis: exit {} stdout {:?} stderr {:?}",
                h.0, h.1, h.2, t.0, t.1, t.2
            ));
        }
    }
    // Where Helm would download from OCI or --repo, trellis says plainly that it does not and
    // how to fetch the chart (configured repositories are fetched: see the repository test).
    std::fs::create_dir_all(tmp.path().join("config")).unwrap();
    std::fs::write(
        tmp.path().join("config/repositories.yaml"),
        "apiVersion: \"\"\nrepositories:\n- name: mine\n  url: https://example.invalid/charts\n",
    )
    .unwrap();
    for (args, hint) in [
        (
            &["template", "rel", "oci://r.example/c/x"][..],
            "helm pull oci://r.example/c/x --untar",
        ),
        (
            &["template", "rel", "x", "--repo", "https://c.example"][..],
            "helm pull x --repo https://c.example --untar",
        ),
    ] {
        let (code, out, err) = run(&trellis, args, tmp.path());
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}");
        assert!(
            err.contains("renders charts from a directory or a .tgz only") && err.contains(hint),
            "{args:?}: {err}"
        );
    }
    // A case where the two agree by both failing for an unrelated reason would prove nothing:
    // the first case must render.
    assert_eq!(run(&trellis, cases[0], tmp.path()).0, 0);
    assert!(
        failures.is_empty(),
        "differs from helm:\n{}",
        failures.join("\n")
    );
}

/// Every file under `dir`, as (relative path, content).
fn tree(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("walked from dir")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read_to_string(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn output_dir_matches_helm() {
    let Some((helm, trellis)) = programs() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::create_dir_all(chart.join("charts/sub/templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: od\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("charts/sub/Chart.yaml"),
        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    )
    .unwrap();
    for (path, text) in [
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        ),
        (
            "templates/hooks.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: h1\n  annotations:\n    helm.sh/hook: pre-install\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: h2\n  annotations:\n    helm.sh/hook: post-install\n",
        ),
        (
            "templates/test.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n",
        ),
        (
            "charts/sub/templates/s.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n",
        ),
    ] {
        std::fs::write(chart.join(path), text).unwrap();
    }
    let cases: &[&[&str]] = &[
        &[],
        &["--release-name"],
        &["--skip-tests"],
        &["--no-hooks"],
        &["-s", "templates/cm.yaml"],
    ];
    for extra in cases {
        let mut args = vec!["template", "rel", "chart", "--output-dir", "out"];
        args.extend_from_slice(extra);
        let _ = std::fs::remove_dir_all(tmp.path().join("out"));
        let h = run(&helm, &args, tmp.path());
        let h_tree = tree(&tmp.path().join("out"));
        std::fs::remove_dir_all(tmp.path().join("out")).unwrap();
        let t = run(&trellis, &args, tmp.path());
        let t_tree = tree(&tmp.path().join("out"));
        assert_eq!(h, t, "{extra:?}");
        assert_eq!(h_tree, t_tree, "{extra:?}");
        assert!(!t_tree.is_empty(), "{extra:?} wrote files");
    }
}

#[test]
fn debug_prints_what_was_rendered_like_helm() {
    let Some((helm, trellis)) = programs() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    write_chart(&chart, "dbg", &[]);
    let files = [
        (
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
        ),
        (
            "c.yaml",
            "kind: Secret\nmetadata:\n  name: s\n  annotations:\n    helm.sh/hook: pre-install\n",
        ),
        ("empty.yaml", "{{- if false }}x{{ end }}\n"),
        ("NOTES.txt", "notes {{ .Release.Name }}\n"),
        ("_helpers.tpl", "{{ define \"x\" }}y{{ end }}\n"),
    ];
    for (name, text) in files {
        std::fs::write(chart.join("templates").join(name), text).unwrap();
    }
    // Helm prints the rendered files in a Go map's (random) order: compare them as a set,
    // and the error line (its other stderr lines are timestamped debug logs).
    let docs = |out: &str| {
        // (Whichever file comes last loses its blank line to Helm's final trim.)
        let mut d: Vec<String> = out
            .split("---\n")
            .map(|d| d.trim_end().to_string())
            .collect();
        d.sort();
        d
    };
    let error_line = |err: &str| {
        err.lines()
            .filter(|l| l.starts_with("Error: ") || l.contains("Use --debug"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for broken in ["a: b: c\n", "{{ fail \"boom\" }}\n"] {
        std::fs::write(chart.join("templates/b.yaml"), broken).unwrap();
        let args = ["template", "rel", "chart", "--debug"];
        let h = run(&helm, &args, tmp.path());
        let t = run(&trellis, &args, tmp.path());
        assert_eq!((h.0, docs(&h.1)), (t.0, docs(&t.1)), "{broken:?}");
        assert_eq!(error_line(&h.2), error_line(&t.2), "{broken:?}");
        assert_eq!(t.0, 1);
    }
}

#[test]
fn release_namespace_defaults_like_helm() {
    let Some((helm, trellis)) = programs() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    write_chart(&chart, "ns", &[]);
    std::fs::write(
        chart.join("templates/ns.yaml"),
        "ns: {{ .Release.Namespace }}\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("kc1"),
        "apiVersion: v1\nkind: Config\ncurrent-context: one\ncontexts:\n- name: one\n  context:\n    cluster: c\n    namespace: ns-one\n- name: two\n  context:\n    cluster: c\n- name: three\n  context:\n    namespace: ns-three\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("kc2"),
        "apiVersion: v1\nkind: Config\ncurrent-context: three\ncontexts:\n- name: one\n  context:\n    namespace: ns-from-kc2\n",
    )
    .unwrap();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (&[("KUBECONFIG", "kc1")], &[]),
        (&[("KUBECONFIG", "kc1")], &["-n", "flagns"]),
        (&[("KUBECONFIG", "kc1")], &["--kube-context", "three"]),
        (&[("KUBECONFIG", "kc1"), ("HELM_NAMESPACE", "envns")], &[]),
        (&[("KUBECONFIG", "kc1"), ("HELM_KUBECONTEXT", "two")], &[]),
        (&[("KUBECONFIG", "kc1"), ("HELM_KUBECONTEXT", "nope")], &[]),
        (&[("KUBECONFIG", "kc2:kc1")], &[]),
        (&[("KUBECONFIG", "kc1:kc2")], &[]),
        (&[("KUBECONFIG", "kc1")], &["--kubeconfig", "kc2"]),
        (&[("KUBECONFIG", "missing")], &[]),
    ];
    let run_env = |bin: &std::path::Path, env: &[(&str, &str)], extra: &[&str]| {
        let out = Command::new(bin)
            .args(["template", "rel", "chart"])
            .args(extra)
            .current_dir(tmp.path())
            .env("HELM_CACHE_HOME", tmp.path().join("cache"))
            .env("HELM_CONFIG_HOME", tmp.path().join("config"))
            .env("HELM_DATA_HOME", tmp.path().join("data"))
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_KUBECONTEXT")
            .envs(env.iter().copied())
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let mut seen = std::collections::BTreeSet::new();
    for (env, extra) in cases {
        let h = run_env(&helm, env, extra);
        let t = run_env(&trellis, env, extra);
        assert_eq!(h, t, "{env:?} {extra:?}");
        seen.insert(t.1);
    }
    // The cases reach five different namespaces, so agreeing is not by accident.
    assert_eq!(seen.len(), 5, "{seen:?}");
}

/// A minimal HTTP/1.1 file server for `dir` on a free local port, answering until the test ends.
fn serve(dir: PathBuf) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let mut stream = stream;
            match std::fs::read(dir.join(path)) {
                Ok(body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                Err(_) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        }
    });
    port
}

#[test]
fn charts_from_a_helm_repository_match_helm() {
    let Some((helm, trellis)) = programs() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    for v in ["1.0.0", "1.2.0", "2.0.0-beta.1"] {
        let chart = tmp.path().join("src/mychart");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: mychart\nversion: {v}\n"),
        )
        .unwrap();
        std::fs::write(
            chart.join("templates/a.yaml"),
            "v: {{ .Chart.Version }}\nns: {{ .Release.Namespace }}\n",
        )
        .unwrap();
        let (code, _, err) = run(
            &helm,
            &[
                "package",
                chart.to_str().unwrap(),
                "-d",
                srv.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert_eq!(code, 0, "{err}");
    }
    let port = serve(srv.clone());
    let url = format!("http://127.0.0.1:{port}");
    // One archive URL absolute, the others relative to the repository (both are common).
    let (code, _, err) = run(&helm, &["repo", "index", srv.to_str().unwrap()], tmp.path());
    assert_eq!(code, 0, "{err}");
    let index = std::fs::read_to_string(srv.join("index.yaml")).unwrap();
    std::fs::write(
        srv.join("index.yaml"),
        index.replace("- mychart-1.0.0.tgz", &format!("- {url}/mychart-1.0.0.tgz")),
    )
    .unwrap();
    let (code, _, err) = run(&helm, &["repo", "add", "local", &url], tmp.path());
    assert_eq!(code, 0, "{err}");
    let cache = tmp.path().join("cache/repository");
    std::fs::write(srv.join("vals.yaml"), "extra: from-url\n").unwrap();
    std::fs::write(srv.join("note.txt"), "file-from-url").unwrap();
    std::fs::write(
        tmp.path().join("src/mychart/templates/b.yaml"),
        "e: {{ .Values.extra | default \"none\" }}\nf: {{ .Values.f | default \"none\" }}\n",
    )
    .unwrap();
    let vals = format!("{url}/vals.yaml");
    let note = format!("f={url}/note.txt");
    let missing = format!("{url}/missing.yaml");
    let cases: &[&[&str]] = &[
        &[
            "template",
            "r",
            "src/mychart",
            "-f",
            &vals,
            "--set-file",
            &note,
        ],
        &["template", "r", "src/mychart", "-f", &missing],
        &["template", "r", "local/mychart"],
        &["template", "r", "local/mychart", "--version", "1.0.0"],
        &[
            "template",
            "r",
            "local/mychart",
            "--version",
            "^1",
            "-n",
            "x",
        ],
        &["template", "r", "local/mychart", "--devel"],
        &["template", "r", "local/mychart", "--version", "9"],
        &["template", "r", "local/mychart", "--version", "bad!"],
        &["template", "r", "local/nochart"],
        &["template", "r", "other/mychart"],
    ];
    for args in cases {
        let h = run(&helm, args, tmp.path());
        // Each program downloads for itself.
        for f in std::fs::read_dir(&cache).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "tgz") {
                std::fs::remove_file(f.path()).unwrap();
            }
        }
        let t = run(&trellis, args, tmp.path());
        assert_eq!(h, t, "{args:?}");
    }
    let (code, out, _) = run(&trellis, cases[0], tmp.path());
    assert_eq!(code, 0);
    assert!(
        out.contains("e: from-url") && out.contains("f: file-from-url"),
        "{out}"
    );
    // trellis leaves the archive where Helm keeps it.
    let _ = std::fs::remove_file(cache.join("mychart-1.2.0.tgz"));
    let (code, out, _) = run(&trellis, &["template", "r", "local/mychart"], tmp.path());
    assert_eq!(code, 0);
    assert!(out.contains("v: 1.2.0"), "{out}");
    assert!(cache.join("mychart-1.2.0.tgz").exists());
}
