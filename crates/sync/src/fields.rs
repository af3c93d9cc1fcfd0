//! Field ownership from `metadata.managedFields` (server-side apply's `FieldsV1` sets), for
//! `ignoreDifferences.managedFieldsManagers`: the fields the named managers own are removed from
//! both the desired and the live object before comparing.
//!
//! A `FieldsV1` set is a tree of JSON objects whose keys name children: `f:<name>` a field of a
//! map, `k:<json>` the element of a list whose key fields have these values, `v:<json>` the element
//! of a set-like list equal to this value, `i:<n>` a list element by index; the key `.` marks the
//! node itself as owned. A node that is owned (an empty set, or one with `.`) is removed whole;
//! otherwise only its owned children are.
//!
//! The cluster cache does not keep `managedFields` (they are often most of an object's size);
//! the engine reads them when a rule asks for managers and keeps only the named managers' sets
//! ([`ManagedSets`]), per object version.

use serde_json::{Map, Value};

/// The merged `FieldsV1` sets of some managers on one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagedSets {
    /// The union of the named managers' sets.
    pub fields: Map<String, Value>,
}

impl ManagedSets {
    /// The sets of the entries of `obj`'s `metadata.managedFields` whose `manager` is one of
    /// `managers` (any operation, any API version).
    pub fn of(obj: &Value, managers: &[String]) -> ManagedSets {
        let mut fields = Map::new();
        for entry in obj
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(m) = entry.get("manager").and_then(Value::as_str) else {
                continue;
            };
            if !managers.iter().any(|n| n == m) {
                continue;
            }
            if let Some(set) = entry.get("fieldsV1").and_then(Value::as_object) {
                merge(&mut fields, set);
            }
        }
        ManagedSets { fields }
    }

    /// Whether no field is owned.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Remove the owned fields from `obj`.
    pub fn remove_from(&self, obj: &mut Value) {
        remove(obj, &self.fields);
    }
}

/// Union of two sets.
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        let sub = v.as_object().cloned().unwrap_or_default();
        match into.get_mut(k).and_then(Value::as_object_mut) {
            Some(existing) => merge(existing, &sub),
            None => {
                into.insert(k.clone(), Value::Object(sub));
            }
        }
    }
}

/// Whether a set node means "this node is owned".
fn owns_node(set: &Value) -> bool {
    match set.as_object() {
        None => true,
        Some(m) => m.is_empty() || m.contains_key("."),
    }
}

fn remove(obj: &mut Value, set: &Map<String, Value>) {
    for (k, sub) in set {
        if k == "." {
            continue;
        }
        let (prefix, rest) = k.split_at(k.len().min(2));
        let sub_map = sub.as_object();
        match (prefix, &mut *obj) {
            ("f:", Value::Object(o)) => {
                if owns_node(sub) {
                    o.shift_remove(rest);
                } else if let (Some(child), Some(m)) = (o.get_mut(rest), sub_map) {
                    remove(child, m);
                }
            }
            ("k:", Value::Array(a)) => {
                let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(rest) else {
                    continue;
                };
                let matches = |e: &Value| {
                    keys.iter()
                        .all(|(kk, kv)| e.get(kk).is_some_and(|ev| same(ev, kv)))
                };
                if owns_node(sub) {
                    a.retain(|e| !matches(e));
                } else if let Some(m) = sub_map {
                    for e in a.iter_mut().filter(|e| matches(e)) {
                        remove(e, m);
                    }
                }
            }
            ("v:", Value::Array(a)) => {
                let Ok(val) = serde_json::from_str::<Value>(rest) else {
                    continue;
                };
                a.retain(|e| !same(e, &val));
            }
            ("i:", Value::Array(a)) => {
                let Ok(i) = rest.parse::<usize>() else {
                    continue;
                };
                if i >= a.len() {
                    continue;
                }
                if owns_node(sub) {
                    a.remove(i);
                } else if let Some(m) = sub_map {
                    remove(&mut a[i], m);
                }
            }
            _ => {}
        }
    }
}

/// JSON equality with numbers compared by value (`80` and `80.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
            "labels": {"app": "web", "team": "a"},
            "managedFields": [
                {"manager": "trellis", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
                {"manager": "hpa-controller", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "sidecar-injector", "operation": "Update", "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:team": {}}},
                    "f:spec": {"f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"proxy\"}": {".": {}, "f:image": {}, "f:name": {}},
                        "k:{\"name\":\"app\"}": {"f:env": {}}}}},
                    "f:finalizers": {"v:\"x.io/keep\"": {}}}}}
            ]},
            "spec": {"replicas": 7, "finalizers": ["x.io/keep", "y.io/other"], "template": {"spec": {
                "containers": [
                    {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "proxy", "image": "p:1"}]}}}})
    }

    #[test]
    fn named_managers_fields_are_removed() {
        let obj = deployment();
        let sets = ManagedSets::of(&obj, &["hpa-controller".to_string()]);
        let mut v = obj.clone();
        sets.remove_from(&mut v);
        assert_eq!(v["spec"].get("replicas"), None);
        assert_eq!(v["spec"]["template"], obj["spec"]["template"]);

        let sets = ManagedSets::of(&obj, &["sidecar-injector".to_string()]);
        let mut v = obj.clone();
        sets.remove_from(&mut v);
        assert_eq!(v["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "a:1"}]),
            "the injected container goes, the app container loses only env"
        );
        assert_eq!(v["spec"]["finalizers"], json!(["y.io/other"]));
        assert_eq!(v["spec"]["replicas"], json!(7));
    }

    #[test]
    fn unknown_managers_and_odd_sets_remove_nothing() {
        let obj = deployment();
        let sets = ManagedSets::of(&obj, &["nobody".to_string()]);
        assert!(sets.is_empty());
        let mut v = obj.clone();
        sets.remove_from(&mut v);
        assert_eq!(v, obj);
        // Malformed keys and sets that do not fit the object are skipped.
        let odd = ManagedSets {
            fields: json!({"k:notjson": {}, "i:x": {}, "f:spec": {"k:{\"a\":1}": {}, "i:99": {}}, "zz": 1})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let mut v = obj.clone();
        odd.remove_from(&mut v);
        assert_eq!(v, obj);
    }

    #[test]
    fn sets_of_several_managers_merge() {
        let obj = deployment();
        let sets = ManagedSets::of(
            &obj,
            &["hpa-controller".to_string(), "sidecar-injector".to_string()],
        );
        let mut v = obj.clone();
        sets.remove_from(&mut v);
        assert_eq!(v["spec"].get("replicas"), None);
        assert_eq!(v["metadata"]["labels"], json!({"app": "web"}));
    }
}
