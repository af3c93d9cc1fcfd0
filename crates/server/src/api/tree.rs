//! An Application's live resource tree: the objects its status tracks, read from the cluster now,
//! with what the cluster made from them (Deployment → ReplicaSet → Pod, StatefulSet/DaemonSet →
//! Pod, Job → Pod), each with its health as the sync engine judges it. Secret contents never
//! enter the tree (only identity and health).

use std::collections::{BTreeMap, HashMap};

use controller::Application;
use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use super::types::TreeNode;

/// Kinds whose Pods (directly or through ReplicaSets) are shown under them.
const POD_OWNERS: &[&str] = &["ReplicaSet", "StatefulSet", "DaemonSet", "Job"];

/// How many objects are read at once.
const CONCURRENCY: usize = 16;

/// Build the tree of `app`, whose objects go to `dest_ns`.
pub async fn tree(client: &kube::Client, app: &Application, dest_ns: &str) -> Vec<TreeNode> {
    let status = app.status.clone().unwrap_or_default();
    // Hook phases from the last operation.
    let mut hooks: HashMap<(String, String, String), (String, String)> = HashMap::new();
    if let Some(r) = status
        .operation_state
        .as_ref()
        .and_then(|o| o.sync_result.as_ref())
    {
        for res in &r.resources {
            if res.hook_phase.is_some() {
                hooks.insert(
                    (res.kind.clone(), res.namespace.clone(), res.name.clone()),
                    (
                        res.sync_phase.clone().unwrap_or_default(),
                        res.hook_phase.clone().unwrap_or_default(),
                    ),
                );
            }
        }
    }
    // Hooks are not among the tracked resources (as in Argo CD): add them from the operation.
    let mut resources = status.resources.clone();
    if let Some(r) = status
        .operation_state
        .as_ref()
        .and_then(|o| o.sync_result.as_ref())
    {
        for res in r.resources.iter().filter(|r| r.hook_phase.is_some()) {
            let known = resources
                .iter()
                .any(|x| x.kind == res.kind && x.name == res.name && x.namespace == res.namespace);
            if !known {
                resources.push(controller::types::ResourceStatus {
                    group: res.group.clone(),
                    kind: res.kind.clone(),
                    namespace: res.namespace.clone(),
                    name: res.name.clone(),
                    hook: true,
                    ..Default::default()
                });
            }
        }
    }
    let targets: Vec<(GroupVersionKind, String, String)> = resources
        .iter()
        .map(|r| {
            (
                GroupVersionKind::gvk(&r.group, &r.version, &r.kind),
                r.namespace.clone(),
                r.name.clone(),
            )
        })
        .collect();
    let reads = targets.into_iter().map(|(gvk, ns, name)| {
        let client = client.clone();
        async move {
            let ar = api_resource(&client, &gvk).await?;
            let api: Api<DynamicObject> = if ns.is_empty() {
                Api::all_with(client, &ar)
            } else {
                Api::namespaced_with(client, &ns, &ar)
            };
            api.get_opt(&name)
                .await
                .ok()
                .flatten()
                .and_then(|o| serde_json::to_value(o).ok())
        }
    });
    let live: Vec<Option<Value>> = futures_util::stream::iter(reads)
        .buffered(CONCURRENCY)
        .collect()
        .await;

    let mut nodes: Vec<(TreeNode, Option<String>)> = Vec::new();
    let mut owners_present = false;
    for (r, obj) in resources.iter().zip(live) {
        let mut node = TreeNode {
            group: r.group.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            sync: r
                .status
                .as_ref()
                .map(|s| format!("{s:?}"))
                .unwrap_or_default(),
            hook: r.hook,
            requires_pruning: r.requires_pruning,
            live: obj.is_some(),
            ..TreeNode::default()
        };
        if let Some((phase, hook_phase)) =
            hooks.get(&(r.kind.clone(), r.namespace.clone(), r.name.clone()))
        {
            node.hook = true;
            node.sync_phase = phase.clone();
            node.hook_phase = hook_phase.clone();
        }
        match &obj {
            Some(o) => {
                let (h, m) = health_of(o);
                node.health = h;
                node.health_message = m;
                node.info = info_of(o);
            }
            None => {
                if let Some(h) = &r.health {
                    node.health = format!("{:?}", h.status);
                    node.health_message = h.message.clone().unwrap_or_default();
                } else if !r.hook {
                    node.health = "Missing".into();
                }
            }
        }
        if ["Deployment", "StatefulSet", "DaemonSet", "Job"].contains(&r.kind.as_str()) {
            owners_present = true;
        }
        let uid = obj
            .as_ref()
            .and_then(|o| o.pointer("/metadata/uid"))
            .and_then(Value::as_str)
            .map(str::to_string);
        nodes.push((node, uid));
    }
    let children = if owners_present {
        children_of(client, dest_ns).await
    } else {
        HashMap::new()
    };
    nodes
        .into_iter()
        .map(|(mut n, uid)| {
            if let Some(uid) = uid {
                attach(&mut n, &uid, &children);
            }
            n
        })
        .collect()
}

/// How to address objects of `gvk`; without a version (an object no longer rendered), the
/// group's preferred one from discovery.
async fn api_resource(client: &kube::Client, gvk: &GroupVersionKind) -> Option<ApiResource> {
    if !gvk.version.is_empty() {
        return Some(ApiResource::from_gvk(gvk));
    }
    let group = kube::discovery::oneshot::group(client, &gvk.group)
        .await
        .ok()?;
    group.recommended_kind(&gvk.kind).map(|(ar, _)| ar)
}

/// ReplicaSets and Pods of a namespace, by owner uid.
async fn children_of(client: &kube::Client, ns: &str) -> HashMap<String, Vec<(TreeNode, String)>> {
    let mut by_owner: HashMap<String, Vec<(TreeNode, String)>> = HashMap::new();
    for (group, version, kind) in [("apps", "v1", "ReplicaSet"), ("", "v1", "Pod")] {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let Ok(list) = api.list(&ListParams::default()).await else {
            continue;
        };
        for o in list.items {
            let Ok(v) = serde_json::to_value(&o) else {
                continue;
            };
            let uid = o.metadata.uid.clone().unwrap_or_default();
            let (h, m) = health_of(&v);
            let node = TreeNode {
                group: group.into(),
                kind: kind.into(),
                namespace: ns.into(),
                name: o.metadata.name.clone().unwrap_or_default(),
                health: h,
                health_message: m,
                live: true,
                info: info_of(&v),
                ..TreeNode::default()
            };
            // A ReplicaSet scaled to zero (an old revision) is noise in the tree.
            if kind == "ReplicaSet"
                && v.pointer("/spec/replicas").and_then(Value::as_i64) == Some(0)
            {
                continue;
            }
            for owner in o.metadata.owner_references.iter().flatten() {
                by_owner
                    .entry(owner.uid.clone())
                    .or_default()
                    .push((node.clone(), uid.clone()));
            }
        }
    }
    by_owner
}

/// Put the ReplicaSets and Pods `uid` owns (and theirs) under `n`.
fn attach(n: &mut TreeNode, uid: &str, children: &HashMap<String, Vec<(TreeNode, String)>>) {
    if n.kind != "Deployment" && !POD_OWNERS.contains(&n.kind.as_str()) {
        return;
    }
    let mut kids: BTreeMap<(String, String), TreeNode> = BTreeMap::new();
    for (child, child_uid) in children.get(uid).into_iter().flatten() {
        let mut c = child.clone();
        attach(&mut c, child_uid, children);
        kids.insert((c.kind.clone(), c.name.clone()), c);
    }
    n.children = kids.into_values().collect();
}

/// Health and message as the sync engine judges a live object (empty when it has no rule).
pub fn health_of(obj: &Value) -> (String, String) {
    match sync::health::builtin_health(obj) {
        Some(h) => (h.status.to_string(), h.message),
        None => (String::new(), String::new()),
    }
}

/// Short facts shown beside a node. Never a Secret's or ConfigMap's data.
fn info_of(o: &Value) -> Vec<String> {
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
    let num = |p: &str| o.pointer(p).and_then(Value::as_i64);
    let mut out = Vec::new();
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            let want = num("/spec/replicas").unwrap_or(1);
            let ready = num("/status/readyReplicas").unwrap_or(0);
            out.push(format!("replicas: {ready}/{want}"));
        }
        "DaemonSet" => {
            let want = num("/status/desiredNumberScheduled").unwrap_or(0);
            let ready = num("/status/numberReady").unwrap_or(0);
            out.push(format!("ready: {ready}/{want}"));
        }
        "Pod" => {
            if let Some(p) = o.pointer("/status/phase").and_then(Value::as_str) {
                out.push(format!("phase: {p}"));
            }
            let restarts: i64 = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                        .sum()
                })
                .unwrap_or(0);
            if restarts > 0 {
                out.push(format!("restarts: {restarts}"));
            }
            for c in o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(n), Some(i)) = (
                    c.get("name").and_then(Value::as_str),
                    c.get("image").and_then(Value::as_str),
                ) {
                    out.push(format!("container {n}: {i}"));
                }
            }
        }
        "Job" => {
            let ok = num("/status/succeeded").unwrap_or(0);
            let want = num("/spec/completions").unwrap_or(1);
            out.push(format!("completions: {ok}/{want}"));
            if let Some(f) = num("/status/failed").filter(|f| *f > 0) {
                out.push(format!("failed: {f}"));
            }
        }
        "Service" => {
            if let Some(t) = o.pointer("/spec/type").and_then(Value::as_str) {
                out.push(format!("type: {t}"));
            }
        }
        "Secret" | "ConfigMap" => {
            let n = o
                .get("data")
                .and_then(Value::as_object)
                .map(|m| m.len())
                .unwrap_or(0);
            out.push(format!("keys: {n}"));
        }
        _ => {}
    }
    out
}

/// Every Pod of a tree (for `/logs`: only an Application's own Pods may be read).
pub fn pods(nodes: &[TreeNode]) -> Vec<&TreeNode> {
    let mut out = Vec::new();
    for n in nodes {
        if n.kind == "Pod" {
            out.push(n);
        }
        out.extend(pods(&n.children));
    }
    out
}

/// Every `(kind, name)` of a tree (for `/events`).
pub fn objects(nodes: &[TreeNode], out: &mut Vec<(String, String)>) {
    for n in nodes {
        out.push((n.kind.clone(), n.name.clone()));
        objects(&n.children, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_never_show_secret_values() {
        let s = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}});
        let info = info_of(&s);
        assert_eq!(info, ["keys: 1"]);
        assert!(!info.concat().contains("aHVudGVyMg"));
    }

    #[test]
    fn pod_facts() {
        let p = json!({"kind": "Pod", "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
                       "status": {"phase": "Running", "containerStatuses": [{"restartCount": 2}]}});
        assert_eq!(
            info_of(&p),
            ["phase: Running", "restarts: 2", "container web: nginx:1"]
        );
    }
}
