//! Mirrors against real repositories made with the `git` CLI (file:// URLs and plain paths).

mod support;

use std::time::Duration;

use source::{Error, FileKind, Mirrors, Repo};
use support::{Upstream, git};

fn mirrors() -> (tempfile::TempDir, Mirrors) {
    let data = tempfile::tempdir().expect("tempdir");
    let m = Mirrors::new(data.path().join("mirrors"), 4);
    (data, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_lists_branches_with_tips_commit_times_and_default_branch() {
    let up = Upstream::new("repo.git");
    let main_tip = up.git(&["rev-parse", "HEAD"]);
    let main_time = up.now();
    up.git(&["checkout", "-q", "-b", "feature/x"]);
    up.write("f.txt", b"feature\n");
    let feat_tip = up.commit("feature work");
    up.git(&["push", "-q", "origin", "feature/x"]);

    let (_d, m) = mirrors();
    assert!(
        m.snapshot(&up.url()).is_none(),
        "nothing before the first fetch"
    );
    let snap = m.fetch(&Repo::new(up.url())).await.expect("clone");
    assert_eq!(snap.default_branch.as_deref(), Some("main"));
    let names: Vec<_> = snap.branches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["feature/x", "main"]);
    let main = snap.branch("main").expect("main");
    assert_eq!(main.commit, main_tip);
    assert_eq!(main.commit_time, main_time);
    let feat = snap.branch("feature/x").expect("feature/x");
    assert_eq!(feat.commit, feat_tip);
    assert_eq!(feat.commit_time, main_time + 60);
    assert_eq!(m.snapshot(&up.url()), Some(snap.clone()));
    assert!(m.last_error(&up.url()).is_none());
    assert_eq!(m.fetch_count(&up.url()), 1);

    // The mirror is a bare repository in a directory named after the URL.
    let dir = m.mirror_dir(&up.url()).expect("dir");
    assert!(dir.join("HEAD").is_file(), "{}", dir.display());
    assert!(
        dir.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains("repo.git-")),
        "{}",
        dir.display()
    );
    // Same repository through a plain absolute path works too.
    let by_path = m
        .fetch(&Repo::new(up.bare.to_str().expect("utf-8")))
        .await
        .expect("plain path");
    assert_eq!(by_path.branches, snap.branches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_branch_follows_the_remote_head() {
    let up = Upstream::new("repo.git");
    up.git(&["checkout", "-q", "-b", "trunk"]);
    up.git(&["push", "-q", "origin", "trunk"]);
    git(&up.bare, &["symbolic-ref", "HEAD", "refs/heads/trunk"]);
    let (_d, m) = mirrors();
    let snap = m.fetch(&Repo::new(up.url())).await.expect("fetch");
    assert_eq!(snap.default_branch.as_deref(), Some("trunk"));
    let head = m.resolve(&up.url(), "HEAD").await.expect("HEAD resolves");
    assert_eq!(head, snap.branch("trunk").expect("trunk").commit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_branch_new_commit_deletion_and_force_push_are_mirrored() {
    let up = Upstream::new("repo.git");
    let (_d, m) = mirrors();
    let repo = Repo::new(up.url());
    let first = m.fetch(&repo).await.expect("clone");
    assert_eq!(first.branches.len(), 1);

    // A new branch appears.
    up.git(&["checkout", "-q", "-b", "feat"]);
    up.write("a.txt", b"a\n");
    let feat1 = up.commit("feat 1");
    up.git(&["push", "-q", "origin", "feat"]);
    let s = m.fetch(&repo).await.expect("fetch");
    assert_eq!(
        s.branch("feat").map(|b| b.commit.as_str()),
        Some(feat1.as_str())
    );

    // A new commit moves the tip.
    up.write("a.txt", b"a2\n");
    let feat2 = up.commit("feat 2");
    up.git(&["push", "-q", "origin", "feat"]);
    let s = m.fetch(&repo).await.expect("fetch");
    assert_eq!(
        s.branch("feat").map(|b| b.commit.as_str()),
        Some(feat2.as_str())
    );
    assert_eq!(s.branch("feat").map(|b| b.commit_time), Some(up.now()));

    // A force-push rewrites it.
    up.git(&["reset", "-q", "--hard", &feat1]);
    up.write("b.txt", b"rewritten\n");
    let rewritten = up.commit("rewritten");
    up.git(&["push", "-q", "--force", "origin", "feat"]);
    let s = m.fetch(&repo).await.expect("fetch");
    assert_eq!(
        s.branch("feat").map(|b| b.commit.as_str()),
        Some(rewritten.as_str())
    );
    assert_eq!(
        m.resolve(&up.url(), "feat").await.expect("resolve"),
        rewritten
    );

    // A deleted branch is pruned.
    up.git(&["push", "-q", "origin", ":feat"]);
    let s = m.fetch(&repo).await.expect("fetch");
    assert!(s.branch("feat").is_none(), "{:?}", s.branches);
    assert_eq!(s.branches.len(), 1);
    let err = m.resolve(&up.url(), "feat").await.expect_err("pruned");
    assert!(matches!(err, Error::Revision { .. }), "{err}");
    assert_eq!(m.fetch_count(&up.url()), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_lightweight_and_annotated_and_their_deletion() {
    let up = Upstream::new("repo.git");
    let c1 = up.git(&["rev-parse", "HEAD"]);
    up.git(&["tag", "v1.0.0"]);
    up.write("x", b"x\n");
    let c2 = up.commit("two");
    up.git(&["tag", "-a", "v2.0.0", "-m", "release two"]);
    up.git(&["push", "-q", "origin", "main", "--tags"]);

    let (_d, m) = mirrors();
    let repo = Repo::new(up.url());
    let s = m.fetch(&repo).await.expect("fetch");
    assert_eq!(
        s.tags,
        vec![
            ("v1.0.0".to_string(), c1.clone()),
            ("v2.0.0".to_string(), c2.clone())
        ]
    );
    assert_eq!(
        s.tag("v2.0.0"),
        Some(c2.as_str()),
        "annotated tags are peeled to the commit"
    );
    assert_eq!(m.resolve(&up.url(), "v2.0.0").await.expect("tag"), c2);
    assert_eq!(
        m.resolve(&up.url(), "refs/tags/v1.0.0").await.expect("tag"),
        c1
    );

    // A moved tag follows, a deleted one disappears.
    up.git(&["tag", "-f", "v1.0.0", &c2]);
    up.git(&["push", "-q", "--force", "origin", "v1.0.0"]);
    up.git(&["push", "-q", "origin", ":refs/tags/v2.0.0"]);
    let s = m.fetch(&repo).await.expect("fetch");
    assert_eq!(s.tags, vec![("v1.0.0".to_string(), c2.clone())]);
    assert!(m.resolve(&up.url(), "v2.0.0").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_branch_tag_full_and_short_ids() {
    let up = Upstream::new("repo.git");
    let c1 = up.git(&["rev-parse", "HEAD"]);
    up.git(&["tag", "-a", "release", "-m", "r"]);
    up.write("y", b"y\n");
    let c2 = up.commit("second");
    up.git(&["push", "-q", "origin", "main", "--tags"]);
    let (_d, m) = mirrors();
    m.fetch(&Repo::new(up.url())).await.expect("fetch");
    let url = up.url();

    assert_eq!(m.resolve(&url, "main").await.expect("branch"), c2);
    assert_eq!(
        m.resolve(&url, "refs/heads/main").await.expect("full ref"),
        c2
    );
    assert_eq!(m.resolve(&url, "release").await.expect("tag"), c1);
    assert_eq!(m.resolve(&url, &c1).await.expect("full id"), c1);
    assert_eq!(m.resolve(&url, &c1[..7]).await.expect("short id"), c1);
    assert_eq!(
        m.resolve(&url, &c2[..12].to_uppercase().to_lowercase())
            .await
            .expect("12 hex"),
        c2
    );

    for bad in ["nope", "main~1", "0000000", &"f".repeat(40), &c1[..6]] {
        let err = m.resolve(&url, bad).await.expect_err(bad);
        let text = err.to_string();
        assert!(matches!(err, Error::Revision { .. }), "{bad}: {text}");
        assert!(text.contains(&url), "names the URL: {text}");
        assert!(
            text.contains(&format!("{bad:?}")),
            "names the revision: {text}"
        );
        assert!(!err.is_transient());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_before_any_fetch_say_so() {
    let up = Upstream::new("repo.git");
    let (_d, m) = mirrors();
    let err = m.resolve(&up.url(), "main").await.expect_err("not fetched");
    assert!(matches!(err, Error::NotFetched { .. }), "{err}");
    assert!(err.to_string().contains(&up.url()));
    let err = m
        .fetch(&Repo::new("ext::sh -c evil"))
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_tree_of_a_chart_directory_keeps_bytes() {
    let up = Upstream::new("repo.git");
    let binary: Vec<u8> = (0u8..=255).chain([0, 0, 0xff, b'\r', b'\n']).collect();
    up.write(
        "charts/app/Chart.yaml",
        b"apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    up.write("charts/app/values.yaml", b"replicas: 1\r\n");
    up.write("charts/app/templates/deploy.yaml", b"kind: Deployment\n");
    up.write("charts/app/templates/_helpers.tpl", b"{{/* */}}\n");
    up.write("charts/app/files/logo.png", &binary);
    up.write("charts/other/Chart.yaml", b"name: other\n");
    up.write("charts/app/run.sh", b"#!/bin/sh\n");
    std::os::unix::fs::symlink("values.yaml", up.work.join("charts/app/link.yaml"))
        .expect("symlink");
    {
        use std::os::unix::fs::PermissionsExt;
        let run = up.work.join("charts/app/run.sh");
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let commit = up.commit("chart");
    up.git(&["push", "-q", "origin", "main"]);

    let (_d, m) = mirrors();
    m.fetch(&Repo::new(up.url())).await.expect("fetch");
    let mut files = m
        .read_tree(&up.url(), &commit, "charts/app")
        .await
        .expect("read");
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "Chart.yaml",
            "files/logo.png",
            "link.yaml",
            "run.sh",
            "templates/_helpers.tpl",
            "templates/deploy.yaml",
            "values.yaml"
        ]
    );
    let get = |p: &str| files.iter().find(|f| f.path == p).expect(p);
    assert_eq!(get("files/logo.png").data, binary, "binary bytes preserved");
    assert_eq!(
        get("values.yaml").data,
        b"replicas: 1\r\n",
        "no line-ending conversion"
    );
    assert_eq!(get("run.sh").kind, FileKind::Executable);
    assert_eq!(get("Chart.yaml").kind, FileKind::Regular);
    assert_eq!(get("link.yaml").kind, FileKind::Symlink);
    assert_eq!(get("link.yaml").data, b"values.yaml");

    // Same through a branch name and with a trailing slash; whole tree with "".
    let again = m
        .read_tree(&up.url(), "main", "charts/app/")
        .await
        .expect("read");
    assert_eq!(again.len(), files.len());
    let all = m.read_tree(&up.url(), "main", "").await.expect("root");
    assert!(all.iter().any(|f| f.path == "README.md"));
    assert!(all.iter().any(|f| f.path == "charts/other/Chart.yaml"));

    for (path, what) in [
        ("charts/missing", "does not exist"),
        ("charts/app/Chart.yaml", "is not a directory"),
        ("charts/../charts/app", "may not contain"),
    ] {
        let err = m.read_tree(&up.url(), &commit, path).await.expect_err(path);
        let text = err.to_string();
        assert!(matches!(err, Error::Path { .. }), "{text}");
        assert!(text.contains(what), "{text}");
        assert!(
            text.contains(&up.url()) && text.contains(&commit) && text.contains(path),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_ancestor_for_merged_and_unmerged_branches() {
    let up = Upstream::new("repo.git");
    up.git(&["checkout", "-q", "-b", "merged"]);
    up.write("m", b"m\n");
    let merged = up.commit("to merge");
    up.git(&["checkout", "-q", "main"]);
    up.write("main", b"main\n");
    up.commit("main moves on");
    up.git(&["merge", "-q", "--no-ff", "-m", "merge", "merged"]);
    up.git(&["checkout", "-q", "-b", "unmerged"]);
    up.write("u", b"u\n");
    up.commit("not merged");
    up.git(&["push", "-q", "origin", "main", "merged", "unmerged"]);

    let (_d, m) = mirrors();
    m.fetch(&Repo::new(up.url())).await.expect("fetch");
    let url = up.url();
    assert!(m.is_ancestor(&url, "merged", "main").await.expect("check"));
    assert!(m.is_ancestor(&url, &merged, "main").await.expect("check"));
    assert!(
        m.is_ancestor(&url, "main", "main")
            .await
            .expect("same commit")
    );
    assert!(
        !m.is_ancestor(&url, "unmerged", "main")
            .await
            .expect("check")
    );
    assert!(
        m.is_ancestor(&url, "main", "unmerged")
            .await
            .expect("main is below unmerged")
    );
    let err = m
        .is_ancestor(&url, "nope", "main")
        .await
        .expect_err("unknown");
    assert!(matches!(err, Error::Revision { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_keeps_the_last_good_state() {
    let up = Upstream::new("repo.git");
    up.write("charts/c/Chart.yaml", b"name: c\n");
    let commit = up.commit("chart");
    up.git(&["push", "-q", "origin", "main"]);
    let (_d, m) = mirrors();
    let repo = Repo::new(up.url());
    let good = m.fetch(&repo).await.expect("fetch");

    let moved = up.tmp.path().join("moved-away.git");
    std::fs::rename(&up.bare, &moved).expect("move upstream away");
    let err = m.fetch(&repo).await.expect_err("unreachable");
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(&up.url()), "{err}");
    assert_eq!(m.last_error(&up.url()), Some(err));
    assert_eq!(
        m.snapshot(&up.url()),
        Some(good.clone()),
        "last good refs kept"
    );
    let files = m
        .read_tree(&up.url(), &commit, "charts/c")
        .await
        .expect("old commit readable");
    assert_eq!(files.len(), 1);
    assert_eq!(
        m.resolve(&up.url(), "main").await.expect("refs kept"),
        commit
    );

    // Back again: the error clears.
    std::fs::rename(&moved, &up.bare).expect("move back");
    m.fetch(&repo).await.expect("fetch again");
    assert!(m.last_error(&up.url()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_upstream_then_first_push() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = tmp.path().join("empty.git");
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(&bare, &["init", "--bare", "-q"]);
    let url = format!("file://{}", bare.display());
    let (_d, m) = mirrors();
    let s = m
        .fetch(&Repo::new(&url))
        .await
        .expect("empty repository fetches");
    assert!(s.branches.is_empty() && s.tags.is_empty());

    let up = Upstream::new("other.git");
    up.git(&["push", "-q", bare.to_str().expect("utf-8"), "main"]);
    let s = m.fetch(&Repo::new(&url)).await.expect("fetch");
    assert_eq!(s.branches.len(), 1);
    assert_eq!(s.default_branch.as_deref(), Some("main"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fetches_of_one_url_are_shared() {
    let up = Upstream::new("repo.git");
    let (_d, m) = mirrors();
    let repo = Repo::new(up.url());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            let repo = repo.clone();
            tokio::spawn(async move { m.fetch(&repo).await })
        })
        .collect();
    let mut snapshots = Vec::new();
    for t in tasks {
        snapshots.push(t.await.expect("join").expect("fetch"));
    }
    let count = m.fetch_count(&up.url());
    assert!(
        (1..=2).contains(&count),
        "8 concurrent fetches ran {count} fetches"
    );
    assert!(
        snapshots
            .iter()
            .all(|s| s.branches == snapshots[0].branches)
    );

    // A later request fetches again (nothing is cached across requests).
    m.fetch(&repo).await.expect("fetch");
    assert_eq!(m.fetch_count(&up.url()), count + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_directory_never_contains_credentials() {
    let (_d, m) = mirrors();
    let dir = m
        .mirror_dir("https://alice:hunter2@git.example.com/org/repo.git")
        .expect("dir");
    let name = dir.to_string_lossy();
    assert!(
        !name.contains("hunter2") && !name.contains("alice"),
        "{name}"
    );
    assert_eq!(
        dir,
        m.mirror_dir("https://git.example.com/org/repo.git")
            .expect("dir"),
        "credentials do not make another mirror"
    );
    assert_eq!(m.fetch_timeout(), Duration::from_secs(60));
}

/// The real `ssh` with our command line against a closed port on 127.0.0.1: the options are
/// accepted, the failure is reported with the URL and ssh's reason, and the key file does not
/// outlive the fetch. (A real server: `ssh_fetch_from_a_real_sshd_...` below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_fetch_failure_is_reported_and_the_key_file_removed() {
    if std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("skipped: no ssh program");
        return;
    }
    // A port that was free a moment ago: connecting is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("ssh://git@127.0.0.1:{port}/org/repo.git");
    let data = tempfile::tempdir().expect("tempdir");
    let m = Mirrors::new(data.path().to_path_buf(), 1).with_fetch_timeout(Duration::from_secs(10));
    let repo = Repo::new(&url).with_credentials(source::Credentials::SshKey {
        private_key:
            "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----"
                .into(),
        known_hosts: None,
    });
    let err = m.fetch(&repo).await.expect_err("nothing listens");
    let text = err.to_string();
    assert!(matches!(err, Error::Fetch { .. }), "{text}");
    assert!(err.is_transient(), "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(
        text.contains("Connection refused"),
        "ssh's own reason: {text}"
    );
    assert!(!text.contains("not-a-real-key"), "{text}");
    assert!(
        !text.contains("Bad configuration option"),
        "ssh accepted our options: {text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join(".ssh"))
        .expect(".ssh exists")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(leftovers.is_empty(), "key files removed: {leftovers:?}");
}

/// A real sshd (run as the current user on a loopback port, see `support::SshServer`) serving a
/// bare repository made with the git CLI: the key from the credentials logs in, the host key is
/// checked against the given `known_hosts` (a wrong one is refused), new pushes are seen, and the
/// key files do not outlive a fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_fetch_from_a_real_sshd_checks_the_host_key_and_follows_pushes() {
    let Some(sshd) = support::SshServer::start() else {
        println!("skipped: no sshd (scripts/setup installs openssh-server)");
        return;
    };
    let up = Upstream::new("repo.git");
    up.git(&["checkout", "-q", "-b", "feature"]);
    up.write("f.txt", b"feature\n");
    let feature = up.commit("feature work");
    up.git(&["push", "-q", "origin", "feature"]);
    up.git(&["checkout", "-q", "main"]);
    let main1 = up.git(&["rev-parse", "HEAD"]);

    let url = sshd.url(&up.bare);
    let data = tempfile::tempdir().expect("tempdir");
    let m = Mirrors::new(data.path().to_path_buf(), 2).with_fetch_timeout(Duration::from_secs(30));
    let with_hosts = |known_hosts: String| {
        Repo::new(&url).with_credentials(source::Credentials::SshKey {
            private_key: sshd.client_key.clone(),
            known_hosts: Some(known_hosts),
        })
    };
    let key_files = || -> Vec<std::ffi::OsString> {
        std::fs::read_dir(data.path().join(".ssh"))
            .expect(".ssh exists")
            .map(|e| e.expect("entry").file_name())
            .collect()
    };
    // The key body, to check it never shows in an error.
    let key_body = sshd
        .client_key
        .lines()
        .nth(1)
        .expect("a key line")
        .to_string();

    // A known_hosts line for this address with another key: ssh must refuse to connect.
    let other = tempfile::tempdir().expect("tempdir");
    let other_key = other.path().join("other_ed25519");
    support::keygen(&other_key);
    let wrong = format!(
        "[127.0.0.1]:{} {}\n",
        sshd.port,
        support::public_key(&other_key)
    );
    let err = m
        .fetch(&with_hosts(wrong))
        .await
        .expect_err("a wrong host key is refused");
    let text = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{text}");
    assert!(!err.is_transient(), "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("Host key verification failed"), "{text}");
    assert!(!text.contains(&key_body), "the key leaked: {text}");
    assert!(!text.contains("PRIVATE KEY"), "the key leaked: {text}");
    assert!(m.snapshot(&url).is_none(), "nothing fetched: {text}");
    assert!(
        !sshd.log().contains("Accepted publickey"),
        "no login happened: {}",
        sshd.log()
    );
    assert!(
        key_files().is_empty(),
        "key files removed: {:?}",
        key_files()
    );

    // The right host key: branches and commits come over ssh.
    let repo = with_hosts(sshd.known_hosts());
    let snap = m
        .fetch(&repo)
        .await
        .unwrap_or_else(|e| panic!("fetch over ssh: {e}\nsshd log:\n{}", sshd.log()));
    let names: Vec<_> = snap.branches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["feature", "main"]);
    assert_eq!(snap.default_branch.as_deref(), Some("main"));
    assert_eq!(
        snap.branch("main").map(|b| b.commit.as_str()),
        Some(main1.as_str())
    );
    assert_eq!(
        snap.branch("feature").map(|b| b.commit.as_str()),
        Some(feature.as_str())
    );
    assert_eq!(m.resolve(&url, "feature").await.expect("resolve"), feature);
    assert!(
        sshd.log()
            .contains(&format!("Accepted publickey for {}", sshd.user)),
        "the generated key logged in: {}",
        sshd.log()
    );
    assert!(
        key_files().is_empty(),
        "key files removed: {:?}",
        key_files()
    );

    // A new push is seen by the next fetch of the same mirror.
    up.write("g.txt", b"more\n");
    let main2 = up.commit("second on main");
    up.git(&["push", "-q", "origin", "main"]);
    let snap = m.fetch(&repo).await.expect("second fetch over ssh");
    assert_eq!(
        snap.branch("main").map(|b| b.commit.as_str()),
        Some(main2.as_str())
    );
    assert_eq!(snap.branch("main").map(|b| b.commit_time), Some(up.now()));
    assert!(
        m.is_ancestor(&url, &main1, &main2).await.expect("ancestry"),
        "the old tip is in the new history"
    );
    assert_eq!(
        m.fetch_count(&url),
        3,
        "the refused fetch and two good ones"
    );
    assert!(m.last_error(&url).is_none());
    assert!(
        key_files().is_empty(),
        "key files removed: {:?}",
        key_files()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_created_mirror_directory_is_replaced() {
    let up = Upstream::new("repo.git");
    let (_d, m) = mirrors();
    let dir = m.mirror_dir(&up.url()).expect("dir");
    std::fs::create_dir_all(dir.join("objects")).expect("mkdir");
    std::fs::write(dir.join("junk"), b"x").expect("write");
    let s = m
        .fetch(&Repo::new(up.url()))
        .await
        .expect("fetch replaces the leftover");
    assert_eq!(s.branches.len(), 1);
    assert!(!dir.join("junk").exists());
}
