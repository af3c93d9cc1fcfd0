//! The cluster cache: live state from watches, not polling. One watcher per kind in use (started on
//! demand, custom resources included) feeds a store that keeps only objects some application tracks
//! (valid `trellis.dev/tracking-id`) plus the ReplicaSets and Pods those workloads own, with
//! `managedFields` stripped, so memory is bounded by what Trellis manages rather than by the cluster.
//! The cache is shared by every application of a process; waiters subscribe to its change counter.

use std::collections::HashMap;
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
    by_app: HashMap<String, std::collections::BTreeSet<ObjKey>>,
}

impl Store {
    fn insert(&mut self, key: ObjKey, obj: Value) {
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            self.uids.insert(uid.to_string(), key.clone());
        }
        self.unindex(&key);
        if let Some(t) = TrackingId::of_live(&obj) {
            self.by_app.entry(t.app).or_default().insert(key.clone());
        }
        self.objects.insert(key, Arc::new(obj));
    }

    fn unindex(&mut self, key: &ObjKey) {
        if let Some(t) = self.objects.get(key).and_then(|o| TrackingId::of_live(o))
            && let Some(set) = self.by_app.get_mut(&t.app)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_app.remove(&t.app);
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

    /// Whether the cache keeps this object: tracked by an application, or a ReplicaSet/Pod owned by
    /// something kept.
    fn keeps(&self, obj: &Value) -> bool {
        if TrackingId::of_live(obj).is_some() {
            return true;
        }
        let key = ObjKey::of(obj);
        let child = (key.group == "apps" && key.kind == "ReplicaSet")
            || (key.group.is_empty() && key.kind == "Pod");
        child
            && obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r.get("uid")
                            .and_then(Value::as_str)
                            .is_some_and(|u| self.uids.contains_key(u))
                    })
                })
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
    version: Arc<watch::Sender<u64>>,
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
            version: Arc::new(watch::channel(0).0),
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
        let version = self.version.clone();
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
                        if *tx.borrow() == WatchState::Listing {
                            tx.send_replace(WatchState::Failed(e.to_string()));
                        }
                        continue;
                    }
                };
                let changed = {
                    let mut st = store.lock().expect("cache lock poisoned");
                    match ev {
                        Event::Init => {
                            buffer = Some(Vec::new());
                            false
                        }
                        Event::InitApply(o) => {
                            buffer
                                .get_or_insert_with(Vec::new)
                                .push(slim(to_value(o, &ar)));
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
                            let o = slim(to_value(o, &ar));
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
                    }
                };
                if changed {
                    version.send_modify(|v| *v += 1);
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

    /// Objects owned (directly or through a ReplicaSet) by the object with this uid.
    pub fn children_of(&self, uid: &str) -> Vec<Arc<Value>> {
        let st = self.store.lock().expect("cache lock poisoned");
        let owned_by = |o: &Value, uid: &str| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|r| {
                    r.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                })
        };
        let direct: Vec<Arc<Value>> = st
            .objects
            .values()
            .filter(|o| owned_by(o, uid))
            .cloned()
            .collect();
        let mut out = direct.clone();
        for d in &direct {
            if let Some(duid) = d.pointer("/metadata/uid").and_then(Value::as_str) {
                out.extend(st.objects.values().filter(|o| owned_by(o, duid)).cloned());
            }
        }
        out
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
        self.version.subscribe()
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
            drop(st);
            self.version.send_modify(|v| *v += 1);
        }
    }

    /// Forget an object the engine just deleted (the watch confirms later).
    pub fn observe_delete(&self, key: &ObjKey) {
        self.store.lock().expect("cache lock poisoned").remove(key);
        self.version.send_modify(|v| *v += 1);
    }
}
