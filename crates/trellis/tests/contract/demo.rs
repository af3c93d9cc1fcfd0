//! The real server: `trellis demo --serve --http 127.0.0.1:0 --token-file F` (the local API
//! server, the controller and the HTTP server with the API and the UI), run as a child process
//! until dropped. When it says "still running", environment `feature-search` is coming up
//! (services postgres, api with its own branch, web).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const ENV: &str = "feature-search";

pub struct Demo {
    child: Child,
    pub url: String,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Demo {
    pub fn start() -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        let lines: String = super::tokens()
            .iter()
            .map(|(t, r)| {
                let r = if r.starts_with("project:") {
                    format!("project:{ENV}")
                } else {
                    r.to_string()
                };
                format!("{t} {r}\n")
            })
            .collect();
        std::fs::write(&tokens, lines).expect("token file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
            .args(["demo", "--serve", "--http", "127.0.0.1:0", "--token-file"])
            .arg(&tokens)
            .arg("--dir")
            .arg(dir.path().join("demo"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting trellis demo");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().expect("log").push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let (mut url, mut kubeconfig) = (String::new(), PathBuf::new());
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "trellis demo did not get to serving:\n{}",
                        log.lock().expect("log").join("\n")
                    );
                }
            };
            if let Some(u) = line.strip_prefix("web UI:") {
                url = u.trim().trim_end_matches('/').to_string();
            }
            if let Some(k) = line.strip_prefix("kubeconfig:") {
                kubeconfig = PathBuf::from(k.trim());
            }
            if line.starts_with("still running") {
                break;
            }
        }
        assert!(url.starts_with("http://"), "no web UI address printed");
        Demo {
            child,
            url,
            kubeconfig,
            dir,
            log,
        }
    }

    /// The working clone of a service's repository (checked out on `feature-search` for api).
    pub fn work(&self, service: &str) -> PathBuf {
        self.dir.path().join("demo/work").join(service)
    }

    /// Commit a change to api's values on `feature-search` and push it; the new commit id.
    pub fn push_api_change(&self, from: &str, to: &str) -> String {
        let work = self.work("api");
        let values = work.join("charts/values.yaml");
        let text = std::fs::read_to_string(&values).expect("values.yaml");
        assert!(text.contains(from), "{} has no {from:?}", values.display());
        std::fs::write(&values, text.replacen(from, to, 1)).expect("write values");
        git(&work, &["commit", "-q", "-am", &format!("api: {to}")]);
        git(&work, &["push", "-q", "origin", ENV]);
        git(&work, &["rev-parse", "HEAD"])
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

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

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
