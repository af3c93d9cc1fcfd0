//! Admission a real API server applies: the default ServiceAccount and kube-root-ca.crt in
//! every namespace, the ServiceAccount lookup for Pods (and how the workload controllers
//! react to its refusal), ResourceQuota and LimitRange — checked through the API and kubectl.

mod common;

use common::*;
use serde_json::{Value, json};

const T: std::time::Duration = std::time::Duration::from_secs(60);

fn pod(name: &str, sa: Option<&str>, resources: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox", "resources": resources}]},
    });
    if let Some(sa) = sa {
        p["spec"]["serviceAccountName"] = json!(sa);
    }
    p
}

async fn events_for(c: &devcluster::DevCluster, ns: &str, name: &str) -> Vec<Value> {
    let (_, l) = get_json(
        c,
        &format!("/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3D{name}"),
    )
    .await;
    l["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_get_the_default_service_account_and_the_root_ca() {
    let c = start().await;
    let ca = c.ca_pem().expect("HTTPS cluster has a CA").to_string();
    // Seeded namespaces too.
    for ns in ["default", "kube-system", "kube-public"] {
        let ns_ = ns.to_string();
        let cm = eventually(&format!("kube-root-ca.crt in {ns}"), || {
            let c = &c;
            let ns = ns_.clone();
            async move {
                let (code, cm) = get_json(
                    c,
                    &format!("/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"),
                )
                .await;
                (code == 200).then_some(cm)
            }
        })
        .await;
        assert_eq!(cm["data"]["ca.crt"], json!(ca));
        let (code, _) = get_json(
            &c,
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/default"),
        )
        .await;
        assert_eq!(code, 200, "default ServiceAccount in {ns}");
    }
    // A new namespace has both as soon as its create returns, so a Pod can follow at once.
    let (code, _) = post(
        &c,
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "fresh"}}),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = post(
        &c,
        "/api/v1/namespaces/fresh/pods",
        &pod("p", None, json!({})),
    )
    .await;
    assert_eq!(code, 201);
    let (code, cm) = get_json(&c, "/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt").await;
    assert_eq!(code, 200);
    assert_eq!(cm["data"]["ca.crt"], json!(ca));
    // Deleted, it comes back (as the root-ca-cert-publisher restores it).
    let (code, _) = delete(
        &c,
        "/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt",
        None,
    )
    .await;
    assert_eq!(code, 200);
    eventually("kube-root-ca.crt restored", || async {
        let (code, _) = get_json(&c, "/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt").await;
        (code == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_naming_a_missing_service_account_is_refused_and_a_job_retries() {
    let c = start().await;
    let (code, st) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        &pod("lonely", Some("robot"), json!({})),
    )
    .await;
    assert_eq!(code, 403, "{st}");
    assert_eq!(st["reason"], "Forbidden");
    assert_eq!(
        st["message"],
        "pods \"lonely\" is forbidden: error looking up service account default/robot: serviceaccount \"robot\" not found"
    );

    // A hook Job that runs before its ServiceAccount exists: FailedCreate, then success.
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {
            "serviceAccountName": "robot", "restartPolicy": "Never",
            "containers": [{"name": "m", "image": "busybox"}],
        }}},
    });
    let (code, _) = post(&c, "/apis/batch/v1/namespaces/default/jobs", &job).await;
    assert_eq!(code, 201);
    let ev = eventually("FailedCreate on the Job", || async {
        events_for(&c, "default", "migrate")
            .await
            .into_iter()
            .find(|e| e["reason"] == "FailedCreate")
    })
    .await;
    assert_eq!(ev["type"], "Warning");
    assert_eq!(ev["source"]["component"], "job-controller");
    assert_eq!(
        ev["message"],
        "Error creating: pods \"migrate-\" is forbidden: error looking up service account default/robot: serviceaccount \"robot\" not found"
    );
    // The refusal repeats (backoff), counted on the same Event.
    eventually("FailedCreate repeated", || async {
        events_for(&c, "default", "migrate")
            .await
            .into_iter()
            .find(|e| e["reason"] == "FailedCreate" && e["count"].as_i64() > Some(1))
    })
    .await;
    let (code, _) = post(
        &c,
        "/api/v1/namespaces/default/serviceaccounts",
        &json!({"metadata": {"name": "robot"}}),
    )
    .await;
    assert_eq!(code, 201);
    eventually(
        "the Job completes once the ServiceAccount exists",
        || async {
            let (_, j) = get_json(&c, "/apis/batch/v1/namespaces/default/jobs/migrate").await;
            (j["status"]["succeeded"] == 1).then_some(())
        },
    )
    .await;

    // A ReplicaSet's refusals read the same, from the replicaset-controller.
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"serviceAccountName": "ghost", "containers": [{"name": "w", "image": "nginx"}]},
        }},
    });
    let (code, _) = post(&c, "/apis/apps/v1/namespaces/default/replicasets", &rs).await;
    assert_eq!(code, 201);
    let ev = eventually("FailedCreate on the ReplicaSet", || async {
        events_for(&c, "default", "web")
            .await
            .into_iter()
            .find(|e| e["reason"] == "FailedCreate")
    })
    .await;
    assert_eq!(ev["source"]["component"], "replicaset-controller");
    assert_eq!(
        ev["message"],
        "Error creating: pods \"web-\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found"
    );

    // StatefulSets name the Pod; DaemonSets use generateName like ReplicaSets.
    let template = json!({
        "metadata": {"labels": {"app": "db"}},
        "spec": {"serviceAccountName": "ghost", "containers": [{"name": "d", "image": "db"}]},
    });
    let sts = json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db", "replicas": 1,
        "selector": {"matchLabels": {"app": "db"}}, "template": template}});
    let (code, _) = post(&c, "/apis/apps/v1/namespaces/default/statefulsets", &sts).await;
    assert_eq!(code, 201);
    let ds = json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "db"}}, "template": template}});
    let (code, _) = post(&c, "/apis/apps/v1/namespaces/default/daemonsets", &ds).await;
    assert_eq!(code, 201);
    for (owner, component, message) in [
        (
            "db",
            "statefulset-controller",
            "create Pod db-0 in StatefulSet db failed error: pods \"db-0\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found",
        ),
        (
            "agent",
            "daemonset-controller",
            "Error creating: pods \"agent-\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found",
        ),
    ] {
        let ev = eventually(&format!("FailedCreate on {owner}"), || async {
            events_for(&c, "default", owner)
                .await
                .into_iter()
                .find(|e| e["reason"] == "FailedCreate")
        })
        .await;
        assert_eq!(ev["source"]["component"], component);
        assert_eq!(ev["message"], message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_quota_is_enforced_with_the_real_messages() {
    let c = start().await;
    let quota = json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "compute"},
        "spec": {"hard": {"pods": "2", "requests.cpu": "1", "limits.memory": "1Gi", "configmaps": "3"}},
    });
    let (code, _) = post(&c, "/api/v1/namespaces/default/resourcequotas", &quota).await;
    assert_eq!(code, 201);
    // A Pod without requests where the quota constrains them.
    let (code, st) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        &pod("bare", None, json!({})),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "pods \"bare\" is forbidden: failed quota: compute: must specify limits.memory for: app; requests.cpu for: app"
    );
    let res = json!({"requests": {"cpu": "600m"}, "limits": {"memory": "512Mi"}});
    let (code, st) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        &pod("one", None, res.clone()),
    )
    .await;
    assert_eq!(code, 201, "{st}");
    let (code, st) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        &pod("two", None, res.clone()),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "pods \"two\" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1"
    );
    // Status follows, as the resource-quota controller keeps it.
    let q = eventually("quota status", || async {
        let (_, q) = get_json(&c, "/api/v1/namespaces/default/resourcequotas/compute").await;
        (q["status"]["used"]["pods"] == "1").then_some(q)
    })
    .await;
    assert_eq!(q["status"]["hard"]["requests.cpu"], "1");
    assert_eq!(q["status"]["used"]["requests.cpu"], "600m");
    assert_eq!(q["status"]["used"]["limits.memory"], "512Mi");
    // kube-root-ca.crt already counts against configmaps=3.
    for i in 0..2 {
        let (code, st) = post(
            &c,
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": format!("cm-{i}")}}),
        )
        .await;
        assert_eq!(code, 201, "{st}");
    }
    let (code, st) = post(
        &c,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "cm-2"}}),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "configmaps \"cm-2\" is forbidden: exceeded quota: compute, requested: configmaps=1, used: configmaps=3, limited: configmaps=3"
    );
    // Deleting frees the unit.
    let (code, _) = delete(&c, "/api/v1/namespaces/default/configmaps/cm-0", None).await;
    assert_eq!(code, 200);
    let (code, _) = post(
        &c,
        "/api/v1/namespaces/default/configmaps",
        &json!({"metadata": {"name": "cm-2"}}),
    )
    .await;
    assert_eq!(code, 201);
    // count/<resource>.<group>
    let q2 =
        json!({"metadata": {"name": "objects"}, "spec": {"hard": {"count/deployments.apps": "0"}}});
    let (code, _) = post(&c, "/api/v1/namespaces/default/resourcequotas", &q2).await;
    assert_eq!(code, 201);
    let d = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
    let (code, st) = post(&c, "/apis/apps/v1/namespaces/default/deployments", &d).await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "deployments.apps \"d\" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=0, limited: count/deployments.apps=0"
    );

    // A Deployment whose ReplicaSet is refused says so.
    let q3 =
        json!({"metadata": {"name": "sets"}, "spec": {"hard": {"count/replicasets.apps": "0"}}});
    let (code, _) = post(&c, "/api/v1/namespaces/other/resourcequotas", &q3).await;
    assert_eq!(code, 404, "no such namespace yet");
    let (code, _) = post(
        &c,
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = post(&c, "/api/v1/namespaces/other/resourcequotas", &q3).await;
    assert_eq!(code, 201);
    let (code, _) = post(&c, "/apis/apps/v1/namespaces/other/deployments", &d).await;
    assert_eq!(code, 201);
    let ev = eventually("ReplicaSetCreateError", || async {
        events_for(&c, "other", "d")
            .await
            .into_iter()
            .find(|e| e["reason"] == "ReplicaSetCreateError")
    })
    .await;
    let msg = ev["message"].as_str().expect("a message");
    assert!(
        msg.starts_with("Failed to create new replica set \"d-")
            && msg.ends_with("is forbidden: exceeded quota: sets, requested: count/replicasets.apps=1, used: count/replicasets.apps=0, limited: count/replicasets.apps=0"),
        "{msg}"
    );

    // kubectl describe quota reads the status.
    if have_kubectl() {
        let kc = c.kubeconfig_path().to_path_buf();
        let o = run(kubectl(&kc, &["describe", "quota", "compute"]), T).await;
        assert!(o.status.success(), "{}", out(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["requests.cpu", "600m", "1"]),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_default_and_bound_container_resources() {
    let c = start().await;
    let lr = json!({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": {"name": "bounds"},
        "spec": {"limits": [{
            "type": "Container",
            "max": {"cpu": "800m", "memory": "1Gi"},
            "min": {"cpu": "100m"},
            "default": {"cpu": "500m"},
            "defaultRequest": {"cpu": "200m"},
        }]},
    });
    let (code, stored) = post(&c, "/api/v1/namespaces/default/limitranges", &lr).await;
    assert_eq!(code, 201);
    // The server's defaults: default from max, defaultRequest from default.
    assert_eq!(
        stored["spec"]["limits"][0]["default"],
        json!({"cpu": "500m", "memory": "1Gi"})
    );
    assert_eq!(
        stored["spec"]["limits"][0]["defaultRequest"],
        json!({"cpu": "200m", "memory": "1Gi"})
    );
    let (code, p) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        &pod("defaulted", None, json!({})),
    )
    .await;
    assert_eq!(code, 201, "{p}");
    let r = &p["spec"]["containers"][0]["resources"];
    assert_eq!(r["requests"], json!({"cpu": "200m", "memory": "1Gi"}));
    assert_eq!(r["limits"], json!({"cpu": "500m", "memory": "1Gi"}));
    assert_eq!(
        p["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
    );
    assert_eq!(p["status"]["qosClass"], "Burstable");
    let (code, st) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        &pod("greedy", None, json!({"limits": {"cpu": "1500m"}})),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "pods \"greedy\" is forbidden: maximum cpu usage per Container is 800m, but limit is 1500m"
    );
    let (code, st) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        &pod("tiny", None, json!({"requests": {"cpu": "50m"}})),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        "pods \"tiny\" is forbidden: minimum cpu usage per Container is 100m, but request is 50m"
    );

    // A Deployment whose Pods break the bounds: FailedCreate on its ReplicaSet.
    if have_kubectl() {
        let kc = c.kubeconfig_path().to_path_buf();
        let o = run(
            kubectl(&kc, &["create", "deployment", "big", "--image=nginx"]),
            T,
        )
        .await;
        assert!(o.status.success(), "{}", out(&o));
        let o = run(
            kubectl(
                &kc,
                &["set", "resources", "deployment", "big", "--limits=cpu=2"],
            ),
            T,
        )
        .await;
        assert!(o.status.success(), "{}", out(&o));
        let text = eventually("kubectl get events shows FailedCreate", || {
            let kc = kc.clone();
            async move {
                let o = run(kubectl(&kc, &["get", "events"]), T).await;
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                text.contains("FailedCreate").then_some(text)
            }
        })
        .await;
        assert!(
            text.contains("is forbidden: maximum cpu usage per Container is 800m, but limit is 2"),
            "{text}"
        );
    }
}
