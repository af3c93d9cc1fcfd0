//! # source: git for the controller
//!
//! Owns one **bare mirror per repository URL** under a data directory, fetched on request and shared
//! by every user of that URL, and the reads the controller needs from it: the branches and tags
//! ([`Snapshot`]), resolving a revision to a commit, the files under a directory of a commit (a
//! chart), and whether a commit is merged into another.
//!
//! It may call `gix` (pure-Rust git; http(s) through reqwest/rustls with ring, ssh through the
//! system `ssh` program, local repositories through `git upload-pack`), the filesystem under the
//! data directory, and the network through gix. Nothing above it: it depends on no other Trellis
//! crate.
//!
//! ## Invariants
//! - A failed fetch never deletes anything: the mirror keeps its last good refs, [`Mirrors::snapshot`]
//!   keeps returning them, and the error is kept as [`Mirrors::last_error`]. Branches and tags that
//!   the remote no longer has are pruned only after a successful fetch.
//! - Fetches of one URL are serialised, and a caller that asks while another fetch of the URL waits
//!   to start shares that fetch's result ("fetched once per change"); different URLs fetch in
//!   parallel up to a limit. A fetch's run time is bounded by a timeout (default 60 s).
//! - Credentials never appear in a directory name, a URL written to disk, a log line or an error:
//!   http(s) credentials go through gix's credential callback, ssh keys through 0600 files that
//!   live for one fetch. Credentials are sent over plain `http://` only to loopback hosts.
//! - gix's blocking work runs in `tokio::task::spawn_blocking`; nothing here blocks the runtime.
//!
//! ## Example
//! ```no_run
//! # async fn run() -> source::Result<()> {
//! use source::{Mirrors, Repo};
//! let mirrors = Mirrors::new("/var/lib/trellis/git".into(), 4);
//! let snapshot = mirrors.fetch(&Repo::new("https://github.com/org/charts.git")).await?;
//! let main = snapshot.default_branch.clone().unwrap_or_else(|| "main".into());
//! let commit = mirrors.resolve("https://github.com/org/charts.git", &main).await?;
//! let files = mirrors.read_tree("https://github.com/org/charts.git", &commit, "charts/app").await?;
//! # let _ = files; Ok(()) }
//! ```

mod auth;
mod error;
mod mirror;
mod url;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;

pub use auth::{Credentials, TOKEN_USERNAME};
pub use error::{Error, Result};

use crate::url::RemoteUrl;

/// The default bound on one fetch's run time.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// A repository to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// `file:///abs/path`, `/abs/path`, `http(s)://…`, `ssh://…`, `user@host:path` or `git://…`.
    pub url: String,
    /// How to authenticate, if the server asks.
    pub credentials: Option<Credentials>,
}

impl Repo {
    /// A repository without credentials.
    pub fn new(url: impl Into<String>) -> Repo {
        Repo {
            url: url.into(),
            credentials: None,
        }
    }

    /// The same repository with `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Repo {
        self.credentials = Some(credentials);
        self
    }
}

/// The refs of a mirror as of a successful fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The branch the remote's `HEAD` points to (`main`), if it told us.
    pub default_branch: Option<String>,
    /// Every branch, sorted by name.
    pub branches: Vec<Branch>,
    /// Every tag that leads to a commit, as `(name, commit id)` (annotated tags peeled), sorted.
    pub tags: Vec<(String, String)>,
    /// When the fetch finished.
    pub fetched_at: SystemTime,
}

impl Snapshot {
    /// The branch called `name` (without `refs/heads/`).
    pub fn branch(&self, name: &str) -> Option<&Branch> {
        self.branches.iter().find(|b| b.name == name)
    }

    /// The commit id of the tag called `name` (without `refs/tags/`).
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
    }
}

/// A branch of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The name without `refs/heads/` (`main`, `feature/x`).
    pub name: String,
    /// The tip's full commit id (hex).
    pub commit: String,
    /// The tip's committer time, seconds since the Unix epoch.
    pub commit_time: i64,
}

/// What kind of file a [`TreeFile`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A regular file with the executable bit.
    Executable,
    /// A symbolic link; `data` holds the link's target path. Writing it out (or refusing it) is the
    /// caller's decision.
    Symlink,
}

/// A file of a commit's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// The path relative to the directory that was read, with `/` separators.
    pub path: String,
    /// The bytes, exactly as committed.
    pub data: Vec<u8>,
    /// Regular, executable or symlink.
    pub kind: FileKind,
}

/// The mirrors of every repository the controller uses. Cheap to clone: clones share the state.
#[derive(Clone)]
pub struct Mirrors {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    /// The bound on one fetch's run time, in milliseconds.
    fetch_timeout_ms: AtomicU64,
    /// Bounds fetches running at once, across all URLs.
    slots: Arc<Semaphore>,
    /// Per-URL state, keyed by the URL without credentials.
    urls: Mutex<HashMap<String, Arc<UrlState>>>,
}

/// The state of one URL.
#[derive(Default)]
struct UrlState {
    /// Held for the whole of a fetch (moved into the blocking task), so fetches of one URL never
    /// overlap, even one abandoned by its caller after a timeout.
    gate: Arc<tokio::sync::Mutex<()>>,
    shared: Mutex<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Fetches started so far (the generation of the latest).
    started: u64,
    /// The latest finished fetch: its generation and outcome.
    last: Option<(u64, Result<Snapshot>)>,
    /// The refs as of the last successful fetch.
    snapshot: Option<Snapshot>,
    /// The error of the latest fetch, if it failed.
    last_error: Option<Error>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent even if a holder panicked (single assignments).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Mirrors {
    /// Mirrors under `data_dir` (created on first fetch), with at most `max_parallel_fetches`
    /// fetches running at once (at least 1), and the default timeout.
    ///
    /// Installs rustls's ring provider as the process default if none is installed yet, so https
    /// works even where the binary did not install one.
    pub fn new(data_dir: PathBuf, max_parallel_fetches: usize) -> Mirrors {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err means another thread installed one meanwhile: fine either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        Mirrors {
            inner: Arc::new(Inner {
                data_dir,
                fetch_timeout_ms: AtomicU64::new(DEFAULT_FETCH_TIMEOUT.as_millis() as u64),
                slots: Arc::new(Semaphore::new(max_parallel_fetches.max(1))),
                urls: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The same mirrors with another bound on one fetch's run time (connect, transfer, update).
    /// Time spent waiting for a turn is not counted.
    pub fn with_fetch_timeout(self, timeout: Duration) -> Mirrors {
        self.set_fetch_timeout(timeout);
        self
    }

    /// Change the bound on one fetch's run time, for fetches that start from now on.
    pub fn set_fetch_timeout(&self, timeout: Duration) {
        let millis = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.inner.fetch_timeout_ms.store(millis, Ordering::Relaxed);
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.data_dir
    }

    /// The bound on one fetch's run time.
    pub fn fetch_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.fetch_timeout_ms.load(Ordering::Relaxed))
    }

    /// The directory of `url`'s mirror (which may not exist yet).
    pub fn mirror_dir(&self, url: &str) -> Result<PathBuf> {
        let url = RemoteUrl::parse(url)?;
        Ok(self.inner.data_dir.join(url.dir_name()))
    }

    fn state(&self, key: &str) -> Arc<UrlState> {
        lock(&self.inner.urls)
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    fn existing_state(&self, url: &str) -> Option<Arc<UrlState>> {
        let key = RemoteUrl::parse(url).ok()?.key;
        lock(&self.inner.urls).get(&key).cloned()
    }

    /// Fetch the repository (cloning it as a bare mirror on first use): every branch and tag,
    /// force-updated, and branches and tags deleted on the remote pruned.
    ///
    /// Fetches of one URL are serialised. A caller that asks while a fetch of the URL is running
    /// waits for it and then fetches again (the running one may predate the change it wants to
    /// see); every caller that asked before a fetch started shares that fetch's result. So eight
    /// simultaneous callers cause at most two fetches. Fetches of different URLs run in parallel up
    /// to the limit given to [`Mirrors::new`].
    ///
    /// On failure the mirror keeps its last good refs, and the error is remembered
    /// ([`Mirrors::last_error`]) and returned. A fetch running longer than the timeout is
    /// interrupted and returns [`Error::Timeout`].
    pub async fn fetch(&self, repo: &Repo) -> Result<Snapshot> {
        let url = RemoteUrl::parse(&repo.url)?;
        let shown = url.display();
        let state = self.state(&url.key);
        let want = lock(&state.shared).started + 1;
        let gate = state.gate.clone().lock_owned().await;
        if let Some((generation, result)) = &lock(&state.shared).last
            && *generation >= want
        {
            tracing::debug!(url = %shown, "sharing the result of a fetch that started after the request");
            return result.clone();
        }
        let slot = self
            .inner
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the fetch semaphore is never closed");
        let generation = {
            let mut shared = lock(&state.shared);
            shared.started += 1;
            shared.started
        };
        let timeout = self.fetch_timeout();
        let job = mirror::FetchJob {
            dir: self.inner.data_dir.join(url.dir_name()),
            data_dir: self.inner.data_dir.clone(),
            url,
            credentials: repo.credentials.clone(),
            timeout,
        };
        let interrupt = Arc::new(AtomicBool::new(false));
        let task_interrupt = interrupt.clone();
        let task_state = state.clone();
        let started = std::time::Instant::now();
        let task = tokio::task::spawn_blocking(move || {
            let result = job.run(&task_interrupt);
            record(&task_state, generation, &result);
            drop(slot);
            drop(gate);
            result
        });
        let result = match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => {
                let err = Error::Fetch {
                    url: shown.clone(),
                    message: format!("the fetch task failed: {join_error}"),
                    transient: true,
                };
                record(&state, generation, &Err(err.clone()));
                Err(err)
            }
            Err(_elapsed) => {
                // The blocking task keeps the URL's gate until gix notices the interrupt (or its
                // transport's own timeout fires), so the next fetch of this URL cannot overlap it.
                interrupt.store(true, Ordering::SeqCst);
                let err = Error::Timeout {
                    url: shown.clone(),
                    timeout,
                };
                lock(&state.shared).last_error = Some(err.clone());
                Err(err)
            }
        };
        match &result {
            Ok(s) => tracing::info!(
                url = %shown,
                branches = s.branches.len(),
                tags = s.tags.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "fetched"
            ),
            Err(e) => {
                tracing::warn!(url = %shown, transient = e.is_transient(), error = %e, "fetch failed")
            }
        }
        result
    }

    /// The refs as of the last successful fetch by this process, without fetching (`None` if
    /// never fetched successfully).
    pub fn snapshot(&self, url: &str) -> Option<Snapshot> {
        lock(&self.existing_state(url)?.shared).snapshot.clone()
    }

    /// The error of the latest fetch of `url`, if it failed (`None` after a success).
    pub fn last_error(&self, url: &str) -> Option<Error> {
        lock(&self.existing_state(url)?.shared).last_error.clone()
    }

    /// How many fetches of `url` this process has started (callers that shared a fetch count
    /// once). For tests and metrics.
    pub fn fetch_count(&self, url: &str) -> u64 {
        self.existing_state(url)
            .map_or(0, |s| lock(&s.shared).started)
    }

    /// Resolve a branch name, tag name, `refs/...` name, `HEAD` (the remote's default branch), or a
    /// full or abbreviated (at least 7 hex digits) commit id to a full commit id, from the mirror as
    /// last fetched (no fetch). A name that is both a branch and a tag resolves to the branch.
    pub async fn resolve(&self, url: &str, rev: &str) -> Result<String> {
        let rev = rev.to_string();
        self.read(url, move |repo, shown| {
            mirror::resolve(repo, shown, &rev).map(|id| id.to_string())
        })
        .await
    }

    /// The files under `path` (relative to the repository root, `/` separators; empty for the whole
    /// tree) of the commit `rev` resolves to, with paths relative to `path`. Submodules are left
    /// out; symlinks are returned as [`FileKind::Symlink`]. An error names the URL, commit and path
    /// if the path does not exist or is not a directory.
    pub async fn read_tree(&self, url: &str, rev: &str, path: &str) -> Result<Vec<TreeFile>> {
        let rev = rev.to_string();
        let path = path.to_string();
        self.read(url, move |repo, shown| {
            let commit = mirror::resolve(repo, shown, &rev)?;
            mirror::read_tree(repo, shown, commit, &path)
        })
        .await
    }

    /// Whether `commit` is reachable from `base` (equal to it or an ancestor): whether a branch is
    /// merged into the default revision. Both are revisions as for [`Mirrors::resolve`].
    pub async fn is_ancestor(&self, url: &str, commit: &str, base: &str) -> Result<bool> {
        let commit = commit.to_string();
        let base = base.to_string();
        self.read(url, move |repo, shown| {
            let c = mirror::resolve(repo, shown, &commit)?;
            let b = mirror::resolve(repo, shown, &base)?;
            mirror::is_ancestor(repo, shown, c, b)
        })
        .await
    }

    /// Run `f` on the opened mirror of `url` in a blocking task. Reads do not wait for a running
    /// fetch: git updates refs atomically and never removes objects a ref needed.
    async fn read<T, F>(&self, url: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&gix::Repository, &str) -> Result<T> + Send + 'static,
    {
        let url = RemoteUrl::parse(url)?;
        let shown = url.display();
        let dir = self.inner.data_dir.join(url.dir_name());
        let task_display = shown.clone();
        tokio::task::spawn_blocking(move || {
            let repo = mirror::open_for_read(&dir, &task_display)?;
            f(&repo, &task_display)
        })
        .await
        .map_err(|e| Error::Mirror {
            url: shown,
            message: format!("the read task failed: {e}"),
        })?
    }
}

/// Record the outcome of fetch `generation` of a URL.
fn record(state: &UrlState, generation: u64, result: &Result<Snapshot>) {
    let mut shared = lock(&state.shared);
    match result {
        Ok(snapshot) => {
            shared.snapshot = Some(snapshot.clone());
            shared.last_error = None;
        }
        Err(e) => shared.last_error = Some(e.clone()),
    }
    if shared.last.as_ref().is_none_or(|(g, _)| *g <= generation) {
        shared.last = Some((generation, result.clone()));
    }
}

impl std::fmt::Debug for Mirrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirrors")
            .field("data_dir", &self.inner.data_dir)
            .field("fetch_timeout", &self.fetch_timeout())
            .field("urls", &lock(&self.inner.urls).keys().collect::<Vec<_>>())
            .finish()
    }
}
