//! Comparing desired and live objects without noise: normalisation (status, managedFields and other
//! server bookkeeping removed), `ignoreDifferences` (JSON pointers, jq path expressions, fields
//! owned by named field managers), the subset test used as a fast path, digests, Secret masking
//! and the unified text diff shown to people.

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use similar::TextDiff;

use crate::fields::ManagedSets;
use crate::object::{APPLIED_DIGEST, ObjKey};

/// Comparison result for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SyncStatus {
    /// Live equals desired.
    Synced,
    /// Live differs from desired.
    OutOfSync,
    /// Desired but not in the cluster.
    Missing,
    /// In the cluster and tracked by the application but no longer desired (to prune).
    Extra,
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Differences to ignore for objects of one kind (optionally one name/namespace), like Argo CD's
/// `ignoreDifferences`: JSON pointers, jq path expressions ([`crate::jq`]) and the fields owned by
/// named field managers ([`crate::fields`]), removed from both sides before comparing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IgnoreRule {
    /// API group (`""` for core, `*` for any).
    #[serde(default)]
    pub group: String,
    /// Kind (`*` for any).
    pub kind: String,
    /// Only this name, if set.
    #[serde(default)]
    pub name: Option<String>,
    /// Only this namespace, if set.
    #[serde(default)]
    pub namespace: Option<String>,
    /// RFC 6901 pointers to remove before comparing (e.g. `/spec/replicas`).
    #[serde(rename = "jsonPointers", default)]
    pub json_pointers: Vec<String>,
    /// jq path expressions whose selected paths are removed before comparing
    /// (`.spec.template.spec.containers[] | select(.name == "istio-proxy")`).
    #[serde(rename = "jqPathExpressions", default)]
    pub jq_path_expressions: Vec<String>,
    /// Field managers whose fields (per the live object's `managedFields`) are removed before
    /// comparing (`kube-controller-manager`, an HPA, a mutating webhook's manager).
    #[serde(rename = "managedFieldsManagers", default)]
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreRule {
    /// Whether the rule applies to this object.
    pub fn matches(&self, key: &ObjKey) -> bool {
        (self.group == "*" || self.group == key.group)
            && (self.kind == "*" || self.kind == key.kind)
            && self.name.as_ref().is_none_or(|n| *n == key.name)
            && self.namespace.as_ref().is_none_or(|n| *n == key.namespace)
    }
}

/// The prefix of Argo CD's system-level ignore rules in `argocd-cm` (`trellis-cm`):
/// `resource.customizations.ignoreDifferences.<group>_<Kind>` (`<Kind>` alone for the core group)
/// or `resource.customizations.ignoreDifferences.all`.
pub const IGNORE_DIFFERENCES_PREFIX: &str = "resource.customizations.ignoreDifferences.";

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SystemIgnore {
    #[serde(default)]
    json_pointers: Vec<String>,
    #[serde(default)]
    jq_path_expressions: Vec<String>,
    #[serde(default)]
    managed_fields_managers: Vec<String>,
}

/// The system-level ignore rules of a ConfigMap (as JSON): one rule per
/// `resource.customizations.ignoreDifferences.*` key, whose value is YAML with `jsonPointers`,
/// `jqPathExpressions` and `managedFieldsManagers`. They apply to every application, besides its
/// own rules. `source` names the ConfigMap in errors.
pub fn rules_from_configmap(cm: &Value, source: &str) -> Result<Vec<IgnoreRule>, String> {
    let mut out = Vec::new();
    for (key, value) in cm
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(which) = key.strip_prefix(IGNORE_DIFFERENCES_PREFIX) else {
            continue;
        };
        let text = value.as_str().unwrap_or_default();
        let parsed: Option<SystemIgnore> =
            serde_saphyr::from_str(text).map_err(|e| format!("{source}: {key}: {e}"))?;
        let parsed = parsed.unwrap_or_default();
        let (group, kind) = if which == "all" {
            ("*".to_string(), "*".to_string())
        } else {
            match which.split_once('_') {
                Some((g, k)) => (g.to_string(), k.to_string()),
                None => (String::new(), which.to_string()),
            }
        };
        out.push(IgnoreRule {
            group,
            kind,
            name: None,
            namespace: None,
            json_pointers: parsed.json_pointers,
            jq_path_expressions: parsed.jq_path_expressions,
            managed_fields_managers: parsed.managed_fields_managers,
        });
    }
    Ok(out)
}

/// What is wrong with some rules, one message per unusable jq expression (naming it), for a
/// condition on the application. Such an expression is skipped when comparing.
pub fn check_rules(rules: &[IgnoreRule]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rules {
        for e in &r.jq_path_expressions {
            if let Err(err) = crate::jq::compiled(e) {
                out.push(format!("ignoreDifferences for {}: {err}", r.kind));
            }
        }
    }
    out
}

/// The field managers whose fields the rules ignore on this object (empty: none).
pub fn ignored_managers(rules: &[IgnoreRule], key: &ObjKey) -> Vec<String> {
    let mut out: Vec<String> = rules
        .iter()
        .filter(|r| r.matches(key))
        .flat_map(|r| r.managed_fields_managers.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Metadata fields the server owns.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionGracePeriodSeconds",
];

/// Annotations that are bookkeeping, not intent.
const BOOKKEEPING_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    APPLIED_DIGEST,
    "deployment.kubernetes.io/revision",
];

/// Remove what the server fills in for its own bookkeeping (status, managedFields, resourceVersion...)
/// and apply the ignore rules' JSON pointers and jq expressions for this object.
pub fn normalize(obj: &Value, rules: &[IgnoreRule]) -> Value {
    normalize_with(obj, rules, None)
}

/// [`normalize`], also removing the fields that `managed` (the ignored managers' sets, read from
/// the live object) owns.
pub fn normalize_with(obj: &Value, rules: &[IgnoreRule], managed: Option<&ManagedSets>) -> Value {
    let mut v = obj.clone();
    let key = ObjKey::of(obj);
    if let Some(o) = v.as_object_mut() {
        // CRDs' and others' status is server state; Secrets/ConfigMaps have none.
        o.remove("status");
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SERVER_METADATA {
                meta.remove(*f);
            }
            if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                for a in BOOKKEEPING_ANNOTATIONS {
                    ann.remove(*a);
                }
            }
            for m in ["annotations", "labels"] {
                if meta
                    .get(m)
                    .and_then(Value::as_object)
                    .is_some_and(Map::is_empty)
                {
                    meta.remove(m);
                }
            }
        }
    }
    for rule in rules.iter().filter(|r| r.matches(&key)) {
        for p in &rule.json_pointers {
            remove_pointer(&mut v, p);
        }
        for e in &rule.jq_path_expressions {
            // Unusable expressions are reported by `check_rules`; here they remove nothing.
            let Ok(q) = crate::jq::compiled(e) else {
                continue;
            };
            match q.paths(&v) {
                Ok(paths) => crate::jq::remove_paths(&mut v, &paths),
                Err(err) => tracing::warn!(object = %key, error = %err, "ignoreDifferences"),
            }
        }
    }
    if let Some(m) = managed {
        m.remove_from(&mut v);
    }
    v
}

/// Remove the value at an RFC 6901 pointer, if present.
pub fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = if parent.is_empty() {
        Some(v)
    } else {
        v.pointer_mut(parent)
    };
    match target {
        Some(Value::Object(o)) => {
            o.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// Whether every field set in `desired` has the same value in `live` (maps may have extra keys in
/// live, lists must have the same length and be element-wise subsets). This is what "the chart's
/// fields are as rendered" means, ignoring defaults and other managers' fields.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            // A null or empty value in the manifest means "unset" to the server.
            None => is_empty_value(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Stable digest of a JSON value (keys sorted), hex SHA-256.
pub fn digest(v: &Value) -> String {
    let mut h = Sha256::new();
    feed(&mut h, v);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn feed(h: &mut Sha256, v: &Value) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            h.update(b"{");
            for k in keys {
                h.update(serde_json::to_string(k).unwrap_or_default().as_bytes());
                h.update(b":");
                feed(h, &o[k]);
                h.update(b",");
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for x in a {
                feed(h, x);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

/// Replace Secret values so that no value appears in a diff: equal values on both sides become
/// `++++++++`, changed values `++++++++` (live) and `++++++++ (changed)` (desired), as Argo CD masks
/// with placeholders. Non-Secret objects are returned unchanged.
pub fn mask_secrets(
    live: Option<&Value>,
    desired: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    let is_secret = |v: &Value| {
        v.get("kind").and_then(Value::as_str) == Some("Secret")
            && crate::object::group_of(
                v.get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
            .is_empty()
    };
    if !live.into_iter().chain(desired).any(is_secret) {
        return (live.cloned(), desired.cloned());
    }
    const MASK: &str = "++++++++";
    let mut l = live.cloned();
    let mut d = desired.cloned();
    for field in ["data", "stringData"] {
        let lmap = live
            .and_then(|v| v.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let dmap = desired
            .and_then(|v| v.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(o) = l
            .as_mut()
            .and_then(|v| v.get_mut(field))
            .and_then(Value::as_object_mut)
        {
            for v in o.values_mut() {
                *v = Value::String(MASK.into());
            }
        }
        if let Some(o) = d
            .as_mut()
            .and_then(|v| v.get_mut(field))
            .and_then(Value::as_object_mut)
        {
            for (k, v) in o.iter_mut() {
                let same = lmap.get(k) == dmap.get(k);
                *v = Value::String(if same || lmap.get(k).is_none() {
                    MASK.into()
                } else {
                    format!("{MASK} (changed)")
                });
            }
        }
    }
    for v in [l.as_mut(), d.as_mut()].into_iter().flatten() {
        if let Some(ann) = v
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    (l, d)
}

/// YAML text of a value (empty for `None`).
pub fn to_yaml(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(v) => {
            serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot render as YAML: {e}\n"))
        }
    }
}

/// A unified diff of two YAML texts with `a/` and `b/` headers naming the object; empty when equal.
pub fn unified(label: &str, live: &str, desired: &str) -> String {
    if live == desired {
        return String::new();
    }
    TextDiff::from_lines(live, desired)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{label}"), &format!("desired/{label}"))
        .to_string()
}

/// Colour a unified diff with ANSI escapes (red removals, green additions, cyan hunk headers).
pub fn colorize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + 64);
    for line in diff.split_inclusive('\n') {
        let (pre, post) = if line.starts_with("+++") || line.starts_with("---") {
            ("\x1b[1m", "\x1b[0m")
        } else if line.starts_with('+') {
            ("\x1b[32m", "\x1b[0m")
        } else if line.starts_with('-') {
            ("\x1b[31m", "\x1b[0m")
        } else if line.starts_with("@@") {
            ("\x1b[36m", "\x1b[0m")
        } else {
            ("", "")
        };
        let body = line.trim_end_matches('\n');
        out.push_str(pre);
        out.push_str(body);
        out.push_str(post);
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_drops_server_noise_and_ignored_pointers() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "n", "resourceVersion": "7", "uid": "u", "generation": 3,
                "managedFields": [{"manager": "x"}], "annotations": {"trellis.dev/applied-digest": "abc"}},
            "spec": {"replicas": 5, "template": {}}, "status": {"replicas": 5}});
        let rules = vec![IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            name: None,
            namespace: None,
            json_pointers: vec!["/spec/replicas".into()],
            ..IgnoreRule::default()
        }];
        let n = normalize(&live, &rules);
        assert_eq!(
            n,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}, "spec": {"template": {}}})
        );
        // The rule does not apply to other kinds.
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "d"}, "spec": {"replicas": 5}});
        assert_eq!(normalize(&sts, &rules)["spec"]["replicas"], json!(5));
    }

    #[test]
    fn jq_and_managers_rules_apply_to_matching_objects() {
        let rules = vec![IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            jq_path_expressions: vec![
                r#".spec.template.spec.containers[] | select(.name == "proxy")"#.into(),
            ],
            managed_fields_managers: vec!["hpa-controller".into()],
            ..IgnoreRule::default()
        }];
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d",
            "managedFields": [{"manager": "hpa-controller", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 9, "template": {"spec": {"containers": [{"name": "app"}, {"name": "proxy"}]}}}});
        let key = ObjKey::of(&live);
        assert_eq!(ignored_managers(&rules, &key), ["hpa-controller"]);
        let managed = ManagedSets::of(&live, &ignored_managers(&rules, &key));
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app"}]}}}});
        assert_eq!(
            normalize_with(&live, &rules, Some(&managed)),
            normalize_with(&desired, &rules, Some(&managed))
        );
        // Other kinds are untouched; `*` matches any kind.
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "d"}, "spec": {"replicas": 5}});
        assert!(ignored_managers(&rules, &ObjKey::of(&sts)).is_empty());
        let any = vec![IgnoreRule {
            group: "*".into(),
            kind: "*".into(),
            jq_path_expressions: vec![".spec.replicas".into()],
            ..IgnoreRule::default()
        }];
        assert_eq!(normalize(&sts, &any)["spec"], json!({}));
        // A bad expression is reported with its text and removes nothing.
        let bad = vec![IgnoreRule {
            kind: "StatefulSet".into(),
            group: "apps".into(),
            jq_path_expressions: vec![".spec[".into()],
            ..IgnoreRule::default()
        }];
        let problems = check_rules(&bad);
        assert!(
            problems.len() == 1 && problems[0].contains(".spec["),
            "{problems:?}"
        );
        assert_eq!(normalize(&sts, &bad)["spec"]["replicas"], json!(5));
    }

    #[test]
    fn system_level_rules_from_a_configmap() {
        let cm = json!({"data": {
            "resource.customizations.ignoreDifferences.admissionregistration.k8s.io_MutatingWebhookConfiguration":
                "jqPathExpressions:\n- '.webhooks[]?.clientConfig.caBundle'\n",
            "resource.customizations.ignoreDifferences.all": "managedFieldsManagers:\n- kube-controller-manager\njsonPointers: [/spec/replicas]\n",
            "resource.customizations.ignoreDifferences.Service": "jsonPointers: [/spec/clusterIP]\n",
            "resource.customizations.health.apps_Deployment": "return {}",
        }});
        let rules = rules_from_configmap(&cm, "trellis-cm").expect("valid");
        assert_eq!(rules.len(), 3);
        let mwc = rules
            .iter()
            .find(|r| r.kind == "MutatingWebhookConfiguration")
            .expect("mwc");
        assert_eq!(mwc.group, "admissionregistration.k8s.io");
        assert_eq!(mwc.jq_path_expressions.len(), 1);
        let all = rules.iter().find(|r| r.kind == "*").expect("all");
        assert_eq!(all.group, "*");
        assert_eq!(all.managed_fields_managers, ["kube-controller-manager"]);
        let svc = rules.iter().find(|r| r.kind == "Service").expect("svc");
        assert_eq!(svc.group, "");
        let bad = json!({"data": {"resource.customizations.ignoreDifferences.all": "jsonPointers: {a: 1}"}});
        let e = rules_from_configmap(&bad, "trellis-cm").expect_err("bad");
        assert!(
            e.contains("trellis-cm") && e.contains("ignoreDifferences.all"),
            "{e}"
        );
    }

    #[test]
    fn subset_ignores_defaults_and_other_fields() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always"}]}}}});
        assert!(is_subset(&desired, &live));
        let drifted = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        assert!(!is_subset(&desired, &drifted));
        let extra_container = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}}});
        assert!(!is_subset(&desired, &extra_container));
        assert!(is_subset(
            &json!({"a": {}, "b": null, "n": 1}),
            &json!({"n": 1.0})
        ));
    }

    #[test]
    fn digest_is_key_order_independent() {
        assert_eq!(
            digest(&json!({"a": 1, "b": [1, 2]})),
            digest(&json!({"b": [1, 2], "a": 1}))
        );
        assert_ne!(digest(&json!({"a": 1})), digest(&json!({"a": "1"})));
    }

    #[test]
    fn secrets_are_masked_but_changes_visible() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"same": "c2VjcmV0", "old": "YQ=="}});
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"same": "c2VjcmV0", "old": "Yg=="}});
        let (l, d) = mask_secrets(Some(&live), Some(&desired));
        let text = unified("v1/Secret/s", &to_yaml(l.as_ref()), &to_yaml(d.as_ref()));
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("YQ==") && !text.contains("Yg=="),
            "{text}"
        );
        assert!(
            text.contains("-  old: ++++++++") && text.contains("+  old: ++++++++ (changed)"),
            "{text}"
        );
        assert!(
            !text.contains("-  same") && !text.contains("+  same"),
            "unchanged keys are not changed lines: {text}"
        );
    }

    #[test]
    fn unified_diff_and_colour() {
        let d = unified("x", "a: 1\nb: 2\n", "a: 1\nb: 3\n");
        assert!(
            d.contains("--- live/x")
                && d.contains("+++ desired/x")
                && d.contains("-b: 2")
                && d.contains("+b: 3"),
            "{d}"
        );
        assert!(unified("x", "a\n", "a\n").is_empty());
        let c = colorize(&d);
        assert!(
            c.contains("\x1b[31m-b: 2\x1b[0m") && c.contains("\x1b[32m+b: 3\x1b[0m"),
            "{c:?}"
        );
    }
}
