//! The manager's watcher: one watch over the bucket, a replica of every key's
//! latest entry, fan-out of events to subscribers, and expiry sweeps for stores
//! that do not expire entries themselves.
//!
//! Each change is interpreted by the guest once (with the key's previous entry
//! from the replica, so the guest can tell a marker that removes a hold from one
//! that replaces a marker), then applied to the replica and sent to every
//! subscriber under one lock, so a subscriber's snapshot (taken under the same
//! lock) and its live events never overlap or leave a gap.
//!
//! Sweeps run as their own tasks, a bounded number at a time, so a slow or
//! stalled store never holds up event delivery.

use crate::clock::Clock;
use crate::convert;
use crate::error::{Cause, Error};
use crate::kv::{Entry, KvStore, Operation, WatchItem};
use crate::runtime::Calls;
use crate::runtime::bindings::exports::holds::core::subscribe::{
    Change, Interpretation, SweepOutcome,
};
use crate::subscription::{EndReason, Subscription, Unsubscribe};
use crate::types::{Event, EventKind};
use crate::wait::Waiters;
use futures::StreamExt;
// foldhash: SipHash showed in a hot call's profile; keys are store keys.
use foldhash::HashMap;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

/// A sweep that failed on the store tries again after this.
const SWEEP_BACKOFF: Duration = Duration::from_secs(1);
/// A failed watcher kept warm for the replica restarts after this.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
/// Sweeps in flight at once; the rest wait in the queue.
const CONCURRENT_SWEEPS: usize = 16;

#[derive(Clone, Debug)]
enum Phase {
    Idle,
    Starting,
    Ready,
    Failed(Error),
    Closed,
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Event>,
    end: EndReason,
}

#[derive(Default)]
struct State {
    /// Every key's latest entry as the watch delivered it (snapshots come from here).
    replica: HashMap<String, Entry>,
    /// Entries this manager wrote or read that the watch has not delivered yet:
    /// they make hints current at once, but are not events.
    ahead: HashMap<String, Entry>,
    subscribers: Vec<Subscriber>,
    next_subscriber: u64,
    task: Option<JoinHandle<()>>,
}

impl State {
    /// End every subscription with `error`.
    fn end_all(&mut self, error: &Error) {
        for subscriber in self.subscribers.drain(..) {
            *subscriber.end.lock().unwrap() = Some(error.clone());
        }
    }
}

/// Counts for diagnostics (see [`crate::Stats`]).
pub(crate) struct HubStats {
    pub replica_keys: usize,
    pub replica_bytes: usize,
    pub subscribers: usize,
}

pub(crate) struct Hub {
    kv: Arc<dyn KvStore>,
    calls: Arc<Calls>,
    clock: Arc<dyn Clock>,
    chan_buffer: usize,
    start_timeout: Duration,
    /// Callers waiting for held files, woken by released and expired events.
    waiters: Waiters,
    state: Mutex<State>,
    phase: watch::Sender<Phase>,
}

impl Hub {
    pub fn new(
        kv: Arc<dyn KvStore>,
        calls: Arc<Calls>,
        clock: Arc<dyn Clock>,
        chan_buffer: usize,
        start_timeout: Duration,
        waiters: Waiters,
    ) -> Arc<Self> {
        Arc::new(Hub {
            kv,
            calls,
            clock,
            chan_buffer,
            start_timeout,
            waiters,
            state: Mutex::new(State::default()),
            phase: watch::Sender::new(Phase::Idle),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Start the watcher if it is not running, and wait until it has replayed the
    /// bucket.
    pub async fn ensure_running(self: &Arc<Self>) -> Result<(), Error> {
        {
            let mut state = self.state();
            let phase = self.phase.borrow().clone();
            match phase {
                Phase::Closed => return Err(Error::Closed),
                Phase::Ready => return Ok(()),
                Phase::Starting => {}
                Phase::Idle | Phase::Failed(_) => {
                    self.phase.send_replace(Phase::Starting);
                    state.replica.clear();
                    state.ahead.clear();
                    let hub = self.clone();
                    state.task = Some(tokio::spawn(async move { hub.run().await }));
                }
            }
        }
        let mut phase = self.phase.subscribe();
        let waited = tokio::time::timeout(
            self.start_timeout,
            phase.wait_for(|p| !matches!(p, Phase::Starting)),
        )
        .await;
        match waited {
            Err(_) => Err(Error::store(format!(
                "the watch did not replay the bucket within {:?}",
                self.start_timeout
            ))),
            Ok(Err(_)) => Err(Error::Closed),
            Ok(Ok(p)) => match &*p {
                Phase::Ready => Ok(()),
                Phase::Failed(e) => Err(e.clone()),
                _ => Err(Error::Closed),
            },
        }
    }

    /// Keep the watcher (and so the replica) running until the hub closes:
    /// restart it whenever it fails, e.g. after the store was unreachable.
    pub async fn keep_warm(self: Arc<Self>) {
        let mut phase = self.phase.subscribe();
        loop {
            if let Err(Error::Closed) = self.ensure_running().await {
                return;
            }
            let ended = phase
                .wait_for(|p| matches!(p, Phase::Failed(_) | Phase::Closed))
                .await
                .map(|p| p.clone());
            if !matches!(ended, Ok(Phase::Failed(_))) {
                return;
            }
            tokio::time::sleep(RESTART_BACKOFF).await;
        }
    }

    /// A new subscription: the current holds, then live changes.
    pub async fn subscribe(self: &Arc<Self>) -> Result<Subscription, Error> {
        self.subscribe_to(None).await
    }

    /// [`Hub::subscribe`], with a snapshot of only `keys`' holds (when given):
    /// the current state of the keys a caller follows, without interpreting every
    /// other hold of the bucket. Live changes are every key's, as ever.
    pub async fn subscribe_to(
        self: &Arc<Self>,
        keys: Option<&[String]>,
    ) -> Result<Subscription, Error> {
        self.ensure_running().await?;
        let (tx, rx) = mpsc::channel(self.chan_buffer);
        let end: EndReason = Arc::default();
        let (id, mut current) = {
            let mut state = self.state();
            match &*self.phase.borrow() {
                Phase::Ready => {}
                Phase::Closed => return Err(Error::Closed),
                Phase::Failed(e) => return Err(e.clone()),
                _ => return Err(Error::store("the watch restarted; subscribe again")),
            }
            let id = state.next_subscriber;
            state.next_subscriber += 1;
            state.subscribers.push(Subscriber {
                id,
                tx,
                end: end.clone(),
            });
            // Every entry, markers too: what is a current hold is the guest's call.
            let current: Vec<(String, Entry)> = match keys {
                None => state
                    .replica
                    .iter()
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect(),
                Some(keys) => keys
                    .iter()
                    .filter_map(|k| Some((k.clone(), state.replica.get(k)?.clone())))
                    .collect(),
            };
            (id, current)
        };
        let hub = Arc::downgrade(self);
        let unsubscribe = Unsubscribe::new(move || {
            if let Some(hub) = hub.upgrade() {
                hub.state().subscribers.retain(|s| s.id != id);
            }
        });
        current.sort_by_key(|(_, e)| e.revision);
        let mut snapshot = Vec::with_capacity(current.len());
        for (key, entry) in current {
            snapshot.extend(self.calls.snapshot_event(key, &entry).await?);
        }
        Ok(Subscription::new(snapshot, rx, end, unsubscribe))
    }

    /// The newest entry known for `key`, once the watcher has replayed the bucket:
    /// `Some(None)` means the key has no entry.
    pub fn replica_entry(&self, key: &str) -> Option<Option<Entry>> {
        if !matches!(*self.phase.borrow(), Phase::Ready) {
            return None;
        }
        let state = self.state();
        let newest = match (state.replica.get(key), state.ahead.get(key)) {
            (Some(r), Some(a)) => Some(if a.revision > r.revision { a } else { r }),
            (r, a) => r.or(a),
        };
        Some(newest.cloned())
    }

    /// Record entries this manager learnt from the store (its own acks, its fresh
    /// reads), ahead of the watch.
    pub fn observe_own(&self, seen: Vec<(String, Entry)>) {
        if !matches!(*self.phase.borrow(), Phase::Ready) {
            return;
        }
        let mut state = self.state();
        for (key, entry) in seen {
            let known = state
                .replica
                .get(&key)
                .map(|e| e.revision)
                .max(state.ahead.get(&key).map(|e| e.revision));
            if known.is_none_or(|known| known < entry.revision) {
                state.ahead.insert(key, entry);
            }
        }
    }

    pub fn stats(&self) -> HubStats {
        let state = self.state();
        let replica_bytes = state
            .replica
            .iter()
            .chain(state.ahead.iter())
            .map(|(k, e)| k.len() + e.value.len() + std::mem::size_of::<(String, Entry)>())
            .sum();
        HubStats {
            replica_keys: state.replica.len() + state.ahead.len(),
            replica_bytes,
            subscribers: state.subscribers.len(),
        }
    }

    /// End every subscription and stop the watcher.
    /// End every subscription as a full buffer would ([`Error::Lagged`]).
    #[cfg(feature = "test-util")]
    pub fn lag_subscribers(&self) {
        let lagged = Error::Lagged(self.chan_buffer);
        self.state().end_all(&lagged);
    }

    pub fn close(&self) {
        self.phase.send_replace(Phase::Closed);
        let mut state = self.state();
        state.subscribers.clear();
        state.replica.clear();
        state.ahead.clear();
        if let Some(task) = state.task.take() {
            task.abort();
        }
    }

    fn fail(&self, error: Error) {
        let mut state = self.state();
        if matches!(*self.phase.borrow(), Phase::Closed) {
            return;
        }
        tracing::warn!("holds watcher stopped: {error}");
        self.phase.send_replace(Phase::Failed(error.clone()));
        state.end_all(&error);
        state.replica.clear();
        state.ahead.clear();
    }

    async fn run(self: Arc<Self>) {
        let mut watch = match self.kv.watch().await {
            Ok(watch) => watch,
            Err(e) => {
                return self.fail(Error::Store(
                    Cause::new("starting the watch").with_source(e),
                ));
            }
        };
        let sweeping = !self.kv.expires_entries();
        let mut sweeps = Sweeps::default();
        // Sweep tasks; dropped (and so aborted) with this loop.
        let mut in_flight: JoinSet<SweepDone> = JoinSet::new();
        // The replica drops what the store has aged out, by the bucket's own max age
        // (which may differ from this manager's maximum TTL); zero keeps everything.
        let max_age = self.kv.max_age();
        let mut prune = (!max_age.is_zero()).then(|| {
            tokio::time::interval(
                (max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)),
            )
        });
        let mut ready = false;
        loop {
            let sweep_in = sweeps
                .next()
                .filter(|_| in_flight.len() < CONCURRENT_SWEEPS)
                .map(|at| nanos_until(at, self.clock.now()));
            tokio::select! {
                item = watch.next() => match item {
                    None => return self.fail(Error::store("the watch ended")),
                    Some(Err(e)) => return self.fail(Error::Store(Cause::new("the watch failed").with_source(e))),
                    Some(Ok(WatchItem::CaughtUp)) => {
                        ready = true;
                        self.phase.send_replace(Phase::Ready);
                    }
                    Some(Ok(WatchItem::Entry { key, entry })) => {
                        self.apply(key, entry, !ready, sweeping, &mut sweeps).await;
                    }
                },
                _ = sleep_or_pending(sweep_in) => {
                    let room = CONCURRENT_SWEEPS - in_flight.len();
                    for (key, observed) in sweeps.due(self.clock.now(), room) {
                        let calls = self.calls.clone();
                        in_flight.spawn(async move {
                            let outcome = calls.sweep(&key, convert::entry_to_wit(Some(&observed))).await;
                            SweepDone { key, observed, outcome }
                        });
                    }
                }
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(done) = done {
                        self.swept(done, &mut sweeps);
                    }
                }
                _ = tick_or_pending(prune.as_mut()) => self.prune(max_age),
            }
        }
    }

    /// Interpret one change, then update the replica and fan out under one lock.
    async fn apply(
        &self,
        key: String,
        entry: Entry,
        replaying: bool,
        sweeping: bool,
        sweeps: &mut Sweeps,
    ) {
        // The guest's meaning feeds sweeps and subscribers only: with neither (a
        // manager nobody watches, on a store that expires entries itself) the
        // replica needs just the entry, and a guest call per change is saved.
        let waiting = self.waiters.any();
        let wanted = |subscribed: bool| sweeping || subscribed || waiting;
        let mut meaning = Meaning::Skipped;
        if wanted(!self.state().subscribers.is_empty()) {
            meaning = self.interpret(&key, &entry, replaying).await;
        }
        // A subscriber that arrived meanwhile took its snapshot from the replica
        // without this entry: it must get the event. (Checked under the lock that
        // also updates the replica, so no subscriber can slip in between.)
        let mut state = loop {
            if let Some(state) = {
                let state = self.state();
                (!matches!(meaning, Meaning::Skipped) || !wanted(!state.subscribers.is_empty()))
                    .then_some(state)
            } {
                break state;
            }
            meaning = self.interpret(&key, &entry, replaying).await;
        };
        if sweeping {
            match &meaning {
                Meaning::Known(m) => match m.expiry_check_at {
                    Some(at) => sweeps.schedule(&key, at, entry.clone()),
                    None => sweeps.cancel(&key),
                },
                // Without the guest's word the key's schedule is unknown: keep it.
                Meaning::Skipped | Meaning::Failed(_) => {}
            }
        }
        let event = match meaning {
            Meaning::Known(m) => m.event.filter(|_| !replaying).map(convert::event),
            Meaning::Skipped => None,
            Meaning::Failed(error) => {
                // Nobody may miss this change silently: its subscribers end with the
                // reason, and resubscribe from a fresh snapshot.
                if !replaying {
                    state.end_all(&error);
                }
                None
            }
        };
        let newer = state
            .replica
            .get(&key)
            .is_none_or(|current| current.revision <= entry.revision);
        if state
            .ahead
            .get(&key)
            .is_some_and(|a| a.revision <= entry.revision)
        {
            state.ahead.remove(&key);
        }
        if newer {
            state.replica.insert(key, entry);
        }
        if let Some(event) = &event
            && matches!(event.kind, EventKind::Released { .. } | EventKind::Expired)
        {
            self.waiters.freed(&event.file);
        }
        if let Some(event) = event {
            let buffer = self.chan_buffer;
            state
                .subscribers
                .retain(|s| match s.tx.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        *s.end.lock().unwrap() = Some(Error::Lagged(buffer));
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
        }
    }

    /// What a change means, by the guest, given the key's entry before it.
    async fn interpret(&self, key: &str, entry: &Entry, replaying: bool) -> Meaning {
        let previous = self.previous(key, entry.revision);
        let change = Change {
            key: key.to_string(),
            entry: convert::entry_to_wit(Some(entry)),
            previous: convert::entry_to_wit(previous.as_ref()),
            snapshot: replaying,
        };
        match self.calls.interpret(change).await {
            Ok(meaning) => {
                if let Some(why) = &meaning.dropped {
                    tracing::warn!("ignoring a change: {why}");
                }
                Meaning::Known(meaning)
            }
            Err(e) => {
                tracing::error!(key, "interpreting a change failed: {e}");
                Meaning::Failed(e)
            }
        }
    }

    /// The key's entry before `revision` as subscribers were told of it: the
    /// replica's (not this manager's own acks the watch has not delivered, which
    /// no subscriber has seen).
    fn previous(&self, key: &str, revision: u64) -> Option<Entry> {
        self.state()
            .replica
            .get(key)
            .filter(|e| e.revision < revision)
            .cloned()
    }

    /// Act on a finished sweep: a hold not due yet is looked at again when it is.
    fn swept(&self, done: SweepDone, sweeps: &mut Sweeps) {
        let retry_at = || {
            let backoff = i64::try_from(SWEEP_BACKOFF.as_nanos()).unwrap_or(i64::MAX);
            self.clock.now().saturating_add(backoff)
        };
        // A change since the sweep started has rescheduled (or cancelled) the key.
        if sweeps.has(&done.key) {
            return;
        }
        match done.outcome {
            // The marker reaches the replica and subscribers through the watch.
            Ok(SweepOutcome::Expired(_) | SweepOutcome::Nothing) => {}
            Ok(SweepOutcome::NotDue(at)) => sweeps.schedule(&done.key, at, done.observed),
            Err(e) => {
                tracing::warn!(key = done.key, "sweep failed: {e}");
                sweeps.schedule(&done.key, retry_at(), done.observed);
            }
        }
    }

    /// Drop entries the store has aged out: the replica never outgrows the bucket.
    /// A hold is kept for up to twice the max age, so the marker that ends it (the
    /// server's, or a sweep's when its TTL equals the max age) still finds it as
    /// the previous entry and is reported as an expiry.
    fn prune(&self, max_age: Duration) {
        let young = |_: &String, e: &mut Entry| {
            let limit = if e.operation == Operation::Put {
                max_age.saturating_mul(2)
            } else {
                max_age
            };
            e.created.elapsed().unwrap_or_default() <= limit
        };
        let mut state = self.state();
        state.replica.retain(young);
        state.ahead.retain(young);
    }
}

/// The guest's meaning of a change, if it was asked.
enum Meaning {
    Skipped,
    Known(Interpretation),
    Failed(Error),
}

/// A finished sweep.
struct SweepDone {
    key: String,
    observed: Entry,
    outcome: Result<SweepOutcome, Error>,
}

fn nanos_until(at: i64, now: i64) -> Duration {
    Duration::from_nanos(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
}

async fn sleep_or_pending(after: Option<Duration>) {
    match after {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

async fn tick_or_pending(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Pending expiry checks, by wall-clock instant (ns), with the entry each was
/// scheduled from.
#[derive(Default)]
struct Sweeps {
    queue: BTreeSet<(i64, String)>,
    at: HashMap<String, (i64, Entry)>,
}

impl Sweeps {
    fn schedule(&mut self, key: &str, at: i64, observed: Entry) {
        self.cancel(key);
        self.at.insert(key.to_string(), (at, observed));
        self.queue.insert((at, key.to_string()));
    }

    fn cancel(&mut self, key: &str) {
        if let Some((old, _)) = self.at.remove(key) {
            self.queue.remove(&(old, key.to_string()));
        }
    }

    fn has(&self, key: &str) -> bool {
        self.at.contains_key(key)
    }

    fn next(&self) -> Option<i64> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Up to `limit` keys due at `now`, with their entries.
    fn due(&mut self, now: i64, limit: usize) -> Vec<(String, Entry)> {
        let mut due = Vec::new();
        while due.len() < limit {
            match self.queue.first() {
                Some((at, _)) if *at <= now => {}
                _ => break,
            }
            let (_, key) = self.queue.pop_first().unwrap();
            if let Some((_, observed)) = self.at.remove(&key) {
                due.push((key, observed));
            }
        }
        due
    }
}
