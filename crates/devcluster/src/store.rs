//! The object store: every object of every resource in memory behind `Arc`, indexed by
//! (resource, namespace, name), one global resourceVersion counter, a bounded ring of recent
//! events for watch resumption, a broadcast channel for live watchers, owner/uid indexes for
//! garbage collection, and optional persistence as an append-only JSON log under a data dir.
//!
//! Writes are read-modify-write closures run under the write lock, so a failed write changes
//! nothing and concurrent writers are serialized.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::error::{ApiError, ApiResult, Error};
use crate::registry::ResKey;

/// A stored object (shared, immutable once stored).
pub type Obj = Arc<Value>;

/// Watch event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to the store.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub etype: EventType,
    pub key: ResKey,
    pub namespace: String,
    pub name: String,
    pub object: Obj,
    /// The object before a modification (for selector transitions in filtered watches) or a
    /// deletion (for lists continued at an earlier resourceVersion).
    pub prev: Option<Obj>,
}

/// What a write closure decides to do.
pub enum WriteOp {
    /// Store this object (resourceVersion is assigned by the store).
    Put(Value),
    /// Remove the object.
    Delete,
    /// Change nothing and return the current object.
    Keep,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct WriteResult {
    pub object: Obj,
    pub etype: Option<EventType>,
}

type ObjKey = (ResKey, String, String);

/// One page of a list: its resourceVersion, the entries, and the key to continue after.
pub type Page = (u64, Vec<Entry>, Option<(String, String)>);

/// A stored object with its JSON serialization cached (lists write these bytes directly).
#[derive(Debug, Clone)]
pub struct Entry {
    pub obj: Obj,
    pub json: Arc<[u8]>,
}

impl Entry {
    fn new(obj: Obj) -> Self {
        let json: Arc<[u8]> = serde_json::to_vec(&*obj).unwrap_or_default().into();
        Entry { obj, json }
    }
}

struct Inner {
    rv: u64,
    collections: HashMap<ResKey, BTreeMap<(String, String), Entry>>,
    history: VecDeque<Arc<Event>>,
    history_cap: usize,
    /// The oldest resourceVersion from which a watch can still resume.
    oldest_resumable: u64,
    uids: HashMap<String, ObjKey>,
    dependents: HashMap<String, HashSet<ObjKey>>,
    log: Option<BufWriter<File>>,
    /// Durability of the log (with `log`).
    sync: Option<Arc<LogSync>>,
}

/// Group commit of the persisted log: writers append (and flush) under the store lock; a
/// request that wrote waits for an fsync covering its write before it is answered. One fsync
/// runs at a time and covers every write appended before it started, so concurrent writers
/// share them.
struct LogSync {
    file: File,
    /// The resourceVersion of the last write appended to the log.
    written: AtomicU64,
    /// The resourceVersion up to which the log is on disk.
    synced: tokio::sync::watch::Sender<u64>,
    syncing: AtomicBool,
}

/// The store.
pub struct Store {
    inner: RwLock<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
}

/// A watch starting point: events to replay, then the live receiver.
pub struct WatchStart {
    pub initial: Vec<Obj>,
    pub replay: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
    pub rv: u64,
}

fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

fn owner_uids(v: &Value) -> Vec<String> {
    v.get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Inner {
    fn index_remove(&mut self, key: &ObjKey, old: &Value) {
        if let Some(uid) = meta_str(old, "uid") {
            self.uids.remove(uid);
        }
        for o in owner_uids(old) {
            if let Some(set) = self.dependents.get_mut(&o) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&o);
                }
            }
        }
    }

    fn index_add(&mut self, key: &ObjKey, new: &Value) {
        if let Some(uid) = meta_str(new, "uid") {
            self.uids.insert(uid.to_string(), key.clone());
        }
        for o in owner_uids(new) {
            self.dependents.entry(o).or_default().insert(key.clone());
        }
    }

    fn put_raw(
        &mut self,
        key: &ResKey,
        ns: &str,
        name: &str,
        obj: Obj,
    ) -> (Option<Obj>, Arc<[u8]>) {
        let okey = (key.clone(), ns.to_string(), name.to_string());
        let entry = Entry::new(obj.clone());
        let json = entry.json.clone();
        let old = self
            .collections
            .entry(key.clone())
            .or_default()
            .insert((ns.to_string(), name.to_string()), entry)
            .map(|e| e.obj);
        if let Some(o) = &old {
            self.index_remove(&okey, o);
        }
        self.index_add(&okey, &obj);
        (old, json)
    }

    fn remove_raw(&mut self, key: &ResKey, ns: &str, name: &str) -> Option<Obj> {
        let okey = (key.clone(), ns.to_string(), name.to_string());
        let old = self
            .collections
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))
            .map(|e| e.obj);
        if let Some(o) = &old {
            self.index_remove(&okey, o);
        }
        old
    }

    fn record(&mut self, ev: Arc<Event>) {
        if self.history.len() >= self.history_cap
            && let Some(old) = self.history.pop_front()
        {
            self.oldest_resumable = old.rv;
        }
        self.history.push_back(ev);
    }

    fn log_raw(&mut self, mut bytes: Vec<u8>) {
        if let Some(log) = self.log.as_mut() {
            bytes.push(b'\n');
            if let Err(e) = log.write_all(&bytes).and_then(|_| log.flush()) {
                tracing::error!("persisting a write failed: {e}");
            }
        }
        self.mark_written();
    }

    fn mark_written(&mut self) {
        if let Some(s) = &self.sync {
            s.written.fetch_max(self.rv, Ordering::AcqRel);
        }
    }

    fn log_line(&mut self, line: &Value) {
        if let Some(log) = self.log.as_mut() {
            let mut bytes = serde_json::to_vec(line).unwrap_or_default();
            bytes.push(b'\n');
            if let Err(e) = log.write_all(&bytes).and_then(|_| log.flush()) {
                tracing::error!("persisting a write failed: {e}");
            }
        }
        self.mark_written();
    }
}

impl Store {
    /// An empty in-memory store keeping `history_cap` events for watch resumption.
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(16384);
        Store {
            inner: RwLock::new(Inner {
                rv: 1,
                collections: HashMap::new(),
                history: VecDeque::new(),
                history_cap: history_cap.max(16),
                oldest_resumable: 1,
                uids: HashMap::new(),
                dependents: HashMap::new(),
                log: None,
                sync: None,
            }),
            tx,
        }
    }

    /// A store persisted in `dir`: replays `dir/state.jsonl`, rewrites it compacted, then
    /// appends every write to it.
    pub fn open(dir: &Path, history_cap: usize) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("state.jsonl");
        let store = Store::new(history_cap);
        {
            let mut inner = store.inner.write().expect("fresh lock");
            if path.exists() {
                let file = File::open(&path)?;
                for (i, line) in BufReader::new(file).lines().enumerate() {
                    let line = line?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let rec: Value = match serde_json::from_str(&line) {
                        Ok(v) => v,
                        // A torn last line (killed mid-write) is dropped; anything else is corrupt.
                        Err(e) => {
                            tracing::warn!(
                                "{}: line {} unreadable ({e}); ignoring it",
                                path.display(),
                                i + 1
                            );
                            continue;
                        }
                    };
                    let key = ResKey {
                        group: rec["g"].as_str().unwrap_or_default().to_string(),
                        plural: rec["p"].as_str().unwrap_or_default().to_string(),
                    };
                    let ns = rec["ns"].as_str().unwrap_or_default().to_string();
                    let name = rec["n"].as_str().unwrap_or_default().to_string();
                    let rv = rec["rv"].as_u64().unwrap_or(0);
                    inner.rv = inner.rv.max(rv);
                    match rec["t"].as_str() {
                        Some("put") => {
                            inner.put_raw(&key, &ns, &name, Arc::new(rec["o"].clone()));
                        }
                        Some("del") => {
                            inner.remove_raw(&key, &ns, &name);
                        }
                        _ => {
                            return Err(Error::Persist {
                                path: path.display().to_string(),
                                message: format!("line {}: unknown record", i + 1),
                            });
                        }
                    }
                }
            }
            inner.oldest_resumable = inner.rv;
            // Compact: write a snapshot to a temporary file and rename it over the log.
            let tmp: PathBuf = dir.join("state.jsonl.tmp");
            {
                let mut w = BufWriter::new(File::create(&tmp)?);
                let rv = inner.rv;
                for (key, coll) in &inner.collections {
                    for ((ns, name), e) in coll {
                        let rec = json!({"t": "put", "g": key.group, "p": key.plural, "ns": ns, "n": name, "rv": rv, "o": &*e.obj});
                        serde_json::to_writer(&mut w, &rec).map_err(std::io::Error::other)?;
                        w.write_all(b"\n")?;
                    }
                }
                w.flush()?;
                w.get_ref().sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            let file = OpenOptions::new().append(true).open(&path)?;
            // The rename is durable once the directory is.
            File::open(dir)?.sync_all()?;
            inner.sync = Some(Arc::new(LogSync {
                file: file.try_clone()?,
                written: AtomicU64::new(inner.rv),
                synced: tokio::sync::watch::Sender::new(inner.rv),
                syncing: AtomicBool::new(false),
            }));
            inner.log = Some(BufWriter::new(file));
        }
        Ok(store)
    }

    /// Wait until every write appended to the persisted log so far is on disk (fsync), sharing
    /// one fsync among the writers waiting at the same time. Immediate without a data dir.
    pub async fn sync_log(&self) {
        let Some(s) = self.inner.read().expect("store lock poisoned").sync.clone() else {
            return;
        };
        let target = s.written.load(Ordering::Acquire);
        let mut rx = s.synced.subscribe();
        loop {
            if *rx.borrow_and_update() >= target {
                return;
            }
            if !s.syncing.swap(true, Ordering::AcqRel) {
                let job = s.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let upto = job.written.load(Ordering::Acquire);
                    (upto, job.file.sync_data())
                })
                .await;
                // Cleared before waking the others, so one of them can start the next fsync.
                s.syncing.store(false, Ordering::Release);
                match done {
                    Ok((upto, Ok(()))) => s.synced.send_modify(|v| *v = (*v).max(upto)),
                    Ok((_, Err(e))) => {
                        tracing::error!("fsync of the persisted log failed: {e}");
                        s.synced.send_modify(|_| {});
                        return;
                    }
                    Err(_) => {
                        s.synced.send_modify(|_| {});
                        return;
                    }
                }
                continue;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// The current (latest) resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.inner.read().expect("store lock poisoned").rv
    }

    pub fn get(&self, key: &ResKey, ns: &str, name: &str) -> Option<Obj> {
        let inner = self.inner.read().expect("store lock poisoned");
        inner
            .collections
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .map(|e| e.obj.clone())
    }

    /// Objects of a resource (optionally in one namespace) after `after`, matching `filter`,
    /// at most `limit` (0 = all). Returns the list resourceVersion, the items and whether
    /// more remain (with the last returned key).
    pub fn list(
        &self,
        key: &ResKey,
        ns: Option<&str>,
        after: Option<(String, String)>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
    ) -> (u64, Vec<Obj>, Option<(String, String)>) {
        let (rv, entries, next) = self.list_with(key, ns, after, limit, filter);
        (rv, entries.into_iter().map(|e| e.obj).collect(), next)
    }

    /// Like `list`, with each object's cached JSON.
    pub fn list_with(
        &self,
        key: &ResKey,
        ns: Option<&str>,
        after: Option<(String, String)>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
    ) -> (u64, Vec<Entry>, Option<(String, String)>) {
        match self.list_at(key, ns, after, limit, filter, None) {
            Ok(r) => r,
            Err(_) => (self.current_rv(), Vec::new(), None),
        }
    }

    /// Like `list_with`, as the store was at resourceVersion `at` (a continued list reads the
    /// snapshot of its first page): the current objects with the retained events after `at`
    /// undone. `Err(oldest)` when events after `at` are no longer retained.
    pub fn list_at(
        &self,
        key: &ResKey,
        ns: Option<&str>,
        after: Option<(String, String)>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
        at: Option<u64>,
    ) -> Result<Page, u64> {
        use std::ops::Bound;
        let inner = self.inner.read().expect("store lock poisoned");
        let at = at.filter(|a| *a < inner.rv);
        // The objects whose state at `at` differs from now: (ns, name) -> state then.
        let mut then: BTreeMap<(String, String), Option<Entry>> = BTreeMap::new();
        if let Some(at) = at {
            if at < inner.oldest_resumable {
                return Err(inner.oldest_resumable);
            }
            for ev in inner.history.iter().rev().take_while(|e| e.rv > at) {
                if ev.key != *key || ns.is_some_and(|n| n != ev.namespace) {
                    continue;
                }
                let before = match ev.etype {
                    EventType::Added => None,
                    EventType::Modified | EventType::Deleted => ev.prev.clone().map(Entry::new),
                };
                // Newest first: the last one written is the state just after `at`.
                then.insert((ev.namespace.clone(), ev.name.clone()), before);
            }
        }
        let lower = match (&after, ns) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(n)) => Bound::Included((n.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let lower_now = lower.clone();
        let mut now = inner
            .collections
            .get(key)
            .into_iter()
            .flat_map(|c| c.range((lower_now.clone(), Bound::Unbounded)))
            .filter(|(k, _)| !then.contains_key(*k))
            .map(|(k, e)| (k, Some(e)))
            .peekable();
        let mut changed = then
            .range((lower, Bound::Unbounded))
            .map(|(k, e)| (k, e.as_ref()))
            .peekable();
        let mut items: Vec<Entry> = Vec::new();
        let mut more = false;
        let mut last_key = None;
        loop {
            // Merge the two sorted sequences by key.
            let take_now = match (now.peek(), changed.peek()) {
                (Some((a, _)), Some((b, _))) => a < b,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_now { now.next() } else { changed.next() };
            let Some(((ons, oname), e)) = next else { break };
            if let Some(n) = ns
                && ons != n
            {
                break;
            }
            let Some(e) = e else { continue };
            if !filter(&e.obj) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push(e.clone());
            last_key = Some((ons.clone(), oname.clone()));
        }
        // The continue key is the last returned item, when more remain.
        let rv = at.unwrap_or(inner.rv);
        Ok((rv, items, if more { last_key } else { None }))
    }

    /// Count objects of a resource in one namespace (or all).
    pub fn count(&self, key: &ResKey, ns: Option<&str>) -> usize {
        let inner = self.inner.read().expect("store lock poisoned");
        match inner.collections.get(key) {
            None => 0,
            Some(c) => match ns {
                None => c.len(),
                Some(n) => c.keys().filter(|(o, _)| o == n).count(),
            },
        }
    }

    /// Resource keys that have at least one object.
    pub fn keys(&self) -> Vec<ResKey> {
        let inner = self.inner.read().expect("store lock poisoned");
        inner
            .collections
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Objects owned (through ownerReferences) by the object with this uid.
    pub fn dependents(&self, uid: &str) -> Vec<(ResKey, String, String)> {
        let inner = self.inner.read().expect("store lock poisoned");
        inner
            .dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether an object with this uid exists.
    pub fn uid_exists(&self, uid: &str) -> bool {
        self.inner
            .read()
            .expect("store lock poisoned")
            .uids
            .contains_key(uid)
    }

    /// Read-modify-write one object atomically. `f` sees the current object (if any) and
    /// decides; on `dry_run` nothing is stored or broadcast.
    pub fn write(
        &self,
        key: &ResKey,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(Option<&Obj>) -> ApiResult<WriteOp>,
    ) -> ApiResult<WriteResult> {
        let mut inner = self.inner.write().expect("store lock poisoned");
        let current = inner
            .collections
            .get(key)
            .and_then(|c| c.get(&(ns.to_string(), name.to_string())))
            .map(|e| e.obj.clone());
        let op = f(current.as_ref())?;
        match op {
            WriteOp::Keep => match current {
                Some(object) => Ok(WriteResult {
                    object,
                    etype: None,
                }),
                None => Err(ApiError::new(
                    404,
                    "NotFound",
                    format!("\"{name}\" not found"),
                )),
            },
            WriteOp::Put(mut value) => {
                let rv = inner.rv + 1;
                if !value.get("metadata").is_some_and(Value::is_object) {
                    value["metadata"] = json!({});
                }
                if dry_run {
                    if let Some(c) = &current
                        && let Some(r) = meta_str(c, "resourceVersion")
                    {
                        value["metadata"]["resourceVersion"] = json!(r);
                    }
                    let etype = if current.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    return Ok(WriteResult {
                        object: Arc::new(value),
                        etype: Some(etype),
                    });
                }
                value["metadata"]["resourceVersion"] = json!(rv.to_string());
                inner.rv = rv;
                let obj = Arc::new(value);
                let (old, json_bytes) = inner.put_raw(key, ns, name, obj.clone());
                let etype = if old.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                if inner.log.is_some() {
                    // Reuse the cached serialization for the log record.
                    let head = json!({"t": "put", "g": key.group, "p": key.plural, "ns": ns, "n": name, "rv": rv});
                    let mut line = serde_json::to_vec(&head).unwrap_or_default();
                    line.pop();
                    line.extend_from_slice(b",\"o\":");
                    line.extend_from_slice(&json_bytes);
                    line.push(b'}');
                    inner.log_raw(line);
                }
                let ev = Arc::new(Event {
                    rv,
                    etype,
                    key: key.clone(),
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    object: obj.clone(),
                    prev: old,
                });
                inner.record(ev.clone());
                let _ = self.tx.send(ev);
                Ok(WriteResult {
                    object: obj,
                    etype: Some(etype),
                })
            }
            WriteOp::Delete => {
                let Some(cur) = current else {
                    return Err(ApiError::new(
                        404,
                        "NotFound",
                        format!("\"{name}\" not found"),
                    ));
                };
                if dry_run {
                    return Ok(WriteResult {
                        object: cur,
                        etype: Some(EventType::Deleted),
                    });
                }
                let rv = inner.rv + 1;
                inner.rv = rv;
                inner.remove_raw(key, ns, name);
                let mut value = (*cur).clone();
                value["metadata"]["resourceVersion"] = json!(rv.to_string());
                let obj = Arc::new(value);
                inner.log_line(&json!({"t": "del", "g": key.group, "p": key.plural, "ns": ns, "n": name, "rv": rv}));
                let ev = Arc::new(Event {
                    rv,
                    etype: EventType::Deleted,
                    key: key.clone(),
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    object: obj.clone(),
                    prev: Some(cur),
                });
                inner.record(ev.clone());
                let _ = self.tx.send(ev);
                Ok(WriteResult {
                    object: obj,
                    etype: Some(EventType::Deleted),
                })
            }
        }
    }

    /// Subscribe to every future event (for controllers).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Start a watch on `key`: with `since`, replay retained events after it (or 410 if it is
    /// too old); with `initial`, list current objects first. Atomic with respect to writes.
    pub fn watch_start(
        &self,
        key: &ResKey,
        ns: Option<&str>,
        since: Option<u64>,
        initial: bool,
        filter: &dyn Fn(&Value) -> bool,
    ) -> ApiResult<WatchStart> {
        let inner = self.inner.read().expect("store lock poisoned");
        let rx = self.tx.subscribe();
        let mut replay = Vec::new();
        let mut initial_objs = Vec::new();
        if initial {
            if let Some(coll) = inner.collections.get(key) {
                for ((ons, _), e) in coll {
                    if ns.is_some_and(|n| n != ons) {
                        continue;
                    }
                    if filter(&e.obj) {
                        initial_objs.push(e.obj.clone());
                    }
                }
            }
        } else if let Some(since) = since {
            if since < inner.oldest_resumable {
                return Err(ApiError::gone(format!(
                    "too old resource version: {since} ({})",
                    inner.oldest_resumable
                )));
            }
            for ev in inner.history.iter().filter(|e| e.rv > since) {
                if ev.key == *key && ns.is_none_or(|n| n == ev.namespace) {
                    replay.push(ev.clone());
                }
            }
        }
        Ok(WatchStart {
            initial: initial_objs,
            replay,
            rx,
            rv: inner.rv,
        })
    }

    /// The oldest resourceVersion a watch can resume from.
    pub fn oldest_resumable(&self) -> u64 {
        self.inner
            .read()
            .expect("store lock poisoned")
            .oldest_resumable
    }
}
