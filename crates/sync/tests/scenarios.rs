//! Sync scenarios against a Kubernetes API server: ordering by observed writes, hook semantics,
//! prune safety, self-heal, drift, CRDs, resume after interruption and bad input.

mod common;

use std::time::Duration;

use common::*;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use sync::diff::SyncStatus;
use sync::engine::{Event, Progress};
use sync::health::HealthStatus;
use sync::state::{OpPhase, ResultCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_in_phase_wave_kind_order() {
    let Some(tc) = cluster("applies_in_phase_wave_kind_order").await else {
        return;
    };
    let ns = namespace("order");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let manifests = vec![
        configmap(
            "late",
            json!({"a": "1"}),
            json!({"trellis.dev/sync-wave": "1"}),
        ),
        deployment("web", 1, json!({})),
        configmap("cfg", json!({"a": "1"}), json!({})),
        m(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        ),
        m(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}})),
        m(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"k": "v"}}),
        ),
        job("pre", json!({"argocd.argoproj.io/hook": "PreSync"}), false),
        job(
            "post",
            json!({"argocd.argoproj.io/hook": "PostSync"}),
            false,
        ),
        configmap(
            "early",
            json!({"a": "1"}),
            json!({"argocd.argoproj.io/sync-wave": "-1"}),
        ),
    ];
    let out = engine
        .sync(&app("order", &ns), &manifests, &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert_eq!(
        out.health.status,
        HealthStatus::Healthy,
        "{}",
        out.health.message
    );
    let order: Vec<usize> = [
        "jobs/pre",
        "configmaps/early",
        "serviceaccounts/sa",
        "secrets/sec",
        "configmaps/cfg",
        "services/web",
        "deployments/web",
        "configmaps/late",
        "jobs/post",
    ]
    .iter()
    .map(|s| {
        writes
            .position(s)
            .unwrap_or_else(|| panic!("no write of {s}: {:?}", writes.list()))
    })
    .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "writes out of order: {:?}", writes.list());
    cleanup(&tc.client().await, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_hooks_run_once_and_upgrade_hooks_later() {
    let Some(tc) = cluster("helm_install_hooks_run_once_and_upgrade_hooks_later").await else {
        return;
    };
    let ns = namespace("hooks");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let hooks = |v: &str| {
        vec![
            configmap("cfg", json!({"v": v}), json!({})),
            job("pre-install", json!({"helm.sh/hook": "pre-install"}), false),
            job(
                "post-install",
                json!({"helm.sh/hook": "post-install"}),
                false,
            ),
            job("pre-upgrade", json!({"helm.sh/hook": "pre-upgrade"}), false),
            job(
                "post-upgrade",
                json!({"helm.sh/hook": "post-upgrade"}),
                false,
            ),
        ]
    };
    let mut a = app("hooks", &ns);
    let out = engine
        .sync(&a, &hooks("1"), &Progress::default())
        .await
        .expect("first sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(out.first_sync);
    let uid = |v: Option<serde_json::Value>| {
        v.and_then(|o| o["metadata"]["uid"].as_str().map(str::to_string))
    };
    let pre_install =
        uid(get(&client, "batch/v1", "Job", &ns, "pre-install").await).expect("pre-install ran");
    assert!(
        get(&client, "batch/v1", "Job", &ns, "post-install")
            .await
            .is_some()
    );
    assert!(
        get(&client, "batch/v1", "Job", &ns, "pre-upgrade")
            .await
            .is_none()
    );

    a.revision = "r2".into();
    let engine2 = tc.engine(&writes).await;
    let out = engine2
        .sync(&a, &hooks("2"), &Progress::default())
        .await
        .expect("upgrade");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(!out.first_sync);
    assert_eq!(
        uid(get(&client, "batch/v1", "Job", &ns, "pre-install").await).as_deref(),
        Some(pre_install.as_str()),
        "pre-install re-ran"
    );
    assert!(
        get(&client, "batch/v1", "Job", &ns, "pre-upgrade")
            .await
            .is_some()
    );
    assert!(
        get(&client, "batch/v1", "Job", &ns, "post-upgrade")
            .await
            .is_some()
    );
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_hook_fails_sync_and_runs_syncfail() {
    let Some(tc) = cluster("failed_hook_fails_sync_and_runs_syncfail").await else {
        return;
    };
    let ns = namespace("hookfail");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let manifests = vec![
        job(
            "migrate",
            json!({"argocd.argoproj.io/hook": "PreSync"}),
            true,
        ),
        configmap("after", json!({}), json!({})),
        configmap(
            "on-fail",
            json!({}),
            json!({"argocd.argoproj.io/hook": "SyncFail"}),
        ),
    ];
    let out = engine
        .sync(&app("hookfail", &ns), &manifests, &Progress::default())
        .await
        .expect("sync runs");
    assert_eq!(out.phase, OpPhase::Failed);
    assert!(out.message.contains("migrate"), "{}", out.message);
    let hook = out
        .results
        .iter()
        .find(|r| r.key.name == "migrate")
        .expect("hook result");
    assert_eq!(hook.result, ResultCode::HookFailed);
    assert!(
        !hook.message.is_empty(),
        "the Job's failure reason is reported"
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "after")
            .await
            .is_none(),
        "resources after a failed PreSync hook are not applied"
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "on-fail")
            .await
            .is_some(),
        "SyncFail hook ran"
    );
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_timeout_fails_sync() {
    let Some(tc) = cluster("hook_timeout_fails_sync").await else {
        return;
    };
    let ns = namespace("hooktimeout");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    // A suspended Job never finishes.
    let mut j = job(
        "stuck",
        json!({"argocd.argoproj.io/hook": "PreSync", "trellis.dev/hook-timeout": "2s"}),
        false,
    );
    j.obj["spec"]["suspend"] = json!(true);
    let started = std::time::Instant::now();
    let out = engine
        .sync(&app("hooktimeout", &ns), &[j], &Progress::default())
        .await
        .expect("sync runs");
    assert_eq!(out.phase, OpPhase::Failed);
    assert!(out.message.contains("timed out"), "{}", out.message);
    assert!(started.elapsed() < Duration::from_secs(30));
    cleanup(&tc.client().await, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_only_own_objects() {
    let Some(tc) = cluster("prune_removes_only_own_objects").await else {
        return;
    };
    let ns = namespace("prune");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let mut a = app("a", &ns);
    let b = app("b", &ns);
    let out = engine
        .sync(
            &a,
            &[
                configmap("a1", json!({}), json!({})),
                configmap("a2", json!({}), json!({})),
                configmap(
                    "keep",
                    json!({}),
                    json!({"trellis.dev/sync-options": "Prune=false"}),
                ),
            ],
            &Progress::default(),
        )
        .await
        .expect("sync a");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    let out = engine
        .sync(
            &b,
            &[configmap("b1", json!({}), json!({}))],
            &Progress::default(),
        )
        .await
        .expect("sync b");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    // Without --prune nothing is deleted; the extra object is reported.
    let diffs = engine
        .diff(&a, &[configmap("a1", json!({}), json!({}))])
        .await
        .expect("diff");
    assert!(
        diffs
            .iter()
            .any(|d| d.key.name == "a2" && d.status == SyncStatus::Extra)
    );
    assert!(
        !diffs.iter().any(|d| d.key.name == "b1"),
        "another application's object is not ours to report"
    );
    a.options.prune = true;
    let out = engine
        .sync(
            &a,
            &[configmap("a1", json!({}), json!({}))],
            &Progress::default(),
        )
        .await
        .expect("sync a again");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(
        gone(&client, "v1", "ConfigMap", &ns, "a2").await,
        "a2 pruned"
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "keep").await.is_some(),
        "Prune=false kept"
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "b1").await.is_some(),
        "b's object untouched"
    );
    assert!(
        out.results
            .iter()
            .any(|r| r.key.name == "keep" && r.result == ResultCode::PruneSkipped)
    );
    cleanup(&client, &ns).await;
}

/// Run kubectl against the test cluster (kubectl is a test prerequisite, as for devcluster's
/// conformance tests).
fn kubectl(tc: &TestCluster, args: &[&str]) {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&tc.kubeconfig)
        .args(args)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_heal_and_drift_on_unset_fields() {
    let Some(tc) = cluster("self_heal_and_drift_on_unset_fields").await else {
        return;
    };
    let ns = namespace("heal");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let a = app("heal", &ns);
    let manifests = vec![
        deployment("web", 2, json!({})),
        configmap("cfg", json!({"k": "v"}), json!({})),
    ];
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);

    // Someone edits, with kubectl, fields the chart does not set: not reported, no writes on
    // re-sync.
    kubectl(&tc, &["label", "deployment", "web", "team=x", "-n", &ns]);
    kubectl(
        &tc,
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            &ns,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"revisionHistoryLimit":3}}"#,
        ],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let diffs = engine.diff(&a, &manifests).await.expect("diff");
    assert!(
        diffs.iter().all(|d| d.status == SyncStatus::Synced),
        "{diffs:?}"
    );
    writes.clear();
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("re-sync");
    assert_eq!(out.phase, OpPhase::Succeeded);
    assert_eq!(
        writes.object_writes(),
        Vec::<String>::new(),
        "no writes when nothing the chart sets changed"
    );

    // Now a field the chart sets: reported, and the next sync puts it back.
    kubectl(
        &tc,
        &["scale", "deployment", "web", "--replicas=5", "-n", &ns],
    );
    let mut rx_ok = false;
    for _ in 0..50 {
        let diffs = engine.diff(&a, &manifests).await.expect("diff");
        if let Some(d) = diffs
            .iter()
            .find(|d| d.key.name == "web" && d.status == SyncStatus::OutOfSync)
        {
            assert!(
                d.diff.contains("replicas: 5") && d.diff.contains("replicas: 2"),
                "{}",
                d.diff
            );
            rx_ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rx_ok, "drift on replicas reported");
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("heal");
    assert_eq!(out.phase, OpPhase::Succeeded);
    let live = get(&client, "apps/v1", "Deployment", &ns, "web")
        .await
        .expect("exists");
    assert_eq!(live["spec"]["replicas"], json!(2));
    assert_eq!(
        live["metadata"]["labels"]["team"],
        json!("x"),
        "other managers' fields are kept"
    );
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_sync_sync_applies_everything_unless_apply_out_of_sync_only() {
    let Some(tc) =
        cluster("out_of_sync_sync_applies_everything_unless_apply_out_of_sync_only").await
    else {
        return;
    };
    let ns = namespace("oos");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let mut a = app("oos", &ns);
    let manifests = |v: &str| {
        vec![
            configmap("a", json!({"k": v}), json!({})),
            configmap("b", json!({"k": "fixed"}), json!({})),
            configmap("c", json!({"k": "fixed"}), json!({})),
        ]
    };
    let synced = |out: &sync::engine::SyncOutcome| {
        assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    };
    synced(
        &engine
            .sync(&a, &manifests("1"), &Progress::default())
            .await
            .expect("first"),
    );
    let written = |w: &Writes| {
        let mut v: Vec<String> = w
            .object_writes()
            .iter()
            .filter_map(|p| p.rsplit('/').next().map(str::to_string))
            .collect();
        v.sort();
        v
    };

    // Nothing out of sync: nothing written, whatever the option says.
    writes.clear();
    synced(
        &engine
            .sync(&a, &manifests("1"), &Progress::default())
            .await
            .expect("no-op"),
    );
    assert_eq!(written(&writes), Vec::<String>::new());

    // One object changed: by default (as in Argo CD) the sync applies every resource.
    assert!(!a.options.apply_out_of_sync_only);
    writes.clear();
    let out = engine
        .sync(&a, &manifests("2"), &Progress::default())
        .await
        .expect("change");
    synced(&out);
    assert_eq!(written(&writes), ["a", "b", "c"]);
    assert!(
        out.results.iter().all(|r| r.result == ResultCode::Synced),
        "{:?}",
        out.results
    );

    // With ApplyOutOfSyncOnly=true only the changed one is written.
    a.options.apply_strings(["ApplyOutOfSyncOnly=true"]);
    writes.clear();
    let out = engine
        .sync(&a, &manifests("3"), &Progress::default())
        .await
        .expect("change");
    synced(&out);
    assert_eq!(written(&writes), ["a"]);
    assert_eq!(
        out.results
            .iter()
            .filter(|r| r.result == ResultCode::Unchanged)
            .count(),
        2
    );
    cleanup(&tc.client().await, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_health_follows_its_last_scheduled_job() {
    let Some(tc) = cluster("cronjob_health_follows_its_last_scheduled_job").await else {
        return;
    };
    let ns = namespace("cron");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let a = app("cron", &ns);
    // A schedule that does not fire during the test; its Jobs are created below as the CronJob
    // controller would (the local API server does not schedule CronJobs).
    let manifests = vec![m(json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 31 2 *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}]}}}}}
    }))];
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert_eq!(
        out.health.status,
        HealthStatus::Healthy,
        "{}",
        out.health.message
    );
    let cj = get(&client, "batch/v1", "CronJob", &ns, "nightly")
        .await
        .expect("CronJob exists");
    let jobs: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        &ns,
        &kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "batch", "v1", "Job",
        )),
    );
    let scheduled = |name: &str, at: &str, fail: bool| {
        let mut j = job(
            name,
            json!({"batch.kubernetes.io/cronjob-scheduled-timestamp": at}),
            fail,
        )
        .obj;
        j["metadata"]["namespace"] = json!(ns);
        j["metadata"]["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "CronJob",
            "name": "nightly", "uid": cj["metadata"]["uid"], "controller": true}]);
        serde_json::from_value::<kube::api::DynamicObject>(j).expect("job")
    };
    let pp = kube::api::PostParams::default();
    jobs.create(&pp, &scheduled("nightly-1", "2026-11-26T03:00:00Z", false))
        .await
        .expect("create job");
    jobs.create(&pp, &scheduled("nightly-2", "2026-11-27T03:00:00Z", true))
        .await
        .expect("create job");
    // Once the last scheduled Job has failed, the application is Degraded with its reason.
    let mut degraded = None;
    for _ in 0..100 {
        let out = engine
            .sync(&a, &manifests, &Progress::default())
            .await
            .expect("re-sync");
        if out.health.status == HealthStatus::Degraded {
            degraded = Some(out.health.message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let msg = degraded.expect("the failed last Job makes the CronJob Degraded");
    assert!(msg.contains("nightly-2"), "{msg}");
    // A later successful run makes it Healthy again.
    jobs.create(&pp, &scheduled("nightly-3", "2026-11-28T03:00:00Z", false))
        .await
        .expect("create job");
    let mut healthy = false;
    for _ in 0..100 {
        let out = engine
            .sync(&a, &manifests, &Progress::default())
            .await
            .expect("re-sync");
        if out.health.status == HealthStatus::Healthy && out.health.message.is_empty() {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "a later successful Job clears the failure");
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_and_custom_resource_in_one_sync() {
    let Some(tc) = cluster("crd_and_custom_resource_in_one_sync").await else {
        return;
    };
    let ns = namespace("crd");
    let suffix = ns.replace('-', "");
    let group = format!("{suffix}.example.com");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let crd = m(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    }));
    let cr = m(
        json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}),
    );
    let out = engine
        .sync(&app("crd", &ns), &[cr, crd], &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    let w = get(&client, &format!("{group}/v1"), "Widget", &ns, "w1")
        .await
        .expect("custom resource created");
    assert_eq!(w["spec"]["size"], json!(3));
    assert!(
        writes.position(&format!("customresourcedefinitions/widgets.{group}"))
            < writes.position("widgets/w1")
    );
    cleanup(&client, &ns).await;
    let crds: kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = kube::Api::all(client);
    let _ = crds
        .delete(&format!("widgets.{group}"), &Default::default())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_sync_resumes_without_rerunning_hooks() {
    let Some(tc) = cluster("interrupted_sync_resumes_without_rerunning_hooks").await else {
        return;
    };
    let ns = namespace("resume");
    let writes = Writes::default();
    let client = tc.client().await;
    let a = app("resume", &ns);
    let manifests = vec![
        job("seed", json!({"helm.sh/hook": "pre-install"}), false),
        configmap("cfg", json!({"k": "v"}), json!({})),
        // A suspended PostSync hook keeps the first attempt busy until it is killed.
        {
            let mut j = job(
                "smoke",
                json!({"helm.sh/hook": "post-install", "trellis.dev/hook-timeout": "20s"}),
                false,
            );
            j.obj["spec"]["suspend"] = json!(true);
            j
        },
    ];
    let engine = tc.engine(&writes).await;
    let (progress, mut rx) = Progress::channel();
    let task = {
        let manifests = manifests.clone();
        let a = a.clone();
        tokio::spawn(async move { engine.sync(&a, &manifests, &progress).await })
    };
    // Kill the "process" once the PreSync hook has completed.
    while let Some(ev) = rx.recv().await {
        if let Event::Object {
            key,
            result: ResultCode::HookSucceeded,
            ..
        } = &ev
            && key.name == "seed"
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    task.abort();
    let _ = task.await;
    let seed_uid = get(&client, "batch/v1", "Job", &ns, "seed")
        .await
        .expect("seed ran")["metadata"]["uid"]
        .clone();

    // A new process with the same desired state; the stuck hook is let go once recreated.
    let engine = tc.engine(&writes).await;
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(client.clone(), &ns);
    let unsuspend = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = jobs
            .patch(
                "smoke",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspend": false}})),
            )
            .await;
    });
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("resume");
    let _ = unsuspend.await;
    assert!(out.resumed, "the interrupted operation is resumed");
    assert!(
        out.first_sync,
        "still the first sync: install hooks keep running"
    );
    assert_eq!(
        get(&client, "batch/v1", "Job", &ns, "seed")
            .await
            .expect("seed")["metadata"]["uid"],
        seed_uid,
        "seed hook not re-run"
    );
    assert!(
        out.results
            .iter()
            .any(|r| r.key.name == "seed" && r.message == "already completed")
    );
    cleanup(&client, &ns).await;
}

/// Environment of the child process of `killed_process_sync_resumes_without_rerunning_hooks`.
const CHILD_KUBECONFIG: &str = "TRELLIS_TEST_CHILD_KUBECONFIG";
const CHILD_NAMESPACE: &str = "TRELLIS_TEST_CHILD_NAMESPACE";

/// A pre-install seed hook, a resource, and a PostSync hook that stays suspended (running) until
/// someone lets it go.
fn resumable_manifests() -> Vec<sync::object::Manifest> {
    vec![
        job("seed", json!({"helm.sh/hook": "pre-install"}), false),
        configmap("cfg", json!({"k": "v"}), json!({})),
        {
            let mut j = job(
                "smoke",
                json!({"helm.sh/hook": "post-install", "trellis.dev/hook-timeout": "60s"}),
                false,
            );
            j.obj["spec"]["suspend"] = json!(true);
            j
        },
    ]
}

/// Not a scenario by itself: the process that `killed_process_sync_resumes_without_rerunning_hooks`
/// starts (this test binary, running only this test) and kills with SIGKILL mid-sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by killed_process_sync_resumes_without_rerunning_hooks"]
async fn child_process_syncs_until_killed() {
    let (Ok(kc), Ok(ns)) = (
        std::env::var(CHILD_KUBECONFIG),
        std::env::var(CHILD_NAMESPACE),
    ) else {
        return;
    };
    let tc = TestCluster::external(kc.into());
    let engine = tc.engine(&Writes::default()).await;
    let _ = engine
        .sync(
            &app("killed", &ns),
            &resumable_manifests(),
            &Progress::default(),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_sync_resumes_without_rerunning_hooks() {
    let Some(tc) = cluster("killed_process_sync_resumes_without_rerunning_hooks").await else {
        return;
    };
    let ns = namespace("killed");
    let client = tc.client().await;
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_process_syncs_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_KUBECONFIG, &tc.kubeconfig)
        .env(CHILD_NAMESPACE, &ns)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the child process");
    // Kill it once the seed hook is recorded as completed and the stuck hook is running.
    let store = sync::state::StateStore::ConfigMap(tc.connect(&Writes::default()).await);
    let mut ready = false;
    for _ in 0..300 {
        let st = store
            .load(&sync::object::AppId::new(&ns, "killed"))
            .await
            .expect("state");
        let seeded = st
            .operation
            .as_ref()
            .is_some_and(|op| op.completed_hooks.iter().any(|h| h.ends_with("/seed")));
        if seeded
            && get(&client, "batch/v1", "Job", &ns, "smoke")
                .await
                .is_some()
        {
            ready = true;
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the child process ended early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().expect("SIGKILL the child");
    let _ = child.wait();
    assert!(ready, "the child process got to the stuck hook");
    let seed_uid = get(&client, "batch/v1", "Job", &ns, "seed")
        .await
        .expect("seed ran")["metadata"]["uid"]
        .clone();

    // This process takes over with the same desired state; the stuck hook is let go.
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(client.clone(), &ns);
    let unsuspend = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = jobs
            .patch(
                "smoke",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspend": false}})),
            )
            .await;
    });
    let engine = tc.engine(&Writes::default()).await;
    let out = engine
        .sync(
            &app("killed", &ns),
            &resumable_manifests(),
            &Progress::default(),
        )
        .await
        .expect("resume");
    let _ = unsuspend.await;
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(out.resumed, "the killed process's operation is resumed");
    assert!(out.first_sync, "still the first sync");
    assert_eq!(
        get(&client, "batch/v1", "Job", &ns, "seed")
            .await
            .expect("seed")["metadata"]["uid"],
        seed_uid,
        "seed hook not re-run"
    );
    assert!(
        out.results
            .iter()
            .any(|r| r.key.name == "seed" && r.message == "already completed")
    );
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_objects_fail_with_server_message() {
    let Some(tc) = cluster("rejected_objects_fail_with_server_message").await else {
        return;
    };
    let ns = namespace("bad");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let manifests = vec![
        configmap("good", json!({}), json!({})),
        m(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"k": "v"}, "bogusField": 1}),
        ),
        m(json!({"apiVersion": "nope.example.com/v1", "kind": "Nope", "metadata": {"name": "x"}})),
    ];
    let out = engine
        .sync(&app("bad", &ns), &manifests, &Progress::default())
        .await
        .expect("sync runs");
    assert_eq!(out.phase, OpPhase::Failed);
    let bad = out
        .results
        .iter()
        .find(|r| r.key.name == "bad")
        .expect("bad result");
    assert_eq!(bad.result, ResultCode::SyncFailed);
    assert!(bad.message.contains("bogusField"), "{}", bad.message);
    let nope = out
        .results
        .iter()
        .find(|r| r.key.name == "x")
        .expect("unknown kind result");
    assert_eq!(nope.result, ResultCode::SyncFailed);
    assert!(nope.message.contains("Nope"), "{}", nope.message);
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "good").await.is_some(),
        "the valid object is applied and kept"
    );
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_object_fails_with_server_message() {
    let Some(tc) = cluster("forbidden_object_fails_with_server_message").await else {
        return;
    };
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    let ns = namespace("forbid");
    let held = namespace("held");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    // A namespace kept Terminating by a finalizer on its content: Kubernetes answers any create
    // in it with 403 Forbidden.
    let nss: kube::Api<Namespace> = kube::Api::all(client.clone());
    nss.create(
        &Default::default(),
        &serde_json::from_value(json!({"metadata": {"name": held}})).expect("ns"),
    )
    .await
    .expect("create namespace");
    let cms: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), &held);
    cms.create(
        &Default::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "hold", "finalizers": ["example.com/hold"]}}),
        )
        .expect("cm"),
    )
    .await
    .expect("create held configmap");
    nss.delete(&held, &Default::default())
        .await
        .expect("delete namespace");
    let manifests = vec![
        configmap("fine", json!({}), json!({})),
        m(json!({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "late", "namespace": held}, "data": {"k": "v"}})),
    ];
    let out = engine
        .sync(&app("forbid", &ns), &manifests, &Progress::default())
        .await
        .expect("sync runs");
    assert_eq!(out.phase, OpPhase::Failed);
    let late = out
        .results
        .iter()
        .find(|r| r.key.name == "late")
        .expect("forbidden result");
    assert_eq!(late.result, ResultCode::SyncFailed);
    assert!(
        late.message.contains("forbidden") && late.message.contains("being terminated"),
        "{}",
        late.message
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "fine").await.is_some(),
        "the other object is applied and kept"
    );
    let _ = cms
        .patch(
            "hold",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    cleanup(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_masks_secret_values() {
    let Some(tc) = cluster("diff_masks_secret_values").await else {
        return;
    };
    let ns = namespace("secret");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let a = app("secret", &ns);
    let secret = |v: &str| {
        m(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": v}}),
        )
    };
    let out = engine
        .sync(&a, &[secret("aHVudGVyMg==")], &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    let diffs = engine
        .diff(&a, &[secret("c3dvcmRmaXNo")])
        .await
        .expect("diff");
    let d = diffs
        .iter()
        .find(|d| d.key.name == "s")
        .expect("secret diff");
    assert_eq!(d.status, SyncStatus::OutOfSync);
    assert!(
        !d.diff.contains("aHVudGVyMg==") && !d.diff.contains("c3dvcmRmaXNo"),
        "{}",
        d.diff
    );
    assert!(d.diff.contains("(changed)"), "{}", d.diff);
    cleanup(&tc.client().await, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_runs_delete_hooks_and_keeps_delete_false() {
    let Some(tc) = cluster("delete_runs_delete_hooks_and_keeps_delete_false").await else {
        return;
    };
    let ns = namespace("delete");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let a = app("del", &ns);
    let manifests = vec![
        configmap("a", json!({}), json!({})),
        configmap(
            "keep",
            json!({}),
            json!({"trellis.dev/sync-options": "Delete=false"}),
        ),
        job("before", json!({"helm.sh/hook": "pre-delete"}), false),
        configmap(
            "after",
            json!({}),
            json!({"argocd.argoproj.io/hook": "PostDelete"}),
        ),
    ];
    let out = engine
        .sync(&a, &manifests, &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(
        get(&client, "batch/v1", "Job", &ns, "before")
            .await
            .is_none(),
        "delete hooks do not run on sync"
    );
    let results = engine
        .delete_app(&a, &manifests, &Progress::default())
        .await
        .expect("delete");
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "a").await.is_none(),
        "tracked object deleted"
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "keep").await.is_some(),
        "Delete=false kept"
    );
    assert!(
        get(&client, "batch/v1", "Job", &ns, "before")
            .await
            .is_some(),
        "pre-delete hook ran"
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "after")
            .await
            .is_some(),
        "post-delete hook ran"
    );
    let pos = |n: &str| {
        results
            .iter()
            .position(|r| r.key.name == n)
            .unwrap_or_else(|| panic!("no result for {n}"))
    };
    assert!(
        pos("before") < pos("a") && pos("a") < pos("after"),
        "{results:?}"
    );
    cleanup(&client, &ns).await;
}
