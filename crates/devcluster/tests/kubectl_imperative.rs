//! kubectl's imperative commands, which write with client-go's typed clients — protobuf bodies
//! (`application/vnd.kubernetes.protobuf`) and protobuf answers — against a started cluster.
//! Each object must then read back (as JSON) with the fields the command set.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

async fn ok(kc: &std::path::Path, args: &[&str]) -> String {
    let o = run(kubectl(kc, args), T).await;
    assert!(o.status.success(), "kubectl {args:?} failed: {}", out(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

async fn json_of(kc: &std::path::Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    let text = ok(kc, &a).await;
    serde_json::from_str(&text).expect("kubectl prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_imperative_create_run_and_expose_works() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let k = kc.as_path();

    assert!(
        ok(k, &["create", "namespace", "x"])
            .await
            .contains("namespace/x created")
    );
    let creates: &[&[&str]] = &[
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--replicas=2",
            "--port=80",
        ],
        &[
            "create",
            "deployment",
            "zero",
            "--image=nginx",
            "--replicas=0",
        ],
        &[
            "create",
            "job",
            "once",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
        &["create", "serviceaccount", "robot"],
        &[
            "create",
            "ingress",
            "site",
            "--class=nginx",
            "--rule=example.com/*=web:80,tls=site-tls",
        ],
        &[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
        ],
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cret",
        ],
        &["create", "service", "clusterip", "api", "--tcp=8080:80"],
        &[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods",
        ],
        &[
            "create",
            "rolebinding",
            "reader",
            "--role=reader",
            "--serviceaccount=x:robot",
        ],
        &[
            "create",
            "cronjob",
            "nightly",
            "--image=busybox",
            "--schedule=0 3 * * *",
        ],
        // Not cpu/memory: the quota would then refuse Pods without requests, as a real one does.
        &[
            "create",
            "quota",
            "small",
            "--hard=requests.storage=1G,pods=10",
        ],
        &[
            "create",
            "poddisruptionbudget",
            "web-pdb",
            "--selector=app=web",
            "--min-available=50%",
        ],
    ];
    for args in creates {
        // The namespace goes first: a Job's command follows `--`.
        let mut a = vec!["-n", "x"];
        a.extend_from_slice(args);
        let printed = ok(k, &a).await;
        assert!(printed.contains("created"), "{args:?}: {printed}");
    }
    let pc = ok(
        k,
        &[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=urgent",
        ],
    )
    .await;
    assert!(
        pc.contains("priorityclass.scheduling.k8s.io/high created"),
        "{pc}"
    );
    let run_out = ok(
        k,
        &[
            "run",
            "shell",
            "-n",
            "x",
            "--image=busybox",
            "--labels=app=shell",
            "--port=8080",
        ],
    )
    .await;
    assert!(run_out.contains("pod/shell created"), "{run_out}");
    let exposed = ok(
        k,
        &[
            "expose",
            "deployment",
            "web",
            "-n",
            "x",
            "--port=80",
            "--target-port=8080",
        ],
    )
    .await;
    assert!(exposed.contains("service/web exposed"), "{exposed}");

    // What each command wrote reads back with its fields.
    let d = json_of(k, &["get", "deployment", "web", "-n", "x"]).await;
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");
    assert!(
        d["metadata"]["creationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{d}"
    );
    let zero = json_of(k, &["get", "deployment", "zero", "-n", "x"]).await;
    assert_eq!(
        zero["spec"]["replicas"], 0,
        "an explicit zero survives protobuf"
    );
    let job = json_of(k, &["get", "job", "once", "-n", "x"]).await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        serde_json::json!(["echo", "hi"])
    );
    let ing = json_of(k, &["get", "ingress", "site", "-n", "x"]).await;
    assert_eq!(ing["spec"]["ingressClassName"], "nginx");
    assert_eq!(ing["spec"]["rules"][0]["host"], "example.com");
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"],
        80
    );
    assert_eq!(ing["spec"]["tls"][0]["secretName"], "site-tls");
    let cm = json_of(k, &["get", "configmap", "settings", "-n", "x"]).await;
    assert_eq!(cm["data"]["mode"], "fast");
    let s = json_of(k, &["get", "secret", "creds", "-n", "x"]).await;
    assert_eq!(s["data"]["password"], "czNjcmV0");
    let svc = json_of(k, &["get", "service", "api", "-n", "x"]).await;
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"], 80,
        "IntOrString as a number"
    );
    let web = json_of(k, &["get", "service", "web", "-n", "x"]).await;
    assert_eq!(web["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(web["spec"]["selector"]["app"], "web");
    let role = json_of(k, &["get", "role", "reader", "-n", "x"]).await;
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods"]));
    let rb = json_of(k, &["get", "rolebinding", "reader", "-n", "x"]).await;
    assert_eq!(rb["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(rb["roleRef"]["name"], "reader");
    let cj = json_of(k, &["get", "cronjob", "nightly", "-n", "x"]).await;
    assert_eq!(cj["spec"]["schedule"], "0 3 * * *");
    let q = json_of(k, &["get", "quota", "small", "-n", "x"]).await;
    assert_eq!(
        q["spec"]["hard"]["requests.storage"], "1G",
        "a Quantity as its string"
    );
    let pdb = json_of(k, &["get", "pdb", "web-pdb", "-n", "x"]).await;
    assert_eq!(
        pdb["spec"]["minAvailable"], "50%",
        "IntOrString as a string"
    );
    let pc = json_of(k, &["get", "priorityclass", "high"]).await;
    assert_eq!(pc["value"], 1000);
    let pod = json_of(k, &["get", "pod", "shell", "-n", "x"]).await;
    assert_eq!(pod["metadata"]["labels"]["app"], "shell");
    let sa = json_of(k, &["get", "serviceaccount", "robot", "-n", "x"]).await;
    assert_eq!(sa["metadata"]["namespace"], "x");

    // Errors come back as a protobuf Status kubectl reads.
    let again = run(kubectl(k, &["create", "namespace", "x"]), T).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("Error from server (AlreadyExists): namespaces \"x\" already exists"),
        "{}",
        out(&again)
    );

    // Typed reads, updates and deletes also go through protobuf.
    let scaled = ok(
        k,
        &["scale", "deployment", "web", "-n", "x", "--replicas=3"],
    )
    .await;
    assert!(scaled.contains("scaled"), "{scaled}");
    let labeled = ok(
        k,
        &["label", "configmap", "settings", "-n", "x", "tier=gold"],
    )
    .await;
    assert!(labeled.contains("labeled"), "{labeled}");
    let deleted = ok(k, &["delete", "namespace", "x", "--wait=false"]).await;
    assert!(deleted.contains("deleted"), "{deleted}");
}

/// A client asking for protobuf first gets protobuf for built-in kinds and JSON for custom ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_in_protobuf_when_asked_first() {
    let c = start().await;
    let req = http::Request::builder()
        .method("GET")
        .uri("/api/v1/namespaces/default")
        .header(
            "accept",
            "application/vnd.kubernetes.protobuf, application/json",
        )
        .body(Vec::new())
        .expect("valid request");
    let resp = c
        .client()
        .send(req.map(kube::client::Body::from))
        .await
        .expect("request is sent");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/vnd.kubernetes.protobuf")
    );
    use http_body_util::BodyExt;
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("body is read")
        .to_bytes();
    let v = devcluster::proto::decode(&bytes).expect("a protobuf Namespace");
    assert_eq!(v["kind"], "Namespace");
    assert_eq!(v["metadata"]["name"], "default");
    assert_eq!(v["status"]["phase"], "Active");
}
