//! kubectl's read-only introspection against a started cluster: `auth can-i` (access and rules
//! reviews), `auth whoami`, and `logs` of simulated Pods (by Deployment and Job, `-f`, `--tail`,
//! `--since`, `--timestamps`, `--previous`).

mod common;

use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(60);

async fn kubectl_out(kc: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(kubectl(kc, args), T).await
}

async fn ok(kc: &std::path::Path, args: &[&str]) -> String {
    let o = kubectl_out(kc, args).await;
    assert!(o.status.success(), "kubectl {args:?} failed: {}", out(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

const SLOW_JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: slow
spec:
  template:
    metadata:
      annotations:
        devcluster.trellis.dev/duration: 3s
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox:1.36
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_can_i_and_whoami() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    assert_eq!(
        ok(&kc, &["auth", "can-i", "create", "pods"]).await.trim(),
        "yes"
    );
    assert_eq!(
        ok(
            &kc,
            &[
                "auth",
                "can-i",
                "delete",
                "deployments.apps",
                "-n",
                "kube-system"
            ]
        )
        .await
        .trim(),
        "yes"
    );
    assert_eq!(
        ok(&kc, &["auth", "can-i", "get", "/healthz"]).await.trim(),
        "yes"
    );
    let list = ok(&kc, &["auth", "can-i", "--list"]).await;
    assert!(list.contains("*.*"), "{list}");
    let who = ok(&kc, &["auth", "whoami"]).await;
    assert!(who.contains(devcluster::introspect::USER), "{who}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_deployments_and_jobs_follow_tail_since_previous() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    ok(&kc, &["create", "deployment", "web", "--image=nginx:1.25"]).await;
    ok(
        &kc,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;

    let logs = ok(&kc, &["logs", "deploy/web"]).await;
    assert!(
        logs.contains("container nginx started (image nginx:1.25)"),
        "{logs}"
    );
    let tail = ok(&kc, &["logs", "deploy/web", "--tail=1", "--timestamps"]).await;
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(tail.starts_with("20"), "a timestamp comes first: {tail}");
    assert_eq!(
        tail.matches("Z ").count(),
        1,
        "the time is printed once: {tail}"
    );
    let recent = ok(&kc, &["logs", "deploy/web", "--since=1h"]).await;
    assert_eq!(recent, logs);
    let prev = kubectl_out(&kc, &["logs", "deploy/web", "--previous"]).await;
    assert!(!prev.status.success());
    assert!(
        String::from_utf8_lossy(&prev.stderr).contains("previous terminated container"),
        "{}",
        out(&prev)
    );

    // -f follows a running container until it exits.
    let dir = tempfile::tempdir().expect("temp dir");
    let job = dir.path().join("job.yaml");
    std::fs::write(&job, SLOW_JOB).expect("write the Job");
    ok(&kc, &["apply", "-f", &job.display().to_string()]).await;
    let kc2 = kc.clone();
    eventually("the Job's pod runs", || {
        let kc = kc2.clone();
        async move {
            let o = kubectl_out(&kc, &["logs", "job/slow"]).await;
            o.status.success().then_some(())
        }
    })
    .await;
    let begun = Instant::now();
    let followed = ok(&kc, &["logs", "-f", "job/slow"]).await;
    assert!(followed.contains("container work started"), "{followed}");
    assert!(
        followed
            .trim_end()
            .ends_with("container exited with code 0"),
        "{followed}"
    );
    assert!(
        begun.elapsed() >= Duration::from_millis(500),
        "-f waited for the exit"
    );
}
