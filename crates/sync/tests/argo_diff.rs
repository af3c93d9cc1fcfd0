//! Argo CD's diff and sync customizations against a Kubernetes API server (the in-process local
//! one, or a real cluster named by `TRELLIS_REAL_KUBECONFIG`): `ignoreDifferences` with jq path
//! expressions and managed-fields managers, `compare-options: IgnoreExtraneous`, the server-side
//! diff hiding defaulted fields, `Prune=false` / `Delete=false`, and resource exclusions.

mod common;

use common::*;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use sync::diff::{IgnoreRule, SyncStatus};
use sync::engine::{ObjectDiff, Progress};
use sync::exclusions::{FilteredResource, ResourceFilter};
use sync::state::{OpPhase, ResultCode};

/// Server-side apply `body` as field manager `manager` (forcing), as another controller would.
async fn apply_as(client: &kube::Client, manager: &str, ns: &str, body: Value) {
    let api_version = body["apiVersion"].as_str().expect("apiVersion").to_string();
    let kind = body["kind"].as_str().expect("kind").to_string();
    let name = body["metadata"]["name"].as_str().expect("name").to_string();
    let (group, version) = api_version
        .rsplit_once('/')
        .unwrap_or(("", api_version.as_str()));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, &kind);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .expect("discovery");
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(client.clone(), ns, &ar);
    api.patch(
        &name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap_or_else(|e| panic!("apply as {manager}: {e}"));
}

/// Diff until `ok` holds (the cache follows the watch), at most ~5 s; the last diff.
async fn diff_until(
    engine: &sync::engine::Engine,
    a: &sync::engine::App,
    manifests: &[sync::object::Manifest],
    ok: impl Fn(&[ObjectDiff]) -> bool,
) -> Vec<ObjectDiff> {
    let mut last = Vec::new();
    for _ in 0..50 {
        last = engine.diff(a, manifests).await.expect("diff");
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last
}

fn status_of(diffs: &[ObjectDiff], name: &str) -> Option<SyncStatus> {
    diffs.iter().find(|d| d.key.name == name).map(|d| d.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jq_expressions_and_managed_fields_managers_ignore_other_writers() {
    let Some(tc) = cluster("jq_expressions_and_managed_fields_managers_ignore_other_writers").await
    else {
        return;
    };
    let ns = namespace("ignore");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let mut a = app("ignore", &ns);
    let manifests = vec![
        deployment("web", 2, json!({})),
        deployment("api", 2, json!({})),
    ];
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);

    // Someone scales web (a merge patch as another manager); an autoscaler applies api's
    // replicas server-side as "hpa-controller".
    apply_as(
        &client,
        "someone",
        &ns,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 4}}),
    )
    .await;
    apply_as(
        &client,
        "hpa-controller",
        &ns,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 7}}),
    )
    .await;
    // Without rules both are OutOfSync.
    let diffs = diff_until(&engine, &a, &manifests, |d| {
        status_of(d, "web") == Some(SyncStatus::OutOfSync)
            && status_of(d, "api") == Some(SyncStatus::OutOfSync)
    })
    .await;
    assert_eq!(
        status_of(&diffs, "api"),
        Some(SyncStatus::OutOfSync),
        "{diffs:?}"
    );
    assert_eq!(status_of(&diffs, "web"), Some(SyncStatus::OutOfSync));

    // With Argo CD's rules: web's replicas by jq expression, api's fields by their manager.
    a.ignore = vec![
        IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            name: Some("web".into()),
            jq_path_expressions: vec![".spec.replicas".into()],
            ..IgnoreRule::default()
        },
        IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            managed_fields_managers: vec!["hpa-controller".into()],
            ..IgnoreRule::default()
        },
    ];
    let diffs = engine.diff(&a, &manifests).await.expect("diff");
    assert!(
        diffs.iter().all(|d| d.status == SyncStatus::Synced),
        "{diffs:?}"
    );
    // A field outside the rules still shows: the image, changed by "someone".
    apply_as(
        &client,
        "someone",
        &ns,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
            "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}}}}),
    )
    .await;
    let diffs = diff_until(&engine, &a, &manifests, |d| {
        status_of(d, "api") == Some(SyncStatus::OutOfSync)
    })
    .await;
    let api = diffs
        .iter()
        .find(|d| d.key.name == "api")
        .expect("api diffed");
    assert_eq!(api.status, SyncStatus::OutOfSync, "{diffs:?}");
    assert!(
        api.diff.contains("busybox:1.37") && !api.diff.contains("replicas"),
        "{}",
        api.diff
    );
    // System-level rules (argocd-cm's `resource.customizations.ignoreDifferences.*`) add to the
    // application's own: ignoring the images makes api Synced again.
    engine.set_ignore_defaults(
        sync::diff::rules_from_configmap(
            &json!({"data": {"resource.customizations.ignoreDifferences.apps_Deployment":
                "jqPathExpressions: ['.spec.template.spec.containers[].image']"}}),
            "trellis-cm",
        )
        .expect("rules"),
    );
    let diffs = engine.diff(&a, &manifests).await.expect("diff");
    assert!(
        diffs.iter().all(|d| d.status == SyncStatus::Synced),
        "{diffs:?}"
    );
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_extraneous_server_side_diff_and_keep_options() {
    let Some(tc) = cluster("ignore_extraneous_server_side_diff_and_keep_options").await else {
        return;
    };
    let ns = namespace("argo-opts");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let mut a = app("opts", &ns);
    let all = vec![
        configmap("main", json!({"k": "v"}), json!({})),
        configmap(
            "generated",
            json!({"k": "1"}),
            json!({"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}),
        ),
        configmap(
            "keep",
            json!({"k": "1"}),
            json!({"argocd.argoproj.io/sync-options": "Prune=false"}),
        ),
        configmap(
            "stay",
            json!({"k": "1"}),
            json!({"argocd.argoproj.io/sync-options": "Delete=false"}),
        ),
        // No defaults written in the chart: the server fills them in.
        m(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc", "annotations": {"argocd.argoproj.io/compare-options": "ServerSideDiff=true"}},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})),
    ];
    let out = engine
        .sync(&a, &all, &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);

    // ServerSideDiff: the Service's defaulted fields (protocol, targetPort, type, clusterIP...)
    // do not show, even on the slow path (the applied digest no longer matches).
    let svc = get(&client, "v1", "Service", &ns, "svc")
        .await
        .expect("svc");
    assert!(svc["spec"]["ports"][0]["protocol"].is_string(), "{svc}");
    apply_as(
        &client,
        "someone",
        &ns,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc",
            "annotations": {"trellis.dev/applied-digest": "changed-by-someone"}}}),
    )
    .await;
    let diffs = diff_until(&engine, &a, &all, |d| {
        d.iter().all(|x| x.status == SyncStatus::Synced)
    })
    .await;
    assert!(
        diffs.iter().all(|d| d.status == SyncStatus::Synced),
        "{diffs:?}"
    );

    // "generated" and "keep" leave the chart: both are Extra, but only "keep" makes the
    // application OutOfSync ("generated" is IgnoreExtraneous).
    let fewer: Vec<_> = all
        .iter()
        .filter(|m| !matches!(m.key().name.as_str(), "generated" | "keep"))
        .cloned()
        .collect();
    let diffs = engine.diff(&a, &fewer).await.expect("diff");
    let gen_diff = diffs
        .iter()
        .find(|d| d.key.name == "generated")
        .expect("generated listed");
    assert_eq!(gen_diff.status, SyncStatus::Extra);
    assert!(!gen_diff.makes_app_out_of_sync());
    let keep = diffs
        .iter()
        .find(|d| d.key.name == "keep")
        .expect("keep listed");
    assert!(keep.status == SyncStatus::Extra && keep.makes_app_out_of_sync());

    // Prune=false: a pruning sync leaves it, saying why.
    a.options.prune = true;
    let out = engine
        .sync(&a, &fewer, &Progress::default())
        .await
        .expect("prune sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    let keep_result = out
        .results
        .iter()
        .find(|r| r.key.name == "keep")
        .expect("keep result");
    assert_eq!(keep_result.result, ResultCode::PruneSkipped);
    assert!(keep_result.message.contains("Prune=false"));
    assert!(get(&client, "v1", "ConfigMap", &ns, "keep").await.is_some());
    assert!(gone(&client, "v1", "ConfigMap", &ns, "generated").await);

    // Delete=false: deleting the application leaves "stay".
    engine
        .delete_app(&a, &fewer, &Progress::default())
        .await
        .expect("delete app");
    assert!(get(&client, "v1", "ConfigMap", &ns, "stay").await.is_some());
    assert!(gone(&client, "v1", "ConfigMap", &ns, "main").await);
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_kinds_are_left_alone() {
    let Some(tc) = cluster("excluded_kinds_are_left_alone").await else {
        return;
    };
    let ns = namespace("excl");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    engine.set_resource_filter(ResourceFilter {
        exclusions: vec![FilteredResource {
            api_groups: vec!["".into()],
            kinds: vec!["Secr*".into()],
            clusters: vec![],
        }],
        inclusions: vec![],
    });
    let a = app("excl", &ns);
    let manifests = vec![
        configmap("cfg", json!({"k": "v"}), json!({})),
        m(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}}),
        ),
    ];
    let excluded = engine.excluded(&manifests);
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0].kind, "Secret");
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(get(&client, "v1", "ConfigMap", &ns, "cfg").await.is_some());
    assert!(
        get(&client, "v1", "Secret", &ns, "s").await.is_none(),
        "an excluded kind is never applied"
    );
    let diffs = engine.diff(&a, &manifests).await.expect("diff");
    assert!(
        diffs.iter().all(|d| d.key.kind != "Secret"),
        "nor diffed: {diffs:?}"
    );
    cleanup(&client, &ns).await;
}
