//! The CronJob controller (`cronjob-controller`, as `kube-controller-manager` runs it):
//! creates a Job named `<cronjob>-<scheduled time in minutes since the epoch>` for the most
//! recent missed schedule time, honours `suspend`, `startingDeadlineSeconds` and
//! `concurrencyPolicy` (Allow, Forbid, Replace), keeps `status.active`,
//! `status.lastScheduleTime` and `status.lastSuccessfulTime`, deletes finished Jobs beyond
//! `successfulJobsHistoryLimit`/`failedJobsHistoryLimit`, and records its events
//! (`SuccessfulCreate`, `SawCompletedJob`, `SuccessfulDelete`, `JobAlreadyActive`,
//! `MissSchedule`, `UnexpectedJob`, `MissingJob`, ...).
//!
//! Its clock is [`State::now`], which tests move forward with `DevCluster::advance_clock`.
//! Time zones (`spec.timeZone`, or `CRON_TZ=`/`TZ=` on schedules stored before that was
//! refused) come from the system's tz database (`/usr/share/zoneinfo`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::State;
use crate::api::{self, DeleteOpts};
use crate::controllers::{
    all, controller_opts, deleting, key, md, owner_ref, put_status_if_changed, ri,
};
use crate::cron::Schedule;
use crate::events::{self, EventType, Source};

pub const CRONJOB_CONTROLLER: Source = Source {
    component: "cronjob-controller",
    host: None,
};

/// How often more than this many missed start times is reported, as the real controller does.
const MAX_MISSED: usize = 100;

/// A time zone: a fixed offset, or the transitions of a tz database file.
#[derive(Debug, Clone)]
pub enum Zone {
    Fixed(i64),
    Transitions {
        /// (UTC second the offset starts, offset in seconds), ascending.
        changes: Vec<(i64, i64)>,
        initial: i64,
    },
}

impl Zone {
    /// Offset from UTC (seconds) in force at the instant `t` (UTC seconds).
    pub fn offset_at(&self, t: i64) -> i64 {
        match self {
            Zone::Fixed(o) => *o,
            Zone::Transitions { changes, initial } => {
                match changes.partition_point(|(at, _)| *at <= t) {
                    0 => *initial,
                    i => changes[i - 1].1,
                }
            }
        }
    }
}

/// Read a TZif file (version 2+: the 64-bit section).
fn parse_tzif(b: &[u8]) -> Option<Zone> {
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let counts = |base: usize| -> Option<[usize; 6]> {
        if b.get(base..base + 4)? != b"TZif" {
            return None;
        }
        let mut c = [0usize; 6];
        for (i, v) in c.iter_mut().enumerate() {
            *v = be32(base + 20 + 4 * i)? as usize;
        }
        Some(c)
    };
    let [isut, isstd, leap, time, typ, chars] = counts(0)?;
    if b.get(4).copied().unwrap_or(0) < b'2' {
        return None;
    }
    let v1 = time * 4 + time + typ * 6 + chars + leap * 8 + isstd + isut;
    let base = 44 + v1;
    let [_, _, _, time, typ, _] = counts(base)?;
    let mut at = base + 44;
    let mut times = Vec::with_capacity(time);
    for _ in 0..time {
        times.push(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?));
        at += 8;
    }
    let idx: Vec<usize> = b.get(at..at + time)?.iter().map(|i| *i as usize).collect();
    at += time;
    let mut offsets = Vec::with_capacity(typ);
    for _ in 0..typ {
        offsets.push(i64::from(i32::from_be_bytes(
            b.get(at..at + 4)?.try_into().ok()?,
        )));
        at += 6;
    }
    let initial = *offsets.first()?;
    let changes = times
        .into_iter()
        .zip(idx)
        .map(|(t, i)| offsets.get(i).map(|o| (t, *o)))
        .collect::<Option<Vec<_>>>()?;
    Some(Zone::Transitions { changes, initial })
}

/// Look a time zone up by its IANA name (`None` if unknown).
pub fn time_zone(name: &str) -> Option<Zone> {
    match name {
        "" | "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Etc/UCT" | "UCT" | "Zulu" | "Etc/Zulu"
        | "Universal" | "Etc/Universal" => return Some(Zone::Fixed(0)),
        _ => {}
    }
    // `Etc/GMT+5` is five hours *behind* UTC (POSIX sign).
    if let Some(n) = name.strip_prefix("Etc/GMT")
        && let Ok(h) = n.parse::<i64>()
        && (-14..=12).contains(&h)
    {
        return Some(Zone::Fixed(-h * 3600));
    }
    if name.starts_with('/')
        || name.contains("..")
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
    {
        return None;
    }
    let bytes = std::fs::read(std::path::Path::new("/usr/share/zoneinfo").join(name)).ok()?;
    parse_tzif(&bytes)
}

/// The first time strictly after `after` that `sched` fires on the wall clock of `zone`.
pub fn next_in_zone(sched: &Schedule, zone: &Zone, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut t = after;
    for _ in 0..8 {
        let off = zone.offset_at(t.timestamp());
        let local = t + chrono::Duration::seconds(off);
        let next_local = sched.next_after(local)?;
        let cand = next_local - chrono::Duration::seconds(off);
        let off2 = zone.offset_at(cand.timestamp());
        if off2 == off {
            return Some(cand);
        }
        // An offset change lies between: the same wall time under the new offset, if it
        // exists and is still ahead; else carry on from the change.
        let cand2 = next_local - chrono::Duration::seconds(off2);
        if cand2 > after && zone.offset_at(cand2.timestamp()) == off2 {
            return Some(cand2);
        }
        t = cand.max(t + chrono::Duration::minutes(1));
    }
    None
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `Complete` or `Failed` when the Job has finished.
fn finished(job: &Value) -> Option<&'static str> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find_map(|c| match (c["type"].as_str(), c["status"].as_str()) {
            (Some("Complete"), Some("True")) => Some("Complete"),
            (Some("Failed"), Some("True")) => Some("Failed"),
            _ => None,
        })
}

fn job_ref(job: &Value) -> Value {
    json!({
        "kind": "Job", "namespace": md(job, "namespace"), "name": md(job, "name"),
        "uid": md(job, "uid"), "apiVersion": "batch/v1",
        "resourceVersion": md(job, "resourceVersion"),
    })
}

fn record(state: &State, cj: &Value, etype: EventType, reason: &str, message: &str) {
    events::record(state, cj, None, etype, reason, message, CRONJOB_CONTROLLER);
}

/// Record an event about one occurrence (a schedule time, a bad spec) only the first time:
/// the real controller looks at a CronJob when it is due, this one on every pass.
fn record_once(state: &State, cj: &Value, etype: EventType, reason: &str, message: &str) {
    let first = {
        let mut noted = state.cron_noted.lock().expect("cron lock poisoned");
        if noted.len() > 10_000 {
            noted.clear();
        }
        noted
            .entry(md(cj, "uid").to_string())
            .or_default()
            .insert(format!("{reason}\u{0}{message}"))
    };
    if first {
        record(state, cj, etype, reason, message);
    }
}

/// Split `CRON_TZ=Zone ` / `TZ=Zone ` off a schedule.
fn schedule_and_zone(cj: &Value) -> (&str, Option<&str>) {
    let schedule = cj["spec"]["schedule"].as_str().unwrap_or_default().trim();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = schedule.strip_prefix(prefix)
            && let Some((zone, sched)) = rest.split_once(char::is_whitespace)
        {
            return (sched.trim(), Some(zone));
        }
    }
    (schedule, cj["spec"]["timeZone"].as_str())
}

/// One pass over every CronJob; returns when the next schedule falls due.
pub fn cronjobs(state: &State) -> Option<Instant> {
    let cronjobs = all(state, "batch", "cronjobs");
    if cronjobs.is_empty() {
        return None;
    }
    let job_ri = ri(state, "batch", "v1", "jobs")?;
    let jobs = all(state, "batch", "jobs");
    let now = state.now();
    let mut next: Option<DateTime<Utc>> = None;
    for cj in cronjobs {
        if let Some(t) = sync_one(state, &job_ri, &cj, &jobs, now) {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
    }
    let wait = (next? - now).to_std().unwrap_or_default() + Duration::from_millis(100);
    Some(Instant::now() + wait)
}

fn sync_one(
    state: &State,
    job_ri: &crate::registry::ResourceInfo,
    cj: &Arc<Value>,
    all_jobs: &[Arc<Value>],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let ns = md(cj, "namespace").to_string();
    let name = md(cj, "name").to_string();
    let uid = md(cj, "uid").to_string();
    let children: Vec<&Arc<Value>> = all_jobs
        .iter()
        .filter(|j| {
            md(j, "namespace") == ns
                && j["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|rs| {
                        rs.iter()
                            .any(|r| r["uid"] == json!(uid) && r["controller"] == json!(true))
                    })
        })
        .collect();
    let status = &cj["status"];
    let mut active: Vec<Value> = status["active"].as_array().cloned().unwrap_or_default();
    let in_active = |active: &[Value], u: &str| active.iter().any(|r| r["uid"] == json!(u));
    let mut last_success = status["lastSuccessfulTime"].as_str().and_then(parse_time);
    let mut last_schedule = status["lastScheduleTime"].as_str().and_then(parse_time);
    let child_uids: HashSet<&str> = children.iter().map(|j| md(j, "uid")).collect();
    for j in &children {
        let juid = md(j, "uid");
        let done = finished(j);
        let found = in_active(&active, juid);
        if !found && done.is_none() && !deleting(j) {
            // Not adopted into status.active (the real controller only reports it), e.g. a
            // Job made by `kubectl create job --from=cronjob/...`.
            record_once(
                state,
                cj,
                EventType::Warning,
                "UnexpectedJob",
                &format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    md(j, "name")
                ),
            );
        } else if found && let Some(cond) = done {
            active.retain(|r| r["uid"] != json!(juid));
            record(
                state,
                cj,
                EventType::Normal,
                "SawCompletedJob",
                &format!("Saw completed job: {}, status: {cond}", md(j, "name")),
            );
        }
        if done == Some("Complete")
            && let Some(t) = j["status"]["completionTime"].as_str().and_then(parse_time)
            && last_success.is_none_or(|l| t > l)
        {
            last_success = Some(t);
        }
    }
    active.retain(|r| {
        let keep = r["uid"].as_str().is_some_and(|u| child_uids.contains(u));
        if !keep {
            record(
                state,
                cj,
                EventType::Normal,
                "MissingJob",
                &format!(
                    "Active job went missing: {}",
                    r["name"].as_str().unwrap_or_default()
                ),
            );
        }
        keep
    });

    let mut next_due = None;
    if !deleting(cj) {
        let (sched_text, zone_name) = schedule_and_zone(cj);
        let zone = zone_name.map_or(Some(Zone::Fixed(0)), time_zone);
        match (Schedule::parse(sched_text), zone) {
            (_, None) => record_once(
                state,
                cj,
                EventType::Warning,
                "UnknownTimeZone",
                &format!("invalid timeZone: {:?}", zone_name.unwrap_or_default()),
            ),
            (Err(e), _) => record_once(
                state,
                cj,
                EventType::Warning,
                "UnparseableSchedule",
                &format!("unparseable schedule: {sched_text:?} : {e}"),
            ),
            (Ok(sched), Some(zone)) => {
                if cj["spec"]["suspend"] != json!(true) {
                    next_due = schedule(
                        state,
                        job_ri,
                        cj,
                        &sched,
                        &zone,
                        now,
                        &mut active,
                        &mut last_schedule,
                    );
                }
            }
        }
    }

    cleanup_history(state, job_ri, cj, &children, &active);

    put_status_if_changed(state, "batch", "cronjobs", &ns, &name, |old| {
        let mut st = if old.is_object() {
            old.clone()
        } else {
            json!({})
        };
        if active.is_empty() {
            if let Some(m) = st.as_object_mut() {
                m.remove("active");
            }
        } else {
            st["active"] = json!(active);
        }
        if let Some(t) = last_schedule {
            st["lastScheduleTime"] = json!(fmt_time(t));
        }
        if let Some(t) = last_success {
            st["lastSuccessfulTime"] = json!(fmt_time(t));
        }
        st
    });
    next_due
}

/// Start a Job for the most recent missed schedule time, if any is due; returns the next
/// schedule time.
#[allow(clippy::too_many_arguments)]
fn schedule(
    state: &State,
    job_ri: &crate::registry::ResourceInfo,
    cj: &Value,
    sched: &Schedule,
    zone: &Zone,
    now: DateTime<Utc>,
    active: &mut Vec<Value>,
    last_schedule: &mut Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let ns = md(cj, "namespace");
    let name = md(cj, "name");
    let created = parse_time(md(cj, "creationTimestamp")).unwrap_or(now);
    let deadline = cj["spec"]["startingDeadlineSeconds"].as_i64();
    let mut earliest = last_schedule.unwrap_or(created);
    if let Some(d) = deadline {
        let floor = now - chrono::Duration::seconds(d);
        if floor > earliest {
            earliest = floor;
        }
    }
    // The most recent schedule time in (earliest, now], counting the missed ones.
    let mut most_recent = None;
    let mut missed = 0usize;
    let mut t = earliest;
    let next_after_now = loop {
        match next_in_zone(sched, zone, t) {
            Some(n) if n <= now => {
                missed += 1;
                most_recent = Some(n);
                t = n;
                if missed > 500_000 {
                    break next_in_zone(sched, zone, now);
                }
            }
            other => break other,
        }
    };
    let Some(scheduled) = most_recent else {
        return next_after_now;
    };
    if missed > MAX_MISSED {
        record_once(
            state,
            cj,
            EventType::Warning,
            "TooManyMissedTimes",
            &format!(
                "too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            ),
        );
    }
    if let Some(d) = deadline
        && scheduled + chrono::Duration::seconds(d) < now
    {
        record_once(
            state,
            cj,
            EventType::Warning,
            "MissSchedule",
            &format!(
                "Missed scheduled time to start a job: {}",
                scheduled.to_rfc3339()
            ),
        );
        return next_after_now;
    }
    let job_name = format!("{name}-{}", scheduled.timestamp().div_euclid(60));
    if active.iter().any(|r| r["name"] == json!(job_name))
        || state
            .store
            .get(&key("batch", "jobs"), ns, &job_name)
            .is_some()
    {
        return next_after_now;
    }
    match cj["spec"]["concurrencyPolicy"].as_str() {
        Some("Forbid") if !active.is_empty() => {
            if state
                .cron_noted
                .lock()
                .expect("cron lock poisoned")
                .entry(md(cj, "uid").to_string())
                .or_default()
                .insert(format!("forbid\u{0}{scheduled}"))
            {
                record(
                    state,
                    cj,
                    EventType::Normal,
                    "JobAlreadyActive",
                    "Not starting job because prior execution is running and concurrency policy is Forbid",
                );
            }
            return next_after_now;
        }
        Some("Replace") => {
            for r in active.drain(..) {
                let jname = r["name"].as_str().unwrap_or_default();
                let opts = DeleteOpts {
                    propagation: Some("Background".into()),
                    ..Default::default()
                };
                if api::delete(state, job_ri, ns, jname, &opts).is_ok() {
                    record(
                        state,
                        cj,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted job {jname}"),
                    );
                }
            }
        }
        _ => {}
    }
    let template = &cj["spec"]["jobTemplate"];
    let mut annotations = template["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = json!(scheduled.to_rfc3339());
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": job_name, "namespace": ns, "annotations": annotations,
            "ownerReferences": owner_ref(cj, "batch/v1", "CronJob"),
        },
        "spec": template["spec"].clone(),
    });
    if let Some(l) = template["metadata"].get("labels").filter(|l| l.is_object()) {
        job["metadata"]["labels"] = l.clone();
    }
    match api::create(state, job_ri, ns, job, &controller_opts()) {
        Ok(w) => {
            record(
                state,
                cj,
                EventType::Normal,
                "SuccessfulCreate",
                &format!("Created job {job_name}"),
            );
            active.push(job_ref(&w.object));
            *last_schedule = Some(scheduled);
        }
        Err(e) if e.code == 409 => *last_schedule = Some(scheduled),
        Err(e) => record(
            state,
            cj,
            EventType::Warning,
            "FailedCreate",
            &format!("Error creating job: {}", e.message),
        ),
    }
    next_after_now
}

/// Delete the oldest finished Jobs beyond the history limits.
fn cleanup_history(
    state: &State,
    job_ri: &crate::registry::ResourceInfo,
    cj: &Value,
    children: &[&Arc<Value>],
    active: &[Value],
) {
    let ns = md(cj, "namespace");
    for (cond, field, default) in [
        ("Complete", "successfulJobsHistoryLimit", 3),
        ("Failed", "failedJobsHistoryLimit", 1),
    ] {
        let limit = cj["spec"][field].as_i64().unwrap_or(default).max(0) as usize;
        let mut done: Vec<&&Arc<Value>> = children
            .iter()
            .filter(|j| finished(j) == Some(cond) && !deleting(j))
            .filter(|j| !active.iter().any(|r| r["uid"] == json!(md(j, "uid"))))
            .collect();
        if done.len() <= limit {
            continue;
        }
        done.sort_by_key(|j| {
            j["status"]["startTime"]
                .as_str()
                .unwrap_or_else(|| md(j, "creationTimestamp"))
                .to_string()
        });
        let extra = done.len() - limit;
        for j in done.into_iter().take(extra) {
            let opts = DeleteOpts {
                propagation: Some("Background".into()),
                ..Default::default()
            };
            if api::delete(state, job_ri, ns, md(j, "name"), &opts).is_ok() {
                record(
                    state,
                    cj,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted job {}", md(j, "name")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).expect("valid time")
    }

    #[test]
    fn fixed_zones() {
        let s = Schedule::parse("0 9 * * *").expect("valid");
        let z = time_zone("Etc/GMT-2").expect("known zone");
        // 09:00 at UTC+2 is 07:00 UTC.
        assert_eq!(
            next_in_zone(&s, &z, at("2026-01-01T00:00:00Z")).map(fmt_time),
            Some("2026-01-01T07:00:00Z".into())
        );
        assert!(time_zone("No/Such_Zone").is_none());
        assert!(time_zone("../etc/passwd").is_none());
    }

    #[test]
    fn tz_database_zones_follow_daylight_saving() {
        let Some(z) = time_zone("Europe/Berlin") else {
            return; // no tz database on this machine
        };
        let s = Schedule::parse("0 9 * * *").expect("valid");
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            next_in_zone(&s, &z, at("2026-01-10T00:00:00Z")).map(fmt_time),
            Some("2026-01-10T08:00:00Z".into())
        );
        assert_eq!(
            next_in_zone(&s, &z, at("2026-07-10T00:00:00Z")).map(fmt_time),
            Some("2026-07-10T07:00:00Z".into())
        );
    }

    #[test]
    fn cron_tz_prefix() {
        let cj = json!({"spec": {"schedule": "CRON_TZ=Etc/UTC */5 * * * *"}});
        assert_eq!(schedule_and_zone(&cj), ("*/5 * * * *", Some("Etc/UTC")));
    }
}
