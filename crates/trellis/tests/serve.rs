//! `trellis serve` end to end, through the interfaces a user drives: git repositories made with the
//! git CLI (served as `file://`), `kubectl apply` of an EnvironmentSet, signed GitHub webhooks over
//! HTTP, `kubectl get environments/applications.trellis.dev`, against the local API server.
//!
//! Polling is set to an hour, so every change below arrives by webhook (or not at all).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

mod support;
use support::*;

// The source crate's smart-HTTP git server (`git http-backend` behind a small HTTP/1.1 server,
// optional basic auth), shared rather than written twice.
#[path = "../../source/tests/support/mod.rs"]
mod git_http;

#[test]
fn webhooks_turn_branches_into_environments_and_cleanup_removes_them() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api, web) = (
        Repo::new(tmp.path(), "postgres", None),
        Repo::new(tmp.path(), "api", None),
        Repo::new(tmp.path(), "web", None),
    );
    base(&kc);
    // No polling and no periodic cleanup: only webhooks make anything happen.
    let serve = Serve::start(
        &kc,
        &tmp.path().join("data"),
        "1h",
        "1h",
        &["--no-leader-election"],
    );
    assert!(
        serve.wait_ready(Duration::from_secs(60)),
        "trellis serve became ready"
    );
    assert_eq!(serve.get("/healthz").0, 200);
    setup(&kc, &[&pg, &api, &web], "previews", "{{branch}}");

    // A pushed branch + a signed webhook → an Environment, Ready, with the right revisions.
    let tip = api.commit("feat-a", "greeting: feature a");
    assert_eq!(
        serve.github("push", &push_payload(&api, "feat-a", &tip, false), SECRET),
        202
    );
    wait_for("environment feat-a Ready", Duration::from_secs(90), || {
        env_phase(&kc, "feat-a").as_deref() == Some("Ready")
    });
    let env = get_json(&kc, "environments.trellis.dev/feat-a").expect("environment");
    let revision = |svc: &str| service_revision(&env, svc);
    assert_eq!(revision("api"), tip, "{env}");
    assert_eq!(revision("postgres"), pg.main_commit(), "{env}");
    assert_eq!(revision("web"), web.main_commit(), "{env}");
    assert_eq!(env["status"]["ready"], json!(3));
    let apps = get_json(&kc, "applications.trellis.dev").expect("applications");
    let names: Vec<&str> = apps["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|a| a["metadata"]["labels"]["trellis.dev/environment"] == "feat-a")
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // The api image tag is the commit ($TRELLIS_APP_REVISION).
    let cm = kubectl(
        &kc,
        &["get", "configmap", "api", "-n", "feat-a", "-o", "json"],
        None,
    );
    assert!(cm.contains(&tip), "{cm}");
    let seed_uid = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-a",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    assert!(!seed_uid.is_empty());
    let pg_started = |kc: &Path| {
        get_json(kc, "applications.trellis.dev/feat-a-postgres").and_then(|a| {
            a["status"]["operationState"]["startedAt"]
                .as_str()
                .map(str::to_string)
        })
    };
    let pg_op = pg_started(&kc);

    // A bad signature: 401, and nothing happens.
    let other = web.commit("feat-b", "greeting: b");
    assert_eq!(
        serve.github(
            "push",
            &push_payload(&web, "feat-b", &other, false),
            "wrong"
        ),
        401
    );
    let (code, body) = http(
        serve.port,
        "POST",
        "/webhooks/github",
        &[("X-GitHub-Event", "push".into())],
        b"{}",
    );
    assert_eq!(code, 401, "{body}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        env_phase(&kc, "feat-b"),
        None,
        "no environment without a valid webhook"
    );

    // A new commit re-syncs api only; the seed Job is not run again.
    let tip2 = api.commit("feat-a", "replicas: 1");
    assert_eq!(
        serve.github("push", &push_payload(&api, "feat-a", &tip2, false), SECRET),
        202
    );
    wait_for("api at the new commit", Duration::from_secs(60), || {
        get_json(&kc, "applications.trellis.dev/feat-a-api").is_some_and(|a| {
            a["status"]["sync"]["revision"] == tip2 && a["status"]["health"]["status"] == "Healthy"
        })
    });
    let uid_after = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-a",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    assert_eq!(uid_after, seed_uid, "the seed Job was not re-created");
    assert_eq!(pg_started(&kc), pg_op, "postgres was not synced again");

    // Branch deleted (webhook) → removed after the grace period, namespace included.
    git(&api.work, &["push", "-q", "origin", "--delete", "feat-a"]);
    assert_eq!(
        serve.github(
            "push",
            &push_payload(&api, "feat-a", &"0".repeat(40), true),
            SECRET
        ),
        202
    );
    wait_for(
        "environment feat-a removed",
        Duration::from_secs(90),
        || {
            env_phase(&kc, "feat-a").is_none()
                && Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&kc)
                    .args(["get", "namespace", "feat-a"])
                    .output()
                    .is_ok_and(|o| !o.status.success())
        },
    );

    // Merged into main → removed.
    let c = web.commit("feat-c", "greeting: c");
    assert_eq!(
        serve.github("push", &push_payload(&web, "feat-c", &c, false), SECRET),
        202
    );
    wait_for("environment feat-c Ready", Duration::from_secs(90), || {
        env_phase(&kc, "feat-c").as_deref() == Some("Ready")
    });
    git(&web.work, &["push", "-q", "origin", "feat-c:main"]);
    assert_eq!(
        serve.github("push", &push_payload(&web, "main", &c, false), SECRET),
        202
    );
    wait_for(
        "merged environment feat-c removed",
        Duration::from_secs(90),
        || env_phase(&kc, "feat-c").is_none(),
    );

    // git unreachable during cleanup → nothing is removed.
    let d = pg.commit("feat-d", "database: d");
    assert_eq!(
        serve.github("push", &push_payload(&pg, "feat-d", &d, false), SECRET),
        202
    );
    wait_for("environment feat-d", Duration::from_secs(90), || {
        env_phase(&kc, "feat-d").is_some()
    });
    let moved = pg.bare.with_extension("moved");
    std::fs::rename(&pg.bare, &moved).expect("make the repository unreachable");
    // Deletion webhooks run the cleanup check, which fetches: it fails, so nothing is decided.
    for _ in 0..3 {
        assert_eq!(
            serve.github(
                "push",
                &push_payload(&pg, "feat-d", &"0".repeat(40), true),
                SECRET
            ),
            202
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        env_phase(&kc, "feat-d").is_some(),
        "a failed fetch deletes nothing"
    );
    wait_for("the environment says why", Duration::from_secs(30), || {
        get_json(&kc, "environments.trellis.dev/feat-d").is_some_and(|env| {
            env["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "RepoUnreachable"))
        })
    });
    // A failing Application is not rewritten (nor woken by its own write) on every reconcile.
    let rv = |kc: &Path| {
        get_json(kc, "applications.trellis.dev/feat-d-postgres").and_then(|a| {
            a["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string)
        })
    };
    let before = rv(&kc);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        rv(&kc),
        before,
        "the Application's status is stable while nothing changes"
    );
    std::fs::rename(&moved, &pg.bare).expect("restore");
    drop(serve);
}

#[test]
fn two_replicas_one_leads_and_a_killed_leader_is_replaced_without_rerunning_hooks() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api, web) = (
        Repo::new(tmp.path(), "postgres", Some("4s")),
        Repo::new(tmp.path(), "api", None),
        Repo::new(tmp.path(), "web", None),
    );
    base(&kc);
    let mut a = Serve::start(
        &kc,
        &tmp.path().join("data-a"),
        "1h",
        "1s",
        &["--identity", "replica-a"],
    );
    assert!(
        a.wait_ready(Duration::from_secs(60)),
        "the first replica leads"
    );
    let b = Serve::start(
        &kc,
        &tmp.path().join("data-b"),
        "1h",
        "1s",
        &["--identity", "replica-b"],
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.get("/readyz").0, 503, "the second replica stands by");
    assert_eq!(b.get("/healthz").0, 200);
    let lease = kubectl(
        &kc,
        &[
            "get",
            "lease",
            "trellis-controller",
            "-n",
            "trellis",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    assert_eq!(lease, "replica-a");
    setup(&kc, &[&pg, &api, &web], "previews", "{{branch}}");
    let tip = api.commit("feat-k", "greeting: k");
    assert_eq!(
        a.github("push", &push_payload(&api, "feat-k", &tip, false), SECRET),
        202
    );
    // Kill the leader while the seed hook (4 s) runs.
    wait_for("the seed Job started", Duration::from_secs(60), || {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["get", "job", "postgres-seed", "-n", "feat-k"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let uid = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-k",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    a.kill();
    // The standby takes over when the lease expires, resumes, and finishes the environment
    // (it polls nothing: the EnvironmentSet's repositories are fetched on start).
    wait_for("the standby leads", Duration::from_secs(60), || {
        b.get("/readyz").0 == 200
    });
    wait_for("environment feat-k Ready", Duration::from_secs(120), || {
        env_phase(&kc, "feat-k").as_deref() == Some("Ready")
    });
    let uid_after = kubectl(
        &kc,
        &[
            "get",
            "job",
            "postgres-seed",
            "-n",
            "feat-k",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    assert_eq!(uid_after, uid, "the seed hook ran once");
    // Two EnvironmentSets over the same repositories do not interfere.
    setup(&kc, &[&pg, &api, &web], "previews-b", "{{branch}}");
    wait_for(
        "the second set's environment",
        Duration::from_secs(120),
        || {
            get_json(&kc, "environments.trellis.dev").is_some_and(|l| {
                let items = l["items"].as_array().cloned().unwrap_or_default();
                let of = |set: &str| {
                    items
                        .iter()
                        .filter(|e| {
                            e["spec"]["environmentSet"] == set && e["spec"]["branch"] == "feat-k"
                        })
                        .count()
                };
                of("previews") == 1 && of("previews-b") == 1
            })
        },
    );
    let list = get_json(&kc, "environments.trellis.dev").expect("environments");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["metadata"]["name"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "distinct names: {names:?}");
    drop(b);
}

#[test]
fn polling_finds_branches_and_inactive_environments_are_removed() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api, web) = (
        Repo::new(tmp.path(), "postgres", None),
        Repo::new(tmp.path(), "api", None),
        Repo::new(tmp.path(), "web", None),
    );
    base(&kc);
    // No webhooks at all: a 1 s poll finds everything; inactivity is found by the periodic
    // cleanup check (every 2 s here).
    let serve = Serve::start(
        &kc,
        &tmp.path().join("data"),
        "1s",
        "2s",
        &["--no-leader-election"],
    );
    assert!(serve.wait_ready(Duration::from_secs(60)), "ready");
    let yaml = format!(
        r#"apiVersion: trellis.dev/v1alpha1
kind: EnvironmentSet
metadata: {{name: idle, namespace: trellis}}
spec:
  defaultRevision: main
  branches: {{include: "^idle-"}}
  syncPolicy: {{automated: {{prune: true}}}}
  cleanup: {{whenBranchDeleted: true, whenMerged: true, whenInactiveFor: 25s, gracePeriod: 1s}}
  services:
    - name: postgres
      source: {{repoURL: "{}", path: charts}}
    - name: web
      source: {{repoURL: "{}", path: charts}}
"#,
        pg.url, web.url
    );
    kubectl(&kc, &["apply", "-f", "-"], Some(&yaml));
    let _ = &api;
    web.commit("idle-x", "greeting: idle");
    wait_for(
        "environment idle-x Ready (found by polling)",
        Duration::from_secs(60),
        || env_phase(&kc, "idle-x").as_deref() == Some("Ready"),
    );
    // A branch deleted is noticed by polling too.
    web.commit("idle-y", "greeting: y");
    wait_for("environment idle-y", Duration::from_secs(60), || {
        env_phase(&kc, "idle-y").is_some()
    });
    git(&web.work, &["push", "-q", "origin", "--delete", "idle-y"]);
    wait_for(
        "deleted branch's environment removed",
        Duration::from_secs(60),
        || env_phase(&kc, "idle-y").is_none(),
    );
    // No commit for 25 s: idle-x is inactive and removed, and not made again.
    wait_for(
        "inactive environment removed",
        Duration::from_secs(90),
        || env_phase(&kc, "idle-x").is_none(),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        env_phase(&kc, "idle-x"),
        None,
        "a retired branch gets no new environment"
    );
    let set = get_json(&kc, "environmentsets.trellis.dev/idle").expect("set");
    assert!(
        set["status"]["retired"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["branch"] == "idle-x")),
        "{set}"
    );
    drop(serve);
}

/// A service whose repository is served over smart HTTP with basic auth, the account in a Secret
/// named by the service's `secretRef`: with a wrong password the EnvironmentSet says why (and no
/// environment appears); once the Secret is right, polling finds the branch and the Environment
/// becomes Ready with the pushed commit.
#[test]
fn http_repository_with_basic_auth_from_a_secret() {
    let (_rt, _dc, kc) = start_cluster();
    let tmp = tempfile::tempdir().expect("tmp");
    let (pg, api) = (
        Repo::new(tmp.path(), "postgres", None),
        Repo::new(tmp.path(), "api", None),
    );
    // Serves the same bare repositories the `Repo`s push to.
    let server = git_http::HttpServer::start(git_http::ServerOptions {
        root: tmp.path().join("remotes"),
        basic_auth: Some(("deploy".into(), "right-horse-battery".into())),
        delay: Duration::ZERO,
    });
    let api_url = server.url("api.git");
    base(&kc);
    let secret = |password: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: api-git, namespace: trellis}}\n\
             stringData: {{username: deploy, password: {password}}}\n"
        )
    };
    kubectl(&kc, &["apply", "-f", "-"], Some(&secret("wrong-staple")));
    let serve = Serve::start(
        &kc,
        &tmp.path().join("data"),
        "1s",
        "1h",
        &["--no-leader-election"],
    );
    assert!(serve.wait_ready(Duration::from_secs(60)), "ready");
    let yaml = format!(
        r#"apiVersion: trellis.dev/v1alpha1
kind: EnvironmentSet
metadata: {{name: overhttp, namespace: trellis}}
spec:
  defaultRevision: main
  branches: {{include: "^http-"}}
  syncPolicy: {{automated: {{prune: true}}}}
  services:
    - name: postgres
      source: {{repoURL: "{}", path: charts}}
    - name: api
      dependsOn: [postgres]
      source: {{repoURL: "{api_url}", path: charts, secretRef: {{name: api-git}}, helm: {{parameters: [{{name: image.tag, value: $TRELLIS_APP_REVISION}}]}}}}
"#,
        pg.url
    );
    kubectl(&kc, &["apply", "-f", "-"], Some(&yaml));
    let tip = api.commit("http-a", "greeting: over http");

    // The wrong password: the set says which repository and why, and shows no password.
    let unreachable = |kc: &Path| -> Option<String> {
        let set = get_json(kc, "environmentsets.trellis.dev/overhttp")?;
        set["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "RepoUnreachable")
            .and_then(|c| c["message"].as_str())
            .map(str::to_string)
    };
    wait_for(
        "RepoUnreachable on the set",
        Duration::from_secs(60),
        || unreachable(&kc).is_some(),
    );
    let message = unreachable(&kc).expect("condition");
    assert!(
        message.contains(&format!("authentication to {api_url} failed")),
        "{message}"
    );
    assert!(!message.contains("wrong-staple"), "{message}");
    assert_eq!(
        env_phase(&kc, "http-a"),
        None,
        "no environment without the repository"
    );

    // The right password: polling fetches, the environment comes up on the pushed commit.
    kubectl(
        &kc,
        &["apply", "-f", "-"],
        Some(&secret("right-horse-battery")),
    );
    wait_for("environment http-a Ready", Duration::from_secs(90), || {
        env_phase(&kc, "http-a").as_deref() == Some("Ready")
    });
    let env = get_json(&kc, "environments.trellis.dev/http-a").expect("environment");
    let revision = |svc: &str| service_revision(&env, svc);
    assert_eq!(revision("api"), tip, "{env}");
    assert_eq!(revision("postgres"), pg.main_commit(), "{env}");
    let cm = kubectl(
        &kc,
        &["get", "configmap", "api", "-n", "http-a", "-o", "json"],
        None,
    );
    assert!(
        cm.contains(&tip),
        "the api was rendered from the fetched commit: {cm}"
    );
    wait_for("RepoUnreachable cleared", Duration::from_secs(30), || {
        unreachable(&kc).is_none()
    });
    assert!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the api came over http"
    );
    drop(serve);
}
