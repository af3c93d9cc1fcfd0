//! What the end-to-end tests of `trellis serve` share: git repositories made with the git CLI,
//! a `trellis serve` child process, raw HTTP, kubectl, waiting.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

pub const SECRET: &str = "webhook-s3cret";

pub fn git(dir: &Path, args: &[&str]) -> String {
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

pub fn copy_dir(from: &Path, to: &Path) {
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

pub struct Repo {
    pub url: String,
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl Repo {
    pub fn new(root: &Path, name: &str, seed_duration: Option<&str>) -> Repo {
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
    pub fn commit(&self, branch: &str, line: &str) -> String {
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

    pub fn main_commit(&self) -> String {
        git(&self.bare, &["rev-parse", "main"])
    }
}

pub struct Serve {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Serve {
    pub fn start(
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

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.port, "GET", path, &[], b"")
    }

    pub fn wait_ready(&self, within: Duration) -> bool {
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
    pub fn github(&self, event: &str, payload: &Value, secret: &str) -> u16 {
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

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            // Routine fetches would push everything else out of view.
            let lines: Vec<&str> = text.lines().filter(|l| !l.contains("fetched")).collect();
            eprintln!(
                "--- last lines of trellis serve's log ({}):\n{}",
                self.log.display(),
                lines[lines.len().saturating_sub(80)..].join("\n")
            );
        }
    }
}

pub fn http(
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

pub fn push_payload(repo: &Repo, branch: &str, after: &str, deleted: bool) -> Value {
    json!({"ref": format!("refs/heads/{branch}"), "before": "0".repeat(40), "after": after,
           "deleted": deleted, "created": !deleted,
           "repository": {"name": "r", "full_name": "acme/r", "clone_url": repo.url,
                          "html_url": repo.url, "ssh_url": repo.url, "git_url": repo.url}})
}

pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
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

pub fn get_json(kubeconfig: &Path, what: &str) -> Option<Value> {
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

pub fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < within {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {within:?} waiting for {what}");
}

/// The commit an Environment's status gives for one of its services ("" when it gives none).
pub fn service_revision(env: &Value, svc: &str) -> String {
    env["status"]["services"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["name"] == svc))
        .and_then(|x| x["revision"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub fn env_phase(kc: &Path, env: &str) -> Option<String> {
    get_json(kc, &format!("environments.trellis.dev/{env}"))
        .and_then(|e| e["status"]["phase"].as_str().map(str::to_string))
}

pub fn setup(kubeconfig: &Path, repos: &[&Repo; 3], set: &str, template: &str) {
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

pub fn base(kubeconfig: &Path) {
    kubectl(
        kubeconfig,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: trellis}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: trellis-webhook, namespace: trellis}}\nstringData: {{github: {SECRET}}}\n"
        )),
    );
}

pub fn start_cluster() -> (tokio::runtime::Runtime, devcluster::DevCluster, PathBuf) {
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
