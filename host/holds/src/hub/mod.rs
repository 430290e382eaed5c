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
//! stalled store never holds up event delivery. How long entries stay in the
//! replica, how often it is pruned and when sweeps are retried is the guest's
//! [`Upkeep`] plan.

mod fanout;
mod replica;
mod sweeps;

use crate::clock::Clock;
use crate::convert;
use crate::error::{Cause, Error};
use crate::kv::{Entry, KvStore, WatchItem};
use crate::runtime::Calls;
use crate::runtime::bindings::exports::holds::core::subscribe::{
    Change, Interpretation, SweepOutcome,
};
use crate::subscription::{EndReason, Subscription, Unsubscribe};
use crate::types::EventKind;
use crate::upkeep::Upkeep;
use crate::wait::Waiters;
use fanout::Subscribers;
use futures::StreamExt;
use replica::Replica;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sweeps::Sweeps;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Clone, Debug)]
enum Phase {
    Idle,
    Starting,
    Ready,
    Failed(Error),
    Closed,
}

struct State {
    /// Snapshots come from here.
    replica: Replica,
    subscribers: Subscribers,
    task: Option<JoinHandle<()>>,
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
    upkeep: Upkeep,
    chan_buffer: usize,
    start_timeout: Duration,
    /// Callers waiting for held files, woken by released and expired events.
    waiters: Waiters,
    state: Mutex<State>,
    phase: watch::Sender<Phase>,
    /// The replica's watch position (see `Replica::delivered`), for scans
    /// waiting for it.
    delivered: watch::Sender<u64>,
}

impl Hub {
    pub fn new(
        kv: Arc<dyn KvStore>,
        calls: Arc<Calls>,
        clock: Arc<dyn Clock>,
        upkeep: Upkeep,
        chan_buffer: usize,
        start_timeout: Duration,
        waiters: Waiters,
    ) -> Arc<Self> {
        Arc::new(Hub {
            kv,
            calls,
            clock,
            upkeep,
            chan_buffer,
            start_timeout,
            waiters,
            state: Mutex::new(State {
                replica: Replica::default(),
                subscribers: Subscribers::new(chan_buffer),
                task: None,
            }),
            phase: watch::Sender::new(Phase::Idle),
            delivered: watch::Sender::new(0),
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
                    self.delivered.send_replace(0);
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
            tokio::time::sleep(self.upkeep.restart_after).await;
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
            let id = state.subscribers.add(tx, end.clone());
            (id, state.replica.snapshot(keys))
        };
        let hub = Arc::downgrade(self);
        let unsubscribe = Unsubscribe::new(move || {
            if let Some(hub) = hub.upgrade() {
                hub.state().subscribers.remove(id);
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
        Some(self.state().replica.newest(key).cloned())
    }

    /// The value entries of keys starting with `prefix`, once the replica has
    /// every change up to revision `through` (see the WIT `scan`), waiting up to
    /// `wait` for the watch to deliver it; `None` past that.
    pub async fn scan_view(
        &self,
        prefix: &str,
        through: u64,
        wait: Duration,
    ) -> Option<Vec<(String, Entry)>> {
        if let Some(found) = self.scan_now(prefix, through) {
            return Some(found);
        }
        if wait.is_zero() || !matches!(*self.phase.borrow(), Phase::Ready) {
            return None;
        }
        let mut delivered = self.delivered.subscribe();
        // The position's borrow ends here: `apply` updates it under the state
        // lock, which `scan_now` takes.
        let reached = matches!(
            tokio::time::timeout(wait, delivered.wait_for(|d| *d >= through)).await,
            Ok(Ok(_))
        );
        if reached {
            self.scan_now(prefix, through)
        } else {
            None
        }
    }

    fn scan_now(&self, prefix: &str, through: u64) -> Option<Vec<(String, Entry)>> {
        if !matches!(*self.phase.borrow(), Phase::Ready) {
            return None;
        }
        let state = self.state();
        (state.replica.delivered() >= through).then(|| state.replica.scan(prefix))
    }

    /// Record entries this manager learnt from the store (its own acks, its fresh
    /// reads), ahead of the watch.
    pub fn observe_own(&self, seen: Vec<(String, Entry)>) {
        if !matches!(*self.phase.borrow(), Phase::Ready) {
            return;
        }
        let mut state = self.state();
        for (key, entry) in seen {
            state.replica.learn(key, entry);
        }
    }

    /// The plan the replica is kept by.
    #[cfg(feature = "test-util")]
    pub fn upkeep(&self) -> Upkeep {
        self.upkeep
    }

    pub fn stats(&self) -> HubStats {
        let state = self.state();
        let (replica_keys, replica_bytes) = state.replica.size();
        HubStats {
            replica_keys,
            replica_bytes,
            subscribers: state.subscribers.len(),
        }
    }

    /// End every subscription as a full buffer would ([`Error::Lagged`]).
    #[cfg(feature = "test-util")]
    pub fn lag_subscribers(&self) {
        let lagged = Error::Lagged(self.chan_buffer);
        self.state().subscribers.end_all(&lagged);
    }

    /// End every subscription and stop the watcher.
    pub fn close(&self) {
        self.phase.send_replace(Phase::Closed);
        let mut state = self.state();
        state.subscribers.clear();
        state.replica.clear();
        self.delivered.send_replace(0);
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
        state.subscribers.end_all(&error);
        state.replica.clear();
        self.delivered.send_replace(0);
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
        // (which may differ from this manager's maximum TTL).
        let concurrent = self.upkeep.concurrent_sweeps;
        let mut prune = (!self.upkeep.prune_every.is_zero())
            .then(|| tokio::time::interval(self.upkeep.prune_every));
        let mut ready = false;
        loop {
            let sweep_in = sweeps
                .next()
                .filter(|_| in_flight.len() < concurrent)
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
                    let room = concurrent - in_flight.len();
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
                _ = tick_or_pending(prune.as_mut()) => self.prune(),
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
                    state.subscribers.end_all(&error);
                }
                None
            }
        };
        state.replica.apply(key, entry);
        let delivered = state.replica.delivered();
        self.delivered.send_if_modified(|d| {
            let grew = *d < delivered;
            *d = delivered;
            grew
        });
        if let Some(event) = &event
            && matches!(event.kind, EventKind::Released { .. } | EventKind::Expired)
        {
            self.waiters.freed(&event.file);
        }
        if let Some(event) = event {
            state.subscribers.send(&event);
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
        self.state().replica.previous(key, revision)
    }

    /// Act on a finished sweep: a hold not due yet is looked at again when it is.
    fn swept(&self, done: SweepDone, sweeps: &mut Sweeps) {
        let retry_at = || {
            let backoff = i64::try_from(self.upkeep.sweep_retry.as_nanos()).unwrap_or(i64::MAX);
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
    fn prune(&self) {
        self.state()
            .replica
            .prune(std::time::SystemTime::now(), &self.upkeep);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{BucketSpec, MemoryKv};
    use crate::runtime::Runtime;
    use crate::types::{Announce, Event};
    use std::sync::atomic::{AtomicI64, Ordering};

    /// The system clock moved by an offset the test sets.
    #[derive(Default)]
    struct Shifted(AtomicI64);

    impl Clock for Shifted {
        fn now(&self) -> i64 {
            crate::clock::SystemClock
                .now()
                .saturating_add(self.0.load(Ordering::SeqCst))
        }
    }

    struct Fixture {
        hub: Arc<Hub>,
        calls: Arc<Calls>,
        clock: Arc<Shifted>,
    }

    /// A hub over a fresh memory bucket (which does not expire entries: the hub
    /// sweeps), on the embedded guest's upkeep plan with `concurrent` sweeps.
    async fn fixture(concurrent: usize) -> Fixture {
        let max_age = Duration::from_secs(60);
        let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new(&BucketSpec {
            name: "hub".into(),
            max_age,
            replicas: 1,
            op_timeout: Duration::from_secs(5),
        }));
        let clock = Arc::new(Shifted::default());
        let calls = Arc::new(Calls::new(
            Runtime::embedded().unwrap(),
            kv.clone(),
            clock.clone(),
            None,
            1,
            Duration::from_secs(10),
            Duration::from_secs(5),
        ));
        let mut upkeep = calls.upkeep(max_age).await.unwrap();
        upkeep.concurrent_sweeps = concurrent;
        let hub = Hub::new(
            kv,
            calls.clone(),
            clock.clone(),
            upkeep,
            1024,
            Duration::from_secs(5),
            Waiters::default(),
        );
        Fixture { hub, calls, clock }
    }

    impl Fixture {
        async fn announce(&self, file: &str, ttl: Duration) {
            let announce = Announce::new("agent", ttl);
            self.calls
                .announce(file, &announce, Duration::from_secs(60), None)
                .await
                .unwrap();
        }
    }

    async fn next(sub: &mut Subscription) -> Event {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("an event within 5 s")
            .expect("a live subscription")
            .expect("an event, not an error")
    }

    #[tokio::test]
    async fn a_subscriber_gets_the_current_holds_then_each_change_once() {
        let f = fixture(16).await;
        f.announce("/a", Duration::from_secs(30)).await;
        let mut sub = f.hub.subscribe().await.unwrap();
        let snapshot = sub.take_snapshot();
        assert_eq!(snapshot.len(), 1);
        assert_eq!(snapshot[0].file, "/a");
        f.calls.release("/a", "agent", None).await.unwrap();
        f.announce("/b", Duration::from_secs(30)).await;
        let (released, announced) = (next(&mut sub).await, next(&mut sub).await);
        assert!(
            matches!(released.kind, EventKind::Released { .. }),
            "{released:?}"
        );
        assert_eq!(
            (released.file.as_str(), announced.file.as_str()),
            ("/a", "/b")
        );
        assert!(matches!(announced.kind, EventKind::Announced(_)));
        f.hub.close();
    }

    #[tokio::test]
    async fn holds_past_expiry_on_the_injected_clock_are_swept_a_few_at_a_time() {
        let f = fixture(2).await;
        let mut sub = f.hub.subscribe().await.unwrap();
        for i in 0..20 {
            f.announce(&format!("/f{i}"), Duration::from_secs(30)).await;
        }
        for _ in 0..20 {
            assert!(matches!(next(&mut sub).await.kind, EventKind::Announced(_)));
        }
        // 31 s later by the clock the guest reads; any change wakes the hub,
        // which finds every sweep due and runs them two at a time.
        f.clock.0.store(31_000_000_000, Ordering::SeqCst);
        f.announce("/wake", Duration::from_secs(60)).await;
        let mut expired = std::collections::BTreeSet::new();
        while expired.len() < 20 {
            let event = next(&mut sub).await;
            if matches!(event.kind, EventKind::Expired) {
                expired.insert(event.file);
            }
        }
        assert!(expired.iter().all(|f| f.starts_with("/f")));
        assert_eq!(f.hub.stats().replica_keys, 21);
        f.hub.close();
    }

    #[tokio::test]
    async fn a_closed_hub_ends_its_subscriptions_and_refuses_new_ones() {
        let f = fixture(16).await;
        let mut sub = f.hub.subscribe().await.unwrap();
        f.hub.close();
        assert!(sub.next().await.is_none_or(|e| e.is_err()));
        assert!(matches!(f.hub.subscribe().await, Err(Error::Closed)));
    }
}
