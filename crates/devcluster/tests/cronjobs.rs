//! CronJobs run on their schedule: the controllers' clock is advanced instead of waiting for
//! minutes; kubectl's cronjob commands and columns work against them.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);
const CJ: &str = "/apis/batch/v1/namespaces/default/cronjobs";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

fn cronjob(name: &str, policy: &str, extra_annotations: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": policy,
            "successfulJobsHistoryLimit": 2,
            "jobTemplate": {"metadata": {"labels": {"from": name}}, "spec": {"template": {
                "metadata": {"annotations": extra_annotations},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
            }}},
        },
    })
}

async fn jobs_of(c: &devcluster::DevCluster, cj: &str) -> Vec<Value> {
    let (_, l) = get_json(c, &format!("{JOBS}?labelSelector=from%3D{cj}")).await;
    let mut items = l["items"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|j| {
        j["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    items
}

async fn reasons(c: &devcluster::DevCluster, name: &str) -> Vec<String> {
    let (_, l) = get_json(
        c,
        &format!("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{name}"),
    )
    .await;
    l["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {}",
                e["reason"].as_str().unwrap_or_default(),
                e["message"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_every_minute_cronjob_creates_jobs_as_the_clock_advances() {
    let c = start().await;
    let (code, st) = post(&c, CJ, &cronjob("tick", "Allow", json!({}))).await;
    assert_eq!(code, 201, "{st}");
    // Nothing before the first minute boundary.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(jobs_of(&c, "tick").await.is_empty());

    let mut names = Vec::new();
    for round in 1..=4 {
        c.advance_clock(Duration::from_secs(60));
        let jobs = eventually(&format!("job #{round}"), || async {
            let jobs = jobs_of(&c, "tick").await;
            let (_, cj) = get_json(&c, &format!("{CJ}/tick")).await;
            let scheduled = cj["status"]["lastScheduleTime"]
                .as_str()
                .map(str::to_string);
            // Wait until this round's Job exists and has completed.
            let newest = jobs.iter().max_by_key(|j| {
                j["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })?;
            let done = newest["status"]["succeeded"] == 1;
            let is_new = !names.contains(&newest["metadata"]["name"].as_str()?.to_string());
            (done && is_new && scheduled.is_some()).then_some(jobs)
        })
        .await;
        let newest = jobs
            .iter()
            .map(|j| j["metadata"]["name"].as_str().expect("name").to_string())
            .max()
            .expect("a job");
        names.push(newest);
    }
    // Names are <cronjob>-<scheduled minute since the epoch>, one minute apart.
    let minutes: Vec<i64> = names
        .iter()
        .map(|n| {
            n.strip_prefix("tick-")
                .expect("prefix")
                .parse()
                .expect("minutes")
        })
        .collect();
    for w in minutes.windows(2) {
        assert_eq!(w[1] - w[0], 1, "{names:?}");
    }
    let (_, cj) = get_json(&c, &format!("{CJ}/tick")).await;
    let last = chrono::DateTime::parse_from_rfc3339(
        cj["status"]["lastScheduleTime"]
            .as_str()
            .expect("lastScheduleTime"),
    )
    .expect("a time");
    assert_eq!(last.timestamp() / 60, minutes[3]);
    // The Job: owned by the CronJob, labels from the template, scheduled-timestamp annotation.
    let (_, job) = get_json(&c, &format!("{JOBS}/{}", names[3])).await;
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(job["metadata"]["labels"]["from"], "tick");
    assert!(
        job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            .is_string()
    );
    // History: only the two newest successful Jobs are kept; lastSuccessfulTime is set.
    let left = eventually("history pruned to 2", || async {
        let jobs = jobs_of(&c, "tick").await;
        (jobs.len() == 2).then_some(jobs)
    })
    .await;
    let left: Vec<&str> = left
        .iter()
        .map(|j| j["metadata"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(left, vec![names[2].as_str(), names[3].as_str()]);
    let cj = eventually("lastSuccessfulTime and no active", || async {
        let (_, cj) = get_json(&c, &format!("{CJ}/tick")).await;
        (cj["status"]["lastSuccessfulTime"].is_string() && cj["status"].get("active").is_none())
            .then_some(cj)
    })
    .await;
    assert!(cj["status"]["lastScheduleTime"].is_string());
    let ev = reasons(&c, "tick").await;
    for want in [
        format!("SuccessfulCreate Created job {}", names[0]),
        format!(
            "SawCompletedJob Saw completed job: {}, status: Complete",
            names[0]
        ),
        format!("SuccessfulDelete Deleted job {}", names[0]),
    ] {
        assert!(ev.contains(&want), "{want} not in {ev:#?}");
    }

    // Suspended: no new Jobs however far the clock goes.
    let (code, _) = patch(
        &c,
        &format!("{CJ}/tick"),
        "application/merge-patch+json",
        r#"{"spec":{"suspend":true}}"#,
    )
    .await;
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.advance_clock(Duration::from_secs(180));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(jobs_of(&c, "tick").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_policies_forbid_and_replace() {
    let c = start().await;
    // Jobs that run for a long time, so the previous one is still active.
    let long = json!({"devcluster.trellis.dev/duration": "60m"});
    for (name, policy) in [("slow-forbid", "Forbid"), ("slow-replace", "Replace")] {
        let (code, st) = post(&c, CJ, &cronjob(name, policy, long.clone())).await;
        assert_eq!(code, 201, "{st}");
    }
    c.advance_clock(Duration::from_secs(60));
    for name in ["slow-forbid", "slow-replace"] {
        eventually(&format!("{name}: first job active"), || async {
            let (_, cj) = get_json(&c, &format!("{CJ}/{name}")).await;
            (cj["status"]["active"].as_array().map(Vec::len) == Some(1)).then_some(())
        })
        .await;
    }
    let first_replace = jobs_of(&c, "slow-replace").await[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    c.advance_clock(Duration::from_secs(60));
    // Replace: the running Job is deleted and a new one started.
    eventually("Replace swapped the job", || async {
        let jobs = jobs_of(&c, "slow-replace").await;
        let names: Vec<&str> = jobs
            .iter()
            .filter(|j| j["metadata"].get("deletionTimestamp").is_none())
            .filter_map(|j| j["metadata"]["name"].as_str())
            .collect();
        (names.len() == 1 && names[0] != first_replace).then_some(())
    })
    .await;
    assert!(
        reasons(&c, "slow-replace")
            .await
            .contains(&format!("SuccessfulDelete Deleted job {first_replace}"))
    );
    // Forbid: still the one Job, and the controller says why.
    let ev = eventually("JobAlreadyActive", || async {
        let ev = reasons(&c, "slow-forbid").await;
        ev.iter()
            .any(|e| e.starts_with("JobAlreadyActive"))
            .then_some(ev)
    })
    .await;
    assert!(ev.contains(&"JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid".to_string()));
    assert_eq!(jobs_of(&c, "slow-forbid").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_deadline_skips_a_start_that_is_too_late() {
    let c = start().await;
    let mut cj = cronjob("late", "Allow", json!({}));
    cj["spec"]["schedule"] = json!("0 * * * *");
    cj["spec"]["startingDeadlineSeconds"] = json!(10);
    let (code, st) = post(&c, CJ, &cj).await;
    assert_eq!(code, 201, "{st}");
    // Jump past the top of the hour by more than the deadline: the start is missed.
    let now = chrono::Utc::now();
    let past_hour = 3600 - now.timestamp() % 3600 + 30;
    c.advance_clock(Duration::from_secs(past_hour as u64));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(jobs_of(&c, "late").await.is_empty());
    // Invalid schedules are refused as the real validation does.
    let mut bad = cronjob("bad", "Allow", json!({}));
    bad["spec"]["schedule"] = json!("61 * * * *");
    let (code, st) = post(&c, CJ, &bad).await;
    assert_eq!(code, 422, "{st}");
    bad["spec"]["schedule"] = json!("CRON_TZ=UTC 0 * * * *");
    let (code, st) = post(&c, CJ, &bad).await;
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"].as_str().is_some_and(
            |m| m.contains("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
        ),
        "{st}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_cronjobs_and_jobs_from_them() {
    if !have_kubectl() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let kc = c.kubeconfig_path().to_path_buf();
    let o = run(
        kubectl(
            &kc,
            &[
                "create",
                "cronjob",
                "nightly",
                "--image=busybox",
                "--schedule=*/5 * * * *",
            ],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let o = run(
        kubectl(
            &kc,
            &["create", "job", "manual-run", "--from=cronjob/nightly"],
        ),
        T,
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    let (_, job) = get_json(&c, &format!("{JOBS}/manual-run")).await;
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    eventually("the manual job completes", || async {
        let (_, j) = get_json(&c, &format!("{JOBS}/manual-run")).await;
        (j["status"]["succeeded"] == 1).then_some(())
    })
    .await;
    // The manual Job is reported, not counted as active.
    let text = eventually("ACTIVE back to 0", || {
        let kc = kc.clone();
        async move {
            let o = run(kubectl(&kc, &["get", "cronjobs"]), T).await;
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let row: Vec<String> = text
                .lines()
                .nth(1)?
                .split_whitespace()
                .map(str::to_string)
                .collect();
            (row.get(8).map(String::as_str) == Some("0")).then_some(text)
        }
    })
    .await;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(&row[..6], ["nightly", "*/5", "*", "*", "*", "*"]);
    assert_eq!(&row[6..10], ["<none>", "False", "0", "<none>"], "{text}");

    // On schedule: the next 5-minute boundary.
    c.advance_clock(Duration::from_secs(300));
    let o = eventually("a scheduled job", || {
        let kc = kc.clone();
        async move {
            let o = run(kubectl(&kc, &["get", "jobs", "-o", "name"]), T).await;
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            (text
                .lines()
                .filter(|l| l.starts_with("job.batch/nightly-"))
                .count()
                == 1)
                .then_some(text)
        }
    })
    .await;
    assert!(o.contains("job.batch/manual-run"), "{o}");
    let ev = run(
        kubectl(
            &kc,
            &[
                "get",
                "events",
                "--field-selector=involvedObject.name=nightly",
            ],
        ),
        T,
    )
    .await;
    let ev = String::from_utf8_lossy(&ev.stdout).to_string();
    assert!(
        ev.contains("Saw a job that the controller did not create or forgot: manual-run"),
        "{ev}"
    );
    let o = run(kubectl(&kc, &["describe", "cronjob", "nightly"]), T).await;
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("SuccessfulCreate"), "{text}");
}
