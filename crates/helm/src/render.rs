//! Rendering a chart as `helm template` does: installability and dependency checks,
//! values (dependency processing, coalescing, schema validation), the built-in
//! objects, parsing every template of the chart and its subcharts into one set in
//! Helm's order, executing each non-partial template, and sorting the output into
//! manifests and hooks. Also `helm template`'s text output (`---` + `# Source:`,
//! CRDs, hooks, `--show-only`, `--output-dir`).
//!
//! Parsed template sets are cached by a digest of their sources in an [`Engine`], so
//! rendering the same chart again with other values does not parse again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gotemplate::{ExecOptions, FuncMap, Map, TemplateSet, Value};
use sha2::{Digest, Sha256};

use crate::chart::{Chart, LoadError};
use crate::funcs::{LookupHook, WARN_END, WARN_START};
use crate::manifest::{self, Hook, Manifest, ManifestError};
use crate::objects::{Capabilities, ChartObject, Files};
use crate::values::{self, ValuesError};

/// What to render and how (the flags of `helm template` that shape rendering).
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub release_name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_upgrade: bool,
    /// `--kube-version`; `None` is Helm's default (v1.32.0).
    pub kube_version: Option<String>,
    /// `--api-versions`, added to the defaults.
    pub api_versions: Vec<String>,
    pub skip_schema_validation: bool,
    /// Limits for each template execution.
    pub exec: ExecOptions,
    /// What `lookup` answers from; `None` (the default, `helm template`'s behaviour) answers an
    /// empty map to every call.
    pub lookup: Option<LookupHook>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            revision: 1,
            is_upgrade: false,
            kube_version: None,
            api_versions: Vec::new(),
            skip_schema_validation: false,
            exec: ExecOptions::default(),
            lookup: None,
        }
    }
}

/// A file of `crds/`, printed verbatim with `--include-crds`.
#[derive(Debug, Clone)]
pub struct CrdFile {
    /// `chart/crds/x.yaml` (subcharts: `chart/charts/sub/crds/x.yaml`).
    pub filename: String,
    pub data: Arc<[u8]>,
}

/// The result of rendering: structured objects in Helm's order plus the notes.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Non-hook objects, in install order.
    pub manifests: Vec<Manifest>,
    /// Hooks, in install order by kind.
    pub hooks: Vec<Hook>,
    /// CRD files of the chart and its enabled subcharts.
    pub crds: Vec<CrdFile>,
    /// The top-level chart's rendered `NOTES.txt`.
    pub notes: String,
    /// Helm's log lines (e.g. unknown hooks), for stderr.
    pub warnings: Vec<String>,
}

/// A rendering failure; `Display` is Helm's error text (without the `Error: ` prefix).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Values(#[from] ValuesError),
    #[error("{0} charts are not installable")]
    NotInstallable(String),
    #[error(
        "An error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {}",
        .0.join(", ")
    )]
    MissingDependencies(Vec<String>),
    #[error(
        "release name {0:?}: invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53"
    )]
    InvalidReleaseName(String),
    #[error("{0}")]
    KubeVersion(String),
    #[error(
        "chart requires kubeVersion: {required} which is incompatible with Kubernetes {actual}"
    )]
    IncompatibleKubeVersion { required: String, actual: String },
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
    /// A template failed to parse or execute (Go's text, as Helm reformats it).
    #[error("{0}")]
    Template(String),
    /// A rendered document is not YAML. `files`: every rendered template with output (name,
    /// text), which `helm template --debug` prints to help find the broken one.
    #[error("{error}")]
    Manifest {
        error: ManifestError,
        files: Vec<(String, String)>,
    },
}

impl RenderError {
    /// What `helm template --debug` prints on stdout for this error: every rendered file when
    /// a manifest is not YAML (Helm's order is a Go map's, random; ours is by name), an empty
    /// line for the other errors met while rendering, nothing before rendering started.
    pub fn debug_output(&self) -> Option<String> {
        match self {
            RenderError::Manifest { files, .. } => {
                let mut out = String::new();
                for (name, text) in files {
                    out.push_str(&format!("---\n# Source: {name}\n{text}\n"));
                }
                Some(format!("{}\n", out.trim()))
            }
            e if e.during_render() => Some("\n".into()),
            _ => None,
        }
    }

    /// True for errors Helm reports after rendering started (it then adds
    /// "Use --debug flag to render out invalid YAML").
    pub fn during_render(&self) -> bool {
        matches!(
            self,
            RenderError::Template(_)
                | RenderError::Manifest { .. }
                | RenderError::IncompatibleKubeVersion { .. }
        )
    }
}

/// Helm's `ValidateReleaseName`.
pub fn valid_release_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 53 {
        return false;
    }
    name.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

/// One template to parse and maybe execute.
struct Renderable {
    name: String,
    text: Arc<str>,
    data: Value,
}

/// Shared rendering state: the function map and the parsed-template cache.
pub struct Engine {
    funcs: FuncMap,
    /// `None` for a one-shot engine ([`Engine::uncached`]), which skips digesting sources.
    sets: Option<Mutex<HashMap<[u8; 32], TemplateSet>>>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

fn chart_full_path(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p}/charts/{name}"),
        None => name.to_string(),
    }
}

/// Helm's `recAllTpls`: the `.`-data of each chart and its templates.
fn collect(
    c: &Chart,
    parent_path: Option<&str>,
    values: Value,
    release: &Value,
    caps: &Value,
    out: &mut Vec<Renderable>,
) -> Value {
    let full = chart_full_path(parent_path, c.name());
    let values_map = values.as_map().cloned().unwrap_or_default();
    let mut subcharts = Map::new();
    for child in &c.dependencies {
        let child_vals = match values_map.get(child.name()) {
            Some(v @ Value::Map(..)) => v.clone(),
            _ => Value::map(Map::new()),
        };
        let next = collect(child, Some(&full), child_vals, release, caps, out);
        subcharts.insert(child.name().to_string(), next);
    }
    let files: BTreeMap<String, Arc<[u8]>> = c
        .files
        .iter()
        .map(|f| (f.name.clone(), f.data.clone()))
        .collect();
    let mut next = Map::new();
    next.insert(
        "Chart".into(),
        Value::Object(Arc::new(ChartObject {
            metadata: c.metadata.clone(),
            is_root: parent_path.is_none(),
        })),
    );
    next.insert(
        "Files".into(),
        Value::Object(Arc::new(Files(Arc::new(files)))),
    );
    next.insert("Release".into(), release.clone());
    next.insert("Capabilities".into(), caps.clone());
    next.insert("Values".into(), values);
    next.insert("Subcharts".into(), Value::map(subcharts));
    let base_path = format!("{full}/templates");
    for t in &c.templates {
        if c.is_library() && !t.name.rsplit('/').next().unwrap_or("").starts_with('_') {
            continue;
        }
        let name = format!("{full}/{}", t.name);
        let mut data = next.clone();
        let mut tmpl = Map::new();
        tmpl.insert("Name".into(), Value::str(name.clone()));
        tmpl.insert("BasePath".into(), Value::str(base_path.clone()));
        data.insert("Template".into(), Value::map(tmpl));
        out.push(Renderable {
            name,
            text: crate::utf8_lossy(&t.data).into(),
            data: Value::map(data),
        });
    }
    Value::map(next)
}

fn collect_crds(c: &Chart, parent_path: Option<&str>, out: &mut Vec<CrdFile>) {
    let full = chart_full_path(parent_path, c.name());
    for f in c.crd_files() {
        let ext_ok = [".yaml", ".yml", ".json"]
            .iter()
            .any(|e| f.name.ends_with(e));
        if ext_ok {
            out.push(CrdFile {
                filename: format!("{full}/{}", f.name),
                data: f.data.clone(),
            });
        }
    }
    for d in &c.dependencies {
        collect_crds(d, Some(&full), out);
    }
}

/// Total size of the `values.schema.json` files of the chart and its (enabled) subcharts.
fn schema_bytes(c: &Chart) -> usize {
    c.schema.as_ref().map_or(0, |s| s.len())
        + c.dependencies.iter().map(schema_bytes).sum::<usize>()
}

/// Below this much schema, validating on a second thread costs more (thread, snapshot of the
/// values, a render that a failed validation throws away) than it saves: measured in-process,
/// external-dns (29 KB schema) took 0.73 -> 1.48 ms and bitnami-postgresql (4.5 KB) 2.9 -> 3.3 ms
/// with it; cert-manager (114 KB) and bitnami-redis (153 KB) compile their schemas for as long
/// as they take to parse their templates, and gain.
const PARALLEL_SCHEMA_BYTES: usize = 64 * 1024;

/// Helm's `sortTemplates`: deeper paths first, then reverse lexical order.
fn parse_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
    cb.cmp(&ca).then_with(|| b.cmp(a))
}

/// Helm's `cleanupParseError`.
fn cleanup_parse_error(filename: &str, err: &str) -> String {
    let tokens: Vec<&str> = err.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({filename}): {err}");
    }
    format!(
        "parse error at ({}): {}",
        tokens[1],
        tokens[tokens.len() - 1]
    )
}

/// Helm's `reformatExecErrorMsg`.
fn reformat_exec_error(filename: &str, err: &str) -> String {
    let tokens: Vec<&str> = err.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({filename}): {err}");
    }
    if let (Some(s), Some(e)) = (tokens[2].find(WARN_START), tokens[2].rfind(WARN_END)) {
        let start = s + WARN_START.len();
        if start <= e {
            return format!(
                "execution error at ({}): {}",
                tokens[1],
                &tokens[2][start..e]
            );
        }
    }
    err.to_string()
}

impl Engine {
    pub fn new() -> Self {
        Engine {
            funcs: crate::funcs::helm_funcs(),
            sets: Some(Mutex::new(HashMap::new())),
        }
    }

    /// An engine that never caches parsed templates, for a process that renders once
    /// (`trellis template`): digesting megabytes of sources would buy nothing.
    pub fn uncached() -> Self {
        Engine {
            funcs: crate::funcs::helm_funcs(),
            sets: None,
        }
    }

    /// `helm template --enable-dns`: `getHostByName` resolves names (Sprig's function)
    /// instead of returning "".
    pub fn with_dns(mut self) -> Self {
        if let Some(f) = sprig::funcs().get("getHostByName") {
            self.funcs.insert("getHostByName", f.clone());
        }
        self
    }

    /// Number of parsed template sets held in the cache.
    pub fn cached_sets(&self) -> usize {
        self.sets
            .as_ref()
            .and_then(|s| s.lock().ok().map(|s| s.len()))
            .unwrap_or(0)
    }

    /// Parse (or fetch from the cache) the set of these templates in this order.
    fn template_set(&self, tpls: &[Renderable]) -> Result<TemplateSet, RenderError> {
        let key = self.sets.as_ref().map(|_| {
            let mut h = Sha256::new();
            for t in tpls {
                h.update((t.name.len() as u64).to_le_bytes());
                h.update(t.name.as_bytes());
                h.update((t.text.len() as u64).to_le_bytes());
                h.update(t.text.as_bytes());
            }
            <[u8; 32]>::from(h.finalize())
        });
        let cache = self.sets.as_ref().and_then(|s| s.lock().ok());
        if let (Some(key), Some(cache)) = (&key, &cache)
            && let Some(set) = cache.get(key)
        {
            return Ok(set.clone());
        }
        drop(cache);
        let mut set = TemplateSet::new(self.funcs.clone());
        let files: Vec<(&str, &str)> = tpls.iter().map(|t| (&*t.name, &*t.text)).collect();
        set.parse_all(&files).map_err(|(i, e)| {
            RenderError::Template(cleanup_parse_error(&tpls[i].name, &e.to_string()))
        })?;
        if let (Some(key), Some(mut cache)) = (key, self.sets.as_ref().and_then(|s| s.lock().ok()))
        {
            if cache.len() > 256 {
                cache.clear();
            }
            cache.insert(key, set.clone());
        }
        Ok(set)
    }

    /// Render `chart` with the user's values (`-f`/`--set` already merged).
    pub fn render(
        &self,
        chart: &Chart,
        user_values: &Map,
        opts: &RenderOptions,
    ) -> Result<Rendered, RenderError> {
        match chart.metadata.chart_type.as_str() {
            "" | "application" => {}
            other => return Err(RenderError::NotInstallable(other.to_string())),
        }
        let missing: Vec<String> = chart
            .metadata
            .dependencies
            .iter()
            .filter(|r| !chart.dependencies.iter().any(|d| d.name() == r.name))
            .map(|r| r.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(RenderError::MissingDependencies(missing));
        }
        if !valid_release_name(&opts.release_name) {
            return Err(RenderError::InvalidReleaseName(opts.release_name.clone()));
        }
        let mut c = chart.clone();
        // Helm logs a warning for each table/scalar mismatch between values and defaults,
        // once per coalescing pass (dependency processing, then the render values).
        let (processed, mut value_warnings) =
            values::with_warnings(|| values::process_dependencies(&mut c, user_values));
        processed?;
        let caps = Capabilities::new(opts.kube_version.as_deref(), &opts.api_versions)
            .map_err(RenderError::KubeVersion)?;
        let (coalesced, more) =
            values::with_warnings(|| values::coalesce_values_for(&c, user_values));
        value_warnings.extend(more);
        let coalesced = coalesced?;
        if opts.skip_schema_validation || schema_bytes(&c) < PARALLEL_SCHEMA_BYTES {
            if !opts.skip_schema_validation {
                let problems = crate::schema::validate_chart(&c, &coalesced);
                if !problems.is_empty() {
                    return Err(RenderError::Schema(problems));
                }
            }
            return self.render_validated(&c, coalesced, caps, value_warnings, opts);
        }
        // Helm validates the values before rendering. Validation only reads a snapshot of
        // them (templates may `set` into the live maps), so it runs on a second thread while
        // this one renders; a schema failure then wins over whatever rendering returned,
        // exactly as if validation had come first. Compiling a large schema costs as much as
        // parsing the templates.
        let snapshot = match Value::map(coalesced.clone()).deep_copy() {
            Value::Map(m, _) => m.snapshot(),
            _ => Map::new(),
        };
        // A failed validation stops the render early (its result would be discarded).
        let cancel = Arc::new(AtomicBool::new(false));
        let mut opts = opts.clone();
        if opts.exec.cancel.is_none() {
            opts.exec.cancel = Some(cancel.clone());
        }
        let opts = &opts;
        let validate = || {
            let problems = crate::schema::validate_chart(&c, &snapshot);
            if !problems.is_empty() {
                cancel.store(true, Ordering::Relaxed);
            }
            problems
        };
        let (problems, rendered) = std::thread::scope(|scope| {
            let pending = std::thread::Builder::new()
                .spawn_scoped(scope, validate)
                .ok();
            let problems_inline = match pending {
                Some(_) => None,
                None => Some(validate()),
            };
            if problems_inline.as_ref().is_some_and(|p| !p.is_empty()) {
                return (problems_inline.unwrap_or_default(), None);
            }
            let rendered = self.render_validated(&c, coalesced, caps, value_warnings, opts);
            let problems = match (problems_inline, pending) {
                (Some(p), _) => p,
                (None, Some(h)) => h.join().unwrap_or_else(|_| validate()),
                (None, None) => String::new(),
            };
            (problems, Some(rendered))
        });
        if !problems.is_empty() {
            return Err(RenderError::Schema(problems));
        }
        rendered.unwrap_or(Err(RenderError::Schema(problems)))
    }

    /// The rest of [`Engine::render`], once the values are known valid.
    fn render_validated(
        &self,
        c: &Chart,
        coalesced: Map,
        caps: Capabilities,
        value_warnings: Vec<String>,
        opts: &RenderOptions,
    ) -> Result<Rendered, RenderError> {
        if !c.metadata.kube_version.is_empty()
            && !crate::semver::is_compatible_range(
                &c.metadata.kube_version,
                &caps.kube_version.version,
            )
        {
            return Err(RenderError::IncompatibleKubeVersion {
                required: c.metadata.kube_version.clone(),
                actual: caps.kube_version.version.clone(),
            });
        }
        let mut release = Map::new();
        release.insert("Name".into(), Value::str(opts.release_name.as_str()));
        release.insert("Namespace".into(), Value::str(opts.namespace.as_str()));
        release.insert("IsUpgrade".into(), Value::Bool(opts.is_upgrade));
        release.insert("IsInstall".into(), Value::Bool(!opts.is_upgrade));
        release.insert("Revision".into(), Value::int(opts.revision));
        release.insert("Service".into(), Value::str("Helm"));
        let release = Value::map(release);
        let caps_v = Value::Object(Arc::new(caps));

        let mut tpls = Vec::new();
        collect(c, None, Value::map(coalesced), &release, &caps_v, &mut tpls);
        tpls.sort_by(|a, b| parse_order(&a.name, &b.name));
        let set = self.template_set(&tpls)?;

        let (mut files, binary_error) = crate::funcs::with_lookup(opts.lookup.as_ref(), || {
            Self::execute_all(&set, &tpls, opts)
        })?;
        if let Some(error) = binary_error {
            return Err(RenderError::Manifest {
                error,
                files: files
                    .into_iter()
                    .filter(|(_, text)| !text.trim().is_empty())
                    .collect(),
            });
        }
        let notes_name = format!("{}/templates/NOTES.txt", c.name());
        let notes = files.get(&notes_name).cloned().unwrap_or_default();
        files.retain(|k, _| !k.ends_with("NOTES.txt"));
        let sorted = match manifest::sort_manifests(&files) {
            Ok(sorted) => sorted,
            Err(error) => {
                return Err(RenderError::Manifest {
                    error,
                    files: files
                        .into_iter()
                        .filter(|(_, text)| !text.trim().is_empty())
                        .collect(),
                });
            }
        };
        let mut crds = Vec::new();
        collect_crds(c, None, &mut crds);
        Ok(Rendered {
            manifests: sorted.manifests,
            hooks: sorted.hooks,
            crds,
            notes,
            warnings: value_warnings.into_iter().chain(sorted.warnings).collect(),
        })
    }

    /// Executes every non-partial template of `tpls` (Helm removes each `<no value>`).
    ///
    /// Templates write Go's bytes. An output that is not UTF-8 is kept as text with U+FFFD for
    /// `--debug`, and the first such output (by name) that Helm's YAML reader refuses gives
    /// the error returned beside the files.
    #[allow(clippy::type_complexity)]
    fn execute_all(
        set: &TemplateSet,
        tpls: &[Renderable],
        opts: &RenderOptions,
    ) -> Result<(BTreeMap<String, String>, Option<manifest::ManifestError>), RenderError> {
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut binary_error: Option<manifest::ManifestError> = None;
        for t in tpls {
            if t.name.rsplit('/').next().unwrap_or("").starts_with('_') {
                continue;
            }
            if opts
                .exec
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                return Err(RenderError::Template(
                    gotemplate::Error::Cancelled.to_string(),
                ));
            }
            let out = set
                .execute_bytes(&t.name, &t.data, &opts.exec)
                .map_err(|e| RenderError::Template(reformat_exec_error(&t.name, &e.to_string())))?;
            // Helm removes every "<no value>"; most outputs have none, so look before copying.
            let out = crate::replace_no_value(out);
            let out = match String::from_utf8(out) {
                Ok(text) => text,
                Err(e) => {
                    let bytes = e.into_bytes();
                    let is_notes = t.name.ends_with("NOTES.txt");
                    if binary_error.as_ref().is_none_or(|b| b.source_path > t.name) && !is_notes {
                        binary_error = manifest::binary_manifest_error(&t.name, &bytes);
                    }
                    gotemplate::value::go_lossy(&bytes).into_owned()
                }
            };
            files.insert(t.name.clone(), out);
        }
        Ok((files, binary_error))
    }
}

/// How `helm template` prints a [`Rendered`].
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    pub include_crds: bool,
    pub skip_tests: bool,
    pub no_hooks: bool,
    /// `--show-only` patterns (Go `filepath.Match` against the path below the chart name).
    pub show_only: Vec<String>,
}

/// A `--show-only` pattern that matched nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not find template {0} in chart")]
pub struct ShowOnlyError(pub String);

impl Rendered {
    /// The release manifest part (CRDs if asked, then manifests), as Helm builds it.
    /// The manifests part of the output (CRDs first with `include_crds`): what Helm hands a
    /// post-renderer on stdin.
    pub fn manifest_text(&self, include_crds: bool) -> String {
        let mut b = String::new();
        if include_crds {
            for crd in &self.crds {
                b.push_str(&format!(
                    "---\n# Source: {}\n{}\n",
                    crd.filename,
                    crate::utf8_lossy(&crd.data)
                ));
            }
        }
        for m in &self.manifests {
            b.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
        }
        b
    }

    /// Exactly what `helm template` writes to stdout.
    pub fn to_helm_output(&self, o: &OutputOptions) -> Result<String, ShowOnlyError> {
        self.to_helm_output_with(o, None)
    }

    /// [`Rendered::to_helm_output`] with the manifests part replaced by `manifests` (what a
    /// post-renderer made of [`Rendered::manifest_text`]); hooks are never post-rendered.
    pub fn to_helm_output_with(
        &self,
        o: &OutputOptions,
        manifests: Option<&str>,
    ) -> Result<String, ShowOnlyError> {
        let text = match manifests {
            Some(m) => m.to_string(),
            None => self.manifest_text(o.include_crds),
        };
        let mut out = String::from(text.trim());
        out.push('\n');
        if !o.no_hooks {
            for h in &self.hooks {
                if o.skip_tests && h.is_test() {
                    continue;
                }
                for piece in ["---\n# Source: ", &h.source, "\n", &h.content, "\n"] {
                    out.push_str(piece);
                }
            }
        }
        if o.show_only.is_empty() {
            return Ok(out);
        }
        let pieces = manifest::split_manifests(&out);
        let mut result = String::new();
        for pattern in &o.show_only {
            let mut missing = true;
            for m in &pieces {
                let Some(path) = source_below_chart(m) else {
                    continue;
                };
                if crate::ignore::go_match(pattern, path).unwrap_or(false) {
                    result.push_str(&format!("---\n{m}\n"));
                    missing = false;
                }
            }
            if missing {
                return Err(ShowOnlyError(pattern.clone()));
            }
        }
        Ok(result)
    }

    /// `--output-dir`: write each object to `DIR/<source path>` as Helm does (CRDs and
    /// manifests first, then hooks appended), returning the `wrote ...` lines.
    pub fn write_output_dir(
        &self,
        dir: &std::path::Path,
        o: &OutputOptions,
    ) -> std::io::Result<String> {
        use std::io::Write;
        let mut log = String::new();
        let mut written: std::collections::HashSet<String> = std::collections::HashSet::new();
        let write =
            |name: &str, data: &str, append: bool, log: &mut String| -> std::io::Result<()> {
                let path = format!("{}/{}", dir.display(), name);
                if let Some(parent) = std::path::Path::new(&path).parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(append)
                    .truncate(!append)
                    .open(&path)?;
                f.write_all(format!("---\n# Source: {name}\n{data}\n").as_bytes())?;
                log.push_str(&format!("wrote {path}\n"));
                Ok(())
            };
        if o.include_crds {
            for crd in &self.crds {
                let append = written.contains(&crd.filename);
                write(
                    &crd.filename,
                    &crate::utf8_lossy(&crd.data),
                    append,
                    &mut log,
                )?;
                written.insert(crd.filename.clone());
            }
        }
        for m in &self.manifests {
            let append = written.contains(&m.source);
            write(&m.source, &m.content, append, &mut log)?;
            written.insert(m.source.clone());
        }
        if !o.no_hooks {
            for h in &self.hooks {
                if o.skip_tests && h.is_test() {
                    continue;
                }
                let append = dir.join(&h.source).exists();
                write(&h.source, &h.content, append, &mut log)?;
            }
        }
        Ok(log)
    }
}

/// Helm's `# Source: [^/]+/(.+)` match: the template path below the chart name.
fn source_below_chart(m: &str) -> Option<&str> {
    let idx = m.find("# Source: ")?;
    let rest = &m[idx + "# Source: ".len()..];
    let line = rest.split('\n').next()?;
    let slash = line.find('/')?;
    if slash == 0 {
        return None;
    }
    let path = &line[slash + 1..];
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_error_reformatting() {
        assert_eq!(
            reformat_exec_error(
                "c/templates/a.yaml",
                "template: c/templates/a.yaml:1:6: executing \"c/templates/a.yaml\" at <required \"x\" .Values.y>: error calling required: HELM_ERR_STARTneed xHELM_ERR_END"
            ),
            "execution error at (c/templates/a.yaml:1:6): need x"
        );
        assert_eq!(
            cleanup_parse_error(
                "c/templates/a.yaml",
                "template: c/templates/a.yaml:2: unclosed action started at c/templates/a.yaml:1"
            ),
            "parse error at (c/templates/a.yaml:2): unclosed action started at c/templates/a.yaml:1"
        );
    }

    #[test]
    fn release_names() {
        assert!(valid_release_name("my-rel.v1"));
        assert!(!valid_release_name("Bad_Name"));
        assert!(!valid_release_name(&"a".repeat(54)));
    }

    #[test]
    fn template_parse_order() {
        let mut v = vec![
            "a/templates/x.yaml",
            "a/charts/b/templates/y.yaml",
            "a/templates/z.yaml",
        ];
        v.sort_by(|a, b| parse_order(a, b));
        assert_eq!(
            v,
            [
                "a/charts/b/templates/y.yaml",
                "a/templates/z.yaml",
                "a/templates/x.yaml"
            ]
        );
    }
}
