//! Repository URLs: which ones are accepted, the key a mirror is known by, its directory name, and
//! how a URL is shown in messages (never with a password, never with an http user that may be a
//! token).

use gix::bstr::ByteSlice;

use crate::error::{Error, Result};

/// The transports this crate allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `file://` URLs and plain absolute paths (served by `git upload-pack`).
    File,
    /// `http://`
    Http,
    /// `https://`
    Https,
    /// `ssh://` and scp-like `user@host:path` (through the system `ssh`).
    Ssh,
    /// `git://` (the unauthenticated git daemon).
    Git,
}

/// A parsed, accepted repository URL.
#[derive(Debug, Clone)]
pub(crate) struct RemoteUrl {
    /// What per-URL state and the mirror directory are keyed by: the URL without any password, and
    /// for http(s)/git without any user either.
    pub key: String,
    /// The URL handed to gix: the key (credentials travel through the credential callback).
    pub for_gix: String,
    /// The transport.
    pub scheme: Scheme,
    /// The host, if the URL has one.
    pub host: Option<String>,
    /// `user:password` found in an http(s) URL, used as basic-auth credentials when the caller
    /// configured none.
    pub userinfo: Option<(String, String)>,
}

impl RemoteUrl {
    /// Parse and check `url`.
    pub(crate) fn parse(url: &str) -> Result<RemoteUrl> {
        let trimmed = url.trim();
        let invalid = |message: &str| Error::InvalidUrl {
            url: display(trimmed),
            message: message.to_string(),
        };
        if trimmed.is_empty() {
            return Err(invalid("the URL is empty"));
        }
        let parsed = gix::url::parse(trimmed.as_bytes().as_bstr())
            .map_err(|e| invalid(&mask_userinfo_in_text(&e.to_string())))?;
        let scheme = match parsed.scheme {
            gix::url::Scheme::File => Scheme::File,
            gix::url::Scheme::Http => Scheme::Http,
            gix::url::Scheme::Https => Scheme::Https,
            gix::url::Scheme::Ssh => Scheme::Ssh,
            gix::url::Scheme::Git => Scheme::Git,
            _ => {
                return Err(invalid(
                    "only file://, absolute paths, http(s)://, ssh:// (or user@host:path) and git:// are allowed",
                ));
            }
        };
        if scheme == Scheme::File && !std::path::Path::new(&*parsed.path.to_string()).is_absolute()
        {
            return Err(invalid(
                "a local repository must be given by an absolute path",
            ));
        }
        let (key, userinfo) = strip_userinfo(trimmed, scheme);
        let key = key.trim_end_matches('/').to_string();
        Ok(RemoteUrl {
            for_gix: key.clone(),
            key,
            scheme,
            host: parsed.host().map(str::to_string),
            userinfo,
        })
    }

    /// The URL as shown in messages and logs.
    pub(crate) fn display(&self) -> String {
        self.key.clone()
    }

    /// The name of the mirror directory: a readable part (host and path, sanitised, without any
    /// user) and a hash of the key, so two URLs never share a directory by accident.
    pub(crate) fn dir_name(&self) -> String {
        let without_scheme = match self.key.find("://") {
            Some(i) => &self.key[i + 3..],
            None => &self.key,
        };
        // Drop an ssh user (`git@host:...`, `ssh://git@host/...`): it is not part of the name.
        let without_user = match (without_scheme.find('@'), without_scheme.find(['/', ':'])) {
            (Some(at), Some(sep)) if at < sep => &without_scheme[at + 1..],
            (Some(at), None) => &without_scheme[at + 1..],
            _ => without_scheme,
        };
        let mut readable = String::new();
        for c in without_user.chars() {
            let c = if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            };
            if !(c == '_' && readable.ends_with('_')) {
                readable.push(c);
            }
        }
        let readable: String = readable
            .trim_matches(|c| c == '_' || c == '.')
            .chars()
            .take(64)
            .collect();
        let readable = if readable.is_empty() {
            "repo".to_string()
        } else {
            readable
        };
        format!("{readable}-{:016x}", fnv1a64(self.key.as_bytes()))
    }
}

/// Remove the password from `url` (and, for http(s) and git, the user as well), returning the
/// remaining URL and, for http(s), the `user:password` that was removed.
fn strip_userinfo(url: &str, scheme: Scheme) -> (String, Option<(String, String)>) {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        // scp-like `user@host:path` or a path: no password can be written there.
        return (url.to_string(), None);
    };
    let authority_end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let authority = &url[start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &authority[..at];
    let host = &authority[at + 1..];
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let keep_user = scheme == Scheme::Ssh;
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..start]);
    if keep_user && !user.is_empty() {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(host);
    out.push_str(&url[authority_end..]);
    let creds = match scheme {
        Scheme::Http | Scheme::Https => Some((
            percent_decode(user),
            password.map(percent_decode).unwrap_or_default(),
        )),
        _ => None,
    };
    (out, creds)
}

/// `url` as it may appear in a message: user information masked.
pub(crate) fn display(url: &str) -> String {
    mask_userinfo_in_text(url)
}

/// Mask the user information (`user:password@`) of every `scheme://` URL inside `text`.
pub(crate) fn mask_userinfo_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = i + 3;
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| {
                c == '/' || c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | '`')
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***@");
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// FNV-1a, 64 bit: stable across Rust versions (unlike `DefaultHasher`), so a mirror keeps its
/// directory across upgrades.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        for (url, scheme) in [
            ("file:///srv/git/repo.git", Scheme::File),
            ("/srv/git/repo.git", Scheme::File),
            ("https://github.com/org/repo.git", Scheme::Https),
            ("http://127.0.0.1:8080/repo.git", Scheme::Http),
            ("ssh://git@github.com/org/repo.git", Scheme::Ssh),
            ("git@github.com:org/repo.git", Scheme::Ssh),
            ("git://example.com/repo.git", Scheme::Git),
        ] {
            let parsed = RemoteUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(parsed.scheme, scheme, "{url}");
        }
    }

    #[test]
    fn refused_forms() {
        for url in [
            "",
            "ext::sh -c touch% /tmp/pwned",
            "relative/path",
            "foo://bar/baz",
        ] {
            let err = RemoteUrl::parse(url).expect_err(url);
            assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err}");
            assert!(!err.is_transient());
        }
    }

    #[test]
    fn credentials_never_in_key_dir_or_display() {
        let u = RemoteUrl::parse("https://alice:s3cr%40t@git.example.com/org/repo.git/")
            .expect("valid");
        assert_eq!(u.key, "https://git.example.com/org/repo.git");
        assert_eq!(u.for_gix, u.key);
        assert_eq!(
            u.userinfo,
            Some(("alice".to_string(), "s3cr@t".to_string()))
        );
        assert!(!u.dir_name().contains("alice") && !u.dir_name().contains("s3cr"));
        assert!(!u.display().contains("s3cr"));

        let token_as_user = RemoteUrl::parse("https://ghp_TOKEN@github.com/o/r").expect("valid");
        assert!(!token_as_user.key.contains("ghp_TOKEN"));
        assert!(!token_as_user.dir_name().contains("ghp_TOKEN"));

        let ssh = RemoteUrl::parse("ssh://git:pw@host.example/r.git").expect("valid");
        assert_eq!(ssh.key, "ssh://git@host.example/r.git");
        assert_eq!(ssh.userinfo, None);
    }

    #[test]
    fn dir_names_are_safe_and_distinct() {
        let a = RemoteUrl::parse("git@github.com:org/repo.git")
            .expect("valid")
            .dir_name();
        let b = RemoteUrl::parse("https://github.com/org/repo.git")
            .expect("valid")
            .dir_name();
        let c = RemoteUrl::parse("/srv/../etc/repo")
            .expect("valid")
            .dir_name();
        assert!(a.starts_with("github.com_org_repo.git-"), "{a}");
        assert!(b.starts_with("github.com_org_repo.git-"), "{b}");
        assert_ne!(a, b);
        for name in [&a, &b, &c] {
            assert!(
                name.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch)),
                "{name}"
            );
            assert!(!name.starts_with('.'), "{name}");
        }
        // Stable: the same URL gives the same directory in every process and release.
        assert_eq!(
            RemoteUrl::parse("https://github.com/org/repo.git")
                .expect("valid")
                .dir_name(),
            b
        );
    }

    #[test]
    fn masks_userinfo_in_messages() {
        assert_eq!(
            mask_userinfo_in_text("could not reach \"https://u:p@h.example/x\" (https://h2/y)"),
            "could not reach \"https://***@h.example/x\" (https://h2/y)"
        );
        assert_eq!(display("git@github.com:o/r.git"), "git@github.com:o/r.git");
    }
}
