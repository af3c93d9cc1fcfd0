//! The webhook and health endpoints over real HTTP: the router served on a loopback socket by
//! [`server::serve`], driven by a plain HTTP client; secrets fixed, or read from a Secret on the
//! in-process local API server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use controller::webhook::{ChangeKind, Forge, GitRef};
use hmac::{Hmac, KeyInit, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use reqwest::StatusCode;
use serde_json::Value;
use server::{Change, Readiness, ServerState, WebhookResult, WebhookSecrets};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

const GITHUB_SECRET: &[u8] = b"It's a Secret to Everybody";
const GITLAB_TOKEN: &str = "gl-t0ken";

const GITHUB_PUSH: &str = r#"{
  "ref": "refs/heads/feat/login",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
  "repository": {
    "id": 186853002,
    "name": "pdf",
    "full_name": "acme/pdf",
    "private": true,
    "owner": {"name": "acme", "login": "acme", "id": 21031067, "type": "Organization"},
    "html_url": "https://github.com/acme/pdf",
    "git_url": "git://github.com/acme/pdf.git",
    "ssh_url": "git@github.com:acme/pdf.git",
    "clone_url": "https://github.com/acme/pdf.git",
    "svn_url": "https://github.com/acme/pdf",
    "default_branch": "main"
  },
  "pusher": {"name": "octocat", "email": "octocat@github.com"},
  "sender": {"login": "octocat", "id": 21031067, "type": "User"},
  "created": false,
  "deleted": false,
  "forced": false,
  "base_ref": null,
  "compare": "https://github.com/acme/pdf/compare/6113728f27ae...59b20b8d5c6f",
  "commits": [{
    "id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
    "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
    "distinct": true,
    "message": "Log in with SSO",
    "timestamp": "2026-11-02T10:00:00+01:00",
    "author": {"name": "Octo Cat", "email": "octocat@github.com", "username": "octocat"},
    "added": [], "removed": [], "modified": ["charts/values.yaml"]
  }],
  "head_commit": {"id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5", "message": "Log in with SSO"}
}"#;

const GITHUB_CREATE: &str = r#"{
  "ref": "feat/login",
  "ref_type": "branch",
  "master_branch": "main",
  "description": null,
  "pusher_type": "user",
  "repository": {"name": "pdf", "full_name": "acme/pdf",
                 "html_url": "https://github.com/acme/pdf",
                 "clone_url": "https://github.com/acme/pdf.git",
                 "ssh_url": "git@github.com:acme/pdf.git"},
  "sender": {"login": "octocat"}
}"#;

const GITHUB_DELETE_BRANCH: &str = r#"{
  "ref": "feat/login",
  "ref_type": "branch",
  "pusher_type": "user",
  "repository": {"name": "pdf", "full_name": "acme/pdf",
                 "html_url": "https://github.com/acme/pdf",
                 "clone_url": "https://github.com/acme/pdf.git",
                 "ssh_url": "git@github.com:acme/pdf.git"},
  "sender": {"login": "octocat"}
}"#;

const GITHUB_PING: &str = r#"{
  "zen": "Keep it logically awesome.",
  "hook_id": 30,
  "hook": {"type": "Repository", "id": 30, "events": ["push", "create", "delete"],
           "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://trellis.example.com/webhooks/github"}},
  "repository": {"name": "pdf", "clone_url": "https://github.com/acme/pdf.git"}
}"#;

const GITLAB_PUSH: &str = r#"{
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/feat/login",
  "ref_protected": false,
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "user_id": 4,
  "user_name": "John Smith",
  "user_username": "jsmith",
  "project_id": 15,
  "project": {
    "id": 15,
    "name": "PDF",
    "web_url": "https://gitlab.example.com/acme/pdf",
    "git_ssh_url": "git@gitlab.example.com:acme/pdf.git",
    "git_http_url": "https://gitlab.example.com/acme/pdf.git",
    "namespace": "Acme",
    "path_with_namespace": "acme/pdf",
    "default_branch": "main"
  },
  "commits": [{
    "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "message": "Log in with SSO",
    "timestamp": "2026-11-02T10:00:00+01:00",
    "author": {"name": "John Smith", "email": "jsmith@example.com"},
    "added": [], "modified": ["charts/values.yaml"], "removed": []
  }],
  "total_commits_count": 1,
  "repository": {
    "name": "PDF",
    "url": "git@gitlab.example.com:acme/pdf.git",
    "homepage": "https://gitlab.example.com/acme/pdf",
    "git_http_url": "https://gitlab.example.com/acme/pdf.git",
    "git_ssh_url": "git@gitlab.example.com:acme/pdf.git"
  }
}"#;

fn gitlab_push_deleting_the_branch() -> String {
    GITLAB_PUSH
        .replace(
            r#""after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7""#,
            r#""after": "0000000000000000000000000000000000000000""#,
        )
        .replace(
            r#""checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7""#,
            r#""checkout_sha": null"#,
        )
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// The router served on a loopback port, the receiving end of its change channel, and a way to
/// stop it.
struct Running {
    base: String,
    state: ServerState,
    changes: mpsc::UnboundedReceiver<Change>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    http: reqwest::Client,
}

async fn start_with(secrets: WebhookSecrets, readiness: Readiness) -> Running {
    let (tx, changes) = mpsc::unbounded_channel();
    let state = ServerState::new(tx, secrets, readiness);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(
        listener,
        server::router(state.clone()),
        async move {
            let _ = stopped.await;
        },
    ));
    // Whichever test gets here first installs it; the others find it installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    Running {
        base: format!("http://{addr}"),
        state,
        changes,
        stop: Some(stop),
        task,
        http,
    }
}

async fn start() -> Running {
    start_with(
        WebhookSecrets::fixed(Some(GITHUB_SECRET), Some(GITLAB_TOKEN)),
        Readiness::ready(),
    )
    .await
}

/// A response: status, headers and body (as JSON when it is JSON).
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"error\" string in {}", self.text))
            .to_string()
    }
}

impl Running {
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.into());
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("the request is answered");
        Reply {
            status: res.status(),
            headers: res.headers().clone(),
            text: res.text().await.expect("a body"),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the request is answered");
        Reply {
            status: res.status(),
            headers: res.headers().clone(),
            text: res.text().await.expect("a body"),
        }
    }

    /// A GitHub delivery of `event`, signed with `secret`.
    async fn github(&self, event: &str, body: &str, secret: &[u8]) -> Reply {
        let sig = sign(secret, body.as_bytes());
        self.post(
            "/webhooks/github",
            &[
                ("X-GitHub-Event", event),
                ("X-Hub-Signature-256", &sig),
                ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ],
            body,
        )
        .await
    }

    /// A GitLab delivery of `event` with `token`.
    async fn gitlab(&self, event: &str, body: &str, token: &str) -> Reply {
        self.post(
            "/webhooks/gitlab",
            &[
                ("X-Gitlab-Event", event),
                ("X-Gitlab-Token", token),
                (
                    "X-Gitlab-Event-UUID",
                    "8d9f3a52-5b43-4f04-9b89-2f1a3c0c3b1d",
                ),
            ],
            body,
        )
        .await
    }

    /// The one change sent, failing if there is none or more than one.
    fn one_change(&mut self) -> Change {
        let change = self.changes.try_recv().expect("a change was sent");
        self.no_change();
        change
    }

    fn no_change(&mut self) {
        if let Ok(c) = self.changes.try_recv() {
            panic!("no change should have been sent, got {c:?}");
        }
    }

    fn count(&self, forge: Forge, result: WebhookResult) -> u64 {
        self.state.webhook_counts().get(forge, result)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops after the shutdown signal")
            .expect("the server task does not panic")
            .expect("the server stops cleanly");
    }
}

#[tokio::test]
async fn github_push_signed_is_accepted_and_sent_once() {
    let mut s = start().await;
    let r = s.github("push", GITHUB_PUSH, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let body = r.json();
    assert_eq!(body["accepted"], "push");
    assert_eq!(body["repository"], "https://github.com/acme/pdf.git");
    assert_eq!(body["ref"], "refs/heads/feat/login");
    assert_eq!(body["deletion"], false);

    let change = s.one_change();
    assert_eq!(change.forge, Forge::GitHub);
    assert_eq!(change.repo_urls[0], "https://github.com/acme/pdf.git");
    assert!(change.concerns("https://github.com/acme/pdf"));
    assert_eq!(
        change.kind,
        ChangeKind::Push {
            git_ref: GitRef::Branch("feat/login".into()),
            after: Some("59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5".into()),
            deleted: false,
        }
    );
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Accepted), 1);

    let r = s.github("create", GITHUB_CREATE, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        s.one_change().kind,
        ChangeKind::Created {
            git_ref: GitRef::Branch("feat/login".into())
        }
    );
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Accepted), 2);
    s.stop().await;
}

/// `application/x-www-form-urlencoded` encoding of `payload=<json>`, as GitHub sends it when a
/// webhook's content type is left at its default.
fn form_encoded(json: &str) -> String {
    let encoded: String = json
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'*' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("payload={encoded}")
}

#[tokio::test]
async fn github_form_encoded_push_is_accepted() {
    let mut s = start().await;
    let body = form_encoded(GITHUB_PUSH);
    let sig = sign(GITHUB_SECRET, body.as_bytes());
    let r = s
        .post(
            "/webhooks/github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &sig),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let change = s.one_change();
    assert_eq!(change.git_ref(), &GitRef::Branch("feat/login".into()));
    assert_eq!(change.repo_urls[0], "https://github.com/acme/pdf.git");
    s.stop().await;
}

#[tokio::test]
async fn github_bad_signatures_are_refused_and_nothing_is_sent() {
    /// A request that must be refused, and what the error must say.
    struct Case {
        what: &'static str,
        signature: Option<String>,
        body: String,
        says: &'static str,
    }
    let mut s = start().await;
    let cases = [
        Case {
            what: "wrong secret",
            signature: Some(sign(b"not the secret", GITHUB_PUSH.as_bytes())),
            body: GITHUB_PUSH.into(),
            says: "does not match",
        },
        Case {
            what: "missing signature header",
            signature: None,
            body: GITHUB_PUSH.into(),
            says: "missing X-Hub-Signature-256",
        },
        Case {
            what: "signature over a different body",
            signature: Some(sign(GITHUB_SECRET, GITHUB_CREATE.as_bytes())),
            body: GITHUB_PUSH.into(),
            says: "does not match",
        },
        Case {
            what: "body changed after signing",
            signature: Some(sign(GITHUB_SECRET, GITHUB_PUSH.as_bytes())),
            body: GITHUB_PUSH.replace("feat/login", "main"),
            says: "does not match",
        },
        Case {
            what: "sha1 signature",
            signature: Some("sha1=7d38cdd689735b008b3c702edd92eea23791c5f6".into()),
            body: GITHUB_PUSH.into(),
            says: "malformed",
        },
        Case {
            what: "not even JSON, unsigned",
            signature: None,
            body: "{{{".into(),
            says: "missing",
        },
    ];
    for (n, case) in cases.into_iter().enumerate() {
        let mut headers = vec![("X-GitHub-Event", "push")];
        if let Some(sig) = &case.signature {
            headers.push(("X-Hub-Signature-256", sig));
        }
        let r = s.post("/webhooks/github", &headers, case.body).await;
        let what = case.what;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text);
        assert!(r.error().contains(case.says), "{what}: {}", r.text);
        s.no_change();
        assert_eq!(
            s.count(Forge::GitHub, WebhookResult::Unauthorized),
            n as u64 + 1
        );
    }
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Accepted), 0);
    s.stop().await;
}

#[tokio::test]
async fn github_branch_delete_is_a_deletion() {
    let mut s = start().await;
    let r = s
        .github("delete", GITHUB_DELETE_BRANCH, GITHUB_SECRET)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json()["deletion"], true);
    let change = s.one_change();
    assert!(change.is_deletion());
    assert_eq!(change.deleted_branch(), Some("feat/login"));
    assert_eq!(
        change.kind,
        ChangeKind::Deleted {
            git_ref: GitRef::Branch("feat/login".into())
        }
    );

    // A push that deletes the branch says the same.
    let push_delete = GITHUB_PUSH
        .replace(
            r#""after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5""#,
            r#""after": "0000000000000000000000000000000000000000""#,
        )
        .replace(r#""deleted": false"#, r#""deleted": true"#);
    let r = s.github("push", &push_delete, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(s.one_change().deleted_branch(), Some("feat/login"));
    s.stop().await;
}

#[tokio::test]
async fn github_ping_answers_200_and_sends_nothing() {
    let mut s = start().await;
    let r = s.github("ping", GITHUB_PING, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    s.no_change();
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Ignored), 1);

    // A ping must be signed too.
    let r = s.github("ping", GITHUB_PING, b"wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    s.stop().await;
}

#[tokio::test]
async fn github_other_events_are_ignored() {
    let mut s = start().await;
    let body = r#"{"action": "opened", "issue": {"number": 1}, "repository": {"clone_url": "https://github.com/acme/pdf.git"}}"#;
    let r = s.github("issues", body, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert!(
        r.json()["ignored"]
            .as_str()
            .is_some_and(|m| m.contains("issues")),
        "{}",
        r.text
    );
    s.no_change();
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Ignored), 1);
    s.stop().await;
}

#[tokio::test]
async fn github_malformed_payload_with_valid_signature_is_400() {
    let mut s = start().await;
    for (body, says) in [
        ("not json at all", "invalid push payload"),
        (r#"{"ref": 3}"#, "invalid push payload"),
        (r#"{"after": "abc", "repository": {}}"#, "ref"),
    ] {
        let r = s.github("push", body, GITHUB_SECRET).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(r.error().contains(says), "{body}: {}", r.text);
        s.no_change();
    }
    let r = s
        .github(
            "delete",
            r#"{"ref": "x", "ref_type": "branch", "repository": {}}"#,
            GITHUB_SECRET,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.error().contains("no URL"), "{}", r.text);

    // Signed, but no event header.
    let sig = sign(GITHUB_SECRET, GITHUB_PUSH.as_bytes());
    let r = s
        .post(
            "/webhooks/github",
            &[("X-Hub-Signature-256", &sig)],
            GITHUB_PUSH,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.error(), "missing X-GitHub-Event header");
    s.no_change();
    assert_eq!(s.count(Forge::GitHub, WebhookResult::BadRequest), 5);
    s.stop().await;
}

#[tokio::test]
async fn gitlab_push_with_right_and_wrong_token() {
    let mut s = start().await;
    let r = s.gitlab("Push Hook", GITLAB_PUSH, GITLAB_TOKEN).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let change = s.one_change();
    assert_eq!(change.forge, Forge::GitLab);
    assert_eq!(
        change.repo_urls[0],
        "https://gitlab.example.com/acme/pdf.git"
    );
    assert_eq!(
        change.kind,
        ChangeKind::Push {
            git_ref: GitRef::Branch("feat/login".into()),
            after: Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into()),
            deleted: false,
        }
    );

    for token in ["gl-t0ke", "", "GL-T0KEN", "gl-t0ken2"] {
        let r = s.gitlab("Push Hook", GITLAB_PUSH, token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}: {}", r.text);
        s.no_change();
    }
    let r = s
        .post(
            "/webhooks/gitlab",
            &[("X-Gitlab-Event", "Push Hook")],
            GITLAB_PUSH,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.error(), "missing X-Gitlab-Token header");
    s.no_change();

    // GitHub's secret does not open GitLab's endpoint, nor the reverse.
    let r = s
        .gitlab(
            "Push Hook",
            GITLAB_PUSH,
            &String::from_utf8_lossy(GITHUB_SECRET),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = s.github("push", GITHUB_PUSH, GITLAB_TOKEN.as_bytes()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    s.no_change();

    assert_eq!(s.count(Forge::GitLab, WebhookResult::Accepted), 1);
    assert_eq!(s.count(Forge::GitLab, WebhookResult::Unauthorized), 6);
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Unauthorized), 1);
    s.stop().await;
}

#[tokio::test]
async fn gitlab_branch_deletion_tag_push_and_other_events() {
    let mut s = start().await;
    let r = s
        .gitlab(
            "Push Hook",
            &gitlab_push_deleting_the_branch(),
            GITLAB_TOKEN,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json()["deletion"], true);
    let change = s.one_change();
    assert!(change.is_deletion());
    assert_eq!(change.deleted_branch(), Some("feat/login"));

    let tag = GITLAB_PUSH
        .replace("refs/heads/feat/login", "refs/tags/v1.0.0")
        .replace(r#""object_kind": "push""#, r#""object_kind": "tag_push""#);
    let r = s.gitlab("Tag Push Hook", &tag, GITLAB_TOKEN).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(s.one_change().git_ref(), &GitRef::Tag("v1.0.0".into()));

    let r = s
        .gitlab(
            "Merge Request Hook",
            r#"{"object_kind": "merge_request"}"#,
            GITLAB_TOKEN,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert!(r.json()["ignored"].is_string(), "{}", r.text);
    s.no_change();

    let r = s.gitlab("Push Hook", "[]", GITLAB_TOKEN).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.error().starts_with("invalid Push Hook payload"),
        "{}",
        r.text
    );
    s.no_change();
    s.stop().await;
}

#[tokio::test]
async fn a_provider_without_a_secret_is_refused() {
    let mut s = start_with(
        WebhookSecrets::fixed(Some(GITHUB_SECRET), None),
        Readiness::ready(),
    )
    .await;
    // Whatever the token, even an empty one.
    for token in [GITLAB_TOKEN, ""] {
        let r = s.gitlab("Push Hook", GITLAB_PUSH, token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert_eq!(r.error(), "no gitlab webhook secret is configured");
    }
    s.no_change();
    let r = s.github("push", GITHUB_PUSH, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    s.one_change();
    s.stop().await;
}

#[tokio::test]
async fn body_limit_is_25_mib() {
    let mut s = start().await;
    const LIMIT: usize = 25 * 1024 * 1024;

    // A push padded with whitespace to exactly the limit passes.
    let mut at_limit = GITHUB_PUSH.to_string();
    at_limit.push_str(&" ".repeat(LIMIT - at_limit.len()));
    assert_eq!(at_limit.len(), LIMIT);
    let r = s.github("push", &at_limit, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    s.one_change();

    // One byte more does not, signed or not.
    at_limit.push(' ');
    let r = s.github("push", &at_limit, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(r.error().contains("limit"), "{}", r.text);
    let r = s.gitlab("Push Hook", &at_limit, GITLAB_TOKEN).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    s.no_change();
    assert_eq!(s.count(Forge::GitHub, WebhookResult::BadRequest), 1);
    assert_eq!(s.count(Forge::GitLab, WebhookResult::BadRequest), 1);
    s.stop().await;
}

#[tokio::test]
async fn controller_gone_gives_503() {
    let mut s = start().await;
    s.changes.close();
    let r = s.github("push", GITHUB_PUSH, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Unavailable), 1);
    s.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let s = start_with(
        WebhookSecrets::fixed(None, None),
        Readiness::not_ready("caches are not synced yet"),
    )
    .await;
    let r = s.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, "ok");

    let r = s.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text.contains("caches are not synced yet"), "{}", r.text);

    s.state.readiness().set_ready();
    let r = s.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.text, "ok");

    s.state.readiness().set_not_ready("lost the API server");
    let r = s.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text.contains("lost the API server"), "{}", r.text);

    // Liveness does not depend on readiness.
    assert_eq!(s.get("/healthz").await.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let s = start().await;
    let r = s.get("/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "not found");
    let r = s.get("/webhooks/github").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = s.post("/healthz", &[], "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    s.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let s = start().await;
    // A request whose body is still arriving when shutdown is signalled is answered.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let sig = sign(GITHUB_SECRET, GITHUB_PUSH.as_bytes());
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: {addr}\r\nX-GitHub-Event: push\r\n\
         X-Hub-Signature-256: {sig}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        GITHUB_PUSH.len()
    );
    let (first, rest) = GITHUB_PUSH.as_bytes().split_at(100);
    conn.write_all(head.as_bytes()).await.expect("write");
    conn.write_all(first).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let Running {
        stop,
        task,
        mut changes,
        ..
    } = s;
    let _ = stop.expect("not stopped yet").send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!task.is_finished(), "the server waits for the request");
    conn.write_all(rest).await.expect("write");
    let mut response = String::new();
    conn.read_to_string(&mut response).await.expect("read");
    assert!(
        response.starts_with("HTTP/1.1 202"),
        "the request in flight is answered: {response}"
    );
    assert!(changes.try_recv().is_ok());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .expect("no panic")
        .expect("clean stop");

    // And it no longer accepts connections.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
}

/// Counts the GET requests for the webhook Secret a kube client sends.
#[derive(Clone, Default)]
struct SecretReads(Arc<AtomicUsize>);

impl<S> tower::Layer<S> for SecretReads {
    type Service = CountReads<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CountReads {
            inner,
            reads: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct CountReads<S> {
    inner: S,
    reads: Arc<AtomicUsize>,
}

impl<S, B> tower::Service<http::Request<B>> for CountReads<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.method() == http::Method::GET
            && req.uri().path().ends_with("/secrets/trellis-webhook")
        {
            self.reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.call(req)
    }
}

fn webhook_secret(data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some("trellis-webhook".into()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[tokio::test]
async fn secret_from_the_kubernetes_api_rotation_and_deletion() {
    let dc = devcluster::DevCluster::start()
        .await
        .expect("the local API server starts");
    let kc = kube::config::Kubeconfig::read_from(dc.kubeconfig_path()).expect("kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    let reads = SecretReads::default();
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client")
        .with_layer(&reads)
        .build();

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("trellis".into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    if let Err(e) = namespaces.create(&PostParams::default(), &ns).await {
        assert!(
            matches!(&e, kube::Error::Api(s) if s.code == 409),
            "create namespace: {e}"
        );
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "trellis");
    // As `kubectl create secret generic --from-file github=...` stores a file written by echo.
    let mut with_newline = GITHUB_SECRET.to_vec();
    with_newline.push(b'\n');
    secrets
        .create(
            &PostParams::default(),
            &webhook_secret(&[("github", &with_newline)]),
        )
        .await
        .expect("create the Secret");

    let ttl = Duration::from_millis(300);
    let mut s = start_with(
        WebhookSecrets::kubernetes(client.clone(), "trellis", ttl),
        Readiness::ready(),
    )
    .await;

    // A burst of deliveries reads the Secret once.
    let burst: Vec<_> = (0..16)
        .map(|_| {
            let http = s.http.clone();
            let url = format!("{}/webhooks/github", s.base);
            let sig = sign(GITHUB_SECRET, GITHUB_PUSH.as_bytes());
            tokio::spawn(async move {
                http.post(url)
                    .header("X-GitHub-Event", "push")
                    .header("X-Hub-Signature-256", sig)
                    .body(GITHUB_PUSH)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    for r in burst {
        let status = r.await.expect("no panic").expect("answered");
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(reads.0.load(Ordering::SeqCst), 1, "one read for the burst");
    for _ in 0..16 {
        s.changes.try_recv().expect("a change per delivery");
    }
    s.no_change();

    // The Secret has no `gitlab` key: GitLab's deliveries are refused.
    let r = s.gitlab("Push Hook", GITLAB_PUSH, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.error(), "no gitlab webhook secret is configured");

    // Rotated: after the TTL the new secret verifies and the old one no longer does.
    secrets
        .replace("trellis-webhook", &PostParams::default(), &{
            let mut new = webhook_secret(&[("github", b"rotated"), ("gitlab", b"gl")]);
            new.metadata.resource_version = secrets
                .get("trellis-webhook")
                .await
                .expect("get")
                .metadata
                .resource_version;
            new
        })
        .await
        .expect("rotate the Secret");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let r = s.github("push", GITHUB_PUSH, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = s.github("push", GITHUB_PUSH, b"rotated").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    s.one_change();
    let r = s.gitlab("Push Hook", GITLAB_PUSH, "gl").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    s.one_change();

    // Deleted: after the TTL every delivery is refused.
    secrets
        .delete("trellis-webhook", &DeleteParams::default())
        .await
        .expect("delete the Secret");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let r = s.github("push", GITHUB_PUSH, b"rotated").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.error(), "no github webhook secret is configured");
    s.no_change();
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Accepted), 17);
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Unauthorized), 2);
    s.stop().await;
}

#[tokio::test]
async fn api_server_unreachable_gives_503_not_401() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address").port()
    };
    let config = kube::Config::new(
        format!("http://127.0.0.1:{port}")
            .parse()
            .expect("a valid URL"),
    );
    let client = kube::Client::try_from(config).expect("client");
    let mut s = start_with(
        WebhookSecrets::kubernetes(client, "trellis", Duration::from_secs(10)),
        Readiness::ready(),
    )
    .await;
    let r = s.github("push", GITHUB_PUSH, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    assert!(!r.text.contains("127.0.0.1"), "{}", r.text);
    let r = s.gitlab("Push Hook", GITLAB_PUSH, GITLAB_TOKEN).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    s.no_change();
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Unavailable), 1);
    assert_eq!(s.count(Forge::GitLab, WebhookResult::Unavailable), 1);
    assert_eq!(s.count(Forge::GitHub, WebhookResult::Unauthorized), 0);
    s.stop().await;
}

/// Every event logged on this thread, as `message field=value ...` lines.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<String>>>);

impl Logs {
    fn text(&self) -> String {
        self.0.lock().expect("lock").join("\n")
    }
}

struct LineVisitor(String);

impl tracing::field::Visit for LineVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl tracing::Subscriber for Logs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = LineVisitor(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().expect("lock").push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_name_the_delivery_but_never_a_secret_or_signature() {
    let logs = Logs::default();
    // The test runtime has one thread: the server's tasks log to this subscriber too.
    let _guard = tracing::subscriber::set_default(logs.clone());
    let mut s = start().await;

    let good_sig = sign(GITHUB_SECRET, GITHUB_PUSH.as_bytes());
    let r = s.github("push", GITHUB_PUSH, GITHUB_SECRET).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.one_change();
    let wrong_sig = sign(b"a guess", GITHUB_PUSH.as_bytes());
    let r = s.github("push", GITHUB_PUSH, b"a guess").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s.gitlab("Push Hook", GITLAB_PUSH, "gl-wrong-guess").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s.gitlab("Push Hook", GITLAB_PUSH, GITLAB_TOKEN).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.one_change();
    s.stop().await;

    let text = logs.text();
    for wanted in [
        "delivery=72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "delivery=8d9f3a52-5b43-4f04-9b89-2f1a3c0c3b1d",
        "event=push",
        "event=Push Hook",
        "repo=https://github.com/acme/pdf.git",
        "git_ref=refs/heads/feat/login",
        "result=accepted",
        "result=unauthorized",
        "provider=gitlab",
    ] {
        assert!(text.contains(wanted), "no {wanted:?} in the logs:\n{text}");
    }
    for secret in [
        String::from_utf8_lossy(GITHUB_SECRET).into_owned(),
        good_sig.trim_start_matches("sha256=").to_string(),
        wrong_sig.trim_start_matches("sha256=").to_string(),
        GITLAB_TOKEN.to_string(),
        "gl-wrong-guess".to_string(),
    ] {
        assert!(!text.contains(&secret), "{secret:?} logged:\n{text}");
    }
}
