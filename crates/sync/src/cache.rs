//! The cluster cache: live state from watches, not polling. One watcher per kind in use (started on
//! demand, custom resources included) feeds a store that keeps only objects some application tracks
//! (valid `trellis.dev/tracking-id`) plus the ReplicaSets and Pods those workloads own, with
//! `managedFields` stripped, so memory is bounded by what Trellis manages rather than by the cluster.
//! The cache is shared by every application of a process; waiters subscribe to its change counter.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::watch;

use crate::cluster::{Cluster, Resolved, to_value};
use crate::error::{Error, Result};
use crate::object::{ObjKey, TrackingId};

/// How long to wait for a new watcher's initial list.
const INITIAL_LIST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
enum WatchState {
    Listing,
    Ready,
    Failed(String),
}

#[derive(Default)]
struct Store {
    objects: HashMap<ObjKey, Arc<Value>>,
    uids: HashMap<String, ObjKey>,
    /// Keys of the objects each application tracks.
    by_app: HashMap<String, BTreeSet<ObjKey>>,
    /// Keys of the held objects that name each uid as an owner.
    children: HashMap<String, BTreeSet<ObjKey>>,
    /// Applications whose objects (or their children) changed since the last notification.
    touched: HashSet<String>,
}

/// Owner uids named by an object's `ownerReferences`.
fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

/// How many owner links are followed to find the application of a child (Pod → ReplicaSet →
/// Deployment).
const OWNER_DEPTH: usize = 3;

impl Store {
    /// Applications an object belongs to: its own tracking id, else those of its held owners.
    fn apps_of(&self, obj: &Value, depth: usize, out: &mut HashSet<String>) {
        if let Some(t) = TrackingId::of_live(obj) {
            out.insert(t.app);
            return;
        }
        if depth == 0 {
            return;
        }
        for uid in owner_uids(obj) {
            if let Some(owner) = self.uids.get(uid).and_then(|k| self.objects.get(k)) {
                self.apps_of(owner, depth - 1, out);
            }
        }
    }

    fn insert(&mut self, key: ObjKey, obj: Value) {
        self.unindex(&key);
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            self.uids.insert(uid.to_string(), key.clone());
        }
        if let Some(t) = TrackingId::of_live(&obj) {
            self.by_app.entry(t.app).or_default().insert(key.clone());
        }
        for uid in owner_uids(&obj) {
            self.children
                .entry(uid.to_string())
                .or_default()
                .insert(key.clone());
        }
        let mut touched = std::mem::take(&mut self.touched);
        self.apps_of(&obj, OWNER_DEPTH, &mut touched);
        self.touched = touched;
        self.objects.insert(key, Arc::new(obj));
    }

    /// Drop the indexes of the held version of `key` (noting its applications as touched).
    fn unindex(&mut self, key: &ObjKey) {
        let Some(old) = self.objects.get(key).cloned() else {
            return;
        };
        let mut touched = std::mem::take(&mut self.touched);
        self.apps_of(&old, OWNER_DEPTH, &mut touched);
        self.touched = touched;
        if let Some(t) = TrackingId::of_live(&old)
            && let Some(set) = self.by_app.get_mut(&t.app)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_app.remove(&t.app);
            }
        }
        for uid in owner_uids(&old) {
            if let Some(set) = self.children.get_mut(uid) {
                set.remove(key);
                if set.is_empty() {
                    self.children.remove(uid);
                }
            }
        }
    }

    /// Whether `obj` would replace the held version with an older generation of the same object
    /// (a watch event delivered after the engine recorded its own newer write).
    fn is_stale(&self, key: &ObjKey, obj: &Value) -> bool {
        let Some(old) = self.objects.get(key) else {
            return false;
        };
        let generation = |o: &Value| o.pointer("/metadata/generation").and_then(Value::as_i64);
        old.pointer("/metadata/uid") == obj.pointer("/metadata/uid")
            && matches!((generation(old), generation(obj)), (Some(a), Some(b)) if b < a)
    }

    fn remove(&mut self, key: &ObjKey) {
        self.unindex(key);
        if let Some(old) = self.objects.remove(key)
            && let Some(uid) = old.pointer("/metadata/uid").and_then(Value::as_str)
            && self.uids.get(uid) == Some(key)
        {
            self.uids.remove(uid);
        }
    }

    /// Whether the cache keeps this object: tracked by an application, or a ReplicaSet/Pod/Job
    /// owned by something kept (workloads' children, the Jobs a CronJob scheduled).
    fn keeps(&self, obj: &Value) -> bool {
        if TrackingId::of_live(obj).is_some() {
            return true;
        }
        let key = ObjKey::of(obj);
        let child = (key.group == "apps" && key.kind == "ReplicaSet")
            || (key.group.is_empty() && key.kind == "Pod")
            || (key.group == "batch" && key.kind == "Job");
        child && owner_uids(obj).any(|u| self.uids.contains_key(u))
    }
}

/// Change notifications: a global counter, one per application, and streams of the touched
/// applications' tracking keys (for a controller that requeues only the applications concerned).
#[derive(Default)]
struct Notifier {
    global: watch::Sender<u64>,
    apps: Mutex<HashMap<String, watch::Sender<u64>>>,
    touched: Mutex<Vec<tokio::sync::mpsc::UnboundedSender<Vec<String>>>>,
}

impl Notifier {
    fn subscribe_app(&self, app: &str) -> watch::Receiver<u64> {
        let mut apps = self.apps.lock().expect("notifier lock poisoned");
        apps.entry(app.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wake the waiters of the touched applications (and global subscribers).
    fn publish(&self, touched: HashSet<String>) {
        self.global.send_modify(|v| *v += 1);
        if touched.is_empty() {
            return;
        }
        {
            let mut subs = self.touched.lock().expect("notifier lock poisoned");
            if !subs.is_empty() {
                let keys: Vec<String> = touched.iter().cloned().collect();
                subs.retain(|tx| tx.send(keys.clone()).is_ok());
            }
        }
        let mut apps = self.apps.lock().expect("notifier lock poisoned");
        for app in touched {
            if let Some(tx) = apps.get(&app) {
                if tx.receiver_count() == 0 {
                    apps.remove(&app);
                } else {
                    tx.send_modify(|v| *v += 1);
                }
            }
        }
    }
}

struct WatchHandle {
    state: watch::Receiver<WatchState>,
    task: tokio::task::JoinHandle<()>,
}

/// Live objects Trellis tracks, kept current by watches.
pub struct ClusterCache {
    cluster: Arc<Cluster>,
    store: Arc<Mutex<Store>>,
    notifier: Arc<Notifier>,
    watchers: tokio::sync::Mutex<HashMap<(String, String), WatchHandle>>,
}

impl std::fmt::Debug for ClusterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCache")
            .field("objects", &self.len())
            .finish_non_exhaustive()
    }
}

impl Drop for ClusterCache {
    fn drop(&mut self) {
        if let Ok(w) = self.watchers.try_lock() {
            for h in w.values() {
                h.task.abort();
            }
        }
    }
}

/// Drop `managedFields` before converting a watched object to JSON: the cache does not keep them,
/// and they are often the largest part of an object.
fn without_managed_fields(mut o: DynamicObject) -> DynamicObject {
    o.metadata.managed_fields = None;
    o
}

/// Remove what the cache does not need to keep.
fn slim(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    obj
}

impl ClusterCache {
    /// An empty cache over a cluster.
    pub fn new(cluster: Arc<Cluster>) -> ClusterCache {
        ClusterCache {
            cluster,
            store: Arc::default(),
            notifier: Arc::default(),
            watchers: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The cluster it watches.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Make sure the kind is watched and its initial list has been loaded.
    pub async fn ensure(&self, res: &Resolved) -> Result<()> {
        let gk = (res.ar.group.clone(), res.ar.kind.clone());
        let mut state = {
            let mut watchers = self.watchers.lock().await;
            match watchers.get(&gk) {
                Some(h) => h.state.clone(),
                None => {
                    let h = self.spawn(res);
                    let s = h.state.clone();
                    watchers.insert(gk.clone(), h);
                    s
                }
            }
        };
        let wait = state.wait_for(|s| *s != WatchState::Listing);
        match tokio::time::timeout(INITIAL_LIST_TIMEOUT, wait).await {
            Ok(Ok(s)) => match &*s {
                WatchState::Failed(m) => Err(Error::Api {
                    context: format!("watching {}", res.ar.kind),
                    message: m.clone(),
                    reason: "WatchFailed".into(),
                    code: 0,
                }),
                _ => Ok(()),
            },
            Ok(Err(_)) => Err(Error::State(format!("watcher for {} stopped", res.ar.kind))),
            Err(_) => Err(Error::Timeout(format!("listing {}", res.ar.kind))),
        }
    }

    fn spawn(&self, res: &Resolved) -> WatchHandle {
        let (tx, rx) = watch::channel(WatchState::Listing);
        let api: Api<DynamicObject> = Api::all_with(self.cluster.client().clone(), &res.ar);
        let ar = res.ar.clone();
        let store = self.store.clone();
        let notifier = self.notifier.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            let mut buffer: Option<Vec<Value>> = None;
            while let Some(ev) = stream.next().await {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::warn!(kind = %ar.kind, error = %e, "watch error");
                        // A transient failure of the initial list (throttling, a 5xx, a dropped
                        // connection) is retried by the watcher's backoff, bounded by
                        // INITIAL_LIST_TIMEOUT; only a lasting one (forbidden, unknown kind)
                        // fails the callers waiting for it.
                        if *tx.borrow() == WatchState::Listing && !watch_error_is_transient(&e) {
                            tx.send_replace(WatchState::Failed(e.to_string()));
                        }
                        continue;
                    }
                };
                let (changed, touched) = {
                    let mut st = store.lock().expect("cache lock poisoned");
                    let changed = match ev {
                        Event::Init => {
                            buffer = Some(Vec::new());
                            false
                        }
                        Event::InitApply(o) => {
                            buffer
                                .get_or_insert_with(Vec::new)
                                .push(slim(to_value(without_managed_fields(o), &ar)));
                            false
                        }
                        Event::InitDone => {
                            let stale: Vec<ObjKey> = st
                                .objects
                                .keys()
                                .filter(|k| k.group == ar.group && k.kind == ar.kind)
                                .cloned()
                                .collect();
                            for k in &stale {
                                st.remove(k);
                            }
                            for o in buffer.take().unwrap_or_default() {
                                if st.keeps(&o) {
                                    st.insert(ObjKey::of(&o), o);
                                }
                            }
                            tx.send_replace(WatchState::Ready);
                            true
                        }
                        Event::Apply(o) => {
                            let o = slim(to_value(without_managed_fields(o), &ar));
                            let key = ObjKey::of(&o);
                            if st.keeps(&o) {
                                if st.is_stale(&key, &o) {
                                    false
                                } else {
                                    st.insert(key, o);
                                    true
                                }
                            } else if st.objects.contains_key(&key) {
                                st.remove(&key);
                                true
                            } else {
                                false
                            }
                        }
                        Event::Delete(o) => {
                            let key = ObjKey::of(&to_value(o, &ar));
                            let had = st.objects.contains_key(&key);
                            st.remove(&key);
                            had
                        }
                    };
                    (changed, std::mem::take(&mut st.touched))
                };
                if changed {
                    notifier.publish(touched);
                }
            }
        });
        WatchHandle { state: rx, task }
    }

    /// The live object, if the cache holds it.
    pub fn get(&self, key: &ObjKey) -> Option<Arc<Value>> {
        self.store
            .lock()
            .expect("cache lock poisoned")
            .objects
            .get(key)
            .cloned()
    }

    /// Objects that application `app` tracks.
    pub fn tracked_by(&self, app: &str) -> Vec<(ObjKey, Arc<Value>)> {
        let st = self.store.lock().expect("cache lock poisoned");
        let Some(keys) = st.by_app.get(app) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|k| st.objects.get(k).map(|o| (k.clone(), o.clone())))
            .collect()
    }

    /// Objects whose `ownerReferences` name this uid, held because their owner is kept
    /// (ReplicaSets and Pods of workloads, Jobs of CronJobs).
    pub fn children_of(&self, uid: &str) -> Vec<Arc<Value>> {
        let st = self.store.lock().expect("cache lock poisoned");
        st.children
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|k| st.objects.get(k).cloned())
            .collect()
    }

    /// Number of objects held.
    pub fn len(&self) -> usize {
        self.store
            .lock()
            .expect("cache lock poisoned")
            .objects
            .len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A receiver that changes whenever the cache does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notifier.global.subscribe()
    }

    /// A receiver that changes whenever an object application `app` tracks changes, appears or
    /// goes away, or one of their held children (Pods, ReplicaSets, Jobs) does. Waiters of one
    /// application are not woken by the others' churn.
    pub fn subscribe_app(&self, app: &str) -> watch::Receiver<u64> {
        self.notifier.subscribe_app(app)
    }

    /// A stream of the tracking keys of applications whose objects (or their held children)
    /// changed, appeared or went away, batched per cache update. A controller maps them back to
    /// its applications and requeues only those.
    pub fn subscribe_touched(&self) -> tokio::sync::mpsc::UnboundedReceiver<Vec<String>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.notifier
            .touched
            .lock()
            .expect("notifier lock poisoned")
            .push(tx);
        rx
    }

    /// Record an object the engine just wrote, so that readers do not see an older version before the
    /// watch event arrives (the watch will overwrite it with the same or a newer version).
    pub fn observe_write(&self, obj: &Value) {
        let mut st = self.store.lock().expect("cache lock poisoned");
        if !st.keeps(obj) {
            return;
        }
        let key = ObjKey::of(obj);
        let newer = match st.objects.get(&key) {
            None => true,
            Some(old) => {
                let uid = |o: &Value| o.pointer("/metadata/uid").cloned();
                let gen_of = |o: &Value| {
                    o.pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                };
                uid(old) != uid(obj) || gen_of(obj) > gen_of(old)
            }
        };
        if newer {
            st.insert(key, slim(obj.clone()));
            let touched = std::mem::take(&mut st.touched);
            drop(st);
            self.notifier.publish(touched);
        }
    }

    /// Forget an object the engine just deleted (the watch confirms later).
    pub fn observe_delete(&self, key: &ObjKey) {
        let touched = {
            let mut st = self.store.lock().expect("cache lock poisoned");
            st.remove(key);
            std::mem::take(&mut st.touched)
        };
        self.notifier.publish(touched);
    }
}

/// Whether the watcher's retry may get past this error.
fn watch_error_is_transient(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => crate::cluster::transient(e),
        watcher::Error::WatchError(s) => s.code == 429 || s.code == 410 || s.code >= 500,
        watcher::Error::NoResourceVersion => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tracked(app: &str, api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
        let mut o = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": "ns", "uid": uid}});
        let id = ObjKey::of(&o).tracking_id(app);
        o["metadata"]["annotations"] = json!({ crate::object::TRACKING_ID: id });
        o
    }

    fn child(api_version: &str, kind: &str, name: &str, uid: &str, owner: &str) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name,
            "namespace": "ns", "uid": uid, "ownerReferences": [{"uid": owner, "controller": true}]}})
    }

    fn put(st: &mut Store, o: Value) -> HashSet<String> {
        assert!(st.keeps(&o), "kept: {o}");
        st.insert(ObjKey::of(&o), o);
        std::mem::take(&mut st.touched)
    }

    fn names(st: &Store, uid: &str) -> Vec<String> {
        let mut v: Vec<String> = st
            .children
            .get(uid)
            .into_iter()
            .flatten()
            .map(|k| k.name.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn changes_touch_the_owning_application_only() {
        let mut st = Store::default();
        let set = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        assert_eq!(
            put(&mut st, tracked("a", "apps/v1", "Deployment", "web", "d1")),
            set(&["a"])
        );
        assert_eq!(
            put(
                &mut st,
                tracked("b", "batch/v1", "CronJob", "nightly", "c1")
            ),
            set(&["b"])
        );
        // Pod → ReplicaSet → Deployment of application a.
        assert_eq!(
            put(&mut st, child("apps/v1", "ReplicaSet", "web-1", "r1", "d1")),
            set(&["a"])
        );
        assert_eq!(
            put(&mut st, child("v1", "Pod", "web-1-x", "p1", "r1")),
            set(&["a"])
        );
        // A Job the CronJob scheduled belongs to b.
        assert_eq!(
            put(&mut st, child("batch/v1", "Job", "nightly-1", "j1", "c1")),
            set(&["b"])
        );
        // Objects whose owner is not held are not kept.
        assert!(!st.keeps(&child("v1", "Pod", "stray", "p9", "zz")));
        assert!(
            !st.keeps(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
        );

        assert_eq!(names(&st, "c1"), ["nightly-1"]);
        assert_eq!(names(&st, "d1"), ["web-1"]);
        // Removing the Job drops it from the index and touches b again.
        st.remove(&ObjKey::of(&child(
            "batch/v1",
            "Job",
            "nightly-1",
            "j1",
            "c1",
        )));
        assert_eq!(std::mem::take(&mut st.touched), set(&["b"]));
        assert!(names(&st, "c1").is_empty());
        assert_eq!(st.by_app.get("a").map(BTreeSet::len), Some(1));
    }
}
