//! Mirrors over smart HTTP: `git http-backend` behind a small HTTP/1.1 server on 127.0.0.1.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use source::{Credentials, Error, Mirrors, Repo};
use support::{HttpServer, ServerOptions, Upstream};

fn server(up: &Upstream, basic_auth: Option<(&str, &str)>, delay: Duration) -> HttpServer {
    HttpServer::start(ServerOptions {
        root: up.tmp.path().to_path_buf(),
        basic_auth: basic_auth.map(|(u, p)| (u.to_string(), p.to_string())),
        delay,
    })
}

fn mirrors(parallel: usize) -> (tempfile::TempDir, Mirrors) {
    let data = tempfile::tempdir().expect("tempdir");
    let m = Mirrors::new(data.path().join("mirrors"), parallel)
        .with_fetch_timeout(Duration::from_secs(20));
    (data, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_and_fetch_over_smart_http() {
    let up = Upstream::new("repo.git");
    up.git(&["tag", "v1"]);
    up.git(&["push", "-q", "origin", "v1"]);
    let srv = server(&up, None, Duration::ZERO);
    let url = srv.url("repo.git");
    let (_d, m) = mirrors(2);

    let s = m.fetch(&Repo::new(&url)).await.expect("clone over http");
    assert_eq!(s.default_branch.as_deref(), Some("main"));
    assert_eq!(
        s.branch("main").map(|b| b.commit.clone()),
        Some(up.git(&["rev-parse", "HEAD"]))
    );
    assert_eq!(s.tags.len(), 1);

    up.git(&["checkout", "-q", "-b", "feat"]);
    up.write("charts/a/Chart.yaml", b"name: a\n");
    let tip = up.commit("feat");
    up.git(&["push", "-q", "origin", "feat"]);
    up.git(&["push", "-q", "origin", ":refs/tags/v1"]);
    let s = m.fetch(&Repo::new(&url)).await.expect("fetch over http");
    assert_eq!(
        s.branch("feat").map(|b| b.commit.as_str()),
        Some(tip.as_str())
    );
    assert!(s.tags.is_empty(), "deleted tag pruned over http too");
    let files = m.read_tree(&url, "feat", "charts/a").await.expect("read");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].data, b"name: a\n");
    assert!(srv.requests.load(Ordering::SeqCst) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_basic_and_token_credentials() {
    let up = Upstream::new("repo.git");
    let tip = up.git(&["rev-parse", "HEAD"]);
    let srv = server(&up, Some(("alice", "s3cret-pass")), Duration::ZERO);
    let url = srv.url("repo.git");
    let (_d, m) = mirrors(2);

    let basic = Repo::new(&url).with_credentials(Credentials::Basic {
        username: "alice".into(),
        password: "s3cret-pass".into(),
    });
    let s = m.fetch(&basic).await.expect("basic auth");
    assert_eq!(
        s.branch("main").map(|b| b.commit.as_str()),
        Some(tip.as_str())
    );

    // A token is sent as basic auth with the x-access-token username.
    let token_srv = server(
        &up,
        Some((source::TOKEN_USERNAME, "tok-123456")),
        Duration::ZERO,
    );
    let token_url = token_srv.url("repo.git");
    let token = Repo::new(&token_url).with_credentials(Credentials::Token("tok-123456".into()));
    let s = m.fetch(&token).await.expect("token auth");
    assert_eq!(
        s.branch("main").map(|b| b.commit.as_str()),
        Some(tip.as_str())
    );

    // user:password in the URL works too, and never shows up on disk or in the key.
    let in_url = token_url.replace(
        "http://",
        &format!("http://{}:tok-123456@", source::TOKEN_USERNAME),
    );
    let s = m
        .fetch(&Repo::new(&in_url))
        .await
        .expect("credentials in the URL");
    assert_eq!(s.branches.len(), 1);
    assert_eq!(
        m.snapshot(&token_url).map(|s| s.branches.len()),
        Some(1),
        "same mirror as without them"
    );
    let config = std::fs::read_to_string(m.mirror_dir(&token_url).expect("dir").join("config"))
        .expect("config");
    assert!(!config.contains("tok-123456"), "{config}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_are_a_clear_permanent_auth_error() {
    let up = Upstream::new("repo.git");
    let srv = server(&up, Some(("alice", "right-password")), Duration::ZERO);
    let url = srv.url("repo.git");
    let (_d, m) = mirrors(2);

    let wrong = Repo::new(&url).with_credentials(Credentials::Basic {
        username: "alice".into(),
        password: "wrong-password".into(),
    });
    let err = m.fetch(&wrong).await.expect_err("wrong password");
    let text = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{text}");
    assert!(!err.is_transient(), "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");
    assert_eq!(m.last_error(&url), Some(err));

    let err = m.fetch(&Repo::new(&url)).await.expect_err("no credentials");
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(err.to_string().contains("none are configured"), "{err}");

    let err = m
        .fetch(&Repo::new(&url).with_credentials(Credentials::SshKey {
            private_key: "k".into(),
            known_hosts: None,
        }))
        .await
        .expect_err("ssh key on http");
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(m.snapshot(&url).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fetches_of_different_urls_overlap_up_to_the_limit() {
    let up = Upstream::new("a.git");
    support::git(up.tmp.path(), &["clone", "-q", "--bare", "a.git", "b.git"]);
    let srv = server(&up, None, Duration::from_millis(250));
    let (a, b) = (srv.url("a.git"), srv.url("b.git"));

    let (_d, m) = mirrors(2);
    let (repo_a, repo_b) = (Repo::new(&a), Repo::new(&b));
    let (ra, rb) = tokio::join!(m.fetch(&repo_a), m.fetch(&repo_b));
    ra.expect("a");
    rb.expect("b");
    assert!(
        srv.max_in_flight.load(Ordering::SeqCst) >= 2,
        "two URLs fetched at the same time"
    );

    // With a limit of one, they take turns.
    let srv1 = server(&up, None, Duration::from_millis(100));
    let (_d1, m1) = mirrors(1);
    let (ra1, rb1) = (Repo::new(srv1.url("a.git")), Repo::new(srv1.url("b.git")));
    let (ra, rb) = tokio::join!(m1.fetch(&ra1), m1.fetch(&rb1));
    ra.expect("a");
    rb.expect("b");
    assert_eq!(
        srv1.max_in_flight.load(Ordering::SeqCst),
        1,
        "limit of one fetch at a time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_times_out() {
    let url = support::start_black_hole();
    let data = tempfile::tempdir().expect("tempdir");
    let m = Mirrors::new(data.path().to_path_buf(), 2).with_fetch_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let err = m.fetch(&Repo::new(&url)).await.expect_err("times out");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.is_transient());
    assert!(err.to_string().contains(&url), "{err}");
    assert_eq!(m.last_error(&url), Some(err));
}
