//! Desired objects and what their annotations say: identity ([`ObjKey`]), tracking ids, sync waves,
//! per-object sync options and hook declarations (Helm's and Argo CD's), plus reading manifests from
//! YAML.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Annotation that marks an object as managed by a Trellis application.
pub const TRACKING_ID: &str = "trellis.dev/tracking-id";
/// Trellis' own sync-wave annotation.
pub const TRELLIS_SYNC_WAVE: &str = "trellis.dev/sync-wave";
/// Argo CD's sync-wave annotation (honoured too).
pub const ARGO_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// Trellis' per-object sync options.
pub const TRELLIS_SYNC_OPTIONS: &str = "trellis.dev/sync-options";
/// Argo CD's per-object sync options.
pub const ARGO_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// Argo CD's per-object compare options (`IgnoreExtraneous`, `ServerSideDiff=true`).
pub const ARGO_COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";
/// Trellis' per-object compare options (same values).
pub const TRELLIS_COMPARE_OPTIONS: &str = "trellis.dev/compare-options";
/// Helm hook annotation.
pub const HELM_HOOK: &str = "helm.sh/hook";
/// Helm hook weight.
pub const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm hook delete policy.
pub const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";
/// Helm resource policy (`keep` means never delete).
pub const HELM_RESOURCE_POLICY: &str = "helm.sh/resource-policy";
/// Argo CD hook annotation.
pub const ARGO_HOOK: &str = "argocd.argoproj.io/hook";
/// Argo CD hook delete policy.
pub const ARGO_HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Per-hook timeout (Go duration, e.g. `30s`, `10m`); default [`DEFAULT_HOOK_TIMEOUT`].
pub const HOOK_TIMEOUT: &str = "trellis.dev/hook-timeout";
/// Digest of the desired object as last applied by Trellis (lets an unchanged object be recognised
/// as Synced without asking the server).
pub const APPLIED_DIGEST: &str = "trellis.dev/applied-digest";
/// Default time a hook may take.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// Identity of a Kubernetes object: group, kind, namespace (empty when cluster-scoped) and name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ObjKey {
    /// API group (`""` for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjKey {
    /// Identity of a JSON object (group taken from `apiVersion`).
    pub fn of(obj: &Value) -> ObjKey {
        let api_version = str_at(obj, &["apiVersion"]).unwrap_or_default();
        ObjKey {
            group: group_of(api_version).to_string(),
            kind: str_at(obj, &["kind"]).unwrap_or_default().to_string(),
            namespace: str_at(obj, &["metadata", "namespace"])
                .unwrap_or_default()
                .to_string(),
            name: str_at(obj, &["metadata", "name"])
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// The tracking id that the application whose tracking key is `app` (see
    /// [`AppId::tracking_key`]) writes on this object.
    pub fn tracking_id(&self, app: &str) -> String {
        format!(
            "{app}:{}/{}:{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }

    /// `group/kind`, `kind` for the core group.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        }
    }
}

impl fmt::Display for ObjKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.group_kind(), self.name)
        } else {
            write!(f, "{}/{}/{}", self.group_kind(), self.namespace, self.name)
        }
    }
}

/// The identity of an application: the namespace it belongs to and its name. Two applications of
/// the same name in two namespaces are two applications everywhere: in tracking ids, the cache's
/// per-application index, operation state, diff, prune, hooks and deletion.
///
/// For `trellis deploy` the application's namespace is its destination namespace; for the
/// controller's `Application` resources it is the resource's own namespace.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AppId {
    /// The namespace the application belongs to.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl AppId {
    /// An application identity.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> AppId {
        AppId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The application part of the tracking ids it writes: `<namespace>_<name>`, the form Argo CD
    /// uses for applications in any namespace. Namespaces and object names never contain `_`, so
    /// the key is unambiguous, and it never equals a key of the old form (the bare name).
    pub fn tracking_key(&self) -> String {
        format!("{}_{}", self.namespace, self.name)
    }

    /// The identity named by the application part of a tracking id; `None` for the old form
    /// (`<name>` alone, written by Trellis before applications had namespaces).
    pub fn from_tracking_key(key: &str) -> Option<AppId> {
        let (ns, name) = key.split_once('_')?;
        (!ns.is_empty() && !name.is_empty()).then(|| AppId::new(ns, name))
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// How a tracking id's application part reads to a person: `namespace/name`, or for the old form
/// `name (tracking id of an earlier Trellis version)`.
pub fn describe_tracking_key(key: &str) -> String {
    match AppId::from_tracking_key(key) {
        Some(id) => id.to_string(),
        None => format!("{key} (tracking id written by an earlier Trellis version)"),
    }
}

/// A parsed tracking id: `<app>:<group>/<kind>:<namespace>/<name>`, where `<app>` is an
/// application's tracking key (`<app-namespace>_<app-name>`, or the bare name in the old form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingId {
    /// The owning application's tracking key.
    pub app: String,
    /// The object it claims to be.
    pub key: ObjKey,
}

impl TrackingId {
    /// Parse the annotation value; `None` when malformed.
    pub fn parse(s: &str) -> Option<TrackingId> {
        let (app, rest) = s.split_once(':')?;
        let (gk, nn) = rest.split_once(':')?;
        let (group, kind) = gk.split_once('/')?;
        let (namespace, name) = nn.split_once('/')?;
        if app.is_empty() || kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(TrackingId {
            app: app.to_string(),
            key: ObjKey {
                group: group.to_string(),
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
        })
    }

    /// The tracking id of a live object, if it carries one that matches its own identity (a copied
    /// annotation on another object does not count).
    pub fn of_live(obj: &Value) -> Option<TrackingId> {
        let id = TrackingId::parse(annotation(obj, TRACKING_ID)?)?;
        (id.key == ObjKey::of(obj)).then_some(id)
    }
}

/// The group part of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// A string at a path of object keys.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// An annotation's value.
pub fn annotation<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(name)?.as_str()
}

/// Set an annotation, creating `metadata.annotations` as needed.
pub fn set_annotation(obj: &mut Value, name: &str, value: &str) {
    let Some(meta) = obj.as_object_mut().map(|o| {
        o.entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
    }) else {
        return;
    };
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !ann.is_object() {
        *ann = Value::Object(Map::new());
    }
    if let Some(ann) = ann.as_object_mut() {
        ann.insert(name.to_string(), Value::String(value.to_string()));
    }
}

/// One desired object and the file it was rendered from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object as rendered.
    pub obj: Value,
    /// The template or file it came from (for error messages).
    pub source: String,
}

impl Manifest {
    /// A manifest after checking that it names a Kubernetes object.
    pub fn new(obj: Value, source: impl Into<String>) -> Result<Manifest> {
        let source = source.into();
        let bad = |message: &str| Error::InvalidManifest {
            source_path: source.clone(),
            message: message.to_string(),
        };
        if !obj.is_object() {
            return Err(bad("not a mapping"));
        }
        if str_at(&obj, &["apiVersion"]).is_none_or(str::is_empty) {
            return Err(bad("missing apiVersion"));
        }
        if str_at(&obj, &["kind"]).is_none_or(str::is_empty) {
            return Err(bad("missing kind"));
        }
        if str_at(&obj, &["metadata", "name"]).is_none_or(str::is_empty) {
            return Err(bad("missing metadata.name"));
        }
        Ok(Manifest { obj, source })
    }

    /// The object's identity as rendered (namespace possibly still empty).
    pub fn key(&self) -> ObjKey {
        ObjKey::of(&self.obj)
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        str_at(&self.obj, &["apiVersion"]).unwrap_or_default()
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        str_at(&self.obj, &["kind"]).unwrap_or_default()
    }

    /// An annotation's value.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        annotation(&self.obj, name)
    }
}

/// Parse a stream of YAML documents (`---` separated) into manifests; empty documents are skipped and
/// `kind: List` is flattened, as kubectl does.
pub fn manifests_from_yaml(text: &str, source: &str) -> Result<Vec<Manifest>> {
    objects_from_yaml(text, source)?
        .into_iter()
        .map(|obj| Manifest::new(obj, source))
        .collect()
}

/// The values of a stream of YAML documents, empty documents skipped and `kind: *List` flattened,
/// without checking that they are Kubernetes objects. Each document is read as kubectl, Helm's
/// client and Argo CD read manifests (`sigs.k8s.io/yaml` on go-yaml v2: YAML 1.1 scalars, a
/// repeated key taking its last value), with their error texts and the document's first line.
pub fn objects_from_yaml(text: &str, source: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, (doc, first_line)) in split_yaml_documents(text).into_iter().enumerate() {
        if doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let value = goyaml::yaml::parse_json(&doc).map_err(|e| Error::InvalidManifest {
            source_path: source.to_string(),
            message: match e.line {
                Some(l) => format!(
                    "document {} (line {} of the file): {e}",
                    i + 1,
                    first_line + l - 1
                ),
                None => format!("document {} (from line {first_line}): {e}", i + 1),
            },
        })?;
        if value.is_null() {
            continue;
        }
        if str_at(&value, &["kind"]).is_some_and(|k| k.ends_with("List"))
            && let Some(items) = value.get("items").and_then(Value::as_array)
        {
            out.extend(items.iter().cloned());
            continue;
        }
        out.push(value);
    }
    Ok(out)
}

/// Split on lines that are exactly `---` (optionally followed by a comment or spaces): each
/// document with the 1-based line it starts on.
fn split_yaml_documents(text: &str) -> Vec<(String, usize)> {
    let mut docs = vec![(String::new(), 1)];
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") || t.starts_with("---\t") {
            docs.push((String::new(), n + 2));
            continue;
        }
        let cur = &mut docs
            .last_mut()
            .expect("docs starts non-empty and only grows")
            .0;
        if t == "..." {
            // The end of a document: keep the line count, drop the marker.
            cur.push('\n');
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs
}

/// Sync phases, in execution order (SyncFail only runs after a failure; PreDelete/PostDelete only on
/// deletion).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Phase {
    /// Before anything is applied.
    PreSync,
    /// The application's resources (and `Sync` hooks).
    Sync,
    /// After all resources are applied and healthy.
    PostSync,
    /// After a failed sync.
    SyncFail,
    /// Before the application's resources are deleted.
    PreDelete,
    /// After the application's resources are deleted.
    PostDelete,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// When a hook object is deleted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum DeletePolicy {
    /// Delete the previous instance before creating the hook again (the default).
    BeforeHookCreation,
    /// Delete after the hook succeeded.
    HookSucceeded,
    /// Delete after the hook failed.
    HookFailed,
}

/// What an object's hook annotations declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookRole {
    /// Not a hook: an ordinary resource of the application.
    Resource,
    /// Never applied (Argo CD `Skip`, Helm `test`, `pre-rollback`... or a Helm install hook on an
    /// upgrade).
    Skipped,
    /// A hook that runs in these phases of this operation.
    Hook(Hook),
}

/// A hook to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The phases it runs in (usually one).
    pub phases: BTreeSet<Phase>,
    /// Delete policies.
    pub delete_policies: BTreeSet<DeletePolicy>,
    /// How long to wait for it to finish.
    pub timeout: Duration,
}

/// Classify an object by its hook annotations. `first_sync` says whether this is the application's
/// first sync (Helm's install) or a later one (Helm's upgrade). Argo CD's annotation wins over Helm's
/// when both are present, as in Argo CD.
pub fn hook_role(obj: &Value, first_sync: bool) -> HookRole {
    let mut phases = BTreeSet::new();
    let argo = annotation(obj, ARGO_HOOK);
    let helm = annotation(obj, HELM_HOOK);
    if let Some(argo) = argo {
        for h in argo.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match h {
                "PreSync" => phases.insert(Phase::PreSync),
                "Sync" => phases.insert(Phase::Sync),
                "PostSync" => phases.insert(Phase::PostSync),
                "SyncFail" => phases.insert(Phase::SyncFail),
                "PreDelete" => phases.insert(Phase::PreDelete),
                "PostDelete" => phases.insert(Phase::PostDelete),
                "Skip" => return HookRole::Skipped,
                _ => false,
            };
        }
    } else if let Some(helm) = helm {
        for h in helm.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match h {
                "pre-install" if first_sync => phases.insert(Phase::PreSync),
                "post-install" if first_sync => phases.insert(Phase::PostSync),
                "pre-upgrade" if !first_sync => phases.insert(Phase::PreSync),
                "post-upgrade" if !first_sync => phases.insert(Phase::PostSync),
                "pre-delete" => phases.insert(Phase::PreDelete),
                "post-delete" => phases.insert(Phase::PostDelete),
                _ => false,
            };
        }
    } else {
        return HookRole::Resource;
    }
    if phases.is_empty() {
        return HookRole::Skipped;
    }
    let mut delete_policies = BTreeSet::new();
    let policy = if argo.is_some() {
        annotation(obj, ARGO_HOOK_DELETE_POLICY)
            .or_else(|| annotation(obj, HELM_HOOK_DELETE_POLICY))
    } else {
        annotation(obj, HELM_HOOK_DELETE_POLICY)
            .or_else(|| annotation(obj, ARGO_HOOK_DELETE_POLICY))
    };
    for p in policy.unwrap_or_default().split(',').map(str::trim) {
        match p {
            "before-hook-creation" | "BeforeHookCreation" => {
                delete_policies.insert(DeletePolicy::BeforeHookCreation)
            }
            "hook-succeeded" | "HookSucceeded" => {
                delete_policies.insert(DeletePolicy::HookSucceeded)
            }
            "hook-failed" | "HookFailed" => delete_policies.insert(DeletePolicy::HookFailed),
            _ => false,
        };
    }
    if delete_policies.is_empty() {
        delete_policies.insert(DeletePolicy::BeforeHookCreation);
    }
    let timeout = annotation(obj, HOOK_TIMEOUT)
        .and_then(parse_duration)
        .unwrap_or(DEFAULT_HOOK_TIMEOUT);
    HookRole::Hook(Hook {
        phases,
        delete_policies,
        timeout,
    })
}

/// The sync wave: `trellis.dev/sync-wave`, else `argocd.argoproj.io/sync-wave`, else (for hooks)
/// `helm.sh/hook-weight`, else 0. Unparseable values count as 0, as in Argo CD.
pub fn sync_wave(obj: &Value) -> i64 {
    [TRELLIS_SYNC_WAVE, ARGO_SYNC_WAVE, HELM_HOOK_WEIGHT]
        .iter()
        .find_map(|a| annotation(obj, a))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Per-object sync options from `trellis.dev/sync-options` and `argocd.argoproj.io/sync-options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOptions {
    /// `Prune=false` keeps the object when it leaves the desired set.
    pub prune: bool,
    /// `PruneLast=true` prunes it after everything else.
    pub prune_last: bool,
    /// `Replace=true` uses replace (PUT/create) instead of server-side apply.
    pub replace: Option<bool>,
    /// `Validate=false` skips server-side field validation.
    pub validate: Option<bool>,
    /// `Delete=false` keeps it when the application is deleted.
    pub delete: bool,
    /// `AllowTakeOver=true` lets this application take the object over from another one.
    pub allow_takeover: bool,
    /// `ServerSideApply=true` applies server-side even where `Replace=true` is set for the
    /// application (server-side apply is the default).
    pub server_side_apply: Option<bool>,
    /// `SkipDryRunOnMissingResource=true`: a custom resource whose kind is not served yet is
    /// looked up again when it is applied (its CRD may come from an earlier wave or another
    /// application) instead of being judged from the kinds known when the sync started.
    pub skip_dry_run_on_missing_resource: bool,
}

impl ObjectOptions {
    /// Read an object's options.
    pub fn of(obj: &Value) -> ObjectOptions {
        let mut o = ObjectOptions {
            prune: true,
            prune_last: false,
            replace: None,
            validate: None,
            delete: true,
            allow_takeover: false,
            server_side_apply: None,
            skip_dry_run_on_missing_resource: false,
        };
        if annotation(obj, HELM_RESOURCE_POLICY) == Some("keep") {
            o.prune = false;
            o.delete = false;
        }
        for ann in [ARGO_SYNC_OPTIONS, TRELLIS_SYNC_OPTIONS] {
            for opt in annotation(obj, ann).unwrap_or_default().split(',') {
                let Some((k, v)) = opt.trim().split_once('=') else {
                    continue;
                };
                let b = v.trim().eq_ignore_ascii_case("true");
                match k.trim() {
                    "Prune" => o.prune = b,
                    "PruneLast" => o.prune_last = b,
                    "Replace" => o.replace = Some(b),
                    "Validate" => o.validate = Some(b),
                    "Delete" => o.delete = b,
                    "AllowTakeOver" => o.allow_takeover = b,
                    "ServerSideApply" => o.server_side_apply = Some(b),
                    "SkipDryRunOnMissingResource" => o.skip_dry_run_on_missing_resource = b,
                    _ => {}
                }
            }
        }
        o
    }
}

/// Per-object compare options from `argocd.argoproj.io/compare-options` and
/// `trellis.dev/compare-options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// `IgnoreExtraneous`: when the object is live but no longer desired (it would be pruned),
    /// it does not make the application OutOfSync (its own status still shows).
    pub ignore_extraneous: bool,
    /// `ServerSideDiff=true|false` as written. Trellis always compares with the result of a
    /// server-side apply dry run, so both values are accepted and change nothing.
    pub server_side_diff: Option<bool>,
}

impl CompareOptions {
    /// Read an object's compare options.
    pub fn of(obj: &Value) -> CompareOptions {
        let mut o = CompareOptions::default();
        for ann in [ARGO_COMPARE_OPTIONS, TRELLIS_COMPARE_OPTIONS] {
            for opt in annotation(obj, ann).unwrap_or_default().split(',') {
                let (k, v) = opt.trim().split_once('=').unwrap_or((opt.trim(), "true"));
                let b = v.trim().eq_ignore_ascii_case("true");
                match k.trim() {
                    "IgnoreExtraneous" => o.ignore_extraneous = b,
                    "ServerSideDiff" => o.server_side_diff = Some(b),
                    _ => {}
                }
            }
        }
        o
    }
}

/// Parse a Go duration (`300ms`, `1.5s`, `2m30s`, `1h`); a bare number means seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return (secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_ann(ann: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": ann}})
    }

    #[test]
    fn tracking_id_round_trips_and_rejects_copies() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"}});
        let key = ObjKey::of(&obj);
        let id = key.tracking_id("shop");
        assert_eq!(id, "shop:apps/Deployment:ns/web");
        assert_eq!(TrackingId::parse(&id).map(|t| t.key), Some(key));
        let mut copied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "other", "namespace": "ns"}});
        set_annotation(&mut copied, TRACKING_ID, &id);
        assert_eq!(TrackingId::of_live(&copied), None);
        let core = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}});
        assert_eq!(ObjKey::of(&core).tracking_id("a"), "a:/ConfigMap:n/c");
        assert!(TrackingId::parse("a:/ConfigMap:n/c").is_some());
        assert!(TrackingId::parse("garbage").is_none());
    }

    #[test]
    fn app_ids_make_distinct_unambiguous_tracking_keys() {
        let a = AppId::new("team-a", "app");
        let b = AppId::new("team-b", "app");
        assert_ne!(a.tracking_key(), b.tracking_key());
        assert_eq!(a.tracking_key(), "team-a_app");
        assert_eq!(AppId::from_tracking_key(&a.tracking_key()), Some(a.clone()));
        assert_eq!(AppId::from_tracking_key("app"), None, "old form");
        let key = ObjKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "team-a".into(),
            name: "app".into(),
        };
        let id = TrackingId::parse(&key.tracking_id(&a.tracking_key())).expect("parses");
        assert_eq!(id.app, "team-a_app");
        assert_eq!(id.key, key);
        assert_eq!(describe_tracking_key("team-a_app"), "team-a/app");
        assert!(describe_tracking_key("app").contains("earlier Trellis version"));
    }

    #[test]
    fn helm_install_hooks_run_only_on_first_sync() {
        let obj = with_ann(json!({"helm.sh/hook": "pre-install,post-install"}));
        let HookRole::Hook(h) = hook_role(&obj, true) else {
            panic!("expected a hook")
        };
        assert_eq!(h.phases, BTreeSet::from([Phase::PreSync, Phase::PostSync]));
        assert_eq!(
            h.delete_policies,
            BTreeSet::from([DeletePolicy::BeforeHookCreation])
        );
        assert_eq!(hook_role(&obj, false), HookRole::Skipped);
        let up = with_ann(
            json!({"helm.sh/hook": "pre-upgrade", "helm.sh/hook-delete-policy": "hook-succeeded,hook-failed"}),
        );
        assert_eq!(hook_role(&up, true), HookRole::Skipped);
        let HookRole::Hook(h) = hook_role(&up, false) else {
            panic!("expected a hook")
        };
        assert_eq!(
            h.delete_policies,
            BTreeSet::from([DeletePolicy::HookSucceeded, DeletePolicy::HookFailed])
        );
        assert_eq!(
            hook_role(&with_ann(json!({"helm.sh/hook": "test"})), true),
            HookRole::Skipped
        );
    }

    #[test]
    fn argo_hooks_win_and_run_every_sync() {
        let obj = with_ann(
            json!({"argocd.argoproj.io/hook": "PreSync", "helm.sh/hook": "post-install",
            "trellis.dev/hook-timeout": "30s", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}),
        );
        for first in [true, false] {
            let HookRole::Hook(h) = hook_role(&obj, first) else {
                panic!("expected a hook")
            };
            assert_eq!(h.phases, BTreeSet::from([Phase::PreSync]));
            assert_eq!(h.timeout, Duration::from_secs(30));
            assert_eq!(
                h.delete_policies,
                BTreeSet::from([DeletePolicy::HookSucceeded])
            );
        }
        assert_eq!(
            hook_role(&with_ann(json!({"argocd.argoproj.io/hook": "Skip"})), true),
            HookRole::Skipped
        );
        assert_eq!(hook_role(&with_ann(json!({})), true), HookRole::Resource);
    }

    #[test]
    fn waves_prefer_trellis_then_argo_then_helm_weight() {
        assert_eq!(
            sync_wave(&with_ann(json!({"helm.sh/hook-weight": "-5"}))),
            -5
        );
        assert_eq!(
            sync_wave(&with_ann(
                json!({"argocd.argoproj.io/sync-wave": "3", "helm.sh/hook-weight": "-5"})
            )),
            3
        );
        assert_eq!(
            sync_wave(&with_ann(
                json!({"trellis.dev/sync-wave": "7", "argocd.argoproj.io/sync-wave": "3"})
            )),
            7
        );
        assert_eq!(
            sync_wave(&with_ann(json!({"trellis.dev/sync-wave": "x"}))),
            0
        );
    }

    #[test]
    fn object_options_parse_both_annotations() {
        let o = ObjectOptions::of(&with_ann(json!({
            "argocd.argoproj.io/sync-options": "Prune=false,Replace=true",
            "trellis.dev/sync-options": "PruneLast=true, Validate=false"})));
        assert!(!o.prune && o.prune_last && o.replace == Some(true) && o.validate == Some(false));
        assert!(!ObjectOptions::of(&with_ann(json!({"helm.sh/resource-policy": "keep"}))).prune);
        let o = ObjectOptions::of(&with_ann(json!({
            "argocd.argoproj.io/sync-options": "ServerSideApply=true,SkipDryRunOnMissingResource=true,Delete=false"})));
        assert!(
            o.server_side_apply == Some(true) && o.skip_dry_run_on_missing_resource && !o.delete
        );
    }

    #[test]
    fn compare_options_parse_flags_and_values() {
        let c = CompareOptions::of(&with_ann(json!({
            "argocd.argoproj.io/compare-options": "IgnoreExtraneous, ServerSideDiff=true"})));
        assert!(c.ignore_extraneous && c.server_side_diff == Some(true));
        assert_eq!(
            CompareOptions::of(&with_ann(json!({}))),
            CompareOptions::default()
        );
        assert!(
            CompareOptions::of(&with_ann(
                json!({"trellis.dev/compare-options": "IgnoreExtraneous"})
            ))
            .ignore_extraneous
        );
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("12"), Some(Duration::from_secs(12)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn yaml_streams_split_and_flatten_lists() {
        let text = "# comment only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  mode: 0755\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n";
        let ms = manifests_from_yaml(text, "x.yaml").expect("valid yaml");
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].obj["data"]["mode"], json!(493));
        assert_eq!(ms[1].kind(), "Secret");
        let err = manifests_from_yaml("kind: ConfigMap\nmetadata: {name: a}\n", "bad.yaml")
            .expect_err("no apiVersion");
        assert!(
            err.to_string().contains("bad.yaml") && err.to_string().contains("apiVersion"),
            "{err}"
        );
    }

    /// Manifests are read as kubectl reads them (`sigs.k8s.io/yaml`, go-yaml v2, YAML 1.1), not
    /// as YAML 1.2: the values the API server would receive from `kubectl apply -f`.
    #[test]
    fn manifests_read_with_yaml_1_1_as_kubectl_does() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\ndata:\n  x: 1\nbase: &b {replicas: 2}\nspec:\n  <<: *b\n  on: yes\n  mode: 0755\n  big: 9007199254740993\n  ratio: 1.5\n  whole: 2.0\n  none: ~\n  sexagesimal: 1:20\n";
        let v = objects_from_yaml(text, "cm.yaml").expect("valid");
        let o = &v[0];
        assert_eq!(
            o["metadata"]["name"], "b",
            "a repeated key takes its last value"
        );
        assert_eq!(o["spec"]["replicas"], 2, "merge key");
        assert_eq!(o["spec"]["true"], true, "`on: yes` is the bool key true");
        assert_eq!(o["spec"]["mode"], 493, "0755 is octal");
        assert_eq!(
            o["spec"]["big"], 9007199254740993_i64,
            "integers stay exact"
        );
        assert_eq!(o["spec"]["ratio"], 1.5);
        assert!(o["spec"]["whole"].is_i64(), "2.0 reaches the server as 2");
        assert!(o["spec"]["none"].is_null());
        assert_eq!(
            o["spec"]["sexagesimal"], "1:20",
            "go-yaml v2 has no base 60"
        );
    }

    /// A syntax error names the document and the line of the file, in go-yaml's words.
    #[test]
    fn yaml_errors_name_the_document_and_the_file_line() {
        let text = "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\nmetadata:\n  name: x\n   bad: y\n";
        let err = objects_from_yaml(text, "two.yaml")
            .expect_err("bad yaml")
            .to_string();
        assert!(err.contains("two.yaml"), "{err}");
        assert!(err.contains("document 2 (line 8 of the file)"), "{err}");
        assert!(
            err.contains("mapping values are not allowed in this context"),
            "{err}"
        );
    }
}
