//! `trellis serve` end to end, through the interfaces a user drives: git repositories made with the
//! git CLI (served as `file://`), `kubectl apply` of an EnvironmentSet, signed GitHub webhooks over
//! HTTP, `kubectl get environments/applications.trellis.dev`, against the local API server.
//!
//! Polling is set to an hour, so every change below arrives by webhook (or not at all).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

const SECRET: &str = "webhook-s3cret";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git on PATH");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let t = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).expect("copy");
        }
    }
}

struct Repo {
    url: String,
    bare: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new(root: &Path, name: &str, seed_duration: Option<&str>) -> Repo {
        let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        let bare = root.join("remotes").join(format!("{name}.git"));
        let work = root.join("work").join(name);
        std::fs::create_dir_all(&bare).expect("mkdir");
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&work, &["init", "-q", "-b", "main"]);
        copy_dir(&services.join(name).join("charts"), &work.join("charts"));
        if let Some(d) = seed_duration {
            let p = work.join("charts/templates/seed-job.yaml");
            let text = std::fs::read_to_string(&p).expect("seed job");
            let text = text.replace(
                "  template:\n    spec:",
                &format!(
                    "  template:\n    metadata:\n      annotations:\n        devcluster.trellis.dev/duration: \"{d}\"\n    spec:"
                ),
            );
            std::fs::write(&p, text).expect("write");
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "first"]);
        let url = format!("file://{}", bare.display());
        git(&work, &["remote", "add", "origin", &url]);
        git(&work, &["push", "-q", "origin", "main"]);
        Repo { url, bare, work }
    }

    /// Commit a change to values.yaml on `branch` (created from main if new) and push it.
    fn commit(&self, branch: &str, line: &str) -> String {
        let branches = git(&self.work, &["branch", "--list", branch]);
        if branches.is_empty() {
            git(&self.work, &["checkout", "-q", "-b", branch, "main"]);
        } else {
            git(&self.work, &["checkout", "-q", branch]);
        }
        let p = self.work.join("charts/values.yaml");
        let mut text = std::fs::read_to_string(&p).expect("values");
        text.push_str(&format!("{line}\n"));
        std::fs::write(&p, text).expect("write");
        git(&self.work, &["commit", "-q", "-am", line]);
        git(&self.work, &["push", "-q", "origin", branch]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn main_commit(&self) -> String {
        git(&self.bare, &["rev-parse", "main"])
    }
}

struct Serve {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Serve {
    fn start(
        kubeconfig: &Path,
        data: &Path,
        poll_interval: &str,
        cleanup_interval: &str,
        extra: &[&str],
    ) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let log_path = data.with_extension(format!("{port}.log"));
        let log = std::fs::File::create(&log_path).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_trellis"))
            .args(["serve", "--kubeconfig"])
            .arg(kubeconfig)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data)
            .args([
                "--poll-interval",
                poll_interval,
                "--cleanup-interval",
                cleanup_interval,
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start trellis serve");
        Serve {
            child,
            port,
            log: log_path,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(self.port, "GET", path, &[], b"")
    }

    fn wait_ready(&self, within: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < within {
            if self.get("/readyz").0 == 200 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A GitHub webhook, signed with `secret`.
    fn github(&self, event: &str, payload: &Value, secret: &str) -> u16 {
        let body = payload.to_string();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body.as_bytes());
        let sig: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let headers = [
            ("X-GitHub-Event", event.to_string()),
            ("X-GitHub-Delivery", "d1".to_string()),
            ("X-Hub-Signature-256", format!("sha256={sig}")),
            ("Content-Type", "application/json".to_string()),
        ];
        http(
            self.port,
            "POST",
            "/webhooks/github",
            &headers,
            body.as_bytes(),
        )
        .0
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- last lines of trellis serve's log ({}):\n{}",
                self.log.display(),
                lines[lines.len().saturating_sub(80)..].join("\n")
            );
        }
    }
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes())
        .and_then(|_| s.write_all(body))
        .is_err()
    {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

fn push_payload(repo: &Repo, branch: &str, after: &str, deleted: bool) -> Value {
    json!({"ref": format!("refs/heads/{branch}"), "before": "0".repeat(40), "after": after,
           "deleted": deleted, "created": !deleted,
           "repository": {"name": "r", "full_name": "acme/r", "clone_url": repo.url,
                          "html_url": repo.url, "ssh_url": repo.url, "git_url": repo.url}})
}

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl on PATH");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn get_json(kubeconfig: &Path, what: &str) -> Option<Value> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "get",
            what,
            "-n",
            "trellis",
            "-o",
            "json",
            "--ignore-not-found",
        ])
        .output()
        .expect("kubectl");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.trim().is_empty() {
        return None;
    }
    serde_json::from_str(&text).ok()
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < within {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {within:?} waiting for {what}");
}

fn env_phase(kc: &Path, env: &str) -> Option<String> {
    get_json(kc, &format!("environments.trellis.dev/{env}"))
        .and_then(|e| e["status"]["phase"].as_str().map(str::to_string))
}

fn setup(kubeconfig: &Path, repos: &[&Repo; 3], set: &str, template: &str) {
    let yaml = format!(
        r#"apiVersion: trellis.dev/v1alpha1
kind: EnvironmentSet
metadata: {{name: {set}, namespace: trellis}}
spec:
  defaultRevision: main
  branches: {{include: ".*", exclude: "^(main|release/.*)$"}}
  namespaceTemplate: "{template}"
  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}
  cleanup: {{whenBranchDeleted: true, whenMerged: true, gracePeriod: 1s}}
  services:
    - name: postgres
      source: {{repoURL: "{}", path: charts}}
    - name: api
      dependsOn: [postgres]
      source: {{repoURL: "{}", path: charts, helm: {{parameters: [{{name: image.tag, value: $TRELLIS_APP_REVISION}}]}}}}
    - name: web
      dependsOn: [api]
      source: {{repoURL: "{}", path: charts}}
"#,
        repos[0].url, repos[1].url, repos[2].url
    );
    kubectl(kubeconfig, &["apply", "-f", "-"], Some(&yaml));
}

fn base(kubeconfig: &Path) {
    kubectl(
        kubeconfig,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: trellis}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: trellis-webhook, namespace: trellis}}\nstringData: {{github: {SECRET}}}\n"
        )),
    );
}

fn start_cluster() -> (tokio::runtime::Runtime, devcluster::DevCluster, PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dc = rt
        .block_on(devcluster::DevCluster::start())
        .expect("local API server");
    let kc = dc.kubeconfig_path().to_path_buf();
    (rt, dc, kc)
}

#[test]
fn webhooks_turn_branches_into_environments_and_cleanup_removes_them() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api, web) = (
        Repo::new(tmp.path(), "postgres", None),
        Repo::new(tmp.path(), "api", None),
        Repo::new(tmp.path(), "web", None),
    );
    base(&kc);
    // No polling and no periodic cleanup: only webhooks make anything happen.
    let serve = Serve::start(
        &kc,
        &tmp.path().join("data"),
        "1h",
        "1h",
        &["--no-leader-election"],
    );
    assert!(
        serve.wait_ready(Duration::from_secs(60)),
        "trellis serve became ready"
    );
    assert_eq!(serve.get("/healthz").0, 200);
    setup(&kc, &[&pg, &api, &web], "previews", "{{branch}}");

    // A pushed branch + a signed webhook → an Environment, Ready, with the right revisions.
    let tip = api.commit("feat-a", "greeting: feature a");
    assert_eq!(
        serve.github("push", &push_payload(&api, "feat-a", &tip, false), SECRET),
        202
    );
    wait_for("environment feat-a Ready", Duration::from_secs(90), || {
        env_phase(&kc, "feat-a").as_deref() == Some("Ready")
    });
    let env = get_json(&kc, "environments.trellis.dev/feat-a").expect("environment");
    let revision = |svc: &str| {
        env["status"]["services"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["name"] == svc))
            .and_then(|x| x["revision"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(revision("api"), tip, "{env}");
    assert_eq!(revision("postgres"), pg.main_commit(), "{env}");
    assert_eq!(revision("web"), web.main_commit(), "{env}");
    assert_eq!(env["status"]["ready"], json!(3));
    let apps = get_json(&kc, "applications.trellis.dev").expect("applications");
    let names: Vec<&str> = apps["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|a| a["metadata"]["labels"]["trellis.dev/environment"] == "feat-a")
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // The api image tag is the commit ($TRELLIS_APP_REVISION).
    let cm = kubectl(
        &kc,
        &["get", "configmap", "api", "-n", "feat-a", "-o", "json"],
        None,
    );
    assert!(cm.contains(&tip), "{cm}");
    let seed_uid = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-a",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    assert!(!seed_uid.is_empty());
    let pg_started = |kc: &Path| {
        get_json(kc, "applications.trellis.dev/feat-a-postgres").and_then(|a| {
            a["status"]["operationState"]["startedAt"]
                .as_str()
                .map(str::to_string)
        })
    };
    let pg_op = pg_started(&kc);

    // A bad signature: 401, and nothing happens.
    let other = web.commit("feat-b", "greeting: b");
    assert_eq!(
        serve.github(
            "push",
            &push_payload(&web, "feat-b", &other, false),
            "wrong"
        ),
        401
    );
    let (code, body) = http(
        serve.port,
        "POST",
        "/webhooks/github",
        &[("X-GitHub-Event", "push".into())],
        b"{}",
    );
    assert_eq!(code, 401, "{body}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        env_phase(&kc, "feat-b"),
        None,
        "no environment without a valid webhook"
    );

    // A new commit re-syncs api only; the seed Job is not run again.
    let tip2 = api.commit("feat-a", "replicas: 1");
    assert_eq!(
        serve.github("push", &push_payload(&api, "feat-a", &tip2, false), SECRET),
        202
    );
    wait_for("api at the new commit", Duration::from_secs(60), || {
        get_json(&kc, "applications.trellis.dev/feat-a-api").is_some_and(|a| {
            a["status"]["sync"]["revision"] == tip2 && a["status"]["health"]["status"] == "Healthy"
        })
    });
    let uid_after = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-a",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    assert_eq!(uid_after, seed_uid, "the seed Job was not re-created");
    assert_eq!(pg_started(&kc), pg_op, "postgres was not synced again");

    // Branch deleted (webhook) → removed after the grace period, namespace included.
    git(&api.work, &["push", "-q", "origin", "--delete", "feat-a"]);
    assert_eq!(
        serve.github(
            "push",
            &push_payload(&api, "feat-a", &"0".repeat(40), true),
            SECRET
        ),
        202
    );
    wait_for(
        "environment feat-a removed",
        Duration::from_secs(90),
        || {
            env_phase(&kc, "feat-a").is_none()
                && Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&kc)
                    .args(["get", "namespace", "feat-a"])
                    .output()
                    .is_ok_and(|o| !o.status.success())
        },
    );

    // Merged into main → removed.
    let c = web.commit("feat-c", "greeting: c");
    assert_eq!(
        serve.github("push", &push_payload(&web, "feat-c", &c, false), SECRET),
        202
    );
    wait_for("environment feat-c Ready", Duration::from_secs(90), || {
        env_phase(&kc, "feat-c").as_deref() == Some("Ready")
    });
    git(&web.work, &["push", "-q", "origin", "feat-c:main"]);
    assert_eq!(
        serve.github("push", &push_payload(&web, "main", &c, false), SECRET),
        202
    );
    wait_for(
        "merged environment feat-c removed",
        Duration::from_secs(90),
        || env_phase(&kc, "feat-c").is_none(),
    );

    // git unreachable during cleanup → nothing is removed.
    let d = pg.commit("feat-d", "database: d");
    assert_eq!(
        serve.github("push", &push_payload(&pg, "feat-d", &d, false), SECRET),
        202
    );
    wait_for("environment feat-d", Duration::from_secs(90), || {
        env_phase(&kc, "feat-d").is_some()
    });
    let moved = pg.bare.with_extension("moved");
    std::fs::rename(&pg.bare, &moved).expect("make the repository unreachable");
    // Deletion webhooks run the cleanup check, which fetches: it fails, so nothing is decided.
    for _ in 0..3 {
        assert_eq!(
            serve.github(
                "push",
                &push_payload(&pg, "feat-d", &"0".repeat(40), true),
                SECRET
            ),
            202
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        env_phase(&kc, "feat-d").is_some(),
        "a failed fetch deletes nothing"
    );
    wait_for("the environment says why", Duration::from_secs(30), || {
        get_json(&kc, "environments.trellis.dev/feat-d").is_some_and(|env| {
            env["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "RepoUnreachable"))
        })
    });
    // A failing Application is not rewritten (nor woken by its own write) on every reconcile.
    let rv = |kc: &Path| {
        get_json(kc, "applications.trellis.dev/feat-d-postgres").and_then(|a| {
            a["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string)
        })
    };
    let before = rv(&kc);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        rv(&kc),
        before,
        "the Application's status is stable while nothing changes"
    );
    std::fs::rename(&moved, &pg.bare).expect("restore");
    drop(serve);
}

#[test]
fn two_replicas_one_leads_and_a_killed_leader_is_replaced_without_rerunning_hooks() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api, web) = (
        Repo::new(tmp.path(), "postgres", Some("4s")),
        Repo::new(tmp.path(), "api", None),
        Repo::new(tmp.path(), "web", None),
    );
    base(&kc);
    let mut a = Serve::start(
        &kc,
        &tmp.path().join("data-a"),
        "1h",
        "1s",
        &["--identity", "replica-a"],
    );
    assert!(
        a.wait_ready(Duration::from_secs(60)),
        "the first replica leads"
    );
    let b = Serve::start(
        &kc,
        &tmp.path().join("data-b"),
        "1h",
        "1s",
        &["--identity", "replica-b"],
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.get("/readyz").0, 503, "the second replica stands by");
    assert_eq!(b.get("/healthz").0, 200);
    let lease = kubectl(
        &kc,
        &[
            "get",
            "lease",
            "trellis-controller",
            "-n",
            "trellis",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    assert_eq!(lease, "replica-a");
    setup(&kc, &[&pg, &api, &web], "previews", "{{branch}}");
    let tip = api.commit("feat-k", "greeting: k");
    assert_eq!(
        a.github("push", &push_payload(&api, "feat-k", &tip, false), SECRET),
        202
    );
    // Kill the leader while the seed hook (4 s) runs.
    wait_for("the seed Job started", Duration::from_secs(60), || {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["get", "job", "postgres-seed", "-n", "feat-k"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let uid = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-k",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    a.kill();
    // The standby takes over when the lease expires, resumes, and finishes the environment
    // (it polls nothing: the EnvironmentSet's repositories are fetched on start).
    wait_for("the standby leads", Duration::from_secs(60), || {
        b.get("/readyz").0 == 200
    });
    wait_for("environment feat-k Ready", Duration::from_secs(120), || {
        env_phase(&kc, "feat-k").as_deref() == Some("Ready")
    });
    let uid_after = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-k",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    assert_eq!(uid_after, uid, "the seed hook ran once");
    // Two EnvironmentSets over the same repositories do not interfere.
    setup(&kc, &[&pg, &api, &web], "previews-b", "{{branch}}");
    wait_for(
        "the second set's environment",
        Duration::from_secs(120),
        || {
            get_json(&kc, "environments.trellis.dev").is_some_and(|l| {
                let items = l["items"].as_array().cloned().unwrap_or_default();
                let of = |set: &str| {
                    items
                        .iter()
                        .filter(|e| {
                            e["spec"]["environmentSet"] == set && e["spec"]["branch"] == "feat-k"
                        })
                        .count()
                };
                of("previews") == 1 && of("previews-b") == 1
            })
        },
    );
    let list = get_json(&kc, "environments.trellis.dev").expect("environments");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["metadata"]["name"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "distinct names: {names:?}");
    drop(b);
}

#[test]
fn polling_finds_branches_and_inactive_environments_are_removed() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api, web) = (
        Repo::new(tmp.path(), "postgres", None),
        Repo::new(tmp.path(), "api", None),
        Repo::new(tmp.path(), "web", None),
    );
    base(&kc);
    // No webhooks at all: a 1 s poll finds everything; inactivity is found by the periodic
    // cleanup check (every 2 s here).
    let serve = Serve::start(
        &kc,
        &tmp.path().join("data"),
        "1s",
        "2s",
        &["--no-leader-election"],
    );
    assert!(serve.wait_ready(Duration::from_secs(60)), "ready");
    let yaml = format!(
        r#"apiVersion: trellis.dev/v1alpha1
kind: EnvironmentSet
metadata: {{name: idle, namespace: trellis}}
spec:
  defaultRevision: main
  branches: {{include: "^idle-"}}
  syncPolicy: {{automated: {{prune: true}}}}
  cleanup: {{whenBranchDeleted: true, whenMerged: true, whenInactiveFor: 25s, gracePeriod: 1s}}
  services:
    - name: postgres
      source: {{repoURL: "{}", path: charts}}
    - name: web
      source: {{repoURL: "{}", path: charts}}
"#,
        pg.url, web.url
    );
    kubectl(&kc, &["apply", "-f", "-"], Some(&yaml));
    let _ = &api;
    web.commit("idle-x", "greeting: idle");
    wait_for(
        "environment idle-x Ready (found by polling)",
        Duration::from_secs(60),
        || env_phase(&kc, "idle-x").as_deref() == Some("Ready"),
    );
    // A branch deleted is noticed by polling too.
    web.commit("idle-y", "greeting: y");
    wait_for("environment idle-y", Duration::from_secs(60), || {
        env_phase(&kc, "idle-y").is_some()
    });
    git(&web.work, &["push", "-q", "origin", "--delete", "idle-y"]);
    wait_for(
        "deleted branch's environment removed",
        Duration::from_secs(60),
        || env_phase(&kc, "idle-y").is_none(),
    );
    // No commit for 25 s: idle-x is inactive and removed, and not made again.
    wait_for(
        "inactive environment removed",
        Duration::from_secs(90),
        || env_phase(&kc, "idle-x").is_none(),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        env_phase(&kc, "idle-x"),
        None,
        "a retired branch gets no new environment"
    );
    let set = get_json(&kc, "environmentsets.trellis.dev/idle").expect("set");
    assert!(
        set["status"]["retired"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["branch"] == "idle-x")),
        "{set}"
    );
    drop(serve);
}
