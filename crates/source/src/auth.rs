//! Credentials: how they reach gix for http(s) (the credential callback) and for ssh (an `ssh`
//! command line naming a 0600 key file in the data directory).
//!
//! Nothing here writes a credential into a URL, a directory name, a log line or an error.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::url::{RemoteUrl, Scheme};

/// The username sent with [`Credentials::Token`]. GitHub accepts it for personal access tokens and
/// app installation tokens, GitLab accepts any username with personal/project/group access tokens;
/// for other conventions (Bitbucket's `x-token-auth`, GitLab OAuth's `oauth2`) use
/// [`Credentials::Basic`].
pub const TOKEN_USERNAME: &str = "x-access-token";

/// How to authenticate to a repository.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An access token, sent over http(s) as basic auth with username [`TOKEN_USERNAME`].
    Token(String),
    /// Basic auth over http(s).
    Basic {
        /// The username.
        username: String,
        /// The password (or a token).
        password: String,
    },
    /// An ssh private key for `ssh://` and `user@host:path` URLs.
    SshKey {
        /// The key file's text (OpenSSH or PEM), unencrypted.
        private_key: String,
        /// Lines in `known_hosts` format for the server. With `None`, the host key is trusted on
        /// first use (`StrictHostKeyChecking=accept-new`) and remembered in
        /// `<data_dir>/.ssh/known_hosts`.
        known_hosts: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(***)"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Credentials::SshKey { known_hosts, .. } => f
                .debug_struct("SshKey")
                .field("private_key", &"***")
                .field("known_hosts", &known_hosts.as_ref().map(|_| "..."))
                .finish(),
        }
    }
}

impl Credentials {
    fn kind(&self) -> &'static str {
        match self {
            Credentials::Token(_) => "a token",
            Credentials::Basic { .. } => "basic credentials",
            Credentials::SshKey { .. } => "an ssh key",
        }
    }

    /// The secret strings, to scrub from any message that might echo them.
    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Credentials::Token(t) => vec![t.clone()],
            Credentials::Basic { password, .. } => vec![password.clone()],
            Credentials::SshKey { private_key, .. } => vec![private_key.clone()],
        }
        .into_iter()
        .filter(|s| s.len() >= 4)
        .collect()
    }
}

/// Whether credentials may be sent to `url` over its transport: always over https, over plain
/// http only to a loopback host (tests, a sidecar proxy), never in clear text elsewhere.
pub(crate) fn http_credentials_allowed(url: &RemoteUrl) -> bool {
    match url.scheme {
        Scheme::Https => true,
        Scheme::Http => url.host.as_deref().is_some_and(is_loopback),
        _ => false,
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The basic-auth account to answer an http(s) server's challenge with, from the configured
/// credentials or else from `user:password@` in the URL. `Err` says why the credentials cannot be
/// used with this URL.
pub(crate) fn http_account(
    creds: Option<&Credentials>,
    url: &RemoteUrl,
) -> Result<Option<(String, String)>, String> {
    let account = match creds {
        Some(Credentials::Token(token)) => Some((TOKEN_USERNAME.to_string(), token.clone())),
        Some(Credentials::Basic { username, password }) => {
            Some((username.clone(), password.clone()))
        }
        Some(c @ Credentials::SshKey { .. }) => {
            return Err(format!("{} does not apply to an http(s) URL", c.kind()));
        }
        None => url.userinfo.clone(),
    };
    if account.is_some() && !http_credentials_allowed(url) {
        return Err(
            "refusing to send credentials in clear text over http to a host that is not loopback: use https"
                .to_string(),
        );
    }
    Ok(account)
}

/// Check that `creds` fit the URL's transport (an ssh key for ssh, a token or password for http).
pub(crate) fn check_fits(creds: Option<&Credentials>, url: &RemoteUrl) -> Result<(), String> {
    let Some(c) = creds else { return Ok(()) };
    match (url.scheme, c) {
        (Scheme::Http | Scheme::Https, Credentials::Token(_) | Credentials::Basic { .. }) => {
            http_account(creds, url).map(|_| ())
        }
        (Scheme::Ssh, Credentials::SshKey { .. }) => Ok(()),
        (Scheme::Ssh, _) => Err(format!(
            "{} does not apply to an ssh URL (give an ssh key)",
            c.kind()
        )),
        (Scheme::File, _) => Err(format!("{} does not apply to a local repository", c.kind())),
        (Scheme::Git, _) => Err(format!(
            "{} does not apply to git:// (it has no authentication)",
            c.kind()
        )),
        (Scheme::Http | Scheme::Https, Credentials::SshKey { .. }) => {
            http_account(creds, url).map(|_| ())
        }
    }
}

/// The ssh command of one fetch, with the files it names; the files are removed when this is
/// dropped, after the fetch.
pub(crate) struct SshSetup {
    /// The value of `core.sshCommand` (run through `sh -c` by gix, like `GIT_SSH_COMMAND`).
    pub command: String,
    /// Where ssh writes its own messages (`-E`): gix passes on only the few ssh error lines it
    /// recognises and prints the rest to our stderr, so without this a refused host key or a
    /// rejected key would surface as a bare "failed to fill whole buffer".
    log: tempfile::NamedTempFile,
    _key: Option<tempfile::NamedTempFile>,
    _known_hosts: Option<tempfile::NamedTempFile>,
}

impl SshSetup {
    /// The last lines ssh logged (the reason it gave up, e.g. "Host key verification failed."),
    /// joined on one line; `None` if it logged nothing. The warning banner and the hints that
    /// name our temporary files are left out.
    pub fn last_words(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.log.path()).ok()?;
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('@'))
            .collect();
        let tail = &lines[lines.len().saturating_sub(2)..];
        (!tail.is_empty()).then(|| tail.join(" "))
    }
}

/// Prepare the ssh command for a fetch: without credentials the system's ssh configuration
/// (agent, `~/.ssh`) is used as is, only made non-interactive and bounded in time; with an
/// [`Credentials::SshKey`] the key is written to a 0600 temporary file under `<data_dir>/.ssh/`
/// and used alone (`IdentitiesOnly=yes`).
///
/// In both cases ssh logs to a 0600 temporary file there too (see [`SshSetup::last_words`]).
///
/// Tested end to end against a real sshd in `tests/mirrors.rs` (skipped where there is none).
pub(crate) fn ssh_setup(
    data_dir: &Path,
    creds: Option<&Credentials>,
    timeout: Duration,
) -> std::io::Result<SshSetup> {
    let dir = data_dir.join(".ssh");
    std::fs::create_dir_all(&dir)?;
    restrict(&dir, 0o700)?;
    let log = secret_file(&dir, "log-", "")?;
    let Some(Credentials::SshKey {
        private_key,
        known_hosts,
    }) = creds
    else {
        return Ok(SshSetup {
            command: ssh_command(None, log.path(), timeout),
            log,
            _key: None,
            _known_hosts: None,
        });
    };
    let key = secret_file(&dir, "key-", private_key)?;
    let (known_hosts_file, hosts_path, strict) = match known_hosts {
        Some(lines) => {
            let f = secret_file(&dir, "known_hosts-", lines)?;
            let p = f.path().to_path_buf();
            (Some(f), p, "yes")
        }
        None => (None, dir.join("known_hosts"), "accept-new"),
    };
    let command = ssh_command(
        Some(&SshIdentity {
            key: key.path().to_path_buf(),
            known_hosts: hosts_path,
            strict_host_key_checking: strict,
        }),
        log.path(),
        timeout,
    );
    Ok(SshSetup {
        command,
        log,
        _key: Some(key),
        _known_hosts: known_hosts_file,
    })
}

pub(crate) struct SshIdentity {
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub strict_host_key_checking: &'static str,
}

/// The `ssh` command line (shell syntax). `BatchMode` so it never prompts, `ConnectTimeout` and
/// server-alive probes so a dead server cannot hold a fetch forever, `-E` so its own messages go
/// to `log` (the remote's stderr still goes to stderr).
pub(crate) fn ssh_command(identity: Option<&SshIdentity>, log: &Path, timeout: Duration) -> String {
    let connect = timeout.as_secs().max(1);
    let mut cmd = format!(
        "ssh -E {} -o BatchMode=yes -o ConnectTimeout={connect} -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
        shell_quote(&log.to_string_lossy())
    );
    if let Some(id) = identity {
        cmd.push_str(&format!(
            " -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking={}",
            shell_quote(&id.key.to_string_lossy()),
            shell_quote(&id.known_hosts.to_string_lossy()),
            id.strict_host_key_checking
        ));
    }
    cmd
}

fn secret_file(dir: &Path, prefix: &str, text: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut f = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    restrict(f.path(), 0o600)?;
    f.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        // ssh refuses a key whose last line has no newline ("invalid format").
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(f)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Quote `s` for `sh`: `'...'`, with `'` written as `'\''`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> RemoteUrl {
        RemoteUrl::parse(u).expect("valid URL")
    }

    #[test]
    fn debug_never_prints_secrets() {
        let all = [
            Credentials::Token("tok-123456".into()),
            Credentials::Basic {
                username: "u".into(),
                password: "pw-123456".into(),
            },
            Credentials::SshKey {
                private_key: "-----BEGIN KEY----- abcdef".into(),
                known_hosts: None,
            },
        ];
        for c in all {
            let s = format!("{c:?}");
            assert!(!s.contains("123456") && !s.contains("abcdef"), "{s}");
        }
    }

    #[test]
    fn token_is_basic_auth_with_fixed_username() {
        let account = http_account(
            Some(&Credentials::Token("t0ken".into())),
            &url("https://h/r"),
        )
        .expect("allowed");
        assert_eq!(
            account,
            Some((TOKEN_USERNAME.to_string(), "t0ken".to_string()))
        );
    }

    #[test]
    fn url_userinfo_is_used_when_nothing_configured() {
        let account = http_account(None, &url("https://bob:pw@h/r")).expect("allowed");
        assert_eq!(account, Some(("bob".to_string(), "pw".to_string())));
    }

    #[test]
    fn clear_text_credentials_only_to_loopback() {
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        assert!(http_account(Some(&basic), &url("http://127.0.0.1:9/r")).is_ok());
        assert!(http_account(Some(&basic), &url("http://localhost/r")).is_ok());
        assert!(http_account(Some(&basic), &url("http://[::1]:80/r")).is_ok());
        let err =
            http_account(Some(&basic), &url("http://git.example.com/r")).expect_err("refused");
        assert!(err.contains("https"), "{err}");
        assert!(http_account(None, &url("http://git.example.com/r")).is_ok());
    }

    #[test]
    fn credentials_must_fit_the_transport() {
        let key = Credentials::SshKey {
            private_key: "k".into(),
            known_hosts: None,
        };
        assert!(check_fits(Some(&key), &url("git@github.com:o/r.git")).is_ok());
        assert!(check_fits(Some(&key), &url("https://github.com/o/r.git")).is_err());
        assert!(
            check_fits(
                Some(&Credentials::Token("t".into())),
                &url("git@github.com:o/r.git")
            )
            .is_err()
        );
        assert!(check_fits(Some(&Credentials::Token("t".into())), &url("/srv/r.git")).is_err());
        assert!(check_fits(None, &url("git@github.com:o/r.git")).is_ok());
    }

    #[test]
    fn ssh_command_without_key_is_non_interactive_and_bounded() {
        let cmd = ssh_command(None, Path::new("/d/.ssh/log-1"), Duration::from_secs(60));
        assert!(cmd.starts_with("ssh "), "{cmd}");
        assert!(cmd.contains("-E '/d/.ssh/log-1'"), "{cmd}");
        assert!(cmd.contains("-o BatchMode=yes"), "{cmd}");
        assert!(cmd.contains("-o ConnectTimeout=60"), "{cmd}");
        assert!(!cmd.contains("-i "), "{cmd}");
    }

    #[test]
    fn ssh_command_with_key_quotes_paths() {
        let cmd = ssh_command(
            Some(&SshIdentity {
                key: PathBuf::from("/data dir/.ssh/key-it's"),
                known_hosts: PathBuf::from("/data dir/.ssh/known_hosts"),
                strict_host_key_checking: "accept-new",
            }),
            Path::new("/data dir/.ssh/log-1"),
            Duration::from_secs(5),
        );
        assert!(cmd.contains(r"-i '/data dir/.ssh/key-it'\''s'"), "{cmd}");
        assert!(cmd.contains("-o IdentitiesOnly=yes"), "{cmd}");
        assert!(
            cmd.contains("-o UserKnownHostsFile='/data dir/.ssh/known_hosts'"),
            "{cmd}"
        );
        assert!(cmd.contains("-o StrictHostKeyChecking=accept-new"), "{cmd}");
    }

    #[test]
    fn ssh_setup_writes_private_files_and_removes_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = Credentials::SshKey {
            private_key:
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----".into(),
            known_hosts: Some("github.com ssh-ed25519 AAAA".into()),
        };
        let setup = ssh_setup(dir.path(), Some(&creds), Duration::from_secs(30)).expect("setup");
        assert!(
            setup.command.contains("StrictHostKeyChecking=yes"),
            "{}",
            setup.command
        );
        let files: Vec<_> = std::fs::read_dir(dir.path().join(".ssh"))
            .expect("read .ssh")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 3, "key, known_hosts and log: {files:?}");
        for f in &files {
            assert!(
                setup.command.contains(&*f.to_string_lossy()),
                "{}",
                setup.command
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(f).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{f:?}");
            }
            let text = std::fs::read_to_string(f).expect("read");
            if f.to_string_lossy().contains("/log-") {
                assert!(text.is_empty(), "{f:?}: {text}");
            } else {
                assert!(text.ends_with('\n'), "{f:?}");
            }
        }
        assert_eq!(setup.last_words(), None, "nothing logged yet");
        drop(setup);
        assert_eq!(
            std::fs::read_dir(dir.path().join(".ssh"))
                .expect("read .ssh")
                .count(),
            0,
            "key files are removed after the fetch"
        );
    }

    #[test]
    fn last_words_are_the_reason_without_banner_or_hints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let setup = ssh_setup(dir.path(), None, Duration::from_secs(30)).expect("setup");
        assert!(setup.command.contains("-E "), "{}", setup.command);
        std::fs::write(
            setup.log.path(),
            "@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
             @@@@@@@@@@@@@@@@\nOffending ED25519 key in /x/.ssh/known_hosts-1:1\n  remove with:\n\
             \n  ssh-keygen -f \"/x/.ssh/known_hosts-1\" -R \"[h]:2\"\n\
             Host key for [h]:2 has changed and you have requested strict checking.\n\
             Host key verification failed.\n",
        )
        .expect("write log");
        assert_eq!(
            setup.last_words().as_deref(),
            Some(
                "Host key for [h]:2 has changed and you have requested strict checking. \
                 Host key verification failed."
            )
        );
    }
}
