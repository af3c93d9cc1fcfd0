//! Who may do what through the API and the UI: bearer tokens and their roles.
//!
//! Tokens come from two places, both in the format `TOKEN ROLE` (one per line; blank lines and
//! lines starting with `#` are skipped):
//! - the file given with `--token-file`, read at start;
//! - the Secret [`TOKENS_SECRET`] (`trellis-tokens`) in the controller's namespace: every value
//!   holds such lines (one token per key is the usual layout). It is read through the API and
//!   cached for [`SECRET_TTL`], so a token added or revoked there takes effect within that time.
//!
//! Roles: `admin` (everything), `readonly` (read everything), `project:<name>` (read and act on
//! the Applications of that project only; environments it can read, not delete). Without a token a
//! request is `anonymous`, allowed to read only when `--anonymous-read` is given.
//!
//! Tokens are kept as SHA-256 digests and a presented token is compared with every known digest in
//! constant time (no early exit on the first match either), so neither timing nor a memory dump
//! tells a token. Tokens never appear in logs, errors or `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// The Secret holding API tokens, in the controller's namespace.
pub const TOKENS_SECRET: &str = "trellis-tokens";
/// How long a read of [`TOKENS_SECRET`] is used before it is read again.
pub const SECRET_TTL: Duration = Duration::from_secs(10);
/// A failed read is retried after this long at most.
const ERROR_TTL: Duration = Duration::from_secs(1);

/// What a caller may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// Read everything, change nothing.
    ReadOnly,
    /// Read and act on one project's Applications.
    Project(String),
    /// No token (only with `--anonymous-read`): read everything.
    Anonymous,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::ReadOnly => f.write_str("readonly"),
            Role::Project(p) => write!(f, "project:{p}"),
            Role::Anonymous => f.write_str("anonymous"),
        }
    }
}

impl Role {
    /// Parse a role as written in a token file.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "readonly" | "read-only" => Some(Role::ReadOnly),
            _ => {
                let p = s.strip_prefix("project:")?;
                (!p.is_empty()).then(|| Role::Project(p.to_string()))
            }
        }
    }

    /// Whether it may read an Application of `project` (and the objects it deploys).
    pub fn can_read(&self, project: &str) -> bool {
        match self {
            Role::Admin | Role::ReadOnly | Role::Anonymous => true,
            Role::Project(p) => p == project,
        }
    }

    /// Whether it may act on (sync, refresh, roll back, terminate) an Application of `project`.
    pub fn can_act(&self, project: &str) -> bool {
        match self {
            Role::Admin => true,
            Role::Project(p) => p == project,
            Role::ReadOnly | Role::Anonymous => false,
        }
    }

    /// Whether it may delete environments.
    pub fn can_delete_environments(&self) -> bool {
        matches!(self, Role::Admin)
    }
}

/// A problem with a token file or the tokens Secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{source_name} line {line}: {message}")]
pub struct TokenFileError {
    /// The file or `Secret ns/name key K`.
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong (never the token itself).
    pub message: String,
}

/// Known tokens: digest → role.
#[derive(Clone, Default)]
struct TokenSet(Vec<([u8; 32], Role)>);

impl TokenSet {
    fn parse(text: &str, source_name: &str) -> Result<TokenSet, TokenFileError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(token), Some(role), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(TokenFileError {
                    source_name: source_name.into(),
                    line: i + 1,
                    message: "expected `TOKEN ROLE`".into(),
                });
            };
            let Some(role) = Role::parse(role) else {
                return Err(TokenFileError {
                    source_name: source_name.into(),
                    line: i + 1,
                    message: format!(
                        "unknown role {role:?} (expected admin, readonly or project:<name>)"
                    ),
                });
            };
            out.push((digest(token), role));
        }
        Ok(TokenSet(out))
    }

    /// The role of `token`, looking at every entry whatever matches.
    fn role_of(&self, token_digest: &[u8; 32]) -> Option<Role> {
        let mut found: Option<Role> = None;
        for (d, role) in &self.0 {
            let eq: bool = d.ct_eq(token_digest).into();
            if eq && found.is_none() {
                found = Some(role.clone());
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token, and anonymous reading is off.
    Missing,
    /// A token no one knows.
    Unknown,
    /// The tokens Secret could not be read and the file has no match.
    Unavailable(String),
}

/// Where tokens come from and whether anonymous reading is allowed. Cheap to clone.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

struct Inner {
    file: TokenSet,
    anonymous_read: bool,
    secret: Option<SecretSource>,
}

struct SecretSource {
    api: Api<Secret>,
    namespace: String,
    cache: tokio::sync::Mutex<Option<(Instant, Result<TokenSet, String>)>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("file_tokens", &self.0.file.0.len())
            .field("anonymous_read", &self.0.anonymous_read)
            .field("secret", &self.0.secret.as_ref().map(|s| &s.namespace))
            .finish()
    }
}

impl Auth {
    /// Tokens from `text` (a token file's content; `source_name` names it in errors), and from
    /// the Secret [`TOKENS_SECRET`] read with `client` in `namespace` when given.
    pub fn new(
        text: &str,
        source_name: &str,
        anonymous_read: bool,
        secret: Option<(kube::Client, &str)>,
    ) -> Result<Auth, TokenFileError> {
        let file = TokenSet::parse(text, source_name)?;
        Ok(Auth(Arc::new(Inner {
            file,
            anonymous_read,
            secret: secret.map(|(client, ns)| SecretSource {
                api: Api::namespaced(client, ns),
                namespace: ns.to_string(),
                cache: tokio::sync::Mutex::new(None),
            }),
        })))
    }

    /// Read the token file at `path` (see [`Auth::new`]).
    pub fn from_file(
        path: &std::path::Path,
        anonymous_read: bool,
        secret: Option<(kube::Client, &str)>,
    ) -> Result<Auth, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| TokenFileError {
            source_name: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        Auth::new(&text, &path.display().to_string(), anonymous_read, secret)
    }

    /// Whether requests without a token may read.
    pub fn anonymous_read(&self) -> bool {
        self.0.anonymous_read
    }

    /// The role of a request from its `Authorization` header value (if any).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Role, AuthError> {
        let token = authorization
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return if self.0.anonymous_read {
                Ok(Role::Anonymous)
            } else {
                Err(AuthError::Missing)
            };
        };
        let d = digest(token);
        if let Some(role) = self.0.file.role_of(&d) {
            return Ok(role);
        }
        let Some(src) = &self.0.secret else {
            return Err(AuthError::Unknown);
        };
        match src.tokens().await {
            Ok(set) => set.role_of(&d).ok_or(AuthError::Unknown),
            Err(e) => Err(AuthError::Unavailable(e)),
        }
    }
}

impl SecretSource {
    async fn tokens(&self) -> Result<TokenSet, String> {
        let mut cache = self.cache.lock().await;
        if let Some((at, outcome)) = &*cache {
            let ttl = if outcome.is_ok() {
                SECRET_TTL
            } else {
                ERROR_TTL
            };
            if at.elapsed() < ttl {
                return outcome.clone();
            }
        }
        let outcome =
            match tokio::time::timeout(Duration::from_secs(5), self.api.get_opt(TOKENS_SECRET))
                .await
            {
                Err(_) => Err(format!(
                    "reading Secret {}/{TOKENS_SECRET}: timed out",
                    self.namespace
                )),
                Ok(Err(e)) => Err(format!(
                    "reading Secret {}/{TOKENS_SECRET}: {e}",
                    self.namespace
                )),
                Ok(Ok(None)) => Ok(TokenSet::default()),
                Ok(Ok(Some(secret))) => {
                    let mut all = TokenSet::default();
                    for (key, value) in secret.data.unwrap_or_default() {
                        let text = String::from_utf8_lossy(&value.0);
                        let name = format!("Secret {}/{TOKENS_SECRET} key {key}", self.namespace);
                        match TokenSet::parse(&text, &name) {
                            Ok(set) => all.0.extend(set.0),
                            // One bad entry must not lock everyone out: skip it, say where.
                            Err(e) => {
                                tracing::warn!(error = %e, "ignoring a malformed token entry")
                            }
                        }
                    }
                    Ok(all)
                }
            };
        *cache = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roles_from_a_token_file() {
        let auth = Auth::new(
            "# comment\n\nadm1n admin\nro readonly\np1 project:shop\n",
            "tokens",
            false,
            None,
        )
        .unwrap();
        assert_eq!(
            auth.authenticate(Some("Bearer adm1n")).await,
            Ok(Role::Admin)
        );
        assert_eq!(
            auth.authenticate(Some("bearer ro")).await,
            Ok(Role::ReadOnly)
        );
        assert_eq!(
            auth.authenticate(Some("Bearer p1")).await,
            Ok(Role::Project("shop".into()))
        );
        assert_eq!(
            auth.authenticate(Some("Bearer nope")).await,
            Err(AuthError::Unknown)
        );
        assert_eq!(auth.authenticate(None).await, Err(AuthError::Missing));
        assert_eq!(
            auth.authenticate(Some("Basic adm1n")).await,
            Err(AuthError::Missing)
        );
        let anon = Auth::new("", "tokens", true, None).unwrap();
        assert_eq!(anon.authenticate(None).await, Ok(Role::Anonymous));
    }

    #[test]
    fn malformed_lines_name_the_line_not_the_token() {
        let e = Auth::new("a admin\nsecret-token superuser\n", "f.txt", false, None)
            .err()
            .unwrap();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("f.txt line 2: unknown role"));
        assert!(!e.to_string().contains("secret-token"));
        let e = Auth::new("lonely\n", "f.txt", false, None).err().unwrap();
        assert_eq!(e.to_string(), "f.txt line 1: expected `TOKEN ROLE`");
    }

    #[test]
    fn what_each_role_may_do() {
        let p = Role::Project("shop".into());
        assert!(p.can_read("shop") && p.can_act("shop"));
        assert!(!p.can_read("bank") && !p.can_act("bank"));
        assert!(!p.can_delete_environments());
        assert!(Role::ReadOnly.can_read("x") && !Role::ReadOnly.can_act("x"));
        assert!(!Role::Anonymous.can_act("x"));
        assert!(Role::Admin.can_act("x") && Role::Admin.can_delete_environments());
        let dbg = format!(
            "{:?}",
            Auth::new("s3cr3t-zq admin", "f", false, None).unwrap()
        );
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
    }
}
