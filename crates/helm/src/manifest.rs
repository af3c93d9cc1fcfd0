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

/// Helm's `SplitManifests`: split where the regular expression `(?:^|\s*\n)---\s*` matches (Go's
/// `\s` is `[\t\n\f\r ]`; `^` is the start of the text only), trim each piece, drop empty ones.
///
/// The separator swallows the whitespace after `---`, newlines included, so a `---` line that
/// directly follows another one (or follows it after blank lines) is not a separator: it stays as
/// the first line of the next document, as in Helm.
pub fn split_manifests(big: &str) -> Vec<String> {
    fn is_ws(b: u8) -> bool {
        matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
    }
    let text = big.trim();
    let bytes = text.as_bytes();
    let mut docs = Vec::new();
    let mut push = |piece: &str| {
        if !piece.is_empty() {
            docs.push(piece.trim().to_string());
        }
    };
    // A separator is `\n---` with the whitespace run before it (never reaching back past
    // `beg`, the end of the previous separator) and the whitespace after it; or `---` at the
    // very start.
    let skip_ws = |mut j: usize| {
        while j < bytes.len() && is_ws(bytes[j]) {
            j += 1;
        }
        j
    };
    let mut beg = if bytes.starts_with(b"---") {
        skip_ws(3)
    } else {
        0
    };
    let finder = memchr::memmem::Finder::new(b"\n---");
    while let Some(off) = finder.find(&bytes[beg..]) {
        let newline = beg + off;
        let mut start = newline;
        while start > beg && is_ws(bytes[start - 1]) {
            start -= 1;
        }
        push(&text[beg..start]);
        beg = skip_ws(newline + 4);
    }
    push(&text[beg..]);
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

/// The error Helm's `SortManifests` gives for a rendered template `path` whose output `out`
/// is not UTF-8: its documents (split as [`split_manifests`] does, on bytes) are read in
/// order, and the first that go-yaml refuses (a YAML error of a valid document, or the
/// reader's UTF-8 error) is reported. `None` if every document reads.
pub fn binary_manifest_error(path: &str, out: &[u8]) -> Option<ManifestError> {
    let base = path.rsplit('/').next().unwrap_or(path);
    if base.starts_with('_') {
        return None;
    }
    for doc in split_manifest_bytes(out) {
        let message = match std::str::from_utf8(doc) {
            Ok(text) => match parse_head(text) {
                Ok(_) => continue,
                Err(m) => m,
            },
            Err(_) => match crate::yaml::reader_error(doc) {
                Some(e) => e.message,
                None => continue,
            },
        };
        return Some(ManifestError {
            source_path: path.to_string(),
            message,
        });
    }
    None
}

/// [`split_manifests`] on bytes (Go's regexp treats the text as bytes; the separator and
/// whitespace are ASCII).
fn split_manifest_bytes<'a>(big: &'a [u8]) -> Vec<&'a [u8]> {
    fn is_ws(b: u8) -> bool {
        matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
    }
    fn trim(mut b: &[u8]) -> &[u8] {
        while let [first, rest @ ..] = b
            && is_ws(*first)
        {
            b = rest;
        }
        while let [rest @ .., last] = b
            && is_ws(*last)
        {
            b = rest;
        }
        b
    }
    let bytes = trim(big);
    let mut docs: Vec<&[u8]> = Vec::new();
    let mut push = |piece: &'a [u8]| {
        let piece = trim(piece);
        if !piece.is_empty() {
            docs.push(piece);
        }
    };
    let skip_ws = |mut j: usize| {
        while j < bytes.len() && is_ws(bytes[j]) {
            j += 1;
        }
        j
    };
    let mut beg = if bytes.starts_with(b"---") {
        skip_ws(3)
    } else {
        0
    };
    let finder = memchr::memmem::Finder::new(b"\n---");
    while let Some(off) = finder.find(&bytes[beg..]) {
        let newline = beg + off;
        let mut start = newline;
        while start > beg && is_ws(bytes[start - 1]) {
            start -= 1;
        }
        push(&bytes[beg..start]);
        beg = skip_ws(newline + 4);
    }
    push(&bytes[beg..]);
    docs
}

/// The top-level fields of `SimpleHead`.
const HEAD_KEYS: &[&str] = &["apiVersion", "kind", "metadata"];

/// Read a document's head as Helm's `SimpleHead` does; the error text is Helm's.
pub fn parse_head(doc: &str) -> Result<Head, String> {
    // Helm converts the whole document (so every YAML or conversion error counts) but reads
    // only these fields: build only them (CRDs can be megabytes).
    let v = crate::yaml::parse_keys(doc, HEAD_KEYS).map_err(|e| e.message)?;
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
            head.namespace = string_field(md.get("namespace").as_ref(), "metadata.namespace")?;
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
                            // As for `name`: a bool or number scalar becomes its text
                            // (`helm.sh/hook-weight: 5` is "5").
                            v @ (Value::Bool(_) | Value::Int(..) | Value::Float(_)) => {
                                head.annotations
                                    .insert(k.clone(), gotemplate::gofmt::sprint(v));
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

/// Below this many bytes of documents, a second thread for reading heads costs more than it
/// saves (argo-cd renders ~2 MB of CRDs, most charts under 50 KB).
const PARALLEL_HEAD_BYTES: usize = 256 * 1024;

/// [`parse_head`] of each document, in order; on two threads when there is much to read.
/// Each thread stops at its first failure (only the first failure in order is reported),
/// so the result may be shorter than `docs` after an error.
fn parse_heads(docs: &[(&String, String)]) -> Vec<Result<Head, String>> {
    fn run(docs: &[(&String, String)]) -> Vec<Result<Head, String>> {
        let mut out = Vec::with_capacity(docs.len());
        for (_, doc) in docs {
            let r = parse_head(doc);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        out
    }
    let total: usize = docs.iter().map(|(_, d)| d.len()).sum();
    if total < PARALLEL_HEAD_BYTES || docs.len() < 2 {
        return run(docs);
    }
    let mut acc = 0;
    let split = docs
        .iter()
        .position(|(_, d)| {
            acc += d.len();
            acc * 2 >= total
        })
        .map_or(docs.len(), |i| i + 1)
        .min(docs.len() - 1);
    let (head, tail) = docs.split_at(split);
    std::thread::scope(|scope| {
        let later = std::thread::Builder::new()
            .spawn_scoped(scope, || run(tail))
            .ok();
        let mut first = run(head);
        if first.len() == head.len() && first.last().is_none_or(Result::is_ok) {
            match later.and_then(|h| h.join().ok()) {
                Some(rest) => first.extend(rest),
                None => first.extend(run(tail)),
            }
        }
        first
    })
}

/// Helm's `SortManifests`: `files` are rendered outputs keyed by template path.
pub fn sort_manifests(files: &BTreeMap<String, String>) -> Result<Sorted, ManifestError> {
    let mut out = Sorted::default();
    let mut docs: Vec<(&String, String)> = Vec::new();
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        docs.extend(split_manifests(content).into_iter().map(|d| (path, d)));
    }
    let heads = parse_heads(&docs);
    for ((path, doc), head) in docs.into_iter().zip(heads) {
        let head = head.map_err(|message| ManifestError {
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
            // Helm logs with Go's `log` (file:line prefix); scripts grep for this line.
            out.warnings.push(format!(
                "manifest_sorter.go:190: info: skipping unknown hook: {:?}",
                hook_types
            ));
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
        // A `---` right after a separator (blank lines between included) is document text.
        assert_eq!(
            split_manifests("---\na: 1\n---\n\n---\nb: 2\n  \n---"),
            vec!["a: 1", "---\nb: 2"]
        );
        assert_eq!(
            split_manifests("a: 1\n---\nb: 2\n---\n---\n# c\n---\nd: 3"),
            vec!["a: 1", "b: 2", "---\n# c", "d: 3"]
        );
        assert_eq!(
            split_manifests("a: 1\n--- \nb: |\n  ---x\n"),
            vec!["a: 1", "b: |\n  ---x"]
        );
        assert_eq!(split_manifests("# c\na: 1"), vec!["# c\na: 1"]);
    }

    proptest::proptest! {
        /// Helm splits with the Go regexp `(?:^|\s*\n)---\s*` (leftmost-first, `^` only at the
        /// start, `\s` ASCII); the `regex` crate has the same semantics with the class spelt out.
        #[test]
        fn split_equals_helms_regexp(text in "[a \n\t\r#-]{0,60}") {
            let sep = regex::Regex::new(r"(?:\A|[\t\n\x0C\r ]*\n)---[\t\n\x0C\r ]*").unwrap();
            let expected: Vec<String> = sep
                .split(text.trim())
                .filter(|d| !d.is_empty())
                .map(|d| d.trim().to_string())
                .collect();
            proptest::prop_assert_eq!(split_manifests(&text), expected);
        }
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
    fn head_reads_the_same_fields_and_errors_as_a_full_parse() {
        let docs = [
            "kind: A\nmetadata:\n  name: x\nspec:\n  a: [1, 2, {b: c}]\n",
            "base: &b\n  kind: K\n  apiVersion: v1\n<<: *b\nkind: L\n",
            "kind: A\nspec:\n  x: .inf\n",
            "kind: A\nspec:\n  <<: 3\n",
            "kind: A\nspec:\n  <<: [{a: 1}, 2]\n",
            "kind: A\nspec:\n  ? [a]\n  : 1\n",
            "spec: {a: .nan}\nkind: A\nmetadata: {name: .inf}\n",
            "metadata: {name: 1}\n<<: {metadata: {name: y}}\n",
            "- a\n- b\n",
            "",
        ];
        for doc in docs {
            let full = crate::yaml::parse(doc);
            let heads = crate::yaml::parse_keys(doc, HEAD_KEYS);
            match (&full, &heads) {
                (Ok(Value::Map(f, _)), Ok(Value::Map(h, _))) => {
                    for k in HEAD_KEYS {
                        assert_eq!(
                            f.get(k).map(|v| gotemplate::gofmt::sprint(&v)),
                            h.get(k).map(|v| gotemplate::gofmt::sprint(&v)),
                            "{doc:?} field {k}"
                        );
                    }
                    assert!(h.read().keys().all(|k| HEAD_KEYS.contains(&k.as_str())));
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{doc:?}"),
                (Ok(a), Ok(b)) => assert_eq!(
                    gotemplate::gofmt::sprint(a),
                    gotemplate::gofmt::sprint(b),
                    "{doc:?}"
                ),
                _ => panic!("{doc:?}: {full:?} vs {heads:?}"),
            }
        }
    }

    #[test]
    fn head_errors_match_helm() {
        assert_eq!(
            parse_head("abc").unwrap_err(),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type releaseutil.SimpleHead"
        );
    }
}
