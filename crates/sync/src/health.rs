//! Health assessment: the built-in rules per kind (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! Pod, Job, CronJob, Service, Ingress, PVC, HPA, CRD, Namespace) and the aggregate of an application.
//! Custom rules written in Lua live in [`crate::lua`] and take precedence when configured.

use std::fmt;

use serde_json::Value;

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
    fn new(status: HealthStatus, message: impl Into<String>) -> Health {
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

/// The controller has not seen the latest spec yet.
fn generation_pending(obj: &Value) -> bool {
    match (
        i64_at(obj, &["metadata", "generation"]),
        i64_at(obj, &["status", "observedGeneration"]),
    ) {
        (Some(g), Some(o)) => o < g,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Built-in health of a live object; `None` for kinds without a rule (they count as healthy once
/// they exist).
pub fn builtin_health(obj: &Value) -> Option<Health> {
    let group = group_of(str_at(obj, &["apiVersion"]).unwrap_or_default());
    let kind = str_at(obj, &["kind"]).unwrap_or_default();
    Some(match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps" | "extensions", "DaemonSet") => daemonset(obj),
        ("apps" | "extensions", "ReplicaSet") => replicaset(obj),
        ("", "Pod") => pod(obj),
        ("batch", "Job") => job(obj),
        ("batch", "CronJob") => cronjob(obj),
        ("", "Service") => service(obj),
        ("networking.k8s.io" | "extensions", "Ingress") => ingress(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("", "Namespace") => namespace(obj),
        _ => return None,
    })
}

fn deployment(obj: &Value) -> Health {
    use HealthStatus::*;
    if bool_at(obj, &["spec", "paused"]) == Some(true) {
        return Health::new(Suspended, "Deployment is paused");
    }
    if generation_pending(obj) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    if let Some(c) = condition(obj, "Progressing")
        && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
    {
        let name = str_at(obj, &["metadata", "name"]).unwrap_or_default();
        return Health::new(
            Degraded,
            format!("Deployment \"{name}\" exceeded its progress deadline"),
        );
    }
    let desired = i64_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let updated = i64_at(obj, &["status", "updatedReplicas"]).unwrap_or(0);
    let replicas = i64_at(obj, &["status", "replicas"]).unwrap_or(0);
    let available = i64_at(obj, &["status", "availableReplicas"]).unwrap_or(0);
    if updated < desired {
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

fn statefulset(obj: &Value) -> Health {
    use HealthStatus::*;
    if generation_pending(obj) {
        return Health::new(
            Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let desired = i64_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let ready = i64_at(obj, &["status", "readyReplicas"]).unwrap_or(0);
    if ready < desired {
        return Health::new(
            Progressing,
            format!("Waiting for {} pods to be ready...", desired - ready),
        );
    }
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return Health::new(
            Healthy,
            "statefulset has OnDelete update strategy; rollout status is not tracked",
        );
    }
    if let Some(partition) = i64_at(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
    ) {
        let updated = i64_at(obj, &["status", "updatedReplicas"]).unwrap_or(0);
        if updated < desired - partition {
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
    let update_rev = str_at(obj, &["status", "updateRevision"]);
    let current_rev = str_at(obj, &["status", "currentRevision"]);
    if update_rev.is_some() && update_rev != current_rev {
        let updated = i64_at(obj, &["status", "updatedReplicas"]).unwrap_or(0);
        return Health::new(
            Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {}...",
                update_rev.unwrap_or_default()
            ),
        );
    }
    Health::healthy()
}

fn daemonset(obj: &Value) -> Health {
    use HealthStatus::*;
    if generation_pending(obj) {
        return Health::new(
            Progressing,
            "Waiting for daemon set spec update to be observed...",
        );
    }
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return Health::new(
            Healthy,
            "daemon set has OnDelete update strategy; rollout status is not tracked",
        );
    }
    let desired = i64_at(obj, &["status", "desiredNumberScheduled"]).unwrap_or(0);
    let updated = i64_at(obj, &["status", "updatedNumberScheduled"]).unwrap_or(0);
    let available = i64_at(obj, &["status", "numberAvailable"]).unwrap_or(0);
    if updated < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for daemon set rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    if available < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for daemon set rollout to finish: {available} of {desired} updated pods are available..."
            ),
        );
    }
    Health::healthy()
}

fn replicaset(obj: &Value) -> Health {
    use HealthStatus::*;
    if generation_pending(obj) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(c) = condition(obj, "ReplicaFailure")
        && c.get("status").and_then(Value::as_str) == Some("True")
    {
        return Health::new(Degraded, cond_text(c));
    }
    let desired = i64_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let available = i64_at(obj, &["status", "availableReplicas"]).unwrap_or(0);
    if available < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
            ),
        );
    }
    Health::healthy()
}

/// Container waiting reasons that mean the pod will not become ready on its own.
const POD_ERROR_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
    "CreateContainerError",
    "RunContainerError",
];

fn pod(obj: &Value) -> Health {
    use HealthStatus::*;
    let phase = str_at(obj, &["status", "phase"]).unwrap_or("Pending");
    let status_msg = || {
        let m = str_at(obj, &["status", "message"]).or_else(|| str_at(obj, &["status", "reason"]));
        m.unwrap_or_default().to_string()
    };
    for list in ["initContainerStatuses", "containerStatuses"] {
        for cs in obj
            .get("status")
            .and_then(|s| s.get(list))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(w) = cs.get("state").and_then(|s| s.get("waiting"))
                && let Some(reason) = w.get("reason").and_then(Value::as_str)
                && POD_ERROR_REASONS.contains(&reason)
            {
                let msg = w.get("message").and_then(Value::as_str).unwrap_or(reason);
                return Health::new(Degraded, msg);
            }
        }
    }
    match phase {
        "Succeeded" => Health::new(Healthy, status_msg()),
        "Failed" => Health::new(Degraded, status_msg()),
        "Running" => {
            let restart = str_at(obj, &["spec", "restartPolicy"]).unwrap_or("Always");
            if restart == "Always" && !condition_is(obj, "Ready", "True") {
                Health::new(Progressing, "pod is running but not ready")
            } else if restart == "Always" {
                Health::healthy()
            } else {
                Health::new(Progressing, "pod is running")
            }
        }
        _ => Health::new(Progressing, status_msg()),
    }
}

fn job(obj: &Value) -> Health {
    use HealthStatus::*;
    if let Some(c) = condition(obj, "Failed")
        && c.get("status").and_then(Value::as_str) == Some("True")
    {
        return Health::new(Degraded, cond_text(c));
    }
    if condition_is(obj, "Complete", "True") {
        return Health::new(Healthy, "job completed");
    }
    if bool_at(obj, &["spec", "suspend"]) == Some(true) {
        return Health::new(Suspended, "job is suspended");
    }
    Health::new(Progressing, "job is running")
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
    obj.get("status")
        .and_then(|s| s.get("loadBalancer"))
        .and_then(|l| l.get("ingress"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn service(obj: &Value) -> Health {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer") && !has_lb_ingress(obj) {
        return Health::new(
            HealthStatus::Progressing,
            "waiting for the load balancer to get an address",
        );
    }
    Health::healthy()
}

fn ingress(obj: &Value) -> Health {
    if !has_lb_ingress(obj) {
        return Health::new(
            HealthStatus::Progressing,
            "waiting for the ingress controller to assign an address",
        );
    }
    Health::healthy()
}

fn pvc(obj: &Value) -> Health {
    match str_at(obj, &["status", "phase"]) {
        Some("Bound") => Health::healthy(),
        Some("Lost") => Health::new(HealthStatus::Degraded, "claim lost its volume"),
        _ => Health::new(
            HealthStatus::Progressing,
            "waiting for the claim to be bound",
        ),
    }
}

fn hpa(obj: &Value) -> Health {
    use HealthStatus::*;
    let conds = obj
        .get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array);
    let Some(conds) = conds.filter(|c| !c.is_empty()) else {
        return Health::new(Progressing, "Waiting to Autoscale");
    };
    for c in conds {
        let ty = c.get("type").and_then(Value::as_str).unwrap_or_default();
        let st = c.get("status").and_then(Value::as_str).unwrap_or_default();
        let reason = c.get("reason").and_then(Value::as_str).unwrap_or_default();
        if (ty == "AbleToScale" && st == "False")
            || (ty == "ScalingActive" && st == "False" && reason.starts_with("Failed"))
        {
            return Health::new(Degraded, cond_text(c));
        }
    }
    Health::healthy()
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
        assert_eq!(
            failed.message,
            "BackoffLimitExceeded: Job has reached the specified backoff limit"
        );
        assert_eq!(st(job(json!([]))), Progressing);
        let pod = |status: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "status": status});
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
                .contains("BackoffLimitExceeded: Job has reached the specified backoff limit"),
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
