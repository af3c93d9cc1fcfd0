//! Semantics of each verb and error through the HTTP API: Status objects with the right
//! reason and code, optimistic concurrency, finalizers, propagation policies, namespace
//! termination, selectors and pagination, patches, subresources, dry-run, CRDs, bad input,
//! and that a failed write changes nothing.

mod common;

use common::*;
use serde_json::{Value, json};

const CM: &str = "/api/v1/namespaces/default/configmaps";
const DEP: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}]}}}})
}

fn status_of(v: &Value) -> (&str, i64) {
    assert_eq!(v["kind"], "Status", "{v}");
    (
        v["reason"].as_str().unwrap_or_default(),
        v["code"].as_i64().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_update_conflict_and_errors() {
    let c = start().await;
    let (code, cm) = post(
        &c,
        CM,
        &json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
    )
    .await;
    assert_eq!(code, 201, "{cm}");
    assert!(cm["metadata"]["uid"].is_string() && cm["metadata"]["creationTimestamp"].is_string());
    let rv = cm["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, s) = post(&c, CM, &json!({"metadata": {"name": "a"}})).await;
    assert_eq!((code, status_of(&s)), (409, ("AlreadyExists", 409)));
    assert_eq!(s["details"]["name"], "a");
    assert_eq!(s["details"]["kind"], "configmaps");

    let (code, s) = get_json(&c, &format!("{CM}/missing")).await;
    assert_eq!((code, status_of(&s)), (404, ("NotFound", 404)));
    assert_eq!(s["message"], "configmaps \"missing\" not found");

    // Update with the current resourceVersion succeeds, a stale one conflicts.
    let mut upd = cm.clone();
    upd["data"]["k"] = json!("v2");
    let (code, after) = put(&c, &format!("{CM}/a"), &upd).await;
    assert_eq!(code, 200, "{after}");
    assert_ne!(after["metadata"]["resourceVersion"].as_str().unwrap(), rv);
    let (code, s) = put(&c, &format!("{CM}/a"), &upd).await;
    assert_eq!((code, status_of(&s)), (409, ("Conflict", 409)));
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified")
    );
    let (_, now) = get_json(&c, &format!("{CM}/a")).await;
    assert_eq!(now["data"]["k"], "v2");
    assert_eq!(
        now["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"],
        "the failed write changed nothing"
    );

    // generateName.
    let (code, g) = post(&c, CM, &json!({"metadata": {"generateName": "gen-"}})).await;
    assert_eq!(code, 201);
    let n = g["metadata"]["name"].as_str().unwrap();
    assert!(n.starts_with("gen-") && n.len() == 9, "{n}");

    // Invalid name → 422 Invalid with a cause.
    let (code, s) = post(&c, CM, &json!({"metadata": {"name": "Bad_Name"}})).await;
    assert_eq!((code, status_of(&s)), (422, ("Invalid", 422)));
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");

    // Malformed JSON and YAML → 400 BadRequest.
    let (code, s) = raw(&c, "POST", CM, Some(b"{not json"), "application/json").await;
    assert_eq!((code, status_of(&s).0), (400, "BadRequest"));
    let (code, s) = raw(
        &c,
        "POST",
        CM,
        Some(b"metadata: [unclosed"),
        "application/yaml",
    )
    .await;
    assert_eq!((code, status_of(&s).0), (400, "BadRequest"));
    // YAML bodies work.
    let (code, _) = raw(
        &c,
        "POST",
        CM,
        Some(b"metadata:\n  name: from-yaml\ndata:\n  a: b\n"),
        "application/yaml",
    )
    .await;
    assert_eq!(code, 201);

    // Kind mismatch, unknown resource, unknown group.
    let (code, s) = post(
        &c,
        CM,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
    )
    .await;
    assert_eq!((code, status_of(&s).0), (400, "BadRequest"));
    let (code, s) = get_json(&c, "/api/v1/namespaces/default/widgets").await;
    assert_eq!((code, status_of(&s).0), (404, "NotFound"));
    let (code, _) = get_json(&c, "/apis/nope.example.com/v1/things").await;
    assert_eq!(code, 404);

    // Oversize body → 413.
    let big = format!(
        "{{\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"k\":\"{}\"}}}}",
        "x".repeat(4 * 1024 * 1024)
    );
    let (code, s) = raw(&c, "POST", CM, Some(big.as_bytes()), "application/json").await;
    assert_eq!((code, status_of(&s).0), (413, "RequestEntityTooLarge"));

    // Creating in a missing namespace → 404 for the namespace.
    let (code, s) = post(
        &c,
        "/api/v1/namespaces/nope/configmaps",
        &json!({"metadata": {"name": "x"}}),
    )
    .await;
    assert_eq!((code, status_of(&s).0), (404, "NotFound"));
    assert_eq!(s["details"]["kind"], "namespaces");

    // The server still answers after all that.
    let (code, _) = get_json(&c, "/version").await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_selectors_pagination_and_resource_versions() {
    let c = start().await;
    for i in 0..25 {
        let tier = if i % 2 == 0 { "front" } else { "back" };
        post(&c, CM, &json!({"metadata": {"name": format!("cm-{i:02}"), "labels": {"tier": tier, "n": i.to_string()}}})).await;
    }
    let (_, l) = get_json(&c, &format!("{CM}?labelSelector=tier%3Dfront")).await;
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["items"].as_array().unwrap().len(), 13);
    let (_, l) = get_json(
        &c,
        &format!("{CM}?labelSelector=tier%20in%20(front,back),n%20notin%20(0,1)"),
    )
    .await;
    assert_eq!(l["items"].as_array().unwrap().len(), 23);
    let (_, l) = get_json(&c, &format!("{CM}?fieldSelector=metadata.name%3Dcm-03")).await;
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    let (code, s) = get_json(&c, &format!("{CM}?labelSelector=a%20in%20(")).await;
    assert_eq!((code, status_of(&s).0), (400, "BadRequest"));

    // Pages of 10 cover everything exactly once.
    let mut names = Vec::new();
    let mut cont = String::new();
    for _ in 0..10 {
        let (_, page) = get_json(&c, &format!("{CM}?limit=10&continue={cont}")).await;
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => cont = t.to_string(),
            _ => break,
        }
    }
    // Every namespace also holds the kube-root-ca.crt ConfigMap.
    names.retain(|n| n != "kube-root-ca.crt");
    assert_eq!(names.len(), 25);
    let mut dedup = names.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), 25);

    // resourceVersionMatch=Exact with an old version is 410; a future version is a timeout.
    let (_, l) = get_json(&c, CM).await;
    let rv: u64 = l["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    post(&c, CM, &json!({"metadata": {"name": "later"}})).await;
    let (code, s) = get_json(
        &c,
        &format!("{CM}?resourceVersion={rv}&resourceVersionMatch=Exact"),
    )
    .await;
    assert_eq!((code, status_of(&s).0), (410, "Expired"));
    // (in-process: kube's client would retry a 504)
    let (code, s) = oneshot(
        &c,
        "GET",
        &format!(
            "{CM}?resourceVersion={}&resourceVersionMatch=NotOlderThan",
            rv + 1000
        ),
    )
    .await;
    assert_eq!((code, status_of(&s).0), (504, "Timeout"));

    // Cluster-wide list of a namespaced resource.
    let (_, all) = get_json(&c, "/api/v1/configmaps").await;
    let ours = all["items"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|cm| cm["metadata"]["name"] != "kube-root-ca.crt")
        .count();
    assert_eq!(ours, 26);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_generation_and_subresources() {
    let c = start().await;
    let (code, d) = post(&c, DEP, &deployment("p", 1)).await;
    assert_eq!(code, 201, "{d}");
    assert_eq!(d["metadata"]["generation"], 1);

    // Strategic merge: containers merge by name, env by name.
    let smp = r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}}}}"#;
    let (code, d) = patch(
        &c,
        &format!("{DEP}/p"),
        "application/strategic-merge-patch+json",
        smp,
    )
    .await;
    assert_eq!(code, 200, "{d}");
    let c0 = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c0["image"], "nginx:1");
    assert_eq!(
        c0["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(d["metadata"]["generation"], 2);

    // Merge patch replaces lists; metadata-only changes don't bump generation.
    let (_, d) = patch(
        &c,
        &format!("{DEP}/p"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"x":"y"}}}"#,
    )
    .await;
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["metadata"]["labels"]["x"], "y");

    // JSON patch, including a failing test op that changes nothing.
    let (code, d) = patch(
        &c,
        &format!("{DEP}/p"),
        "application/json-patch+json",
        r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
    )
    .await;
    assert_eq!((code, d["spec"]["replicas"].clone()), (200, json!(2)));
    let rv = d["metadata"]["resourceVersion"].clone();
    let (code, _) = patch(&c, &format!("{DEP}/p"), "application/json-patch+json", r#"[{"op":"test","path":"/spec/replicas","value":9},{"op":"replace","path":"/spec/replicas","value":5}]"#).await;
    assert_eq!(code, 422);
    let (_, d) = get_json(&c, &format!("{DEP}/p")).await;
    assert_eq!(d["metadata"]["resourceVersion"], rv);

    // Unsupported patch type → 415.
    let (code, _) = patch(&c, &format!("{DEP}/p"), "text/plain", "x").await;
    assert_eq!(code, 415);

    // Scale subresource.
    let (code, s) = get_json(&c, &format!("{DEP}/p/scale")).await;
    assert_eq!(code, 200);
    assert_eq!(s["kind"], "Scale");
    assert_eq!(s["spec"]["replicas"], 2);
    let (code, s) = patch(
        &c,
        &format!("{DEP}/p/scale"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":4}}"#,
    )
    .await;
    assert_eq!((code, s["spec"]["replicas"].clone()), (200, json!(4)));
    let (_, d) = get_json(&c, &format!("{DEP}/p")).await;
    assert_eq!(d["spec"]["replicas"], 4);

    // Status subresource: writes to status via the main resource are ignored…
    let mut upd = d.clone();
    upd["status"] = json!({"replicas": 99});
    let (_, after) = put(&c, &format!("{DEP}/p"), &upd).await;
    assert_ne!(after["status"]["replicas"], 99);
    // …and via /status only status changes.
    let mut st = after.clone();
    st["status"]["observedGeneration"] = json!(77);
    st["spec"]["replicas"] = json!(1);
    let (code, after) = put(&c, &format!("{DEP}/p/status"), &st).await;
    assert_eq!(code, 200, "{after}");
    assert_eq!(after["spec"]["replicas"], 4);

    // dryRun=All on every write changes nothing.
    let (code, dry) = post(
        &c,
        &format!("{CM}?dryRun=All"),
        &json!({"metadata": {"name": "dry"}}),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(dry["metadata"]["name"], "dry");
    let (code, _) = get_json(&c, &format!("{CM}/dry")).await;
    assert_eq!(code, 404);
    let (code, _) = patch(
        &c,
        &format!("{DEP}/p?dryRun=All"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":7}}"#,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = delete(&c, &format!("{DEP}/p?dryRun=All"), None).await;
    assert_eq!(code, 200);
    let (_, d) = get_json(&c, &format!("{DEP}/p")).await;
    assert_eq!(d["spec"]["replicas"], 4);

    // fieldValidation.
    let bad = json!({"metadata": {"name": "fv"}, "data": {"a": "b"}, "bogus": true});
    let (code, s) = post(&c, &format!("{CM}?fieldValidation=Strict"), &bad).await;
    assert_eq!((code, status_of(&s).0), (400, "BadRequest"));
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"bogus\""),
        "{s}"
    );
    let (code, _, headers) = raw_bytes(
        &c,
        "POST",
        &format!("{CM}?fieldValidation=Warn"),
        Some(bad.to_string().as_bytes()),
        "application/json",
    )
    .await;
    assert_eq!(code, 201);
    assert!(
        headers
            .get("warning")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("unknown field")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_and_propagation_policies() {
    let c = start().await;
    // Finalizer keeps the object with a deletionTimestamp until removed.
    post(
        &c,
        CM,
        &json!({"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}),
    )
    .await;
    let (code, d) = delete(&c, &format!("{CM}/f"), None).await;
    assert_eq!(code, 200);
    assert!(d["metadata"]["deletionTimestamp"].is_string(), "{d}");
    let (code, _) = get_json(&c, &format!("{CM}/f")).await;
    assert_eq!(code, 200);
    let (code, _) = patch(
        &c,
        &format!("{CM}/f"),
        "application/merge-patch+json",
        r#"{"metadata":{"finalizers":null}}"#,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = get_json(&c, &format!("{CM}/f")).await;
    assert_eq!(code, 404);

    // Background: the Deployment goes at once, ReplicaSets and Pods follow.
    post(&c, DEP, &deployment("bg", 2)).await;
    let rs_path = "/apis/apps/v1/namespaces/default/replicasets";
    eventually("pods of bg", || async {
        let (_, l) = get_json(&c, "/api/v1/namespaces/default/pods?labelSelector=app%3Dbg").await;
        (l["items"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    let (code, s) = delete(
        &c,
        &format!("{DEP}/bg"),
        Some(&json!({"propagationPolicy": "Background"})),
    )
    .await;
    assert_eq!((code, s["status"].clone()), (200, json!("Success")), "{s}");
    eventually("bg dependents collected", || async {
        let (_, rs) = get_json(&c, &format!("{rs_path}?labelSelector=app%3Dbg")).await;
        let (_, pods) =
            get_json(&c, "/api/v1/namespaces/default/pods?labelSelector=app%3Dbg").await;
        (rs["items"].as_array().unwrap().is_empty() && pods["items"].as_array().unwrap().is_empty())
            .then_some(())
    })
    .await;

    // Orphan: dependents stay, without the owner reference.
    post(&c, DEP, &deployment("or", 1)).await;
    eventually("rs of or", || async {
        let (_, l) = get_json(&c, &format!("{rs_path}?labelSelector=app%3Dor")).await;
        (l["items"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    delete(&c, &format!("{DEP}/or?propagationPolicy=Orphan"), None).await;
    let (_, l) = get_json(&c, &format!("{rs_path}?labelSelector=app%3Dor")).await;
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    assert!(
        l["items"][0]["metadata"]["ownerReferences"].is_null(),
        "{}",
        l["items"][0]
    );

    // Foreground: the owner waits (foregroundDeletion) until its dependents are gone.
    post(&c, DEP, &deployment("fg", 1)).await;
    eventually("rs of fg", || async {
        let (_, l) = get_json(&c, &format!("{rs_path}?labelSelector=app%3Dfg")).await;
        (l["items"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let (code, d) = delete(
        &c,
        &format!("{DEP}/fg"),
        Some(&json!({"propagationPolicy": "Foreground"})),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        d["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!("foregroundDeletion")),
        "{d}"
    );
    eventually("fg and its dependents gone", || async {
        let (code, _) = get_json(&c, &format!("{DEP}/fg")).await;
        let (_, l) = get_json(&c, &format!("{rs_path}?labelSelector=app%3Dfg")).await;
        (code == 404 && l["items"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;

    // Preconditions.
    post(&c, CM, &json!({"metadata": {"name": "pre"}})).await;
    let (code, s) = delete(
        &c,
        &format!("{CM}/pre"),
        Some(&json!({"preconditions": {"uid": "wrong"}})),
    )
    .await;
    assert_eq!((code, status_of(&s).0), (409, "Conflict"));

    // deletecollection with a selector.
    post(
        &c,
        CM,
        &json!({"metadata": {"name": "dc1", "labels": {"del": "yes"}}}),
    )
    .await;
    post(
        &c,
        CM,
        &json!({"metadata": {"name": "dc2", "labels": {"del": "yes"}}}),
    )
    .await;
    let (code, _) = delete(&c, &format!("{CM}?labelSelector=del%3Dyes"), None).await;
    assert_eq!(code, 200);
    let (_, l) = get_json(&c, &format!("{CM}?labelSelector=del%3Dyes")).await;
    assert!(l["items"].as_array().unwrap().is_empty());
    let (code, _) = get_json(&c, &format!("{CM}/pre")).await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_termination() {
    let c = start().await;
    let (code, _) = post(
        &c,
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "team"}}),
    )
    .await;
    assert_eq!(code, 201);
    post(
        &c,
        "/api/v1/namespaces/team/configmaps",
        &json!({"metadata": {"name": "held", "finalizers": ["example.com/x"]}}),
    )
    .await;
    post(
        &c,
        "/api/v1/namespaces/team/configmaps",
        &json!({"metadata": {"name": "plain"}}),
    )
    .await;
    let (code, ns) = delete(&c, "/api/v1/namespaces/team", None).await;
    assert_eq!(code, 200);
    assert_eq!(ns["status"]["phase"], "Terminating");
    // New content is refused while terminating.
    let (code, s) = post(
        &c,
        "/api/v1/namespaces/team/configmaps",
        &json!({"metadata": {"name": "new"}}),
    )
    .await;
    assert_eq!((code, status_of(&s).0), (403, "Forbidden"));
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("because it is being terminated"),
        "{s}"
    );
    eventually("plain deleted, held waiting", || async {
        let (p, _) = get_json(&c, "/api/v1/namespaces/team/configmaps/plain").await;
        let (_, h) = get_json(&c, "/api/v1/namespaces/team/configmaps/held").await;
        (p == 404 && h["metadata"]["deletionTimestamp"].is_string()).then_some(())
    })
    .await;
    let (code, _) = get_json(&c, "/api/v1/namespaces/team").await;
    assert_eq!(code, 200, "namespace waits for the finalizer");
    patch(
        &c,
        "/api/v1/namespaces/team/configmaps/held",
        "application/merge-patch+json",
        r#"{"metadata":{"finalizers":[]}}"#,
    )
    .await;
    eventually("namespace removed", || async {
        let (code, _) = get_json(&c, "/api/v1/namespaces/team").await;
        (code == 404).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_are_served_at_once() {
    let c = start().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}, "replicas": {"type": "integer"}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}});
    let (code, created) = post(
        &c,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &crd,
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let conds = created["status"]["conditions"].as_array().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );
    let (code, rl) = get_json(&c, "/apis/example.com/v1").await;
    assert_eq!(code, 200);
    assert!(
        rl["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "widgets" && r["shortNames"] == json!(["wd"]))
    );
    let w = "/apis/example.com/v1/namespaces/default/widgets";
    let (code, obj) = post(&c, w, &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3, "replicas": 1}})).await;
    assert_eq!(code, 201, "{obj}");
    assert_eq!(obj["metadata"]["generation"], 1);
    // Strict validation uses the CRD's schema.
    let (code, _) = post(&c, &format!("{w}?fieldValidation=Strict"), &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"sise": 3}})).await;
    assert_eq!(code, 400);
    // Strategic merge isn't available for custom resources.
    let (code, _) = patch(
        &c,
        &format!("{w}/w1"),
        "application/strategic-merge-patch+json",
        "{}",
    )
    .await;
    assert_eq!(code, 415);
    // Custom resources are JSON-only: a protobuf body is refused as an unsupported media type.
    let field = |n: u8, b: &[u8]| {
        let mut out = vec![(n << 3) | 2, u8::try_from(b.len()).expect("short field")];
        out.extend_from_slice(b);
        out
    };
    let type_meta = [field(1, b"example.com/v1"), field(2, b"Widget")].concat();
    let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, b"")].concat();
    let (code, status) = raw(
        &c,
        "POST",
        w,
        Some(&body),
        "application/vnd.kubernetes.protobuf",
    )
    .await;
    assert_eq!(code, 415, "{status}");
    // Status and scale subresources.
    let (code, _) = patch(
        &c,
        &format!("{w}/w1/status"),
        "application/merge-patch+json",
        r#"{"status":{"replicas":1,"ok":true}}"#,
    )
    .await;
    assert_eq!(code, 200);
    let (_, s) = patch(
        &c,
        &format!("{w}/w1/scale"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":5}}"#,
    )
    .await;
    assert_eq!(s["spec"]["replicas"], 5);
    let (_, o) = get_json(&c, &format!("{w}/w1")).await;
    assert_eq!(
        (
            o["spec"]["replicas"].clone(),
            o["status"]["ok"].clone(),
            o["metadata"]["generation"].clone()
        ),
        (json!(5), json!(true), json!(2))
    );
    // The OpenAPI document for the new group exists with the kind's GVK.
    let (code, doc) = get_json(&c, "/openapi/v3/apis/example.com/v1").await;
    assert_eq!(code, 200);
    assert_eq!(
        doc["components"]["schemas"]["com.example.v1.Widget"]["x-kubernetes-group-version-kind"][0]
            ["kind"],
        "Widget"
    );
    // Deleting the CRD removes its objects and the endpoint.
    delete(
        &c,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        None,
    )
    .await;
    let (code, _) = get_json(&c, w).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents() {
    let c = start().await;
    let (code, body, headers) = raw_bytes(&c, "GET", "/apis", None, "application/json").await;
    assert_eq!(code, 200);
    let _ = body;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let req = http::Request::builder()
        .uri("/apis")
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let resp = c
        .client()
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let (_, api) = get_json(&c, "/api/v1").await;
    let pods = api["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods")
        .unwrap()
        .clone();
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    let (code, _) = get_json(&c, "/healthz").await;
    assert_eq!(code, 200);
    let (_, idx) = get_json(&c, "/openapi/v3").await;
    assert!(
        idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/apps/v1?hash=")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_are_refused() {
    let c = start().await;
    let client = reqwest_like_get(c.url(), "/api/v1/namespaces").await;
    assert_eq!(client, 401);
}

/// A raw HTTPS GET without a token (certificate checks off: only the token is at stake).
async fn reqwest_like_get(url: &str, path: &str) -> u16 {
    let mut cfg = kube::Config::new(url.parse().expect("cluster URL parses"));
    cfg.accept_invalid_certs = true;
    let client = kube::Client::try_from(cfg).expect("client builds");
    let req = http::Request::builder()
        .uri(path)
        .body(Vec::new())
        .expect("request builds");
    client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("request is sent")
        .status()
        .as_u16()
}
