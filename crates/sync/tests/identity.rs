//! An application's identity is its namespace and name: two applications of the same name in two
//! namespaces never diff, prune, delete or hook each other's objects; objects tracked with the old
//! id form are adopted only by the application whose state lists them; another application's
//! object is refused unless a take-over is allowed; `hook-succeeded` hooks live until the end of
//! their phase; custom resources wait for discovery to serve their kind.
//!
//! Runs against the in-process local API server, or the real cluster named by
//! `TRELLIS_REAL_KUBECONFIG`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use common::*;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use sync::diff::SyncStatus;
use sync::engine::{App, Progress};
use sync::object::{AppId, Manifest, TRACKING_ID};
use sync::state::OpPhase;

/// The tracking annotation of a live ConfigMap.
async fn tracking(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    get(client, "v1", "ConfigMap", ns, name)
        .await
        .and_then(|o| {
            o["metadata"]["annotations"][TRACKING_ID]
                .as_str()
                .map(str::to_string)
        })
}

fn cm(name: &str) -> Manifest {
    configmap(name, json!({"k": name}), json!({}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_in_two_namespaces_never_touch_each_other() {
    let Some(tc) = cluster("same_name_in_two_namespaces_never_touch_each_other").await else {
        return;
    };
    let (ns_a, ns_b) = (namespace("same-a"), namespace("same-b"));
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let mut a = app("app", &ns_a);
    let mut b = app("app", &ns_b);
    a.options.prune = true;
    b.options.prune = true;
    let hook = || {
        job(
            "seed",
            json!({"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation"}),
            false,
        )
    };
    let out = engine
        .sync(
            &a,
            &[cm("shared-name"), cm("only-a"), hook()],
            &Progress::default(),
        )
        .await
        .expect("sync a");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    // Team B deploys an application of the same name with --prune: namespace A is untouched.
    let out = engine
        .sync(&b, &[cm("shared-name"), hook()], &Progress::default())
        .await
        .expect("sync b");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(
        !out.results.iter().any(|r| r.key.namespace == ns_a),
        "b's sync touched namespace a: {:?}",
        out.results
    );
    for n in ["shared-name", "only-a"] {
        assert_eq!(
            tracking(&client, &ns_a, n).await,
            Some(format!("{ns_a}_app:/ConfigMap:{ns_a}/{n}")),
            "{n} in namespace a"
        );
    }
    assert_eq!(
        tracking(&client, &ns_b, "shared-name").await,
        Some(format!("{ns_b}_app:/ConfigMap:{ns_b}/shared-name"))
    );
    // Both diffs are clean: nothing of the other namespace is missing or extra.
    for (app, ms) in [
        (&a, vec![cm("shared-name"), cm("only-a"), hook()]),
        (&b, vec![cm("shared-name"), hook()]),
    ] {
        let diffs = engine.diff(app, &ms).await.expect("diff");
        assert!(
            diffs.iter().all(|d| d.status == SyncStatus::Synced),
            "{}: {diffs:?}",
            app.namespace
        );
    }
    // A fresh engine (a new `trellis diff` process) agrees.
    let fresh = tc.engine(&Writes::default()).await;
    let diffs = fresh
        .diff(&b, &[cm("shared-name"), hook()])
        .await
        .expect("diff");
    assert!(
        diffs.iter().all(|d| d.status == SyncStatus::Synced),
        "{diffs:?}"
    );
    // Deleting B leaves A whole.
    engine
        .delete_app(&b, &[cm("shared-name")], &Progress::default())
        .await
        .expect("delete b");
    assert!(gone(&client, "v1", "ConfigMap", &ns_b, "shared-name").await);
    for n in ["shared-name", "only-a"] {
        assert!(
            get(&client, "v1", "ConfigMap", &ns_a, n).await.is_some(),
            "{n} kept"
        );
    }
    assert!(
        get(&client, "batch/v1", "Job", &ns_a, "seed")
            .await
            .is_some()
    );
    cleanup(&client, &ns_a).await;
    cleanup(&client, &ns_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_applications_object_is_refused_unless_taken_over() {
    let Some(tc) = cluster("another_applications_object_is_refused_unless_taken_over").await else {
        return;
    };
    let ns = namespace("takeover");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    let old = app("old-name", &ns);
    let out = engine
        .sync(&old, &[cm("config"), cm("other")], &Progress::default())
        .await
        .expect("sync old");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    // The application is renamed: the new one finds the object tracked by the old one.
    let mut new = app("new-name", &ns);
    new.options.retry.limit = 0;
    writes.clear();
    let out = engine
        .sync(&new, &[cm("config")], &Progress::default())
        .await
        .expect("sync new");
    assert_eq!(out.phase, OpPhase::Failed);
    let expect_old = format!("{ns}/old-name");
    let expect_new = format!("{ns}/new-name");
    assert!(
        out.message.contains(&expect_old) && out.message.contains(&expect_new),
        "the error names both applications: {}",
        out.message
    );
    assert!(
        out.message.contains("AllowTakeOver=true"),
        "{}",
        out.message
    );
    assert!(
        !writes
            .object_writes()
            .iter()
            .any(|w| w.ends_with("/configmaps/config")),
        "refused objects are not written: {:?}",
        writes.list()
    );
    assert_eq!(
        tracking(&client, &ns, "config").await,
        Some(format!("{ns}_old-name:/ConfigMap:{ns}/config"))
    );
    let diffs = engine.diff(&new, &[cm("config")]).await.expect("diff");
    assert!(
        diffs[0].status == SyncStatus::OutOfSync && diffs[0].message.contains(&expect_old),
        "{diffs:?}"
    );
    // Explicit take-over, per object.
    let taken = configmap(
        "config",
        json!({"k": "config"}),
        json!({"trellis.dev/sync-options": "AllowTakeOver=true"}),
    );
    let out = engine
        .sync(&new, std::slice::from_ref(&taken), &Progress::default())
        .await
        .expect("take over");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert_eq!(
        tracking(&client, &ns, "config").await,
        Some(format!("{ns}_new-name:/ConfigMap:{ns}/config"))
    );
    // The old application, synced with prune and nothing rendered, no longer owns it.
    let mut old_prune = old.clone();
    old_prune.options.prune = true;
    let out = engine
        .sync(&old_prune, &[], &Progress::default())
        .await
        .expect("sync old");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(
        get(&client, "v1", "ConfigMap", &ns, "config")
            .await
            .is_some()
    );
    assert!(
        gone(&client, "v1", "ConfigMap", &ns, "other").await,
        "its own object is pruned"
    );
    // The application-wide option works too.
    let mut third = app("third", &ns);
    third.options.apply_strings(["AllowTakeOver=true"]);
    let out = engine
        .sync(&third, &[cm("config")], &Progress::default())
        .await
        .expect("sync third");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    cleanup(&client, &ns).await;
}

/// Write an object carrying an old-form tracking id (`<name>:…`, as Trellis wrote before
/// applications had namespaces), as an earlier version would have left it.
async fn legacy_object(client: &kube::Client, ns: &str, app: &str, name: &str) {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns,
                     "annotations": {TRACKING_ID: format!("{app}:/ConfigMap:{ns}/{name}")}},
        "data": {"k": name}});
    cms.patch(
        name,
        &PatchParams::apply("trellis").force(),
        &Patch::Apply(body),
    )
    .await
    .expect("legacy object");
}

/// The operation state an earlier version kept for `app` in `ns`, listing `names`.
async fn legacy_state(client: &kube::Client, ns: &str, app: &str, names: &[&str]) {
    let results: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"key": {"group": "", "kind": "ConfigMap", "namespace": ns, "name": n},
                        "phase": "Sync", "wave": 0, "result": "Synced", "message": "created"})
        })
        .collect();
    let state = json!({"synced_once": true, "operation": {
        "revision": "old", "desired_digest": "d", "first_sync": true, "phase": "Succeeded",
        "message": "", "started_at": "2026-01-01T00:00:00Z", "finished_at": null,
        "completed_hooks": [], "results": results, "attempts": 1, "warnings": []},
        "history": []});
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("trellis-app-{app}"), "namespace": ns},
        "data": {"state": state.to_string()}});
    cms.patch(
        &format!("trellis-app-{app}"),
        &PatchParams::apply("trellis").force(),
        &Patch::Apply(body),
    )
    .await
    .expect("legacy state");
}

async fn ensure_ns(client: &kube::Client, ns: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    api.patch(ns, &PatchParams::apply("test").force(), &Patch::Apply(body))
        .await
        .expect("namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_tracking_ids_are_adopted_only_by_the_application_that_wrote_them() {
    let Some(tc) = cluster("old_tracking_ids_are_adopted_only_by_their_writer").await else {
        return;
    };
    let (ns_a, ns_b) = (namespace("legacy-a"), namespace("legacy-b"));
    let client = tc.client().await;
    for ns in [&ns_a, &ns_b] {
        ensure_ns(&client, ns).await;
    }
    // An earlier Trellis deployed `app` into a: x and y, recorded in a's state.
    legacy_object(&client, &ns_a, "app", "x").await;
    legacy_object(&client, &ns_a, "app", "y").await;
    legacy_state(&client, &ns_a, "app", &["x", "y"]).await;
    // And something carrying `app`'s old id that a's state does not list.
    legacy_object(&client, &ns_a, "app", "stray").await;
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    // Team B's same-named application, with prune, sees none of them.
    let mut b = app("app", &ns_b);
    b.options.prune = true;
    let diffs = engine.diff(&b, &[cm("z")]).await.expect("diff b");
    assert!(
        diffs.iter().all(|d| d.key.namespace == ns_b),
        "b reports a's objects: {diffs:?}"
    );
    let out = engine
        .sync(&b, &[cm("z")], &Progress::default())
        .await
        .expect("sync b");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    for n in ["x", "y", "stray"] {
        assert!(
            get(&client, "v1", "ConfigMap", &ns_a, n).await.is_some(),
            "{n} kept"
        );
    }
    // a itself adopts what its state lists: x is re-applied with the new id, y is pruned, and the
    // stray object (not in its state) is neither pruned nor silently taken.
    let mut a = app("app", &ns_a);
    a.options.prune = true;
    let diffs = engine.diff(&a, &[cm("x")]).await.expect("diff a");
    let extra: BTreeSet<&str> = diffs
        .iter()
        .filter(|d| d.status == SyncStatus::Extra)
        .map(|d| d.key.name.as_str())
        .collect();
    assert_eq!(extra, BTreeSet::from(["y"]), "{diffs:?}");
    let out = engine
        .sync(&a, &[cm("x")], &Progress::default())
        .await
        .expect("sync a");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert_eq!(
        tracking(&client, &ns_a, "x").await,
        Some(format!("{ns_a}_app:/ConfigMap:{ns_a}/x"))
    );
    assert!(
        gone(&client, "v1", "ConfigMap", &ns_a, "y").await,
        "y pruned"
    );
    assert!(
        get(&client, "v1", "ConfigMap", &ns_a, "stray")
            .await
            .is_some()
    );
    // Rendering the stray object is refused: its old id is not a's by a's own record.
    let out = engine
        .sync(&a, &[cm("x"), cm("stray")], &Progress::default())
        .await
        .expect("sync a");
    assert_eq!(out.phase, OpPhase::Failed);
    assert!(
        out.message.contains("earlier Trellis version"),
        "{}",
        out.message
    );
    cleanup(&client, &ns_a).await;
    cleanup(&client, &ns_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_succeeded_hooks_live_until_their_phase_ends() {
    let Some(tc) = cluster("hook_succeeded_hooks_live_until_their_phase_ends").await else {
        return;
    };
    let ns = namespace("hookorder");
    let writes = Writes::default();
    let engine = tc.engine(&writes).await;
    let client = tc.client().await;
    // cert-manager's and ingress-nginx's shape: the hook Job's ServiceAccount at weight -5,
    // deleted on success, and the Job at weight 1 that runs as it.
    let policy = "before-hook-creation,hook-succeeded";
    let sa = m(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "hook-sa", "annotations": {"helm.sh/hook": "pre-install",
            "helm.sh/hook-weight": "-5", "helm.sh/hook-delete-policy": policy}}}));
    let mut j = job(
        "hook-job",
        json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "1", "helm.sh/hook-delete-policy": policy}),
        false,
    );
    j.obj["spec"]["template"]["spec"]["serviceAccountName"] = json!("hook-sa");
    let post = job(
        "post",
        json!({"helm.sh/hook": "post-install", "helm.sh/hook-delete-policy": "hook-succeeded"}),
        false,
    );
    let out = engine
        .sync(
            &app("hooks", &ns),
            &[sa, j, cm("resource"), post],
            &Progress::default(),
        )
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    let w = writes.list();
    // The last write of each kind to each object (before-hook-creation deletes come first).
    let pos = |method: &str, suffix: &str| {
        w.iter()
            .rposition(|x| x.starts_with(method) && x.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {method} {suffix}: {w:?}"))
    };
    let sa_created = pos("PATCH", "/serviceaccounts/hook-sa");
    let job_created = pos("PATCH", "/jobs/hook-job");
    let sa_deleted = pos("DELETE", "/serviceaccounts/hook-sa");
    let job_deleted = pos("DELETE", "/jobs/hook-job");
    let resource = pos("PATCH", "/configmaps/resource");
    assert!(
        sa_created < job_created && job_created < sa_deleted,
        "the ServiceAccount is deleted only after the Job ran: {w:?}"
    );
    assert!(
        sa_deleted < resource && job_deleted < resource,
        "PreSync hooks are cleaned up when their phase ends: {w:?}"
    );
    assert!(pos("DELETE", "/jobs/post") > pos("PATCH", "/jobs/post"));
    for (kind, av, n) in [
        ("ServiceAccount", "v1", "hook-sa"),
        ("Job", "batch/v1", "hook-job"),
        ("Job", "batch/v1", "post"),
    ] {
        let mut gone = false;
        for _ in 0..100 {
            match get(&client, av, kind, &ns, n).await {
                None => {
                    gone = true;
                    break;
                }
                Some(o) if o["metadata"]["deletionTimestamp"].is_string() => {
                    gone = true;
                    break;
                }
                Some(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
        assert!(gone, "{kind} {n} deleted after success");
    }
    cleanup(&client, &ns).await;
}

/// Makes discovery of one API group look absent for the first `lag` requests, as a real API
/// server's discovery lags behind a CRD's Established condition.
#[derive(Clone)]
struct LagLayer {
    group: String,
    lag: usize,
    seen: Arc<AtomicUsize>,
}

impl<S> tower::Layer<S> for LagLayer {
    type Service = LagService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        LagService {
            inner,
            cfg: self.clone(),
        }
    }
}

#[derive(Clone)]
struct LagService<S> {
    inner: S,
    cfg: LagLayer,
}

impl<S, B> tower::Service<http::Request<B>> for LagService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let discovery = format!("/apis/{}/v1", self.cfg.group);
        if req.method() == http::Method::GET
            && req.uri().path() == discovery
            && self.cfg.seen.fetch_add(1, Ordering::SeqCst) < self.cfg.lag
        {
            *req.uri_mut() = http::Uri::from_static("/apis/not-served-yet.invalid/v1");
        }
        self.inner.call(req)
    }
}

async fn lagging_engine(
    tc: &TestCluster,
    group: &str,
    lag: usize,
) -> (sync::engine::Engine, Arc<AtomicUsize>) {
    let kc = kube::config::Kubeconfig::read_from(&tc.kubeconfig).expect("kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    let seen = Arc::new(AtomicUsize::new(0));
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client")
        .with_layer(&LagLayer {
            group: group.to_string(),
            lag,
            seen: seen.clone(),
        })
        .build();
    let cluster = Arc::new(sync::cluster::Cluster::new(client));
    let cache = Arc::new(sync::cache::ClusterCache::new(cluster.clone()));
    let engine = sync::engine::Engine::new(
        cache,
        sync::state::StateStore::ConfigMap(cluster),
        sync::lua::CustomHealth::empty(),
    );
    (engine, seen)
}

fn widget_crd(group: &str) -> Manifest {
    m(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_wait_for_discovery_to_serve_their_kind() {
    let Some(tc) = cluster("custom_resources_wait_for_discovery_to_serve_their_kind").await else {
        return;
    };
    let ns = namespace("crdlag");
    let group = format!("{}.lag.example.com", ns.replace('-', ""));
    let client = tc.client().await;
    // Discovery answers "not served" five more times after the CRD is Established.
    let (engine, seen) = lagging_engine(&tc, &group, 6).await;
    let cr = m(
        json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3}}),
    );
    let out = engine
        .sync(
            &app("crdlag", &ns),
            &[cr, widget_crd(&group)],
            &Progress::default(),
        )
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Succeeded, "{}", out.message);
    assert!(seen.load(Ordering::SeqCst) > 6, "discovery was asked again");
    assert!(
        get(&client, &format!("{group}/v1"), "Widget", &ns, "w1")
            .await
            .is_some()
    );
    cleanup(&client, &ns).await;
    // A kind that never appears fails with a message naming the CRD.
    let ns2 = namespace("crdnever");
    let group2 = format!("{}.never.example.com", ns2.replace('-', ""));
    let (engine, _) = lagging_engine(&tc, &group2, usize::MAX).await;
    let mut a = app("crdnever", &ns2);
    a.options.timeout = std::time::Duration::from_secs(6);
    let cr = m(
        json!({"apiVersion": format!("{group2}/v1"), "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {}}),
    );
    let out = engine
        .sync(&a, &[cr, widget_crd(&group2)], &Progress::default())
        .await
        .expect("sync");
    assert_eq!(out.phase, OpPhase::Failed);
    assert!(
        out.message.contains(&format!("widgets.{group2}")) && out.message.contains("Widget"),
        "{}",
        out.message
    );
    cleanup(&client, &ns2).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client);
    for g in [group, group2] {
        let _ = crds
            .delete(&format!("widgets.{g}"), &Default::default())
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Property: random applications with overlapping names, random deploy/prune/delete sequences.

#[derive(Debug, Clone)]
enum Op {
    /// Sync application `app` rendering ConfigMaps `objs`, with or without prune.
    Sync {
        app: usize,
        objs: BTreeSet<u8>,
        prune: bool,
    },
    /// Delete application `app`.
    Delete { app: usize },
}

const NAMESPACES: usize = 2;
const NAMES: [&str; 2] = ["web", "db"];

fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let n = NAMESPACES * NAMES.len();
    prop_oneof![
        4 => (0..n, proptest::collection::btree_set(0u8..4, 0..4), any::<bool>())
            .prop_map(|(app, objs, prune)| Op::Sync { app, objs, prune }),
        1 => (0..n).prop_map(|app| Op::Delete { app }),
    ]
}

/// The objects each application's tracking key names, per namespace.
async fn live_by_app(
    client: &kube::Client,
    namespaces: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ns in namespaces {
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
        for c in cms.list(&ListParams::default()).await.expect("list").items {
            // Pruned with foreground propagation: a real server keeps the object, marked for
            // deletion, until the garbage collector has removed its dependents.
            if c.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(id) = c
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(TRACKING_ID))
            else {
                continue;
            };
            let (app, _) = id.split_once(':').expect("tracking id");
            out.entry(app.to_string())
                .or_default()
                .insert(format!("{ns}/{}", c.metadata.name.unwrap_or_default()));
        }
    }
    out
}

#[test]
fn each_application_holds_exactly_what_its_last_sync_rendered() {
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(tc) = rt.block_on(cluster(
        "each_application_holds_exactly_what_its_last_sync_rendered",
    )) else {
        return;
    };
    let client = rt.block_on(tc.client());
    let cases = std::env::var("TRELLIS_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(6);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(op_strategy(), 1..7);
    let result = runner.run(&strategy, |ops| {
        rt.block_on(async {
            let namespaces: Vec<String> = (0..NAMESPACES)
                .map(|i| namespace(&format!("prop{i}")))
                .collect();
            let apps: Vec<App> = namespaces
                .iter()
                .flat_map(|ns| NAMES.iter().map(move |n| app(n, ns)))
                .collect();
            let engine = tc.engine(&Writes::default()).await;
            let mut model: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for op in &ops {
                match op {
                    Op::Sync {
                        app: i,
                        objs,
                        prune,
                    } => {
                        let mut a = apps[*i].clone();
                        a.options.prune = *prune;
                        let ms: Vec<Manifest> = objs
                            .iter()
                            .map(|o| cm(&format!("{}-{o}", a.name)))
                            .collect();
                        let out = engine
                            .sync(&a, &ms, &Progress::default())
                            .await
                            .expect("sync");
                        assert_eq!(out.phase, OpPhase::Succeeded, "{op:?}: {}", out.message);
                        let key = AppId::new(&a.namespace, &a.name).tracking_key();
                        let entry = model.entry(key).or_default();
                        if *prune {
                            entry.clear();
                        }
                        entry.extend(
                            objs.iter()
                                .map(|o| format!("{}/{}-{o}", a.namespace, a.name)),
                        );
                    }
                    Op::Delete { app: i } => {
                        let a = &apps[*i];
                        engine
                            .delete_app(a, &[], &Progress::default())
                            .await
                            .expect("delete");
                        model.remove(&AppId::new(&a.namespace, &a.name).tracking_key());
                    }
                }
                model.retain(|_, v| !v.is_empty());
                let live = live_by_app(&client, &namespaces).await;
                assert_eq!(live, model, "after {op:?} of {ops:?}");
            }
            for ns in &namespaces {
                cleanup(&client, ns).await;
            }
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
