//! `trellis login`, `trellis env ...` and `trellis app ...` over HTTP, as a CI job runs them,
//! against the in-memory server of the `/api/v1` contract (tests/contract/fake_api.rs): output
//! formats, filters, pagination, actions, roles, `wait` and its exit codes, errors.

mod contract;

use std::time::{Duration, Instant};

use contract::fake_api::{FakeApi, World};
use contract::{ADMIN, READONLY, text, trellis};
use server::api::types::{AppList, EnvSummary, HistoryEntry};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A logged-in home directory.
fn login(api: &FakeApi) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("tempdir");
    let out = trellis(home.path(), &["login", &api.url, "--token", ADMIN], &[]);
    let said = ok(&out);
    assert!(said.contains("as admin"), "{said}");
    home
}

#[test]
fn login_saves_the_server_and_token_privately_and_checks_the_token() {
    let api = FakeApi::start(World::seeded(0));
    let home = tempfile::tempdir().expect("tempdir");

    // A wrong token is refused, clearly, and nothing is saved.
    let out = trellis(home.path(), &["login", &api.url, "--token", "wrong"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("the token is not accepted") && err.contains("401"),
        "{err}"
    );
    let path = home.path().join("config/trellis/config");
    assert!(!path.exists());

    // Without a login there is no server to talk to: say how to give one.
    let out = trellis(home.path(), &["env", "list"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("trellis login"),
        "{}",
        text(&out.stderr)
    );

    let server = api.url.trim_start_matches("http://");
    let said = ok(&trellis(
        home.path(),
        &["login", server, "--token", ADMIN],
        &[],
    ));
    assert!(
        said.contains("Logged in to http://") && said.contains("as admin"),
        "{said}"
    );
    let saved = std::fs::read_to_string(&path).expect("config written");
    assert!(saved.contains(&api.url) && saved.contains(ADMIN), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the config holds a token: {mode:o}");
    }
    // ~/.config when XDG_CONFIG_HOME is not set.
    let home2 = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["login", &api.url, "--token", READONLY])
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", home2.path())
        .output()
        .expect("run");
    assert!(ok(&out).contains("as readonly"));
    assert!(home2.path().join(".config/trellis/config").exists());

    // The saved login is used; flags and TRELLIS_* override it.
    ok(&trellis(home.path(), &["env", "list"], &[]));
    let out = trellis(home.path(), &["env", "list"], &[("TRELLIS_TOKEN", "wrong")]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "TRELLIS_TOKEN overrides the saved token"
    );
    let out = trellis(home.path(), &["env", "list", "--token", "wrong"], &[]);
    assert_eq!(out.status.code(), Some(2), "--token overrides it");
    let out = trellis(
        home.path(),
        &["env", "list"],
        &[("TRELLIS_SERVER", "http://127.0.0.1:9")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot reach http://127.0.0.1:9"),
        "{}",
        text(&out.stderr)
    );
    // The token never travels in a query string.
    let w = api.world();
    assert!(
        w.requests.iter().all(|r| !r.contains(ADMIN)),
        "{:?}",
        w.requests
    );
}

#[test]
fn environments_list_get_delete_in_every_format() {
    let api = FakeApi::start(World::seeded(0));
    let home = login(&api);
    let h = home.path();

    let table = ok(&trellis(h, &["env", "list"], &[]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("PHASE") && lines[0].contains("READY"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("feat-login")
            && lines[1].contains("Creating")
            && lines[1].contains("2/3"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("feat-pay") && lines[2].contains("Ready") && lines[2].contains("3/3"),
        "{table}"
    );

    let json = ok(&trellis(
        h,
        &["env", "get", "feat-login", "-o", "json"],
        &[],
    ));
    let e: EnvSummary = serde_json::from_str(&json).expect("EnvSummary JSON");
    let order: Vec<_> = e.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["postgres", "api", "web"]);

    let yaml = ok(&trellis(
        h,
        &["env", "get", "feat-login", "--output", "yaml"],
        &[],
    ));
    let e2: EnvSummary = serde_saphyr::from_str(&yaml).expect("EnvSummary YAML");
    assert_eq!(e, e2);

    let details = ok(&trellis(h, &["env", "get", "feat-login"], &[]));
    assert!(
        details.contains("Branch:")
            && details.contains("SERVICE")
            && details.contains("DEPENDS ON"),
        "{details}"
    );
    let web = details
        .lines()
        .find(|l| l.starts_with("web"))
        .expect("web row");
    assert!(
        web.contains("api") && web.contains("OutOfSync") && web.contains("Progressing"),
        "{web}"
    );

    let out = trellis(h, &["env", "get", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("environment nope not found (404 Not Found)"),
        "{}",
        text(&out.stderr)
    );

    // Only an admin deletes.
    let out = trellis(h, &["env", "delete", "feat-pay", "--token", READONLY], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("403") && err.contains("may not delete"),
        "{err}"
    );
    let said = ok(&trellis(h, &["env", "delete", "feat-pay"], &[]));
    assert!(said.contains("deleting environment feat-pay"), "{said}");
}

#[test]
fn application_list_filters_on_the_server_and_reads_every_page() {
    let api = FakeApi::start(World::seeded(1200));
    let home = login(&api);
    let h = home.path();

    let json = ok(&trellis(h, &["app", "list", "-o", "json"], &[]));
    let all: AppList = serde_json::from_str(&json).expect("AppList");
    assert_eq!(all.total, 1206);
    assert_eq!(all.items.len(), 1206, "every page read");
    let pages = api
        .world()
        .requests
        .iter()
        .filter(|r| r.starts_with("GET applications?"))
        .count();
    assert_eq!(pages, 3, "500 a page");

    let table = ok(&trellis(
        h,
        &["app", "list", "--environment", "feat-login"],
        &[],
    ));
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(table.lines().next().unwrap_or_default().starts_with("NAME"));

    let json = ok(&trellis(
        h,
        &[
            "app",
            "list",
            "--search",
            "web",
            "--sync",
            "OutOfSync",
            "-o",
            "json",
        ],
        &[],
    ));
    let l: AppList = serde_json::from_str(&json).expect("AppList");
    let names: Vec<_> = l.items.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["feat-login-web"]);

    let json = ok(&trellis(
        h,
        &[
            "app", "list", "--health", "Degraded", "--limit", "5", "-o", "json",
        ],
        &[],
    ));
    let l: AppList = serde_json::from_str(&json).expect("AppList");
    assert_eq!(l.items.len(), 5);
    assert_eq!(l.total, 12);
    assert!(l.items.iter().all(|a| a.health_status == "Degraded"));

    let yaml = ok(&trellis(
        h,
        &["app", "list", "--project", "feat-pay", "-o", "yaml"],
        &[],
    ));
    let l: AppList = serde_saphyr::from_str(&yaml).expect("AppList YAML");
    assert_eq!(l.total, 3);

    let r = api.world().requests.clone();
    assert!(
        r.iter()
            .any(|q| q.contains("search=web&limit=500") && q.contains("sync=OutOfSync")),
        "{r:?}"
    );
}

#[test]
fn application_get_diff_history_rollback_refresh() {
    let api = FakeApi::start(World::seeded(0));
    let home = login(&api);
    let h = home.path();

    let got = ok(&trellis(h, &["app", "get", "feat-login-web"], &[]));
    assert!(got.contains("Sync:") && got.contains("OutOfSync"), "{got}");
    // The tree, children indented under their owners.
    assert!(
        got.contains("\nDeployment ")
            && got.contains("\n  ReplicaSet ")
            && got.contains("\n    Pod "),
        "{got}"
    );

    let out = trellis(h, &["app", "diff", "feat-login-web"], &[]);
    assert_eq!(out.status.code(), Some(1), "out of sync: exit 1");
    let d = text(&out.stdout);
    assert!(
        d.contains("===== apps/Deployment/web in feat-login: OutOfSync =====")
            && d.contains("+  replicas: 2"),
        "{d}"
    );
    let d = ok(&trellis(h, &["app", "diff", "feat-login-api"], &[]));
    assert!(d.contains("feat-login-api is in sync"), "{d}");

    let hist = ok(&trellis(
        h,
        &["app", "history", "feat-login-api", "-o", "json"],
        &[],
    ));
    let entries: Vec<HistoryEntry> = serde_json::from_str(&hist).expect("history");
    assert_eq!(entries.len(), 1);
    let table = ok(&trellis(h, &["app", "history", "feat-login-api"], &[]));
    assert!(
        table.starts_with("ID") && table.contains(&entries[0].revision),
        "{table}"
    );

    let said = ok(&trellis(
        h,
        &["app", "rollback", "feat-login-api", "0"],
        &[],
    ));
    assert!(
        said.contains("rollback of feat-login-api to deployment 0"),
        "{said}"
    );
    let out = trellis(h, &["app", "rollback", "feat-login-api", "7"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no deployment 7 in its history (400 Bad Request)"),
        "{}",
        text(&out.stderr)
    );

    let said = ok(&trellis(h, &["app", "refresh", "feat-login-web"], &[]));
    assert!(
        said.contains("refresh of feat-login-web requested"),
        "{said}"
    );

    let out = trellis(h, &["app", "get", "no-such-app"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("application no-such-app not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sync_with_options_then_wait_and_roles() {
    let api = FakeApi::start(World::seeded(0));
    let home = login(&api);
    let h = home.path();

    // readonly may read but not sync; a project role only its project.
    let out = trellis(
        h,
        &["app", "sync", "feat-login-web", "--token", READONLY],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("role readonly may not sync") && err.contains("403 Forbidden"),
        "{err}"
    );
    let out = trellis(
        h,
        &[
            "app",
            "sync",
            "feat-login-web",
            "--token",
            contract::PROJECT,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    ok(&trellis(
        h,
        &[
            "app",
            "refresh",
            "feat-pay-web",
            "--token",
            contract::PROJECT,
        ],
        &[],
    ));

    let out = trellis(
        h,
        &[
            "app",
            "sync",
            "feat-login-web",
            "--prune",
            "--resource",
            "apps/Deployment/web",
            "--resource",
            "Service/web",
            "--wait",
            "--timeout",
            "20s",
        ],
        &[],
    );
    let said = ok(&out);
    assert!(said.contains("sync of feat-login-web requested"), "{said}");
    let progress = text(&out.stderr);
    assert!(progress.contains("Healthy and Synced"), "{progress}");
    let w = api.world();
    let (name, req) = w.syncs.last().expect("a sync").clone();
    assert_eq!(name, "feat-login-web");
    assert!(req.prune);
    let res = req.resources.expect("resources");
    assert_eq!(
        (
            res[0].group.as_str(),
            res[0].kind.as_str(),
            res[0].name.as_str()
        ),
        ("apps", "Deployment", "web")
    );
    assert_eq!(
        (res[1].group.as_str(), res[1].kind.as_str()),
        ("", "Service")
    );
    drop(w);

    let out = trellis(
        h,
        &["app", "sync", "feat-login-web", "--resource", "web"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    assert!(text(&out.stderr).contains("expected KIND/NAME"));
}

#[test]
fn wait_exits_zero_when_ready_one_when_degraded_and_124_on_timeout() {
    let api = FakeApi::start(World::seeded(0));
    let home = login(&api);
    let h = home.path();

    // Already there.
    let out = trellis(h, &["app", "wait", "feat-login-api"], &[]);
    ok(&out);
    assert!(text(&out.stderr).contains("feat-login-api is Healthy and Synced"));
    ok(&trellis(h, &["env", "wait", "feat-pay"], &[]));

    // Progressing for good: timeout, with what it is stuck on.
    let t = Instant::now();
    let out = trellis(
        h,
        &["app", "wait", "feat-login-web", "--timeout", "2s"],
        &[],
    );
    assert_eq!(out.status.code(), Some(124));
    assert!(t.elapsed() < Duration::from_secs(10));
    let err = text(&out.stderr);
    assert!(err.contains("timed out after 2s waiting for application feat-login-web to be Healthy and Synced: it is Progressing, OutOfSync"), "{err}");
    let out = trellis(
        h,
        &["env", "wait", "feat-login", "--timeout", "1500ms"],
        &[],
    );
    assert_eq!(out.status.code(), Some(124));
    let err = text(&out.stderr);
    assert!(
        err.contains("it is Creating (2/3 ready)") && err.contains("web: Progressing, OutOfSync"),
        "{err}"
    );
    let out = trellis(h, &["env", "wait", "feat-nope", "--timeout", "1s"], &[]);
    assert_eq!(out.status.code(), Some(124));
    assert!(text(&out.stderr).contains("feat-nope: it does not exist"));

    // Becomes ready while waited for: the env wait follows it on the stream (no polling) and
    // exits 0.
    let seen_before = api.world().requests.len();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["env", "wait", "feat-login", "--timeout", "30s"])
        .env("XDG_CONFIG_HOME", h.join("config"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    api.change_app("feat-login-web", |a| {
        a.detail.summary.sync_status = "Synced".into();
        a.detail.summary.health_status = "Healthy".into();
    });
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("environment feat-login: Creating · 2/3 ready"),
        "progress lines in a log: {err}"
    );
    assert!(
        err.contains("environment feat-login is Ready: 3/3"),
        "{err}"
    );
    let during: Vec<String> = api.world().requests[seen_before..].to_vec();
    assert!(
        during.contains(&"GET stream?environment=feat-login&application=".to_string()),
        "{during:?}"
    );
    let reads = during
        .iter()
        .filter(|r| *r == "GET environments/feat-login")
        .count();
    assert_eq!(
        reads, 1,
        "one read once subscribed, then the stream: {during:?}"
    );

    // Degraded: exit 1 and why.
    api.change_app("feat-pay-api", |a| {
        a.detail.summary.health_status = "Degraded".into();
        a.detail.summary.health_message = "Back-off restarting failed container".into();
    });
    let out = trellis(h, &["app", "wait", "feat-pay-api"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("application feat-pay-api is Degraded: Back-off restarting failed container"),
        "{}",
        text(&out.stderr)
    );
    let out = trellis(h, &["env", "wait", "feat-pay"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("environment feat-pay is Degraded (2/3 ready)")
            && err.contains("api: Degraded, Synced"),
        "{err}"
    );
}

/// The same commands against the real server: `trellis demo --serve --http` with a token file.
#[test]
fn the_cli_against_trellis_demo() {
    let demo = contract::demo::Demo::start();
    let env = contract::demo::ENV;
    let api_app = format!("{env}-api");
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let said = ok(&trellis(h, &["login", &demo.url, "--token", ADMIN], &[]));
    assert!(said.contains("as admin"), "{said}");

    let out = trellis(h, &["env", "wait", env, "--timeout", "2m"], &[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        demo.log()
    );
    assert!(text(&out.stderr).contains(&format!("environment {env} is Ready: 3/3")));

    let table = ok(&trellis(h, &["env", "list"], &[]));
    let row = table.lines().find(|l| l.starts_with(env)).expect("env row");
    assert!(row.contains("Ready") && row.contains("3/3"), "{table}");
    let e: EnvSummary =
        serde_json::from_str(&ok(&trellis(h, &["env", "get", env, "-o", "json"], &[])))
            .expect("EnvSummary");
    let order: Vec<_> = e.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["postgres", "api", "web"], "dependency order");
    assert_eq!(e.services[1].depends_on, ["postgres"]);

    let l: AppList = serde_json::from_str(&ok(&trellis(
        h,
        &["app", "list", "--environment", env, "-o", "json"],
        &[],
    )))
    .expect("AppList");
    assert_eq!(l.total, 3);
    let l: AppList = serde_saphyr::from_str(&ok(&trellis(
        h,
        &["app", "list", "--search", "web", "-o", "yaml"],
        &[],
    )))
    .expect("AppList YAML");
    let names: Vec<_> = l.items.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, [format!("{env}-web")]);
    let out = trellis(h, &["app", "list", "--health", "Fine"], &[]);
    assert_eq!(out.status.code(), Some(2), "a bad filter is a 400");
    assert!(text(&out.stderr).contains("400"), "{}", text(&out.stderr));

    let got = ok(&trellis(h, &["app", "get", &api_app], &[]));
    assert!(got.contains("Health:       Healthy"), "{got}");
    // The live tree: Deployment -> ReplicaSet -> Pod, children indented under their owners.
    assert!(
        got.contains("\nDeployment ")
            && got.contains("\n  ReplicaSet ")
            && got.contains("\n    Pod "),
        "{got}"
    );
    let d = ok(&trellis(h, &["app", "diff", &api_app], &[]));
    assert!(d.contains("is in sync"), "{d}");

    // Actions: sync and wait; refresh; a rollback is refused while automated sync is on.
    let out = trellis(
        h,
        &["app", "sync", &api_app, "--wait", "--timeout", "1m"],
        &[],
    );
    ok(&out);
    assert!(text(&out.stderr).contains("Healthy and Synced"));
    ok(&trellis(h, &["app", "refresh", &api_app], &[]));
    let hist: Vec<HistoryEntry> = serde_json::from_str(&ok(&trellis(
        h,
        &["app", "history", &api_app, "-o", "json"],
        &[],
    )))
    .expect("history");
    assert!(!hist.is_empty());
    let out = trellis(
        h,
        &["app", "rollback", &api_app, &hist[0].id.to_string()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("turn automated sync off to roll back"),
        "{}",
        text(&out.stderr)
    );

    // Roles: readonly reads but may not sync; the project role may.
    let out = trellis(h, &["app", "sync", &api_app, "--token", READONLY], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("403 Forbidden"),
        "{}",
        text(&out.stderr)
    );
    ok(&trellis(
        h,
        &["app", "get", &api_app, "--token", READONLY],
        &[],
    ));
    ok(&trellis(
        h,
        &["app", "refresh", &api_app, "--token", contract::PROJECT],
        &[],
    ));

    // A push: app wait follows it to the new commit.
    let commit = demo.push_api_change("greeting: Hello from api", "greeting: Hello again");
    let t = Instant::now();
    loop {
        let out = trellis(h, &["app", "get", &api_app, "-o", "json"], &[]);
        let d: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
        if d["revision"] == commit.as_str() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "not synced to {commit}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    ok(&trellis(
        h,
        &["app", "wait", &api_app, "--timeout", "1m"],
        &[],
    ));

    // Deleting the environment (admin only).
    let out = trellis(h, &["env", "delete", env, "--token", READONLY], &[]);
    assert_eq!(out.status.code(), Some(2));
    ok(&trellis(h, &["env", "delete", env], &[]));
    let out = trellis(h, &["env", "wait", env, "--timeout", "30s"], &[]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
