//! Health assessment: the built-in rules per kind (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! Pod, Job, CronJob, Service, Ingress, PVC, HPA, CRD, Namespace) and the aggregate of an application.
//! Custom rules written in Lua live in [`crate::lua`] and take precedence when configured.

use std::fmt;

use serde_json::Value;

use crate::lua::CustomHealth;
use crate::object::{group_of, str_at};

/// Health of an object or application, from best to worst as Argo CD ranks them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum HealthStatus {
    /// Everything is as desired.
    Healthy,
    /// Paused or suspended on purpose.
    Suspended,
    /// Not there yet, still converging.
    Progressing,
    /// Expected but absent.
    Missing,
    /// Failed.
    Degraded,
    /// Could not be assessed.
    Unknown,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl HealthStatus {
    /// Parse Argo CD's spelling (as returned by Lua checks).
    pub fn parse(s: &str) -> Option<HealthStatus> {
        Some(match s {
            "Healthy" => HealthStatus::Healthy,
            "Suspended" => HealthStatus::Suspended,
            "Progressing" => HealthStatus::Progressing,
            "Missing" => HealthStatus::Missing,
            "Degraded" => HealthStatus::Degraded,
            "Unknown" => HealthStatus::Unknown,
            _ => return None,
        })
    }
}

/// Health with the reason shown to people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Health {
    /// Status.
    pub status: HealthStatus,
    /// Why (empty when healthy).
    pub message: String,
}

impl Health {
    /// A status with its message.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health {
            status,
            message: message.into(),
        }
    }
    /// Healthy, no message.
    pub fn healthy() -> Health {
        Health::new(HealthStatus::Healthy, "")
    }
}

fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_i64()
}

fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_bool()
}

/// A `status.conditions[]` entry of the given type.
fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj.get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

fn condition_is(obj: &Value, ty: &str, status: &str) -> bool {
    condition(obj, ty)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(status)
}

fn cond_text(c: &Value) -> String {
    let reason = c.get("reason").and_then(Value::as_str).unwrap_or_default();
    let message = c.get("message").and_then(Value::as_str).unwrap_or_default();
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        _ => message.to_string(),
    }
}

/// The finalizer Argo CD puts on hooks it is still watching: such an object being deleted is
/// still judged by its rule rather than as "Pending deletion".
const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// The health of a live object, as Trellis judges it everywhere (the sync engine, the controller
/// and `trellis health` all call this): a custom Lua check for its kind decides (a script that
/// fails gives Unknown with the error; scripts judge objects being deleted too, as Argo CD's own
/// script tests expect); otherwise an object being deleted is Progressing ("Pending deletion");
/// otherwise the built-in rule; an object with no rule is Healthy.
/// `cron_jobs` are the Jobs a CronJob scheduled, when the caller can see them.
pub fn assess(obj: &Value, custom: &CustomHealth, cron_jobs: Option<&[&Value]>) -> Health {
    let deleting = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let hook_finalizer = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(HOOK_FINALIZER)));
    match custom.assess(obj) {
        Some(Ok(h)) => return h,
        Some(Err(e)) => return Health::new(HealthStatus::Unknown, e.to_string()),
        None => {}
    }
    if deleting && !hook_finalizer {
        return Health::new(HealthStatus::Progressing, "Pending deletion");
    }
    if let Some(jobs) = cron_jobs
        && group_of(str_at(obj, &["apiVersion"]).unwrap_or_default()) == "batch"
        && str_at(obj, &["kind"]) == Some("CronJob")
    {
        return cronjob_health(obj, jobs);
    }
    builtin_health(obj).unwrap_or_else(Health::healthy)
}

/// Built-in health of a live object; `None` for kinds without a rule (they count as healthy once
/// they exist). The rules of Argo CD (gitops-engine) give the same status and message; CronJob,
/// CustomResourceDefinition and Namespace are Trellis's own, and the custom resources people run
/// most are in [`crate::crd_health`].
pub fn builtin_health(obj: &Value) -> Option<Health> {
    let group = group_of(str_at(obj, &["apiVersion"]).unwrap_or_default());
    let kind = str_at(obj, &["kind"]).unwrap_or_default();
    Some(match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps", "DaemonSet") => daemonset(obj),
        ("apps", "ReplicaSet") => replicaset(obj),
        ("", "Pod") => pod(obj),
        ("batch", "Job") => job(obj),
        ("batch", "CronJob") => cronjob(obj),
        ("", "Service") => service(obj),
        ("networking.k8s.io" | "extensions", "Ingress") => ingress(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(obj),
        ("apiregistration.k8s.io", "APIService") => apiservice(obj),
        ("argoproj.io", "Workflow") => workflow(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("", "Namespace") => namespace(obj),
        _ => return crate::crd_health::health(group, kind, obj),
    })
}

/// An integer field, 0 when absent (a Go struct's zero value).
fn int(obj: &Value, path: &[&str]) -> i64 {
    i64_at(obj, path).unwrap_or(0)
}

/// A string field of a condition, empty when absent.
fn field<'a>(c: &'a Value, name: &str) -> &'a str {
    c.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// `metadata.generation` is ahead of `status.observedGeneration` (both 0 when absent).
fn spec_not_observed(obj: &Value) -> bool {
    int(obj, &["metadata", "generation"]) > int(obj, &["status", "observedGeneration"])
}

fn deployment(obj: &Value) -> Health {
    use HealthStatus::*;
    if bool_at(obj, &["spec", "paused"]) == Some(true) {
        return Health::new(Suspended, "Deployment is paused");
    }
    if spec_not_observed(obj) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    if condition(obj, "Progressing")
        .is_some_and(|c| field(c, "reason") == "ProgressDeadlineExceeded")
    {
        let name = str_at(obj, &["metadata", "name"]).unwrap_or_default();
        return Health::new(
            Degraded,
            format!(
                "Deployment {} exceeded its progress deadline",
                go_quote(name)
            ),
        );
    }
    let updated = int(obj, &["status", "updatedReplicas"]);
    let replicas = int(obj, &["status", "replicas"]);
    let available = int(obj, &["status", "availableReplicas"]);
    if let Some(desired) = i64_at(obj, &["spec", "replicas"])
        && updated < desired
    {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."
            ),
        );
    }
    if replicas > updated {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        );
    }
    if available < updated {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    Health::healthy()
}

/// A string quoted as Go's `%q` does for printable text.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn statefulset(obj: &Value) -> Health {
    use HealthStatus::*;
    let observed = int(obj, &["status", "observedGeneration"]);
    if observed == 0 || int(obj, &["metadata", "generation"]) > observed {
        return Health::new(
            Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let desired = i64_at(obj, &["spec", "replicas"]);
    let ready = int(obj, &["status", "readyReplicas"]);
    let updated = int(obj, &["status", "updatedReplicas"]);
    if let Some(desired) = desired
        && ready < desired
    {
        return Health::new(
            Progressing,
            format!("Waiting for {} pods to be ready...", desired - ready),
        );
    }
    let strategy = str_at(obj, &["spec", "updateStrategy", "type"]).unwrap_or_default();
    let rolling = obj.pointer("/spec/updateStrategy/rollingUpdate");
    if strategy == "RollingUpdate" && rolling.is_some_and(|r| !r.is_null()) {
        if let (Some(desired), Some(partition)) = (
            desired,
            i64_at(
                obj,
                &["spec", "updateStrategy", "rollingUpdate", "partition"],
            ),
        ) && updated < desired - partition
        {
            return Health::new(
                Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    desired - partition
                ),
            );
        }
        return Health::new(
            Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return Health::new(
            Healthy,
            format!("statefulset has {ready} ready pods ({updated} updated)"),
        );
    }
    let update_rev = str_at(obj, &["status", "updateRevision"]).unwrap_or_default();
    let current_rev = str_at(obj, &["status", "currentRevision"]).unwrap_or_default();
    if update_rev != current_rev {
        return Health::new(
            Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}..."
            ),
        );
    }
    let current = int(obj, &["status", "currentReplicas"]);
    Health::new(
        Healthy,
        format!("statefulset rolling update complete {current} pods at revision {current_rev}..."),
    )
}

fn daemonset(obj: &Value) -> Health {
    use HealthStatus::*;
    if spec_not_observed(obj) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let desired = int(obj, &["status", "desiredNumberScheduled"]);
    let updated = int(obj, &["status", "updatedNumberScheduled"]);
    let available = int(obj, &["status", "numberAvailable"]);
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return Health::new(
            Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    let name = go_quote(str_at(obj, &["metadata", "name"]).unwrap_or_default());
    if updated < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for daemon set {name} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    if available < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for daemon set {name} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        );
    }
    Health::healthy()
}

fn replicaset(obj: &Value) -> Health {
    use HealthStatus::*;
    if spec_not_observed(obj) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(c) = condition(obj, "ReplicaFailure")
        && field(c, "status") == "True"
    {
        return Health::new(Degraded, field(c, "message"));
    }
    let available = int(obj, &["status", "availableReplicas"]);
    if let Some(desired) = i64_at(obj, &["spec", "replicas"])
        && available < desired
    {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
            ),
        );
    }
    Health::healthy()
}

/// Whether an object is a sync hook (Argo CD's or Helm's annotation).
fn is_hook(obj: &Value) -> bool {
    let ann = |name| crate::object::annotation(obj, name).is_some();
    ann(crate::object::ARGO_HOOK) || ann(crate::object::HELM_HOOK)
}

/// A pod whose restart policy is not `Always` is normally a run-to-completion pod (a hook), so
/// its running state counts as Progressing; this annotation says to judge it as a long-running
/// pod anyway (ignored on hooks), as Argo CD does.
const IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

fn pod(obj: &Value) -> Health {
    use HealthStatus::*;
    let restart = str_at(obj, &["spec", "restartPolicy"]).unwrap_or_default();
    let judged_long_running = restart == "Always"
        || (crate::object::annotation(obj, IGNORE_RESTART_POLICY).is_some() && !is_hook(obj));
    let statuses = |list: &str| -> Vec<&Value> {
        obj.get("status")
            .and_then(|s| s.get(list))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    };
    let message = str_at(obj, &["status", "message"]).unwrap_or_default();
    if judged_long_running {
        // Containers stuck waiting on an error (ErrImagePull, CrashLoopBackOff, ...).
        let stuck: Vec<&str> = statuses("containerStatuses")
            .into_iter()
            .filter_map(|cs| cs.pointer("/state/waiting"))
            .filter(|w| {
                let r = field(w, "reason");
                r.starts_with("Err") || r.ends_with("Error") || r.ends_with("BackOff")
            })
            .map(|w| field(w, "message"))
            .collect();
        if !stuck.is_empty() {
            return Health::new(Degraded, stuck.join(", "));
        }
    }
    match str_at(obj, &["status", "phase"]).unwrap_or_default() {
        "Pending" => Health::new(Progressing, message),
        "Succeeded" => Health::new(Healthy, message),
        "Failed" => {
            if !message.is_empty() {
                return Health::new(Degraded, message);
            }
            let mut all = statuses("initContainerStatuses");
            all.extend(statuses("containerStatuses"));
            for cs in all {
                let Some(t) = cs.pointer("/state/terminated") else {
                    continue;
                };
                let msg = field(t, "message");
                if !msg.is_empty() {
                    return Health::new(Degraded, msg);
                }
                if field(t, "reason") == "OOMKilled" {
                    return Health::new(Degraded, "OOMKilled");
                }
                let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                if code != 0 {
                    return Health::new(
                        Degraded,
                        format!(
                            "container {} failed with exit code {code}",
                            go_quote(field(cs, "name"))
                        ),
                    );
                }
            }
            Health::new(Degraded, "")
        }
        "Running" if judged_long_running => {
            if condition_is(obj, "Ready", "True") {
                return Health::new(Healthy, message);
            }
            let restarted = statuses("containerStatuses").into_iter().any(|cs| {
                cs.pointer("/lastState/terminated")
                    .is_some_and(|t| !t.is_null())
            });
            if restarted {
                Health::new(Degraded, message)
            } else {
                Health::new(Progressing, message)
            }
        }
        "Running" if restart == "OnFailure" || restart == "Never" => {
            Health::new(Progressing, message)
        }
        _ => Health::new(Unknown, message),
    }
}

fn job(obj: &Value) -> Health {
    use HealthStatus::*;
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let (mut fail_msg, mut message) = ("", "");
    for c in obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match field(c, "type") {
            "Failed" => {
                failed = true;
                complete = true;
                fail_msg = field(c, "message");
            }
            "Complete" => {
                complete = true;
                message = field(c, "message");
            }
            "Suspended" => {
                complete = true;
                message = field(c, "message");
                suspended = field(c, "status") == "True";
            }
            _ => {}
        }
    }
    if !complete {
        Health::new(Progressing, message)
    } else if failed {
        Health::new(Degraded, fail_msg)
    } else if suspended {
        Health::new(Suspended, message)
    } else {
        Health::new(Healthy, message)
    }
}

/// When a Job was scheduled: the CronJob controller's `batch.kubernetes.io/cronjob-scheduled-timestamp`
/// annotation, else its creation time (both RFC 3339 in UTC, so they compare as strings).
fn scheduled_at(job: &Value) -> (&str, &str) {
    let name = str_at(job, &["metadata", "name"]).unwrap_or_default();
    let at = str_at(
        job,
        &[
            "metadata",
            "annotations",
            "batch.kubernetes.io/cronjob-scheduled-timestamp",
        ],
    )
    .or_else(|| str_at(job, &["metadata", "creationTimestamp"]))
    .unwrap_or_default();
    (at, name)
}

/// Health of a CronJob from the Jobs it scheduled (those the cache holds for it): Suspended when
/// `spec.suspend`; otherwise the last scheduled Job decides — Degraded with its failure reason when
/// it failed, Healthy when it completed or is still running (as in Argo CD 3.2, a running Job does
/// not make the CronJob Progressing). Without any of its Jobs (never scheduled, or removed by the
/// history limits) the status fields decide: a last schedule later than the last success with no
/// active Job is Degraded, anything else Healthy.
pub fn cronjob_health(obj: &Value, jobs: &[&Value]) -> Health {
    use HealthStatus::*;
    if bool_at(obj, &["spec", "suspend"]) == Some(true) {
        return Health::new(Suspended, "CronJob is suspended");
    }
    if let Some(last) = jobs
        .iter()
        .copied()
        .max_by(|a, b| scheduled_at(a).cmp(&scheduled_at(b)))
    {
        let name = str_at(last, &["metadata", "name"]).unwrap_or_default();
        let h = job(last);
        return match h.status {
            Degraded => Health::new(
                Degraded,
                format!("last scheduled Job {name} failed: {}", h.message),
            ),
            Healthy => Health::new(Healthy, format!("last scheduled Job {name} completed")),
            _ => Health::new(Healthy, format!("Job {name} is running")),
        };
    }
    let Some(scheduled) = str_at(obj, &["status", "lastScheduleTime"]) else {
        return Health::new(Healthy, "CronJob has not been scheduled yet");
    };
    let active = obj
        .pointer("/status/active")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    match str_at(obj, &["status", "lastSuccessfulTime"]) {
        Some(ok) if !active && ok < scheduled => Health::new(
            Degraded,
            "CronJob has not completed its last execution successfully",
        ),
        None if !active => Health::new(
            Healthy,
            "CronJob has not completed successfully yet; its Jobs are not visible",
        ),
        _ => Health::healthy(),
    }
}

fn cronjob(obj: &Value) -> Health {
    cronjob_health(obj, &[])
}

fn has_lb_ingress(obj: &Value) -> bool {
    obj.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn service(obj: &Value) -> Health {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer") && !has_lb_ingress(obj) {
        return Health::new(HealthStatus::Progressing, "");
    }
    Health::healthy()
}

fn ingress(obj: &Value) -> Health {
    if has_lb_ingress(obj) {
        Health::healthy()
    } else {
        Health::new(HealthStatus::Progressing, "")
    }
}

fn pvc(obj: &Value) -> Health {
    let status = match str_at(obj, &["status", "phase"]) {
        Some("Bound") => HealthStatus::Healthy,
        Some("Lost") => HealthStatus::Degraded,
        Some("Pending") => HealthStatus::Progressing,
        _ => HealthStatus::Unknown,
    };
    Health::new(status, "")
}

/// The autoscaler's conditions: `status.conditions` in autoscaling/v2, the
/// `autoscaling.alpha.kubernetes.io/conditions` annotation (JSON) in autoscaling/v1.
fn hpa(obj: &Value) -> Health {
    use HealthStatus::*;
    let waiting = || Health::new(Progressing, "Waiting to Autoscale");
    let conditions: Vec<Value> = if str_at(obj, &["apiVersion"]) == Some("autoscaling/v1") {
        let Some(text) =
            crate::object::annotation(obj, "autoscaling.alpha.kubernetes.io/conditions")
        else {
            return waiting();
        };
        match serde_json::from_str(text) {
            Ok(list) => list,
            Err(e) => {
                return Health::new(
                    Unknown,
                    format!("failed to convert conditions annotation to typed: {e}"),
                );
            }
        }
    } else {
        obj.pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if conditions.is_empty() {
        return waiting();
    }
    let failing = |c: &Value| {
        let reason = field(c, "reason");
        match field(c, "type") {
            "AbleToScale" => matches!(reason, "FailedGetScale" | "FailedUpdateScale"),
            "ScalingActive" => reason.starts_with("Failed") || reason == "InvalidSelector",
            _ => false,
        }
    };
    if let Some(c) = conditions.iter().find(|c| failing(c)) {
        return Health::new(Degraded, field(c, "message"));
    }
    let scaling = |c: &&Value| {
        matches!(field(c, "type"), "AbleToScale" | "ScalingLimited") && field(c, "status") == "True"
    };
    match conditions.iter().find(scaling) {
        Some(c) => Health::new(Healthy, field(c, "message")),
        None => waiting(),
    }
}

fn apiservice(obj: &Value) -> Health {
    use HealthStatus::*;
    match condition(obj, "Available") {
        Some(c) => {
            let text = format!("{}: {}", field(c, "reason"), field(c, "message"));
            if field(c, "status") == "True" {
                Health::new(Healthy, text)
            } else {
                Health::new(Progressing, text)
            }
        }
        None => Health::new(Progressing, "Waiting to be processed"),
    }
}

/// An Argo Workflow, from its phase.
fn workflow(obj: &Value) -> Health {
    use HealthStatus::*;
    let message = str_at(obj, &["status", "message"]).unwrap_or_default();
    match str_at(obj, &["status", "phase"]).unwrap_or_default() {
        "" | "Pending" | "Running" => Health::new(Progressing, message),
        "Succeeded" => Health::new(Healthy, message),
        "Failed" | "Error" => Health::new(Degraded, message),
        _ => Health::new(Unknown, message),
    }
}

fn crd(obj: &Value) -> Health {
    use HealthStatus::*;
    if let Some(c) = condition(obj, "NamesAccepted")
        && c.get("status").and_then(Value::as_str) == Some("False")
    {
        return Health::new(Degraded, cond_text(c));
    }
    if condition_is(obj, "Established", "True") {
        return Health::healthy();
    }
    Health::new(
        Progressing,
        "waiting for the CustomResourceDefinition to be established",
    )
}

fn namespace(obj: &Value) -> Health {
    match str_at(obj, &["status", "phase"]) {
        Some("Active") | None => Health::healthy(),
        Some(p) => Health::new(HealthStatus::Progressing, format!("namespace is {p}")),
    }
}

/// Aggregate per-object health into the application's, given in sync order: the worst status wins
/// (Unknown excepted: an unassessable object does not make the application Unknown), with the first
/// object of that status giving the message.
pub fn aggregate<'a>(items: impl IntoIterator<Item = (&'a str, &'a Health)>) -> Health {
    let mut worst: Option<(HealthStatus, String)> = None;
    for (name, h) in items {
        if h.status == HealthStatus::Unknown {
            continue;
        }
        if worst.as_ref().is_none_or(|(s, _)| h.status > *s) {
            let msg = if h.message.is_empty() {
                format!("{name}: {}", h.status)
            } else {
                format!("{name}: {}", h.message)
            };
            worst = Some((h.status, msg));
        }
    }
    match worst {
        None => Health::healthy(),
        Some((HealthStatus::Healthy, _)) => Health::healthy(),
        Some((s, m)) => Health::new(s, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::*;
    use serde_json::json;

    fn st(v: Value) -> HealthStatus {
        builtin_health(&v).expect("kind has a rule").status
    }

    #[test]
    fn deployment_rules() {
        let base = |status: Value, spec: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "generation": 2}, "spec": spec, "status": status});
        let ok = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3});
        assert_eq!(st(base(ok.clone(), json!({"replicas": 3}))), Healthy);
        assert_eq!(
            st(base(
                json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
                json!({"replicas": 3})
            )),
            Progressing
        );
        assert_eq!(
            st(base(
                json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
                json!({"replicas": 3})
            )),
            Progressing
        );
        assert_eq!(
            st(base(
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
                json!({"replicas": 3})
            )),
            Progressing
        );
        assert_eq!(
            st(base(ok.clone(), json!({"replicas": 3, "paused": true}))),
            Suspended
        );
        let deadline = json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
        let h = builtin_health(&base(deadline, json!({"replicas": 3}))).expect("rule");
        assert_eq!(h.status, Degraded);
        assert!(h.message.contains("progress deadline"));
        // Default replicas is 1.
        assert_eq!(
            st(base(
                json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
                json!({})
            )),
            Healthy
        );
    }

    #[test]
    fn job_and_pod_rules() {
        let job = |conds: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": conds}});
        assert_eq!(
            st(job(json!([{"type": "Complete", "status": "True"}]))),
            Healthy
        );
        let failed = builtin_health(&job(json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]))).expect("rule");
        assert_eq!(failed.status, Degraded);
        // As Argo CD: the Failed condition's message alone.
        assert_eq!(
            failed.message,
            "Job has reached the specified backoff limit"
        );
        assert_eq!(st(job(json!([]))), Progressing);
        let pod = |status: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"restartPolicy": "Always"}, "status": status});
        assert_eq!(
            st(pod(
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
            )),
            Healthy
        );
        assert_eq!(
            st(pod(
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]})
            )),
            Progressing
        );
        assert_eq!(
            st(pod(
                json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff"}}}]})
            )),
            Degraded
        );
        assert_eq!(
            st(pod(json!({"phase": "Failed", "message": "oom"}))),
            Degraded
        );
        assert_eq!(st(pod(json!({"phase": "Succeeded"}))), Healthy);
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            st(json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}})),
            Healthy
        );
        assert_eq!(
            st(json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}})),
            Progressing
        );
        assert_eq!(
            st(
                json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}})
            ),
            Healthy
        );
        assert_eq!(
            st(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "status": {}})),
            Progressing
        );
        assert_eq!(
            st(
                json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}})
            ),
            Healthy
        );
        assert_eq!(
            st(
                json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Lost"}})
            ),
            Degraded
        );
        assert_eq!(
            st(
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "status": {"conditions": [{"type": "Established", "status": "True"}]}})
            ),
            Healthy
        );
        assert_eq!(
            st(
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "status": {}})
            ),
            Progressing
        );
        assert_eq!(
            st(
                json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Terminating"}})
            ),
            Progressing
        );
        assert_eq!(
            st(json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"suspend": true}})),
            Suspended
        );
        assert_eq!(
            st(
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "status": {"conditions": [{"type": "AbleToScale", "status": "False", "reason": "FailedGetScale"}]}})
            ),
            Degraded
        );
        assert_eq!(
            st(
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "readyReplicas": 1}})
            ),
            Progressing
        );
        assert_eq!(
            st(
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}})
            ),
            Healthy
        );
        assert!(builtin_health(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).is_none());
    }

    fn cron_job(name: &str, at: &str, cond: Option<(&str, &str, &str)>) -> Value {
        let mut j = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "creationTimestamp": at}, "status": {}});
        if let Some((t, reason, message)) = cond {
            j["status"]["conditions"] =
                json!([{"type": t, "status": "True", "reason": reason, "message": message}]);
        }
        j
    }

    #[test]
    fn cronjob_follows_its_last_scheduled_job() {
        let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 1 * * *"},
            "status": {"lastScheduleTime": "2026-11-27T01:00:00Z", "lastSuccessfulTime": "2026-11-26T01:00:30Z"}});
        let failed = cron_job(
            "nightly-2",
            "2026-11-27T01:00:00Z",
            Some((
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )),
        );
        let done = cron_job(
            "nightly-1",
            "2026-11-26T01:00:00Z",
            Some(("Complete", "", "")),
        );
        // The newest Job failed: Degraded with its reason, whatever came before.
        let h = cronjob_health(&cj, &[&done, &failed]);
        assert_eq!(h.status, Degraded);
        assert!(h.message.contains("nightly-2"), "{}", h.message);
        assert!(
            h.message
                .contains("Job has reached the specified backoff limit"),
            "{}",
            h.message
        );
        // A later success clears it; the scheduled-timestamp annotation wins over creation time.
        let mut later = cron_job(
            "nightly-3",
            "2026-11-20T00:00:00Z",
            Some(("Complete", "", "")),
        );
        later["metadata"]["annotations"] =
            json!({"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-11-28T01:00:00Z"});
        assert_eq!(
            cronjob_health(&cj, &[&failed, &later, &done]).status,
            Healthy
        );
        // A running last Job is Healthy (not Progressing), as in Argo CD.
        let running = cron_job("nightly-4", "2026-11-29T01:00:00Z", None);
        let h = cronjob_health(&cj, &[&failed, &running]);
        assert_eq!(h.status, Healthy, "{}", h.message);
        // Suspended wins over everything.
        let mut suspended = cj.clone();
        suspended["spec"]["suspend"] = json!(true);
        assert_eq!(cronjob_health(&suspended, &[&failed]).status, Suspended);
    }

    #[test]
    fn cronjob_without_visible_jobs_reads_its_status() {
        let cj = |status: Value| json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {}, "status": status});
        assert_eq!(st(cj(json!({}))), Healthy);
        // Last schedule after the last success and nothing running: the last run failed.
        assert_eq!(
            st(cj(
                json!({"lastScheduleTime": "2026-11-27T01:00:00Z", "lastSuccessfulTime": "2026-11-26T01:00:30Z"})
            )),
            Degraded
        );
        // Still running.
        assert_eq!(
            st(cj(
                json!({"lastScheduleTime": "2026-11-27T01:00:00Z", "lastSuccessfulTime": "2026-11-26T01:00:30Z",
                "active": [{"kind": "Job", "name": "c-1"}]})
            )),
            Healthy
        );
        assert_eq!(
            st(cj(
                json!({"lastScheduleTime": "2026-11-27T01:00:00Z", "lastSuccessfulTime": "2026-11-27T01:00:20Z"})
            )),
            Healthy
        );
    }

    #[test]
    fn aggregate_takes_worst_and_first_reason() {
        let h = Health::healthy();
        let p = Health {
            status: Progressing,
            message: "waiting".into(),
        };
        let d1 = Health {
            status: Degraded,
            message: "first failure".into(),
        };
        let d2 = Health {
            status: Degraded,
            message: "second failure".into(),
        };
        let agg = aggregate([("a", &h), ("b", &p), ("c", &d1), ("d", &d2)]);
        assert_eq!(agg.status, Degraded);
        assert_eq!(agg.message, "c: first failure");
        assert_eq!(aggregate([("a", &h)]).status, Healthy);
        let m = Health {
            status: Missing,
            message: String::new(),
        };
        assert_eq!(aggregate([("a", &p), ("b", &m)]).status, Missing);
    }
}
