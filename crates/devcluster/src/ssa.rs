//! Server-side apply and `managedFields`: field sets (the FieldsV1 trie of `f:`, `k:`, `v:`
//! and `.` entries), ownership per field manager and operation, conflict detection with
//! `force`, the apply merge (list-maps merged by key, other lists atomic) and removal of
//! fields a manager stops applying. Also tracks ownership for ordinary updates.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::patch::{is_set_list, merge_key};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pe {
    /// `f:name`
    F(String),
    /// `k:{"name":"x"}` (the key object as compact JSON)
    K(String),
    /// `v:"x"`
    V(String),
}

pub type Path = Vec<Pe>;
pub type FieldSet = BTreeSet<Path>;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Managed {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
}

const SKIP_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// The field set of an object (what a manager sets when it writes this object).
/// `status_only` restricts to `.status`; otherwise `.status` is left out when `skip_status`.
pub fn field_set(obj: &Value, status_only: bool, skip_status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            if status_only != (k == "status") {
                continue;
            }
            if skip_status && k == "status" {
                continue;
            }
            if k == "metadata" {
                if let Some(meta) = v.as_object() {
                    for (mk, mv) in meta {
                        if SKIP_META.contains(&mk.as_str()) {
                            continue;
                        }
                        collect_field(mk, mv, &[Pe::F("metadata".into())], &mut out);
                    }
                }
                continue;
            }
            collect_field(k, v, &[], &mut out);
        }
    }
    out
}

/// The `x-kubernetes-list-map-keys` of a list field of the built-in types: one key for most
/// (`containers` by `name`, ...), all of them where Kubernetes declares several (container ports
/// by `containerPort`+`protocol`, service ports by `port`+`protocol`, topology spread
/// constraints by `topologyKey`+`whenUnsatisfiable`).
pub fn list_map_keys(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    Some(match (field, merge_key(field, items)?) {
        ("ports", "containerPort") => &["containerPort", "protocol"],
        ("ports", _) => &["port", "protocol"],
        ("topologySpreadConstraints", _) => &["topologyKey", "whenUnsatisfiable"],
        (_, "name") => &["name"],
        (_, "mountPath") => &["mountPath"],
        (_, "devicePath") => &["devicePath"],
        (_, "ip") => &["ip"],
        (_, "type") => &["type"],
        (_, "uid") => &["uid"],
        _ => return None,
    })
}

/// An item's value of a key field, with the default the API server fills in (`protocol: TCP`).
fn key_field(item: &Value, key: &str) -> Option<Value> {
    item.get(key)
        .cloned()
        .or_else(|| (key == "protocol").then(|| json!("TCP")))
}

/// Whether an item has every key of a list-map.
fn has_keys(item: &Value, keys: &[&str]) -> bool {
    keys.iter().all(|k| key_field(item, k).is_some())
}

/// Whether an item is the one a `k:{...}` path element names.
fn item_matches(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter()
        .all(|(kk, kv)| key_field(item, kk).as_ref() == Some(kv))
}

/// The `k:{...}` of an item: its key fields in name order, as managedFields spell them.
fn key_string(item: &Value, keys: &[&str]) -> Option<String> {
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    let mut m = Map::new();
    for k in sorted {
        m.insert(k.to_string(), key_field(item, k)?);
    }
    Some(Value::Object(m).to_string())
}

fn collect_field(name: &str, v: &Value, prefix: &[Pe], out: &mut FieldSet) {
    let mut path = prefix.to_vec();
    path.push(Pe::F(name.to_string()));
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                collect_field(k, c, &path, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            if let Some(keys) =
                list_map_keys(name, items).filter(|k| items.iter().all(|i| has_keys(i, k)))
            {
                for item in items {
                    let ks = key_string(item, keys).expect("checked above");
                    let mut ip = path.clone();
                    ip.push(Pe::K(ks));
                    out.insert(ip.clone());
                    if let Some(m) = item.as_object() {
                        for (k, c) in m {
                            collect_field(k, c, &ip, out);
                        }
                    }
                }
            } else if is_set_list(name) && items.iter().all(|i| !i.is_object() && !i.is_array()) {
                for item in items {
                    let mut ip = path.clone();
                    ip.push(Pe::V(item.to_string()));
                    out.insert(ip);
                }
            } else {
                out.insert(path);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at a field path, if present.
pub fn lookup<'a>(obj: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = obj;
    for pe in path {
        cur = match pe {
            Pe::F(n) => cur.get(n)?,
            Pe::K(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?.iter().find(|i| item_matches(i, &key))?
            }
            Pe::V(v) => {
                let val: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|i| **i == val)?
            }
        };
    }
    Some(cur)
}

/// Remove the field at a path (a map key, a list-map item or a set value).
pub fn remove_path(obj: &mut Value, path: &[Pe]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for pe in parent_path {
        let next = match pe {
            Pe::F(n) => cur.get_mut(n),
            Pe::K(k) => {
                let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                    return;
                };
                cur.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| item_matches(i, &key)))
            }
            Pe::V(_) => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Pe::F(n) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(n);
            }
        }
        Pe::K(k) => {
            if let (Ok(key), Some(a)) = (
                serde_json::from_str::<Map<String, Value>>(k),
                cur.as_array_mut(),
            ) {
                a.retain(|i| !item_matches(i, &key));
            }
        }
        Pe::V(v) => {
            if let (Ok(val), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut()) {
                a.retain(|i| *i != val);
            }
        }
    }
}

fn pe_string(pe: &Pe) -> String {
    match pe {
        Pe::F(n) => format!("f:{n}"),
        Pe::K(k) => format!("k:{k}"),
        Pe::V(v) => format!("v:{v}"),
    }
}

/// Encode a field set as FieldsV1.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for pe in path {
            let e = cur.entry(pe_string(pe)).or_insert_with(|| json!({}));
            cur = e.as_object_mut().expect("trie nodes are objects");
        }
        if matches!(path.last(), Some(Pe::K(_))) || !cur.is_empty() {
            cur.insert(".".into(), json!({}));
        }
    }
    // Mark owned interior nodes: a path that is a prefix of another gets ".".
    for path in set {
        let mut cur = &mut root;
        for pe in path {
            cur = cur
                .get_mut(&pe_string(pe))
                .and_then(Value::as_object_mut)
                .expect("inserted above");
        }
        if cur.keys().any(|k| k != ".") {
            cur.insert(".".into(), json!({}));
        }
    }
    Value::Object(root)
}

/// Decode FieldsV1.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn walk(node: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
        for (k, child) in node {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            let pe = if let Some(n) = k.strip_prefix("f:") {
                Pe::F(n.to_string())
            } else if let Some(n) = k.strip_prefix("k:") {
                Pe::K(n.to_string())
            } else if let Some(n) = k.strip_prefix("v:") {
                Pe::V(n.to_string())
            } else {
                continue;
            };
            path.push(pe);
            match child.as_object() {
                Some(m) if !m.is_empty() => walk(m, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(m) = v.as_object() {
        walk(m, &mut Vec::new(), &mut out);
    }
    out
}

/// Read `metadata.managedFields`.
pub fn read_managed(obj: &Value) -> Vec<Managed> {
    obj.get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Managed {
                    manager: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .into(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    time: e
                        .get("time")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    subresource: e
                        .get("subresource")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Write `metadata.managedFields` (dropping empty entries).
pub fn write_managed(obj: &mut Value, managed: &[Managed]) {
    let entries: Vec<Value> = managed
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if !m.subresource.is_empty() {
                e["subresource"] = json!(m.subresource);
            }
            e
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// Render a path as `.spec.containers[name="x"].image`.
pub fn display_path(path: &[Pe]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::F(n) => {
                s.push('.');
                s.push_str(n);
            }
            Pe::K(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let parts: Vec<String> = key.iter().map(|(kk, kv)| format!("{kk}={kv}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Pe::V(v) => s.push_str(&format!("[{v}]")),
        }
    }
    s
}

/// Record ownership for an ordinary write (create/update/patch) by `manager`.
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: &str,
    now: &str,
) {
    let mut managed = old.map(read_managed).unwrap_or_default();
    let status_only = subresource == "status";
    let new_set = field_set(new, status_only, false);
    let old_set = old
        .map(|o| field_set(o, status_only, false))
        .unwrap_or_default();
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| old.is_none_or(|o| lookup(o, p) != lookup(new, p)))
        .cloned()
        .collect();
    let removed: FieldSet = old_set.difference(&new_set).cloned().collect();
    if changed.is_empty() && removed.is_empty() && old.is_some() {
        write_managed(new, &managed);
        return;
    }
    for m in managed.iter_mut() {
        if m.manager == manager && m.operation == "Update" && m.subresource == subresource {
            continue;
        }
        m.fields
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    match managed
        .iter_mut()
        .find(|m| m.manager == manager && m.operation == "Update" && m.subresource == subresource)
    {
        Some(m) => {
            m.fields.extend(changed);
            m.fields.retain(|p| !removed.contains(p));
            m.time = now.to_string();
            m.api_version = api_version.to_string();
        }
        None => managed.push(Managed {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: subresource.to_string(),
            fields: changed,
        }),
    }
    write_managed(new, &managed);
}

/// Merge an applied configuration into an object: maps recursively, list-maps by key,
/// everything else replaced.
pub fn apply_merge(target: &mut Value, config: &Value) {
    match (target.as_object_mut(), config.as_object()) {
        (Some(t), Some(c)) => {
            for (k, v) in c {
                match v {
                    Value::Object(_) => {
                        let e = t.entry(k.clone()).or_insert_with(|| json!({}));
                        if !e.is_object() {
                            *e = json!({});
                        }
                        apply_merge(e, v);
                    }
                    Value::Array(items) => {
                        let keys = list_map_keys(k, items)
                            .filter(|keys| items.iter().all(|i| has_keys(i, keys)));
                        match (keys, t.get_mut(k)) {
                            (Some(keys), Some(Value::Array(existing))) => {
                                for item in items {
                                    let same = |x: &&mut Value| {
                                        keys.iter()
                                            .all(|key| key_field(x, key) == key_field(item, key))
                                    };
                                    match existing.iter_mut().find(same) {
                                        Some(x) => apply_merge(x, item),
                                        None => existing.push(item.clone()),
                                    }
                                }
                            }
                            (None, Some(Value::Array(existing))) if is_set_list(k) => {
                                for item in items {
                                    if !existing.contains(item) {
                                        existing.push(item.clone());
                                    }
                                }
                            }
                            _ => {
                                t.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = config.clone(),
    }
}

/// Server-side apply of `config` by `manager` onto `live` (None when creating). Returns the
/// new object with managedFields updated, or a 409 naming the conflicting managers.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: &str,
    now: &str,
) -> Result<Value, ApiError> {
    let status_only = subresource == "status";
    let mut managed = live.map(read_managed).unwrap_or_default();
    let cfg_set = field_set(config, status_only, !status_only);
    // Conflicts: fields another manager owns whose value the config changes.
    let mut conflicts: Vec<(String, String, Path)> = Vec::new();
    if let Some(live) = live {
        for m in &managed {
            if m.manager == manager && m.operation == "Apply" {
                continue;
            }
            for p in m.fields.intersection(&cfg_set) {
                if matches!(p.last(), Some(Pe::K(_)) | Some(Pe::V(_))) {
                    continue;
                }
                if lookup(live, p) != lookup(config, p) {
                    conflicts.push((m.manager.clone(), m.api_version.clone(), p.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            let mut e = ApiError::new(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflict{}: {}",
                    conflicts.len(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    conflicts
                        .iter()
                        .map(|(m, v, p)| format!(
                            "conflict with \"{m}\" using {v}: {}",
                            display_path(p)
                        ))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            );
            for (m, v, p) in &conflicts {
                e = e.with_cause(
                    "FieldManagerConflict",
                    &format!("conflict with \"{m}\" using {v}"),
                    &display_path(p),
                );
            }
            return Err(e);
        }
        for m in managed.iter_mut() {
            if m.manager != manager || m.operation != "Apply" {
                m.fields
                    .retain(|p| !conflicts.iter().any(|(_, _, c)| c == p));
            }
        }
    }
    let mut new = live.cloned().unwrap_or_else(|| json!({}));
    let mut cfg = config.clone();
    if let Some(meta) = cfg.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    if !status_only
        && let Some(c) = cfg.as_object_mut()
        && live.is_some()
    {
        c.remove("status");
    }
    apply_merge(&mut new, &cfg);
    // Fields this manager applied before but no longer does, owned by nobody else, go away.
    let prev: FieldSet = managed
        .iter()
        .find(|m| m.manager == manager && m.operation == "Apply" && m.subresource == subresource)
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let mut removed: Vec<Path> = prev.difference(&cfg_set).cloned().collect();
    removed.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in removed {
        // A list-map item's key fields go with the item, never alone (the item is found by them).
        let key_field_of_item = matches!(p.as_slice(), [.., Pe::K(k), Pe::F(n)]
            if serde_json::from_str::<Map<String, Value>>(k).is_ok_and(|m| m.contains_key(n)));
        if key_field_of_item {
            continue;
        }
        let owned_elsewhere = managed.iter().any(|m| {
            !(m.manager == manager && m.operation == "Apply")
                && m.fields.iter().any(|q| q.starts_with(&p))
        });
        let child_applied = cfg_set.iter().any(|q| q.starts_with(&p));
        if !owned_elsewhere && !child_applied {
            remove_path(&mut new, &p);
        }
    }
    match managed
        .iter_mut()
        .find(|m| m.manager == manager && m.operation == "Apply" && m.subresource == subresource)
    {
        Some(m) => {
            m.fields = cfg_set;
            m.time = now.to_string();
            m.api_version = api_version.to_string();
        }
        None => managed.push(Managed {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: subresource.to_string(),
            fields: cfg_set,
        }),
    }
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    write_managed(&mut new, &managed);
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn fields_v1_round_trip() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let set = field_set(&obj, false, true);
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:image"],
            json!({})
        );
        assert!(
            v1["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]
                .get(".")
                .is_some()
        );
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let a = json!({"metadata": {"name": "x"}, "data": {"k1": "v1", "k2": "v2"}});
        let live = apply(None, &a, "alice", false, "v1", "", NOW).unwrap();
        // Bob changes k1: conflict unless forced.
        let b = json!({"metadata": {"name": "x"}, "data": {"k1": "bob"}});
        let err = apply(Some(&live), &b, "bob", false, "v1", "", NOW).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(err.message.contains("alice"), "{}", err.message);
        let live = apply(Some(&live), &b, "bob", true, "v1", "", NOW).unwrap();
        assert_eq!(live["data"]["k1"], "bob");
        // Alice stops applying k2 and k1: k2 is removed, k1 (now Bob's) stays.
        let a2 = json!({"metadata": {"name": "x"}, "data": {}});
        let live = apply(Some(&live), &a2, "alice", false, "v1", "", NOW).unwrap();
        assert_eq!(live["data"], json!({"k1": "bob"}));
    }

    #[test]
    fn ports_are_keyed_by_port_and_protocol() {
        // DNS: the same port over TCP and UDP are two items, owned separately.
        let a = json!({"metadata": {"name": "dns"}, "spec": {"ports": [
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "dns-udp", "port": 53, "protocol": "UDP"}
        ]}});
        let live = apply(None, &a, "alice", false, "v1", "", NOW).expect("first apply");
        assert_eq!(live["spec"]["ports"].as_array().map(Vec::len), Some(2));
        let fields = &live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"];
        assert!(
            fields.get("k:{\"port\":53,\"protocol\":\"UDP\"}").is_some(),
            "{fields}"
        );
        // An item without a protocol is keyed as the TCP one it defaults to.
        let b = json!({"metadata": {"name": "dns"}, "spec": {"ports": [
            {"name": "dns-tcp", "port": 53},
            {"name": "dns-udp", "port": 53, "protocol": "UDP"}
        ]}});
        let live = apply(Some(&live), &b, "alice", false, "v1", "", NOW).expect("re-apply");
        assert_eq!(
            live["spec"]["ports"].as_array().map(Vec::len),
            Some(2),
            "{live}"
        );
        // Dropping the UDP port removes only it.
        let c = json!({"metadata": {"name": "dns"}, "spec": {"ports": [
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"}
        ]}});
        let live =
            apply(Some(&live), &c, "alice", false, "v1", "", NOW).expect("apply without UDP");
        assert_eq!(
            live["spec"]["ports"],
            json!([{"name": "dns-tcp", "port": 53, "protocol": "TCP"}])
        );
    }
}
