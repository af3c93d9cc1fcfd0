//! Events the simulated controllers and kubelet record, as core `v1` Events the way client-go's
//! event recorder writes them: one Event per (object, reason, message, source), named
//! `<object>.<hex nanoseconds>` in the object's namespace (`default` for cluster-scoped objects),
//! and a repeat of the same occurrence bumps its `count` and `lastTimestamp` instead of adding a
//! new one. `kubectl get events` and `kubectl describe` read them back.
//!
//! Each is mirrored as an `events.k8s.io/v1` Event of the same name ([`to_events_v1`]), since
//! in Kubernetes both APIs serve one resource.
//!
//! Events expire after [`EVENT_TTL`] (the API server's default `--event-ttl` is one hour); the
//! controllers' pass removes expired ones.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::State;
use crate::api::{self, DeleteOpts, WriteOpts};
use crate::store::WriteOp;

/// How long an Event lives after it was last seen.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);

/// `Normal` or `Warning`, as in `core/v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Who records an event: the component and, for the kubelet, the node.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub component: &'static str,
    pub host: Option<&'static str>,
}

pub const DEPLOYMENT_CONTROLLER: Source = Source {
    component: "deployment-controller",
    host: None,
};
pub const REPLICASET_CONTROLLER: Source = Source {
    component: "replicaset-controller",
    host: None,
};
pub const STATEFULSET_CONTROLLER: Source = Source {
    component: "statefulset-controller",
    host: None,
};
pub const DAEMONSET_CONTROLLER: Source = Source {
    component: "daemonset-controller",
    host: None,
};
pub const JOB_CONTROLLER: Source = Source {
    component: "job-controller",
    host: None,
};
pub const SCHEDULER: Source = Source {
    component: "default-scheduler",
    host: None,
};
pub const KUBELET: Source = Source {
    component: "kubelet",
    host: Some(crate::controllers::NODE_NAME),
};

/// The names of Events already recorded, by what makes two occurrences the same event.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<HashMap<String, (String, String)>>,
    last_expiry: Mutex<Option<std::time::Instant>>,
}

fn md<'a>(v: &'a Value, f: &str) -> &'a str {
    v["metadata"][f].as_str().unwrap_or_default()
}

/// Record that `reason` happened to `obj` (`fieldPath` names a container, as the kubelet does).
pub fn record(
    state: &State,
    obj: &Value,
    field_path: Option<&str>,
    etype: EventType,
    reason: &str,
    message: &str,
    source: Source,
) {
    let Some(ri) = state.registry.find("", "v1", "events") else {
        return;
    };
    let ns = match md(obj, "namespace") {
        "" => "default",
        n => n,
    }
    .to_string();
    let uid = md(obj, "uid");
    let now = crate::meta::now();
    let dedup = format!(
        "{uid}\u{0}{}\u{0}{reason}\u{0}{message}\u{0}{}\u{0}{}",
        field_path.unwrap_or_default(),
        source.component,
        etype.as_str()
    );
    let mut seen = state.events.seen.lock().expect("events lock poisoned");
    if seen.len() > 50_000 {
        seen.clear();
    }
    if let Some((ens, ename)) = seen.get(&dedup) {
        let mut bumped = None;
        let _ = state.store.write(&ri.key(), ens, ename, false, |cur| {
            let Some(cur) = cur else {
                return Ok(WriteOp::Keep);
            };
            let mut v = (**cur).clone();
            let count = v["count"].as_i64().unwrap_or(1);
            v["count"] = json!(count + 1);
            v["lastTimestamp"] = json!(now);
            bumped = Some(v.clone());
            Ok(WriteOp::Put(v))
        });
        if let Some(v) = bumped {
            mirror(state, &v);
            return;
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("{}.{nanos:x}", md(obj, "name"));
    let mut involved = json!({
        "kind": obj["kind"], "apiVersion": obj["apiVersion"],
        "name": md(obj, "name"), "uid": uid,
        "resourceVersion": md(obj, "resourceVersion"),
    });
    if !md(obj, "namespace").is_empty() {
        involved["namespace"] = json!(md(obj, "namespace"));
    }
    if let Some(fp) = field_path {
        involved["fieldPath"] = json!(fp);
    }
    let mut src = json!({"component": source.component});
    if let Some(h) = source.host {
        src["host"] = json!(h);
    }
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved,
        "reason": reason, "message": message, "type": etype.as_str(),
        "source": src,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "eventTime": null,
        "reportingComponent": source.component,
        "reportingInstance": source.host.unwrap_or_default(),
    });
    let opts = WriteOpts {
        field_manager: source.component.into(),
        validation: api::FieldValidation::Ignore,
        ..Default::default()
    };
    if let Ok(w) = api::create(state, &ri, &ns, event, &opts) {
        mirror(state, &w.object);
        seen.insert(dedup, (ns, name));
    }
}

fn micro(t: &Value) -> Value {
    match t
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        Some(t) => json!(
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string()
        ),
        None => Value::Null,
    }
}

/// A core `v1` Event as `events.k8s.io/v1` shows it (both are one resource in Kubernetes):
/// `regarding`, `note`, `reportingController`, `series` for repeats, `deprecated*` for the
/// core-only fields.
pub fn to_events_v1(core: &Value) -> Value {
    let count = core["count"].as_i64().unwrap_or(1);
    let first = &core["firstTimestamp"];
    let event_time = if core["eventTime"].is_null() {
        micro(first)
    } else {
        core["eventTime"].clone()
    };
    let mut meta = core["metadata"].clone();
    if let Some(m) = meta.as_object_mut() {
        for k in ["resourceVersion", "uid", "managedFields", "generation"] {
            m.remove(k);
        }
    }
    let mut v = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": meta,
        "eventTime": event_time,
        "reportingController": core["reportingComponent"].as_str()
            .filter(|c| !c.is_empty())
            .or(core["source"]["component"].as_str()).unwrap_or_default(),
        "reportingInstance": core["reportingInstance"].as_str()
            .filter(|c| !c.is_empty())
            .or(core["source"]["host"].as_str()).unwrap_or_default(),
        "action": core["action"].as_str().unwrap_or(core["reason"].as_str().unwrap_or_default()),
        "reason": core["reason"],
        "regarding": core["involvedObject"],
        "note": core["message"],
        "type": core["type"],
        "deprecatedSource": core["source"],
        "deprecatedFirstTimestamp": first,
        "deprecatedLastTimestamp": core["lastTimestamp"],
        "deprecatedCount": count,
    });
    if count > 1 {
        v["series"] = json!({"count": count, "lastObservedTime": micro(&core["lastTimestamp"])});
    }
    if !core["related"].is_null() {
        v["related"] = core["related"].clone();
    }
    v
}

/// Keep the `events.k8s.io/v1` copy of a core Event in step with it.
fn mirror(state: &State, core: &Value) {
    let Some(ri) = state.registry.find("events.k8s.io", "v1", "events") else {
        return;
    };
    let ns = md(core, "namespace").to_string();
    let name = md(core, "name").to_string();
    let converted = to_events_v1(core);
    let mut exists = false;
    let _ = state.store.write(&ri.key(), &ns, &name, false, |cur| {
        let Some(cur) = cur else {
            return Ok(WriteOp::Keep);
        };
        exists = true;
        let mut v = converted.clone();
        v["metadata"] = cur["metadata"].clone();
        Ok(WriteOp::Put(v))
    });
    if !exists {
        let opts = WriteOpts {
            field_manager: v1_manager(core),
            validation: api::FieldValidation::Ignore,
            ..Default::default()
        };
        let _ = api::create(state, &ri, &ns, converted, &opts);
    }
}

fn v1_manager(core: &Value) -> String {
    core["source"]["component"]
        .as_str()
        .unwrap_or("devcluster")
        .to_string()
}

/// Delete the Events last seen longer than [`EVENT_TTL`] ago (looks at most once a minute).
pub fn expire(state: &State) {
    {
        let mut last = state
            .events
            .last_expiry
            .lock()
            .expect("events lock poisoned");
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
            return;
        }
        *last = Some(std::time::Instant::now());
    }
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(EVENT_TTL).unwrap_or(chrono::Duration::hours(1));
    for (group, field) in [
        ("", "/lastTimestamp"),
        ("events.k8s.io", "/deprecatedLastTimestamp"),
    ] {
        let Some(ri) = state.registry.find(group, "v1", "events") else {
            continue;
        };
        let (_, items, _) = state.store.list(&ri.key(), None, None, 0, &|o| {
            o.pointer(field)
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t < cutoff)
        });
        for e in items {
            let _ = api::delete(
                state,
                &ri,
                md(&e, "namespace"),
                md(&e, "name"),
                &DeleteOpts::default(),
            );
        }
    }
}
