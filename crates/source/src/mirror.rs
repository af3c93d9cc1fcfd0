//! The blocking git work on one mirror, run by `Mirrors` inside `spawn_blocking`: fetch (clone on
//! first use) with pruning, reading the refs, resolving revisions, reading trees, ancestry.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use gix::bstr::{BString, ByteSlice};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use crate::auth::{self, Credentials};
use crate::error::{Error, Result, gix_chain};
use crate::url::{RemoteUrl, Scheme, mask_userinfo_in_text};
use crate::{Branch, FileKind, Snapshot, TreeFile};

/// What a mirror fetches: every branch and every tag, forced, into the same names.
const FETCH_SPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// Configuration every mirror is opened with (on top of gix's isolated defaults: no system, global
/// or user configuration and no environment variables are read, so a developer's `~/.gitconfig`
/// cannot change what the controller does).
const BASE_OVERRIDES: [&str; 5] = [
    "core.logAllRefUpdates=false",
    "user.name=trellis",
    "user.email=trellis@localhost",
    "protocol.version=2",
    "credential.interactive=false",
];

/// One fetch to run.
pub(crate) struct FetchJob {
    pub url: RemoteUrl,
    pub credentials: Option<Credentials>,
    pub data_dir: PathBuf,
    pub dir: PathBuf,
    pub timeout: Duration,
}

fn open(dir: &Path, extra: &[String]) -> gix::Result<gix::Repository> {
    let overrides: Vec<String> = BASE_OVERRIDES
        .iter()
        .map(|s| s.to_string())
        .chain(extra.iter().cloned())
        .collect();
    gix::open_opts(
        dir,
        gix::open::Options::isolated().config_overrides(overrides),
    )
}

/// Open an existing mirror for reading.
pub(crate) fn open_for_read(dir: &Path, url: &str) -> Result<gix::Repository> {
    if !dir.join("HEAD").is_file() {
        return Err(Error::NotFetched {
            url: url.to_string(),
        });
    }
    open(dir, &[]).map_err(|e| Error::Mirror {
        url: url.to_string(),
        message: format!("cannot open {}: {}", dir.display(), gix_chain(&e)),
    })
}

impl FetchJob {
    /// Remove every secret of this job from `text`, and mask URL user information.
    fn scrub(&self, text: &str) -> String {
        let mut out = mask_userinfo_in_text(text);
        let mut secrets = self
            .credentials
            .as_ref()
            .map(Credentials::secrets)
            .unwrap_or_default();
        if let Some((_, password)) = &self.url.userinfo
            && password.len() >= 4
        {
            secrets.push(password.clone());
        }
        for s in secrets {
            out = out.replace(&s, "***");
        }
        out
    }

    /// `ssh`: the ssh setup of an ssh fetch, whose log says why ssh gave up (gix only sees the
    /// connection end, e.g. "failed to fill whole buffer").
    fn fetch_error(
        &self,
        context: &str,
        err: &gix::Error,
        ssh: Option<&auth::SshSetup>,
        interrupt: &AtomicBool,
    ) -> Error {
        let url = self.url.display();
        if interrupt.load(Ordering::SeqCst) {
            return Error::Timeout {
                url,
                timeout: self.timeout,
            };
        }
        let mut message = format!("{context}: {}", gix_chain(err));
        if let Some(words) = ssh.and_then(auth::SshSetup::last_words) {
            message.push_str(&format!(" (ssh: {words})"));
        }
        let message = self.scrub(&message);
        if err.is_unauthenticated()
            || err.is_permission_denied()
            || (self.url.scheme == Scheme::Ssh && is_ssh_auth_failure(&message))
        {
            return Error::Auth { url, message };
        }
        let permanent = err.is_validation() || err.is_unsupported();
        Error::Fetch {
            url,
            message,
            transient: !permanent,
        }
    }

    fn local_error(&self, context: &str, err: impl std::fmt::Display) -> Error {
        Error::Fetch {
            url: self.url.display(),
            message: self.scrub(&format!("{context}: {err}")),
            transient: true,
        }
    }

    /// Fetch into the mirror (creating it first if needed), prune what the remote no longer has,
    /// point `HEAD` at the remote's default branch, and read the refs.
    pub(crate) fn run(&self, interrupt: &AtomicBool) -> Result<Snapshot> {
        let url = self.url.display();
        auth::check_fits(self.credentials.as_ref(), &self.url).map_err(|message| Error::Auth {
            url: url.clone(),
            message,
        })?;
        if !self.dir.join("HEAD").is_file() {
            if self.dir.exists() {
                // Left over from an interrupted first clone: it holds nothing worth keeping.
                std::fs::remove_dir_all(&self.dir).map_err(|e| {
                    self.local_error(&format!("cannot remove {}", self.dir.display()), e)
                })?;
            }
            std::fs::create_dir_all(&self.dir).map_err(|e| {
                self.local_error(&format!("cannot create {}", self.dir.display()), e)
            })?;
            gix::init_bare(&self.dir).map_err(|e| {
                self.local_error(
                    &format!("cannot create a bare repository in {}", self.dir.display()),
                    gix_chain(&e),
                )
            })?;
            tracing::info!(url = %url, dir = %self.dir.display(), "created mirror");
        }

        let ssh = match self.url.scheme {
            Scheme::Ssh => Some(
                auth::ssh_setup(&self.data_dir, self.credentials.as_ref(), self.timeout)
                    .map_err(|e| self.local_error("cannot write the ssh key", e))?,
            ),
            _ => None,
        };
        let mut extra = Vec::new();
        if let Some(ssh) = &ssh {
            extra.push(format!("core.sshCommand={}", ssh.command));
            extra.push("ssh.variant=ssh".to_string());
        }
        let repo = open(&self.dir, &extra).map_err(|e| {
            self.local_error(
                &format!("cannot open {}", self.dir.display()),
                gix_chain(&e),
            )
        })?;

        let remote = repo
            .remote_at(self.url.for_gix.as_str())
            .and_then(|r| r.with_refspecs(FETCH_SPECS, gix::remote::Direction::Fetch))
            .map(|r| r.with_fetch_tags(gix::remote::fetch::Tags::None))
            .map_err(|e| {
                self.fetch_error("cannot set up the remote", &e, ssh.as_ref(), interrupt)
            })?;
        let mut connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| self.fetch_error("cannot connect", &e, ssh.as_ref(), interrupt))?;

        if matches!(self.url.scheme, Scheme::Http | Scheme::Https) {
            let options = http_options(&repo, &self.url.for_gix, self.timeout).map_err(|e| {
                self.fetch_error("cannot configure http", &e, ssh.as_ref(), interrupt)
            })?;
            connection.set_transport_options(options);
        }
        let account = auth::http_account(self.credentials.as_ref(), &self.url).unwrap_or_default();
        connection.set_credentials(move |action| credentials_callback(account.as_ref(), action));

        let head_spec = gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)
            .expect("HEAD is a valid fetch refspec")
            .to_owned();
        let prepare = connection
            .prepare_fetch(
                gix::progress::Discard,
                gix::remote::ref_map::Options {
                    extra_refspecs: vec![head_spec],
                    ..Default::default()
                },
            )
            .map_err(|e| {
                self.fetch_error("cannot list the remote's refs", &e, ssh.as_ref(), interrupt)
            })?;

        let remote_refs = prepare.ref_map().remote_refs.clone();
        let mut advertised: HashSet<BString> = HashSet::new();
        let mut default_branch = None;
        for r in &remote_refs {
            let (name, _, _) = r.unpack();
            if name == "HEAD" {
                if let Some(target) = target_name(r)
                    && target.starts_with(b"refs/heads/")
                {
                    default_branch = Some(target.to_owned());
                }
                continue;
            }
            if name.starts_with(b"refs/heads/") || name.starts_with(b"refs/tags/") {
                advertised.insert(name.to_owned());
            }
        }

        if advertised.is_empty() {
            // An empty remote: nothing to receive (gix would refuse the fetch as matching nothing).
            drop(prepare);
        } else {
            let outcome = prepare
                .receive(gix::progress::Discard, interrupt)
                .map_err(|e| self.fetch_error("cannot fetch", &e, ssh.as_ref(), interrupt))?;
            tracing::debug!(url = %url, status = ?status_name(&outcome.status), "fetched");
        }
        if interrupt.load(Ordering::SeqCst) {
            return Err(Error::Timeout {
                url,
                timeout: self.timeout,
            });
        }

        self.prune(&repo, &advertised)?;
        if let Some(branch) = &default_branch {
            self.set_head(&repo, branch)?;
        }
        read_snapshot(&repo, default_branch.map(|b| strip(&b, "refs/heads/")))
            .map_err(|e| self.local_error("cannot read the fetched refs", gix_chain(&e)))
    }

    /// Delete local branches and tags the remote no longer advertises. gix's fetch only creates and
    /// updates refs, it never deletes them.
    fn prune(&self, repo: &gix::Repository, advertised: &HashSet<BString>) -> Result<()> {
        let mut stale = Vec::new();
        {
            let platform = repo
                .references()
                .map_err(|e| self.local_error("cannot list local refs", gix_chain(&e)))?;
            let iter = platform
                .all()
                .map_err(|e| self.local_error("cannot list local refs", gix_chain(&e)))?;
            for r in iter {
                let r =
                    r.map_err(|e| self.local_error("cannot read a local ref", gix_chain(&e)))?;
                let name = r.name().as_bstr();
                if (name.starts_with(b"refs/heads/") || name.starts_with(b"refs/tags/"))
                    && !advertised.contains(name)
                {
                    stale.push(r.name().to_owned());
                }
            }
        }
        if stale.is_empty() {
            return Ok(());
        }
        tracing::info!(url = %self.url.display(), refs = ?stale.iter().map(|n| n.as_bstr().to_string()).collect::<Vec<_>>(), "pruning refs deleted on the remote");
        let edits = stale.into_iter().map(|name| RefEdit {
            change: Change::Delete {
                expected: PreviousValue::Any,
                log: RefLog::AndReference,
            },
            name,
            deref: false,
        });
        repo.edit_references(edits)
            .map_err(|e| self.local_error("cannot delete stale refs", gix_chain(&e)))?;
        Ok(())
    }

    fn set_head(&self, repo: &gix::Repository, branch: &BString) -> Result<()> {
        let target: gix::refs::FullName = branch
            .clone()
            .try_into()
            .map_err(|e| self.local_error("the remote's HEAD is not a valid ref name", e))?;
        let current = repo
            .try_find_reference("HEAD")
            .ok()
            .flatten()
            .and_then(|r| match r.target() {
                gix::refs::TargetRef::Symbolic(name) => Some(name.as_bstr().to_owned()),
                gix::refs::TargetRef::Object(_) => None,
            });
        if current.as_ref() == Some(branch) {
            return Ok(());
        }
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: "trellis: remote HEAD".into(),
                },
                expected: PreviousValue::Any,
                new: gix::refs::Target::Symbolic(target),
            },
            name: "HEAD".try_into().expect("HEAD is a valid ref name"),
            deref: false,
        };
        repo.edit_reference(edit)
            .map_err(|e| self.local_error("cannot update HEAD", gix_chain(&e)))?;
        Ok(())
    }
}

/// Whether `ssh`'s complaint (which gix passes on in its error) is about the key or the host key
/// rather than the network: retrying will not help until someone changes the credentials.
fn is_ssh_auth_failure(message: &str) -> bool {
    [
        "Permission denied (",
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "invalid format",
        "Load key",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

fn status_name(status: &gix::remote::fetch::Status) -> &'static str {
    match status {
        gix::remote::fetch::Status::NoPackReceived { .. } => "up-to-date",
        gix::remote::fetch::Status::Change { .. } => "received",
    }
}

fn target_name(r: &gix::protocol::handshake::Ref) -> Option<&BString> {
    match r {
        gix::protocol::handshake::Ref::Symbolic { target, .. }
        | gix::protocol::handshake::Ref::Unborn { target, .. } => Some(target),
        _ => None,
    }
}

/// Answer the server's credential request with the configured account; with none, fail at once
/// (gix's default would run credential helpers and could prompt on a terminal).
fn credentials_callback(
    account: Option<&(String, String)>,
    action: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    match action {
        gix::credentials::helper::Action::Get(ctx) => match account {
            Some((username, password)) => Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            })),
            None => Err(gix::error::ErrorExt::raise(gix::error::unauthenticated(
                "the server asks for credentials and none are configured for this repository",
            ))),
        },
        gix::credentials::helper::Action::Store(_) | gix::credentials::helper::Action::Erase(_) => {
            Ok(None)
        }
    }
}

/// gix's http options for `url` with reqwest timeouts: `connect_timeout` and `timeout` (reqwest's
/// blocking client applies the latter to each connect, read and write, so a stalled transfer fails
/// after `timeout` while a long but progressing one may go on; the whole fetch is bounded by
/// `Mirrors` separately).
fn http_options(
    repo: &gix::Repository,
    url: &str,
    timeout: Duration,
) -> gix::Result<Box<dyn std::any::Any>> {
    use gix::protocol::transport::client::blocking_io::http;
    let options = repo.transport_options(url, None)?;
    let mut options: http::Options = options
        .and_then(|o| o.downcast::<http::Options>().ok())
        .map(|o| *o)
        .unwrap_or_default();
    options.connect_timeout = Some(timeout);
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(
            move |builder: reqwest::blocking::ClientBuilder| {
                Ok(builder.connect_timeout(timeout).timeout(timeout))
            },
        )),
        configure_request: None,
    };
    options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
    Ok(Box::new(options))
}

fn strip(name: &BString, prefix: &str) -> String {
    let s = name.to_str_lossy();
    s.strip_prefix(prefix).unwrap_or(&s).to_string()
}

/// The branches and tags of the mirror (tags peeled to their commit; tags of other objects are
/// left out).
pub(crate) fn read_snapshot(
    repo: &gix::Repository,
    default_branch: Option<String>,
) -> gix::Result<Snapshot> {
    let mut heads = Vec::new();
    let mut tag_ids = Vec::new();
    {
        let platform = repo.references()?;
        for r in platform.prefixed(b"refs/heads/".as_bstr())?.peeled()? {
            let r = r?;
            heads.push((
                strip(&r.name().as_bstr().to_owned(), "refs/heads/"),
                r.id().detach(),
            ));
        }
        for r in platform.prefixed(b"refs/tags/".as_bstr())?.peeled()? {
            let r = r?;
            tag_ids.push((
                strip(&r.name().as_bstr().to_owned(), "refs/tags/"),
                r.id().detach(),
            ));
        }
    }
    let mut branches = Vec::with_capacity(heads.len());
    for (name, id) in heads {
        let commit = repo.find_commit(id)?;
        branches.push(Branch {
            name,
            commit: id.to_string(),
            commit_time: commit.time()?.seconds,
        });
    }
    let mut tags = Vec::with_capacity(tag_ids.len());
    for (name, id) in tag_ids {
        let object = repo.find_object(id)?;
        if object.kind == gix::objs::Kind::Commit {
            tags.push((name, id.to_string()));
        } else {
            tracing::debug!(tag = %name, kind = %object.kind, "tag does not point to a commit; left out");
        }
    }
    branches.sort_by(|a, b| a.name.cmp(&b.name));
    tags.sort();
    Ok(Snapshot {
        default_branch,
        branches,
        tags,
        fetched_at: SystemTime::now(),
    })
}

/// Resolve `rev` to a commit: `HEAD`, a full `refs/...` name, a branch, a tag, a full or
/// abbreviated (at least 7 hex digits) commit id, in that order. A name that is both a branch and
/// a tag resolves to the branch (git would pick the tag).
pub(crate) fn resolve(repo: &gix::Repository, url: &str, rev: &str) -> Result<gix::ObjectId> {
    let err = |message: String| Error::Revision {
        url: url.to_string(),
        rev: rev.to_string(),
        message,
    };
    let rev_t = rev.trim();
    if rev_t.is_empty() {
        return Err(err("the revision is empty".into()));
    }
    let candidates: Vec<String> = if rev_t == "HEAD" || rev_t.starts_with("refs/") {
        vec![rev_t.to_string()]
    } else {
        vec![format!("refs/heads/{rev_t}"), format!("refs/tags/{rev_t}")]
    };
    for name in &candidates {
        // An invalid ref name (`a..b`, `x~1`) is simply not a ref.
        let Ok(Some(mut reference)) = repo.try_find_reference(name.as_str()) else {
            continue;
        };
        let id = reference
            .peel_to_id()
            .map_err(|e| err(format!("{name} cannot be read: {}", gix_chain(&e))))?
            .detach();
        return peel_commit(repo, id).map_err(|m| err(format!("{name} {m}")));
    }
    let hex = rev_t.len() >= 7 && rev_t.len() <= 40 && rev_t.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        let id = if rev_t.len() == 40 {
            let id = gix::ObjectId::from_hex(rev_t.as_bytes())
                .map_err(|e| err(format!("not a commit id: {e}")))?;
            if !repo.has_object(id) {
                return Err(err("no branch, tag or commit of that name".into()));
            }
            id
        } else {
            match repo.rev_parse_single(rev_t) {
                Ok(id) => id.detach(),
                Err(e) => {
                    let chain = gix_chain(&e);
                    return Err(err(if chain.contains("mbiguous") {
                        format!("the abbreviated id is ambiguous: {chain}")
                    } else {
                        "no branch, tag or commit of that name".into()
                    }));
                }
            }
        };
        return peel_commit(repo, id).map_err(|m| err(format!("{rev_t} {m}")));
    }
    Err(err("no branch, tag or commit of that name".into()))
}

fn peel_commit(
    repo: &gix::Repository,
    id: gix::ObjectId,
) -> std::result::Result<gix::ObjectId, String> {
    let object = repo
        .find_object(id)
        .map_err(|e| format!("cannot be read: {}", gix_chain(&e)))?;
    let kind = object.kind;
    object
        .peel_to_commit()
        .map(|c| c.id)
        .map_err(|_| format!("points to a {kind}, not a commit"))
}

/// Every file under `path` of `commit`'s tree. `path` is relative to the repository root, with
/// `/` separators; empty, `.` or `/` mean the whole tree.
pub(crate) fn read_tree(
    repo: &gix::Repository,
    url: &str,
    commit: gix::ObjectId,
    path: &str,
) -> Result<Vec<TreeFile>> {
    let mirror_err = |e: gix::Error| Error::Mirror {
        url: url.to_string(),
        message: format!("cannot read commit {commit}: {}", gix_chain(&e)),
    };
    let path_err = |message: &str| Error::Path {
        url: url.to_string(),
        commit: commit.to_string(),
        path: path.to_string(),
        message: message.to_string(),
    };
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(path_err("may not contain `..`"));
    }
    let mut tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(mirror_err)?;
    if !parts.is_empty() {
        let entry = tree
            .peel_to_entry(parts.iter().copied())
            .map_err(mirror_err)?
            .ok_or_else(|| path_err("does not exist"))?;
        if !entry.mode().is_tree() {
            return Err(path_err("is not a directory"));
        }
        tree = repo.find_tree(entry.object_id()).map_err(mirror_err)?;
    }
    let mut out = Vec::new();
    walk(repo, &tree, "", &mut out).map_err(mirror_err)?;
    Ok(out)
}

fn walk(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    prefix: &str,
    out: &mut Vec<TreeFile>,
) -> gix::Result<()> {
    for entry in tree.iter() {
        let entry = entry?;
        let name = entry.filename().to_str_lossy();
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let mode = entry.mode();
        if mode.is_tree() {
            let sub = repo.find_tree(entry.object_id())?;
            walk(repo, &sub, &path, out)?;
        } else if mode.is_commit() {
            // A submodule: its content lives in another repository.
            tracing::debug!(path = %path, "submodule left out of the tree");
        } else {
            let kind = if mode.is_link() {
                FileKind::Symlink
            } else if mode.is_executable() {
                FileKind::Executable
            } else {
                FileKind::Regular
            };
            let mut blob = repo.find_blob(entry.object_id())?;
            out.push(TreeFile {
                path,
                data: blob.take_data(),
                kind,
            });
        }
    }
    Ok(())
}

/// Whether `commit` is `base` or one of its ancestors.
pub(crate) fn is_ancestor(
    repo: &gix::Repository,
    url: &str,
    commit: gix::ObjectId,
    base: gix::ObjectId,
) -> Result<bool> {
    if commit == base {
        return Ok(true);
    }
    let merge_base = repo.merge_base(commit, base).map_err(|e| Error::Mirror {
        url: url.to_string(),
        message: format!(
            "cannot walk the history of {commit} and {base}: {}",
            gix_chain(&e)
        ),
    })?;
    Ok(merge_base.is_some_and(|b| b.detach() == commit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_auth_failures_are_recognised() {
        assert!(is_ssh_auth_failure(
            "Transport handshake failed: git@github.com: Permission denied (publickey)."
        ));
        assert!(is_ssh_auth_failure("Host key verification failed."));
        assert!(is_ssh_auth_failure(
            "Load key \"/data/.ssh/key-x\": invalid format"
        ));
        assert!(!is_ssh_auth_failure(
            "ssh: connect to host 127.0.0.1 port 22: Connection refused"
        ));
        assert!(!is_ssh_auth_failure(
            "Could not resolve hostname github.com"
        ));
    }
}
