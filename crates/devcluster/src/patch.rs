//! Patches: JSON merge patch (RFC 7386) and strategic merge patch with the merge keys of the
//! built-in types (`containers` by `name`, `ports` by `containerPort`/`port`, `env` by `name`,
//! `volumes` by `name`, ...) and its directives (`$patch`, `$retainKeys`,
//! `$deleteFromPrimitiveList/`, `$setElementOrder/`, which orders the list as the patch says).
//! JSON patch is delegated to `json-patch`.

use serde_json::{Map, Value};

/// The merge key of a list field of the built-in types, decided by field name and, for
/// `ports`, by the shape of the items (container ports vs service ports).
pub fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Primitive lists merged as sets by strategic merge patch.
pub fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("just made an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Apply a strategic merge patch to `target`. `err` describes malformed directives.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), String> {
    match patch {
        Value::Object(p) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                let mut replaced = p.clone();
                replaced.remove("$patch");
                *target = Value::Object(replaced);
                return Ok(());
            }
            if p.get("$patch").and_then(Value::as_str) == Some("delete") {
                *target = Value::Object(Map::new());
                return Ok(());
            }
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("just made an object");
            // The lists to reorder, as they were before the patch.
            let orders: Vec<(&str, &Vec<Value>, Vec<Value>)> = p
                .iter()
                .filter_map(|(k, v)| {
                    let field = k.strip_prefix("$setElementOrder/")?;
                    let order = v.as_array()?;
                    let before = match t.get(field) {
                        Some(Value::Array(a)) => a.clone(),
                        _ => Vec::new(),
                    };
                    Some((field, order, before))
                })
                .collect();
            for (k, v) in p {
                if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
                    continue;
                }
                if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
                    let remove = v
                        .as_array()
                        .ok_or("$deleteFromPrimitiveList must be a list")?;
                    if let Some(Value::Array(list)) = t.get_mut(field) {
                        list.retain(|x| !remove.contains(x));
                    }
                    continue;
                }
                if v.is_null() {
                    t.remove(k);
                    continue;
                }
                match v {
                    Value::Array(items) => {
                        let existing = t.remove(k);
                        let merged = merge_list(k, existing, items)?;
                        t.insert(k.clone(), merged);
                    }
                    Value::Object(_) => {
                        let entry = t.entry(k.clone()).or_insert(Value::Null);
                        if !entry.is_object() {
                            *entry = Value::Object(Map::new());
                        }
                        strategic_merge(entry, v)?;
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
            for (field, order, before) in orders {
                if let Some(Value::Array(list)) = t.get_mut(field) {
                    set_element_order(field, list, order, &before);
                }
            }
            if let Some(Value::Array(keep)) = p.get("$retainKeys") {
                let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
                t.retain(|k, _| keep.contains(&k.as_str()));
            }
            Ok(())
        }
        other => {
            *target = other.clone();
            Ok(())
        }
    }
}

/// An item's identity for `$setElementOrder`: its merge key's value, or itself (primitives).
fn element_id(item: &Value, key: Option<&str>) -> Option<Value> {
    match key {
        Some(k) => item.get(k).cloned(),
        None => Some(item.clone()),
    }
}

/// `$setElementOrder/FIELD`: the items the order names come in that order; items it doesn't
/// name (the server's own) keep their place relative to the others as it was before the patch.
/// This is how kubectl's client-side apply reorders containers, env, ports, ...
fn set_element_order(field: &str, list: &mut Vec<Value>, order: &[Value], before: &[Value]) {
    let key: Option<&str> = match order.first() {
        Some(Value::Object(first)) => {
            merge_key(field, order).or_else(|| first.keys().next().map(String::as_str))
        }
        _ => None,
    };
    let order_ids: Vec<Value> = order.iter().filter_map(|o| element_id(o, key)).collect();
    let rank =
        |x: &Value| element_id(x, key).and_then(|id| order_ids.iter().position(|o| *o == id));
    let ids_before: Vec<Option<Value>> = before.iter().map(|b| element_id(b, key)).collect();
    let (mut named, others): (Vec<Value>, Vec<Value>) = std::mem::take(list)
        .into_iter()
        .partition(|x| rank(x).is_some());
    named.sort_by_key(|x| rank(x).unwrap_or(usize::MAX));
    // Each other item follows the named item it followed before (None: leads; Some(None): last).
    let anchored: Vec<(Option<Option<Value>>, Value)> = others
        .into_iter()
        .map(|x| {
            let id = element_id(&x, key);
            let anchor = match ids_before.iter().position(|b| *b == id) {
                Some(i) => ids_before[..i]
                    .iter()
                    .rev()
                    .flatten()
                    .find(|b| order_ids.contains(b))
                    .map(|b| Some(b.clone())),
                None => Some(None),
            };
            (anchor, x)
        })
        .collect();
    let mut out = Vec::with_capacity(named.len() + anchored.len());
    out.extend(
        anchored
            .iter()
            .filter(|(a, _)| a.is_none())
            .map(|(_, x)| x.clone()),
    );
    for n in named {
        let id = element_id(&n, key);
        out.push(n);
        out.extend(
            anchored
                .iter()
                .filter(|(a, _)| matches!(a, Some(Some(b)) if Some(b) == id.as_ref()))
                .map(|(_, x)| x.clone()),
        );
    }
    out.extend(
        anchored
            .iter()
            .filter(|(a, _)| matches!(a, Some(None)))
            .map(|(_, x)| x.clone()),
    );
    *list = out;
}

fn merge_list(field: &str, existing: Option<Value>, items: &[Value]) -> Result<Value, String> {
    // `[{"$patch": "replace"}, ...]` replaces the whole list.
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let kept: Vec<Value> = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        return Ok(Value::Array(kept));
    }
    let mut list = match existing {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    if let Some(key) = merge_key(field, items).filter(|_| items.iter().all(Value::is_object)) {
        let key_list: Vec<Value> = list.clone();
        let key = if field == "ports" {
            merge_key(field, &key_list)
                .filter(|_| !list.is_empty())
                .unwrap_or(key)
        } else {
            key
        };
        for item in items {
            let Some(kv) = item.get(key) else {
                return Err(format!(
                    "map in list {field} is missing the merge key {key}"
                ));
            };
            let pos = list.iter().position(|x| x.get(key) == Some(kv));
            let directive = item.get("$patch").and_then(Value::as_str);
            match (pos, directive) {
                (Some(i), Some("delete")) => {
                    list.remove(i);
                }
                (None, Some("delete")) => {}
                (Some(i), _) => strategic_merge(&mut list[i], item)?,
                (None, _) => {
                    let mut fresh = Value::Object(Map::new());
                    strategic_merge(&mut fresh, item)?;
                    list.push(fresh);
                }
            }
        }
        return Ok(Value::Array(list));
    }
    if is_set_list(field) {
        for item in items {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
        return Ok(Value::Array(list));
    }
    Ok(Value::Array(items.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_by_keys() {
        let mut t = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        let p = json!({"spec": {"containers": [
            {"name": "a", "env": [{"name": "Y", "value": "2"}]},
            {"name": "b", "$patch": "delete"},
            {"name": "c", "image": "c:1"}
        ]}});
        strategic_merge(&mut t, &p).unwrap();
        assert_eq!(
            t,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "c", "image": "c:1"}
            ]}})
        );
    }

    #[test]
    fn set_element_order_reorders() {
        let mut t = json!({"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            {"name": "b", "image": "b:1"}
        ], "finalizers": ["f1", "f2"]});
        // Only the order changes (what kubectl apply sends after reordering a manifest).
        let p = json!({
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "$setElementOrder/finalizers": ["f2", "f1"],
            "containers": [{"name": "a", "$setElementOrder/env": [{"name": "Y"}, {"name": "X"}]}]
        });
        strategic_merge(&mut t, &p).expect("valid patch");
        assert_eq!(
            t,
            json!({"containers": [
                {"name": "b", "image": "b:1"},
                {"name": "a", "image": "a:1", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]}
            ], "finalizers": ["f2", "f1"]})
        );
        // A new item goes where the order puts it; the server's own item keeps its place.
        let mut t = json!({"env": [{"name": "A"}, {"name": "S"}, {"name": "B"}]});
        let p = json!({"$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "B"}],
            "env": [{"name": "C", "value": "c"}]});
        strategic_merge(&mut t, &p).expect("valid patch");
        assert_eq!(
            t,
            json!({"env": [{"name": "C", "value": "c"}, {"name": "A"}, {"name": "S"}, {"name": "B"}]})
        );
    }

    #[test]
    fn merge_patch_deletes_nulls() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": {"b": null}, "l": [3]}));
        assert_eq!(t, json!({"a": {"c": 2}, "l": [3]}));
    }
}
