//! What the control plane does besides the API: defaulting and kind validation (the parts of
//! admission Helm and kubectl rely on), garbage collection through ownerReferences
//! (Background, Foreground, Orphan), the namespace lifecycle (Terminating → contents deleted
//! → removed, a `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap in each
//! namespace), and the workload simulator: Deployments → ReplicaSets → Pods, StatefulSets,
//! DaemonSets, Jobs, CronJobs (see `cronjobs`), Services/Endpoints, PVCs, with one simulated
//! Node and Pods that become Ready after a configurable delay. Pod creations refused by
//! admission are recorded (`FailedCreate`) and retried with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::State;
use crate::api::{self, DeleteOpts, WriteOpts};
use crate::events;
use crate::meta;
use crate::registry::{ResKey, ResourceInfo};
use crate::selectors::LabelSelector;
use crate::store::{EventType, WriteOp};

/// The simulated node's name.
pub const NODE_NAME: &str = "devcluster-node";
/// Annotation on a Pod (template) making the simulated container fail.
pub const FAIL_ANNOTATION: &str = "devcluster.trellis.dev/fail";
/// Annotation on a Pod (template) giving how long the simulated container runs (`2s`, `500ms`).
pub const DURATION_ANNOTATION: &str = "devcluster.trellis.dev/duration";
const MANAGER: &str = "kube-controller-manager";
/// The ConfigMap publishing the cluster's CA in every namespace.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

pub(crate) fn key(group: &str, plural: &str) -> ResKey {
    ResKey {
        group: group.into(),
        plural: plural.into(),
    }
}

pub(crate) fn md<'a>(v: &'a Value, f: &str) -> &'a str {
    v.get("metadata")
        .and_then(|m| m.get(f))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Wake the controller loop.
pub fn kick(state: &State) {
    state.kick.notify_one();
}

fn ensure_obj(v: &mut Value, path: &[&str]) {
    let mut cur = v;
    for p in path {
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
}

fn default_if_missing(v: &mut Value, field: &str, d: Value) {
    if v.get(field).is_none_or(Value::is_null) {
        v[field] = d;
    }
}

/// Defaulting done on create and update (like the API server's defaulters and allocators).
pub fn default_object(state: &State, ri: &ResourceInfo, obj: &mut Value, old: Option<&Value>) {
    if ri.custom {
        return;
    }
    match (ri.group.as_str(), ri.kind.as_str()) {
        ("", "Secret") => {
            // As the API server does: stringData is write-only, merged into data (base64),
            // and a Secret without a type is Opaque.
            if let Some(sd) = obj
                .as_object_mut()
                .and_then(|o| o.remove("stringData"))
                .and_then(|v| v.as_object().cloned())
            {
                ensure_obj(obj, &["data"]);
                for (k, v) in sd {
                    let text = v.as_str().unwrap_or_default();
                    obj["data"][k.as_str()] =
                        json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            if obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                obj["type"] = json!("Opaque");
            }
        }
        ("", "Namespace") => {
            let name = md(obj, "name").to_string();
            ensure_obj(obj, &["metadata", "labels"]);
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            ensure_obj(obj, &["spec"]);
            default_if_missing(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
            if old.is_none() {
                obj["status"] = json!({"phase": "Active"});
            }
        }
        ("", "Service") => {
            ensure_obj(obj, &["spec"]);
            let spec = &mut obj["spec"];
            default_if_missing(spec, "type", json!("ClusterIP"));
            let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
            if ty != "ExternalName" {
                default_if_missing(spec, "sessionAffinity", json!("None"));
                default_if_missing(spec, "internalTrafficPolicy", json!("Cluster"));
                default_if_missing(spec, "ipFamilies", json!(["IPv4"]));
                default_if_missing(spec, "ipFamilyPolicy", json!("SingleStack"));
                let old_ip = old.and_then(|o| o["spec"].get("clusterIP")).cloned();
                if spec
                    .get("clusterIP")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    let ip = old_ip.unwrap_or_else(|| json!(state.alloc_ip("10.96")));
                    spec["clusterIP"] = ip.clone();
                    spec["clusterIPs"] = json!([ip]);
                } else if spec.get("clusterIPs").is_none() {
                    spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
                }
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut() {
                    default_if_missing(p, "protocol", json!("TCP"));
                    if p.get("targetPort").is_none() {
                        p["targetPort"] = p.get("port").cloned().unwrap_or(json!(0));
                    }
                    if (ty == "NodePort" || ty == "LoadBalancer") && p.get("nodePort").is_none() {
                        p["nodePort"] = json!(state.alloc_node_port());
                    }
                }
            }
            if ty == "LoadBalancer" {
                default_if_missing(spec, "externalTrafficPolicy", json!("Cluster"));
            }
        }
        ("", "Pod") => {
            ensure_obj(obj, &["spec"]);
            let spec = &mut obj["spec"];
            default_if_missing(spec, "restartPolicy", json!("Always"));
            default_if_missing(spec, "dnsPolicy", json!("ClusterFirst"));
            default_if_missing(spec, "schedulerName", json!("default-scheduler"));
            default_if_missing(spec, "terminationGracePeriodSeconds", json!(30));
            default_if_missing(spec, "serviceAccountName", json!("default"));
            default_if_missing(spec, "securityContext", json!({}));
            // A container that sets only a limit requests that much.
            for list in ["containers", "initContainers"] {
                for c in spec[list].as_array_mut().into_iter().flatten() {
                    let Some(limits) = c["resources"]["limits"].as_object().cloned() else {
                        continue;
                    };
                    if !c["resources"]["requests"].is_object() {
                        c["resources"]["requests"] = json!({});
                    }
                    for (k, v) in limits {
                        default_if_missing(&mut c["resources"]["requests"], &k, v);
                    }
                }
            }
            if old.is_none() && obj.get("status").is_none_or(|s| s.get("phase").is_none()) {
                obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
        }
        ("", "PersistentVolumeClaim") => {
            ensure_obj(obj, &["spec"]);
            default_if_missing(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            if old.is_none() {
                obj["status"] = json!({"phase": "Pending"});
            }
        }
        ("apps", "Deployment") => {
            ensure_obj(obj, &["spec"]);
            let spec = &mut obj["spec"];
            default_if_missing(spec, "replicas", json!(1));
            default_if_missing(spec, "revisionHistoryLimit", json!(10));
            default_if_missing(spec, "progressDeadlineSeconds", json!(600));
            default_if_missing(spec, "strategy", json!({"type": "RollingUpdate"}));
            if spec["strategy"]["type"] == json!("RollingUpdate") {
                ensure_obj(spec, &["strategy", "rollingUpdate"]);
                default_if_missing(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                default_if_missing(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxSurge",
                    json!("25%"),
                );
            }
        }
        ("apps", "ReplicaSet") => {
            ensure_obj(obj, &["spec"]);
            default_if_missing(&mut obj["spec"], "replicas", json!(1));
        }
        ("apps", "StatefulSet") => {
            ensure_obj(obj, &["spec"]);
            let spec = &mut obj["spec"];
            default_if_missing(spec, "replicas", json!(1));
            default_if_missing(spec, "podManagementPolicy", json!("OrderedReady"));
            default_if_missing(spec, "revisionHistoryLimit", json!(10));
            default_if_missing(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            default_if_missing(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
        }
        ("apps", "DaemonSet") => {
            ensure_obj(obj, &["spec"]);
            let spec = &mut obj["spec"];
            default_if_missing(spec, "revisionHistoryLimit", json!(10));
            default_if_missing(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        ("batch", "Job") => {
            ensure_obj(obj, &["spec"]);
            let uid = md(obj, "uid").to_string();
            let name = md(obj, "name").to_string();
            let spec = &mut obj["spec"];
            default_if_missing(spec, "completions", json!(1));
            default_if_missing(spec, "parallelism", json!(1));
            default_if_missing(spec, "backoffLimit", json!(6));
            default_if_missing(spec, "completionMode", json!("NonIndexed"));
            default_if_missing(spec, "suspend", json!(false));
            if old.is_none()
                && spec.get("manualSelector") != Some(&json!(true))
                && spec.get("selector").is_none()
            {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
                ensure_obj(spec, &["template", "metadata", "labels"]);
                let labels = &mut spec["template"]["metadata"]["labels"];
                labels["batch.kubernetes.io/controller-uid"] = json!(uid);
                labels["batch.kubernetes.io/job-name"] = json!(name);
                labels["controller-uid"] = json!(uid);
                labels["job-name"] = json!(name);
            }
        }
        ("", "LimitRange") => crate::admission::default_limit_range(obj),
        ("batch", "CronJob") => {
            ensure_obj(obj, &["spec"]);
            let spec = &mut obj["spec"];
            default_if_missing(spec, "concurrencyPolicy", json!("Allow"));
            default_if_missing(spec, "suspend", json!(false));
            default_if_missing(spec, "successfulJobsHistoryLimit", json!(3));
            default_if_missing(spec, "failedJobsHistoryLimit", json!(1));
        }
        _ => {}
    }
}

/// Kind-specific validation (the checks charts most often trip), as (field, message).
pub fn validate_kind(ri: &ResourceInfo, obj: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if ri.custom {
        return out;
    }
    let containers_check =
        |spec: Option<&Value>, prefix: &str, out: &mut Vec<(String, String)>| match spec
            .and_then(|s| s.get("containers"))
            .and_then(Value::as_array)
        {
            None => out.push((format!("{prefix}.containers"), "Required value".into())),
            Some(cs) if cs.is_empty() => {
                out.push((format!("{prefix}.containers"), "Required value".into()))
            }
            Some(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    if c.get("name")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        out.push((
                            format!("{prefix}.containers[{i}].name"),
                            "Required value".into(),
                        ));
                    }
                    if c.get("image")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        out.push((
                            format!("{prefix}.containers[{i}].image"),
                            "Required value".into(),
                        ));
                    }
                }
            }
        };
    match (ri.group.as_str(), ri.kind.as_str()) {
        ("", "Pod") => containers_check(obj.get("spec"), "spec", &mut out),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            let spec = &obj["spec"];
            containers_check(spec["template"].get("spec"), "spec.template.spec", &mut out);
            match spec.get("selector") {
                None => out.push(("spec.selector".into(), "Required value".into())),
                Some(sel) => {
                    let s = LabelSelector::from_object(sel);
                    let labels = spec["template"]["metadata"]
                        .get("labels")
                        .and_then(Value::as_object);
                    if s.is_empty() {
                        out.push((
                            "spec.selector".into(),
                            "Invalid value: empty selector is invalid for deployment".into(),
                        ));
                    } else if !s.matches_labels(labels) {
                        out.push((
                            "spec.template.metadata.labels".into(),
                            "Invalid value: `selector` does not match template `labels`".into(),
                        ));
                    }
                }
            }
            if spec
                .get("replicas")
                .and_then(Value::as_i64)
                .is_some_and(|r| r < 0)
            {
                out.push((
                    "spec.replicas".into(),
                    "Invalid value: must be greater than or equal to 0".into(),
                ));
            }
        }
        ("batch", "Job") => containers_check(
            obj["spec"]["template"].get("spec"),
            "spec.template.spec",
            &mut out,
        ),
        ("batch", "CronJob") => {
            let schedule = obj["spec"]["schedule"].as_str().unwrap_or_default();
            if schedule.is_empty() {
                out.push(("spec.schedule".into(), "Required value".into()));
            } else if schedule.contains("TZ") {
                out.push((
                    "spec.schedule".into(),
                    format!("Invalid value: {schedule:?}: cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
                ));
            } else if let Err(e) = crate::cron::Schedule::parse(schedule) {
                out.push((
                    "spec.schedule".into(),
                    format!("Invalid value: {schedule:?}: {e}"),
                ));
            }
            if let Some(tz) = obj["spec"]["timeZone"].as_str()
                && crate::cronjobs::time_zone(tz).is_none()
            {
                out.push((
                    "spec.timeZone".into(),
                    format!("Invalid value: {tz:?}: unknown time zone {tz}"),
                ));
            }
        }
        ("", "ConfigMap") => {
            for field in ["data", "binaryData"] {
                if let Some(d) = obj.get(field) {
                    match d.as_object() {
                        Some(m) => {
                            for (k, v) in m {
                                if !v.is_string() {
                                    out.push((
                                        format!("{field}.{k}"),
                                        "Invalid value: must be a string".into(),
                                    ));
                                }
                            }
                        }
                        None if d.is_null() => {}
                        None => out.push((
                            field.to_string(),
                            "Invalid value: must be a map of strings".into(),
                        )),
                    }
                }
            }
        }
        ("", "Service") => {
            let spec = &obj["spec"];
            let ty = spec["type"].as_str().unwrap_or("ClusterIP");
            let headless = spec["clusterIP"].as_str() == Some("None");
            let ports = spec.get("ports").and_then(Value::as_array);
            if ty != "ExternalName" && !headless && ports.is_none_or(|p| p.is_empty()) {
                out.push(("spec.ports".into(), "Required value".into()));
            }
        }
        _ => {}
    }
    out
}

/// Remove the ownerReference to `uid` from every dependent (Orphan propagation).
pub fn orphan_dependents(state: &State, uid: &str) {
    for (k, ns, name) in state.store.dependents(uid) {
        let _ = state.store.write(&k, &ns, &name, false, |cur| {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            let mut v = (**cur).clone();
            if let Some(refs) = v["metadata"]
                .get_mut("ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                if refs.is_empty()
                    && let Some(m) = v["metadata"].as_object_mut()
                {
                    m.remove("ownerReferences");
                }
            }
            Ok(WriteOp::Put(v))
        });
    }
}

/// Called after an object is really gone: cascade to dependents whose owners are all gone,
/// unregister CRDs and delete their objects.
pub fn on_deleted(state: &State, ri: &ResourceInfo, obj: &Value) {
    let uid = md(obj, "uid").to_string();
    if ri.kind == "CustomResourceDefinition" && ri.group == "apiextensions.k8s.io" {
        if let Ok(infos) = crate::registry::crd_resources(obj)
            && let Some(first) = infos.first()
        {
            let (_, items, _) = state.store.list(&first.key(), None, None, 0, &|_| true);
            for item in items {
                let _ = api::delete(
                    state,
                    first,
                    md(&item, "namespace"),
                    md(&item, "name"),
                    &DeleteOpts::default(),
                );
            }
        }
        api::crd_deleted(state, obj);
    }
    gc_dependents(state, &uid);
    if ri.namespaced {
        let ns = md(obj, "namespace");
        if !ns.is_empty() && state.store.count(&key("", "resourcequotas"), Some(ns)) > 0 {
            crate::admission::refresh_quotas(state, ns);
        }
    }
    kick(state);
}

fn gc_dependents(state: &State, uid: &str) {
    for (k, ns, name) in state.store.dependents(uid) {
        let Some(dep) = state.store.get(&k, &ns, &name) else {
            continue;
        };
        let alive = dep["metadata"]["ownerReferences"]
            .as_array()
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str))
                    .any(|u| u != uid && state.store.uid_exists(u))
            })
            .unwrap_or(false);
        if alive {
            // Drop only the dangling reference.
            let _ = state.store.write(&k, &ns, &name, false, |cur| {
                let Some(cur) = cur else {
                    return Ok(WriteOp::Keep);
                };
                let mut v = (**cur).clone();
                if let Some(refs) = v["metadata"]
                    .get_mut("ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                }
                Ok(WriteOp::Put(v))
            });
            continue;
        }
        if let Some(ri) = find_by_key(state, &k) {
            let _ = api::delete(state, &ri, &ns, &name, &DeleteOpts::default());
        }
    }
}

fn find_by_key(state: &State, k: &ResKey) -> Option<ResourceInfo> {
    state
        .registry
        .all()
        .iter()
        .find(|r| r.group == k.group && r.plural == k.plural)
        .cloned()
}

/// The controller loop: reacts to store events (debounced) and to due timers.
pub async fn run(state: Arc<State>) {
    let mut rx = state.store.subscribe();
    let mut due: Option<Instant> = Some(Instant::now());
    loop {
        let sleep = match due {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        let mut dirty = false;
        tokio::select! {
            ev = rx.recv() => {
                match ev {
                    Ok(ev) => dirty |= relevant(&ev.key, ev.etype),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => dirty = true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
            _ = state.kick.notified() => dirty = true,
            _ = tokio::time::sleep(sleep) => dirty = true,
        }
        if state.shutdown.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if !dirty {
            continue;
        }
        // Debounce: let a burst of writes land, then drain what queued up.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) =
            rx.try_recv()
        {}
        let st = state.clone();
        let next = tokio::task::spawn_blocking(move || reconcile(&st))
            .await
            .ok()
            .flatten();
        due = next;
    }
}

fn relevant(k: &ResKey, _t: EventType) -> bool {
    matches!(
        (k.group.as_str(), k.plural.as_str()),
        (
            "",
            "namespaces" | "pods" | "services" | "persistentvolumeclaims" | "resourcequotas"
        ) | (
            "apps",
            "deployments" | "replicasets" | "statefulsets" | "daemonsets"
        ) | ("batch", "jobs" | "cronjobs")
    )
}

/// One reconcile pass of every controller; returns when the next timed pass is due.
pub fn reconcile(state: &State) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    let mut due = |t: Instant| {
        next = Some(next.map_or(t, |n| n.min(t)));
    };
    foreground(state);
    namespaces(state);
    deployments(state);
    replicasets(state);
    statefulsets(state);
    daemonsets(state);
    if let Some(t) = crate::cronjobs::cronjobs(state) {
        due(t);
    }
    jobs(state);
    pods(state, &mut due);
    services(state);
    pvcs(state);
    crate::admission::refresh_all_quotas(state);
    events::expire(state);
    if let Some(t) = backoff_due(state) {
        due(t);
    }
    next
}

pub(crate) fn all(state: &State, group: &str, plural: &str) -> Vec<Arc<Value>> {
    state
        .store
        .list(&key(group, plural), None, None, 0, &|_| true)
        .1
}

pub(crate) fn ri(state: &State, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
    state.registry.find(group, version, plural)
}

pub(crate) fn controller_opts() -> WriteOpts {
    WriteOpts {
        field_manager: MANAGER.into(),
        validation: api::FieldValidation::Ignore,
        ..Default::default()
    }
}

/// Write a new status (or other change) if it differs.
fn put_if_changed(
    state: &State,
    group: &str,
    plural: &str,
    ns: &str,
    name: &str,
    f: impl FnOnce(&mut Value),
) {
    let _ = state
        .store
        .write(&key(group, plural), ns, name, false, |cur| {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            let mut v = (**cur).clone();
            f(&mut v);
            if v == **cur {
                Ok(WriteOp::Keep)
            } else {
                Ok(WriteOp::Put(v))
            }
        });
}

/// Write a new `status` computed from the current one, if it differs; unlike [`put_if_changed`]
/// the object is copied only when the status really changes (controllers run this for every
/// object on every pass).
pub(crate) fn put_status_if_changed(
    state: &State,
    group: &str,
    plural: &str,
    ns: &str,
    name: &str,
    f: impl FnOnce(&Value) -> Value,
) {
    let _ = state
        .store
        .write(&key(group, plural), ns, name, false, |cur| {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            let status = f(&cur["status"]);
            if status == cur["status"] {
                return Ok(WriteOp::Keep);
            }
            let mut v = (**cur).clone();
            v["status"] = status;
            Ok(WriteOp::Put(v))
        });
}

fn foreground(state: &State) {
    let pending: Vec<(ResKey, String, String)> = state
        .foreground
        .lock()
        .expect("lock")
        .iter()
        .cloned()
        .collect();
    for (k, ns, name) in pending {
        let Some(obj) = state.store.get(&k, &ns, &name) else {
            state
                .foreground
                .lock()
                .expect("lock")
                .remove(&(k, ns, name));
            continue;
        };
        let uid = md(&obj, "uid").to_string();
        let deps = state.store.dependents(&uid);
        if deps.is_empty() {
            let res = state.store.write(&k, &ns, &name, false, |cur| {
                let Some(cur) = cur else {
                    return Ok(WriteOp::Keep);
                };
                let mut v = (**cur).clone();
                if let Some(f) = v["metadata"]
                    .get_mut("finalizers")
                    .and_then(Value::as_array_mut)
                {
                    f.retain(|x| x != "foregroundDeletion");
                    if f.is_empty() {
                        return Ok(WriteOp::Delete);
                    }
                }
                Ok(WriteOp::Put(v))
            });
            if let (Ok(r), Some(rinfo)) = (res, find_by_key(state, &k))
                && r.etype == Some(EventType::Deleted)
            {
                on_deleted(state, &rinfo, &r.object);
            }
            state
                .foreground
                .lock()
                .expect("lock")
                .remove(&(k, ns, name));
        } else {
            for (dk, dns, dname) in deps {
                if let Some(rinfo) = find_by_key(state, &dk) {
                    let opts = DeleteOpts {
                        propagation: Some("Foreground".into()),
                        ..Default::default()
                    };
                    let _ = api::delete(state, &rinfo, &dns, &dname, &opts);
                }
            }
        }
    }
}

fn namespaces(state: &State) {
    for ns in all(state, "", "namespaces") {
        let name = md(&ns, "name").to_string();
        let terminating = ns["metadata"].get("deletionTimestamp").is_some();
        if !terminating {
            namespace_created(state, &name);
            continue;
        }
        let mut remaining = 0;
        for rinfo in state.registry.all().iter().filter(|r| r.namespaced) {
            let k = rinfo.key();
            let (_, items, _) = state.store.list(&k, Some(&name), None, 0, &|_| true);
            remaining += items.len();
            for item in items {
                if item["metadata"].get("deletionTimestamp").is_none() {
                    let _ = api::delete(
                        state,
                        rinfo,
                        &name,
                        md(&item, "name"),
                        &DeleteOpts::default(),
                    );
                }
            }
        }
        let left: usize = state
            .store
            .keys()
            .iter()
            .map(|k| state.store.count(k, Some(&name)))
            .sum();
        if left == 0 || remaining == 0 {
            let left_now: usize = state
                .store
                .keys()
                .iter()
                .map(|k| state.store.count(k, Some(&name)))
                .sum();
            if left_now == 0 {
                let _ = state
                    .store
                    .write(&key("", "namespaces"), "", &name, false, |cur| {
                        if cur.is_none() {
                            return Ok(WriteOp::Keep);
                        }
                        Ok(WriteOp::Delete)
                    });
            }
        } else {
            put_if_changed(state, "", "namespaces", "", &name, |v| {
                v["status"]["conditions"] = json!([{
                    "type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                    "message": format!("Some resources are remaining: {left} objects"),
                    "lastTransitionTime": md(v, "deletionTimestamp"),
                }]);
            });
        }
    }
}

/// What the service-account and root-ca-cert-publisher controllers keep in every active
/// namespace: the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap. Run when a
/// namespace is created (so a Pod created right after it is admitted) and on every pass.
pub fn namespace_created(state: &State, ns: &str) {
    if state
        .store
        .get(&key("", "serviceaccounts"), ns, "default")
        .is_none()
        && let Some(sa) = ri(state, "", "v1", "serviceaccounts")
    {
        let _ = api::create(
            state,
            &sa,
            ns,
            json!({"metadata": {"name": "default"}}),
            &controller_opts(),
        );
    }
    let Some(ca) = state.root_ca.get() else {
        return;
    };
    let data = json!({"ca.crt": ca});
    match state
        .store
        .get(&key("", "configmaps"), ns, ROOT_CA_CONFIGMAP)
    {
        Some(cm) if cm["data"] == data => {}
        Some(_) => put_if_changed(state, "", "configmaps", ns, ROOT_CA_CONFIGMAP, |v| {
            v["data"] = data.clone();
        }),
        None => {
            if let Some(cm_ri) = ri(state, "", "v1", "configmaps") {
                let opts = WriteOpts {
                    field_manager: "kube-controller-manager".into(),
                    ..controller_opts()
                };
                let _ = api::create(
                    state,
                    &cm_ri,
                    ns,
                    json!({
                        "metadata": {"name": ROOT_CA_CONFIGMAP, "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
                        }},
                        "data": data,
                    }),
                    &opts,
                );
            }
        }
    }
}

/// A short stable hash of a pod template (like pod-template-hash).
pub fn template_hash(template: &Value) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut h: u32 = 0x811c9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    let mut x = h;
    for _ in 0..10 {
        out.push(ALPHABET[(x % ALPHABET.len() as u32) as usize] as char);
        x /= ALPHABET.len() as u32;
        if x == 0 {
            break;
        }
    }
    out
}

/// Objects grouped by the uid of their controlling owner, built once per pass so that each
/// controller looks up its children instead of scanning every object (O(n), not O(owners × n)).
fn by_controller(items: &[Arc<Value>]) -> std::collections::HashMap<&str, Vec<&Arc<Value>>> {
    let mut out: std::collections::HashMap<&str, Vec<&Arc<Value>>> =
        std::collections::HashMap::new();
    for o in items {
        let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
            continue;
        };
        for r in refs {
            if r["controller"] == json!(true)
                && let Some(uid) = r["uid"].as_str()
            {
                out.entry(uid).or_default().push(o);
            }
        }
    }
    out
}

/// The children of `uid` in an index built by [`by_controller`].
fn children<'a>(
    index: &std::collections::HashMap<&str, Vec<&'a Arc<Value>>>,
    uid: &str,
) -> Vec<&'a Arc<Value>> {
    index.get(uid).cloned().unwrap_or_default()
}

fn owned_by<'a>(items: &'a [Arc<Value>], uid: &str) -> Vec<&'a Arc<Value>> {
    items
        .iter()
        .filter(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r["uid"].as_str() == Some(uid) && r["controller"] == json!(true))
                })
        })
        .collect()
}

pub(crate) fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!([{
        "apiVersion": api_version, "kind": kind, "name": md(owner, "name"), "uid": md(owner, "uid"),
        "controller": true, "blockOwnerDeletion": true
    }])
}

fn percent_or_int(v: Option<&Value>, total: i64, round_up: bool) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) if s.ends_with('%') => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            if round_up {
                (p * total + 99) / 100
            } else {
                p * total / 100
            }
        }
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The Pods in `ns` controlled by the owner with `uid` that are not being deleted.
fn live_pods_of(state: &State, ns: &str, uid: &str) -> Vec<Arc<Value>> {
    let list = state
        .store
        .list(&key("", "pods"), Some(ns), None, 0, &|_| true)
        .1;
    owned_by(&list, uid)
        .into_iter()
        .filter(|p| !deleting(p))
        .cloned()
        .collect()
}

pub(crate) fn deleting(o: &Value) -> bool {
    o["metadata"].get("deletionTimestamp").is_some()
}

fn deployments(state: &State) {
    let Some(rs_ri) = ri(state, "apps", "v1", "replicasets") else {
        return;
    };
    let all_rs = all(state, "apps", "replicasets");
    let index = by_controller(&all_rs);
    for d in all(state, "apps", "deployments") {
        if deleting(&d) {
            continue;
        }
        let ns = md(&d, "namespace").to_string();
        let name = md(&d, "name").to_string();
        let uid = md(&d, "uid").to_string();
        let spec = &d["spec"];
        let desired = spec["replicas"].as_i64().unwrap_or(1);
        let template = spec["template"].clone();
        let hash = template_hash(&template);
        let owned: Vec<Arc<Value>> = children(&index, &uid).into_iter().cloned().collect();
        let new_rs_name = format!("{name}-{hash}");
        let max_revision = owned
            .iter()
            .filter_map(|r| {
                r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()?
                    .parse::<i64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        let new_rs = owned.iter().find(|r| md(r, "name") == new_rs_name).cloned();
        let recreate = spec["strategy"]["type"] == json!("Recreate");
        let old_active: i64 = owned
            .iter()
            .filter(|r| md(r, "name") != new_rs_name)
            .map(|r| {
                r["status"]["replicas"]
                    .as_i64()
                    .unwrap_or(0)
                    .max(r["spec"]["replicas"].as_i64().unwrap_or(0))
            })
            .sum();
        let max_unavailable = if spec["strategy"]["type"] == json!("RollingUpdate") {
            percent_or_int(
                spec["strategy"]["rollingUpdate"].get("maxUnavailable"),
                desired,
                false,
            )
        } else {
            0
        };
        let paused = spec["paused"] == json!(true);
        match &new_rs {
            None if !paused => {
                let mut tmpl = template.clone();
                ensure_obj(&mut tmpl, &["metadata", "labels"]);
                tmpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = spec["selector"].clone();
                ensure_obj(&mut selector, &["matchLabels"]);
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let mut labels = tmpl["metadata"]["labels"].clone();
                if !labels.is_object() {
                    labels = json!({});
                }
                let replicas = if recreate && old_active > 0 {
                    0
                } else {
                    desired
                };
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": new_rs_name, "namespace": ns, "labels": labels,
                        "annotations": {
                            "deployment.kubernetes.io/revision": (max_revision + 1).to_string(),
                            "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                            "deployment.kubernetes.io/max-replicas": desired.to_string(),
                        },
                        "ownerReferences": owner_ref(&d, "apps/v1", "Deployment"),
                    },
                    "spec": {"replicas": replicas, "minReadySeconds": spec.get("minReadySeconds").cloned().unwrap_or(json!(0)), "selector": selector, "template": tmpl},
                });
                let d_uid = md(&d, "uid").to_string();
                let created = if backing_off(state, &d_uid) {
                    None
                } else {
                    Some(api::create(state, &rs_ri, &ns, rs, &controller_opts()))
                };
                match created {
                    None => {}
                    Some(Ok(w)) => {
                        clear_refusal(state, &d_uid);
                        if replicas > 0 {
                            let rs_name = md(&w.object, "name");
                            events::record(
                                state,
                                &d,
                                None,
                                events::EventType::Normal,
                                "ScalingReplicaSet",
                                &format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                                events::DEPLOYMENT_CONTROLLER,
                            );
                        }
                    }
                    // Refused (a quota on count/replicasets.apps): said once per retry.
                    Some(Err(e)) if e.code != 409 => {
                        note_refusal(state, &d_uid);
                        events::record(
                            state,
                            &d,
                            None,
                            events::EventType::Warning,
                            "ReplicaSetCreateError",
                            &format!(
                                "Failed to create new replica set {new_rs_name:?}: {}",
                                e.message
                            ),
                            events::DEPLOYMENT_CONTROLLER,
                        );
                    }
                    Some(Err(_)) => {}
                }
            }
            Some(rs) if !paused => {
                let new_ready = rs["status"]["readyReplicas"].as_i64().unwrap_or(0);
                let want = if recreate && old_active > 0 {
                    0
                } else {
                    desired
                };
                let is_latest = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    == Some(max_revision);
                let rs_name = md(rs, "name").to_string();
                scaling_event(state, &d, rs, want);
                put_if_changed(state, "apps", "replicasets", &ns, &rs_name, |v| {
                    v["spec"]["replicas"] = json!(want);
                    v["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                        json!(desired.to_string());
                    v["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] =
                        json!(desired.to_string());
                    if !is_latest {
                        v["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                            json!((max_revision + 1).to_string());
                    }
                });
                // Old ReplicaSets scale down once the new one is ready (or at once for Recreate).
                for old in owned.iter().filter(|r| md(r, "name") != new_rs_name) {
                    if recreate || new_ready >= desired {
                        scaling_event(state, &d, old, 0);
                        put_if_changed(state, "apps", "replicasets", &ns, md(old, "name"), |v| {
                            v["spec"]["replicas"] = json!(0);
                        });
                    }
                }
                // Keep revisionHistoryLimit old ReplicaSets at zero replicas.
                let limit = spec["revisionHistoryLimit"].as_i64().unwrap_or(10).max(0) as usize;
                let mut zeroed: Vec<&Arc<Value>> = owned
                    .iter()
                    .filter(|r| {
                        md(r, "name") != new_rs_name
                            && r["spec"]["replicas"] == json!(0)
                            && r["status"]["replicas"].as_i64().unwrap_or(0) == 0
                    })
                    .collect();
                if zeroed.len() > limit {
                    zeroed.sort_by_key(|r| {
                        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                            .as_str()
                            .and_then(|s| s.parse::<i64>().ok())
                            .unwrap_or(0)
                    });
                    for r in &zeroed[..zeroed.len() - limit] {
                        let _ =
                            api::delete(state, &rs_ri, &ns, md(r, "name"), &DeleteOpts::default());
                    }
                }
            }
            _ => {}
        }
        // Status from the ReplicaSets as they are now.
        let owned_now: Vec<Arc<Value>> = {
            let rs_now = state
                .store
                .list(&key("apps", "replicasets"), Some(&ns), None, 0, &|_| true)
                .1;
            owned_by(&rs_now, &uid).into_iter().cloned().collect()
        };
        let sum = |f: &str| -> i64 {
            owned_now
                .iter()
                .map(|r| r["status"][f].as_i64().unwrap_or(0))
                .sum()
        };
        let replicas = sum("replicas");
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let new_now = owned_now.iter().find(|r| md(r, "name") == new_rs_name);
        let updated = new_now
            .map(|r| r["status"]["replicas"].as_i64().unwrap_or(0))
            .unwrap_or(0);
        let generation = d["metadata"]["generation"].clone();
        let complete = updated == desired && replicas == desired && available >= desired;
        let now = meta::now();
        put_if_changed(state, "apps", "deployments", &ns, &name, |v| {
            let old_conds = v["status"]["conditions"].clone();
            let cond = |t: &str, status: bool, reason: &str, message: String| -> Value {
                let prev = old_conds
                    .as_array()
                    .and_then(|a| a.iter().find(|c| c["type"] == json!(t)).cloned());
                let st = if status { "True" } else { "False" };
                let (ltt, lut) = match &prev {
                    Some(p) if p["status"] == json!(st) && p["reason"] == json!(reason) => {
                        (p["lastTransitionTime"].clone(), p["lastUpdateTime"].clone())
                    }
                    Some(p) if p["status"] == json!(st) => {
                        (p["lastTransitionTime"].clone(), json!(now))
                    }
                    _ => (json!(now), json!(now)),
                };
                json!({"type": t, "status": st, "lastUpdateTime": lut, "lastTransitionTime": ltt, "reason": reason, "message": message})
            };
            let avail_ok = available >= desired - max_unavailable;
            let available_c = cond(
                "Available",
                avail_ok,
                if avail_ok {
                    "MinimumReplicasAvailable"
                } else {
                    "MinimumReplicasUnavailable"
                },
                if avail_ok {
                    "Deployment has minimum availability.".into()
                } else {
                    "Deployment does not have minimum availability.".into()
                },
            );
            let progressing_c = if complete {
                cond(
                    "Progressing",
                    true,
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{new_rs_name}\" has successfully progressed."),
                )
            } else {
                cond(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{new_rs_name}\" is progressing."),
                )
            };
            let mut status = json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": available,
                "conditions": [available_c, progressing_c],
            });
            if replicas - available > 0 {
                status["unavailableReplicas"] = json!(replicas - available);
            }
            for f in [
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
            ] {
                if status[f] == json!(0)
                    && let Some(m) = status.as_object_mut()
                {
                    m.remove(f);
                }
            }
            v["status"] = status;
        });
    }
}

/// The deployment controller's `ScalingReplicaSet` event, when `rs` is to change to `to` replicas.
fn scaling_event(state: &State, d: &Value, rs: &Value, to: i64) {
    let from = rs["spec"]["replicas"].as_i64().unwrap_or(1);
    if from == to {
        return;
    }
    let dir = if to > from { "up" } else { "down" };
    events::record(
        state,
        d,
        None,
        events::EventType::Normal,
        "ScalingReplicaSet",
        &format!(
            "Scaled {dir} replica set {} from {from} to {to}",
            md(rs, "name")
        ),
        events::DEPLOYMENT_CONTROLLER,
    );
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == json!("Ready") && c["status"] == json!("True"))
    })
}

fn new_pod(
    state: &State,
    owner: &Value,
    owner_av: &str,
    owner_kind: &str,
    template: &Value,
    name: String,
    extra_labels: Value,
) -> Value {
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    if let Some(m) = extra_labels.as_object() {
        for (k, v) in m {
            labels[k] = v.clone();
        }
    }
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": md(owner, "namespace"), "labels": labels,
            "ownerReferences": owner_ref(owner, owner_av, owner_kind),
        },
        "spec": template["spec"].clone(),
    });
    if let Some(a) = template["metadata"].get("annotations") {
        pod["metadata"]["annotations"] = a.clone();
    }
    pod["spec"]["nodeName"] = json!(NODE_NAME);
    if name.ends_with('-') {
        // Named by the API server, as the ReplicaSet, Job and DaemonSet controllers do.
        if let Some(m) = pod["metadata"].as_object_mut() {
            m.remove("name");
            m.insert("generateName".into(), json!(name));
        }
    }
    let _ = state;
    pod
}

/// Whether the owner's Pod creation is still backing off after a refusal.
fn backing_off(state: &State, owner_uid: &str) -> bool {
    state
        .create_backoff
        .lock()
        .expect("backoff lock poisoned")
        .get(owner_uid)
        .is_some_and(|(_, next)| *next > Instant::now())
}

/// Create a Pod for `owner` as its controller does: when the API refuses it (admission: a
/// missing ServiceAccount, quota, LimitRange), record a `FailedCreate` Warning with the
/// controller's wording (`failed` gets the API's message) and retry after an exponential
/// backoff (250ms doubling to 8s), as the controllers' rate-limited work queues do.
fn create_owned_pod(
    state: &State,
    pod_ri: &ResourceInfo,
    owner: &Value,
    pod: Value,
    source: events::Source,
    failed: impl FnOnce(&str) -> String,
) -> Result<api::Written, ()> {
    let uid = md(owner, "uid").to_string();
    match api::create(
        state,
        pod_ri,
        md(owner, "namespace"),
        pod,
        &controller_opts(),
    ) {
        Ok(w) => {
            clear_refusal(state, &uid);
            Ok(w)
        }
        Err(e) => {
            note_refusal(state, &uid);
            events::record(
                state,
                owner,
                None,
                events::EventType::Warning,
                "FailedCreate",
                &failed(&e.message),
                source,
            );
            Err(())
        }
    }
}

/// Back off the owner's next create: 250ms doubling to 8s.
fn note_refusal(state: &State, owner_uid: &str) {
    let mut b = state.create_backoff.lock().expect("backoff lock poisoned");
    let entry = b
        .entry(owner_uid.to_string())
        .or_insert((0, Instant::now()));
    entry.0 = (entry.0 + 1).min(16);
    let delay = Duration::from_millis(250)
        .saturating_mul(1 << (entry.0 - 1).min(5))
        .min(Duration::from_secs(8));
    entry.1 = Instant::now() + delay;
}

fn clear_refusal(state: &State, owner_uid: &str) {
    state
        .create_backoff
        .lock()
        .expect("backoff lock poisoned")
        .remove(owner_uid);
}

/// When the next retry of a refused Pod creation is due (forgetting long-past ones).
fn backoff_due(state: &State) -> Option<Instant> {
    let now = Instant::now();
    let mut b = state.create_backoff.lock().expect("backoff lock poisoned");
    b.retain(|_, (_, next)| now.saturating_duration_since(*next) < Duration::from_secs(600));
    b.values().map(|(_, n)| *n).filter(|n| *n > now).min()
}

fn replicasets(state: &State) {
    let Some(pod_ri) = ri(state, "", "v1", "pods") else {
        return;
    };
    let all_pods = all(state, "", "pods");
    let index = by_controller(&all_pods);
    for rs in all(state, "apps", "replicasets") {
        let ns = md(&rs, "namespace").to_string();
        let name = md(&rs, "name").to_string();
        let uid = md(&rs, "uid").to_string();
        let desired = rs["spec"]["replicas"].as_i64().unwrap_or(1);
        let pods: Vec<&Arc<Value>> = children(&index, &uid)
            .into_iter()
            .filter(|p| !deleting(p))
            .collect();
        let mut scaled = false;
        if !deleting(&rs) {
            let have = pods.len() as i64;
            if have < desired && !backing_off(state, &uid) {
                for _ in have..desired {
                    let pod = new_pod(
                        state,
                        &rs,
                        "apps/v1",
                        "ReplicaSet",
                        &rs["spec"]["template"],
                        format!("{name}-"),
                        json!({}),
                    );
                    let Ok(w) = create_owned_pod(
                        state,
                        &pod_ri,
                        &rs,
                        pod,
                        events::REPLICASET_CONTROLLER,
                        |e| format!("Error creating: {e}"),
                    ) else {
                        break;
                    };
                    events::record(
                        state,
                        &rs,
                        None,
                        events::EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {}", md(&w.object, "name")),
                        events::REPLICASET_CONTROLLER,
                    );
                }
                scaled = true;
            } else if have > desired {
                let mut sorted = pods.clone();
                // Delete not-ready first, then newest.
                sorted.sort_by_key(|p| {
                    (
                        pod_ready(p),
                        std::cmp::Reverse(md(p, "creationTimestamp").to_string()),
                    )
                });
                for p in sorted.iter().take((have - desired) as usize) {
                    if api::delete(state, &pod_ri, &ns, md(p, "name"), &DeleteOpts::default())
                        .is_ok()
                    {
                        events::record(
                            state,
                            &rs,
                            None,
                            events::EventType::Normal,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", md(p, "name")),
                            events::REPLICASET_CONTROLLER,
                        );
                    }
                }
                scaled = true;
            }
        }
        // Re-read the Pods only when this pass created or deleted some.
        let pods_now: Vec<Arc<Value>> = if scaled {
            live_pods_of(state, &ns, &uid)
        } else {
            pods.iter().map(|p| Arc::clone(p)).collect()
        };
        let replicas = pods_now.len() as i64;
        let ready = pods_now.iter().filter(|p| pod_ready(p)).count() as i64;
        let generation = rs["metadata"]["generation"].clone();
        put_status_if_changed(state, "apps", "replicasets", &ns, &name, |_| {
            let mut status = json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "fullyLabeledReplicas": replicas,
                "readyReplicas": ready,
                "availableReplicas": ready,
            });
            for f in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
                if status[f] == json!(0)
                    && let Some(m) = status.as_object_mut()
                {
                    m.remove(f);
                }
            }
            status
        });
    }
}

fn statefulsets(state: &State) {
    let Some(pod_ri) = ri(state, "", "v1", "pods") else {
        return;
    };
    let pvc_ri = ri(state, "", "v1", "persistentvolumeclaims");
    let all_pods = all(state, "", "pods");
    let index = by_controller(&all_pods);
    for sts in all(state, "apps", "statefulsets") {
        if deleting(&sts) {
            continue;
        }
        let ns = md(&sts, "namespace").to_string();
        let name = md(&sts, "name").to_string();
        let uid = md(&sts, "uid").to_string();
        let desired = sts["spec"]["replicas"].as_i64().unwrap_or(1);
        let revision = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
        let pods: Vec<&Arc<Value>> = children(&index, &uid);
        let mut changed = false;
        for i in 0..desired {
            let pname = format!("{name}-{i}");
            match pods.iter().find(|p| md(p, "name") == pname) {
                Some(p) => {
                    let rev = p["metadata"]["labels"]["controller-revision-hash"]
                        .as_str()
                        .unwrap_or_default();
                    if rev != revision && !deleting(p) {
                        let _ = api::delete(state, &pod_ri, &ns, &pname, &DeleteOpts::default());
                        changed = true;
                    }
                }
                None => {
                    if let (Some(pvc_ri), Some(tmpls)) =
                        (&pvc_ri, sts["spec"]["volumeClaimTemplates"].as_array())
                    {
                        for t in tmpls {
                            let cname = format!("{}-{pname}", md(t, "name"));
                            if state
                                .store
                                .get(&key("", "persistentvolumeclaims"), &ns, &cname)
                                .is_none()
                            {
                                let mut labels = sts["spec"]["selector"]["matchLabels"].clone();
                                if !labels.is_object() {
                                    labels = json!({});
                                }
                                let pvc = json!({"metadata": {"name": cname, "namespace": ns, "labels": labels}, "spec": t["spec"].clone()});
                                let _ = api::create(state, pvc_ri, &ns, pvc, &controller_opts());
                            }
                        }
                    }
                    let extra = json!({"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pname, "apps.kubernetes.io/pod-index": i.to_string()});
                    let mut pod = new_pod(
                        state,
                        &sts,
                        "apps/v1",
                        "StatefulSet",
                        &sts["spec"]["template"],
                        pname.clone(),
                        extra,
                    );
                    pod["spec"]["hostname"] = json!(pname);
                    if let Some(svc) = sts["spec"]["serviceName"].as_str() {
                        pod["spec"]["subdomain"] = json!(svc);
                    }
                    if let Some(tmpls) = sts["spec"]["volumeClaimTemplates"].as_array() {
                        let vols = pod["spec"]["volumes"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        let mut vols = vols;
                        for t in tmpls {
                            vols.push(json!({"name": md(t, "name"), "persistentVolumeClaim": {"claimName": format!("{}-{pname}", md(t, "name"))}}));
                        }
                        pod["spec"]["volumes"] = json!(vols);
                    }
                    if backing_off(state, &uid) {
                        break;
                    }
                    let created = create_owned_pod(
                        state,
                        &pod_ri,
                        &sts,
                        pod,
                        events::STATEFULSET_CONTROLLER,
                        |e| format!("create Pod {pname} in StatefulSet {name} failed error: {e}"),
                    );
                    if created.is_ok() {
                        events::record(
                            state,
                            &sts,
                            None,
                            events::EventType::Normal,
                            "SuccessfulCreate",
                            &format!("create Pod {pname} in StatefulSet {name} successful"),
                            events::STATEFULSET_CONTROLLER,
                        );
                    }
                    changed = true;
                }
            }
        }
        for p in &pods {
            let idx = md(p, "name")
                .rsplit('-')
                .next()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(i64::MAX);
            if idx >= desired && !deleting(p) {
                let _ = api::delete(state, &pod_ri, &ns, md(p, "name"), &DeleteOpts::default());
                changed = true;
            }
        }
        // Re-read the Pods only when this pass created or deleted some.
        let pods_now: Vec<Arc<Value>> = if changed {
            live_pods_of(state, &ns, &uid)
        } else {
            pods.iter()
                .filter(|p| !deleting(p))
                .map(|p| Arc::clone(p))
                .collect()
        };
        let replicas = pods_now.len() as i64;
        let ready = pods_now.iter().filter(|p| pod_ready(p)).count() as i64;
        let updated = pods_now
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == json!(revision))
            .count() as i64;
        let generation = sts["metadata"]["generation"].clone();
        put_status_if_changed(state, "apps", "statefulsets", &ns, &name, |old| {
            let current_rev = if updated == replicas && replicas == desired {
                revision.clone()
            } else {
                old["currentRevision"]
                    .as_str()
                    .unwrap_or(&revision)
                    .to_string()
            };
            json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "readyReplicas": ready,
                "currentReplicas": if current_rev == revision { updated } else { replicas - updated },
                "updatedReplicas": updated,
                "availableReplicas": ready,
                "currentRevision": current_rev,
                "updateRevision": revision,
                "collisionCount": 0,
            })
        });
    }
}

fn daemonsets(state: &State) {
    let Some(pod_ri) = ri(state, "", "v1", "pods") else {
        return;
    };
    let all_pods = all(state, "", "pods");
    let index = by_controller(&all_pods);
    for ds in all(state, "apps", "daemonsets") {
        if deleting(&ds) {
            continue;
        }
        let ns = md(&ds, "namespace").to_string();
        let name = md(&ds, "name").to_string();
        let uid = md(&ds, "uid").to_string();
        let hash = template_hash(&ds["spec"]["template"]);
        let pods: Vec<&Arc<Value>> = children(&index, &uid)
            .into_iter()
            .filter(|p| !deleting(p))
            .collect();
        let current: Vec<&&Arc<Value>> = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == json!(hash))
            .collect();
        for p in pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] != json!(hash))
        {
            let _ = api::delete(state, &pod_ri, &ns, md(p, "name"), &DeleteOpts::default());
        }
        if current.is_empty() && !backing_off(state, &uid) {
            let pod = new_pod(
                state,
                &ds,
                "apps/v1",
                "DaemonSet",
                &ds["spec"]["template"],
                format!("{name}-"),
                json!({"controller-revision-hash": hash, "pod-template-generation": ds["metadata"]["generation"].as_i64().unwrap_or(1).to_string()}),
            );
            if let Ok(w) = create_owned_pod(
                state,
                &pod_ri,
                &ds,
                pod,
                events::DAEMONSET_CONTROLLER,
                |e| format!("Error creating: {e}"),
            ) {
                events::record(
                    state,
                    &ds,
                    None,
                    events::EventType::Normal,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", md(&w.object, "name")),
                    events::DAEMONSET_CONTROLLER,
                );
            }
        }
        let ready = current.iter().filter(|p| pod_ready(p)).count() as i64;
        let generation = ds["metadata"]["generation"].clone();
        put_if_changed(state, "apps", "daemonsets", &ns, &name, |v| {
            v["status"] = json!({
                "observedGeneration": generation,
                "desiredNumberScheduled": 1,
                "currentNumberScheduled": 1,
                "numberMisscheduled": 0,
                "numberReady": ready,
                "numberAvailable": ready,
                "updatedNumberScheduled": current.len().min(1),
            });
            if ready == 0 {
                v["status"]["numberUnavailable"] = json!(1);
            }
        });
    }
}

fn jobs(state: &State) {
    let Some(pod_ri) = ri(state, "", "v1", "pods") else {
        return;
    };
    let all_pods = all(state, "", "pods");
    let index = by_controller(&all_pods);
    for job in all(state, "batch", "jobs") {
        if deleting(&job) {
            continue;
        }
        let ns = md(&job, "namespace").to_string();
        let name = md(&job, "name").to_string();
        let uid = md(&job, "uid").to_string();
        let finished = job["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                (c["type"] == json!("Complete") || c["type"] == json!("Failed"))
                    && c["status"] == json!("True")
            })
        });
        let pods: Vec<&Arc<Value>> = children(&index, &uid);
        let phase = |p: &Value| {
            p["status"]["phase"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
        let active = pods
            .iter()
            .filter(|p| !matches!(phase(p).as_str(), "Succeeded" | "Failed") && !deleting(p))
            .count() as i64;
        let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
        let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
        let backoff = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        let suspended = job["spec"]["suspend"] == json!(true);
        let now = meta::now();
        let complete = succeeded >= completions;
        let fail = failed > backoff;
        if !finished && !complete && !fail && !suspended && active == 0 && !backing_off(state, &uid)
        {
            let mut pod = new_pod(
                state,
                &job,
                "batch/v1",
                "Job",
                &job["spec"]["template"],
                format!("{name}-"),
                json!({}),
            );
            if pod["spec"]["restartPolicy"].is_null() {
                pod["spec"]["restartPolicy"] = json!("Never");
            }
            if let Ok(w) =
                create_owned_pod(state, &pod_ri, &job, pod, events::JOB_CONTROLLER, |e| {
                    format!("Error creating: {e}")
                })
            {
                events::record(
                    state,
                    &job,
                    None,
                    events::EventType::Normal,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", md(&w.object, "name")),
                    events::JOB_CONTROLLER,
                );
            }
        }
        let mut finished_now = None;
        put_if_changed(state, "batch", "jobs", &ns, &name, |v| {
            let st = &mut v["status"];
            if !st.is_object() {
                *st = json!({});
            }
            if st.get("startTime").is_none() && !suspended {
                st["startTime"] = json!(now);
            }
            st["active"] = json!(active);
            st["ready"] = json!(ready);
            st["terminating"] = json!(0);
            st["uncountedTerminatedPods"] = json!({});
            if succeeded > 0 {
                st["succeeded"] = json!(succeeded)
            }
            if failed > 0 {
                st["failed"] = json!(failed)
            }
            if active == 0
                && let Some(m) = st.as_object_mut()
            {
                m.remove("active");
            }
            let has = st["conditions"].as_array().is_some_and(|cs| !cs.is_empty());
            if !has && complete {
                st["conditions"] = json!([
                    {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
                    {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}
                ]);
                st["completionTime"] = json!(now);
                finished_now = Some(true);
            } else if !has && fail {
                finished_now = Some(false);
                st["conditions"] = json!([
                    {"type": "FailureTarget", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
                    {"type": "Failed", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
                ]);
            }
        });
        match finished_now {
            Some(true) => events::record(
                state,
                &job,
                None,
                events::EventType::Normal,
                "Completed",
                "Job completed",
                events::JOB_CONTROLLER,
            ),
            Some(false) => events::record(
                state,
                &job,
                None,
                events::EventType::Warning,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                events::JOB_CONTROLLER,
            ),
            None => {}
        }
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(x) = s.strip_suffix('s') {
        return x.parse::<f64>().ok().map(Duration::from_secs_f64);
    }
    if let Some(x) = s.strip_suffix('m') {
        return x
            .parse::<f64>()
            .ok()
            .map(|m| Duration::from_secs_f64(m * 60.0));
    }
    s.parse::<f64>().ok().map(Duration::from_secs_f64)
}

fn pods(state: &State, due: &mut dyn FnMut(Instant)) {
    let delay = state.config.pod_ready_delay;
    for p in all(state, "", "pods") {
        if deleting(&p) {
            continue;
        }
        let ns = md(&p, "namespace").to_string();
        let name = md(&p, "name").to_string();
        let phase = p["status"]["phase"]
            .as_str()
            .unwrap_or("Pending")
            .to_string();
        if matches!(phase.as_str(), "Succeeded" | "Failed") {
            continue;
        }
        let job_owned = p["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|r| r.iter().any(|o| o["kind"] == json!("Job")))
            || p["spec"]["restartPolicy"]
                .as_str()
                .is_some_and(|r| r != "Always")
                && p["metadata"]["labels"].get("job-name").is_some();
        let fail = p["metadata"]["annotations"][FAIL_ANNOTATION].as_str() == Some("true");
        let run_for = p["metadata"]["annotations"][DURATION_ANNOTATION]
            .as_str()
            .and_then(parse_duration)
            .unwrap_or(delay);
        let created = md(&p, "creationTimestamp").to_string();
        // Our timestamps have second precision; track precise creation instants in memory.
        let born = state.pod_birth(md(&p, "uid"), &created);
        let elapsed = born.elapsed();
        let now = meta::now();
        let containers = p["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if phase == "Pending" {
            let scheduled = p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == json!("PodScheduled") && c["status"] == json!("True"))
            });
            if !scheduled {
                // The scheduler binds the Pod to the node first (the kubelet starts it later).
                events::record(
                    state,
                    &p,
                    None,
                    events::EventType::Normal,
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {NODE_NAME}"),
                    events::SCHEDULER,
                );
                if elapsed < delay {
                    put_if_changed(state, "", "pods", &ns, &name, |v| {
                        v["status"] = json!({
                            "phase": "Pending",
                            "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}],
                            "qosClass": "BestEffort",
                        });
                    });
                }
            }
            if elapsed < delay {
                due(born + delay);
                continue;
            }
            let ip = state.alloc_ip("10.244");
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| json!({
                    "name": c["name"], "image": c["image"], "imageID": format!("docker.io/library/{}", c["image"].as_str().unwrap_or_default()),
                    "containerID": format!("containerd://{}", uuid::Uuid::new_v4().simple()),
                    "ready": !fail || !job_owned, "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }))
                .collect();
            let ready = !(job_owned && fail);
            put_if_changed(state, "", "pods", &ns, &name, |v| {
                v["status"] = json!({
                    "phase": "Running",
                    "conditions": [
                        {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                        {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                        {"type": "Ready", "status": if ready {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": now},
                        {"type": "ContainersReady", "status": if ready {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": now},
                        {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                    ],
                    "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
                    "podIP": ip, "podIPs": [{"ip": ip}],
                    "startTime": now, "qosClass": "BestEffort",
                    "containerStatuses": statuses,
                });
            });
            for c in &containers {
                let cname = c["name"].as_str().unwrap_or_default();
                let image = c["image"].as_str().unwrap_or_default();
                let field = format!("spec.containers{{{cname}}}");
                for (reason, message) in [
                    (
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                    ),
                    ("Created", format!("Created container: {cname}")),
                    ("Started", format!("Started container {cname}")),
                ] {
                    events::record(
                        state,
                        &p,
                        Some(&field),
                        events::EventType::Normal,
                        reason,
                        &message,
                        events::KUBELET,
                    );
                }
            }
            if job_owned {
                due(Instant::now() + run_for);
            }
            continue;
        }
        if phase == "Running" && job_owned {
            if elapsed < delay + run_for {
                due(born + delay + run_for);
                continue;
            }
            let code = if fail { 1 } else { 0 };
            let reason = if fail { "Error" } else { "Completed" };
            put_if_changed(state, "", "pods", &ns, &name, |v| {
                v["status"]["phase"] = json!(if fail { "Failed" } else { "Succeeded" });
                if let Some(conds) = v["status"]["conditions"].as_array_mut() {
                    for c in conds.iter_mut() {
                        if c["type"] == json!("Ready") || c["type"] == json!("ContainersReady") {
                            c["status"] = json!("False");
                            c["reason"] = json!("PodCompleted");
                        }
                    }
                }
                if let Some(cs) = v["status"]["containerStatuses"].as_array_mut() {
                    for c in cs.iter_mut() {
                        let started = c["state"]["running"]["startedAt"].clone();
                        c["ready"] = json!(false);
                        c["started"] = json!(false);
                        c["state"] = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now}});
                    }
                }
            });
        }
    }
}

fn services(state: &State) {
    let Some(ep_ri) = ri(state, "", "v1", "endpoints") else {
        return;
    };
    // Pods by (namespace, label, value), built once per pass: a Service's candidates are the Pods
    // carrying the rarest of its selector's labels, not every Pod of its namespace.
    let all_pods = all(state, "", "pods");
    let mut by_label: std::collections::HashMap<(&str, &str, &str), Vec<&Arc<Value>>> =
        std::collections::HashMap::new();
    for p in &all_pods {
        if let Some(labels) = p["metadata"]["labels"].as_object() {
            for (k, v) in labels {
                if let Some(v) = v.as_str() {
                    by_label
                        .entry((md(p, "namespace"), k.as_str(), v))
                        .or_default()
                        .push(p);
                }
            }
        }
    }
    for svc in all(state, "", "services") {
        if deleting(&svc) {
            continue;
        }
        let ns = md(&svc, "namespace").to_string();
        let name = md(&svc, "name").to_string();
        if svc["spec"]["type"] == json!("LoadBalancer")
            && svc["status"]["loadBalancer"]["ingress"].is_null()
        {
            put_if_changed(state, "", "services", &ns, &name, |v| {
                v["status"]["loadBalancer"] =
                    json!({"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]});
            });
        }
        let Some(sel) = svc["spec"]
            .get("selector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        else {
            continue;
        };
        let candidates = sel
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                by_label
                    .get(&(ns.as_str(), k.as_str(), v.as_str().unwrap_or_default()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|c| c.len())
            .unwrap_or_default();
        let sel = LabelSelector::from_object(&json!({"matchLabels": sel}));
        let mut pods: Vec<&Arc<Value>> = candidates
            .iter()
            .copied()
            .filter(|p| sel.matches(p))
            .collect();
        // In name order, as a list would return them.
        pods.sort_by(|a, b| md(a, "name").cmp(md(b, "name")));
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        for p in pods.iter().filter(|p| !deleting(p)) {
            let Some(ip) = p["status"]["podIP"].as_str() else {
                continue;
            };
            let addr = json!({"ip": ip, "nodeName": NODE_NAME, "targetRef": {"kind": "Pod", "namespace": ns, "name": md(p, "name"), "uid": md(p, "uid")}});
            if pod_ready(p) {
                ready.push(addr)
            } else {
                not_ready.push(addr)
            }
        }
        let ports: Vec<Value> = svc["spec"]["ports"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let mut e = json!({"port": p["targetPort"].as_i64().or(p["port"].as_i64()).unwrap_or(0), "protocol": p["protocol"].as_str().unwrap_or("TCP")});
                        if let Some(n) = p.get("name") {
                            e["name"] = n.clone();
                        }
                        e
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut subset = json!({});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if ready.is_empty() && not_ready.is_empty() {
            json!([])
        } else {
            subset["ports"] = json!(ports);
            json!([subset])
        };
        endpoint_slice(state, &svc, &ready, &not_ready, &ports);
        let labels = svc["metadata"]["labels"].clone();
        if state.store.get(&key("", "endpoints"), &ns, &name).is_none() {
            let mut ep = json!({"metadata": {"name": name, "namespace": ns}});
            if labels.is_object() {
                ep["metadata"]["labels"] = labels;
            }
            if subsets.as_array().is_some_and(|a| !a.is_empty()) {
                ep["subsets"] = subsets;
            }
            let _ = api::create(state, &ep_ri, &ns, ep, &controller_opts());
        } else {
            put_if_changed(state, "", "endpoints", &ns, &name, |v| {
                if subsets.as_array().is_some_and(|a| a.is_empty()) {
                    if let Some(m) = v.as_object_mut() {
                        m.remove("subsets");
                    }
                } else {
                    v["subsets"] = subsets;
                }
            });
        }
    }
}

/// The EndpointSlice of a Service (one per Service, IPv4), as the EndpointSlice controller keeps
/// it: `kubernetes.io/service-name`, owned by the Service, an endpoint per Pod with conditions.
fn endpoint_slice(
    state: &State,
    svc: &Value,
    ready: &[Value],
    not_ready: &[Value],
    ports: &[Value],
) {
    let Some(es_ri) = ri(state, "discovery.k8s.io", "v1", "endpointslices") else {
        return;
    };
    let ns = md(svc, "namespace").to_string();
    let svc_name = md(svc, "name").to_string();
    let uid = md(svc, "uid");
    let name = format!("{svc_name}-{}", uid.get(..5).unwrap_or(uid));
    let endpoints: Vec<Value> = ready
        .iter()
        .map(|a| (a, true))
        .chain(not_ready.iter().map(|a| (a, false)))
        .map(|(a, ok)| {
            json!({
                "addresses": [a["ip"]],
                "conditions": {"ready": ok, "serving": ok, "terminating": false},
                "nodeName": a["nodeName"], "targetRef": a["targetRef"],
            })
        })
        .collect();
    // The controller always names ports (`""` when the Service's is unnamed); clients deref it.
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if p.get("name").is_none() {
                p["name"] = json!("");
            }
            p
        })
        .collect();
    let ports = json!(ports);
    if state
        .store
        .get(&key("discovery.k8s.io", "endpointslices"), &ns, &name)
        .is_none()
    {
        let mut labels = svc["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels["kubernetes.io/service-name"] = json!(svc_name);
        labels["endpointslice.kubernetes.io/managed-by"] = json!("endpointslice-controller.k8s.io");
        let es = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                "ownerReferences": owner_ref(svc, "v1", "Service")},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
        });
        let _ = api::create(state, &es_ri, &ns, es, &controller_opts());
    } else {
        put_if_changed(
            state,
            "discovery.k8s.io",
            "endpointslices",
            &ns,
            &name,
            |v| {
                v["endpoints"] = json!(endpoints);
                v["ports"] = ports;
            },
        );
    }
}

fn pvcs(state: &State) {
    for pvc in all(state, "", "persistentvolumeclaims") {
        if deleting(&pvc) || pvc["status"]["phase"] == json!("Bound") {
            continue;
        }
        let ns = md(&pvc, "namespace").to_string();
        let name = md(&pvc, "name").to_string();
        let uid = md(&pvc, "uid").to_string();
        put_if_changed(state, "", "persistentvolumeclaims", &ns, &name, |v| {
            let storage = v["spec"]["resources"]["requests"]["storage"].clone();
            let modes = v["spec"]["accessModes"].clone();
            v["spec"]["volumeName"] = json!(format!("pvc-{uid}"));
            if v["spec"].get("storageClassName").is_none() {
                v["spec"]["storageClassName"] = json!("standard");
            }
            v["status"] =
                json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}});
        });
    }
}

/// Objects the API server seeds at start: namespaces and the node.
pub fn seed(state: &State) {
    let opts = WriteOpts {
        field_manager: "kube-apiserver".into(),
        validation: api::FieldValidation::Ignore,
        ..Default::default()
    };
    if let Some(ns_ri) = ri(state, "", "v1", "namespaces") {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if state.store.get(&key("", "namespaces"), "", ns).is_none() {
                let _ = api::create(state, &ns_ri, "", json!({"metadata": {"name": ns}}), &opts);
            }
        }
    }
    if let Some(node_ri) = ri(state, "", "v1", "nodes")
        && state.store.get(&key("", "nodes"), "", NODE_NAME).is_none()
    {
        let now = meta::now();
        let node = json!({
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": ""}},
            "spec": {},
        });
        if api::create(state, &node_ri, "", node, &opts).is_ok() {
            put_if_changed(state, "", "nodes", "", NODE_NAME, |v| {
                v["status"] = json!({
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
                    "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": NODE_NAME}],
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "1100"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "1100"},
                    "nodeInfo": {"kubeletVersion": "v1.32.0", "containerRuntimeVersion": "containerd://1.7.0", "operatingSystem": "linux", "architecture": "amd64", "osImage": "devcluster", "kernelVersion": "6.0", "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
                });
            });
        }
    }
}
