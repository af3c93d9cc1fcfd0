//! # render: chart files from git → desired objects, once per digest
//!
//! Owns turning *(the chart's files from a git tree at a commit, the chart path, the source's Helm
//! options, the Application's identity)* into the [`sync::object::Manifest`]s the sync engine
//! applies, with a process-wide render cache.
//!
//! - [`RenderRequest`]: everything a render depends on. [`RenderRequest::digest`] covers all of it
//!   (repository, commit, paths, Helm options, names, namespace, install/upgrade, Kubernetes
//!   version), so equal digests render equal output.
//! - [`Renderer`]: long-lived and shared by every Application of the process (`Send + Sync`,
//!   cheap to clone). It holds one [`helm::Engine`] (parsed templates cached by content) and a
//!   bounded LRU cache `digest → outcome`. Requests with the same digest render **once**, even
//!   when a hundred callers ask at the same moment (single-flight: one `tokio::sync::OnceCell` per
//!   digest; the others wait for it). The CPU work runs on `tokio::task::spawn_blocking`, at most
//!   [`RendererConfig::max_parallel`] renders at a time: the async runtime never blocks.
//!   Large rendered texts (CRD files: argo-cd ships 1.9 MB) are turned into objects once per
//!   renderer and shared by every render that ships the same text (every branch's copy of a chart),
//!   within a bound; they were most of such a render's time.
//! - [`render_once`]: the pure, blocking pipeline itself (no cache), for tests and one-shot tools.
//!
//! ## Values: as Argo CD's Helm source
//! Precedence, lowest first: the chart's `values.yaml` (and its subcharts'), `valueFiles` in order,
//! the inline values, then `parameters` (`--set name=value`; `forceString: true` →
//! `--set-string`, which Helm applies after every `--set`, as Argo CD's `helm template` call does).
//! - `valueFiles` are relative to the chart directory; `../` may leave the chart directory but not
//!   the repository; an absolute path (`/env/prod.yaml`) is relative to the repository root (Argo
//!   CD's `ResolveValueFilePathOrUrl`). A missing file is an error naming it, unless
//!   [`RenderRequest::ignore_missing_value_files`] (Argo CD's `ignoreMissingValueFiles`) is set:
//!   then it is skipped with a warning. Remote (`https://`) values files are not supported.
//! - Values files must be in [`RenderRequest::files`]: the tree read at
//!   [`RenderRequest::files_root`] (a directory of the repository; by default the chart directory
//!   itself). [`RenderRequest::required_files_root`] says which directory to read so that the chart
//!   and every values file are in it (`charts/app` for a chart that only uses its own files,
//!   `charts` for `valueFiles: [../shared/x.yaml]`, the repository root for `/env/x.yaml`).
//! - Inline values: `valuesObject` when set, otherwise `values` (a YAML string). As in Argo CD
//!   (`ApplicationSourceHelm.ValuesYAML`), `valuesObject` *replaces* `values`: when both are set,
//!   `values` is ignored, with a warning.
//! - Parameters: Argo CD escapes the commas of a value (`a,b` is one string, not two `--set`s)
//!   unless the value is a Helm list `{a,b}`; so do we.
//!
//! ## Build environment (`$ARGOCD_APP_REVISION` & co.)
//! These variables, as `$NAME` or `${NAME}`, are replaced in `valueFiles` paths and parameter
//! values (where Argo CD replaces them) and also in the text of values files and in inline values
//! (`values`, and the strings of `valuesObject`; a Trellis addition):
//!
//! | Argo CD name | Trellis name | value |
//! |---|---|---|
//! | `ARGOCD_APP_NAME` | `TRELLIS_APP_NAME` | the Application's name ([`RenderRequest::app_name`]) |
//! | `ARGOCD_APP_NAMESPACE` | `TRELLIS_APP_NAMESPACE` | the destination namespace |
//! | `ARGOCD_APP_REVISION` | `TRELLIS_APP_REVISION` | the full commit id |
//! | `ARGOCD_APP_REVISION_SHORT` | `TRELLIS_APP_REVISION_SHORT` | its first 7 characters |
//! | `ARGOCD_APP_REVISION_SHORT_8` | `TRELLIS_APP_REVISION_SHORT_8` | its first 8 characters |
//! | `ARGOCD_APP_SOURCE_REPO_URL` | `TRELLIS_APP_SOURCE_REPO_URL` | the repository URL |
//! | `ARGOCD_APP_SOURCE_PATH` | `TRELLIS_APP_SOURCE_PATH` | the chart path |
//! | `ARGOCD_APP_SOURCE_TARGET_REVISION` | `TRELLIS_APP_SOURCE_TARGET_REVISION` | the branch/tag/commit asked for |
//!
//! Any other `$NAME` is left as written (Argo CD's `os.Expand` turns an unknown one into an empty
//! string, and `$$` into `$`; we do neither, since values files and inline values legitimately
//! hold `$` for shell scripts and templates). `KUBE_VERSION`/`KUBE_API_VERSIONS` are not provided.
//!
//! ## `lookup`
//! A request may carry a [`helm::LookupHook`] answering Helm's `lookup` from the cluster cache;
//! without one, `lookup` returns an empty map as `helm template` does. A render that *called* the
//! hook depends on cluster state, so its outcome is never kept in the cache: callers that asked at
//! the same moment share it, the next request renders again. A render that did not call it
//! (even with a hook) is cached as usual. The digest records whether a hook was given.
//!
//! ## Errors
//! Every [`RenderError`] names the repository, the commit (short) and the chart path, and the
//! file and line where known (values files; Helm's template errors name the template and line).
//! Apart from [`RenderError::Internal`], they are the user's to fix: the same inputs fail the
//! same way, so they are cached, and [`RenderError::is_retryable`] is `false` (a new commit is
//! needed). [`RenderError::metric_label`] gives the label for metrics.
//!
//! ## What is not supported
//! `helm dependency build` (dependencies must be committed under `charts/`), remote values files,
//! Argo CD's `fileParameters`, `skipCrds` (CRDs from `crds/` are always included, first),
//! `passCredentials`, Helm plugins and post-renderers.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gotemplate::Map;
use sha2::{Digest, Sha256};
use source::{FileKind, TreeFile};
use sync::object::{Manifest, manifests_from_yaml};
use tokio::sync::{OnceCell, Semaphore};

use crate::types::ApplicationSourceHelm;

/// A short commit id, as errors show it.
fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// Where a render's inputs came from: what every [`RenderError`] names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The repository URL.
    pub repo_url: String,
    /// The commit id, shortened to 7 characters.
    pub commit: String,
    /// The chart directory inside the repository (empty: the root).
    pub path: String,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "the repository root"
        } else {
            &self.path
        };
        write!(f, "{} at {}, chart {}", self.repo_url, self.commit, path)
    }
}

/// Why a chart did not render.
///
/// Every variant but [`RenderError::Internal`] is the user's to fix (a new commit is needed): the
/// same request fails the same way, so the outcome is cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The chart directory does not exist at that commit.
    #[error("{at}: the chart directory does not exist in the repository")]
    PathNotFound {
        /// Where.
        at: Arc<Origin>,
    },
    /// The chart directory has no `Chart.yaml`.
    #[error("{at}: no Chart.yaml in the chart directory")]
    NoChartYaml {
        /// Where.
        at: Arc<Origin>,
    },
    /// A values file is missing, outside the repository, remote or an unusable link.
    #[error("{at}: values file {file}: {message}")]
    ValuesFile {
        /// Where.
        at: Arc<Origin>,
        /// The file as the repository names it (or as written, if it cannot be resolved).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A values file (or the inline values) is not valid YAML.
    #[error("{at}: values file {file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    ValuesYaml {
        /// Where.
        at: Arc<Origin>,
        /// The file's path in the repository, or `helm.values` for the inline values.
        file: String,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// The parser's message (Helm's wording).
        message: String,
    },
    /// A `parameters` entry does not parse as `--set` does.
    #[error("{at}: helm parameter {name:?}: {message}")]
    Parameter {
        /// Where.
        at: Arc<Origin>,
        /// The parameter's name.
        name: String,
        /// Helm's message.
        message: String,
    },
    /// The chart cannot be loaded or installed: bad `Chart.yaml`, missing dependencies, a link out
    /// of the chart, an invalid release name, an incompatible `kubeVersion`...
    #[error("{at}: {message}")]
    Chart {
        /// Where.
        at: Arc<Origin>,
        /// Helm's message.
        message: String,
    },
    /// The values cannot be coalesced with the chart's.
    #[error("{at}: {message}")]
    Values {
        /// Where.
        at: Arc<Origin>,
        /// Helm's message.
        message: String,
    },
    /// The values violate the chart's `values.schema.json`.
    #[error("{at}: {message}")]
    Schema {
        /// Where.
        at: Arc<Origin>,
        /// Helm's message, listing each violation.
        message: String,
    },
    /// A template did not parse or execute; Helm's message names the template and line.
    #[error("{at}: {message}")]
    Template {
        /// Where.
        at: Arc<Origin>,
        /// Helm's message.
        message: String,
    },
    /// The chart refused the values: `required` found no value, or `fail` was called. Helm's
    /// message (`execution error at (TEMPLATE:LINE:COL): ...`) names the template.
    #[error("{at}: {message}")]
    Failed {
        /// Where.
        at: Arc<Origin>,
        /// Helm's message.
        message: String,
    },
    /// A rendered document is not a Kubernetes object (not YAML, no kind or name).
    #[error("{at}: {message}")]
    Manifest {
        /// Where.
        at: Arc<Origin>,
        /// What is wrong, naming the template.
        message: String,
    },
    /// The request is inconsistent (a caller bug): the chart path outside the files given, or a
    /// values file outside them.
    #[error("{at}: {message}")]
    Request {
        /// Where.
        at: Arc<Origin>,
        /// What is wrong.
        message: String,
    },
    /// The render did not finish (it panicked, or the process is shutting down). Never cached;
    /// retrying may help.
    #[error("{at}: render did not finish: {message}")]
    Internal {
        /// Where.
        at: Arc<Origin>,
        /// What happened.
        message: String,
    },
}

impl RenderError {
    /// Where the failing render's inputs came from.
    pub fn origin(&self) -> &Origin {
        match self {
            RenderError::PathNotFound { at }
            | RenderError::NoChartYaml { at }
            | RenderError::ValuesFile { at, .. }
            | RenderError::ValuesYaml { at, .. }
            | RenderError::Parameter { at, .. }
            | RenderError::Chart { at, .. }
            | RenderError::Values { at, .. }
            | RenderError::Schema { at, .. }
            | RenderError::Template { at, .. }
            | RenderError::Failed { at, .. }
            | RenderError::Manifest { at, .. }
            | RenderError::Request { at, .. }
            | RenderError::Internal { at, .. } => at,
        }
    }

    /// Whether rendering the same request again may succeed. Only [`RenderError::Internal`]:
    /// every other error is in the chart, the values or the request, and needs a new commit
    /// (or a changed Application).
    pub fn is_retryable(&self) -> bool {
        matches!(self, RenderError::Internal { .. })
    }

    /// The label of this error in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RenderError::PathNotFound { .. } => "path_not_found",
            RenderError::NoChartYaml { .. } => "no_chart_yaml",
            RenderError::ValuesFile { .. } => "values_file",
            RenderError::ValuesYaml { .. } => "values_yaml",
            RenderError::Parameter { .. } => "parameter",
            RenderError::Chart { .. } => "chart",
            RenderError::Values { .. } => "values",
            RenderError::Schema { .. } => "schema",
            RenderError::Template { .. } => "template",
            RenderError::Failed { .. } => "required",
            RenderError::Manifest { .. } => "manifest",
            RenderError::Request { .. } => "request",
            RenderError::Internal { .. } => "internal",
        }
    }

    fn from_helm(at: Arc<Origin>, e: helm::RenderError) -> RenderError {
        use helm::RenderError as H;
        let message = e.to_string();
        match e {
            H::Load(helm::LoadError::MissingChartYaml) => RenderError::NoChartYaml { at },
            H::Load(_)
            | H::NotInstallable(_)
            | H::MissingDependencies(_)
            | H::InvalidReleaseName(_)
            | H::KubeVersion(_)
            | H::IncompatibleKubeVersion { .. } => RenderError::Chart { at, message },
            H::Values(_) => RenderError::Values { at, message },
            H::Schema(_) => RenderError::Schema { at, message },
            // Helm words `required`/`fail` (and only them) as "execution error at (...)".
            H::Template(_) if message.starts_with("execution error at (") => {
                RenderError::Failed { at, message }
            }
            H::Template(_) => RenderError::Template { at, message },
            H::Manifest { .. } => RenderError::Manifest { at, message },
        }
    }
}

/// A render's result.
pub type Result<T, E = RenderError> = std::result::Result<T, E>;

/// Everything a render depends on.
///
/// Build it with a struct literal over [`RenderRequest::default`]; `files` is what
/// `source::Mirrors::read_tree(repo_url, commit, files_root)` returned.
#[derive(Clone, Default)]
pub struct RenderRequest {
    /// The repository URL (named in errors, part of the digest).
    pub repo_url: String,
    /// The full commit id the files were read at.
    pub commit: String,
    /// The revision the Application asked for (branch, tag or commit): only for
    /// `$ARGOCD_APP_SOURCE_TARGET_REVISION`.
    pub target_revision: String,
    /// The chart directory inside the repository (`charts/app`; empty for the root).
    pub path: String,
    /// The directory of the repository that [`RenderRequest::files`] were read from (empty for the
    /// whole repository). It must contain `path`; values files outside it cannot be read (see
    /// [`RenderRequest::required_files_root`]). Empty means the repository root.
    pub files_root: String,
    /// The files under `files_root` at `commit`, paths relative to `files_root`. Shared: many
    /// requests may hold one tree.
    pub files: Arc<Vec<TreeFile>>,
    /// The source's Helm options.
    pub helm: Option<ApplicationSourceHelm>,
    /// Argo CD's `ignoreMissingValueFiles`: skip a values file that does not exist (with a
    /// warning) instead of failing.
    pub ignore_missing_value_files: bool,
    /// The Application's name (`$ARGOCD_APP_NAME`; the release name when neither
    /// `release_name` nor `helm.releaseName` is set).
    pub app_name: String,
    /// `.Release.Name`. Empty: `helm.releaseName`, else `app_name`.
    pub release_name: String,
    /// The destination namespace (`.Release.Namespace`, `$ARGOCD_APP_NAMESPACE`).
    pub namespace: String,
    /// Render as an upgrade (`.Release.IsUpgrade`) rather than an install.
    pub is_upgrade: bool,
    /// The destination cluster's Kubernetes version (`--kube-version`); `None`: Helm's default.
    pub kube_version: Option<String>,
    /// The destination cluster's API versions (`--api-versions`), added to Helm's defaults.
    pub api_versions: Vec<String>,
    /// Answers Helm's `lookup` (from the cluster cache); `None`: an empty map, as `helm template`.
    pub lookup: Option<helm::LookupHook>,
}

impl std::fmt::Debug for RenderRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderRequest")
            .field("repo_url", &self.repo_url)
            .field("commit", &self.commit)
            .field("path", &self.path)
            .field("files_root", &self.files_root)
            .field("files", &self.files.len())
            .field("helm", &self.helm)
            .field("app_name", &self.app_name)
            .field("release_name", &self.release_name)
            .field("namespace", &self.namespace)
            .field("is_upgrade", &self.is_upgrade)
            .field("lookup", &self.lookup.is_some())
            .finish_non_exhaustive()
    }
}

/// The build environment variable names, Argo CD's and Trellis's, in the order of the table in
/// the module documentation.
const ENV_NAMES: [(&str, &str); 8] = [
    ("ARGOCD_APP_NAME", "TRELLIS_APP_NAME"),
    ("ARGOCD_APP_NAMESPACE", "TRELLIS_APP_NAMESPACE"),
    ("ARGOCD_APP_REVISION", "TRELLIS_APP_REVISION"),
    ("ARGOCD_APP_REVISION_SHORT", "TRELLIS_APP_REVISION_SHORT"),
    (
        "ARGOCD_APP_REVISION_SHORT_8",
        "TRELLIS_APP_REVISION_SHORT_8",
    ),
    ("ARGOCD_APP_SOURCE_REPO_URL", "TRELLIS_APP_SOURCE_REPO_URL"),
    ("ARGOCD_APP_SOURCE_PATH", "TRELLIS_APP_SOURCE_PATH"),
    (
        "ARGOCD_APP_SOURCE_TARGET_REVISION",
        "TRELLIS_APP_SOURCE_TARGET_REVISION",
    ),
];

/// The build environment of a request: variable name → value.
struct BuildEnv(HashMap<&'static str, String>);

impl BuildEnv {
    fn of(req: &RenderRequest) -> BuildEnv {
        let values = [
            req.app_name.clone(),
            req.namespace.clone(),
            req.commit.clone(),
            req.commit.get(..7).unwrap_or(&req.commit).to_string(),
            req.commit.get(..8).unwrap_or(&req.commit).to_string(),
            req.repo_url.clone(),
            req.path.clone(),
            req.target_revision.clone(),
        ];
        let mut m = HashMap::new();
        for ((argo, trellis), v) in ENV_NAMES.into_iter().zip(values) {
            m.insert(argo, v.clone());
            m.insert(trellis, v);
        }
        BuildEnv(m)
    }

    /// `text` with every known `$NAME` and `${NAME}` replaced; anything else left as written.
    fn substitute<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !text.contains('$') {
            return Cow::Borrowed(text);
        }
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
                (&after[..end], end)
            };
            match self.0.get(name) {
                Some(value) if !name.is_empty() => {
                    out.push_str(value);
                    rest = &after[consumed..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// The strings of a JSON value substituted (keys too).
    fn substitute_json(&self, v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            J::String(s) => J::String(self.substitute(s).into_owned()),
            J::Array(a) => J::Array(a.iter().map(|v| self.substitute_json(v)).collect()),
            J::Object(o) => J::Object(
                o.iter()
                    .map(|(k, v)| (self.substitute(k).into_owned(), self.substitute_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// `path` with `.` and empty components removed and `..` applied; `None` if it climbs above
/// its start.
fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// `a/b` joined with `c` (either may be empty).
fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

/// `path` relative to the directory `root` (both cleaned), if it is inside it.
fn relative_to<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    if root.is_empty() {
        return Some(path);
    }
    if path == root {
        return Some("");
    }
    path.strip_prefix(root)?.strip_prefix('/')
}

/// The directory part of a cleaned path.
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The deepest directory containing both (cleaned) directories.
fn common_dir(a: &str, b: &str) -> String {
    let common: Vec<&str> = a
        .split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y && !x.is_empty())
        .map(|(x, _)| x)
        .collect();
    common.join("/")
}

fn is_remote(name: &str) -> bool {
    name.contains("://")
}

/// Where a values file named in `valueFiles` lives in the repository: relative to the chart
/// directory, or to the repository root when absolute (Argo CD's `ResolveValueFilePathOrUrl`).
fn resolve_value_file(chart_dir: &str, name: &str) -> Option<String> {
    match name.strip_prefix('/') {
        Some(abs) => clean(abs),
        None => clean(&join(chart_dir, name)),
    }
}

/// Argo CD's `cleanSetParameters`: commas not already escaped become `\,`, so a value is one
/// value, unless it is a Helm list (`{a,b}`).
fn escape_set_value(v: &str) -> Cow<'_, str> {
    if (v.starts_with('{') && v.ends_with('}')) || !v.contains(',') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 4);
    let mut prev = '\0';
    for c in v.chars() {
        if c == ',' && prev != '\\' {
            out.push('\\');
        }
        out.push(c);
        prev = c;
    }
    Cow::Owned(out)
}

impl RenderRequest {
    /// Where errors say the inputs came from.
    pub fn origin(&self) -> Origin {
        Origin {
            repo_url: self.repo_url.clone(),
            commit: short(&self.commit).to_string(),
            path: clean(&self.path).unwrap_or_else(|| self.path.clone()),
        }
    }

    /// The release name this request renders with: `release_name`, else `helm.releaseName`,
    /// else `app_name`.
    pub fn effective_release_name(&self) -> &str {
        if !self.release_name.is_empty() {
            return &self.release_name;
        }
        match self.helm.as_ref().and_then(|h| h.release_name.as_deref()) {
            Some(n) if !n.is_empty() => n,
            _ => &self.app_name,
        }
    }

    /// The directory of the repository to read (`Mirrors::read_tree`) so that the chart and
    /// every values file of this request are inside it: the chart path when the values files are
    /// all in the chart directory, an ancestor of it otherwise. Values files that cannot be
    /// resolved (outside the repository, remote) do not widen it; rendering reports them.
    pub fn required_files_root(&self) -> String {
        let chart_dir = clean(&self.path).unwrap_or_default();
        let env = BuildEnv::of(self);
        let mut root = chart_dir.clone();
        for name in self.helm.iter().flat_map(|h| &h.value_files) {
            let name = env.substitute(name);
            if is_remote(&name) {
                continue;
            }
            if let Some(file) = resolve_value_file(&chart_dir, &name) {
                root = common_dir(&root, parent(&file));
            }
        }
        root
    }

    /// The digest of everything the render depends on (hex SHA-256): equal digests, equal
    /// output. The files are not hashed: the commit id stands for them.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(b"trellis-render-v1");
        field(self.repo_url.as_bytes());
        field(self.commit.as_bytes());
        field(self.target_revision.as_bytes());
        field(
            clean(&self.path)
                .unwrap_or_else(|| self.path.clone())
                .as_bytes(),
        );
        field(
            clean(&self.files_root)
                .unwrap_or_else(|| self.files_root.clone())
                .as_bytes(),
        );
        let helm = self
            .helm
            .as_ref()
            .map(|h| serde_json::to_vec(h).unwrap_or_default())
            .unwrap_or_default();
        field(&helm);
        field(&[
            u8::from(self.ignore_missing_value_files),
            u8::from(self.is_upgrade),
            u8::from(self.lookup.is_some()),
            u8::from(self.kube_version.is_some()),
        ]);
        field(self.app_name.as_bytes());
        field(self.effective_release_name().as_bytes());
        field(self.namespace.as_bytes());
        field(self.kube_version.as_deref().unwrap_or("").as_bytes());
        field(&(self.api_versions.len() as u64).to_le_bytes());
        for v in &self.api_versions {
            field(v.as_bytes());
        }
        let d = h.finalize();
        let mut out = String::with_capacity(64);
        for b in d.iter() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// The outcome of a successful render.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The desired objects, for the sync engine: the chart's `crds/` first, then the manifests in
    /// Helm's install order, then the hooks (they keep their annotations; the engine plans them).
    pub manifests: Vec<Manifest>,
    /// What Helm logs while rendering (values coalescing, unknown hooks) and what this module
    /// adds (ignored inline `values`, skipped missing values files).
    pub warnings: Vec<String>,
    /// The chart's rendered `NOTES.txt`.
    pub notes: String,
    /// [`RenderRequest::digest`] of the request.
    pub digest: String,
    /// Whether a template called `lookup` with a hook given: the output depends on cluster
    /// state, so it was not cached.
    pub used_lookup: bool,
    /// Approximate memory held, for the cache's size bound.
    approx_bytes: usize,
}

impl Rendered {
    /// Approximate memory this result holds (what the cache's byte bound counts).
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }
}

/// Index of a tree by path, with symlinks resolved inside a directory.
struct Tree<'a> {
    by_path: HashMap<&'a str, &'a TreeFile>,
    files: &'a [TreeFile],
}

/// How many links a chain may follow.
const MAX_LINKS: usize = 16;

impl<'a> Tree<'a> {
    fn new(files: &'a [TreeFile]) -> Tree<'a> {
        Tree {
            by_path: files.iter().map(|f| (f.path.as_str(), f)).collect(),
            files,
        }
    }

    /// Where the link at `path` points, cleaned and relative to the tree; `Err` when it leaves
    /// `within` (a directory of the tree).
    fn link_target(&self, path: &str, target: &[u8], within: &str) -> Result<String, String> {
        let target = String::from_utf8_lossy(target);
        if target.starts_with('/') {
            return Err(format!("is a symbolic link to an absolute path ({target})"));
        }
        clean(&join(parent(path), &target))
            .filter(|t| relative_to(t, within).is_some())
            .ok_or_else(|| "is a symbolic link pointing outside the chart".to_string())
    }

    /// The regular file at `path`, following links that stay inside `within`. `Ok(None)`: nothing
    /// there (or a directory).
    fn file(&self, path: &str, within: &str) -> Result<Option<&'a TreeFile>, String> {
        let mut path = path.to_string();
        for _ in 0..MAX_LINKS {
            let Some(f) = self.by_path.get(path.as_str()) else {
                return Ok(None);
            };
            if f.kind != FileKind::Symlink {
                return Ok(Some(f));
            }
            path = self.link_target(&path, &f.data, within)?;
        }
        Err("is a chain of too many symbolic links".into())
    }

    /// Files under the directory `dir` (paths relative to the tree).
    fn under(&self, dir: &str) -> impl Iterator<Item = &'a TreeFile> + '_ {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.files
            .iter()
            .filter(move |f| f.path.starts_with(&prefix))
    }
}

/// Whether Helm's `.helmignore` walk skips `rel` (a file path relative to the chart): one of
/// its directories or itself is ignored.
fn ignored(rules: &helm::ignore::Rules, rel: &str) -> bool {
    let mut end = 0;
    while let Some(i) = rel[end..].find('/') {
        end += i;
        if rules.ignore(&rel[..end], true) {
            return true;
        }
        end += 1;
    }
    rules.ignore(rel, false)
}

/// Collects the chart's files as Helm's `LoadDir` reads a directory: `.helmignore` applied,
/// links followed but never out of the chart, size limits, a BOM stripped, sorted.
struct ChartFiles<'t, 'a> {
    tree: &'t Tree<'a>,
    chart_dir: &'t str,
    rules: helm::ignore::Rules,
    out: Vec<helm::chart::File>,
    total: u64,
}

impl ChartFiles<'_, '_> {
    /// Adds the file (or, for a link to a directory, the files) at tree path `path`, named `rel`
    /// in the chart.
    fn add(&mut self, path: &str, rel: &str, depth: usize) -> Result<(), helm::LoadError> {
        if ignored(&self.rules, rel) {
            return Ok(());
        }
        let escape = || helm::LoadError::SymlinkEscape(rel.to_string());
        let Some(f) = self.tree.by_path.get(path).copied() else {
            return Ok(());
        };
        if f.kind == FileKind::Symlink {
            if depth > MAX_LINKS {
                return Err(escape());
            }
            let target = self
                .tree
                .link_target(path, &f.data, self.chart_dir)
                .map_err(|_| escape())?;
            if self.tree.by_path.contains_key(target.as_str()) {
                return self.add(&target, rel, depth + 1);
            }
            // A link to a directory: its files, named under the link.
            let inside: Vec<String> = self.tree.under(&target).map(|f| f.path.clone()).collect();
            if inside.is_empty() {
                return Err(helm::LoadError::Io(format!(
                    "{rel}: symbolic link to {target}, which does not exist"
                )));
            }
            for p in inside {
                let sub = &p[target.len() + 1..];
                self.add(&p, &format!("{rel}/{sub}"), depth + 1)?;
            }
            return Ok(());
        }
        let size = f.data.len() as u64;
        if size > helm::chart::MAX_FILE_SIZE {
            return Err(helm::LoadError::FileTooLarge(
                rel.rsplit('/').next().unwrap_or(rel).to_string(),
            ));
        }
        self.total += size;
        if self.total > helm::chart::MAX_CHART_SIZE {
            return Err(helm::LoadError::ChartTooLarge);
        }
        let data = f.data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&f.data);
        self.out.push(helm::chart::File {
            name: rel.to_string(),
            data: data.into(),
        });
        Ok(())
    }
}

/// The chart's files, or why there are none.
fn chart_files(
    at: &Arc<Origin>,
    tree: &Tree<'_>,
    chart_dir: &str,
) -> Result<Vec<helm::chart::File>, RenderError> {
    let chart_err = |e: helm::LoadError| RenderError::Chart {
        at: at.clone(),
        message: e.to_string(),
    };
    let paths: Vec<&str> = tree.under(chart_dir).map(|f| f.path.as_str()).collect();
    if paths.is_empty() {
        return Err(RenderError::PathNotFound { at: at.clone() });
    }
    let rules = match tree
        .file(&join(chart_dir, ".helmignore"), chart_dir)
        .ok()
        .flatten()
    {
        Some(f) => helm::ignore::Rules::parse(&String::from_utf8_lossy(&f.data))
            .map_err(|e| chart_err(helm::LoadError::Ignore(e.to_string())))?,
        None => helm::ignore::Rules::with_defaults(),
    };
    let mut files = ChartFiles {
        tree,
        chart_dir,
        rules,
        out: Vec::new(),
        total: 0,
    };
    for path in paths {
        let rel = relative_to(path, chart_dir).unwrap_or(path);
        files.add(path, rel, 0).map_err(chart_err)?;
    }
    let mut out = files.out;
    if !out.iter().any(|f| f.name == "Chart.yaml") {
        return Err(RenderError::NoChartYaml { at: at.clone() });
    }
    // Helm walks each directory in name order.
    out.sort_by(|a, b| a.name.split('/').cmp(b.name.split('/')));
    Ok(out)
}

/// The user's values: values files, inline values, parameters, merged as Argo CD's `helm
/// template` call merges them.
fn user_values(
    req: &RenderRequest,
    at: &Arc<Origin>,
    tree: &Tree<'_>,
    files_root: &str,
    chart_dir_in_repo: &str,
    env: &BuildEnv,
    warnings: &mut Vec<String>,
) -> Result<Map, RenderError> {
    let mut base = Map::new();
    let Some(h) = &req.helm else {
        return Ok(base);
    };
    let file_err = |file: &str, message: &str| RenderError::ValuesFile {
        at: at.clone(),
        file: file.to_string(),
        message: message.to_string(),
    };
    for written in &h.value_files {
        let name = env.substitute(written);
        if is_remote(&name) {
            return Err(file_err(&name, "remote values files are not supported"));
        }
        let Some(in_repo) = resolve_value_file(chart_dir_in_repo, &name) else {
            return Err(file_err(&name, "resolves outside the repository"));
        };
        let Some(in_tree) = relative_to(&in_repo, files_root) else {
            return Err(RenderError::Request {
                at: at.clone(),
                message: format!(
                    "values file {in_repo} is outside the files read (under {files_root:?}); \
                     read the tree at RenderRequest::required_files_root"
                ),
            });
        };
        // Links may point anywhere in the repository, as git checks them out for Argo CD.
        let found = tree.file(in_tree, "").map_err(|m| file_err(&in_repo, &m))?;
        let Some(f) = found else {
            if req.ignore_missing_value_files {
                warnings.push(format!(
                    "values file {in_repo} does not exist: skipped (ignoreMissingValueFiles)"
                ));
                continue;
            }
            return Err(file_err(&in_repo, "does not exist"));
        };
        let text = String::from_utf8_lossy(&f.data);
        let text = env.substitute(&text);
        let current = helm::yaml::parse_map(&text).map_err(|e| RenderError::ValuesYaml {
            at: at.clone(),
            file: in_repo.clone(),
            line: e.line,
            message: e.message,
        })?;
        base = helm::strvals::merge_maps(&base, &current);
    }
    let inline_values = h.values.as_deref().filter(|v| !v.trim().is_empty());
    let inline = match &h.values_object {
        Some(obj) if !obj.is_null() => {
            if inline_values.is_some() {
                warnings.push(
                    "helm.values is ignored: helm.valuesObject is set and takes its place \
                     (as in Argo CD)"
                        .to_string(),
                );
            }
            // JSON is YAML: Helm reads it as it reads the YAML Argo CD writes from it.
            let json = serde_json::to_string(&env.substitute_json(obj)).unwrap_or_default();
            Some(("helm.valuesObject", json))
        }
        _ => inline_values.map(|v| ("helm.values", env.substitute(v).into_owned())),
    };
    if let Some((what, text)) = inline {
        let current = helm::yaml::parse_map(&text).map_err(|e| RenderError::ValuesYaml {
            at: at.clone(),
            file: what.to_string(),
            line: e.line,
            message: e.message,
        })?;
        base = helm::strvals::merge_maps(&base, &current);
    }
    // Helm applies every --set before every --set-string.
    for force_string in [false, true] {
        for p in h
            .parameters
            .iter()
            .filter(|p| p.force_string == force_string)
        {
            let value = env.substitute(&p.value);
            let arg = format!("{}={}", p.name, escape_set_value(&value));
            let parsed = if force_string {
                helm::strvals::parse_into_string(&arg, &mut base)
            } else {
                helm::strvals::parse_into(&arg, &mut base)
            };
            parsed.map_err(|e| RenderError::Parameter {
                at: at.clone(),
                name: p.name.clone(),
                message: e.0,
            })?;
        }
    }
    Ok(base)
}

/// Renders `req` now, on this thread, with `engine` (no render cache): the pipeline behind
/// [`Renderer::render`]. CPU-bound and blocking.
pub fn render_once(engine: &helm::Engine, req: &RenderRequest) -> Result<Rendered, RenderError> {
    render_with(engine, None, req)
}

/// [`render_once`], sharing the objects of large texts through `texts`.
fn render_with(
    engine: &helm::Engine,
    texts: Option<&Mutex<SharedTexts>>,
    req: &RenderRequest,
) -> Result<Rendered, RenderError> {
    let at = Arc::new(req.origin());
    let request_err = |message: String| RenderError::Request {
        at: at.clone(),
        message,
    };
    let chart_dir_in_repo = clean(&req.path)
        .ok_or_else(|| request_err(format!("chart path {:?} leaves the repository", req.path)))?;
    let files_root = clean(&req.files_root).ok_or_else(|| {
        request_err(format!(
            "files root {:?} leaves the repository",
            req.files_root
        ))
    })?;
    let chart_dir = relative_to(&chart_dir_in_repo, &files_root).ok_or_else(|| {
        request_err(format!(
            "the chart directory is not under the files read (under {files_root:?})"
        ))
    })?;
    let tree = Tree::new(&req.files);
    let files = chart_files(&at, &tree, chart_dir)?;
    let chart = helm::chart::load_files(files, 0)
        .map_err(|e| RenderError::from_helm(at.clone(), helm::RenderError::Load(e)))?;

    let env = BuildEnv::of(req);
    let mut warnings = Vec::new();
    let values = user_values(
        req,
        &at,
        &tree,
        &files_root,
        &chart_dir_in_repo,
        &env,
        &mut warnings,
    )?;

    let used_lookup = Arc::new(AtomicBool::new(false));
    let lookup = req.lookup.as_ref().map(|hook| {
        let hook = hook.clone();
        let used = used_lookup.clone();
        helm::LookupHook::new(move |api_version, kind, namespace, name| {
            used.store(true, Ordering::Relaxed);
            (hook.0)(api_version, kind, namespace, name)
        })
    });
    let opts = helm::RenderOptions {
        release_name: req.effective_release_name().to_string(),
        namespace: req.namespace.clone(),
        is_upgrade: req.is_upgrade,
        kube_version: req.kube_version.clone(),
        api_versions: req.api_versions.clone(),
        lookup,
        ..helm::RenderOptions::default()
    };
    let rendered = engine
        .render(&chart, &values, &opts)
        .map_err(|e| RenderError::from_helm(at.clone(), e))?;

    let manifest_err = |e: sync::Error| RenderError::Manifest {
        at: at.clone(),
        message: e.to_string(),
    };
    let mut manifests = Vec::new();
    let mut text_bytes = 0;
    for crd in &rendered.crds {
        let text = String::from_utf8_lossy(&crd.data);
        text_bytes += text.len();
        manifests.extend(objects_of(texts, &text, &crd.filename).map_err(manifest_err)?);
    }
    for m in &rendered.manifests {
        text_bytes += m.content.len();
        manifests.extend(objects_of(texts, &m.content, &m.source).map_err(manifest_err)?);
    }
    for h in &rendered.hooks {
        text_bytes += h.content.len();
        manifests.extend(objects_of(texts, &h.content, &h.source).map_err(manifest_err)?);
    }
    warnings.extend(rendered.warnings);
    // A JSON value takes several times its YAML text; the estimate only has to be proportional.
    let approx_bytes = 512 + 4 * text_bytes + rendered.notes.len();
    Ok(Rendered {
        manifests,
        warnings,
        notes: rendered.notes,
        digest: req.digest(),
        used_lookup: used_lookup.load(Ordering::Relaxed),
        approx_bytes,
    })
}

/// Texts at least this long (CRD files, mostly: argo-cd ships 1.9 MB of them) are turned into
/// objects once per process: every render of every branch's copy of the chart ships the same text,
/// and reading it is most of such a render's time.
const SHARED_TEXT_MIN: usize = 32 << 10;

/// Most text kept by the shared conversions (the objects take a few times as much).
const SHARED_TEXT_MAX: usize = 16 << 20;

/// Large rendered texts already turned into objects, keyed by their exact text (compared in full
/// on a hit), oldest dropped first.
#[derive(Default)]
struct SharedTexts {
    entries: HashMap<Arc<str>, Arc<Vec<Manifest>>>,
    order: std::collections::VecDeque<Arc<str>>,
    bytes: usize,
}

/// The objects of one rendered text; large texts are read once per [`Renderer`] and shared.
fn objects_of(
    shared: Option<&Mutex<SharedTexts>>,
    text: &str,
    source: &str,
) -> Result<Vec<Manifest>, sync::Error> {
    let Some(shared_texts) = shared.filter(|_| text.len() >= SHARED_TEXT_MIN) else {
        return manifests_from_yaml(text, source);
    };
    let with_source = |ms: &[Manifest]| -> Vec<Manifest> {
        ms.iter()
            .map(|m| Manifest {
                obj: m.obj.clone(),
                source: source.to_string(),
            })
            .collect()
    };
    let hit = shared_texts
        .lock()
        .expect("shared texts lock")
        .entries
        .get(text)
        .cloned();
    if let Some(ms) = hit {
        return Ok(with_source(&ms));
    }
    // Errors are not kept: the next render reads the text again and says the same.
    let ms = Arc::new(manifests_from_yaml(text, source)?);
    let mut shared = shared_texts.lock().expect("shared texts lock");
    let key: Arc<str> = Arc::from(text);
    if shared.entries.insert(key.clone(), ms.clone()).is_none() {
        shared.bytes += text.len();
        shared.order.push_back(key);
    }
    while shared.bytes > SHARED_TEXT_MAX {
        let Some(old) = shared.order.pop_front() else {
            break;
        };
        shared.bytes -= old.len();
        shared.entries.remove(&old);
    }
    drop(shared);
    Ok(with_source(&ms))
}

/// Bounds of a [`Renderer`].
#[derive(Debug, Clone)]
pub struct RendererConfig {
    /// Most outcomes kept (successes and errors).
    pub max_entries: usize,
    /// Most memory kept by cached results, approximately ([`Rendered::approx_bytes`]).
    pub max_bytes: usize,
    /// Most renders running at once (CPU-bound, on the blocking pool).
    pub max_parallel: usize,
}

impl Default for RendererConfig {
    fn default() -> Self {
        RendererConfig {
            // The byte bound is the one that matters; 10,000 Applications in 100 environments
            // are 10,000 digests (the namespace is part of each), all wanted at every resync.
            max_entries: 65_536,
            max_bytes: 256 << 20,
            max_parallel: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// What the cache keeps for a digest: a render's outcome, once it is known.
type Outcome = Result<Arc<Rendered>, RenderError>;

struct Entry {
    cell: Arc<OnceCell<Outcome>>,
    /// Last use, for LRU eviction (a key of `Cache::lru`).
    tick: u64,
    /// Bytes counted in `Cache::bytes` (0 until the outcome is known).
    bytes: usize,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    /// Last use → digest, oldest first.
    lru: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
}

impl Cache {
    fn remove(&mut self, digest: &str) {
        if let Some(e) = self.entries.remove(digest) {
            self.lru.remove(&e.tick);
            self.bytes -= e.bytes;
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((_, digest)) = self.lru.pop_first()
            && let Some(e) = self.entries.remove(&digest)
        {
            self.bytes -= e.bytes;
        }
    }
}

struct Inner {
    engine: helm::Engine,
    config: RendererConfig,
    cache: Mutex<Cache>,
    slots: Semaphore,
    renders: AtomicU64,
    hits: AtomicU64,
    /// Large texts already turned into objects.
    texts: Mutex<SharedTexts>,
}

/// The process's renderer: one Helm engine and one render cache, shared by every Application.
/// Cheap to clone (clones share everything).
#[derive(Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new()
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("config", &self.inner.config)
            .field("cached", &self.cached())
            .field("renders", &self.renders())
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// How many large rendered texts are held, turned into objects, for other renders to share.
    pub fn shared_texts(&self) -> usize {
        self.inner
            .texts
            .lock()
            .expect("shared texts lock")
            .entries
            .len()
    }

    /// A renderer with the default bounds ([`RendererConfig::default`]).
    pub fn new() -> Renderer {
        Renderer::with_config(RendererConfig::default())
    }

    /// A renderer with these bounds.
    pub fn with_config(config: RendererConfig) -> Renderer {
        Renderer {
            inner: Arc::new(Inner {
                engine: helm::Engine::new(),
                slots: Semaphore::new(config.max_parallel.max(1)),
                config,
                cache: Mutex::new(Cache::default()),
                renders: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                texts: Mutex::new(SharedTexts::default()),
            }),
        }
    }

    /// Renders executed so far (cache misses).
    pub fn renders(&self) -> u64 {
        self.inner.renders.load(Ordering::Relaxed)
    }

    /// Requests answered without rendering (from the cache, or by sharing a render in flight).
    pub fn cache_hits(&self) -> u64 {
        self.inner.hits.load(Ordering::Relaxed)
    }

    /// Outcomes held in the cache (including renders in flight).
    pub fn cached(&self) -> usize {
        self.cache().entries.len()
    }

    /// Approximate memory held by cached results.
    pub fn cached_bytes(&self) -> usize {
        self.cache().bytes
    }

    /// Forgets every cached outcome (renders in flight finish for their callers).
    pub fn clear(&self) {
        *self.cache() = Cache::default();
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves the cache consistent (every update is a few
        // map operations): keep using it.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cell for `digest`, created if new; marks it most recently used and evicts the least
    /// recently used beyond the entry bound.
    fn slot(&self, digest: &str) -> Arc<OnceCell<Outcome>> {
        let mut cache = self.cache();
        cache.tick += 1;
        let tick = cache.tick;
        if let Some(e) = cache.entries.get_mut(digest) {
            let old = std::mem::replace(&mut e.tick, tick);
            let cell = e.cell.clone();
            cache.lru.remove(&old);
            cache.lru.insert(tick, digest.to_string());
            return cell;
        }
        while cache.entries.len() >= self.inner.config.max_entries.max(1) {
            cache.evict_oldest();
        }
        let cell = Arc::new(OnceCell::new());
        cache.entries.insert(
            digest.to_string(),
            Entry {
                cell: cell.clone(),
                tick,
                bytes: 0,
            },
        );
        cache.lru.insert(tick, digest.to_string());
        cell
    }

    /// Records the size of a fresh outcome (or drops it when it must not be cached), then
    /// evicts beyond the byte bound.
    fn settle(&self, digest: &str, cell: &Arc<OnceCell<Outcome>>, outcome: &Outcome) {
        let mut cache = self.cache();
        let ours = cache
            .entries
            .get(digest)
            .is_some_and(|e| Arc::ptr_eq(&e.cell, cell));
        if !ours {
            return; // evicted or cleared while rendering
        }
        let bytes = match outcome {
            Ok(r) if r.used_lookup => {
                cache.remove(digest);
                return;
            }
            Ok(r) => r.approx_bytes(),
            Err(e) => 256 + e.to_string().len(),
        };
        if let Some(e) = cache.entries.get_mut(digest) {
            e.bytes = bytes;
        }
        cache.bytes += bytes;
        while cache.bytes > self.inner.config.max_bytes && !cache.lru.is_empty() {
            cache.evict_oldest();
        }
    }

    /// Renders `req`, or answers from the cache when a request with the same digest rendered
    /// before (errors included: they need a new commit). Concurrent requests with one digest
    /// share one render. The render runs on the blocking pool.
    pub async fn render(&self, req: RenderRequest) -> Result<Arc<Rendered>, RenderError> {
        let digest = req.digest();
        if req.is_upgrade {
            // Once an Application renders as an upgrade it never asks for its install render
            // again: keeping it would hold two renders per Application.
            let install = RenderRequest {
                is_upgrade: false,
                ..req.clone()
            }
            .digest();
            let mut cache = self.cache();
            if cache
                .entries
                .get(&install)
                .is_some_and(|e| e.cell.initialized())
            {
                cache.remove(&install);
            }
        }
        let at = Arc::new(req.origin());
        let cell = self.slot(&digest);
        let ran = AtomicBool::new(false);
        let got = cell
            .get_or_try_init(|| {
                ran.store(true, Ordering::Relaxed);
                self.run(req)
            })
            .await;
        match got {
            Ok(outcome) => {
                if ran.load(Ordering::Relaxed) {
                    self.settle(&digest, &cell, outcome);
                } else {
                    self.inner.hits.fetch_add(1, Ordering::Relaxed);
                }
                outcome.clone()
            }
            Err(message) => {
                // Not an outcome of the inputs: forget the cell so the next request renders.
                let mut cache = self.cache();
                if cache
                    .entries
                    .get(&digest)
                    .is_some_and(|e| Arc::ptr_eq(&e.cell, &cell))
                {
                    cache.remove(&digest);
                }
                Err(RenderError::Internal { at, message })
            }
        }
    }

    /// One render on the blocking pool, within the parallelism bound. `Err`: it did not finish.
    async fn run(&self, req: RenderRequest) -> Result<Outcome, String> {
        let _permit = self
            .inner
            .slots
            .acquire()
            .await
            .map_err(|_| "the renderer is shut down".to_string())?;
        let inner = self.inner.clone();
        let done = tokio::task::spawn_blocking(move || {
            inner.renders.fetch_add(1, Ordering::Relaxed);
            render_with(&inner.engine, Some(&inner.texts), &req)
        })
        .await;
        match done {
            Ok(outcome) => Ok(outcome.map(Arc::new)),
            Err(e) if e.is_panic() => Err("the render panicked".to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_replaces_known_names_only() {
        let req = RenderRequest {
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            app_name: "web".into(),
            namespace: "env-a".into(),
            ..RenderRequest::default()
        };
        let env = BuildEnv::of(&req);
        assert_eq!(
            env.substitute(
                "$ARGOCD_APP_REVISION ${TRELLIS_APP_REVISION_SHORT}-x $ARGOCD_APP_REVISION_SHORT_8"
            ),
            "0123456789abcdef0123456789abcdef01234567 0123456-x 01234567"
        );
        assert_eq!(
            env.substitute("$HOME ${X} $$ $ ${ARGOCD_APP_NAME}.$TRELLIS_APP_NAMESPACE ${"),
            "$HOME ${X} $$ $ web.env-a ${"
        );
        assert_eq!(env.substitute("$ARGOCD_APP_NAMEX"), "$ARGOCD_APP_NAMEX");
    }

    #[test]
    fn paths_clean_and_resolve_within_the_repository() {
        assert_eq!(clean("./a//b/../c/").as_deref(), Some("a/c"));
        assert_eq!(clean("a/../.."), None);
        assert_eq!(
            resolve_value_file("charts/app", "../shared/x.yaml").as_deref(),
            Some("charts/shared/x.yaml")
        );
        assert_eq!(
            resolve_value_file("charts/app", "/env/prod.yaml").as_deref(),
            Some("env/prod.yaml")
        );
        assert_eq!(resolve_value_file("app", "../../x.yaml"), None);
        assert_eq!(common_dir("charts/app", "charts/shared"), "charts");
        assert_eq!(common_dir("charts/app", "env"), "");
        assert_eq!(relative_to("charts/app", "charts"), Some("app"));
        assert_eq!(relative_to("chartsx/app", "charts"), None);
    }

    #[test]
    fn set_values_escape_commas_as_argo_cd() {
        assert_eq!(escape_set_value("a,b"), "a\\,b");
        assert_eq!(escape_set_value("a\\,b"), "a\\,b");
        assert_eq!(escape_set_value("{a,b}"), "{a,b}");
        assert_eq!(escape_set_value("plain"), "plain");
    }

    #[test]
    fn required_files_root_covers_every_values_file() {
        let mut req = RenderRequest {
            path: "charts/app".into(),
            helm: Some(ApplicationSourceHelm {
                value_files: vec!["values-prod.yaml".into()],
                ..ApplicationSourceHelm::default()
            }),
            ..RenderRequest::default()
        };
        assert_eq!(req.required_files_root(), "charts/app");
        if let Some(h) = req.helm.as_mut() {
            h.value_files.push("../shared/x.yaml".into());
        }
        assert_eq!(req.required_files_root(), "charts");
        if let Some(h) = req.helm.as_mut() {
            h.value_files.push("/env/$ARGOCD_APP_NAME.yaml".into());
        }
        assert_eq!(req.required_files_root(), "");
    }
}
