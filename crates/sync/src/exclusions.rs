//! Resource exclusions and inclusions, as Argo CD's `argocd-cm` keys `resource.exclusions` and
//! `resource.inclusions`: YAML lists of `{apiGroups, kinds, clusters}` whose entries are globs
//! (`*`, `?`). An excluded kind is never watched, diffed, applied or pruned; when inclusions are
//! given, only the kinds they match are managed. An empty or absent list of a field matches
//! everything, as in Argo CD.
//!
//! Trellis manages the cluster it runs against; `clusters` globs are matched against
//! `https://kubernetes.default.svc` and `in-cluster` (Argo CD's names for that cluster).

use serde_json::Value;

/// Config key of the exclusions.
pub const EXCLUSIONS_KEY: &str = "resource.exclusions";
/// Config key of the inclusions.
pub const INCLUSIONS_KEY: &str = "resource.inclusions";
/// The names the managed cluster answers to in `clusters` globs.
pub const CLUSTER_NAMES: &[&str] = &["https://kubernetes.default.svc", "in-cluster"];

/// One entry of `resource.exclusions` / `resource.inclusions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilteredResource {
    /// API group globs (`""` is the core group).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Kind globs.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Cluster globs.
    #[serde(default)]
    pub clusters: Vec<String>,
}

impl FilteredResource {
    fn matches(&self, group: &str, kind: &str) -> bool {
        let any = |globs: &[String], s: &str| globs.is_empty() || globs.iter().any(|g| glob(g, s));
        any(&self.api_groups, group)
            && any(&self.kinds, kind)
            && (self.clusters.is_empty()
                || CLUSTER_NAMES
                    .iter()
                    .any(|c| self.clusters.iter().any(|g| glob(g, c))))
    }
}

/// Which kinds Trellis manages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    /// Kinds never managed.
    pub exclusions: Vec<FilteredResource>,
    /// When not empty, the only kinds managed.
    pub inclusions: Vec<FilteredResource>,
}

impl ResourceFilter {
    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.exclusions.is_empty() && self.inclusions.is_empty()
    }

    /// Whether objects of this group and kind are left alone.
    pub fn is_excluded(&self, group: &str, kind: &str) -> bool {
        self.exclusions.iter().any(|f| f.matches(group, kind))
            || (!self.inclusions.is_empty()
                && !self.inclusions.iter().any(|f| f.matches(group, kind)))
    }

    /// The filter of a ConfigMap (`trellis-cm`, or an `argocd-cm`) given as JSON: its `data` keys
    /// `resource.exclusions` and `resource.inclusions`. `source` names it in errors.
    pub fn from_configmap(cm: &Value, source: &str) -> Result<ResourceFilter, String> {
        let data = cm.get("data");
        let read = |key: &str| -> Result<Vec<FilteredResource>, String> {
            let Some(text) = data.and_then(|d| d.get(key)).and_then(Value::as_str) else {
                return Ok(Vec::new());
            };
            if text.trim().is_empty() {
                return Ok(Vec::new());
            }
            serde_saphyr::from_str::<Option<Vec<FilteredResource>>>(text)
                .map(Option::unwrap_or_default)
                .map_err(|e| format!("{source}: {key}: {e}"))
        };
        Ok(ResourceFilter {
            exclusions: read(EXCLUSIONS_KEY)?,
            inclusions: read(INCLUSIONS_KEY)?,
        })
    }
}

/// Glob match with `*` (any run of characters) and `?` (one character).
pub fn glob(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    // Iterative matcher with backtracking to the last `*` (linear in practice, never recursive).
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("*.k8s.io", "metrics.k8s.io"));
        assert!(!glob("*.k8s.io", "k8s.io"));
        assert!(glob("Pipeline?un", "PipelineRun"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
    }

    #[test]
    fn exclusions_and_inclusions_from_a_configmap() {
        let cm = json!({"data": {
            "resource.exclusions": "- apiGroups: [\"tekton.dev\"]\n  kinds: [\"*Run\"]\n  clusters: [\"*\"]\n- apiGroups: [\"\"]\n  kinds: [Endpoints]\n- apiGroups: [x.io]\n  clusters: [\"https://other.example\"]\n"
        }});
        let f = ResourceFilter::from_configmap(&cm, "trellis-cm").expect("valid");
        assert!(f.is_excluded("tekton.dev", "TaskRun"));
        assert!(!f.is_excluded("tekton.dev", "Task"));
        assert!(f.is_excluded("", "Endpoints"));
        assert!(!f.is_excluded("", "ConfigMap"));
        assert!(!f.is_excluded("x.io", "Thing"), "other cluster only");

        let cm = json!({"data": {"resource.inclusions": "- apiGroups: [\"\", apps]\n  kinds: [\"*\"]\n"}});
        let f = ResourceFilter::from_configmap(&cm, "trellis-cm").expect("valid");
        assert!(!f.is_excluded("apps", "Deployment"));
        assert!(f.is_excluded("batch", "Job"));

        let bad = json!({"data": {"resource.exclusions": "- apiGroups: {a: b}\n"}});
        let e = ResourceFilter::from_configmap(&bad, "trellis-cm").expect_err("invalid");
        assert!(
            e.contains("trellis-cm") && e.contains("resource.exclusions"),
            "{e}"
        );
        assert!(
            ResourceFilter::from_configmap(&json!({}), "x")
                .expect("empty")
                .is_empty()
        );
    }
}
