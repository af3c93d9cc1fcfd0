//! Rendered files → Kubernetes objects as Helm's `releaseutil` sees them: splitting on
//! `---`, reading each document's head (apiVersion, kind, metadata name, namespace,
//! annotations), separating hooks (`helm.sh/hook`, weight, delete policy) from plain
//! manifests, and sorting both in Helm's install order by kind.

use std::collections::BTreeMap;

use gotemplate::Value;

/// Helm's `InstallOrder`.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// The identifying head of one rendered object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub annotations: BTreeMap<String, String>,
}

/// A non-hook object of the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Template path, e.g. `mychart/templates/deployment.yaml`.
    pub source: String,
    /// The document text, trimmed.
    pub content: String,
    pub head: Head,
}

/// A Helm hook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookEvent {
    PreInstall,
    PostInstall,
    PreDelete,
    PostDelete,
    PreUpgrade,
    PostUpgrade,
    PreRollback,
    PostRollback,
    Test,
}

impl HookEvent {
    fn parse(s: &str) -> Option<HookEvent> {
        Some(match s {
            "pre-install" => HookEvent::PreInstall,
            "post-install" => HookEvent::PostInstall,
            "pre-delete" => HookEvent::PreDelete,
            "post-delete" => HookEvent::PostDelete,
            "pre-upgrade" => HookEvent::PreUpgrade,
            "post-upgrade" => HookEvent::PostUpgrade,
            "pre-rollback" => HookEvent::PreRollback,
            "post-rollback" => HookEvent::PostRollback,
            "test" | "test-success" => HookEvent::Test,
            _ => return None,
        })
    }
}

/// A hook object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub source: String,
    pub content: String,
    pub head: Head,
    pub events: Vec<HookEvent>,
    /// `helm.sh/hook-weight` (0 when absent or not an integer).
    pub weight: i64,
    /// `helm.sh/hook-delete-policy` entries, lower-cased.
    pub delete_policies: Vec<String>,
}

impl Hook {
    pub fn is_test(&self) -> bool {
        self.events.contains(&HookEvent::Test)
    }
}

/// Helm's `SplitManifests`: split on `---` at line starts, trim, drop empty pieces.
pub fn split_manifests(big: &str) -> Vec<String> {
    let text = big.trim();
    let mut docs = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    let push = |piece: &str, docs: &mut Vec<String>| {
        if !piece.is_empty() {
            docs.push(piece.trim().to_string());
        }
    };
    while i + 3 <= bytes.len() {
        let at_line_start = i == 0 || bytes[i - 1] == b'\n';
        if at_line_start && &bytes[i..i + 3] == b"---" {
            // The separator also eats the whitespace before the newline.
            let mut end_prev = if i == 0 { 0 } else { i - 1 };
            while end_prev > start && (bytes[end_prev - 1] as char).is_ascii_whitespace() {
                end_prev -= 1;
            }
            push(&text[start..end_prev.max(start)], &mut docs);
            let mut j = i + 3;
            while j < bytes.len() && (bytes[j] as char).is_ascii_whitespace() {
                j += 1;
            }
            start = j;
            i = j;
            continue;
        }
        i += 1;
    }
    push(&text[start..], &mut docs);
    docs
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(..) => "array",
        Value::Map(..) => "object",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        _ => "number",
    }
}

fn head_error(what: String) -> String {
    format!("error unmarshaling JSON: while decoding JSON: json: {what}")
}

fn string_field(v: Option<&Value>, field: &str) -> Result<String, String> {
    match v {
        None | Some(Value::Nil) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.to_string()),
        // sigs.k8s.io/yaml converts a scalar YAML resolved as bool or number into a string
        // when the target field is a string (`name: n` is "false", `name: 1` is "1").
        Some(v @ (Value::Bool(_) | Value::Int(..) | Value::Float(_))) => {
            Ok(gotemplate::gofmt::sprint(v))
        }
        Some(other) => Err(head_error(format!(
            "cannot unmarshal {} into Go struct field SimpleHead.{field} of type string",
            json_kind(other)
        ))),
    }
}

/// Read a document's head as Helm's `SimpleHead` does; the error text is Helm's.
pub fn parse_head(doc: &str) -> Result<Head, String> {
    let v = crate::yaml::parse(doc).map_err(|e| e.message)?;
    let m = match &v {
        Value::Nil => return Ok(Head::default()),
        Value::Map(m, _) => m.snapshot(),
        other => {
            return Err(head_error(format!(
                "cannot unmarshal {} into Go value of type releaseutil.SimpleHead",
                json_kind(other)
            )));
        }
    };
    let mut head = Head {
        api_version: string_field(m.get("apiVersion"), "apiVersion")?,
        kind: string_field(m.get("kind"), "kind")?,
        ..Head::default()
    };
    match m.get("metadata") {
        None | Some(Value::Nil) => {}
        Some(Value::Map(md, _)) => {
            head.name = string_field(md.get("name").as_ref(), "metadata.name")?;
            if let Some(Value::String(ns)) = md.get("namespace") {
                head.namespace = ns.to_string();
            }
            match md.get("annotations") {
                None | Some(Value::Nil) => {}
                Some(Value::Map(a, _)) => {
                    for (k, v) in a.read().iter() {
                        match v {
                            Value::String(s) => {
                                head.annotations.insert(k.clone(), s.to_string());
                            }
                            Value::Nil => {
                                head.annotations.insert(k.clone(), String::new());
                            }
                            other => {
                                return Err(head_error(format!(
                                    "cannot unmarshal {} into Go struct field .metadata.annotations of type string",
                                    json_kind(other)
                                )));
                            }
                        }
                    }
                }
                Some(other) => {
                    return Err(head_error(format!(
                        "cannot unmarshal {} into Go struct field .metadata.annotations of type map[string]string",
                        json_kind(&other)
                    )));
                }
            }
        }
        Some(other) => {
            return Err(head_error(format!(
                "cannot unmarshal {} into Go struct field SimpleHead.metadata of type struct {{ Name string \"json:\\\"name\\\"\"; Annotations map[string]string \"json:\\\"annotations\\\"\" }}",
                json_kind(other)
            )));
        }
    }
    Ok(head)
}

/// Result of sorting rendered files.
#[derive(Debug, Clone, Default)]
pub struct Sorted {
    pub manifests: Vec<Manifest>,
    pub hooks: Vec<Hook>,
    /// Helm's log lines (unknown hooks), for stderr.
    pub warnings: Vec<String>,
}

/// A document that is not YAML (or not an object head).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("YAML parse error on {source_path}: {message}")]
pub struct ManifestError {
    pub source_path: String,
    pub message: String,
}

fn kind_rank(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

/// Helm's `lessByKind` as an ordering for a stable sort.
fn by_kind(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (kind_rank(a), kind_rank(b)) {
        (None, None) => a.cmp(b),
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

/// Helm's `SortManifests`: `files` are rendered outputs keyed by template path.
pub fn sort_manifests(files: &BTreeMap<String, String>) -> Result<Sorted, ManifestError> {
    let mut out = Sorted::default();
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(content) {
            let head = parse_head(&doc).map_err(|message| ManifestError {
                source_path: path.clone(),
                message,
            })?;
            let Some(hook_types) = head.annotations.get("helm.sh/hook").cloned() else {
                out.manifests.push(Manifest {
                    source: path.clone(),
                    content: doc,
                    head,
                });
                continue;
            };
            let mut events = Vec::new();
            let mut unknown = false;
            for t in hook_types.split(',') {
                match HookEvent::parse(&t.trim().to_lowercase()) {
                    Some(e) => events.push(e),
                    None => {
                        unknown = true;
                        break;
                    }
                }
            }
            if unknown {
                out.warnings
                    .push(format!("info: skipping unknown hook: {:?}", hook_types));
                continue;
            }
            let weight = head
                .annotations
                .get("helm.sh/hook-weight")
                .and_then(|w| w.parse::<i64>().ok())
                .unwrap_or(0);
            let delete_policies = head
                .annotations
                .get("helm.sh/hook-delete-policy")
                .map(|p| {
                    p.split(',')
                        .map(|x| x.trim().to_lowercase())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            out.hooks.push(Hook {
                source: path.clone(),
                content: doc,
                head,
                events,
                weight,
                delete_policies,
            });
        }
    }
    out.manifests
        .sort_by(|a, b| by_kind(&a.head.kind, &b.head.kind));
    out.hooks
        .sort_by(|a, b| by_kind(&a.head.kind, &b.head.kind));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_helm() {
        assert_eq!(
            split_manifests("---\na: 1\n---\n\n---\nb: 2\n  \n---"),
            vec!["a: 1", "b: 2"]
        );
        assert_eq!(
            split_manifests("a: 1\n--- \nb: |\n  ---x\n"),
            vec!["a: 1", "b: |\n  ---x"]
        );
        assert_eq!(split_manifests("# c\na: 1"), vec!["# c\na: 1"]);
    }

    #[test]
    fn sorts_by_kind_and_separates_hooks() {
        let mut files = BTreeMap::new();
        files.insert(
            "c/templates/a.yaml".to_string(),
            "kind: Zeta\n---\nkind: Deployment\n---\nkind: Alpha\n---\nkind: Namespace\n---\nkind: Job\nmetadata:\n  annotations:\n    helm.sh/hook: pre-install,Post-Install\n    helm.sh/hook-weight: \"-5\"\n    helm.sh/hook-delete-policy: before-hook-creation, hook-succeeded\n---\nkind: Pod\nmetadata:\n  annotations:\n    helm.sh/hook: bogus\n".to_string(),
        );
        let s = sort_manifests(&files).unwrap();
        let kinds: Vec<&str> = s.manifests.iter().map(|m| m.head.kind.as_str()).collect();
        assert_eq!(kinds, ["Namespace", "Deployment", "Alpha", "Zeta"]);
        assert_eq!(s.hooks.len(), 1);
        assert_eq!(
            s.hooks[0].events,
            [HookEvent::PreInstall, HookEvent::PostInstall]
        );
        assert_eq!(s.hooks[0].weight, -5);
        assert_eq!(
            s.hooks[0].delete_policies,
            ["before-hook-creation", "hook-succeeded"]
        );
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn head_errors_match_helm() {
        assert_eq!(
            parse_head("abc").unwrap_err(),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type releaseutil.SimpleHead"
        );
    }
}
