//! The admission plugins of a real API server that change what a create is allowed to do,
//! run after defaulting and validation, in the real order:
//!
//! - **LimitRanger** (mutating): containers without requests/limits get the `defaultRequest`/
//!   `default` of the namespace's `Container` LimitRanges, noted in the
//!   `kubernetes.io/limit-ranger` annotation;
//! - **ServiceAccount**: a Pod naming a ServiceAccount that does not exist in its namespace is
//!   refused (`error looking up service account NS/SA: serviceaccount "SA" not found`);
//! - **LimitRanger** (validating): `min`, `max` and `maxLimitRequestRatio` per Container and per
//!   Pod;
//! - **ResourceQuota**: the namespace's quotas (`pods`, `count/<resource>[.<group>]`,
//!   `requests.cpu`, `limits.memory`, `configmaps`, `services.loadbalancers`, ...) with the real
//!   messages (`exceeded quota: ...`, `failed quota: NAME: must specify ...`).
//!
//! Usage is computed from the objects in the store (not from `status.used`), under one lock so
//! concurrent creates cannot both take the last unit; [`refresh_quotas`] keeps `status.hard`
//! and `status.used` up to date, as the resource-quota controller does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, MutexGuard};

use serde_json::{Value, json};

use crate::State;
use crate::error::{ApiError, ApiResult};
use crate::quantity::Quantity;
use crate::registry::{ResKey, ResourceInfo};
use crate::store::WriteOp;

fn key(group: &str, plural: &str) -> ResKey {
    ResKey {
        group: group.into(),
        plural: plural.into(),
    }
}

fn md<'a>(v: &'a Value, f: &str) -> &'a str {
    v["metadata"][f].as_str().unwrap_or_default()
}

/// `<resource> "<name>" is forbidden: <msg>`, as `admission.NewForbidden` words it (the
/// generateName stands for the name when none is set yet).
pub fn forbidden(ri: &ResourceInfo, name: &str, msg: &str) -> ApiError {
    ApiError::new(
        403,
        "Forbidden",
        format!("{} \"{name}\" is forbidden: {msg}", ri.qualified()),
    )
    .details(name, &ri.group, &ri.plural)
}

/// Run the admission plugins for a create. `shown` is the name errors use (the
/// `generateName` for generated names). When the namespace has quotas the returned guard must
/// be held until the object is written.
pub fn admit_create<'a>(
    state: &'a State,
    ri: &ResourceInfo,
    ns: &str,
    obj: &mut Value,
    shown: &str,
) -> ApiResult<Option<MutexGuard<'a, ()>>> {
    if !ri.namespaced {
        return Ok(None);
    }
    let is_pod = ri.group.is_empty() && ri.plural == "pods";
    if is_pod {
        let ranges = all_in(state, "", "limitranges", ns);
        apply_limit_range_defaults(&ranges, obj);
        let sa = obj["spec"]["serviceAccountName"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        if state
            .store
            .get(&key("", "serviceaccounts"), ns, &sa)
            .is_none()
        {
            return Err(forbidden(
                ri,
                shown,
                &format!(
                    "error looking up service account {ns}/{sa}: serviceaccount \"{sa}\" not found"
                ),
            ));
        }
        let errs = check_limit_ranges(&ranges, obj);
        if !errs.is_empty() {
            return Err(forbidden(ri, shown, &aggregate(&errs)));
        }
        set_qos_class(obj);
    }
    let quotas = all_in(state, "", "resourcequotas", ns);
    if quotas.is_empty() {
        return Ok(None);
    }
    let guard = state.quota_lock.lock().expect("quota lock poisoned");
    check_quotas(state, ri, ns, obj, shown, &quotas)?;
    Ok(Some(guard))
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several in brackets.
fn aggregate(errs: &[String]) -> String {
    let mut seen = BTreeSet::new();
    let uniq: Vec<&String> = errs.iter().filter(|e| seen.insert(*e)).collect();
    if uniq.len() == 1 {
        uniq[0].clone()
    } else {
        format!(
            "[{}]",
            uniq.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn all_in(state: &State, group: &str, plural: &str, ns: &str) -> Vec<Arc<Value>> {
    state
        .store
        .list(&key(group, plural), Some(ns), None, 0, &|_| true)
        .1
}

// ---------------------------------------------------------------- LimitRange

/// The defaults the API server writes into a LimitRange's `Container` items:
/// `default` from `max`, `defaultRequest` from `default`, then from `min`.
pub fn default_limit_range(obj: &mut Value) {
    let Some(items) = obj["spec"]["limits"].as_array_mut() else {
        return;
    };
    for item in items {
        if item["type"] != json!("Container") {
            continue;
        }
        for (from, to) in [
            ("max", "default"),
            ("default", "defaultRequest"),
            ("min", "defaultRequest"),
        ] {
            let Some(src) = item.get(from).and_then(Value::as_object).cloned() else {
                continue;
            };
            if !item.get(to).is_some_and(Value::is_object) {
                item[to] = json!({});
            }
            for (k, v) in src {
                if item[to].get(&k).is_none() {
                    item[to][k.as_str()] = v;
                }
            }
            if item[to].as_object().is_some_and(|m| m.is_empty())
                && let Some(m) = item.as_object_mut()
            {
                m.remove(to);
            }
        }
    }
}

fn container_lists() -> [(&'static str, &'static str); 2] {
    [
        ("containers", "container"),
        ("initContainers", "init container"),
    ]
}

fn apply_limit_range_defaults(ranges: &[Arc<Value>], pod: &mut Value) {
    let mut notes: Vec<String> = Vec::new();
    for lr in ranges {
        let mut lr = (**lr).clone();
        default_limit_range(&mut lr);
        let Some(items) = lr["spec"]["limits"].as_array() else {
            continue;
        };
        for item in items.iter().filter(|i| i["type"] == json!("Container")) {
            for (list, label) in container_lists() {
                let Some(cs) = pod["spec"][list].as_array_mut() else {
                    continue;
                };
                for c in cs {
                    let cname = c["name"].as_str().unwrap_or_default().to_string();
                    let mut set_req = Vec::new();
                    let mut set_lim = Vec::new();
                    for (field, set) in [("requests", &mut set_req), ("limits", &mut set_lim)] {
                        let src = if field == "requests" {
                            &item["defaultRequest"]
                        } else {
                            &item["default"]
                        };
                        let Some(src) = src.as_object() else { continue };
                        for (k, v) in src {
                            if !c["resources"].is_object() {
                                c["resources"] = json!({});
                            }
                            if !c["resources"][field].is_object() {
                                c["resources"][field] = json!({});
                            }
                            if c["resources"][field].get(k).is_none() {
                                c["resources"][field][k.as_str()] = v.clone();
                                set.push(k.clone());
                            }
                        }
                    }
                    set_req.sort();
                    set_lim.sort();
                    if !set_req.is_empty() {
                        notes.push(format!(
                            "{} request for {label} {cname}",
                            set_req.join(", ")
                        ));
                    }
                    if !set_lim.is_empty() {
                        notes.push(format!("{} limit for {label} {cname}", set_lim.join(", ")));
                    }
                }
            }
        }
    }
    if !notes.is_empty() {
        if !pod["metadata"]["annotations"].is_object() {
            pod["metadata"]["annotations"] = json!({});
        }
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] =
            json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
}

type Resources = BTreeMap<String, Quantity>;

fn resources_of(v: &Value) -> Resources {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, q)| Some((k.clone(), Quantity::from_json(q)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A Pod's requests and limits: the sum over its containers, at least the largest of its
/// init containers (a resource is present if any container names it).
fn pod_totals(pod: &Value, field: &str) -> Resources {
    let mut sum = Resources::new();
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for (k, q) in resources_of(&c["resources"][field]) {
            let e = sum.entry(k).or_insert_with(Quantity::zero);
            *e = *e + q;
        }
    }
    for c in pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for (k, q) in resources_of(&c["resources"][field]) {
            let e = sum.entry(k).or_insert(q);
            if q > *e {
                *e = q;
            }
        }
    }
    sum
}

fn check_item(kind: &str, item: &Value, req: &Resources, lim: &Resources, errs: &mut Vec<String>) {
    for (res, min) in resources_of(&item["min"]) {
        match req.get(&res) {
            None => errs.push(format!(
                "minimum {res} usage per {kind} is {min}.  No request is specified"
            )),
            Some(r) if *r < min => errs.push(format!(
                "minimum {res} usage per {kind} is {min}, but request is {r}"
            )),
            _ => {
                if let Some(l) = lim.get(&res).filter(|l| **l < min) {
                    errs.push(format!(
                        "minimum {res} usage per {kind} is {min}, but limit is {l}"
                    ));
                }
            }
        }
    }
    for (res, max) in resources_of(&item["max"]) {
        match lim.get(&res) {
            None => errs.push(format!(
                "maximum {res} usage per {kind} is {max}.  No limit is specified"
            )),
            Some(l) if *l > max => errs.push(format!(
                "maximum {res} usage per {kind} is {max}, but limit is {l}"
            )),
            _ => {
                if let Some(r) = req.get(&res).filter(|r| **r > max) {
                    errs.push(format!(
                        "maximum {res} usage per {kind} is {max}, but request is {r}"
                    ));
                }
            }
        }
    }
    for (res, ratio) in resources_of(&item["maxLimitRequestRatio"]) {
        let (Some(l), r) = (lim.get(&res), req.get(&res)) else {
            errs.push(format!(
                "{res} max limit to request ratio per {kind} is {ratio}, but no limit is specified"
            ));
            continue;
        };
        let Some(r) = r.filter(|r| r.milli > 0) else {
            errs.push(format!(
                "{res} max limit to request ratio per {kind} is {ratio}, but no request is specified or request is 0"
            ));
            continue;
        };
        let observed = l.milli as f64 / r.milli as f64;
        if observed > ratio.milli as f64 / 1000.0 {
            errs.push(format!(
                "{res} max limit to request ratio per {kind} is {ratio}, but provided ratio is {observed:.6}"
            ));
        }
    }
}

fn check_limit_ranges(ranges: &[Arc<Value>], pod: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    for lr in ranges {
        for item in lr["spec"]["limits"].as_array().into_iter().flatten() {
            match item["type"].as_str() {
                Some("Container") => {
                    for (list, _) in container_lists() {
                        for c in pod["spec"][list].as_array().into_iter().flatten() {
                            let req = resources_of(&c["resources"]["requests"]);
                            let lim = resources_of(&c["resources"]["limits"]);
                            check_item("Container", item, &req, &lim, &mut errs);
                        }
                    }
                }
                Some("Pod") => {
                    let req = pod_totals(pod, "requests");
                    let lim = pod_totals(pod, "limits");
                    check_item("Pod", item, &req, &lim, &mut errs);
                }
                _ => {}
            }
        }
    }
    errs
}

/// `status.qosClass` from the containers' requests and limits.
fn set_qos_class(pod: &mut Value) {
    let mut any = false;
    let mut guaranteed = true;
    for (list, _) in container_lists() {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            let req = resources_of(&c["resources"]["requests"]);
            let lim = resources_of(&c["resources"]["limits"]);
            if !req.is_empty() || !lim.is_empty() {
                any = true;
            }
            for r in ["cpu", "memory"] {
                match (req.get(r), lim.get(r)) {
                    (Some(a), Some(b)) if a == b => {}
                    (None, Some(_)) => {}
                    _ => guaranteed = false,
                }
            }
        }
    }
    let class = match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    };
    if pod["status"].is_object() {
        pod["status"]["qosClass"] = json!(class);
    }
}

// ---------------------------------------------------------------- ResourceQuota

/// The resource (group, plural) a quota key counts, if it is one this server knows.
fn key_resource(k: &str) -> Option<(String, String)> {
    if let Some(rest) = k.strip_prefix("count/") {
        return Some(match rest.split_once('.') {
            Some((plural, group)) => (group.to_string(), plural.to_string()),
            None => (String::new(), rest.to_string()),
        });
    }
    let core = |p: &str| Some((String::new(), p.to_string()));
    match k {
        "pods" | "cpu" | "memory" | "ephemeral-storage" => core("pods"),
        "services" | "services.loadbalancers" | "services.nodeports" => core("services"),
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => core(k),
        "persistentvolumeclaims" | "requests.storage" => core("persistentvolumeclaims"),
        _ if k.starts_with("requests.") || k.starts_with("limits.") => core("pods"),
        _ => None,
    }
}

fn pod_counts(p: &Value) -> bool {
    !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
        && p["metadata"].get("deletionTimestamp").is_none()
}

/// What one object of `key_resource(k)` uses of quota key `k`.
fn usage(k: &str, obj: &Value) -> Quantity {
    if let Some(rest) = k.strip_prefix("count/") {
        if rest == "pods" && !pod_counts(obj) {
            return Quantity::zero();
        }
        return Quantity::count(1);
    }
    match k {
        "pods" => Quantity::count(i64::from(pod_counts(obj))),
        "services"
        | "configmaps"
        | "secrets"
        | "replicationcontrollers"
        | "resourcequotas"
        | "persistentvolumeclaims" => Quantity::count(1),
        "services.loadbalancers" => {
            Quantity::count(i64::from(obj["spec"]["type"] == json!("LoadBalancer")))
        }
        "services.nodeports" => {
            if matches!(
                obj["spec"]["type"].as_str(),
                Some("NodePort" | "LoadBalancer")
            ) {
                Quantity::count(
                    obj["spec"]["ports"]
                        .as_array()
                        .map_or(0, |p| p.len() as i64),
                )
            } else {
                Quantity::zero()
            }
        }
        "requests.storage" => Quantity::from_json(&obj["spec"]["resources"]["requests"]["storage"])
            .unwrap_or_else(Quantity::zero),
        _ => {
            if !pod_counts(obj) {
                return Quantity::zero();
            }
            let (field, res) = match k.split_once('.') {
                Some(("requests", r)) => ("requests", r),
                Some(("limits", r)) => ("limits", r),
                _ => ("requests", k),
            };
            pod_totals(obj, field)
                .get(res)
                .copied()
                .unwrap_or_else(Quantity::zero)
        }
    }
}

/// Whether a quota's scopes select this object (only Pods have scopes; a `scopeSelector`
/// is not evaluated, so such a quota is not enforced).
fn scopes_match(quota: &Value, is_pod: bool, obj: &Value) -> bool {
    if quota["spec"]
        .get("scopeSelector")
        .is_some_and(|s| !s.is_null())
    {
        return false;
    }
    let Some(scopes) = quota["spec"]["scopes"].as_array().filter(|s| !s.is_empty()) else {
        return true;
    };
    if !is_pod {
        return false;
    }
    let best_effort =
        pod_totals(obj, "requests").is_empty() && pod_totals(obj, "limits").is_empty();
    let terminating = obj["spec"]
        .get("activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null());
    scopes.iter().all(|s| match s.as_str() {
        Some("BestEffort") => best_effort,
        Some("NotBestEffort") => !best_effort,
        Some("Terminating") => terminating,
        Some("NotTerminating") => !terminating,
        _ => false,
    })
}

fn hard_of(quota: &Value) -> Resources {
    resources_of(&quota["spec"]["hard"])
}

/// What the objects in `ns` use of key `k` (objects selected by the quota's scopes).
fn used(state: &State, ns: &str, k: &str, quota: &Value) -> Quantity {
    let Some((group, plural)) = key_resource(k) else {
        return Quantity::zero();
    };
    let is_pod = group.is_empty() && plural == "pods";
    all_in(state, &group, &plural, ns)
        .iter()
        .filter(|o| scopes_match(quota, is_pod, o))
        .fold(Quantity::zero(), |acc, o| acc + usage(k, o))
}

fn pretty(m: &Resources) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn check_quotas(
    state: &State,
    ri: &ResourceInfo,
    ns: &str,
    obj: &Value,
    shown: &str,
    quotas: &[Arc<Value>],
) -> ApiResult<()> {
    let is_pod = ri.group.is_empty() && ri.plural == "pods";
    let mut sorted: Vec<&Arc<Value>> = quotas.iter().collect();
    sorted.sort_by(|a, b| md(a, "name").cmp(md(b, "name")));
    for quota in sorted {
        if !scopes_match(quota, is_pod, obj) {
            continue;
        }
        let qname = md(quota, "name");
        let hard = hard_of(quota);
        let mine: Vec<&String> = hard
            .keys()
            .filter(|k| key_resource(k).is_some_and(|(g, p)| g == ri.group && p == ri.plural))
            .collect();
        if mine.is_empty() {
            continue;
        }
        if is_pod {
            // Every container must say what it requests of a constrained cpu or memory.
            let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
            for k in &mine {
                let k = k.as_str();
                let (field, res) = match k {
                    "cpu" | "requests.cpu" => ("requests", "cpu"),
                    "memory" | "requests.memory" => ("requests", "memory"),
                    "limits.cpu" => ("limits", "cpu"),
                    "limits.memory" => ("limits", "memory"),
                    _ => continue,
                };
                for (list, _) in container_lists() {
                    for c in obj["spec"][list].as_array().into_iter().flatten() {
                        if c["resources"][field].get(res).is_none() {
                            missing
                                .entry(k)
                                .or_default()
                                .insert(c["name"].as_str().unwrap_or_default().to_string());
                        }
                    }
                }
            }
            if !missing.is_empty() {
                let parts: Vec<String> = missing
                    .iter()
                    .map(|(k, cs)| {
                        format!(
                            "{k} for: {}",
                            cs.iter().cloned().collect::<Vec<_>>().join(",")
                        )
                    })
                    .collect();
                return Err(forbidden(
                    ri,
                    shown,
                    &format!("failed quota: {qname}: must specify {}", parts.join("; ")),
                ));
            }
        }
        let mut requested = Resources::new();
        let mut in_use = Resources::new();
        let mut limited = Resources::new();
        for k in mine {
            let delta = usage(k, obj);
            if delta.milli == 0 {
                continue;
            }
            let have = used(state, ns, k, quota);
            let max = hard[k];
            if have + delta > max {
                requested.insert(k.clone(), delta);
                in_use.insert(k.clone(), have);
                limited.insert(k.clone(), max);
            }
        }
        if !requested.is_empty() {
            return Err(forbidden(
                ri,
                shown,
                &format!(
                    "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                    pretty(&requested),
                    pretty(&in_use),
                    pretty(&limited)
                ),
            ));
        }
    }
    Ok(())
}

/// Bring `status.hard` and `status.used` of the quotas in `ns` up to date (as the
/// resource-quota controller does); cheap when the namespace has none.
pub fn refresh_quotas(state: &State, ns: &str) {
    for quota in all_in(state, "", "resourcequotas", ns) {
        let hard = quota["spec"]["hard"].clone();
        let mut used_now = serde_json::Map::new();
        for k in hard_of(&quota).keys() {
            used_now.insert(k.clone(), json!(used(state, ns, k, &quota).to_string()));
        }
        let status = json!({"hard": hard, "used": used_now});
        if quota["status"] == status {
            continue;
        }
        let _ = state.store.write(
            &key("", "resourcequotas"),
            ns,
            md(&quota, "name"),
            false,
            |cur| {
                let Some(cur) = cur else {
                    return Ok(WriteOp::Keep);
                };
                if cur["status"] == status {
                    return Ok(WriteOp::Keep);
                }
                let mut v = (**cur).clone();
                v["status"] = status.clone();
                Ok(WriteOp::Put(v))
            },
        );
    }
}

/// Refresh the quotas of every namespace (the controller's periodic resync).
pub fn refresh_all_quotas(state: &State) {
    let namespaces: BTreeSet<String> = state
        .store
        .list(&key("", "resourcequotas"), None, None, 0, &|_| true)
        .1
        .iter()
        .map(|q| md(q, "namespace").to_string())
        .collect();
    for ns in namespaces {
        refresh_quotas(state, &ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_range_defaults_follow_the_api_server() {
        let mut lr = json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "10Mi"}}]}});
        default_limit_range(&mut lr);
        let item = &lr["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"cpu": "1"}));
        assert_eq!(
            item["defaultRequest"],
            json!({"cpu": "1", "memory": "10Mi"})
        );
    }

    #[test]
    fn limit_range_messages() {
        let item = json!({"type": "Container", "max": {"cpu": "800m"}, "min": {"memory": "100Mi"}});
        let mut errs = Vec::new();
        let req = resources_of(&json!({"cpu": "100m", "memory": "50Mi"}));
        let lim = resources_of(&json!({"cpu": "1500m"}));
        check_item("Container", &item, &req, &lim, &mut errs);
        assert_eq!(
            errs,
            vec![
                "minimum memory usage per Container is 100Mi, but request is 50Mi".to_string(),
                "maximum cpu usage per Container is 800m, but limit is 1500m".to_string(),
            ]
        );
        assert_eq!(aggregate(&errs[..1]), errs[0]);
        assert!(aggregate(&errs).starts_with('['));
    }

    #[test]
    fn pod_usage_sums_containers_and_takes_the_largest_init_container() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}}
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
        }, "status": {"phase": "Pending"}});
        assert_eq!(usage("requests.cpu", &pod).to_string(), "1");
        assert_eq!(usage("memory", &pod).to_string(), "1Gi");
        assert_eq!(usage("pods", &pod).to_string(), "1");
        assert_eq!(
            key_resource("count/deployments.apps"),
            Some(("apps".into(), "deployments".into()))
        );
    }
}
