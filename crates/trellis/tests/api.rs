//! The HTTP API (`/api/v1`), `/metrics` and roles over real HTTP, against `trellis serve` on the
//! local API server: git repositories made with the git CLI, changes pushed and announced by
//! signed webhooks, an independent client (kubectl) to create and inspect resources.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::*;

const ADMIN: &str = "adm-7f3c9e";
const READONLY: &str = "ro-51aa02";
const SHOP: &str = "shop-c0ffee";
const OTHER: &str = "other-bead42";
const PASSWORD: &str = "hunter2-zq";

/// An API call: status and body (JSON when it parses, else a string).
fn call(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut headers = vec![];
    if let Some(t) = token {
        headers.push(("Authorization", format!("Bearer {t}")));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_string()));
    }
    let (code, raw) = http(port, method, path, &headers, body.unwrap_or("").as_bytes());
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn get(port: u16, path: &str, token: &str) -> Value {
    let (code, v) = call(port, "GET", path, Some(token), None);
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

/// An SSE client on its own thread: (when, event, data) for every event.
fn sse(port: u16, query: &str, token: &str) -> mpsc::Receiver<(Instant, String, Value)> {
    let (tx, rx) = mpsc::channel();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET /api/v1/stream{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("send");
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { return };
            if let Some(e) = line
                .strip_prefix("event: ")
                .or_else(|| line.strip_prefix("event:"))
            {
                event = e.trim().to_string();
            } else if let Some(d) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                let v = serde_json::from_str(d.trim()).unwrap_or(Value::Null);
                if tx.send((Instant::now(), event.clone(), v)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Wait for an event satisfying `f`; returns when it arrived.
fn sse_wait(
    rx: &mpsc::Receiver<(Instant, String, Value)>,
    within: Duration,
    f: impl Fn(&str, &Value) -> bool,
) -> Instant {
    let end = Instant::now() + within;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((at, e, v)) if f(&e, &v) => return at,
            Ok(_) => continue,
            Err(_) => panic!("no matching stream event within {within:?}"),
        }
    }
}

fn app_field(port: u16, name: &str, field: &str) -> String {
    let (_, v) = call(
        port,
        "GET",
        &format!("/api/v1/applications/{name}"),
        Some(ADMIN),
        None,
    );
    v[field].as_str().unwrap_or("").to_string()
}

/// A repository with one chart holding a Secret (to see values masked) and a ConfigMap.
fn vault_repo(root: &Path) -> Repo {
    let bare = root.join("remotes/vault.git");
    let work = root.join("work/vault");
    std::fs::create_dir_all(&bare).expect("test step");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    std::fs::create_dir_all(work.join("charts/templates")).expect("test step");
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(
        work.join("charts/Chart.yaml"),
        "apiVersion: v2\nname: vault\nversion: 0.1.0\n",
    )
    .expect("test step");
    std::fs::write(
        work.join("charts/values.yaml"),
        format!("password: {PASSWORD}\ncolour: blue\n"),
    )
    .expect("test step");
    std::fs::write(
        work.join("charts/templates/all.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: vault-creds}\nstringData: {password: {{ .Values.password | quote }}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: vault-settings}\ndata: {colour: {{ .Values.colour | quote }}}\n",
    )
    .expect("test step");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    let url = format!("file://{}", bare.display());
    git(&work, &["remote", "add", "origin", &url]);
    git(&work, &["push", "-q", "origin", "main"]);
    Repo { url, bare, work }
}

fn standalone_app(kc: &Path, name: &str, project: &str, repo: &Repo, ns: &str) {
    kubectl(
        kc,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: trellis.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: trellis}}\nspec:\n  project: {project}\n  source: {{repoURL: \"{}\", path: charts, targetRevision: main}}\n  destination: {{namespace: {ns}}}\n",
            repo.url
        )),
    );
}

#[test]
fn the_api_over_http_with_roles_filters_stream_actions_and_metrics() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    base(&kc);
    let pg = Repo::new(root, "postgres", None);
    let api = Repo::new(root, "api", None);
    let web = Repo::new(root, "web", None);
    let vault = vault_repo(root);
    let slow_root = root.join("slow");
    let slow = Repo::new(&slow_root, "postgres", Some("120s"));
    let tokens = root.join("tokens");
    std::fs::write(
        &tokens,
        format!("# who may do what\n{ADMIN} admin\n{READONLY} readonly\n{SHOP} project:shop\n{OTHER} project:other\n"),
    )
    .expect("test step");
    let tokens_arg = tokens.to_str().expect("test step").to_string();
    let srv = Serve::start(
        &kc,
        &root.join("data"),
        "1h",
        "1s",
        &["--token-file", &tokens_arg],
    );
    assert!(
        srv.wait_ready(Duration::from_secs(60)),
        "trellis serve became ready"
    );
    let port = srv.port;
    kubectl(
        &kc,
        &["apply", "-f", "-"],
        Some(&format!(
            r#"apiVersion: trellis.dev/v1alpha1
kind: EnvironmentSet
metadata: {{name: previews, namespace: trellis}}
spec:
  project: shop
  defaultRevision: main
  branches: {{include: ".*", exclude: "^main$"}}
  namespaceTemplate: "{{{{branch}}}}"
  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}
  cleanup: {{whenBranchDeleted: true, whenMerged: false, gracePeriod: 1s}}
  services:
    - name: postgres
      source: {{repoURL: "{}", path: charts}}
    - name: web
      dependsOn: [api]
      source: {{repoURL: "{}", path: charts}}
    - name: api
      dependsOn: [postgres]
      source: {{repoURL: "{}", path: charts}}
"#,
            pg.url, web.url, api.url
        )),
    );

    // --- authentication: who is who, and no token / an unknown token get 401 -----------------
    for (t, role) in [
        (ADMIN, "admin"),
        (READONLY, "readonly"),
        (SHOP, "project:shop"),
    ] {
        assert_eq!(get(port, "/api/v1/whoami", t)["role"], role);
    }
    let (code, v) = call(port, "GET", "/api/v1/applications", None, None);
    assert_eq!(code, 401, "{v}");
    assert!(
        v["error"].as_str().expect("test step").contains("Bearer"),
        "{v}"
    );
    assert_eq!(
        call(port, "GET", "/api/v1/whoami", Some("nope"), None).0,
        401
    );

    // --- a pushed branch becomes an environment; the stream shows it --------------------------
    let stream_env = sse(port, "?environment=feature-a", READONLY);
    sse_wait(&stream_env, Duration::from_secs(5), |e, _| e == "ready");
    let head = api.commit("feature-a", "# feature a");
    assert_eq!(
        srv.github(
            "push",
            &push_payload(&api, "feature-a", &head, false),
            SECRET
        ),
        202
    );
    sse_wait(&stream_env, Duration::from_secs(30), |e, v| {
        e == "environment" && v["name"] == "feature-a" && v["action"] == "upsert"
    });
    wait_for(
        "environment feature-a Ready through the API",
        Duration::from_secs(120),
        || {
            let (c, v) = call(
                port,
                "GET",
                "/api/v1/environments/feature-a",
                Some(READONLY),
                None,
            );
            c == 200 && v["phase"] == "Ready"
        },
    );
    let env = get(port, "/api/v1/environments/feature-a", READONLY);
    assert_eq!(env["branch"], "feature-a");
    assert_eq!(env["ready"], 3);
    assert_eq!(env["total"], 3);
    assert_eq!(env["health"]["Healthy"], 3, "{env}");
    let order: Vec<&str> = env["services"]
        .as_array()
        .expect("test step")
        .iter()
        .map(|s| s["name"].as_str().expect("test step"))
        .collect();
    assert_eq!(order, ["postgres", "api", "web"], "dependencies first");
    let api_svc = &env["services"][1];
    assert_eq!(api_svc["hasBranch"], true);
    assert_eq!(api_svc["revision"], head.as_str());
    assert_eq!(env["services"][0]["revision"], pg.main_commit().as_str());
    let (_, early_metrics) = srv.get("/metrics");
    let list = get(port, "/api/v1/environments", READONLY);
    assert!(
        list["items"]
            .as_array()
            .expect("test step")
            .iter()
            .any(|e| e["name"] == "feature-a")
    );
    // Events from other environments do not reach a filtered stream.
    while let Ok((_, _, v)) = stream_env.try_recv() {
        assert_eq!(v["environment"], "feature-a", "{v}");
    }

    // --- lists: filters, search, pagination -----------------------------------------------
    let all = get(port, "/api/v1/applications?environment=feature-a", READONLY);
    assert_eq!(all["total"], 3);
    let names: Vec<&str> = all["items"]
        .as_array()
        .expect("test step")
        .iter()
        .map(|a| a["name"].as_str().expect("test step"))
        .collect();
    assert_eq!(
        names,
        ["feature-a-api", "feature-a-postgres", "feature-a-web"]
    );
    assert_eq!(all["items"][0]["syncStatus"], "Synced");
    for a in all["items"].as_array().expect("items") {
        // Ready: what it waited for and why it was not healthy are gone, not left stale.
        assert!(
            a.get("waitingFor").is_none() && a.get("healthMessage").is_none(),
            "{a}"
        );
    }
    assert_eq!(all["items"][0]["project"], "shop");
    let p1 = get(
        port,
        "/api/v1/applications?environment=feature-a&limit=2",
        READONLY,
    );
    assert_eq!(p1["items"].as_array().expect("test step").len(), 2);
    assert_eq!(p1["total"], 3);
    let cont = p1["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    let p2 = get(
        port,
        &format!("/api/v1/applications?environment=feature-a&limit=2&continue={cont}"),
        READONLY,
    );
    assert_eq!(p2["items"].as_array().expect("test step").len(), 1);
    assert_eq!(p2["items"][0]["name"], "feature-a-web");
    assert!(p2.get("continue").is_none(), "{p2}");
    let s = get(
        port,
        "/api/v1/applications?search=FEATURE-A%20postg",
        READONLY,
    );
    assert_eq!(s["total"], 1, "{s}");
    assert_eq!(s["items"][0]["service"], "postgres");
    assert_eq!(
        get(
            port,
            "/api/v1/applications?health=healthy&sync=Synced&project=shop",
            READONLY
        )["total"],
        3
    );
    assert_eq!(
        get(port, "/api/v1/applications?health=Degraded", READONLY)["total"],
        0
    );
    // A project role sees its project only.
    assert_eq!(get(port, "/api/v1/applications", OTHER)["total"], 0);
    assert_eq!(get(port, "/api/v1/applications", SHOP)["total"], 3);
    let (code, v) = call(
        port,
        "GET",
        "/api/v1/applications/feature-a-api",
        Some(OTHER),
        None,
    );
    assert_eq!(code, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("test step")
            .contains("project:other"),
        "{v}"
    );

    // --- bad requests get 4xx with a JSON error saying what is wrong --------------------------
    for (path, want, needle) in [
        ("/api/v1/applications?limit=0", 400, "limit"),
        ("/api/v1/applications?limit=abc", 400, "limit"),
        ("/api/v1/applications?health=Great", 400, "Great"),
        ("/api/v1/applications?colour=red", 400, "colour"),
        ("/api/v1/applications?continue=garbage", 400, "continue"),
        (
            "/api/v1/applications/Bad_Name",
            400,
            "invalid application name",
        ),
        ("/api/v1/applications/nope", 404, "not found"),
        ("/api/v1/environments/nope", 404, "not found"),
        ("/api/v1/nothing-here", 404, "no such API route"),
    ] {
        let (code, v) = call(port, "GET", path, Some(ADMIN), None);
        assert_eq!(code, want, "{path}: {v}");
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no JSON error: {v}"));
        assert!(msg.contains(needle), "{path}: {msg}");
    }
    let sync_path = "/api/v1/applications/feature-a-api/sync";
    let (code, v) = call(
        port,
        "POST",
        sync_path,
        Some(ADMIN),
        Some(r#"{"prnue": true}"#),
    );
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"].as_str().expect("test step").contains("prnue"),
        "{v}"
    );
    let (code, v) = call(port, "POST", sync_path, Some(ADMIN), Some("{not json"));
    assert_eq!(code, 400, "{v}");
    let big = format!(
        r#"{{"resources": [{}]}}"#,
        vec![r#"{"kind":"ConfigMap","name":"x"}"#; 4000].join(",")
    );
    let (code, v) = call(port, "POST", sync_path, Some(ADMIN), Some(&big));
    assert_eq!(code, 413, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("test step")
            .contains("larger than"),
        "{v}"
    );

    // --- roles on actions ---------------------------------------------------------------------
    let (code, v) = call(port, "POST", sync_path, Some(READONLY), Some("{}"));
    assert_eq!(code, 403, "{v}");
    assert!(
        v["error"].as_str().expect("test step").contains("readonly"),
        "{v}"
    );
    assert_eq!(call(port, "POST", sync_path, None, Some("{}")).0, 401);
    assert_eq!(
        call(port, "POST", sync_path, Some(OTHER), Some("{}")).0,
        403
    );
    assert_eq!(
        call(
            port,
            "POST",
            "/api/v1/applications/feature-a-api/refresh",
            Some(READONLY),
            None
        )
        .0,
        403
    );
    assert_eq!(
        call(
            port,
            "DELETE",
            "/api/v1/environments/feature-a",
            Some(SHOP),
            None
        )
        .0,
        403
    );
    // Automated Applications refuse another revision and rollbacks (as Argo CD does).
    let (code, v) = call(
        port,
        "POST",
        sync_path,
        Some(SHOP),
        Some(r#"{"revision": "v0.0.1"}"#),
    );
    assert_eq!(code, 409, "{v}");
    let (code, v) = call(
        port,
        "POST",
        "/api/v1/applications/feature-a-api/rollback",
        Some(ADMIN),
        Some(r#"{"id": 1}"#),
    );
    assert_eq!(code, 409, "{v}");
    let (code, v) = call(
        port,
        "POST",
        "/api/v1/applications/feature-a-api/terminate",
        Some(ADMIN),
        None,
    );
    assert_eq!(code, 409, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("test step")
            .contains("no running operation"),
        "{v}"
    );
    let (code, v) = call(
        port,
        "POST",
        sync_path,
        Some(SHOP),
        Some(r#"{"prune": true}"#),
    );
    assert_eq!(code, 202, "{v}");

    // --- an Application with its live tree, history, events, logs --------------------------
    let detail = get(port, "/api/v1/applications/feature-a-api", READONLY);
    assert_eq!(detail["environment"], "feature-a");
    assert_eq!(detail["spec"]["source"]["repoURL"], api.url.as_str());
    let tree = detail["tree"].as_array().expect("test step");
    let deploy = tree
        .iter()
        .find(|n| n["kind"] == "Deployment")
        .expect("a Deployment in the tree");
    assert_eq!(deploy["health"], "Healthy", "{deploy}");
    assert_eq!(deploy["sync"], "Synced");
    let rs = &deploy["children"][0];
    assert_eq!(rs["kind"], "ReplicaSet", "{deploy}");
    let pods = rs["children"]
        .as_array()
        .expect("pods under the ReplicaSet");
    assert!(
        !pods.is_empty()
            && pods
                .iter()
                .all(|p| p["kind"] == "Pod" && p["health"] == "Healthy"),
        "{rs}"
    );
    assert!(tree.iter().any(|n| n["kind"] == "Service"));
    let pg_tree = get(port, "/api/v1/applications/feature-a-postgres", READONLY);
    let seed = pg_tree["tree"]
        .as_array()
        .expect("test step")
        .iter()
        .find(|n| n["kind"] == "Job")
        .expect("the seed hook Job");
    assert_eq!(seed["hook"], true, "{seed}");
    assert_eq!(seed["syncPhase"], "PreSync", "{seed}");
    assert_eq!(seed["hookPhase"], "Succeeded", "{seed}");
    let history = get(port, "/api/v1/applications/feature-a-api/history", READONLY);
    assert!(history[0]["revision"] == head.as_str(), "{history}");
    // Events: one about the Deployment (as the cluster's controllers write them) shows up.
    let deploy_name = deploy["name"].as_str().expect("test step");
    kubectl(
        &kc,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: e1, namespace: feature-a}}\ninvolvedObject: {{kind: Deployment, name: {deploy_name}, namespace: feature-a, apiVersion: apps/v1}}\nreason: ScalingReplicaSet\nmessage: Scaled up replica set to 2\ntype: Normal\ncount: 1\n---\napiVersion: v1\nkind: Event\nmetadata: {{name: e2, namespace: feature-a}}\ninvolvedObject: {{kind: ConfigMap, name: unrelated, namespace: feature-a}}\nreason: Other\nmessage: not ours\n"
        )),
    );
    let events = get(port, "/api/v1/applications/feature-a-api/events", READONLY);
    let events = events.as_array().expect("test step");
    // The one written above, and what the cluster's controllers and kubelet recorded about the
    // Deployment, its ReplicaSet and Pods; never an event of an object outside the tree.
    assert!(
        events.iter().any(|e| e["reason"] == "ScalingReplicaSet"
            && e["message"] == "Scaled up replica set to 2"
            && e["object"] == format!("Deployment/{deploy_name}")),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e["message"] != "not ours"),
        "{events:?}"
    );
    let mut in_tree = vec![format!("Deployment/{deploy_name}")];
    in_tree.push(format!("ReplicaSet/{}", rs["name"].as_str().expect("name")));
    in_tree.extend(
        pods.iter()
            .map(|p| format!("Pod/{}", p["name"].as_str().expect("name"))),
    );
    in_tree.extend(tree.iter().map(|n| {
        format!(
            "{}/{}",
            n["kind"].as_str().expect("kind"),
            n["name"].as_str().expect("name")
        )
    }));
    for e in events {
        assert!(
            in_tree.contains(&e["object"].as_str().expect("object").to_string()),
            "{e} is not about the tree {in_tree:?}"
        );
    }
    // Logs of one of its Pods; a Pod that is not its own is refused.
    let pod = pods[0]["name"].as_str().expect("test step");
    let (code, log) = call(
        port,
        "GET",
        &format!("/api/v1/applications/feature-a-api/logs?pod={pod}&follow=false"),
        Some(READONLY),
        None,
    );
    assert_eq!(code, 200, "{log}");
    assert!(log.as_str().unwrap_or("").contains("started"), "{log}");
    let (code, v) = call(
        port,
        "GET",
        "/api/v1/applications/feature-a-api/logs?pod=someone-else",
        Some(READONLY),
        None,
    );
    assert_eq!(code, 404, "{v}");

    // --- a manual Application: diff (Secret masked), sync, refresh, history, rollback ---------
    let stream_all = sse(port, "", ADMIN);
    sse_wait(&stream_all, Duration::from_secs(5), |e, _| e == "ready");
    standalone_app(&kc, "vault", "shop", &vault, "vault");
    let created = Instant::now();
    let seen = sse_wait(&stream_all, Duration::from_secs(5), |e, v| {
        e == "application" && v["name"] == "vault"
    });
    let latency = seen.duration_since(created);
    assert!(
        latency < Duration::from_secs(1),
        "the stream showed the new Application after {latency:?}"
    );
    wait_for("vault compared", Duration::from_secs(60), || {
        app_field(port, "vault", "syncStatus") == "OutOfSync"
    });
    let diff = get(port, "/api/v1/applications/vault/diff", SHOP);
    let text = diff.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("aHVudGVyMi16cQ"),
        "a Secret value left the server: {text}"
    );
    let secret = diff["objects"]
        .as_array()
        .expect("test step")
        .iter()
        .find(|o| o["kind"] == "Secret")
        .expect("the Secret");
    assert_eq!(secret["status"], "Missing", "{secret}");
    assert_eq!(diff["revision"], vault.main_commit().as_str());
    let first = vault.main_commit();
    let (code, v) = call(
        port,
        "POST",
        "/api/v1/applications/vault/sync",
        Some(SHOP),
        None,
    );
    assert_eq!(code, 202, "an empty body syncs everything: {v}");
    wait_for("vault synced", Duration::from_secs(60), || {
        app_field(port, "vault", "syncStatus") == "Synced"
    });
    let tree = get(port, "/api/v1/applications/vault", SHOP)["tree"].to_string();
    assert!(
        !tree.contains(PASSWORD) && !tree.contains("aHVudGVyMi16cQ"),
        "{tree}"
    );
    // A new commit on main is seen after a refresh (polling is an hour here).
    let p = vault.work.join("charts/values.yaml");
    std::fs::write(&p, format!("password: {PASSWORD}\ncolour: green\n")).expect("test step");
    git(&vault.work, &["commit", "-q", "-am", "green"]);
    git(&vault.work, &["push", "-q", "origin", "main"]);
    let second = vault.main_commit();
    let (code, _) = call(
        port,
        "POST",
        "/api/v1/applications/vault/refresh",
        Some(SHOP),
        None,
    );
    assert_eq!(code, 202);
    wait_for(
        "vault out of sync after the refresh",
        Duration::from_secs(60),
        || app_field(port, "vault", "syncStatus") == "OutOfSync",
    );
    let diff = get(port, "/api/v1/applications/vault/diff", SHOP);
    let cm = diff["objects"]
        .as_array()
        .expect("test step")
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("the ConfigMap");
    assert_eq!(cm["status"], "OutOfSync");
    assert!(
        cm["diff"].as_str().expect("test step").contains("green"),
        "{cm}"
    );
    assert_eq!(
        call(
            port,
            "POST",
            "/api/v1/applications/vault/sync",
            Some(SHOP),
            Some("{}")
        )
        .0,
        202
    );
    wait_for(
        "vault at the second commit",
        Duration::from_secs(60),
        || get(port, "/api/v1/applications/vault/history", SHOP)[0]["revision"] == second.as_str(),
    );
    let history = get(port, "/api/v1/applications/vault/history", SHOP);
    let first_id = history
        .as_array()
        .expect("test step")
        .iter()
        .find(|h| h["revision"] == first.as_str())
        .expect("first deploy")["id"]
        .as_i64()
        .expect("test step");
    let (code, v) = call(
        port,
        "POST",
        "/api/v1/applications/vault/rollback",
        Some(SHOP),
        Some(r#"{"id": 999}"#),
    );
    assert_eq!(code, 404, "{v}");
    let (code, v) = call(
        port,
        "POST",
        "/api/v1/applications/vault/rollback",
        Some(SHOP),
        Some(&format!(r#"{{"id": {first_id}}}"#)),
    );
    assert_eq!(code, 202, "{v}");
    wait_for("vault rolled back", Duration::from_secs(60), || {
        get(port, "/api/v1/applications/vault/history", SHOP)[0]["revision"] == first.as_str()
    });
    let live = kubectl(
        &kc,
        &[
            "get",
            "configmap",
            "vault-settings",
            "-n",
            "vault",
            "-o",
            "jsonpath={.data.colour}",
        ],
        None,
    );
    assert_eq!(live, "blue", "the rollback deployed the first commit");

    // --- terminate a running sync ---------------------------------------------------------------
    standalone_app(&kc, "slowdb", "shop", &slow, "slowdb");
    wait_for("slowdb known", Duration::from_secs(30), || {
        app_field(port, "slowdb", "name") == "slowdb"
    });
    assert_eq!(
        call(
            port,
            "POST",
            "/api/v1/applications/slowdb/sync",
            Some(ADMIN),
            None
        )
        .0,
        202
    );
    wait_for("slowdb's sync running", Duration::from_secs(60), || {
        app_field(port, "slowdb", "operationPhase") == "Running"
    });
    let (code, v) = call(
        port,
        "POST",
        "/api/v1/applications/slowdb/terminate",
        Some(SHOP),
        None,
    );
    assert_eq!(code, 202, "{v}");
    let t = Instant::now();
    while app_field(port, "slowdb", "operationPhase") != "Failed"
        && t.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = get(port, "/api/v1/applications/slowdb", ADMIN);
    assert_eq!(
        st["operationPhase"], "Failed",
        "the sync was not terminated: {}",
        st["status"]
    );
    assert!(
        st["status"]["operationState"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("terminated"),
        "{}",
        st["status"]
    );

    // --- metrics ------------------------------------------------------------------------------
    let (code, text) = srv.get("/metrics");
    // The series moved as the run went: more syncs, renders, fetches and API requests than at
    // the first scrape; the terminated sync counted; vault's info series followed its status.
    for family in [
        r#"trellis_sync_total{result="succeeded"}"#,
        "trellis_render_duration_seconds_count",
        "trellis_git_fetch_duration_seconds_count",
        r#"trellis_kube_requests_total{verb="patch",code="200"}"#,
    ] {
        let (a, b) = (sample(&early_metrics, family), sample(&text, family));
        assert!(b > a, "{family} did not grow: {a} then {b}");
    }
    assert_eq!(
        sample(&early_metrics, r#"trellis_sync_total{result="terminated"}"#),
        0.0
    );
    assert_eq!(
        sample(&text, r#"trellis_sync_total{result="terminated"}"#),
        1.0
    );
    assert!(
        text.contains(
            r#"trellis_app_info{name="vault",environment="",project="shop",sync_status="OutOfSync""#
        ),
        "{text}"
    );
    assert!(!early_metrics.contains(r#"name="vault""#));
    assert_eq!(code, 200);
    for needle in [
        r#"trellis_app_info{name="feature-a-api",environment="feature-a",project="shop",sync_status="Synced",health_status="Healthy"} 1"#,
        r#"trellis_environments{phase="Ready"} 1"#,
        r#"trellis_webhooks_total{provider="github",result="accepted"} 1"#,
        r#"trellis_sync_total{result="succeeded"}"#,
        "trellis_reconcile_duration_seconds_bucket",
        "trellis_render_duration_seconds_count",
        r#"trellis_git_fetch_total{repo="#,
        "trellis_git_fetch_duration_seconds_count",
        r#"trellis_kube_requests_total{verb="patch",code="200"}"#,
        r#"trellis_kube_requests_total{verb="watch""#,
        "trellis_queue_depth",
        "trellis_queue_wait_seconds_count",
        "trellis_environment_ready_seconds_count ",
        "# EOF",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }

    // Every metric the Grafana dashboard queries is one /metrics serves.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/trellis.json"),
        )
        .expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 15, "{exprs:?}");
    let served: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for e in &exprs {
        let names: Vec<&str> = e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("trellis_"))
            .collect();
        assert!(!names.is_empty(), "query names no Trellis metric: {e}");
        for n in names {
            assert!(
                served.contains(n),
                "the dashboard queries {n}, which /metrics does not serve ({e})"
            );
        }
    }

    // --- the OpenAPI document and the UI --------------------------------------------------
    let (code, doc) = call(port, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(code, 200);
    assert!(
        doc["paths"]["/api/v1/applications/{name}/sync"]["post"].is_object(),
        "{doc}"
    );
    let (code, page) = srv.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("<title>Trellis"), "{page}");

    // --- deleting an environment: gone, and not recreated while its branch has no new commit ---
    let (code, v) = call(
        port,
        "DELETE",
        "/api/v1/environments/feature-a",
        Some(ADMIN),
        None,
    );
    assert_eq!(code, 202, "{v}");
    let t = Instant::now();
    let gone = || {
        call(
            port,
            "GET",
            "/api/v1/environments/feature-a",
            Some(ADMIN),
            None,
        )
        .0 == 404
            && get(port, "/api/v1/applications?environment=feature-a", ADMIN)["total"] == 0
    };
    while !gone() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        gone(),
        "environment feature-a not deleted: {:?} {:?}",
        get_json(&kc, "environments.trellis.dev/feature-a"),
        get_json(&kc, "environmentsets.trellis.dev/previews").map(|s| s["status"].clone())
    );
    assert_eq!(
        srv.github(
            "push",
            &push_payload(&api, "feature-a", &head, false),
            SECRET
        ),
        202
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        call(
            port,
            "GET",
            "/api/v1/environments/feature-a",
            Some(ADMIN),
            None
        )
        .0,
        404,
        "recreated without a new commit"
    );
    let head2 = api.commit("feature-a", "# again");
    assert_eq!(
        srv.github(
            "push",
            &push_payload(&api, "feature-a", &head2, false),
            SECRET
        ),
        202
    );
    wait_for(
        "environment feature-a back after a new commit",
        Duration::from_secs(60),
        || {
            call(
                port,
                "GET",
                "/api/v1/environments/feature-a",
                Some(ADMIN),
                None,
            )
            .0 == 200
        },
    );

    // --- a second replica (standby: no Lease) serves the API from its own watches; anonymous
    // reading only where it is switched on -----------------------------------------------------
    let standby = Serve::start(&kc, &root.join("data2"), "1h", "1s", &["--anonymous-read"]);
    wait_for("the standby answers", Duration::from_secs(30), || {
        standby.get("/healthz").0 == 200
    });
    wait_for(
        "the standby lists without a token",
        Duration::from_secs(30),
        || {
            let (c, v) = call(
                standby.port,
                "GET",
                "/api/v1/applications?search=vault",
                None,
                None,
            );
            c == 200 && v["total"] == 1
        },
    );
    assert_eq!(get(standby.port, "/api/v1/whoami", "")["role"], "anonymous");
    let (code, v) = call(
        standby.port,
        "POST",
        "/api/v1/applications/vault/sync",
        None,
        Some("{}"),
    );
    assert_eq!(code, 401, "anonymous reading never allows acting: {v}");
    assert_eq!(
        call(port, "GET", "/api/v1/applications", None, None).0,
        401,
        "the first server has no anonymous reading"
    );
}

/// Every PromQL `expr` of a Grafana dashboard (panels, rows, variables).
fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

/// The value of one series in a /metrics text (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}
