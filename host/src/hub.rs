//! The manager's watcher: one watch over the bucket, a replica of every key's
//! latest entry, fan-out of events to subscribers, and expiry sweeps for stores
//! that do not expire entries themselves.
//!
//! Each change is interpreted by the guest once, then applied to the replica and
//! sent to every subscriber under one lock, so a subscriber's snapshot (taken
//! under the same lock) and its live events never overlap or leave a gap.

use crate::clock::Clock;
use crate::convert;
use crate::error::Error;
use crate::kv::{Entry, KvStore, Operation, WatchItem};
use crate::runtime::Instances;
use crate::runtime::bindings::exports::holds::core::subscribe::{Change, Interpretation};
use crate::runtime::imports::entry_to_wit;
use crate::subscription::{EndReason, Subscription};
use crate::types::Event;
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A sweep that found the hold not yet expired (clock jitter) tries again after this.
const SWEEP_RETRY: Duration = Duration::from_millis(50);
/// A sweep that failed on the store tries again after this.
const SWEEP_BACKOFF: Duration = Duration::from_secs(1);
/// A failed watcher kept warm for the replica restarts after this.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
enum Phase {
    Idle,
    Starting,
    Ready,
    Failed(Error),
    Closed,
}

struct Subscriber {
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
    task: Option<JoinHandle<()>>,
}

pub(crate) struct Hub {
    kv: Arc<dyn KvStore>,
    instances: Arc<Instances>,
    clock: Arc<dyn Clock>,
    chan_buffer: usize,
    max_age: Duration,
    start_timeout: Duration,
    state: Mutex<State>,
    phase: watch::Sender<Phase>,
}

impl Hub {
    pub fn new(
        kv: Arc<dyn KvStore>,
        instances: Arc<Instances>,
        clock: Arc<dyn Clock>,
        chan_buffer: usize,
        max_age: Duration,
        start_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Hub {
            kv,
            instances,
            clock,
            chan_buffer,
            max_age,
            start_timeout,
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
            Err(_) => Err(Error::Store(format!(
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
        self.ensure_running().await?;
        let (tx, rx) = mpsc::channel(self.chan_buffer);
        let end: EndReason = Arc::default();
        let mut current: Vec<(String, Entry)> = {
            let mut state = self.state();
            match &*self.phase.borrow() {
                Phase::Ready => {}
                Phase::Closed => return Err(Error::Closed),
                Phase::Failed(e) => return Err(e.clone()),
                _ => return Err(Error::Store("the watch restarted; subscribe again".into())),
            }
            state.subscribers.push(Subscriber {
                tx,
                end: end.clone(),
            });
            state
                .replica
                .iter()
                .filter(|(_, e)| e.operation == Operation::Put)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect()
        };
        current.sort_by_key(|(_, e)| e.revision);
        let mut snapshot = Vec::with_capacity(current.len());
        for (key, entry) in current {
            let meaning = self
                .instances
                .interpret(Change {
                    key,
                    entry: entry_to_wit(Some(&entry)),
                    snapshot: true,
                })
                .await?;
            snapshot.extend(meaning.event.map(convert::event));
        }
        Ok(Subscription::new(snapshot, rx, end))
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

    /// Bytes held by the replica (keys, values, bookkeeping), for the benchmark.
    pub fn replica_footprint(&self) -> (usize, usize) {
        let state = self.state();
        let bytes = state
            .replica
            .iter()
            .chain(state.ahead.iter())
            .map(|(k, e)| k.len() + e.value.len() + std::mem::size_of::<(String, Entry)>())
            .sum();
        (state.replica.len() + state.ahead.len(), bytes)
    }

    /// End every subscription and stop the watcher.
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
        for subscriber in state.subscribers.drain(..) {
            *subscriber.end.lock().unwrap() = Some(error.clone());
        }
        state.replica.clear();
        state.ahead.clear();
    }

    async fn run(self: Arc<Self>) {
        let mut watch = match self.kv.watch().await {
            Ok(watch) => watch,
            Err(e) => return self.fail(Error::Store(format!("starting the watch: {e}"))),
        };
        let sweeping = !self.kv.expires_entries();
        let mut sweeps = Sweeps::default();
        let prune_every = (self.max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let mut prune = tokio::time::interval(prune_every);
        let mut ready = false;
        loop {
            let sweep_in = sweeps.next().map(|at| nanos_until(at, self.clock.now()));
            tokio::select! {
                item = watch.next() => match item {
                    None => return self.fail(Error::Store("the watch ended".into())),
                    Some(Err(e)) => return self.fail(Error::Store(format!("the watch failed: {e}"))),
                    Some(Ok(WatchItem::CaughtUp)) => {
                        ready = true;
                        self.phase.send_replace(Phase::Ready);
                    }
                    Some(Ok(WatchItem::Entry { key, entry })) => {
                        self.apply(key, entry, !ready, sweeping, &mut sweeps).await;
                    }
                },
                _ = sleep_or_pending(sweep_in) => {
                    for key in sweeps.due(self.clock.now()) {
                        self.sweep(key, &mut sweeps).await;
                    }
                }
                _ = prune.tick() => self.prune(),
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
        // Replayed markers are never events nor sweeps.
        let wanted = |subscribed: bool| {
            (sweeping || subscribed) && !(replaying && entry.operation != Operation::Put)
        };
        let mut meaning = None;
        let mut interpreted = false;
        if wanted(!self.state().subscribers.is_empty()) {
            meaning = self.interpret(&key, &entry, replaying).await;
            interpreted = true;
        }
        if sweeping {
            match meaning.as_ref().and_then(|m| m.expiry_check_at) {
                Some(at) => sweeps.schedule(&key, at.saturating_add(1_000_000)),
                None => sweeps.cancel(&key),
            }
        }
        // A subscriber that arrived meanwhile took its snapshot from the replica
        // without this entry: it must get the event. (Checked under the lock that
        // also updates the replica, so no subscriber can slip in between.)
        let mut state = loop {
            if let Some(state) = {
                let state = self.state();
                (interpreted || !wanted(!state.subscribers.is_empty())).then_some(state)
            } {
                break state;
            }
            meaning = self.interpret(&key, &entry, replaying).await;
            interpreted = true;
        };
        let event = meaning
            .and_then(|m| m.event)
            .filter(|_| !replaying)
            .map(convert::event);
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

    /// What a change means, by the guest (`None` if it could not say).
    async fn interpret(&self, key: &str, entry: &Entry, replaying: bool) -> Option<Interpretation> {
        let change = Change {
            key: key.to_string(),
            entry: entry_to_wit(Some(entry)),
            snapshot: replaying,
        };
        match self.instances.interpret(change).await {
            Ok(meaning) => {
                if let Some(why) = &meaning.dropped {
                    tracing::warn!("ignoring a change: {why}");
                }
                Some(meaning)
            }
            Err(e) => {
                tracing::error!(key, "interpreting a change failed: {e}");
                None
            }
        }
    }

    async fn sweep(&self, key: String, sweeps: &mut Sweeps) {
        let retry_at = |after: Duration| {
            self.clock
                .now()
                .saturating_add(i64::try_from(after.as_nanos()).unwrap_or(i64::MAX))
        };
        match self.instances.sweep(&key).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                // Not expired yet by the guest's verdict: if the replica still shows
                // the same value, look again shortly; a renewal reschedules anyway.
                let still_put = self
                    .state()
                    .replica
                    .get(&key)
                    .is_some_and(|e| e.operation == Operation::Put);
                if still_put {
                    sweeps.schedule(&key, retry_at(SWEEP_RETRY));
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(key, "sweep failed: {:?}", convert::error(e));
                sweeps.schedule(&key, retry_at(SWEEP_BACKOFF));
            }
            Err(e) => {
                tracing::warn!(key, "sweep failed: {e}");
                sweeps.schedule(&key, retry_at(SWEEP_BACKOFF));
            }
        }
    }

    /// Drop entries the store has aged out: the replica never outgrows the bucket.
    fn prune(&self) {
        let max_age = self.max_age;
        let young = |_: &String, e: &mut Entry| e.created.elapsed().unwrap_or_default() <= max_age;
        let mut state = self.state();
        state.replica.retain(young);
        state.ahead.retain(young);
    }
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

/// Pending expiry checks, by wall-clock instant (ns).
#[derive(Default)]
struct Sweeps {
    queue: BTreeSet<(i64, String)>,
    at: HashMap<String, i64>,
}

impl Sweeps {
    fn schedule(&mut self, key: &str, at: i64) {
        self.cancel(key);
        self.at.insert(key.to_string(), at);
        self.queue.insert((at, key.to_string()));
    }

    fn cancel(&mut self, key: &str) {
        if let Some(old) = self.at.remove(key) {
            self.queue.remove(&(old, key.to_string()));
        }
    }

    fn next(&self) -> Option<i64> {
        self.queue.first().map(|(at, _)| *at)
    }

    fn due(&mut self, now: i64) -> Vec<String> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.queue.first() {
            if *at > now {
                break;
            }
            let (_, key) = self.queue.pop_first().unwrap();
            self.at.remove(&key);
            due.push(key);
        }
        due
    }
}
