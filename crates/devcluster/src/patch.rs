//! Patches: JSON merge patch (RFC 7386) and strategic merge patch with the merge keys of the
//! built-in types (`containers` by `name`, `ports` by `containerPort`/`port`, `env` by `name`,
//! `volumes` by `name`, ...) and its directives (`$patch`, `$retainKeys`,
//! `$deleteFromPrimitiveList/`, `$setElementOrder/`). JSON patch is delegated to `json-patch`.

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
    fn merge_patch_deletes_nulls() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": {"b": null}, "l": [3]}));
        assert_eq!(t, json!({"a": {"c": 2}, "l": [3]}));
    }
}
