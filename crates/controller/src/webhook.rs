//! Git webhooks: verifying that a request comes from the forge, and reading what changed.
//!
//! Pure functions over headers and the raw body; the HTTP endpoints (`POST /webhooks/github`,
//! `POST /webhooks/gitlab`) and the secrets (Secret `trellis-webhook`, keys `github` and `gitlab`)
//! live with the server. A request must pass verification before it is parsed:
//!
//! - GitHub signs the raw body with HMAC-SHA256 and sends `X-Hub-Signature-256: sha256=<hex>`
//!   ([`verify_github`]); the MAC is checked in constant time.
//! - GitLab sends the configured secret verbatim in `X-Gitlab-Token` ([`verify_gitlab`]); compared
//!   in constant time (as SHA-256 digests, so the length leaks nothing either).
//!
//! An empty configured secret verifies nothing: anyone can compute an HMAC with an empty key.
//!
//! [`parse_github`] reads `push`, `create` and `delete` events (`ping` and events Trellis does not
//! act on give `Ok(None)`), [`parse_gitlab`] reads `Push Hook` and `Tag Push Hook`. Both give a
//! [`Change`]: every URL the forge gives for the repository, and what happened to which ref. The
//! controller then fetches each configured repository whose [`normalize_repo_url`] equals one of
//! the change's.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What can go wrong with a webhook request.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No secret is configured for this forge: nothing can be verified.
    #[error("no webhook secret is configured")]
    NoSecret,
    /// The signature or token header is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The signature header is not `sha256=<64 hex digits>`.
    #[error("malformed {0} header")]
    MalformedHeader(&'static str),
    /// The signature or token does not match the secret.
    #[error("{0} does not match the webhook secret")]
    Mismatch(&'static str),
    /// The body is not the JSON the event promises.
    #[error("invalid {event} payload: {message}")]
    InvalidPayload {
        /// The event named by the request's header.
        event: String,
        /// What is wrong.
        message: String,
    },
}

impl WebhookError {
    /// Whether the request failed authentication (answer 401), rather than being malformed (400).
    pub fn is_unauthorized(&self) -> bool {
        !matches!(self, WebhookError::InvalidPayload { .. })
    }
}

/// Result of this module.
pub type Result<T, E = WebhookError> = std::result::Result<T, E>;

/// GitHub's signature header.
pub const GITHUB_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// GitHub's event header.
pub const GITHUB_EVENT_HEADER: &str = "X-GitHub-Event";
/// GitLab's token header.
pub const GITLAB_TOKEN_HEADER: &str = "X-Gitlab-Token";
/// GitLab's event header.
pub const GITLAB_EVENT_HEADER: &str = "X-Gitlab-Event";

/// Check GitHub's `X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 of the raw `body` keyed with
/// `secret`.
pub fn verify_github(secret: &[u8], body: &[u8], signature_header: Option<&str>) -> Result<()> {
    if secret.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    let header = signature_header.ok_or(WebhookError::MissingHeader(GITHUB_SIGNATURE_HEADER))?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(WebhookError::MalformedHeader(GITHUB_SIGNATURE_HEADER))?;
    let tag = decode_hex(hex).ok_or(WebhookError::MalformedHeader(GITHUB_SIGNATURE_HEADER))?;
    if tag.len() != 32 {
        return Err(WebhookError::MalformedHeader(GITHUB_SIGNATURE_HEADER));
    }
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&tag)
        .map_err(|_| WebhookError::Mismatch(GITHUB_SIGNATURE_HEADER))
}

/// Check GitLab's `X-Gitlab-Token` against the configured `secret`.
pub fn verify_gitlab(secret: &str, token_header: Option<&str>) -> Result<()> {
    if secret.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    let token = token_header.ok_or(WebhookError::MissingHeader(GITLAB_TOKEN_HEADER))?;
    let want = Sha256::digest(secret.as_bytes());
    let got = Sha256::digest(token.as_bytes());
    if bool::from(want.as_slice().ct_eq(got.as_slice())) {
        Ok(())
    } else {
        Err(WebhookError::Mismatch(GITLAB_TOKEN_HEADER))
    }
}

/// `hex` as bytes, if it is an even number of hex digits (either case).
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let b = hex.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16);
    b.chunks_exact(2)
        .map(|p| u8::try_from(digit(p[0])? * 16 + digit(p[1])?).ok())
        .collect()
}

/// Which forge a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forge {
    /// GitHub (or GitHub Enterprise).
    GitHub,
    /// GitLab.
    GitLab,
}

/// A git ref, as named by a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GitRef {
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`.
    Tag(String),
    /// Any other ref, in full.
    Other(String),
}

impl GitRef {
    /// Read a full ref name (`refs/heads/x`, `refs/tags/v1`).
    pub fn from_full(full: &str) -> GitRef {
        if let Some(b) = full.strip_prefix("refs/heads/") {
            GitRef::Branch(b.to_string())
        } else if let Some(t) = full.strip_prefix("refs/tags/") {
            GitRef::Tag(t.to_string())
        } else {
            GitRef::Other(full.to_string())
        }
    }

    /// Read GitHub's `create`/`delete` pair: a `ref_type` (`branch` or `tag`) and a short name.
    fn from_type(ref_type: &str, name: &str) -> GitRef {
        match ref_type {
            "branch" => GitRef::Branch(name.to_string()),
            "tag" => GitRef::Tag(name.to_string()),
            _ => GitRef::from_full(name),
        }
    }

    /// The branch name, if this is a branch.
    pub fn branch(&self) -> Option<&str> {
        match self {
            GitRef::Branch(b) => Some(b),
            _ => None,
        }
    }
}

/// What happened to a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Commits pushed to a ref, or the ref created or deleted by a push.
    Push {
        /// The ref.
        git_ref: GitRef,
        /// The new tip (absent when the ref was deleted).
        after: Option<String>,
        /// Whether the push deleted the ref.
        deleted: bool,
    },
    /// A branch or tag was created (GitHub `create`).
    Created {
        /// The ref.
        git_ref: GitRef,
    },
    /// A branch or tag was deleted (GitHub `delete`).
    Deleted {
        /// The ref.
        git_ref: GitRef,
    },
}

/// One change reported by a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The forge that sent it.
    pub forge: Forge,
    /// Every URL the payload gives for the repository (clone, ssh, web...), as sent.
    pub repo_urls: Vec<String>,
    /// What happened.
    pub kind: ChangeKind,
}

impl Change {
    /// The ref that changed.
    pub fn git_ref(&self) -> &GitRef {
        match &self.kind {
            ChangeKind::Push { git_ref, .. }
            | ChangeKind::Created { git_ref }
            | ChangeKind::Deleted { git_ref } => git_ref,
        }
    }

    /// Whether the change deleted its ref.
    pub fn is_deletion(&self) -> bool {
        matches!(
            self.kind,
            ChangeKind::Deleted { .. } | ChangeKind::Push { deleted: true, .. }
        )
    }

    /// The branch deleted, if the change is a branch deletion (which triggers a cleanup check).
    pub fn deleted_branch(&self) -> Option<&str> {
        if self.is_deletion() {
            self.git_ref().branch()
        } else {
            None
        }
    }

    /// Whether a configured `repoURL` names this change's repository.
    pub fn concerns(&self, repo_url: &str) -> bool {
        let want = normalize_repo_url(repo_url);
        self.repo_urls.iter().any(|u| normalize_repo_url(u) == want)
    }
}

/// The repository object GitHub sends with every event.
#[derive(Deserialize, Default)]
struct GitHubRepository {
    clone_url: Option<String>,
    ssh_url: Option<String>,
    git_url: Option<String>,
    html_url: Option<String>,
    svn_url: Option<String>,
}

#[derive(Deserialize)]
struct GitHubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    after: Option<String>,
    #[serde(default)]
    deleted: bool,
    repository: GitHubRepository,
}

#[derive(Deserialize)]
struct GitHubCreateDelete {
    #[serde(rename = "ref")]
    git_ref: String,
    ref_type: String,
    repository: GitHubRepository,
}

/// The body's JSON: the body itself, or the `payload` field of a form-encoded body (GitHub's
/// `application/x-www-form-urlencoded` content type).
fn json_body(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let trimmed = body.trim_ascii_start();
    if let Some(encoded) = trimmed.strip_prefix(b"payload=") {
        std::borrow::Cow::Owned(percent_decode(encoded))
    } else {
        std::borrow::Cow::Borrowed(body)
    }
}

/// Form decoding: `+` is a space, `%XY` a byte; anything else as it is.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'&' => break,
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn invalid(event: &str, e: impl std::fmt::Display) -> WebhookError {
    WebhookError::InvalidPayload {
        event: event.to_string(),
        message: e.to_string(),
    }
}

/// Whether a commit id is all zeros (git's "no commit": a deleted or created ref).
fn is_zero_commit(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

fn github_urls(repo: GitHubRepository) -> Vec<String> {
    let mut urls = Vec::new();
    for url in [
        repo.clone_url,
        repo.ssh_url,
        repo.git_url,
        repo.html_url,
        repo.svn_url,
    ]
    .into_iter()
    .flatten()
    {
        if !url.is_empty() && !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// Read a GitHub event (`event` is the `X-GitHub-Event` header). `push`, `create` and `delete`
/// give a [`Change`]; `ping` and every other event give `None`. Call only after [`verify_github`].
pub fn parse_github(event: &str, body: &[u8]) -> Result<Option<Change>> {
    let event = event.trim();
    let body = json_body(body);
    let change = match event {
        "push" => {
            let p: GitHubPush = serde_json::from_slice(&body).map_err(|e| invalid(event, e))?;
            let after = p.after.filter(|a| !a.is_empty() && !is_zero_commit(a));
            let deleted = p.deleted || after.is_none();
            Change {
                forge: Forge::GitHub,
                repo_urls: github_urls(p.repository),
                kind: ChangeKind::Push {
                    git_ref: GitRef::from_full(&p.git_ref),
                    after: if deleted { None } else { after },
                    deleted,
                },
            }
        }
        "create" | "delete" => {
            let p: GitHubCreateDelete =
                serde_json::from_slice(&body).map_err(|e| invalid(event, e))?;
            let git_ref = GitRef::from_type(&p.ref_type, &p.git_ref);
            Change {
                forge: Forge::GitHub,
                repo_urls: github_urls(p.repository),
                kind: if event == "create" {
                    ChangeKind::Created { git_ref }
                } else {
                    ChangeKind::Deleted { git_ref }
                },
            }
        }
        _ => return Ok(None),
    };
    if change.repo_urls.is_empty() {
        return Err(invalid(event, "the repository has no URL"));
    }
    Ok(Some(change))
}

#[derive(Deserialize, Default)]
struct GitLabProject {
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
    web_url: Option<String>,
    http_url: Option<String>,
    ssh_url: Option<String>,
    url: Option<String>,
    homepage: Option<String>,
}

#[derive(Deserialize, Default)]
struct GitLabRepository {
    url: Option<String>,
    homepage: Option<String>,
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
}

#[derive(Deserialize)]
struct GitLabPush {
    #[serde(rename = "ref")]
    git_ref: String,
    after: Option<String>,
    #[serde(default)]
    project: GitLabProject,
    #[serde(default)]
    repository: GitLabRepository,
}

/// Read a GitLab event (`event` is the `X-Gitlab-Event` header): `Push Hook` and `Tag Push Hook`
/// give a [`Change::kind`] of [`ChangeKind::Push`] (`after` all zeros: the ref was deleted); other
/// events give `None`. Call only after [`verify_gitlab`].
pub fn parse_gitlab(event: &str, body: &[u8]) -> Result<Option<Change>> {
    let event = event.trim();
    if event != "Push Hook" && event != "Tag Push Hook" {
        return Ok(None);
    }
    let p: GitLabPush = serde_json::from_slice(body).map_err(|e| invalid(event, e))?;
    let mut urls: Vec<String> = Vec::new();
    for url in [
        p.project.git_http_url,
        p.project.git_ssh_url,
        p.project.web_url,
        p.project.http_url,
        p.project.ssh_url,
        p.project.url,
        p.project.homepage,
        p.repository.git_http_url,
        p.repository.git_ssh_url,
        p.repository.url,
        p.repository.homepage,
    ]
    .into_iter()
    .flatten()
    {
        if !url.is_empty() && !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return Err(invalid(event, "the project has no URL"));
    }
    let after = p.after.filter(|a| !a.is_empty() && !is_zero_commit(a));
    let deleted = after.is_none();
    Ok(Some(Change {
        forge: Forge::GitLab,
        repo_urls: urls,
        kind: ChangeKind::Push {
            git_ref: GitRef::from_full(&p.git_ref),
            after,
            deleted,
        },
    }))
}

/// A form of a repository URL that is the same for every way of writing the same repository, so
/// a webhook's URL can be matched with a configured `repoURL`.
///
/// `https://user:token@Git.Example.com/Acme/PDF.git/`, `http://git.example.com/acme/pdf`,
/// `ssh://git@git.example.com/acme/pdf.git`, `git@git.example.com:acme/pdf.git` and
/// `git://git.example.com/acme/pdf` all give `git.example.com/acme/pdf`: the scheme, the user and
/// password, the default port (80, 443, 22, 9418), a query or fragment, a trailing `/` and a
/// `.git` suffix are dropped; other ports are kept (`host:8443/acme/pdf`). The whole is
/// lowercased: forges treat owner and repository names case-insensitively, and a false match only
/// costs an extra fetch. `file://` URLs and local paths compare by path (`file:///srv/git/pdf`),
/// case kept, only trailing `/` dropped.
pub fn normalize_repo_url(url: &str) -> String {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        return format!("file://{}", trim_trailing_slashes(path));
    }
    if url.starts_with('/') {
        return format!("file://{}", trim_trailing_slashes(url));
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, url),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (authority, path) = match scheme {
        Some(_) => rest.split_once('/').unwrap_or((rest, "")),
        None => {
            // scp-like `user@host:path`, or a bare `host/path`.
            let slash = rest.find('/').unwrap_or(rest.len());
            match rest[..slash].rfind(':') {
                Some(colon) if !rest[colon + 1..].starts_with("//") => {
                    (&rest[..colon], &rest[colon + 1..])
                }
                _ => rest.split_once('/').unwrap_or((rest, "")),
            }
        }
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = host_port.to_ascii_lowercase();
    let host = match (scheme.as_deref(), host_port.rsplit_once(':')) {
        (Some("https"), Some((h, "443")))
        | (Some("http"), Some((h, "80")))
        | (Some("ssh" | "git+ssh" | "ssh+git"), Some((h, "22")))
        | (Some("git"), Some((h, "9418"))) => h.to_string(),
        _ => host_port,
    };
    let mut path = path.trim_matches('/').to_lowercase();
    while path.ends_with('/') || path.ends_with(".git") {
        path = path
            .strip_suffix(".git")
            .unwrap_or(&path)
            .trim_end_matches('/')
            .to_string();
    }
    if path.is_empty() {
        host
    } else {
        format!("{host}/{path}")
    }
}

fn trim_trailing_slashes(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    if t.is_empty() && path.starts_with('/') {
        "/"
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    const GITHUB_PUSH: &str = r#"{
  "ref": "refs/heads/feat/login",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
  "repository": {
    "id": 186853002,
    "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
    "name": "pdf",
    "full_name": "acme/pdf",
    "private": true,
    "owner": {"name": "acme", "login": "acme", "id": 21031067, "type": "Organization"},
    "html_url": "https://github.com/acme/pdf",
    "git_url": "git://github.com/acme/pdf.git",
    "ssh_url": "git@github.com:acme/pdf.git",
    "clone_url": "https://github.com/acme/pdf.git",
    "svn_url": "https://github.com/acme/pdf",
    "default_branch": "master",
    "master_branch": "master"
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

    const GITHUB_PUSH_DELETE: &str = r#"{
  "ref": "refs/heads/feat/login",
  "before": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
  "after": "0000000000000000000000000000000000000000",
  "repository": {"name": "pdf", "full_name": "acme/pdf",
                 "html_url": "https://github.com/acme/pdf",
                 "clone_url": "https://github.com/acme/pdf.git",
                 "ssh_url": "git@github.com:acme/pdf.git"},
  "created": false, "deleted": true, "forced": false,
  "commits": [], "head_commit": null
}"#;

    const GITHUB_CREATE: &str = r#"{
  "ref": "feat/login",
  "ref_type": "branch",
  "master_branch": "master",
  "description": null,
  "pusher_type": "user",
  "repository": {"name": "pdf", "full_name": "acme/pdf",
                 "html_url": "https://github.com/acme/pdf",
                 "clone_url": "https://github.com/acme/pdf.git",
                 "ssh_url": "git@github.com:acme/pdf.git",
                 "git_url": "git://github.com/acme/pdf.git"},
  "sender": {"login": "octocat"}
}"#;

    const GITHUB_DELETE_TAG: &str = r#"{
  "ref": "v1.2.0",
  "ref_type": "tag",
  "pusher_type": "user",
  "repository": {"name": "pdf", "clone_url": "https://github.com/acme/pdf.git"},
  "sender": {"login": "octocat"}
}"#;

    const GITHUB_PING: &str = r#"{
  "zen": "Keep it logically awesome.",
  "hook_id": 30,
  "hook": {"type": "Repository", "id": 30, "events": ["push", "create", "delete"],
           "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://trellis.example.com/webhooks/github"}},
  "repository": {"name": "pdf", "clone_url": "https://github.com/acme/pdf.git"}
}"#;

    const GITLAB_PUSH_DELETED: &str = r#"{
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "0000000000000000000000000000000000000000",
  "ref": "refs/heads/feat/login",
  "ref_protected": false,
  "checkout_sha": null,
  "user_id": 4,
  "user_name": "John Smith",
  "user_username": "jsmith",
  "project_id": 15,
  "project": {
    "id": 15,
    "name": "PDF",
    "description": "",
    "web_url": "https://gitlab.example.com/acme/pdf",
    "avatar_url": null,
    "git_ssh_url": "git@gitlab.example.com:acme/pdf.git",
    "git_http_url": "https://gitlab.example.com/acme/pdf.git",
    "namespace": "Acme",
    "visibility_level": 0,
    "path_with_namespace": "acme/pdf",
    "default_branch": "main",
    "homepage": "https://gitlab.example.com/acme/pdf",
    "url": "git@gitlab.example.com:acme/pdf.git",
    "ssh_url": "git@gitlab.example.com:acme/pdf.git",
    "http_url": "https://gitlab.example.com/acme/pdf.git"
  },
  "commits": [],
  "total_commits_count": 0,
  "repository": {
    "name": "PDF",
    "url": "git@gitlab.example.com:acme/pdf.git",
    "description": "",
    "homepage": "https://gitlab.example.com/acme/pdf",
    "git_http_url": "https://gitlab.example.com/acme/pdf.git",
    "git_ssh_url": "git@gitlab.example.com:acme/pdf.git",
    "visibility_level": 0
  }
}"#;

    const GITLAB_TAG_PUSH: &str = r#"{
  "object_kind": "tag_push",
  "event_name": "tag_push",
  "before": "0000000000000000000000000000000000000000",
  "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "ref": "refs/tags/v1.0.0",
  "ref_protected": true,
  "checkout_sha": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "user_id": 1,
  "user_name": "John Smith",
  "project_id": 1,
  "project": {
    "id": 1,
    "name": "Example",
    "web_url": "http://gitlab.example.com:8080/jsmith/example",
    "git_ssh_url": "ssh://git@gitlab.example.com:2222/jsmith/example.git",
    "git_http_url": "http://gitlab.example.com:8080/jsmith/example.git",
    "path_with_namespace": "jsmith/example",
    "default_branch": "master"
  },
  "commits": [],
  "total_commits_count": 0,
  "repository": {
    "name": "Example",
    "url": "ssh://git@gitlab.example.com:2222/jsmith/example.git",
    "homepage": "http://gitlab.example.com:8080/jsmith/example"
  }
}"#;

    #[test]
    fn github_signatures() {
        let body = GITHUB_PUSH.as_bytes();
        let good = sign(SECRET, body);
        assert!(verify_github(SECRET, body, Some(&good)).is_ok());
        assert!(
            verify_github(
                SECRET,
                body,
                Some(&good.to_uppercase().replace("SHA256", "sha256"))
            )
            .is_ok()
        );

        // GitHub's documented example.
        let doc = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_github(SECRET, b"Hello, World!", Some(doc)).is_ok());

        let err = |r: Result<()>| r.expect_err("must fail");
        assert!(matches!(
            err(verify_github(b"other secret", body, Some(&good))),
            WebhookError::Mismatch(_)
        ));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(matches!(
            err(verify_github(SECRET, &tampered, Some(&good))),
            WebhookError::Mismatch(_)
        ));
        assert!(matches!(
            err(verify_github(SECRET, body, None)),
            WebhookError::MissingHeader(GITHUB_SIGNATURE_HEADER)
        ));
        for malformed in [
            "",
            "sha256=",
            "sha1=0123",
            &good[7..],
            &good[..good.len() - 1],
            &good[..good.len() - 2],
            "sha256=zz57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=é57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        ] {
            assert!(
                matches!(
                    err(verify_github(SECRET, body, Some(malformed))),
                    WebhookError::MalformedHeader(_)
                ),
                "{malformed:?}"
            );
        }
        assert!(matches!(
            err(verify_github(b"", body, Some(&sign(b"", body)))),
            WebhookError::NoSecret
        ));
        assert!(WebhookError::NoSecret.is_unauthorized());
        assert!(!invalid("push", "x").is_unauthorized());
    }

    #[test]
    fn gitlab_tokens() {
        assert!(verify_gitlab("s3cret", Some("s3cret")).is_ok());
        assert!(matches!(
            verify_gitlab("s3cret", Some("s3cre")),
            Err(WebhookError::Mismatch(GITLAB_TOKEN_HEADER))
        ));
        assert!(matches!(
            verify_gitlab("s3cret", Some("")),
            Err(WebhookError::Mismatch(_))
        ));
        assert!(matches!(
            verify_gitlab("s3cret", None),
            Err(WebhookError::MissingHeader(GITLAB_TOKEN_HEADER))
        ));
        assert!(matches!(
            verify_gitlab("", Some("")),
            Err(WebhookError::NoSecret)
        ));
    }

    #[test]
    fn github_push() {
        let c = parse_github("push", GITHUB_PUSH.as_bytes())
            .expect("parses")
            .expect("a change");
        assert_eq!(c.forge, Forge::GitHub);
        assert_eq!(
            c.repo_urls,
            [
                "https://github.com/acme/pdf.git",
                "git@github.com:acme/pdf.git",
                "git://github.com/acme/pdf.git",
                "https://github.com/acme/pdf",
            ]
        );
        assert_eq!(
            c.kind,
            ChangeKind::Push {
                git_ref: GitRef::Branch("feat/login".into()),
                after: Some("59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5".into()),
                deleted: false,
            }
        );
        assert!(!c.is_deletion());
        assert_eq!(c.deleted_branch(), None);
        assert!(c.concerns("https://github.com/acme/pdf.git"));
        assert!(c.concerns("ssh://git@github.com/Acme/PDF"));
        assert!(!c.concerns("https://github.com/acme/pdf-api.git"));
    }

    #[test]
    fn github_push_that_deletes_a_branch() {
        let c = parse_github("push", GITHUB_PUSH_DELETE.as_bytes())
            .expect("parses")
            .expect("a change");
        assert_eq!(
            c.kind,
            ChangeKind::Push {
                git_ref: GitRef::Branch("feat/login".into()),
                after: None,
                deleted: true,
            }
        );
        assert_eq!(c.deleted_branch(), Some("feat/login"));
    }

    #[test]
    fn github_create_delete_and_ping() {
        let c = parse_github("create", GITHUB_CREATE.as_bytes())
            .expect("parses")
            .expect("a change");
        assert_eq!(
            c.kind,
            ChangeKind::Created {
                git_ref: GitRef::Branch("feat/login".into())
            }
        );
        assert_eq!(c.repo_urls.len(), 4);
        assert!(!c.is_deletion());

        let d = parse_github("delete", GITHUB_DELETE_TAG.as_bytes())
            .expect("parses")
            .expect("a change");
        assert_eq!(
            d.kind,
            ChangeKind::Deleted {
                git_ref: GitRef::Tag("v1.2.0".into())
            }
        );
        assert!(d.is_deletion());
        assert_eq!(d.deleted_branch(), None);

        assert_eq!(
            parse_github("ping", GITHUB_PING.as_bytes()).ok(),
            Some(None)
        );
        assert_eq!(parse_github("issues", b"{}").ok(), Some(None));
        assert!(parse_github("push", b"{\"ref\": 3}").is_err());
        assert!(parse_github("push", b"not json").is_err());
        assert!(
            parse_github(
                "delete",
                b"{\"ref\": \"x\", \"ref_type\": \"branch\", \"repository\": {}}"
            )
            .is_err()
        );
    }

    #[test]
    fn github_form_encoded_payload() {
        let body = format!(
            "payload={}",
            GITHUB_CREATE
                .bytes()
                .map(|b| match b {
                    b' ' => "+".to_string(),
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {
                        char::from(b).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        );
        let form = parse_github("create", body.as_bytes())
            .expect("parses")
            .expect("a change");
        let json = parse_github("create", GITHUB_CREATE.as_bytes())
            .expect("parses")
            .expect("a change");
        assert_eq!(form, json);
    }

    #[test]
    fn gitlab_push_deleting_a_branch() {
        let c = parse_gitlab("Push Hook", GITLAB_PUSH_DELETED.as_bytes())
            .expect("parses")
            .expect("a change");
        assert_eq!(c.forge, Forge::GitLab);
        assert_eq!(
            c.repo_urls,
            [
                "https://gitlab.example.com/acme/pdf.git",
                "git@gitlab.example.com:acme/pdf.git",
                "https://gitlab.example.com/acme/pdf",
            ]
        );
        assert_eq!(
            c.kind,
            ChangeKind::Push {
                git_ref: GitRef::Branch("feat/login".into()),
                after: None,
                deleted: true,
            }
        );
        assert_eq!(c.deleted_branch(), Some("feat/login"));
        assert!(c.concerns("https://gitlab.example.com/acme/pdf"));
    }

    #[test]
    fn gitlab_tag_push() {
        let c = parse_gitlab("Tag Push Hook", GITLAB_TAG_PUSH.as_bytes())
            .expect("parses")
            .expect("a change");
        assert_eq!(
            c.kind,
            ChangeKind::Push {
                git_ref: GitRef::Tag("v1.0.0".into()),
                after: Some("82b3d5ae55f7080f1e6022629cdb57bfae7cccc7".into()),
                deleted: false,
            }
        );
        assert!(c.concerns("http://gitlab.example.com:8080/jsmith/example.git"));
        assert!(c.concerns("ssh://git@gitlab.example.com:2222/jsmith/example"));
        assert!(!c.concerns("https://gitlab.example.com/jsmith/example"));
        assert_eq!(parse_gitlab("Merge Request Hook", b"{}").ok(), Some(None));
        assert!(parse_gitlab("Push Hook", b"{\"ref\": \"refs/heads/a\"}").is_err());
        assert!(parse_gitlab("Push Hook", b"[]").is_err());
    }

    #[test]
    fn repo_url_forms() {
        let same = [
            "https://github.com/acme/pdf",
            "https://github.com/acme/pdf.git",
            "https://github.com/acme/pdf/",
            "https://github.com/acme/pdf.git/",
            "HTTPS://GitHub.com/Acme/PDF.git",
            "https://x-access-token:ghp_abc@github.com/acme/pdf.git",
            "https://github.com:443/acme/pdf",
            "http://github.com/acme/pdf",
            "git@github.com:acme/pdf.git",
            "ssh://git@github.com/acme/pdf.git",
            "ssh://git@github.com:22/acme/pdf",
            "git+ssh://git@github.com/acme/pdf",
            "git://github.com/acme/pdf.git",
            "github.com/acme/pdf",
            "https://github.com/acme/pdf.git?x=1#frag",
            "  https://github.com/acme/pdf.git  ",
        ];
        for url in same {
            assert_eq!(normalize_repo_url(url), "github.com/acme/pdf", "{url}");
        }
        assert_eq!(
            normalize_repo_url("https://git.example.com:8443/a/b.git"),
            "git.example.com:8443/a/b"
        );
        assert_eq!(
            normalize_repo_url("ssh://git@git.example.com:2222/a/b"),
            "git.example.com:2222/a/b"
        );
        assert_eq!(
            normalize_repo_url("https://gitlab.example.com/group/sub/repo.git"),
            "gitlab.example.com/group/sub/repo"
        );
        assert_eq!(
            normalize_repo_url("file:///srv/git/PDF.git/"),
            "file:///srv/git/PDF.git"
        );
        assert_eq!(
            normalize_repo_url("/srv/git/PDF.git"),
            "file:///srv/git/PDF.git"
        );
        assert_eq!(normalize_repo_url("file:///"), "file:///");
        assert_ne!(
            normalize_repo_url("https://github.com/acme/pdf"),
            normalize_repo_url("https://github.com/acme/pdf2")
        );
        assert_ne!(
            normalize_repo_url("https://github.com/acme/pdf"),
            normalize_repo_url("https://gitlab.com/acme/pdf")
        );
    }

    #[test]
    fn refs() {
        assert_eq!(
            GitRef::from_full("refs/heads/a/b"),
            GitRef::Branch("a/b".into())
        );
        assert_eq!(GitRef::from_full("refs/tags/v1"), GitRef::Tag("v1".into()));
        assert_eq!(
            GitRef::from_full("refs/pull/1/head"),
            GitRef::Other("refs/pull/1/head".into())
        );
        assert_eq!(GitRef::from_type("branch", "x").branch(), Some("x"));
    }

    proptest! {
        #[test]
        fn nothing_panics_on_arbitrary_input(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            header in proptest::option::of(".{0,80}"),
            event in prop_oneof![
                Just("push".to_string()), Just("create".to_string()), Just("delete".to_string()),
                Just("ping".to_string()), Just("Push Hook".to_string()),
                Just("Tag Push Hook".to_string()), ".{0,12}",
            ],
            secret in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let _ = verify_github(&secret, &body, header.as_deref());
            let _ = verify_gitlab(&String::from_utf8_lossy(&secret), header.as_deref());
            let _ = parse_github(&event, &body);
            let _ = parse_gitlab(&event, &body);
            let mut form = b"payload=".to_vec();
            form.extend_from_slice(&body);
            let _ = parse_github(&event, &form);
            if let Some(h) = &header {
                let _ = normalize_repo_url(h);
            }
        }

        #[test]
        fn every_form_of_a_repository_url_normalizes_alike(
            host in "[a-zA-Z0-9]([a-zA-Z0-9.-]{0,12}[a-zA-Z0-9])?",
            segments in proptest::collection::vec("[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,10}", 1..4),
            user in "[a-z]{1,6}",
            dot_git in any::<bool>(),
            slash in any::<bool>(),
        ) {
            let path = segments.join("/");
            let suffix = format!("{}{}", if dot_git { ".git" } else { "" }, if slash { "/" } else { "" });
            let forms = [
                format!("https://{host}/{path}{suffix}"),
                format!("http://{user}:pw@{host}/{path}{suffix}"),
                format!("https://{host}:443/{path}{suffix}"),
                format!("ssh://{user}@{host}/{path}{suffix}"),
                format!("ssh://{user}@{host}:22/{path}{suffix}"),
                format!("{user}@{host}:{path}{suffix}"),
                format!("git://{host}/{path}{suffix}"),
                format!("{host}/{path}{suffix}"),
            ];
            let want = normalize_repo_url(&format!("https://{host}/{path}"));
            prop_assert_eq!(normalize_repo_url(&want), want.clone());
            for form in &forms {
                prop_assert_eq!(&normalize_repo_url(form), &want, "{}", form);
            }
            prop_assert_ne!(
                normalize_repo_url(&format!("https://{host}/{path}x")),
                normalize_repo_url(&format!("https://{host}/{path}/x"))
            );
        }

        #[test]
        fn structured_payloads_do_not_panic(
            r in ".{0,30}",
            after in prop_oneof![Just("0".repeat(40)), "[0-9a-f]{0,40}"],
            url in ".{0,40}",
            deleted in any::<bool>(),
        ) {
            let body = serde_json::json!({
                "ref": r, "ref_type": "branch", "after": after, "deleted": deleted,
                "repository": {"clone_url": url}, "project": {"git_http_url": url}
            }).to_string();
            for event in ["push", "create", "delete"] {
                if let Ok(Some(c)) = parse_github(event, body.as_bytes()) {
                    let _ = c.deleted_branch();
                    prop_assert!(c.concerns(&url));
                }
            }
            if let Ok(Some(c)) = parse_gitlab("Push Hook", body.as_bytes()) {
                prop_assert_eq!(c.is_deletion(), after.is_empty() || after.bytes().all(|b| b == b'0'));
            }
        }
    }
}
