//! Sync order: phase → wave → kind → name, and the plan of steps (one per phase and wave) that the
//! engine executes. Pruning walks the same order backwards.

use std::collections::BTreeMap;

use crate::object::{Hook, HookRole, Manifest, ObjKey, Phase, hook_role, sync_wave};

/// Kinds in the order they are applied within a wave. Kinds not listed (custom resources, webhooks
/// configurations that must not block earlier objects) come after, alphabetically.
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "CustomResourceDefinition",
    "PriorityClass",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "PodDisruptionBudget",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Rank of a kind in [`KIND_ORDER`]; unknown kinds share the last rank.
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// The key that orders objects within a phase: wave, kind rank, kind, namespace, name.
pub fn order_key(wave: i64, key: &ObjKey) -> (i64, usize, String, String, String) {
    (
        wave,
        kind_rank(&key.kind),
        key.kind.clone(),
        key.namespace.clone(),
        key.name.clone(),
    )
}

/// Whether an object is an ordinary resource or a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    /// An application resource.
    Resource,
    /// A hook.
    Hook(Hook),
}

/// One object to apply at a step.
#[derive(Debug, Clone)]
pub struct Task {
    /// Its identity (namespace filled in).
    pub key: ObjKey,
    /// Its wave.
    pub wave: i64,
    /// The manifest.
    pub manifest: Manifest,
    /// Resource or hook.
    pub kind: TaskKind,
}

/// One step of a sync: the tasks of one phase and wave, in apply order.
#[derive(Debug, Clone)]
pub struct Step {
    /// Phase.
    pub phase: Phase,
    /// Wave.
    pub wave: i64,
    /// Tasks in kind → name order.
    pub tasks: Vec<Task>,
}

/// The whole ordered plan of a sync.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// PreSync, Sync, PostSync steps in order.
    pub steps: Vec<Step>,
    /// SyncFail steps, run only when the sync fails.
    pub fail_steps: Vec<Step>,
    /// PreDelete/PostDelete hooks (run only when the application is deleted).
    pub delete_steps: Vec<Step>,
    /// Objects not applied in this operation (Skip, Helm tests, install hooks on an upgrade...).
    pub skipped: Vec<ObjKey>,
}

impl Plan {
    /// Build the plan. `manifests` must already have their namespaces filled in; `first_sync` chooses
    /// Helm's install or upgrade hooks.
    pub fn build(manifests: &[Manifest], first_sync: bool) -> Plan {
        let mut by_step: BTreeMap<(Phase, i64), Vec<Task>> = BTreeMap::new();
        let mut plan = Plan::default();
        for m in manifests {
            let key = m.key();
            let wave = sync_wave(&m.obj);
            match hook_role(&m.obj, first_sync) {
                HookRole::Resource => by_step.entry((Phase::Sync, wave)).or_default().push(Task {
                    key,
                    wave,
                    manifest: m.clone(),
                    kind: TaskKind::Resource,
                }),
                HookRole::Skipped => plan.skipped.push(key),
                HookRole::Hook(h) => {
                    for phase in &h.phases {
                        by_step.entry((*phase, wave)).or_default().push(Task {
                            key: key.clone(),
                            wave,
                            manifest: m.clone(),
                            kind: TaskKind::Hook(h.clone()),
                        });
                    }
                }
            }
        }
        for ((phase, wave), mut tasks) in by_step {
            tasks.sort_by_key(|t| order_key(t.wave, &t.key));
            let step = Step { phase, wave, tasks };
            match phase {
                Phase::PreSync | Phase::Sync | Phase::PostSync => plan.steps.push(step),
                Phase::SyncFail => plan.fail_steps.push(step),
                Phase::PreDelete | Phase::PostDelete => plan.delete_steps.push(step),
            }
        }
        plan.skipped.sort();
        plan
    }

    /// All resource (non-hook) tasks.
    pub fn resources(&self) -> impl Iterator<Item = &Task> {
        self.steps
            .iter()
            .flat_map(|s| s.tasks.iter())
            .filter(|t| t.kind == TaskKind::Resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn m(kind: &str, name: &str, ann: Value) -> Manifest {
        let api = match kind {
            "Deployment" => "apps/v1",
            "Job" => "batch/v1",
            "CustomResourceDefinition" => "apiextensions.k8s.io/v1",
            "Widget" => "example.com/v1",
            _ => "v1",
        };
        Manifest::new(
            json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "ns", "annotations": ann}}),
            "t.yaml",
        )
        .expect("valid")
    }

    fn names(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .flat_map(|s| {
                s.tasks
                    .iter()
                    .map(move |t| format!("{}:{}:{}/{}", s.phase, s.wave, t.key.kind, t.key.name))
            })
            .collect()
    }

    #[test]
    fn orders_phase_then_wave_then_kind_then_name() {
        let ms = vec![
            m("Deployment", "web", json!({})),
            m("Widget", "w", json!({})),
            m("ConfigMap", "b", json!({})),
            m("ConfigMap", "a", json!({})),
            m("Service", "web", json!({})),
            m("Namespace", "ns", json!({})),
            m("CustomResourceDefinition", "widgets.example.com", json!({})),
            m("ServiceAccount", "sa", json!({})),
            m("Secret", "s", json!({})),
            m("ConfigMap", "late", json!({"trellis.dev/sync-wave": "2"})),
            m(
                "ConfigMap",
                "early",
                json!({"argocd.argoproj.io/sync-wave": "-1"}),
            ),
            m(
                "Job",
                "migrate",
                json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "5"}),
            ),
            m(
                "Job",
                "seed",
                json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-5"}),
            ),
            m(
                "Job",
                "smoke",
                json!({"argocd.argoproj.io/hook": "PostSync"}),
            ),
            m(
                "Job",
                "cleanup",
                json!({"argocd.argoproj.io/hook": "SyncFail"}),
            ),
            m("Pod", "test", json!({"helm.sh/hook": "test"})),
        ];
        let plan = Plan::build(&ms, true);
        assert_eq!(
            names(&plan),
            vec![
                "PreSync:-5:Job/seed",
                "PreSync:5:Job/migrate",
                "Sync:-1:ConfigMap/early",
                "Sync:0:Namespace/ns",
                "Sync:0:CustomResourceDefinition/widgets.example.com",
                "Sync:0:ServiceAccount/sa",
                "Sync:0:Secret/s",
                "Sync:0:ConfigMap/a",
                "Sync:0:ConfigMap/b",
                "Sync:0:Service/web",
                "Sync:0:Deployment/web",
                "Sync:0:Widget/w",
                "Sync:2:ConfigMap/late",
                "PostSync:0:Job/smoke",
            ]
        );
        assert_eq!(plan.fail_steps.len(), 1);
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.resources().count(), 11);
        // On an upgrade the install hooks are skipped.
        let upgrade = Plan::build(&ms, false);
        assert!(
            !names(&upgrade)
                .iter()
                .any(|n| n.contains("seed") || n.contains("migrate"))
        );
        assert_eq!(upgrade.skipped.len(), 3);
    }
}
