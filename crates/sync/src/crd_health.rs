//! Built-in health of the custom resources people run most, so that no script needs installing:
//! cert-manager, Argo Rollouts, KEDA, Flux, Strimzi, the Prometheus operator, Knative, external-secrets,
//! Crossplane, and any custom resource with a standard `Ready` or `Available` condition. Each rule
//! gives the status and message Argo CD's health check for that kind gives on the same object
//! (written for Trellis from the behaviour, not translated from the scripts). A Lua customization
//! for the kind, when configured, still takes precedence ([`crate::health::assess`]).

use serde_json::Value;

use crate::health::{Health, HealthStatus};
use crate::object::str_at;

use HealthStatus::*;

/// Health of a custom resource Trellis knows, `None` for any other.
pub fn health(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    Some(match (group, kind) {
        ("cert-manager.io", "Certificate") => certificate(obj),
        ("cert-manager.io", "Issuer") => ready_condition(obj, "Initializing issuer"),
        ("cert-manager.io", "ClusterIssuer") => ready_condition(obj, "Initializing ClusterIssuer"),
        ("keda.sh", "ScaledObject" | "ScaledJob") => keda(obj),
        ("helm.toolkit.fluxcd.io", "HelmRelease") => flux(obj, &["Released", "TestSuccess"], false),
        ("source.toolkit.fluxcd.io", "GitRepository" | "OCIRepository" | "Bucket") => {
            flux(obj, &["ArtifactInStorage"], true)
        }
        ("kustomize.toolkit.fluxcd.io", "Kustomization") => flux(obj, &["Healthy"], false),
        ("kafka.strimzi.io", "Kafka") => strimzi_kafka(obj),
        ("argoproj.io", "Rollout") => rollout(obj),
        ("monitoring.coreos.com", "Prometheus" | "Alertmanager") => prometheus_operator(obj),
        ("serving.knative.dev", "Service") => knative_service(obj),
        (
            "external-secrets.io",
            "ExternalSecret" | "ClusterExternalSecret" | "SecretStore" | "ClusterSecretStore",
        ) => ready_condition(obj, &format!("Waiting for {kind}")),
        ("pkg.crossplane.io", "Provider" | "Configuration" | "Function") => crossplane_package(obj),
        (g, _) if is_crossplane(g) => crossplane_managed(obj),
        (g, _) if is_custom_group(g) => return standard_conditions(obj),
        _ => return None,
    })
}

/// The entries of `status.conditions`, in order.
fn conditions(obj: &Value) -> Vec<&Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A string field of a condition, empty when absent.
fn field<'a>(c: &'a Value, name: &str) -> &'a str {
    c.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn is(c: &Value, ty: &str, status: &str) -> bool {
    field(c, "type") == ty && field(c, "status") == status
}

/// The first `Ready` condition that is True (Healthy) or False (Degraded) decides, with its
/// message; otherwise Progressing with `waiting`.
fn ready_condition(obj: &Value, waiting: &str) -> Health {
    for c in conditions(obj) {
        if is(c, "Ready", "False") {
            return Health::new(Degraded, field(c, "message"));
        }
        if is(c, "Ready", "True") {
            return Health::new(Healthy, field(c, "message"));
        }
    }
    Health::new(Progressing, waiting)
}

/// cert-manager Certificate: being issued wins over readiness.
fn certificate(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let Some(c) = conds.iter().find(|c| is(c, "Issuing", "True")) {
        return Health::new(Progressing, field(c, "message"));
    }
    ready_condition(obj, "Waiting for certificate")
}

/// KEDA: not Ready or on fallback is Degraded; Ready is Healthy, or Suspended when paused. The
/// message is that of the last condition that mattered.
fn keda(obj: &Value) -> Health {
    let (mut healthy, mut degraded, mut paused) = (false, false, false);
    let mut message = "";
    for c in conditions(obj) {
        if is(c, "Ready", "False") || is(c, "Fallback", "True") {
            degraded = true;
            message = field(c, "message");
        } else if is(c, "Ready", "True") {
            healthy = true;
            message = field(c, "message");
        } else if is(c, "Paused", "True") {
            paused = true;
            message = field(c, "message");
        }
    }
    match (degraded, healthy, paused) {
        (true, _, _) => Health::new(Degraded, message),
        (false, true, false) => Health::new(Healthy, message),
        (false, true, true) => Health::new(Suspended, message),
        _ => Health::new(Progressing, "Creating HorizontalPodAutoscaler Object"),
    }
}

/// Flux objects: suspended by `spec.suspend`; otherwise two signals must agree — `Ready` (True
/// counts as success, Unknown as progress) with a kind-specific success condition, and
/// `Reconciling` as progress. The message is the `Ready` reason (sources add the reason of an
/// outdated artifact).
fn flux(obj: &Value, success: &[&str], artifact_outdated: bool) -> Health {
    if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        let kind = str_at(obj, &["kind"]).unwrap_or_default();
        return Health::new(Suspended, format!("{kind} is suspended"));
    }
    let Some(list) = obj.pointer("/status/conditions").and_then(Value::as_array) else {
        return Health::new(Progressing, "Status unknown");
    };
    let (mut progressing, mut succeeded) = (0, 0);
    let mut message = String::new();
    for c in list {
        let (ty, status) = (field(c, "type"), field(c, "status"));
        if ty == "Ready" {
            match status {
                "True" => succeeded += 1,
                "Unknown" => progressing += 1,
                _ => {}
            }
            message = field(c, "reason").to_string();
        } else if ty == "Reconciling" && status == "True" {
            progressing += 1;
        } else if artifact_outdated && ty == "ArtifactOutdated" && status == "True" {
            message = format!("{message} {}", field(c, "reason"));
        } else if success.contains(&ty) && status == "True" {
            succeeded += 1;
        }
    }
    if progressing == 2 {
        Health::new(Progressing, message)
    } else if succeeded == 2 {
        Health::new(Healthy, message)
    } else {
        Health::new(Degraded, message)
    }
}

/// Argo Rollouts Rollout (v1.0+ reports a phase): the spec must be observed first; a paused
/// rollout is Suspended; otherwise its phase and message say it.
fn rollout(obj: &Value) -> Health {
    let observed = obj
        .pointer("/status/observedGeneration")
        .and_then(|v| match v {
            Value::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        });
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    if let (Some(g), Some(o)) = (generation, observed)
        && o < g
    {
        return Health::new(
            Progressing,
            "Waiting for rollout spec update to be observed",
        );
    }
    let message = str_at(obj, &["status", "message"]).unwrap_or_default();
    match str_at(obj, &["status", "phase"]).unwrap_or_default() {
        "Healthy" => Health::new(Healthy, message),
        "Paused" => Health::new(Suspended, message),
        "Degraded" => Health::new(Degraded, message),
        "" => Health::new(
            Progressing,
            "Waiting for rollout spec update to be observed",
        ),
        _ => Health::new(Progressing, message),
    }
}

/// Strimzi Kafka: NotReady (other than while creating) is Degraded, Ready is Healthy.
fn strimzi_kafka(obj: &Value) -> Health {
    for c in conditions(obj) {
        if is(c, "NotReady", "True") && field(c, "reason") != "Creating" {
            return Health::new(Degraded, field(c, "message"));
        }
        if is(c, "Ready", "True") {
            return Health::new(Healthy, "");
        }
    }
    Health::new(Progressing, "Waiting for Kafka Cluster")
}

/// Prometheus operator (Prometheus, Alertmanager): the last `Available` condition decides; pods
/// still starting are Progressing, anything else not available is Degraded.
fn prometheus_operator(obj: &Value) -> Health {
    let mut h = Health::new(Progressing, "Waiting for initialization");
    for c in conditions(obj) {
        if field(c, "type") != "Available" {
            continue;
        }
        if field(c, "status") == "True" {
            h = Health::new(Healthy, "All instances are available");
        } else {
            let status = if field(c, "reason") == "SomePodsNotReady" {
                Progressing
            } else {
                Degraded
            };
            let message = c
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_else(|| field(c, "reason"));
            h = Health::new(status, message);
        }
    }
    h
}

/// Knative Service: Healthy when its three readiness conditions are True and none is False or
/// Unknown; otherwise each False/Unknown condition adds a line to the message.
fn knative_service(obj: &Value) -> Health {
    let Some(list) = obj.pointer("/status/conditions").and_then(Value::as_array) else {
        return Health::new(Progressing, "Waiting for status update.");
    };
    let (mut ready, mut failed, mut unknown) = (0, 0, 0);
    let mut message = String::new();
    for c in list {
        let (ty, status) = (field(c, "type"), field(c, "status"));
        if status == "True" && matches!(ty, "ConfigurationsReady" | "RoutesReady" | "Ready") {
            ready += 1;
        } else if status == "False" || status == "Unknown" {
            message.push_str(&format!("{ty} is {status}"));
            let reason = field(c, "reason");
            if !reason.is_empty() {
                message.push_str(&format!(", since {reason}."));
            }
            let text = field(c, "message");
            if !text.is_empty() {
                message.push(' ');
                message.push_str(text);
            }
            message.push('\n');
            if status == "False" {
                failed += 1;
            } else {
                unknown += 1;
            }
        }
    }
    if ready == 3 && failed == 0 && unknown == 0 {
        Health::new(Healthy, "Knative Service is healthy.")
    } else if failed > 0 {
        Health::new(Degraded, message)
    } else {
        Health::new(Progressing, message)
    }
}

/// Groups of Crossplane managed resources and claims (providers' and composite ones).
fn is_crossplane(group: &str) -> bool {
    (group.ends_with(".crossplane.io") || group.ends_with(".upbound.io"))
        && group != "pkg.crossplane.io"
        && group != "apiextensions.crossplane.io"
}

/// A Crossplane package: Healthy when installed and healthy, else Degraded, with both reasons.
fn crossplane_package(obj: &Value) -> Health {
    let conds = conditions(obj);
    if obj.pointer("/status/conditions").is_none() {
        return Health::new(Progressing, "Waiting for provider to be installed");
    }
    let get = |ty: &str| conds.iter().rev().find(|c| field(c, "type") == ty);
    let installed = get("Installed");
    let healthy = get("Healthy");
    let ok = installed.is_some_and(|c| field(c, "status") == "True")
        && healthy.is_some_and(|c| field(c, "status") == "True");
    fn reason<'a>(c: Option<&&'a Value>) -> &'a str {
        c.map(|c| field(c, "reason")).unwrap_or_default()
    }
    Health::new(
        if ok { Healthy } else { Degraded },
        format!("{} {}", reason(installed), reason(healthy)),
    )
}

/// A Crossplane managed resource or claim: a failed sync or asynchronous operation is Degraded,
/// `Ready` is Healthy; config kinds without status are Healthy; otherwise still provisioning.
fn crossplane_managed(obj: &Value) -> Health {
    let provisioning = Health::new(Progressing, "Provisioning ...");
    let kind = str_at(obj, &["kind"]).unwrap_or_default();
    let status = obj
        .get("status")
        .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()));
    let Some(status) = status else {
        if matches!(kind, "ProviderConfig" | "ProviderConfigUsage") {
            return Health::new(Healthy, "Resource is up-to-date.");
        }
        return provisioning;
    };
    let Some(list) = status.get("conditions").and_then(Value::as_array) else {
        if kind == "ProviderConfig" && status.get("users").is_some() {
            return Health::new(Healthy, "Resource is in use.");
        }
        return provisioning;
    };
    for c in list {
        if is(c, "LastAsyncOperation", "False") || is(c, "Synced", "False") {
            return Health::new(Degraded, field(c, "message"));
        }
        if is(c, "Ready", "True") {
            return Health::new(Healthy, "Resource is up-to-date.");
        }
    }
    provisioning
}

/// A custom resource's group (has a dot, not a Kubernetes API group).
fn is_custom_group(group: &str) -> bool {
    group.contains('.') && !group.ends_with("k8s.io")
}

/// Any other custom resource with a standard `Ready` (else `Available`) condition: True is
/// Healthy, False Degraded, Unknown Progressing, with the condition's message (else reason).
fn standard_conditions(obj: &Value) -> Option<Health> {
    let conds = conditions(obj);
    let c = conds
        .iter()
        .find(|c| field(c, "type") == "Ready")
        .or_else(|| conds.iter().find(|c| field(c, "type") == "Available"))?;
    let message = match field(c, "message") {
        "" => field(c, "reason"),
        m => m,
    };
    let status = match field(c, "status") {
        "True" => Healthy,
        "False" => Degraded,
        _ => Progressing,
    };
    Some(Health::new(status, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn judge(api: &str, kind: &str, spec: Value, status: Value) -> Health {
        let obj = json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x", "generation": 1},
                         "spec": spec, "status": status});
        let group = crate::object::group_of(api);
        health(group, kind, &obj).expect("a built-in rule")
    }

    fn conds(list: Value) -> Value {
        json!({"conditions": list})
    }

    #[test]
    fn cert_manager() {
        let api = "cert-manager.io/v1";
        assert_eq!(
            judge(api, "Certificate", json!({}), json!({})),
            Health::new(Progressing, "Waiting for certificate")
        );
        // Issuing wins even when listed after Ready.
        let c = conds(json!([
            {"type": "Ready", "status": "False", "message": "old"},
            {"type": "Issuing", "status": "True", "message": "renewing"}
        ]));
        assert_eq!(
            judge(api, "Certificate", json!({}), c),
            Health::new(Progressing, "renewing")
        );
        let ok = conds(json!([{"type": "Ready", "status": "True", "message": "up to date"}]));
        assert_eq!(
            judge(api, "Issuer", json!({}), ok.clone()),
            Health::new(Healthy, "up to date")
        );
        assert_eq!(
            judge(api, "ClusterIssuer", json!({}), json!({})),
            Health::new(Progressing, "Initializing ClusterIssuer")
        );
    }

    #[test]
    fn keda_flux_strimzi() {
        let ready = json!({"type": "Ready", "status": "True", "message": "ok"});
        let paused = json!({"type": "Paused", "status": "True", "message": "paused"});
        assert_eq!(
            judge(
                "keda.sh/v1alpha1",
                "ScaledObject",
                json!({}),
                conds(json!([ready, paused]))
            ),
            Health::new(Suspended, "paused")
        );
        assert_eq!(
            judge("keda.sh/v1alpha1", "ScaledObject", json!({}), json!({})),
            Health::new(Progressing, "Creating HorizontalPodAutoscaler Object")
        );
        let hr = |list: Value| {
            judge(
                "helm.toolkit.fluxcd.io/v2",
                "HelmRelease",
                json!({}),
                conds(list),
            )
        };
        assert_eq!(
            hr(
                json!([{"type": "Ready", "status": "True", "reason": "Succeeded"},
                      {"type": "Released", "status": "True"}])
            ),
            Health::new(Healthy, "Succeeded")
        );
        assert_eq!(
            hr(
                json!([{"type": "Ready", "status": "Unknown", "reason": "Progressing"},
                      {"type": "Reconciling", "status": "True"}])
            ),
            Health::new(Progressing, "Progressing")
        );
        assert_eq!(
            hr(json!([{"type": "Ready", "status": "False", "reason": "InstallFailed"}])),
            Health::new(Degraded, "InstallFailed")
        );
        assert_eq!(
            judge(
                "source.toolkit.fluxcd.io/v1",
                "GitRepository",
                json!({"suspend": true}),
                json!({})
            ),
            Health::new(Suspended, "GitRepository is suspended")
        );
        assert_eq!(
            judge(
                "kafka.strimzi.io/v1beta2",
                "Kafka",
                json!({}),
                conds(json!([{"type": "NotReady", "status": "True", "reason": "Creating"}]))
            ),
            Health::new(Progressing, "Waiting for Kafka Cluster")
        );
    }

    #[test]
    fn prometheus_knative_crossplane_rollout_and_generic() {
        let avail = |status: &str, reason: &str| {
            conds(json!([{"type": "Available", "status": status, "reason": reason}]))
        };
        assert_eq!(
            judge(
                "monitoring.coreos.com/v1",
                "Prometheus",
                json!({}),
                avail("False", "SomePodsNotReady")
            ),
            Health::new(Progressing, "SomePodsNotReady")
        );
        assert_eq!(
            judge(
                "monitoring.coreos.com/v1",
                "Alertmanager",
                json!({}),
                avail("True", "")
            ),
            Health::new(Healthy, "All instances are available")
        );
        let ks = judge(
            "serving.knative.dev/v1",
            "Service",
            json!({}),
            conds(
                json!([{"type": "Ready", "status": "False", "reason": "RevisionFailed", "message": "boom"}]),
            ),
        );
        assert_eq!(
            ks,
            Health::new(Degraded, "Ready is False, since RevisionFailed. boom\n")
        );
        assert_eq!(
            judge(
                "s3.aws.upbound.io/v1beta1",
                "Bucket",
                json!({}),
                conds(json!([{"type": "Synced", "status": "False", "message": "denied"}]))
            ),
            Health::new(Degraded, "denied")
        );
        assert_eq!(
            judge(
                "s3.aws.upbound.io/v1beta1",
                "Bucket",
                json!({}),
                conds(json!([{"type": "Ready", "status": "True"}]))
            ),
            Health::new(Healthy, "Resource is up-to-date.")
        );
        assert_eq!(
            judge(
                "aws.upbound.io/v1beta1",
                "ProviderConfig",
                json!({}),
                json!({})
            ),
            Health::new(Healthy, "Resource is up-to-date.")
        );
        assert_eq!(
            judge(
                "pkg.crossplane.io/v1",
                "Provider",
                json!({}),
                conds(
                    json!([{"type": "Installed", "status": "True", "reason": "ActivePackageRevision"},
                               {"type": "Healthy", "status": "False", "reason": "UnhealthyPackageRevision"}])
                )
            ),
            Health::new(Degraded, "ActivePackageRevision UnhealthyPackageRevision")
        );
        assert_eq!(
            judge(
                "argoproj.io/v1alpha1",
                "Rollout",
                json!({}),
                json!({"observedGeneration": "1", "phase": "Paused", "message": "CanaryPauseStep"})
            ),
            Health::new(Suspended, "CanaryPauseStep")
        );
        assert_eq!(
            judge(
                "argoproj.io/v1alpha1",
                "Rollout",
                json!({}),
                json!({"observedGeneration": "0", "phase": "Healthy"})
            ),
            Health::new(
                Progressing,
                "Waiting for rollout spec update to be observed"
            )
        );
        assert_eq!(
            judge(
                "db.example.com/v1",
                "Database",
                json!({}),
                conds(json!([{"type": "Ready", "status": "False", "reason": "NoQuorum"}]))
            ),
            Health::new(Degraded, "NoQuorum")
        );
        let obj = json!({"apiVersion": "db.example.com/v1", "kind": "Database", "metadata": {"name": "x"}});
        assert_eq!(health("db.example.com", "Database", &obj), None);
        assert_eq!(health("storage.k8s.io", "StorageClass", &obj), None);
    }
}
