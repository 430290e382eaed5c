//! A model checker for histories of holds: every call with its start and end
//! instants and its result, and what subscribers saw.
//!
//! # The history
//!
//! [`History`] wraps [`Manager`] calls and records each as a [`Call`]: who asked,
//! which file, the wall-clock instants (ns since the epoch, the clock the guest
//! reads) just before the call and just after it returned, and its [`Outcome`].
//! [`WatchRecorder`] records subscriptions: every event with the instant the
//! subscriber received it, and how the subscription ended.
//!
//! # The model
//!
//! The store gives one revision sequence per bucket; every write to a file (a
//! hold, a release marker, an expiry marker) gets a revision, and for one file the
//! writes are totally ordered by revision. The checker rebuilds that order, the
//! *log*, from the union of what the calls acknowledged (a claim's revision is its
//! fencing token; a release's marker revision) and what the watches delivered
//! (which also shows writes nobody acknowledged: expiry markers, and writes of
//! calls that failed ambiguously). It then checks:
//!
//! - **Mutual exclusion** (`Overlap`): walk each file's log in revision order. A
//!   hold written by agent B right after a hold of agent A != B (with no marker in
//!   between) is legal only if A's hold had expired when B's hold was decided:
//!   `A.expires_at < B.claimed_at`. `claimed_at` is the instant the guest judged
//!   the key (it is the `now` of the decision), on the clock that judged
//!   `A.expires_at`, so this is exactly "was A's hold live when B took the file";
//!   a hold expiring exactly then is live, as the guest rules. Renewals (A after
//!   A) are always legal.
//! - **Markers**: a release marker must be acknowledged by a release call of the
//!   hold's owner (`UnownedRelease`, `PhantomRemoval`); an expiry marker must not
//!   be seen by a subscriber before the hold it removes expired (`EarlyExpiry`:
//!   the marker was written before the instant a subscriber received it).
//! - **Reads** (who-has, the holder named by a refusal, a release that found
//!   nothing): the store is linearizable per key, so a read that started at `s`
//!   sees at least every write acknowledged (or delivered to a subscriber) before
//!   `s` (`StaleRead`; on a replicated JetStream stream a follower's consumer may
//!   deliver a write before the leader, which answers reads, has applied it, so
//!   [`check_acked_reads`] counts acknowledgements only), only writes that started before the read ended
//!   (`FutureRead`), only holds that were written (`UnknownHold`), and only holds
//!   live at some instant of the call (`ExpiredReturned`). A who-has that returns
//!   nothing while an acknowledged hold was live for the whole call, with no write
//!   that could have come between, is a `LostHold` (every acknowledged announce is
//!   visible until released or expired); an owner's release that found nothing to
//!   release in the same situation is a `MissedRelease`.
//! - **Revisions**: one revision names one write (`RevisionConflict`); a write's
//!   revision is above every revision acknowledged before it started
//!   (`RevisionOrder`); a claim's instants lie inside its call and its expiry is
//!   `claimed_at + ttl` (`BadClaim`).
//! - **Watches**: each subscription's revisions increase, per file and overall
//!   (`WatchOrder`); it delivers every acknowledged write that started after it
//!   was subscribed (up to its last event if it ended early), with the content
//!   the call acknowledged (`WatchMissing`, `WatchMismatch`).
//!
//! Calls that failed with a store or guest error are *ambiguous*: their write
//! may have landed (even after the call returned, from a client's reconnect
//! buffer). They never count as acknowledged, and a check that a hidden write of
//! theirs could explain is counted as *excused* instead of a violation. With a
//! complete watch there are no hidden writes.
//!
//! Soundness: every check above follows from the guest's rules and a
//! linearizable store, judged on one wall clock shared by all managers of the
//! test process (the guest's clock is the system clock). The checker assumes that
//! clock does not step backwards during a run (`BadClaim` would show it).

use holds::{Announce, Claim, Error, Event, EventKind, Hold, Manager, Release};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Nanoseconds since the Unix epoch, on the wall clock the guest reads.
pub type Nanos = i64;

/// The wall clock now.
pub fn now_ns() -> Nanos {
    ns(SystemTime::now())
}

pub fn ns(at: SystemTime) -> Nanos {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// What a call asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Announce { ttl: Duration },
    Release,
    WhoHas,
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Announce succeeded.
    Claimed(Claim),
    /// Announce refused: `HeldByAnother` with the holder.
    Refused(Claim),
    /// Release removed the hold; the marker's revision.
    Released(u64),
    /// Release found nothing of the caller's to release.
    NotHeld,
    /// Who-has answered.
    Holder(Option<Claim>),
    /// Any other error.
    Failed(Error),
}

impl Outcome {
    /// A failure after which the call's write may or may not have landed.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Outcome::Failed(Error::Store(_) | Error::Guest(_)))
    }

    pub fn is_ok(&self) -> bool {
        !matches!(self, Outcome::Failed(_))
    }
}

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The agent making the call (for who-has: the asker, for the record).
    pub agent: String,
    /// The file, a clean absolute path (as claims and events name it).
    pub file: String,
    /// Which manager (process, connection) made the call.
    pub manager: usize,
    pub op: Op,
    /// Just before the call.
    pub start: Nanos,
    /// Just after it returned.
    pub end: Nanos,
    pub outcome: Outcome,
}

impl Call {
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.end - self.start).unwrap_or(0))
    }
}

/// Calls recorded by any number of tasks.
#[derive(Clone, Default)]
pub struct History {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    /// Every call so far, in the order they finished.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(
        &self,
        agent: &str,
        file: &str,
        manager: usize,
        op: Op,
        start: Nanos,
        outcome: Outcome,
    ) -> Call {
        let call = Call {
            agent: agent.to_string(),
            file: file.to_string(),
            manager,
            op,
            start,
            end: now_ns(),
            outcome,
        };
        self.push(call.clone());
        call
    }

    /// `m.announce(file, announce)`, recorded.
    pub async fn announce(
        &self,
        m: &Manager,
        manager: usize,
        file: &str,
        announce: &Announce,
    ) -> Call {
        let start = now_ns();
        let outcome = match m.announce(file, announce).await {
            Ok(claim) => Outcome::Claimed(claim),
            Err(Error::HeldByAnother(holder)) => Outcome::Refused(*holder),
            Err(e) => Outcome::Failed(e),
        };
        let op = Op::Announce { ttl: announce.ttl };
        self.record(&announce.agent_id, file, manager, op, start, outcome)
    }

    /// `m.release(file, agent)`, recorded.
    pub async fn release(&self, m: &Manager, manager: usize, file: &str, agent: &str) -> Call {
        let start = now_ns();
        let outcome = match m.release(file, agent).await {
            Ok(Release::Released { revision }) => Outcome::Released(revision),
            Ok(Release::NotHeld) => Outcome::NotHeld,
            Err(e) => Outcome::Failed(e),
        };
        self.record(agent, file, manager, Op::Release, start, outcome)
    }

    /// `m.who_has(file)` asked by `asker`, recorded.
    pub async fn who_has(&self, m: &Manager, manager: usize, file: &str, asker: &str) -> Call {
        let start = now_ns();
        let outcome = match m.who_has(file).await {
            Ok(holder) => Outcome::Holder(holder),
            Err(e) => Outcome::Failed(e),
        };
        self.record(asker, file, manager, Op::WhoHas, start, outcome)
    }
}

/// An event and the instant a subscriber received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub at: Nanos,
    pub event: Event,
}

/// How a subscription ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    pub at: Nanos,
    /// The error it yielded last; `None` if it just ended.
    pub error: Option<Error>,
}

/// What one subscription delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchLog {
    pub name: String,
    /// When `subscribe` returned: every write that started later must be delivered.
    pub from: Nanos,
    pub events: Vec<Seen>,
    /// `None`: still running when the recording stopped, so complete.
    pub ended: Option<Ended>,
}

impl WatchLog {
    pub fn max_revision(&self) -> u64 {
        self.events
            .iter()
            .map(|s| s.event.revision)
            .max()
            .unwrap_or(0)
    }
}

/// Records one manager's subscription in a task; with `resubscribe`, a
/// subscription that ends is replaced by a new one (a new [`WatchLog`]) as soon
/// as `subscribe` succeeds again, as a careful caller would.
pub struct WatchRecorder {
    logs: Arc<Mutex<Vec<WatchLog>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// How often a recorder retries `subscribe` after its subscription ended.
pub const RESUBSCRIBE_EVERY: Duration = Duration::from_millis(50);

impl WatchRecorder {
    /// Subscribe now (returns once the first subscription is live) and record.
    pub async fn start(
        name: impl Into<String>,
        manager: Manager,
        resubscribe: bool,
    ) -> Result<Self, Error> {
        let name = name.into();
        let sub = manager.subscribe().await?;
        let logs = Arc::new(Mutex::new(vec![WatchLog {
            name: name.clone(),
            from: now_ns(),
            events: Vec::new(),
            ended: None,
        }]));
        let (stop, mut stopped) = watch::channel(false);
        let shared = logs.clone();
        let task = tokio::spawn(async move {
            let mut sub = sub;
            let mut generation = 0;
            loop {
                let item = tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    item = sub.next() => item,
                };
                let at = now_ns();
                match item {
                    Some(Ok(event)) => {
                        let mut logs = shared.lock().unwrap();
                        logs.last_mut().unwrap().events.push(Seen { at, event });
                        continue;
                    }
                    Some(Err(error)) => {
                        shared.lock().unwrap().last_mut().unwrap().ended = Some(Ended {
                            at,
                            error: Some(error),
                        });
                        // The subscription yields one error and then ends.
                    }
                    None => {
                        let mut logs = shared.lock().unwrap();
                        let last = logs.last_mut().unwrap();
                        if last.ended.is_none() {
                            last.ended = Some(Ended { at, error: None });
                        }
                    }
                }
                if !resubscribe {
                    return;
                }
                // Subscribe again until it works (or the recording stops).
                sub = loop {
                    if *stopped.borrow() {
                        return;
                    }
                    match manager.subscribe().await {
                        Ok(sub) => break sub,
                        Err(_) => {
                            tokio::select! {
                                _ = stopped.wait_for(|s| *s) => return,
                                _ = tokio::time::sleep(RESUBSCRIBE_EVERY) => {}
                            }
                        }
                    }
                };
                generation += 1;
                shared.lock().unwrap().push(WatchLog {
                    name: format!("{name}#{generation}"),
                    from: now_ns(),
                    events: Vec::new(),
                    ended: None,
                });
            }
        });
        Ok(WatchRecorder { logs, stop, task })
    }

    /// The logs so far (the last one may still be growing).
    pub fn logs(&self) -> Vec<WatchLog> {
        self.logs.lock().unwrap().clone()
    }

    /// The highest revision the current subscription has delivered, if it is live.
    pub fn live_max_revision(&self) -> Option<u64> {
        let logs = self.logs.lock().unwrap();
        let last = logs.last()?;
        last.ended.is_none().then(|| last.max_revision())
    }

    /// Stop recording and return every log.
    pub async fn stop(self) -> Vec<WatchLog> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        Arc::try_unwrap(self.logs)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_else(|logs| logs.lock().unwrap().clone())
    }
}

/// Stop every recorder: its logs, per recorder (one per manager).
pub async fn stop_all(recorders: Vec<WatchRecorder>) -> Vec<Vec<WatchLog>> {
    let mut per_recorder = Vec::with_capacity(recorders.len());
    for r in recorders {
        per_recorder.push(r.stop().await);
    }
    per_recorder
}

/// Wait until every recorder's live subscription has delivered `revision`, or
/// `timeout` passes; returns whether they all did.
pub async fn wait_for_watches(
    recorders: &[WatchRecorder],
    revision: u64,
    timeout: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if recorders
            .iter()
            .all(|r| r.live_max_revision().is_some_and(|m| m >= revision))
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The highest revision any call acknowledged.
pub fn max_acked_revision(calls: &[Call]) -> u64 {
    calls
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Claimed(claim) => Some(claim.revision),
            Outcome::Released(r) => Some(*r),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// What rule a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Two agents' holds on one file were live at once.
    Overlap,
    /// A release removed a hold of another agent.
    UnownedRelease,
    /// A release marker that no release call acknowledged.
    PhantomRemoval,
    /// An expiry marker delivered before the hold it removes expired.
    EarlyExpiry,
    /// A read missed a write acknowledged before it started.
    StaleRead,
    /// A read returned a hold written after it ended.
    FutureRead,
    /// A read returned a hold nobody wrote.
    UnknownHold,
    /// A read returned a hold that had expired before the call started.
    ExpiredReturned,
    /// Who-has returned nothing while an acknowledged hold was live.
    LostHold,
    /// The owner's release found nothing while its hold was live.
    MissedRelease,
    /// A refusal named the caller itself.
    SelfRefusal,
    /// One revision names two different writes.
    RevisionConflict,
    /// A write's revision is not above one acknowledged before it started.
    RevisionOrder,
    /// A claim's instants are outside its call, or its expiry is not claimed_at + ttl.
    BadClaim,
    /// A subscription's revisions did not increase.
    WatchOrder,
    /// A subscription missed an acknowledged write that nothing superseded.
    WatchMissing,
    /// A subscription missed an acknowledged write that a later write on the
    /// same file may have superseded before the subscription got past it (the
    /// store coalesced the key's changes, as a JetStream KV bucket with history
    /// 1 does for a consumer that lags).
    WatchSkipped,
    /// A subscription delivered a write different from what was acknowledged.
    WatchMismatch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub file: String,
    pub revision: u64,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} on {} at revision {}: {}",
            self.rule, self.file, self.revision, self.detail
        )
    }
}

/// The checker's verdict and the history's figures.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub calls: usize,
    /// Calls by kind and outcome, e.g. `announce/claimed`.
    pub outcomes: BTreeMap<String, usize>,
    /// Writes in the rebuilt log: holds, release markers, expiry markers.
    pub holds_written: usize,
    pub releases_written: usize,
    pub expiries_written: usize,
    /// Holds that took a file over from another agent whose hold had expired
    /// (no marker in between).
    pub take_overs: usize,
    /// Holds that took a file after a release marker.
    pub after_release: usize,
    /// Holds that took a file after an expiry marker.
    pub after_expiry: usize,
    pub renewals: usize,
    pub watch_events: usize,
    pub watches: usize,
    /// Checks a hidden write of an ambiguous call could explain.
    pub excused: usize,
    /// Holds written by announce calls that failed (seen only by subscribers).
    pub ghost_writes: usize,
    /// The longest a ghost write reached a subscriber after its call had
    /// returned the error.
    pub ghost_max_late: Duration,
    /// Ghost holds that had already expired when a subscriber received them.
    pub ghost_dead_on_arrival: usize,
    /// Ghost holds that replaced the same agent's acknowledged, still live hold
    /// with an earlier expiry: the agent's lease was cut short by a call it was
    /// told had failed.
    pub ghost_shortened: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn count(&self, rule: Rule) -> usize {
        self.violations.iter().filter(|v| v.rule == rule).count()
    }

    /// Take the violations of `rule` out of the report (a documented behaviour
    /// the caller reports instead of failing on), returning how many there were.
    pub fn set_aside(&mut self, rule: Rule) -> usize {
        let before = self.violations.len();
        self.violations.retain(|v| v.rule != rule);
        before - self.violations.len()
    }

    pub fn outcome(&self, key: &str) -> usize {
        self.outcomes.get(key).copied().unwrap_or(0)
    }

    /// Panic with the first violations if there are any.
    pub fn assert_clean(&self) {
        if !self.violations.is_empty() {
            let shown: Vec<String> = self
                .violations
                .iter()
                .take(20)
                .map(|v| format!("  {v}"))
                .collect();
            panic!(
                "{} violation(s):\n{}\n{self}",
                self.violations.len(),
                shown.join("\n")
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(f, "calls: {} ({})", self.calls, outcomes.join(", "))?;
        writeln!(
            f,
            "log: {} holds ({} renewals, {} take-overs of expired holds, {} after a release, \
             {} after an expiry marker), {} release markers, {} expiry markers",
            self.holds_written,
            self.renewals,
            self.take_overs,
            self.after_release,
            self.after_expiry,
            self.releases_written,
            self.expiries_written
        )?;
        writeln!(
            f,
            "watch: {} events over {} subscriptions; excused by ambiguous calls: {}",
            self.watch_events, self.watches, self.excused
        )?;
        if self.ghost_writes > 0 {
            writeln!(
                f,
                "ghost writes (holds of failed announces): {}, latest {:?} after the error, {} already expired, \
                 {} cut the agent's acknowledged lease short",
                self.ghost_writes,
                self.ghost_max_late,
                self.ghost_dead_on_arrival,
                self.ghost_shortened
            )?;
        }
        let mut by_rule: BTreeMap<Rule, usize> = BTreeMap::new();
        for v in &self.violations {
            *by_rule.entry(v.rule).or_default() += 1;
        }
        write!(f, "violations: {} {:?}", self.violations.len(), by_rule)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Put(Hold),
    Released,
    Expired,
}

impl Kind {
    fn of_event(kind: &EventKind) -> Kind {
        match kind {
            EventKind::Announced(h) => Kind::Put(h.clone()),
            EventKind::Released => Kind::Released,
            EventKind::Expired => Kind::Expired,
        }
    }

    fn name(&self) -> String {
        match self {
            Kind::Put(h) => format!("hold of {}", h.agent_id),
            Kind::Released => "release marker".into(),
            Kind::Expired => "expiry marker".into(),
        }
    }
}

/// One write of the rebuilt log.
#[derive(Clone, Debug)]
struct Write {
    file: String,
    kind: Kind,
    /// The call that acknowledged it.
    call: Option<usize>,
    /// The earliest instant a subscriber received it.
    seen_at: Option<Nanos>,
}

impl Write {
    /// When it was certainly done (acknowledged or delivered).
    fn done_at(&self, calls: &[Call]) -> Nanos {
        let acked = self.call.map(|i| calls[i].end).unwrap_or(Nanos::MAX);
        acked.min(self.seen_at.unwrap_or(Nanos::MAX))
    }
}

fn ms(ns: i64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

struct Checker<'a> {
    /// A write delivered to a subscriber is visible to every later read.
    deliveries_order_reads: bool,
    calls: &'a [Call],
    log: BTreeMap<u64, Write>,
    /// Per file: (done_at, revision) sorted by done_at, with the running maximum.
    done: HashMap<String, Vec<(Nanos, u64)>>,
    report: Report,
}

/// Check a history against the model (see the module docs).
pub fn check(calls: &[Call], watches: &[WatchLog]) -> Report {
    check_with(calls, watches, true)
}

/// [`check`] for a replicated store, where reads must see every acknowledged
/// write but may trail what a follower's consumer already delivered.
pub fn check_acked_reads(calls: &[Call], watches: &[WatchLog]) -> Report {
    check_with(calls, watches, false)
}

fn check_with(calls: &[Call], watches: &[WatchLog], deliveries_order_reads: bool) -> Report {
    let mut checker = Checker {
        deliveries_order_reads,
        calls,
        log: BTreeMap::new(),
        done: HashMap::new(),
        report: Report {
            calls: calls.len(),
            watches: watches.len(),
            watch_events: watches.iter().map(|w| w.events.len()).sum(),
            ..Report::default()
        },
    };
    for call in calls {
        let op = match call.op {
            Op::Announce { .. } => "announce",
            Op::Release => "release",
            Op::WhoHas => "who-has",
        };
        let outcome = match &call.outcome {
            Outcome::Claimed(_) => "claimed".to_string(),
            Outcome::Refused(_) => "refused".to_string(),
            Outcome::Released(_) => "released".to_string(),
            Outcome::NotHeld => "not-held".to_string(),
            Outcome::Holder(Some(_)) => "some".to_string(),
            Outcome::Holder(None) => "none".to_string(),
            Outcome::Failed(e) => format!("error:{}", error_kind(e)),
        };
        *checker
            .report
            .outcomes
            .entry(format!("{op}/{outcome}"))
            .or_default() += 1;
    }
    checker.build_log(watches);
    checker.index_done();
    checker.check_claims();
    checker.check_log();
    checker.check_reads();
    checker.find_ghosts();
    for w in watches {
        checker.check_watch(w);
    }
    checker.report
}

/// A short name for an error kind.
pub fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::HeldByAnother(_) => "held-by-another",
        Error::InvalidInput { .. } => "invalid-input",
        Error::Config(_) => "config",
        Error::CasExhausted(_) => "cas-exhausted",
        Error::CorruptEntry { .. } => "corrupt-entry",
        Error::Store(_) => "store",
        Error::Closed => "closed",
        Error::Guest(_) => "guest",
        Error::Lagged(_) => "lagged",
    }
}

impl Checker<'_> {
    fn violation(&mut self, rule: Rule, file: &str, revision: u64, detail: String) {
        self.report.violations.push(Violation {
            rule,
            file: file.to_string(),
            revision,
            detail,
        });
    }

    fn describe(&self, i: usize) -> String {
        let c = &self.calls[i];
        format!(
            "{:?} by {} via manager {} [{} .. {}]",
            c.op, c.agent, c.manager, c.start, c.end
        )
    }

    /// Rebuild the log from the acknowledgements and the watches.
    fn build_log(&mut self, watches: &[WatchLog]) {
        for (i, call) in self.calls.iter().enumerate() {
            let (revision, file, kind) = match &call.outcome {
                Outcome::Claimed(c) => (c.revision, c.file.clone(), Kind::Put(c.hold.clone())),
                Outcome::Released(r) => (*r, call.file.clone(), Kind::Released),
                _ => continue,
            };
            if let Some(existing) = self.log.get(&revision) {
                let other = existing.call.map(|j| self.describe(j)).unwrap_or_default();
                let detail = format!(
                    "acknowledged to {} ({} of {file}) and to {other} ({} of {})",
                    self.describe(i),
                    kind.name(),
                    existing.kind.name(),
                    existing.file
                );
                self.violation(Rule::RevisionConflict, &file, revision, detail);
                continue;
            }
            self.log.insert(
                revision,
                Write {
                    file,
                    kind,
                    call: Some(i),
                    seen_at: None,
                },
            );
        }
        for w in watches {
            for seen in &w.events {
                let e = &seen.event;
                let kind = Kind::of_event(&e.kind);
                match self.log.get_mut(&e.revision) {
                    None => {
                        self.log.insert(
                            e.revision,
                            Write {
                                file: e.file.clone(),
                                kind,
                                call: None,
                                seen_at: Some(seen.at),
                            },
                        );
                    }
                    Some(existing) if existing.file == e.file && existing.kind == kind => {
                        existing.seen_at =
                            Some(existing.seen_at.map_or(seen.at, |t| t.min(seen.at)));
                    }
                    Some(existing) => {
                        let rule = if existing.call.is_some() {
                            Rule::WatchMismatch
                        } else {
                            Rule::RevisionConflict
                        };
                        let detail = format!(
                            "watch {} delivered a {} of {}, the log has a {} of {}",
                            w.name,
                            kind.name(),
                            e.file,
                            existing.kind.name(),
                            existing.file
                        );
                        let file = e.file.clone();
                        self.violation(rule, &file, e.revision, detail);
                    }
                }
            }
        }
        for w in self.log.values() {
            match w.kind {
                Kind::Put(_) => self.report.holds_written += 1,
                Kind::Released => self.report.releases_written += 1,
                Kind::Expired => self.report.expiries_written += 1,
            }
        }
    }

    fn index_done(&mut self) {
        let mut done: HashMap<String, Vec<(Nanos, u64)>> = HashMap::new();
        for (revision, w) in &self.log {
            let at = if self.deliveries_order_reads {
                w.done_at(self.calls)
            } else {
                w.call.map(|i| self.calls[i].end).unwrap_or(Nanos::MAX)
            };
            done.entry(w.file.clone())
                .or_default()
                .push((at, *revision));
        }
        for list in done.values_mut() {
            list.sort();
            let mut max = 0;
            for entry in list.iter_mut() {
                max = max.max(entry.1);
                entry.1 = max;
            }
        }
        self.done = done;
    }

    /// The highest revision of `file` certainly written before `at` (0: none).
    fn done_before(&self, file: &str, at: Nanos) -> u64 {
        let Some(list) = self.done.get(file) else {
            return 0;
        };
        let n = list.partition_point(|(t, _)| *t < at);
        if n == 0 { 0 } else { list[n - 1].1 }
    }

    /// An ambiguous call on `file` (by `agent`, of this kind) that started before
    /// `before`: its write may be missing from the log.
    fn hidden(&self, file: &str, agent: Option<&str>, release: bool, before: Nanos) -> bool {
        self.calls.iter().any(|c| {
            c.file == file
                && c.outcome.is_ambiguous()
                && c.start < before
                && agent.is_none_or(|a| c.agent == a)
                && match c.op {
                    Op::Announce { .. } => !release,
                    Op::Release => release,
                    Op::WhoHas => false,
                }
        })
    }

    /// Acknowledged claims: inside their call, expiring ttl after they were claimed,
    /// and written above every revision acknowledged before the call started.
    fn check_claims(&mut self) {
        for i in 0..self.calls.len() {
            let call = &self.calls[i];
            let revision = match (&call.op, &call.outcome) {
                (Op::Announce { ttl }, Outcome::Claimed(c)) => {
                    let claimed = ns(c.hold.claimed_at);
                    let expires = ns(c.hold.expires_at);
                    let ttl = i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX);
                    if claimed < call.start
                        || claimed > call.end
                        || expires != claimed.saturating_add(ttl)
                        || c.hold.agent_id != call.agent
                        || c.file != call.file
                    {
                        let detail = format!(
                            "{} returned a claim by {} on {} claimed at {claimed}, expiring at {expires} (ttl {ttl} ns)",
                            self.describe(i),
                            c.hold.agent_id,
                            c.file
                        );
                        let file = call.file.clone();
                        self.violation(Rule::BadClaim, &file, c.revision, detail);
                    }
                    c.revision
                }
                (Op::Release, Outcome::Released(r)) => *r,
                _ => continue,
            };
            let before = self.done_before(&call.file, call.start);
            if revision <= before {
                let detail = format!(
                    "{} wrote revision {revision}, not above revision {before} acknowledged before it started",
                    self.describe(i)
                );
                let file = call.file.clone();
                self.violation(Rule::RevisionOrder, &file, revision, detail);
            }
        }
    }

    /// Mutual exclusion and markers, per file in revision order.
    fn check_log(&mut self) {
        let mut files: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (revision, w) in &self.log {
            files.entry(w.file.clone()).or_default().push(*revision);
        }
        for (file, revisions) in files {
            // The latest hold, and the marker that removed it since, if any.
            let mut current: Option<(u64, Hold)> = None;
            let mut removed: Option<Kind> = None;
            for revision in revisions {
                let w = self.log[&revision].clone();
                match &w.kind {
                    Kind::Put(b) => {
                        if let Some((ra, a)) = &current
                            && a.agent_id != b.agent_id
                            && removed != Some(Kind::Released)
                        {
                            let a_expires = ns(a.expires_at);
                            let b_claimed = ns(b.claimed_at);
                            if a_expires < b_claimed {
                                if removed.is_none() {
                                    self.report.take_overs += 1;
                                } else {
                                    self.report.after_expiry += 1;
                                }
                            } else if self.hidden(&file, Some(&a.agent_id), true, b_claimed) {
                                self.report.excused += 1;
                            } else if removed == Some(Kind::Expired) {
                                // A marker written after the hold expired comes before
                                // the next decision, so that decision is after the expiry.
                                let detail = format!(
                                    "{}'s hold (revision {ra}) was marked expired before {} took the file at {b_claimed}, {} before the hold expired",
                                    a.agent_id,
                                    b.agent_id,
                                    ms(a_expires - b_claimed)
                                );
                                self.violation(Rule::EarlyExpiry, &file, revision, detail);
                            } else {
                                let detail = format!(
                                    "{} took the file at {b_claimed} while {}'s hold (revision {ra}) was live until {a_expires} ({} later), with no release in between",
                                    b.agent_id,
                                    a.agent_id,
                                    ms(a_expires - b_claimed)
                                );
                                self.violation(Rule::Overlap, &file, revision, detail);
                            }
                        } else if current.is_some() && removed.is_none() {
                            self.report.renewals += 1;
                        } else if removed == Some(Kind::Released) {
                            self.report.after_release += 1;
                        } else if removed == Some(Kind::Expired) {
                            self.report.after_expiry += 1;
                        }
                        current = Some((revision, b.clone()));
                        removed = None;
                    }
                    Kind::Released => {
                        let holder = current
                            .as_ref()
                            .filter(|_| removed.is_none())
                            .map(|(r, h)| (*r, h));
                        match (w.call, holder) {
                            (Some(i), holder)
                                if holder
                                    .is_none_or(|(_, h)| self.calls[i].agent != h.agent_id) =>
                            {
                                let releaser = self.calls[i].agent.clone();
                                let detail = match holder {
                                    Some((rh, h)) => format!(
                                        "{} removed {}'s hold (revision {rh})",
                                        self.describe(i),
                                        h.agent_id
                                    ),
                                    None => format!(
                                        "{} was acknowledged with nothing to remove",
                                        self.describe(i)
                                    ),
                                };
                                // A hidden hold of the releaser's own could be what it removed.
                                if self.hidden(&file, Some(&releaser), false, self.calls[i].end) {
                                    self.report.excused += 1;
                                } else {
                                    self.violation(Rule::UnownedRelease, &file, revision, detail);
                                }
                            }
                            (None, Some((rh, h))) => {
                                if self.hidden(&file, Some(&h.agent_id), true, Nanos::MAX) {
                                    self.report.excused += 1;
                                } else {
                                    let detail = format!(
                                        "a release marker removed {}'s hold (revision {rh}) but no release call acknowledged it",
                                        h.agent_id
                                    );
                                    self.violation(Rule::PhantomRemoval, &file, revision, detail);
                                }
                            }
                            _ => {}
                        }
                        removed = Some(Kind::Released);
                    }
                    Kind::Expired => {
                        if let (Some((rh, h)), None, Some(seen)) = (&current, &removed, w.seen_at) {
                            let expires = ns(h.expires_at);
                            if seen <= expires {
                                let detail = format!(
                                    "an expiry marker of {}'s hold (revision {rh}) reached a subscriber at {seen}, {} before the hold expired",
                                    h.agent_id,
                                    ms(expires - seen)
                                );
                                self.violation(Rule::EarlyExpiry, &file, revision, detail);
                            }
                        }
                        if removed.is_none() {
                            removed = Some(Kind::Expired);
                        }
                    }
                }
            }
        }
    }

    /// Holds in the log that no call acknowledged but a failed announce made.
    fn find_ghosts(&mut self) {
        // Per file: the write just before, if it is an acknowledged hold.
        let mut previous: HashMap<String, Option<Hold>> = HashMap::new();
        let log: Vec<Write> = self.log.values().cloned().collect();
        for w in log {
            let before = previous.insert(
                w.file.clone(),
                match (&w.kind, w.call) {
                    (Kind::Put(hold), Some(_)) => Some(hold.clone()),
                    _ => None,
                },
            );
            let (Kind::Put(hold), None) = (&w.kind, w.call) else {
                continue;
            };
            let claimed = ns(hold.claimed_at);
            let Some(call) = self.calls.iter().find(|c| {
                c.file == w.file
                    && c.agent == hold.agent_id
                    && c.outcome.is_ambiguous()
                    && matches!(c.op, Op::Announce { .. })
                    && c.start <= claimed
                    && claimed <= c.end
            }) else {
                continue;
            };
            self.report.ghost_writes += 1;
            let Some(seen) = w.seen_at else { continue };
            let late = Duration::from_nanos(u64::try_from(seen - call.end).unwrap_or(0));
            self.report.ghost_max_late = self.report.ghost_max_late.max(late);
            if ns(hold.expires_at) < seen {
                self.report.ghost_dead_on_arrival += 1;
            }
            if let Some(Some(prev)) = before
                && prev.agent_id == hold.agent_id
                && prev.expires_at > hold.expires_at
                && ns(prev.expires_at) > seen
            {
                self.report.ghost_shortened += 1;
            }
        }
    }

    /// Whether a write on `file` above `after` could have come before `before`:
    /// an acknowledged one that started earlier, one only a subscriber saw (other
    /// than the expiry marker of the hold at `after`, which comes after its
    /// expiry), or a hidden write of an ambiguous call that started earlier.
    fn write_between(&self, file: &str, after: u64, before: Nanos) -> bool {
        let mut next = true;
        for (_, w) in self.log.range(after + 1..) {
            if w.file != file {
                continue;
            }
            let immediate = std::mem::replace(&mut next, false);
            match w.call {
                Some(i) if self.calls[i].start < before => return true,
                Some(_) => {}
                None if w.kind == Kind::Expired && immediate => {}
                None => return true,
            }
        }
        self.calls
            .iter()
            .any(|c| c.file == file && c.outcome.is_ambiguous() && c.start < before)
    }

    /// A claim a read returned (who-has, or the holder a refusal named).
    fn check_read_claim(&mut self, i: usize, claim: &Claim, what: &str) {
        let call = &self.calls[i];
        let (s, e) = (call.start, call.end);
        let file = call.file.clone();
        let before = self.done_before(&file, s);
        let found = |this: &mut Self, rule: Rule, detail: String| {
            let detail = format!("{} {what}: {detail}", this.describe(i));
            this.violation(rule, &file, claim.revision, detail);
        };
        match self.log.get(&claim.revision) {
            Some(w) if w.file == claim.file && w.kind == Kind::Put(claim.hold.clone()) => {}
            Some(w) => {
                let detail = format!("the log has a {} of {} there", w.kind.name(), w.file);
                found(self, Rule::UnknownHold, detail);
            }
            None => {
                let hidden = self.hidden(&file, Some(&claim.hold.agent_id), false, e);
                if hidden {
                    self.report.excused += 1;
                } else {
                    found(self, Rule::UnknownHold, "nobody wrote it".into());
                }
            }
        }
        if claim.revision < before {
            let how = self
                .log
                .get(&before)
                .map(|w| {
                    let at = w.done_at(self.calls);
                    let by = match w.call {
                        Some(j) if self.calls[j].end == at => "acknowledged",
                        _ => "delivered to a watch",
                    };
                    format!(" (a {} {by} {} before)", w.kind.name(), ms(s - at))
                })
                .unwrap_or_default();
            let detail = format!(
                "revision {} is older than revision {before}, written before the call started{how}",
                claim.revision
            );
            found(self, Rule::StaleRead, detail);
        }
        let claimed = ns(claim.hold.claimed_at);
        if claimed > e {
            found(
                self,
                Rule::FutureRead,
                format!("the hold was claimed at {claimed}, after the call ended"),
            );
        }
        let expires = ns(claim.hold.expires_at);
        if expires < s {
            found(
                self,
                Rule::ExpiredReturned,
                format!(
                    "{}'s hold expired at {expires}, {} before the call started",
                    claim.hold.agent_id,
                    ms(s - expires)
                ),
            );
        }
    }

    /// The hold that was live through `[s, e]` by the log, if a read then must
    /// have seen it: the latest write before `s` is a hold expiring after `e`, and
    /// no write could have come between.
    fn live_through(&self, file: &str, s: Nanos, e: Nanos) -> Option<(u64, Hold)> {
        let before = self.done_before(file, s);
        let w = self.log.get(&before)?;
        let Kind::Put(hold) = &w.kind else {
            return None;
        };
        if ns(hold.expires_at) <= e || self.write_between(file, before, e) {
            return None;
        }
        Some((before, hold.clone()))
    }

    fn check_reads(&mut self) {
        for i in 0..self.calls.len() {
            let call = self.calls[i].clone();
            match (&call.op, &call.outcome) {
                (Op::WhoHas, Outcome::Holder(Some(claim))) => {
                    self.check_read_claim(i, claim, "returned a hold")
                }
                (Op::Announce { .. }, Outcome::Refused(claim)) => {
                    if claim.hold.agent_id == call.agent {
                        let detail =
                            format!("{} was refused in favour of itself", self.describe(i));
                        self.violation(Rule::SelfRefusal, &call.file, claim.revision, detail);
                    }
                    self.check_read_claim(i, claim, "was refused for a hold")
                }
                (Op::WhoHas, Outcome::Holder(None)) => {
                    if let Some((revision, hold)) =
                        self.live_through(&call.file, call.start, call.end)
                    {
                        let detail = format!(
                            "{} returned nobody while {}'s hold (revision {revision}) was live until {} ({} after the call ended)",
                            self.describe(i),
                            hold.agent_id,
                            ns(hold.expires_at),
                            ms(ns(hold.expires_at) - call.end)
                        );
                        self.violation(Rule::LostHold, &call.file, revision, detail);
                    }
                }
                (Op::Release, Outcome::NotHeld) => {
                    if let Some((revision, hold)) =
                        self.live_through(&call.file, call.start, call.end)
                        && hold.agent_id == call.agent
                    {
                        let detail = format!(
                            "{} found nothing to release while its hold (revision {revision}) was live until {}",
                            self.describe(i),
                            ns(hold.expires_at)
                        );
                        self.violation(Rule::MissedRelease, &call.file, revision, detail);
                    }
                }
                _ => {}
            }
        }
    }

    fn check_watch(&mut self, w: &WatchLog) {
        let mut last: Option<u64> = None;
        let mut last_per_file: HashMap<&str, u64> = HashMap::new();
        for seen in &w.events {
            let e = &seen.event;
            if let Some(prev) = last_per_file.get(e.file.as_str())
                && *prev >= e.revision
            {
                let detail = format!(
                    "watch {} delivered revision {} of the file after revision {prev}",
                    w.name, e.revision
                );
                self.violation(Rule::WatchOrder, &e.file, e.revision, detail);
            } else if let Some(prev) = last
                && prev >= e.revision
            {
                let detail = format!(
                    "watch {} delivered revision {} after revision {prev} (of another file)",
                    w.name, e.revision
                );
                self.violation(Rule::WatchOrder, &e.file, e.revision, detail);
            }
            last = Some(last.map_or(e.revision, |l| l.max(e.revision)));
            last_per_file.insert(&e.file, e.revision);
        }
        let delivered: HashMap<u64, &Event> = w
            .events
            .iter()
            .map(|s| (s.event.revision, &s.event))
            .collect();
        let horizon = match w.ended {
            None => u64::MAX,
            Some(_) => w.max_revision(),
        };
        let mut missing = Vec::new();
        for (revision, write) in &self.log {
            let Some(i) = write.call else { continue };
            let call = &self.calls[i];
            if call.start <= w.from || *revision > horizon || delivered.contains_key(revision) {
                continue;
            }
            let around = |r: &u64| -> Option<String> {
                let s = w.events.iter().find(|s| s.event.revision == *r)?;
                Some(format!("{} at {}", s.event.revision, s.at))
            };
            let before = w
                .events
                .iter()
                .map(|s| s.event.revision)
                .filter(|r| r < revision)
                .max();
            let after = w
                .events
                .iter()
                .map(|s| s.event.revision)
                .filter(|r| r > revision)
                .min();
            let next = self
                .log
                .range(revision + 1..)
                .find(|(_, n)| n.file == write.file)
                .map(|(r, n)| (*r, n));
            let passed = w.events.iter().find(|s| s.event.revision > *revision);
            // Could the next write on the file have landed before the watch passed?
            let superseded = match (next, passed) {
                (Some((_, n)), Some(p)) => n.call.is_none_or(|j| self.calls[j].start < p.at),
                (Some(_), None) => true,
                (None, _) => false,
            };
            // A marker is an event only when it removes a hold the subscription
            // was told of: if the hold before it was coalesced away, so is the
            // removal.
            let removes_unseen_hold = !matches!(write.kind, Kind::Put(_))
                && self
                    .log
                    .range(..revision)
                    .rev()
                    .find(|(_, p)| p.file == write.file)
                    .is_some_and(|(r, p)| {
                        matches!(p.kind, Kind::Put(_)) && !delivered.contains_key(r)
                    });
            let rule = if superseded || removes_unseen_hold {
                Rule::WatchSkipped
            } else {
                Rule::WatchMissing
            };
            let detail = format!(
                "watch {} never delivered the {} acknowledged to {} (it delivered revision {:?}, then {:?}; the file's next write: {:?})",
                w.name,
                write.kind.name(),
                self.describe(i),
                before.as_ref().and_then(around),
                after.as_ref().and_then(around),
                next.map(|(r, n)| (r, n.done_at(self.calls))),
            );
            missing.push((rule, write.file.clone(), *revision, detail));
        }
        for (rule, file, revision, detail) in missing {
            self.violation(rule, &file, revision, detail);
        }
    }
}

/// A small deterministic generator (SplitMix64): torture runs replay from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A seed from `var`, else from the clock (printed by the caller to replay).
pub fn seed_from_env(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| now_ns() as u64)
}

/// `var` parsed, else `default`.
pub fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A random workload: agents announcing, renewing, releasing and asking who
/// holds a small set of files, through several managers, every call recorded.
#[derive(Clone, Debug)]
pub struct Workload {
    pub agents: usize,
    /// Clean absolute paths.
    pub files: Vec<String>,
    /// Each announce asks for a TTL in this range.
    pub ttl_min: Duration,
    pub ttl_max: Duration,
    /// Each agent waits up to this long between calls.
    pub think: Duration,
    /// After a failed call, an agent waits this long.
    pub backoff: Duration,
    /// Per mille of steps at which an agent holding files "crashes": it forgets
    /// its holds (they expire; others take them over) and comes back after
    /// `ttl_max` to twice that.
    pub crash_per_mille: u64,
    pub seed: u64,
}

impl Workload {
    /// `agents` agents on `files` files named `/torture/file-N.rs`.
    pub fn new(agents: usize, files: usize, seed: u64) -> Self {
        Workload {
            agents,
            files: (0..files)
                .map(|i| format!("/torture/file-{i}.rs"))
                .collect(),
            ttl_min: Duration::from_millis(200),
            ttl_max: Duration::from_secs(2),
            think: Duration::from_millis(10),
            backoff: Duration::from_millis(50),
            crash_per_mille: 3,
            seed,
        }
    }

    /// Start the agents; agent `i` calls through manager `i % managers.len()` and
    /// asks who-has through the others.
    pub fn spawn(&self, managers: Vec<Manager>, history: History) -> Running {
        let (stop, stopped) = watch::channel(false);
        let managers: Arc<[Manager]> = managers.into();
        let spec = Arc::new(self.clone());
        let tasks = (0..self.agents)
            .map(|id| {
                let (managers, history, spec) = (managers.clone(), history.clone(), spec.clone());
                let stopped = stopped.clone();
                tokio::spawn(agent(id, managers, history, spec, stopped))
            })
            .collect();
        Running { stop, tasks }
    }
}

/// Agents at work; [`Running::stop`] ends them after their current call.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await.expect("an agent panicked");
        }
    }
}

async fn agent(
    id: usize,
    managers: Arc<[Manager]>,
    history: History,
    w: Arc<Workload>,
    stopped: watch::Receiver<bool>,
) {
    let mut rng = Rng::new(w.seed ^ (id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let name = format!("agent-{id:03}");
    let n = managers.len();
    let home = id % n;
    let m = &managers[home];
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // Files this agent believes it holds.
    let mut held: Vec<String> = Vec::new();
    while !*stopped.borrow() {
        let other = if n > 1 {
            (home + 1 + rng.below(n as u64 - 1) as usize) % n
        } else {
            home
        };
        if !held.is_empty() && rng.below(1000) < w.crash_per_mille {
            held.clear();
            let down = rng.between(ms(w.ttl_max), 2 * ms(w.ttl_max));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(down)) => {}
                _ = wait_true(stopped.clone()) => {}
            }
            continue;
        }
        let random_file = w.files[rng.below(w.files.len() as u64) as usize].clone();
        let roll = rng.below(100);
        let call = if roll < 50 {
            // Announce: renew one of ours half the time, else try any file.
            let file = if !held.is_empty() && rng.chance(50) {
                held[rng.below(held.len() as u64) as usize].clone()
            } else {
                random_file
            };
            let ttl = Duration::from_millis(rng.between(ms(w.ttl_min), ms(w.ttl_max)));
            let announce = Announce::new(name.clone(), ttl).checkout(format!("/co/{name}"));
            let call = history.announce(m, home, &file, &announce).await;
            held.retain(|f| *f != file);
            if let Outcome::Claimed(_) = call.outcome {
                held.push(file.clone());
                // Visibility probe: another manager must see it at once.
                if rng.chance(30) {
                    history.who_has(&managers[other], other, &file, &name).await;
                }
            }
            call
        } else if roll < 75 {
            // Release: one of ours mostly, else any file (most likely someone else's).
            let file = if !held.is_empty() && rng.chance(70) {
                held[rng.below(held.len() as u64) as usize].clone()
            } else {
                random_file
            };
            held.retain(|f| *f != file);
            history.release(m, home, &file, &name).await
        } else {
            history
                .who_has(&managers[other], other, &random_file, &name)
                .await
        };
        if !call.outcome.is_ok() {
            tokio::time::sleep(w.backoff).await;
        }
        let think = rng.between(0, ms(w.think));
        if think > 0 {
            tokio::time::sleep(Duration::from_millis(think)).await;
        }
    }
}

async fn wait_true(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}
