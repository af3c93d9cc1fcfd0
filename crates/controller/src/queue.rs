//! The controller's work queue: which key (an Application) is reconciled next, by which worker.
//!
//! [`WorkQueue`] owns the set of keys waiting for a reconcile and the keys being reconciled right
//! now. Producers (watch events, webhooks, git polls, periodic resyncs, retries) call
//! [`WorkQueue::add`] or [`WorkQueue::add_after`]; N async workers share the queue (it is a cheap
//! handle: clone it or put it in an `Arc`) and loop on [`WorkQueue::next`], which hands out a key
//! with a [`Ticket`]; dropping the ticket (or [`WorkQueue::done`]) ends that key's processing.
//!
//! Guarantees:
//! - **Dedup.** A key is queued at most once: adding a key that is already waiting changes
//!   nothing, however often it is added (a burst of watch events is one reconcile).
//! - **No concurrent processing of one key.** While a key's ticket is alive, [`WorkQueue::next`]
//!   never hands the key out again. Adding it meanwhile marks it *dirty*: it is queued again,
//!   once, when its ticket is dropped, so a change seen during a reconcile is never lost.
//! - **Fairness across lanes.** Every add names a *lane* (the environment an Application belongs
//!   to). Lanes with waiting keys take turns, one key per turn, and a lane that gets its first key
//!   joins the end of the current round; within a lane keys come out first in, first out. So an
//!   environment with 100 queued syncs never starves another's single change: that key is served
//!   within one round, after at most one key of every other busy lane. A key's lane is the one
//!   given by the call that queued it (a deduplicated add does not move it).
//! - **Delays.** [`WorkQueue::add_after`] queues a key once its delay has passed (retry backoff,
//!   periodic resync). Of several pending delays of one key the earliest wins, and a plain
//!   [`WorkQueue::add`] makes the key ready at once (the delay is cancelled, no second run
//!   follows). Delayed keys are promoted lazily by [`WorkQueue::next`] (and the length
//!   accessors); one waiting worker sleeps until the earliest deadline, the others until notified.
//! - **Shutdown.** [`WorkQueue::shutdown`] wakes every waiting worker; from then on
//!   [`WorkQueue::next`] returns `None` at once, even if keys are still queued (an interrupted
//!   reconcile resumes from persisted state after a restart), and adds are ignored. Tickets still
//!   held can be dropped as usual.
//!
//! Cost: `add`, `next` and dropping a ticket are O(1) (amortised, hashing), `add_after` and the
//! promotion of a delayed key O(log n); nothing scans all keys. Cancelled or superseded delays
//! leave stale heap entries that are skipped when they surface and compacted when they outnumber
//! the live ones. State sits behind one `std::sync::Mutex`, never held across an `.await`.
//!
//! Observation: each [`Ticket`] carries how long its key waited in the ready queue
//! ([`Ticket::waited`], for the `trellis_queue_wait_seconds` histogram), and [`WorkQueue::depth`]
//! gives the queue's gauges. Time is `tokio::time::Instant`, so tests run under paused time.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::{self, Debug};
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What a queue key needs to be: an Application's name or id.
pub trait QueueKey: Clone + Eq + Hash + Ord + Send + Sync + Debug + 'static {}
impl<T: Clone + Eq + Hash + Ord + Send + Sync + Debug + 'static> QueueKey for T {}

/// What a lane (fairness group) needs to be: an environment's name.
pub trait QueueLane: Clone + Eq + Hash + Send + Sync + Debug + 'static {}
impl<T: Clone + Eq + Hash + Send + Sync + Debug + 'static> QueueLane for T {}

/// Delays further away than this (about 30 years) are cut to it, so a deadline never overflows.
const MAX_DELAY: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// Stale delayed entries tolerated beyond the live ones before the heap is compacted.
const COMPACT_SLACK: usize = 1024;

/// A deduplicating, lane-fair work queue of keys with delayed adds. See the [module
/// docs](self) for its guarantees.
///
/// Cloning gives another handle on the same queue.
pub struct WorkQueue<K: QueueKey, L: QueueLane = String> {
    shared: Arc<Shared<K, L>>,
}

/// A key being processed. While it lives, its key is not handed out again; dropping it (or
/// [`Ticket::done`], [`WorkQueue::done`]) ends the processing and queues the key again if it was
/// added in the meantime.
#[must_use = "dropping the ticket ends the key's processing at once"]
pub struct Ticket<K: QueueKey, L: QueueLane = String> {
    shared: Arc<Shared<K, L>>,
    key: K,
    lane: L,
    waited: Duration,
}

/// The queue's gauges at one moment. A key can count twice: a dirty key is also processing, and a
/// processing key can have a pending delayed add.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Keys ready to be handed out now.
    pub ready: usize,
    /// Keys waiting for their delay to pass.
    pub delayed: usize,
    /// Keys added while being processed: queued again when their processing ends.
    pub dirty: usize,
    /// Keys handed out whose ticket is still alive.
    pub processing: usize,
    /// Lanes with ready keys (the length of a round).
    pub lanes: usize,
}

struct Shared<K, L> {
    inner: Mutex<Inner<K, L>>,
    /// Wakes waiting workers: one per newly ready key, all on shutdown.
    notify: Notify,
}

struct Inner<K, L> {
    keys: HashMap<K, KeyState<L>>,
    /// Ready keys of each lane, FIFO. A lane is here only while it has ready keys.
    lanes: HashMap<L, VecDeque<K>>,
    /// Lanes with ready keys, in turn order; each lane of `lanes` appears exactly once.
    rotation: VecDeque<L>,
    /// Delayed adds, earliest deadline on top. An entry is live only while its key's
    /// `delayed.1` equals its `seq`; others are stale and skipped.
    heap: BinaryHeap<Delayed<K>>,
    /// Source of heap entry sequence numbers and timer tokens.
    seq: u64,
    ready: usize,
    delayed: usize,
    dirty: usize,
    processing: usize,
    /// The waiting worker that sleeps until the earliest deadline: its token and that deadline.
    timer: Option<(u64, Instant)>,
    shutdown: bool,
}

/// Everything known about one key. A key with none of the three is removed from the map.
struct KeyState<L> {
    /// The lane the key is (or will be) queued in.
    lane: L,
    /// Set while the key is queued to run: in its lane's queue, or dirty (while processing).
    /// The time it entered the ready queue (for a dirty key, refreshed when its processing ends).
    ready_since: Option<Instant>,
    /// A pending delayed add: its deadline and its heap entry's sequence number.
    delayed: Option<(Instant, u64)>,
    /// A ticket for this key is alive.
    processing: bool,
}

struct Delayed<K> {
    deadline: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Delayed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline && self.seq == other.seq
    }
}
impl<K> Eq for Delayed<K> {}
impl<K> PartialOrd for Delayed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Delayed<K> {
    /// Reversed, so that `BinaryHeap` (a max-heap) has the earliest deadline (then the earliest
    /// add) on top.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

impl<K: QueueKey, L: QueueLane> WorkQueue<K, L> {
    /// An empty queue.
    pub fn new() -> Self {
        WorkQueue {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    keys: HashMap::new(),
                    lanes: HashMap::new(),
                    rotation: VecDeque::new(),
                    heap: BinaryHeap::new(),
                    seq: 0,
                    ready: 0,
                    delayed: 0,
                    dirty: 0,
                    processing: 0,
                    timer: None,
                    shutdown: false,
                }),
                notify: Notify::new(),
            }),
        }
    }

    /// Queues `key` in `lane` now. Nothing changes if it is already queued; if it is being
    /// processed it is queued again when its processing ends. Cancels a pending delayed add.
    pub fn add(&self, key: K, lane: L) {
        let wake = {
            let mut inner = self.shared.lock();
            !inner.shutdown && inner.add(key, lane, Instant::now())
        };
        if wake {
            self.shared.notify.notify_one();
        }
    }

    /// Queues `key` in `lane` once `delay` has passed, unless it is queued sooner: nothing changes
    /// if the key is already ready (or dirty) or has an earlier pending delay. A zero delay is
    /// [`add`](Self::add).
    pub fn add_after(&self, key: K, lane: L, delay: Duration) {
        if delay.is_zero() {
            return self.add(key, lane);
        }
        let wake = {
            let mut inner = self.shared.lock();
            if inner.shutdown {
                return;
            }
            let now = Instant::now();
            let deadline = now
                .checked_add(delay.min(MAX_DELAY))
                .unwrap_or(now + MAX_DELAY);
            inner.add_after(key, lane, deadline)
        };
        if wake {
            // The new deadline is the earliest: a waiting worker must sleep until it.
            self.shared.notify.notify_one();
        }
    }

    /// Waits for a ready key and hands it out with its [`Ticket`]; lanes take turns. Returns
    /// `None` once [`shutdown`](Self::shutdown) was called (at once, even if keys are queued).
    ///
    /// Cancel-safe: dropping the future loses no key.
    pub async fn next(&self) -> Option<(K, Ticket<K, L>)> {
        let mut timer = TimerRole {
            shared: &self.shared,
            token: None,
        };
        loop {
            let mut notified = pin!(self.shared.notify.notified());
            let wake_at = {
                let mut inner = self.shared.lock();
                timer.release(&mut inner);
                if inner.shutdown {
                    return None;
                }
                if let Some((key, ticket, wake_another)) = self.take(&mut inner) {
                    drop(inner);
                    if wake_another {
                        self.shared.notify.notify_one();
                    }
                    return Some((key, ticket));
                }
                // Registered before the lock is released: an add after this point wakes us.
                notified.as_mut().enable();
                inner.claim_timer().map(|(token, deadline)| {
                    timer.token = Some(token);
                    deadline
                })
            };
            match wake_at {
                Some(deadline) => {
                    // Woken by an add or by the deadline: either way, look again.
                    let _ = tokio::time::timeout_at(deadline, notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// Hands out a ready key without waiting, if there is one (and the queue is not shut down).
    pub fn try_next(&self) -> Option<(K, Ticket<K, L>)> {
        let mut inner = self.shared.lock();
        if inner.shutdown {
            return None;
        }
        let (key, ticket, wake_another) = self.take(&mut inner)?;
        drop(inner);
        if wake_another {
            self.shared.notify.notify_one();
        }
        Some((key, ticket))
    }

    /// Ends the processing of a ticket's key: the same as dropping the ticket.
    pub fn done(&self, ticket: Ticket<K, L>) {
        drop(ticket);
    }

    /// Stops the queue: wakes every waiting worker, [`next`](Self::next) returns `None` from now
    /// on and adds are ignored.
    pub fn shutdown(&self) {
        self.shared.lock().shutdown = true;
        self.shared.notify.notify_waiters();
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.lock().shutdown
    }

    /// Keys queued to run: ready, dirty (queued again once their processing ends) and delayed.
    pub fn len(&self) -> usize {
        let d = self.depth();
        d.ready + d.dirty + d.delayed
    }

    /// Whether no key is queued (keys may still be processing).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys ready to be handed out now.
    pub fn ready_len(&self) -> usize {
        self.depth().ready
    }

    /// Keys being processed (tickets alive).
    pub fn processing_len(&self) -> usize {
        self.depth().processing
    }

    /// The queue's gauges. Delayed keys whose deadline has passed count as ready.
    pub fn depth(&self) -> QueueDepth {
        let (depth, promoted) = {
            let mut inner = self.shared.lock();
            let promoted = inner.promote_due(Instant::now());
            (inner.depth(), promoted)
        };
        if promoted > 0 {
            self.shared.notify.notify_one();
        }
        depth
    }

    /// Promotes due delayed keys and takes the next ready key. The flag asks to wake another
    /// worker: keys are left ready, or delayed keys are left with no worker sleeping on them.
    fn take(&self, inner: &mut Inner<K, L>) -> Option<(K, Ticket<K, L>, bool)> {
        let now = Instant::now();
        inner.promote_due(now);
        let (key, lane, waited) = inner.pop(now)?;
        let wake_another = inner.ready > 0 || (inner.delayed > 0 && inner.timer.is_none());
        let ticket = Ticket {
            shared: Arc::clone(&self.shared),
            key: key.clone(),
            lane,
            waited,
        };
        Some((key, ticket, wake_another))
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        self.shared.lock().check_invariants();
    }
}

impl<K: QueueKey, L: QueueLane> Default for WorkQueue<K, L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: QueueKey, L: QueueLane> Clone for WorkQueue<K, L> {
    fn clone(&self) -> Self {
        WorkQueue {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K: QueueKey, L: QueueLane> Debug for WorkQueue<K, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.shared.lock();
        f.debug_struct("WorkQueue")
            .field("depth", &inner.depth())
            .field("shutdown", &inner.shutdown)
            .finish()
    }
}

impl<K: QueueKey, L: QueueLane> Ticket<K, L> {
    /// The key being processed.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The lane the key was queued in.
    pub fn lane(&self) -> &L {
        &self.lane
    }

    /// How long the key waited ready before it was handed out: since its add, since its delay
    /// passed, or (for a key added while it was processed) since that processing ended.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Ends the processing: the same as dropping the ticket.
    pub fn done(self) {
        drop(self);
    }
}

impl<K: QueueKey, L: QueueLane> Drop for Ticket<K, L> {
    fn drop(&mut self) {
        let requeued = self.shared.lock().finish(&self.key, Instant::now());
        if requeued {
            self.shared.notify.notify_one();
        }
    }
}

impl<K: QueueKey, L: QueueLane> Debug for Ticket<K, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("key", &self.key)
            .field("lane", &self.lane)
            .field("waited", &self.waited)
            .finish()
    }
}

impl<K, L> Shared<K, L> {
    /// The state. A panic while it was held cannot leave it half-updated in a way that matters
    /// more than stopping every worker would, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Inner<K, L>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A waiting worker's claim to sleep until the earliest deadline. Released when the worker
/// looks at the queue again; if the worker's `next` future is dropped while it holds the claim,
/// another waiting worker is woken to take it over.
struct TimerRole<'a, K, L> {
    shared: &'a Shared<K, L>,
    token: Option<u64>,
}

impl<K, L> TimerRole<'_, K, L> {
    fn release(&mut self, inner: &mut Inner<K, L>) {
        if let Some(token) = self.token.take()
            && inner.timer.is_some_and(|(t, _)| t == token)
        {
            inner.timer = None;
        }
    }
}

impl<K, L> Drop for TimerRole<'_, K, L> {
    fn drop(&mut self) {
        if self.token.is_none() {
            return;
        }
        let hand_over = {
            let mut inner = self.shared.lock();
            self.release(&mut inner);
            inner.timer.is_none() && inner.delayed > 0
        };
        if hand_over {
            self.shared.notify.notify_one();
        }
    }
}

impl<K: QueueKey, L: QueueLane> Inner<K, L> {
    /// See [`WorkQueue::add`]. Returns whether the key became ready (a worker should wake).
    fn add(&mut self, key: K, lane: L, now: Instant) -> bool {
        match self.keys.entry(key) {
            Entry::Occupied(mut entry) => {
                let state = entry.get_mut();
                if state.ready_since.is_some() {
                    return false;
                }
                if state.delayed.take().is_some() {
                    self.delayed -= 1;
                }
                state.lane = lane;
                state.ready_since = Some(now);
                if state.processing {
                    self.dirty += 1;
                    return false;
                }
                let lane = state.lane.clone();
                let key = entry.key().clone();
                self.push_ready(key, lane);
                true
            }
            Entry::Vacant(entry) => {
                let key = entry.key().clone();
                entry.insert(KeyState {
                    lane: lane.clone(),
                    ready_since: Some(now),
                    delayed: None,
                    processing: false,
                });
                self.push_ready(key, lane);
                true
            }
        }
    }

    /// See [`WorkQueue::add_after`]. Returns whether `deadline` is now the earliest one no
    /// worker sleeps until.
    fn add_after(&mut self, key: K, lane: L, deadline: Instant) -> bool {
        self.seq += 1;
        let seq = self.seq;
        match self.keys.get_mut(&key) {
            Some(state) => {
                if state.ready_since.is_some() {
                    return false;
                }
                match state.delayed {
                    Some((pending, _)) if pending <= deadline => return false,
                    Some(_) => {}
                    None => self.delayed += 1,
                }
                state.delayed = Some((deadline, seq));
                state.lane = lane;
            }
            None => {
                self.keys.insert(
                    key.clone(),
                    KeyState {
                        lane,
                        ready_since: None,
                        delayed: Some((deadline, seq)),
                        processing: false,
                    },
                );
                self.delayed += 1;
            }
        }
        self.heap.push(Delayed { deadline, seq, key });
        if self.heap.len() > 2 * self.delayed + COMPACT_SLACK {
            self.compact();
        }
        self.timer.is_none_or(|(_, armed)| deadline < armed)
    }

    /// Drops stale heap entries.
    fn compact(&mut self) {
        let keys = &self.keys;
        self.heap.retain(|entry| is_live(keys, entry));
    }

    /// Appends a key to its lane; a lane that had no ready key joins the end of the round.
    fn push_ready(&mut self, key: K, lane: L) {
        match self.lanes.get_mut(&lane) {
            Some(queue) => queue.push_back(key),
            None => {
                self.lanes.insert(lane.clone(), VecDeque::from([key]));
                self.rotation.push_back(lane);
            }
        }
        self.ready += 1;
    }

    /// Makes every delayed key whose deadline has passed ready (or dirty, if it is processing),
    /// in deadline order, and drops the stale entries on top of the heap, so that the top (if
    /// any) is live and in the future. Returns how many keys became ready.
    fn promote_due(&mut self, now: Instant) -> usize {
        let mut promoted = 0;
        while let Some(top) = self.heap.peek() {
            let live = is_live(&self.keys, top);
            if live && top.deadline > now {
                break;
            }
            let Some(entry) = self.heap.pop() else {
                break;
            };
            if !live {
                continue;
            }
            let Some(state) = self.keys.get_mut(&entry.key) else {
                continue;
            };
            state.delayed = None;
            self.delayed -= 1;
            state.ready_since = Some(entry.deadline);
            if state.processing {
                self.dirty += 1;
            } else {
                let lane = state.lane.clone();
                self.push_ready(entry.key, lane);
                promoted += 1;
            }
        }
        promoted
    }

    /// Takes the next ready key: the first key of the lane whose turn it is. That lane goes to
    /// the end of the round if it has more keys.
    fn pop(&mut self, now: Instant) -> Option<(K, L, Duration)> {
        loop {
            let lane = self.rotation.pop_front()?;
            let Some(queue) = self.lanes.get_mut(&lane) else {
                debug_assert!(false, "lane {lane:?} in the rotation has no queue");
                continue;
            };
            let key = queue.pop_front();
            if queue.is_empty() {
                self.lanes.remove(&lane);
            } else {
                self.rotation.push_back(lane.clone());
            }
            let Some(key) = key else {
                continue;
            };
            self.ready -= 1;
            let Some(state) = self.keys.get_mut(&key) else {
                debug_assert!(false, "ready key {key:?} has no state");
                continue;
            };
            let since = state.ready_since.take().unwrap_or(now);
            state.processing = true;
            self.processing += 1;
            return Some((key, lane, now.saturating_duration_since(since)));
        }
    }

    /// Ends a key's processing. Returns whether it was queued again (it was dirty).
    fn finish(&mut self, key: &K, now: Instant) -> bool {
        let Some(state) = self.keys.get_mut(key) else {
            return false;
        };
        if !state.processing {
            return false;
        }
        state.processing = false;
        self.processing -= 1;
        if state.ready_since.is_some() {
            self.dirty -= 1;
            state.ready_since = Some(now);
            let lane = state.lane.clone();
            self.push_ready(key.clone(), lane);
            return !self.shutdown;
        }
        if state.delayed.is_none() {
            self.keys.remove(key);
        }
        false
    }

    /// Makes the calling waiter the one that sleeps until the earliest deadline, unless another
    /// waiter already sleeps until that deadline or an earlier one. Call after
    /// [`promote_due`](Self::promote_due), which leaves a live entry on top.
    fn claim_timer(&mut self) -> Option<(u64, Instant)> {
        let deadline = self.heap.peek()?.deadline;
        if self.timer.is_some_and(|(_, armed)| armed <= deadline) {
            return None;
        }
        self.seq += 1;
        self.timer = Some((self.seq, deadline));
        self.timer
    }

    fn depth(&self) -> QueueDepth {
        QueueDepth {
            ready: self.ready,
            delayed: self.delayed,
            dirty: self.dirty,
            processing: self.processing,
            lanes: self.rotation.len(),
        }
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        use std::collections::HashSet;
        let mut in_lanes = HashSet::new();
        for (lane, queue) in &self.lanes {
            assert!(!queue.is_empty(), "empty lane {lane:?} kept");
            for key in queue {
                assert!(
                    in_lanes.insert(key.clone()),
                    "{key:?} twice in the ready set"
                );
                let state = &self.keys[key];
                assert_eq!(&state.lane, lane, "{key:?} queued in a lane not its own");
                assert!(state.ready_since.is_some() && !state.processing);
                assert!(state.delayed.is_none(), "{key:?} both ready and delayed");
            }
        }
        assert_eq!(in_lanes.len(), self.ready);
        let rotation: HashSet<&L> = self.rotation.iter().collect();
        assert_eq!(
            rotation.len(),
            self.rotation.len(),
            "lane twice in the rotation"
        );
        assert_eq!(rotation.len(), self.lanes.len());
        assert!(self.lanes.keys().all(|l| rotation.contains(l)));
        let mut dirty = 0;
        let mut delayed = 0;
        let mut processing = 0;
        for (key, state) in &self.keys {
            assert!(
                state.ready_since.is_some() || state.delayed.is_some() || state.processing,
                "{key:?} kept with nothing to do"
            );
            if state.ready_since.is_some() && state.processing {
                dirty += 1;
                assert!(state.delayed.is_none());
            }
            if state.ready_since.is_some() && !state.processing {
                assert!(
                    in_lanes.contains(key),
                    "ready {key:?} missing from its lane"
                );
            }
            if let Some((deadline, seq)) = state.delayed {
                delayed += 1;
                assert!(
                    self.heap
                        .iter()
                        .any(|e| e.seq == seq && e.deadline == deadline && &e.key == key),
                    "delayed {key:?} has no heap entry"
                );
            }
            processing += usize::from(state.processing);
        }
        assert_eq!(
            (dirty, delayed, processing),
            (self.dirty, self.delayed, self.processing)
        );
    }
}

fn is_live<K: Eq + Hash, L>(keys: &HashMap<K, KeyState<L>>, entry: &Delayed<K>) -> bool {
    keys.get(&entry.key)
        .and_then(|state| state.delayed)
        .is_some_and(|(_, seq)| seq == entry.seq)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashSet};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};

    use proptest::prelude::*;

    type Queue = WorkQueue<u32, &'static str>;

    fn drain(q: &Queue) -> Vec<(u32, &'static str)> {
        let mut out = Vec::new();
        while let Some((key, ticket)) = q.try_next() {
            out.push((key, *ticket.lane()));
            ticket.done();
            q.check_invariants();
        }
        out
    }

    /// `next()`, failing the test instead of hanging when no key comes (under paused time the
    /// timeout fires as soon as nothing else can happen).
    async fn next_or_fail(q: &Queue) -> (u32, Ticket<u32, &'static str>) {
        tokio::time::timeout(Duration::from_secs(3600), q.next())
            .await
            .expect("no key came out")
            .expect("queue shut down")
    }

    #[test]
    fn dedup_same_key_many_times_is_one_next() {
        let q = Queue::new();
        for i in 0..1000 {
            q.add(7, if i % 2 == 0 { "a" } else { "b" });
        }
        q.check_invariants();
        assert_eq!(q.len(), 1);
        assert_eq!(q.ready_len(), 1);
        let (key, ticket) = q.try_next().unwrap();
        assert_eq!(
            (key, *ticket.lane()),
            (7, "a"),
            "a deduplicated add keeps the lane"
        );
        assert!(q.try_next().is_none());
        assert_eq!(q.processing_len(), 1);
        ticket.done();
        assert!(q.try_next().is_none());
        assert_eq!(q.len(), 0);
        assert_eq!(q.processing_len(), 0);
        q.check_invariants();
    }

    #[test]
    fn readd_while_processing_runs_again_once_after_done() {
        let q = Queue::new();
        q.add(1, "a");
        let (_, ticket) = q.try_next().unwrap();
        for _ in 0..5 {
            q.add(1, "b");
        }
        q.add_after(1, "c", Duration::from_secs(1));
        q.check_invariants();
        assert_eq!(q.depth().dirty, 1);
        assert_eq!(q.len(), 1);
        assert!(q.try_next().is_none(), "handed out while processing");
        q.done(ticket);
        let (key, ticket) = q.try_next().unwrap();
        assert_eq!((key, *ticket.lane()), (1, "b"));
        assert!(q.try_next().is_none());
        drop(ticket);
        assert!(q.try_next().is_none(), "re-added once, run twice");
        assert!(q.is_empty());
        q.check_invariants();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn workers_never_process_one_key_concurrently() {
        const KEYS: u32 = 20;
        let q: Arc<Queue> = Arc::new(Queue::new());
        let in_flight = Arc::new(Mutex::new(HashSet::new()));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let final_phase = Arc::new(AtomicBool::new(false));
        let after_final = Arc::new(Mutex::new(BTreeSet::new()));
        let deliveries = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..8 {
            let (q, in_flight, overlaps, final_phase, after_final, deliveries) = (
                q.clone(),
                in_flight.clone(),
                overlaps.clone(),
                final_phase.clone(),
                after_final.clone(),
                deliveries.clone(),
            );
            workers.push(tokio::spawn(async move {
                while let Some((key, ticket)) = q.next().await {
                    deliveries.fetch_add(1, AtomicOrdering::SeqCst);
                    if final_phase.load(AtomicOrdering::SeqCst) {
                        after_final.lock().unwrap().insert(key);
                    }
                    if !in_flight.lock().unwrap().insert(key) {
                        overlaps.fetch_add(1, AtomicOrdering::SeqCst);
                    }
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    in_flight.lock().unwrap().remove(&key);
                    ticket.done();
                }
            }));
        }
        let lanes = ["a", "b", "c"];
        let mut adds = 0;
        for _ in 0..300 {
            for key in 0..KEYS {
                q.add(key, lanes[key as usize % 3]);
                adds += 1;
            }
            tokio::task::yield_now().await;
        }
        final_phase.store(true, AtomicOrdering::SeqCst);
        for key in 0..KEYS {
            q.add(key, lanes[key as usize % 3]);
            adds += 1;
        }
        let idle = async {
            while !(q.is_empty() && q.processing_len() == 0) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), idle)
            .await
            .expect("queue never went idle");
        q.check_invariants();
        q.shutdown();
        for worker in workers {
            tokio::time::timeout(Duration::from_secs(30), worker)
                .await
                .expect("worker still waiting after shutdown")
                .unwrap();
        }
        assert_eq!(
            overlaps.load(AtomicOrdering::SeqCst),
            0,
            "concurrent processing"
        );
        assert_eq!(
            after_final.lock().unwrap().len(),
            KEYS as usize,
            "an add during processing was lost"
        );
        let delivered = deliveries.load(AtomicOrdering::SeqCst);
        assert!(delivered >= KEYS as usize && delivered <= adds);
    }

    #[test]
    fn busy_lane_does_not_starve_single_key() {
        let q = Queue::new();
        for key in 0..100 {
            q.add(key, "a");
        }
        q.add(1000, "b");
        let first: Vec<u32> = (0..2)
            .map(|_| {
                let (key, ticket) = q.try_next().unwrap();
                drop(ticket);
                key
            })
            .collect();
        assert!(first.contains(&1000), "lane b's key came out at {first:?}");
    }

    #[test]
    fn lanes_take_turns_fifo_within_a_lane() {
        let q = Queue::new();
        for key in 0..50 {
            q.add(key, "a");
        }
        for key in 100..105 {
            q.add(key, "b");
        }
        q.add(200, "c");
        let mut expected = vec![(0, "a"), (100, "b"), (200, "c")];
        for i in 1..5 {
            expected.extend([(i, "a"), (100 + i, "b")]);
        }
        expected.extend((5..50).map(|i| (i, "a")));
        assert_eq!(drain(&q), expected);
    }

    #[test]
    fn new_lane_joins_end_of_rotation() {
        let q = Queue::new();
        for key in 0..3 {
            q.add(key, "a");
            q.add(10 + key, "b");
        }
        let (first, t) = q.try_next().unwrap();
        drop(t);
        assert_eq!(first, 0);
        q.add(99, "c");
        // a went to the back of the rotation when it took its turn, c joins behind it: c is
        // served after one key of each lane busy before it.
        let rest: Vec<u32> = drain(&q).into_iter().map(|(k, _)| k).collect();
        assert_eq!(rest, vec![10, 1, 99, 11, 2, 12]);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_add_is_ready_at_its_deadline() {
        let q = Queue::new();
        q.add_after(1, "a", Duration::from_secs(10));
        assert_eq!((q.len(), q.ready_len()), (1, 0));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(q.try_next().is_none(), "ready before its delay");
        tokio::time::advance(Duration::from_secs(1)).await;
        let (key, ticket) = q.try_next().unwrap();
        assert_eq!(key, 1);
        assert_eq!(ticket.waited(), Duration::ZERO);
        drop(ticket);
        assert!(q.is_empty());
        q.check_invariants();
    }

    #[tokio::test(start_paused = true)]
    async fn next_sleeps_until_the_deadline() {
        let q = Queue::new();
        let start = Instant::now();
        q.add_after(1, "a", Duration::from_secs(10));
        let (key, _ticket) = next_or_fail(&q).await;
        assert_eq!(key, 1);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn add_cancels_a_delay() {
        let q = Queue::new();
        q.add_after(1, "a", Duration::from_secs(10));
        q.add(1, "b");
        let (key, ticket) = q.try_next().unwrap();
        assert_eq!((key, *ticket.lane()), (1, "b"));
        drop(ticket);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(q.try_next().is_none(), "the cancelled delay still fired");
        assert!(q.is_empty());
        q.check_invariants();
    }

    #[tokio::test(start_paused = true)]
    async fn earliest_of_two_delays_wins() {
        for (first, second) in [(10, 5), (5, 10)] {
            let q = Queue::new();
            q.add_after(1, "a", Duration::from_secs(first));
            q.add_after(1, "a", Duration::from_secs(second));
            assert_eq!(q.len(), 1);
            tokio::time::advance(Duration::from_secs(4)).await;
            assert!(q.try_next().is_none());
            tokio::time::advance(Duration::from_secs(1)).await;
            let (_, ticket) = q.try_next().expect("ready at the earliest deadline");
            drop(ticket);
            tokio::time::advance(Duration::from_secs(10)).await;
            assert!(q.try_next().is_none(), "the later delay fired too");
            q.check_invariants();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_on_ready_key_changes_nothing() {
        let q = Queue::new();
        q.add(1, "a");
        q.add_after(1, "b", Duration::from_secs(5));
        assert_eq!(q.depth().delayed, 0);
        let (_, t) = q.try_next().unwrap();
        assert_eq!(*t.lane(), "a");
        drop(t);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(q.try_next().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn earlier_delay_wakes_a_sleeping_worker() {
        let q = Queue::new();
        q.add_after(1, "a", Duration::from_secs(60));
        let start = Instant::now();
        let worker = tokio::spawn({
            let q = q.clone();
            async move { q.next().await.map(|(k, _)| (k, start.elapsed())) }
        });
        tokio::task::yield_now().await;
        q.add_after(2, "a", Duration::from_secs(1));
        assert_eq!(worker.await.unwrap(), Some((2, Duration::from_secs(1))));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_timer_waiter_hands_the_deadline_over() {
        let q = Queue::new();
        q.add_after(1, "a", Duration::from_secs(10));
        let first = tokio::spawn({
            let q = q.clone();
            async move { q.next().await.map(|(k, _)| k) }
        });
        tokio::task::yield_now().await;
        let second = tokio::spawn({
            let q = q.clone();
            async move { q.next().await.map(|(k, _)| k) }
        });
        tokio::task::yield_now().await;
        first.abort();
        let got = tokio::time::timeout(Duration::from_secs(60), second)
            .await
            .expect("nobody woke at the deadline");
        assert_eq!(got.unwrap(), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_promoted_together_reach_every_waiting_worker() {
        let q = Queue::new();
        for key in 0..3 {
            q.add_after(key, "a", Duration::from_secs(10));
        }
        let start = Instant::now();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                // Each worker keeps its ticket: only another worker can take the next key.
                tokio::spawn(async move { q.next().await.map(|(k, t)| (k, start.elapsed(), t)) })
            })
            .collect();
        let mut got = Vec::new();
        for worker in workers {
            let (key, at, _ticket) = tokio::time::timeout(Duration::from_secs(60), worker)
                .await
                .expect("a promoted key waits while a worker sleeps")
                .unwrap()
                .unwrap();
            assert_eq!(at, Duration::from_secs(10));
            got.push(key);
        }
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn timer_passes_on_when_its_waiter_takes_a_ready_key() {
        let q = Queue::new();
        q.add_after(1, "a", Duration::from_secs(10));
        let start = Instant::now();
        let spawn = |q: Queue| {
            tokio::spawn(async move { q.next().await.map(|(k, t)| (k, start.elapsed(), t)) })
        };
        // The first waiter sleeps until the deadline; it is woken for key 2 and keeps it.
        let first = spawn(q.clone());
        tokio::task::yield_now().await;
        let second = spawn(q.clone());
        tokio::task::yield_now().await;
        q.add(2, "a");
        let mut got = Vec::new();
        for worker in [first, second] {
            let (key, at, _ticket) = tokio::time::timeout(Duration::from_secs(60), worker)
                .await
                .expect("nobody woke at the deadline")
                .unwrap()
                .unwrap();
            got.push((key, at));
        }
        got.sort_unstable();
        assert_eq!(got, vec![(1, Duration::from_secs(10)), (2, Duration::ZERO)]);
    }

    #[tokio::test(start_paused = true)]
    async fn waited_is_time_spent_ready() {
        let q = Queue::new();
        q.add(1, "a");
        tokio::time::advance(Duration::from_secs(3)).await;
        let (_, t) = next_or_fail(&q).await;
        assert_eq!(t.waited(), Duration::from_secs(3));
        // Added during processing: waits from when processing ends.
        q.add(1, "a");
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(t);
        tokio::time::advance(Duration::from_secs(1)).await;
        let (_, t) = next_or_fail(&q).await;
        assert_eq!(t.waited(), Duration::from_secs(1));
        drop(t);
        // Delayed: waits from its deadline.
        q.add_after(2, "a", Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(15)).await;
        let (_, t) = next_or_fail(&q).await;
        assert_eq!(t.waited(), Duration::from_secs(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_unblocks_waiting_workers() {
        let q: Queue = Queue::new();
        q.add_after(1, "a", Duration::from_secs(3600));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { q.next().await.map(|(k, _)| k) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.shutdown();
        for worker in workers {
            let got = tokio::time::timeout(Duration::from_secs(10), worker)
                .await
                .expect("worker still waiting after shutdown");
            assert_eq!(got.unwrap(), None);
        }
        q.add(2, "a");
        assert!(q.next().await.is_none());
        assert!(q.is_shutdown());
    }

    #[test]
    fn stale_delays_are_compacted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let q = Queue::new();
            for _ in 0..10 * COMPACT_SLACK {
                q.add_after(1, "a", Duration::from_secs(100));
                q.add(1, "a");
                let (_, t) = q.try_next().unwrap();
                drop(t);
            }
            assert!(q.shared.lock().heap.len() <= 2 + COMPACT_SLACK);
            q.check_invariants();
        });
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add(u32, u8),
        AddAfter(u32, u8, u64),
        Next,
        Done(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..12u32, 0..4u8).prop_map(|(k, l)| Op::Add(k, l)),
            2 => (0..12u32, 0..4u8, 1..50u64).prop_map(|(k, l, d)| Op::AddAfter(k, l, d)),
            3 => Just(Op::Next),
            2 => any::<usize>().prop_map(Op::Done),
            1 => (1..30u64).prop_map(Op::Advance),
        ]
    }

    const LANES: [&str; 4] = ["a", "b", "c", "d"];

    /// What the queue owes: keys added since their last delivery, with the earliest time each
    /// may be delivered.
    #[derive(Default)]
    struct Model {
        owed: BTreeMap<u32, Instant>,
        held: Vec<(u32, Ticket<u32, &'static str>)>,
        deliveries: usize,
        adds: usize,
    }

    impl Model {
        fn deliver(&mut self, key: u32, ticket: Ticket<u32, &'static str>) {
            let now = Instant::now();
            let owed_from = self.owed.remove(&key);
            assert!(owed_from.is_some(), "{key} delivered though not added");
            assert!(owed_from.is_some_and(|t| t <= now), "{key} delivered early");
            assert!(
                self.held.iter().all(|(k, _)| *k != key),
                "{key} delivered while processing"
            );
            self.held.push((key, ticket));
            self.deliveries += 1;
        }

        fn owe(&mut self, key: u32, from: Instant) {
            self.adds += 1;
            let slot = self.owed.entry(key).or_insert(from);
            *slot = (*slot).min(from);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_operations_keep_the_guarantees(ops in proptest::collection::vec(op(), 1..120)) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let q = Queue::new();
                let mut model = Model::default();
                for op in ops {
                    match op {
                        Op::Add(k, l) => {
                            q.add(k, LANES[l as usize]);
                            model.owe(k, Instant::now());
                        }
                        Op::AddAfter(k, l, ms) => {
                            let delay = Duration::from_millis(ms);
                            q.add_after(k, LANES[l as usize], delay);
                            model.owe(k, Instant::now() + delay);
                        }
                        Op::Next => {
                            if let Some((k, t)) = q.try_next() {
                                model.deliver(k, t);
                            }
                        }
                        Op::Done(i) => {
                            if !model.held.is_empty() {
                                let i = i % model.held.len();
                                drop(model.held.swap_remove(i));
                            }
                        }
                        Op::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                    }
                    q.check_invariants();
                    let d = q.depth();
                    assert_eq!(d.processing, model.held.len());
                }
                // Finish everything and let every delay pass: all owed keys come out.
                model.held.clear();
                tokio::time::advance(Duration::from_millis(100)).await;
                while !model.owed.is_empty() {
                    let (k, t) = tokio::time::timeout(Duration::from_secs(1), q.next())
                        .await
                        .unwrap_or_else(|_| panic!("owed keys never delivered: {:?}", model.owed))
                        .unwrap();
                    model.deliver(k, t);
                    model.held.clear();
                    q.check_invariants();
                }
                assert!(q.try_next().is_none());
                assert!(q.is_empty());
                assert_eq!(q.processing_len(), 0);
                assert!(model.deliveries <= model.adds);
                assert!(q.shared.lock().keys.is_empty(), "state kept for finished keys");
            });
        }
    }

    /// `cargo test --release -p controller queue::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark: prints figures"]
    fn bench_10k_keys_100_lanes_64_workers() {
        const KEYS: u32 = 10_000;
        const LANE_COUNT: u32 = 100;
        const ROUNDS: usize = 20;
        const WORKERS: usize = 64;
        let lanes: Vec<String> = (0..LANE_COUNT).map(|l| format!("env-{l}")).collect();

        // One thread, no contention: the cost of the data structure itself.
        let q: WorkQueue<u32, String> = WorkQueue::new();
        let start = std::time::Instant::now();
        for _ in 0..ROUNDS {
            for key in 0..KEYS {
                q.add(key, lanes[(key % LANE_COUNT) as usize].clone());
            }
            while let Some((_, t)) = q.try_next() {
                drop(t);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let keys = f64::from(KEYS) * ROUNDS as f64;
        println!(
            "single thread: {:.0} keys/s ({:.0} ops/s: add + next + done)",
            keys / secs,
            3.0 * keys / secs
        );

        // 64 async workers on a multi-threaded runtime, the producer adding while they work.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let q: WorkQueue<u32, String> = WorkQueue::new();
            let processed = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let (q, processed) = (q.clone(), processed.clone());
                    tokio::spawn(async move {
                        while let Some((_, t)) = q.next().await {
                            processed.fetch_add(1, AtomicOrdering::Relaxed);
                            drop(t);
                        }
                    })
                })
                .collect();
            let start = std::time::Instant::now();
            for round in 1..=ROUNDS {
                for key in 0..KEYS {
                    q.add(key, lanes[(key % LANE_COUNT) as usize].clone());
                }
                while processed.load(AtomicOrdering::Relaxed) < round * KEYS as usize {
                    tokio::task::yield_now().await;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{WORKERS} workers: {:.0} keys/s ({:.0} ops/s: add + next + done), \
                 {KEYS} keys x {ROUNDS} rounds in {secs:.3} s",
                keys / secs,
                3.0 * keys / secs
            );

            // Delayed adds: 10,000 keys with spread deadlines, promoted by the workers.
            let before = processed.load(AtomicOrdering::Relaxed);
            let start = std::time::Instant::now();
            for key in 0..KEYS {
                q.add_after(
                    key,
                    lanes[(key % LANE_COUNT) as usize].clone(),
                    Duration::from_micros(u64::from(key % 1000)),
                );
            }
            while processed.load(AtomicOrdering::Relaxed) < before + KEYS as usize {
                tokio::task::yield_now().await;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{WORKERS} workers, delayed adds: {:.0} keys/s",
                f64::from(KEYS) / secs
            );
            q.shutdown();
            for w in workers {
                w.await.unwrap();
            }
        });
    }
}
