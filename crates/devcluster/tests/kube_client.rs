//! Conformance with the `kube` crate: typed CRUD, server-side apply through `Patch::Apply`
//! (conflicts, force, field removal), and kube-runtime's watcher and reflector across watch
//! restarts (short server-side timeouts) and an expired resourceVersion (410 → re-list).

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_with_patch_apply() {
    let c = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"x": "1", "y": "2"}});
    let got = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&a))
        .await
        .unwrap();
    assert_eq!(got.data.as_ref().unwrap()["x"], "1");
    let mf = got.metadata.managed_fields.unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alice"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    // bob conflicts on x…
    let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"x": "bob"}});
    let err = cms
        .patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&b))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert!(s.message.contains("alice"), "{}", s.message);
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    // …unless forced; then alice drops y and keeps nothing of x.
    cms.patch("ssa", &PatchParams::apply("bob").force(), &Patch::Apply(&b))
        .await
        .unwrap();
    let a2 =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {}});
    let got = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&a2))
        .await
        .unwrap();
    let data = got.data.unwrap();
    assert_eq!(data.get("x").map(String::as_str), Some("bob"));
    assert!(!data.contains_key("y"), "alice stopped applying y: removed");

    // Apply creates Deployments too; dry-run changes nothing.
    let deps: Api<Deployment> = Api::namespaced(c.client(), "default");
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let mut pp = PatchParams::apply("ci");
    pp.dry_run = true;
    deps.patch("d", &pp, &Patch::Apply(&d)).await.unwrap();
    assert!(
        deps.get_opt("d").await.unwrap().is_none(),
        "dry-run apply created nothing"
    );
    let created = deps
        .patch("d", &PatchParams::apply("ci"), &Patch::Apply(&d))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_and_reflector_survive_watch_restarts() {
    let c = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let (reader, writer) = reflector::store::<ConfigMap>();
    // A 1-second server-side timeout forces the watcher to restart its watch repeatedly.
    let cfg = watcher::Config::default().timeout(1).labels("team=a");
    let stream = watcher(cms.clone(), cfg)
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let handle = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        while let Some(r) = s.next().await {
            if r.is_err() {
                // Errors are retried by the backoff; keep consuming.
            }
        }
    });
    for i in 0..5 {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("cm-{i}"), "labels": {"team": "a"}}}),
        )
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let other: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "other", "labels": {"team": "b"}}}))
            .unwrap();
    cms.create(&PostParams::default(), &other).await.unwrap();
    eventually("reflector sees 5 labelled configmaps", || {
        let reader = reader.clone();
        async move { (reader.state().len() == 5).then_some(()) }
    })
    .await;
    cms.delete("cm-0", &DeleteParams::default()).await.unwrap();
    eventually("reflector sees the delete", || {
        let reader = reader.clone();
        async move { (reader.state().len() == 4).then_some(()) }
    })
    .await;
    let names: Vec<String> = reader
        .state()
        .iter()
        .map(|o| o.metadata.name.clone().unwrap())
        .collect();
    assert!(
        !names.contains(&"other".to_string()) && !names.contains(&"cm-0".to_string()),
        "{names:?}"
    );
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_resource_version_is_410_and_watcher_relists() {
    let c = devcluster::DevCluster::builder()
        .watch_history(16)
        .start()
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let old_rv = list.metadata.resource_version.unwrap();
    for i in 0..40 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("x{i}")}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    // A watch from the old resourceVersion is answered with an ERROR event carrying 410 Expired.
    let (code, bytes, _) = raw_bytes(&c, "GET", &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={old_rv}&timeoutSeconds=2"), None, "application/json").await;
    assert_eq!(code, 200);
    let first: serde_json::Value =
        serde_json::from_slice(bytes.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["type"], "ERROR");
    assert_eq!(first["object"]["code"], 410);
    assert_eq!(first["object"]["reason"], "Expired");
    // kube's watcher recovers by re-listing.
    let items: Vec<ConfigMap> = tokio::time::timeout(WAIT, async {
        let mut s =
            std::pin::pin!(watcher(cms.clone(), watcher::Config::default()).applied_objects());
        let mut seen = Vec::new();
        while let Some(o) = s.try_next().await.unwrap() {
            seen.push(o);
            if seen.len() == 40 {
                break;
            }
        }
        seen
    })
    .await
    .expect("watcher lists everything in time");
    assert_eq!(items.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_and_selector_transitions() {
    let c = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    for n in ["a", "b"] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": {"team": "a"}}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let (reader, writer) = reflector::store::<ConfigMap>();
    // sendInitialEvents=true: the initial state arrives as a watch ending in a bookmark.
    let cfg = watcher::Config::default()
        .labels("team=a")
        .streaming_lists();
    let stream = watcher(cms.clone(), cfg)
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let handle = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        while s.next().await.is_some() {}
    });
    let count = |n: usize| {
        let reader = reader.clone();
        async move { (reader.state().len() == n).then_some(()) }
    };
    eventually("initial events", || count(2)).await;
    // Relabelling b out of the selection is a DELETED for this watch, back in an ADDED.
    let pp = PatchParams::default();
    cms.patch(
        "b",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    eventually("b left the selection", || count(1)).await;
    cms.patch(
        "b",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    eventually("b is back", || count(2)).await;
    handle.abort();
}
