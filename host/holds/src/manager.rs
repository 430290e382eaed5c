//! The holds manager: the public API over one bucket.

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::convert;
use crate::error::{Cause, Error};
use crate::hub::Hub;
use crate::kv::{BucketSpec, JetStreamKv, KvStore, MemoryKv, SqliteKv, WatchItem};
use crate::runtime::bindings::holds::core::kv as wit_kv;
use crate::runtime::{Calls, DEFAULT_MAX_IDLE, Replica, Runtime};
use crate::subscription::Subscription;
use crate::trace::Recorder;
use crate::types::{
    Announce, Claim, Claimed, EventKind, FileCheck, Identity, LoggedRelease, Place, Release,
};
use crate::wait::{Attempt, Waiters};
use futures::StreamExt;
use futures::future::Either;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Called once per CAS retry with the key and the attempt about to be made (never
/// for a first attempt, never after the final verdict): for logs and metrics.
pub type RetryObserver = Arc<dyn Fn(&str, u32) + Send + Sync>;

/// Where the bucket lives.
pub enum Backend {
    /// A fresh in-process bucket (tests, embedding, single-process use).
    Memory,
    /// A JetStream KV bucket on this connection (created if missing).
    JetStream(async_nats::Client),
    /// A bucket in this SQLite database file (created if missing), shared by
    /// every process on the machine that opens the same file.
    Sqlite(std::path::PathBuf),
    /// An already opened bucket, e.g. one [`MemoryKv`] shared by several managers.
    Store(Arc<dyn KvStore>),
}

/// Holds on one bucket. Cheap to clone; safe to share across tasks.
///
/// Every decision (who may hold what, expiry, what a change means) is made by
/// the `holds:core` WebAssembly guest; the manager runs it and the store.
///
/// ```no_run
/// use holds::{Announce, Backend, Config, Manager};
/// use std::time::Duration;
///
/// # async fn example() -> Result<(), holds::Error> {
/// let holds = Manager::open(Config::new("holds", Duration::from_secs(300)), Backend::Memory).await?;
/// let claim = holds.announce("/repo/src/lib.rs", &Announce::new("agent-1", Duration::from_secs(30))).await?;
/// assert_eq!(holds.who_has("/repo/src/lib.rs").await?, Some(claim));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

type ReplicaHint = Box<dyn Fn(&str) -> Option<wit_kv::Entry> + Send + Sync>;

struct Inner {
    config: Config,
    /// The hub's replica entry for a key, as the WIT entry the guest observes.
    replica_hint: ReplicaHint,
    kv: Arc<dyn KvStore>,
    calls: Arc<Calls>,
    hub: Arc<Hub>,
    waiters: Waiters,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.hub.close();
    }
}

/// What a manager holds in memory ([`Manager::stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Keys in the replica: live holds and recent markers.
    pub replica_keys: usize,
    /// Bytes the replica holds (keys, values and bookkeeping).
    pub replica_bytes: usize,
    /// Subscriptions not yet dropped.
    pub subscribers: usize,
    /// Idle guest instances kept for reuse by this manager's component (shared
    /// with every manager running it).
    pub idle_instances: usize,
}

/// Options beyond [`Config`], for tests and embedders.
///
/// ```no_run
/// use holds::{Backend, Config, Manager};
/// use std::time::Duration;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let trace = std::fs::File::create("holds.trace.jsonl")?;
/// let holds = Manager::builder(Config::new("holds", Duration::from_secs(300)))
///     .record(trace)
///     .cas_retry_observer(std::sync::Arc::new(|key: &str, attempt| eprintln!("retry {attempt} on {key}")))
///     .open(Backend::Memory)
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct ManagerBuilder {
    config: Config,
    clock: Arc<dyn Clock>,
    runtime: Option<Arc<Runtime>>,
    record: Option<Box<dyn std::io::Write + Send>>,
    max_idle: usize,
    retry_observer: Option<RetryObserver>,
}

impl ManagerBuilder {
    /// Use this clock instead of the system's (the guest reads it as its `now`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Run another build of the component instead of the embedded one.
    pub fn runtime(mut self, runtime: Arc<Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Keep up to `max_idle` guest instances for reuse between calls (default 64).
    /// Idle instances belong to the component and are shared by every manager
    /// running it, which keeps the largest number any of them asked for. 0 gives
    /// this manager's calls a fresh store and instance each: ~10-15 µs more per call.
    pub fn instance_pool(mut self, max_idle: usize) -> Self {
        self.max_idle = max_idle;
        self
    }

    /// Record every guest call (arguments, import calls, results) as a trace into
    /// `out`, for [`crate::trace::replay`]. The header is written at open.
    pub fn record(mut self, out: impl std::io::Write + Send + 'static) -> Self {
        self.record = Some(Box::new(out));
        self
    }

    /// Call `observer` once per CAS retry (see [`RetryObserver`]).
    pub fn cas_retry_observer(mut self, observer: RetryObserver) -> Self {
        self.retry_observer = Some(observer);
        self
    }

    /// Validate the configuration, open (or create) the bucket, and load the guest.
    pub async fn open(self, backend: Backend) -> Result<Manager, Error> {
        let config = self.config.validated()?;
        let spec = BucketSpec {
            name: config.bucket.clone(),
            max_age: config.hold_ttl_max,
            replicas: config.replicas,
            op_timeout: config.op_timeout,
        };
        // Loading the guest is CPU work and opening the store mostly waiting on
        // it: they overlap (a runtime given ready needs no thread).
        let loading = match self.runtime {
            Some(runtime) => Either::Left(std::future::ready(Ok(Ok(runtime)))),
            None => Either::Right(tokio::task::spawn_blocking(Runtime::embedded)),
        };
        let opened = |e: crate::kv::KvError| Error::Store(Cause::new(e.to_string()).with_source(e));
        let kv: Arc<dyn KvStore> = match backend {
            Backend::Memory => Arc::new(MemoryKv::new(&spec)),
            Backend::JetStream(client) => {
                Arc::new(JetStreamKv::open(client, &spec).await.map_err(opened)?)
            }
            Backend::Sqlite(path) => Arc::new(SqliteKv::open(&path, &spec).await.map_err(opened)?),
            Backend::Store(kv) => kv,
        };
        let runtime = loading
            .await
            .map_err(|e| Error::Guest(Cause::new(format!("loading the guest: {e}"))))??;
        let recorder = match self.record {
            Some(out) => Some(Arc::new(Recorder::new(out, &runtime.digest).map_err(
                |e| Error::Store(Cause::new(format!("starting the trace: {e}")).with_source(e)),
            )?)),
            None => None,
        };
        // Eight attempts of a read and a write each, plus slack.
        let call_timeout = config.op_timeout * 17 + Duration::from_secs(1);
        let calls = Arc::new(Calls::new(
            runtime,
            kv.clone(),
            self.clock.clone(),
            recorder,
            self.max_idle,
            call_timeout,
            config.op_timeout,
        ));
        // A bucket whose settings could drop a live hold (a max age under the
        // maximum TTL, a limit that drops the oldest entries) is refused.
        let settings = convert::bucket_settings(&config.bucket, kv.max_age(), kv.limits());
        match calls.check_bucket(&settings, config.hold_ttl_max).await {
            Err(Error::InvalidInput { reason, .. }) => return Err(Error::Config(reason)),
            other => other?,
        }
        calls.set_retry_observer(self.retry_observer);
        let waiters = Waiters::default();
        let upkeep = calls.upkeep(kv.max_age()).await?;
        let hub = Hub::new(
            kv.clone(),
            calls.clone(),
            self.clock,
            upkeep,
            config.chan_buffer,
            config.op_timeout * 2,
            waiters.clone(),
        );
        if config.replica {
            let weak = Arc::downgrade(&hub);
            calls.set_seen_sink(Arc::new(move |seen| {
                if let Some(hub) = weak.upgrade() {
                    hub.observe_own(seen);
                }
            }));
            let weak = Arc::downgrade(&hub);
            calls.set_scan_view(Arc::new(move |prefix, through, wait| {
                let hub = weak.upgrade();
                Box::pin(async move { hub?.scan_view(&prefix, through, wait).await })
            }));
            // Warm the replica in the background (and re-warm it after failures);
            // until it is ready, calls read the store.
            tokio::spawn(hub.clone().keep_warm());
        }
        let replica = hub.clone();
        let replica_hint: ReplicaHint = Box::new(move |key| {
            replica
                .replica_entry(key)
                .map(|entry| convert::entry_to_wit(entry.as_ref()))
        });
        Ok(Manager {
            inner: Arc::new(Inner {
                config,
                replica_hint,
                kv,
                calls,
                hub,
                waiters,
                closed: AtomicBool::new(false),
            }),
        })
    }
}

impl Manager {
    /// Open a manager with the system clock and the embedded guest.
    ///
    /// ```no_run
    /// use holds::{Backend, Config, Manager};
    /// use std::time::Duration;
    ///
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let holds = Manager::open(Config::new("holds", Duration::from_secs(300)), Backend::JetStream(client)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(config: Config, backend: Backend) -> Result<Manager, Error> {
        Self::builder(config).open(backend).await
    }

    /// A builder for options beyond the configuration ([`ManagerBuilder`]).
    pub fn builder(config: Config) -> ManagerBuilder {
        ManagerBuilder {
            config,
            clock: Arc::new(SystemClock),
            runtime: None,
            record: None,
            max_idle: DEFAULT_MAX_IDLE,
            retry_observer: None,
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Where the bucket lives, for logs.
    pub fn describe_store(&self) -> String {
        self.inner.kv.describe()
    }

    /// The replica's entry for a key as the guest's first observation, when the
    /// replica is on (and, per key, current).
    fn hint(&self) -> Replica<'_> {
        self.inner
            .config
            .replica
            .then_some(&self.inner.replica_hint)
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.inner.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Place or renew a hold on `file` (an absolute path; it is cleaned).
    ///
    /// Vacant -> created; held by the same agent -> renewed; held by another agent
    /// whose hold expired -> taken over; otherwise [`Error::HeldByAnother`].
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// use holds::{Announce, Error};
    /// use std::time::Duration;
    /// match holds.announce("/repo/src/lib.rs", &Announce::new("agent-1", Duration::from_secs(30))).await {
    ///     Ok(claim) => println!("mine until {:?}, token {}", claim.hold.expires_at, claim.revision),
    ///     Err(Error::HeldByAnother(holder)) => println!("{} holds it", holder.hold.agent_id),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn announce(&self, file: &str, announce: &Announce) -> Result<Claim, Error> {
        self.check_open()?;
        self.inner
            .calls
            .announce(file, announce, self.inner.config.hold_ttl_max, self.hint())
            .await
    }

    /// Remove `agent_id`'s live hold on `file`. Missing, expired or foreign holds
    /// are left alone ([`Release::NotHeld`]). The removal is gated on the revision
    /// that was judged, so a take-over racing it survives.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// if let holds::Release::Released { revision } = holds.release("/repo/src/lib.rs", "agent-1").await? {
    ///     println!("released at revision {revision}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn release(&self, file: &str, agent_id: &str) -> Result<Release, Error> {
        self.check_open()?;
        self.inner.calls.release(file, agent_id, self.hint()).await
    }

    /// Claim every file or none (bones' coord semantics): the files are cleaned,
    /// deduplicated and taken in sorted order, at most
    /// [`Config::max_claim_files`]; each is decided as [`Manager::announce`]
    /// decides. On any refusal nothing stays held and [`Error::HeldByOthers`]
    /// names every holder. Where the store can, it is one atomic write (a
    /// JetStream atomic batch, one SQLite transaction, one step in memory): with a
    /// warm replica, one round trip. Elsewhere (a bucket made by the Go package, a
    /// server older than 2.12) the files are announced one by one and rolled back
    /// on a refusal; [`Claimed::atomic`] says which ran.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// use holds::{Announce, Error};
    /// use std::time::Duration;
    /// let files = ["/repo/src/lib.rs", "/repo/src/main.rs"];
    /// match holds.claim(&files, &Announce::new("agent-1", Duration::from_secs(30))).await {
    ///     Ok(claimed) => println!("took {} files (atomic: {})", claimed.claims.len(), claimed.atomic),
    ///     Err(Error::HeldByOthers(holders)) => println!("{} files are held", holders.len()),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn claim(
        &self,
        files: &[impl AsRef<str>],
        announce: &Announce,
    ) -> Result<Claimed, Error> {
        self.check_open()?;
        let files: Vec<String> = files.iter().map(|f| f.as_ref().to_string()).collect();
        let max_files = u32::try_from(self.inner.config.max_claim_files).unwrap_or(u32::MAX);
        self.inner
            .calls
            .claim(
                &files,
                announce,
                self.inner.config.hold_ttl_max,
                max_files,
                self.hint(),
            )
            .await
    }

    /// [`Manager::claim`], waiting up to `wait` for held files to become free:
    /// woken by the watch's `released` and `expired` events (not by polling),
    /// then competing normally. Waiters of one manager are served in arrival
    /// order; across processes, whoever's write lands first wins. After `wait`,
    /// the last refusal.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// use holds::Announce;
    /// use std::time::Duration;
    /// let claimed = holds
    ///     .claim_wait(&["/repo/src/lib.rs"], &Announce::new("agent-1", Duration::from_secs(30)), Duration::from_secs(60))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn claim_wait(
        &self,
        files: &[impl AsRef<str>],
        announce: &Announce,
        wait: Duration,
    ) -> Result<Claimed, Error> {
        self.check_open()?;
        // A wait too long to represent is a wait without end.
        let deadline = tokio::time::Instant::now()
            .checked_add(wait)
            .unwrap_or_else(crate::time::far_future);
        // The watch must run for the events that wake waiters.
        self.inner.hub.ensure_running().await?;
        let mut cleaned = Vec::with_capacity(files.len());
        for file in files {
            cleaned.push(self.canonical_path(file.as_ref()).await?);
        }
        // In the queue before the first try, so a release during it is not missed.
        let mut place = self.inner.waiters.join(cleaned.clone());
        let mark = place.mark();
        let mut refused = match self.claim(files, announce).await {
            Err(e @ (Error::HeldByAnother(_) | Error::HeldByOthers(_))) => e,
            other => return other,
        };
        let holders = refused.holders();
        place.refused_by(mark, &cleaned, holders.iter().map(|c| c.file.as_str()));
        loop {
            let turn = tokio::select! {
                turn = place.turns.recv() => turn,
                _ = tokio::time::sleep_until(deadline) => return Err(refused),
            };
            let Some(turn) = turn else {
                return Err(refused);
            };
            let mark = place.mark();
            match self.claim(files, announce).await {
                Ok(claimed) => {
                    let _ = turn.done.send(Attempt::Took);
                    return Ok(claimed);
                }
                Err(e @ (Error::HeldByAnother(_) | Error::HeldByOthers(_))) => {
                    let freed_still_free = !e.holders().iter().any(|c| c.file == turn.file);
                    let _ = turn.done.send(Attempt::Refused { freed_still_free });
                    let holders = e.holders();
                    place.refused_by(mark, &cleaned, holders.iter().map(|c| c.file.as_str()));
                    refused = e;
                }
                Err(e) => {
                    let _ = turn.done.send(Attempt::Refused {
                        freed_still_free: true,
                    });
                    return Err(e);
                }
            }
        }
    }

    /// Renew a lease's hold on `file` written at `revision` (see [`Lease`]).
    pub(crate) async fn renew(
        &self,
        file: &str,
        announce: &Announce,
        revision: u64,
    ) -> Result<Claim, Error> {
        self.check_open()?;
        self.inner
            .calls
            .renew(file, announce, revision, self.inner.config.hold_ttl_max)
            .await
    }

    /// Does `agent_id` hold every file live — at these fencing tokens, if given
    /// (one per file)? For commit gates: one fresh read of all the files (of
    /// each batch of up to 256 files and 64 KiB of paths, for more).
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// let checks = holds.check(&["/repo/src/lib.rs"], "agent-1", None).await?;
    /// if checks.iter().all(|c| c.is_held()) {
    ///     println!("commit away");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn check(
        &self,
        files: &[impl AsRef<str>],
        agent_id: &str,
        tokens: Option<&[u64]>,
    ) -> Result<Vec<FileCheck>, Error> {
        self.check_open()?;
        let files: Vec<String> = files.iter().map(|f| f.as_ref().to_string()).collect();
        let tokens = tokens.unwrap_or(&[]);
        if files.is_empty() || (!tokens.is_empty() && tokens.len() != files.len()) {
            // One guest call, which judges the empty or mismatched list.
            return self.inner.calls.check(&files, agent_id, tokens).await;
        }
        // A bounded batch per guest call (each one batch read) keeps a commit of
        // thousands of files far below a call's fuel.
        let mut checks = Vec::with_capacity(files.len());
        for batch in crate::batches::batches(&files) {
            let tokens = if tokens.is_empty() {
                &[][..]
            } else {
                &tokens[batch.clone()]
            };
            let files = &files[batch];
            checks.extend(self.inner.calls.check(files, agent_id, tokens).await?);
        }
        Ok(checks)
    }

    /// Remove whoever's live hold on `file` (an operator's tool), gated on the
    /// revision judged. Subscribers see `Released { forced_by: Some(by) }`, and the
    /// holder's [`Lease`] reports it lost. Go agents see a plain release.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// holds.force_release("/repo/src/lib.rs", "ops-oncall").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn force_release(&self, file: &str, by: &str) -> Result<Release, Error> {
        self.check_open()?;
        self.inner.calls.force_release(file, by, self.hint()).await
    }

    /// The live hold on `file`, read fresh from the store.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// match holds.who_has("/repo/src/lib.rs").await? {
    ///     Some(claim) => println!("{} until {:?}", claim.hold.agent_id, claim.hold.expires_at),
    ///     None => println!("nobody"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn who_has(&self, file: &str) -> Result<Option<Claim>, Error> {
        self.check_open()?;
        self.inner.calls.who_has(file, None).await
    }

    /// The live hold on `file` as this manager's replica knows it, without a
    /// round trip: stale by at most the watch's lag (plus anything this manager
    /// has not seen). For callers that gate actions at editor speed; falls back to
    /// a fresh read while the replica is warming up or turned off.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// let holder = holds.who_has_cached("/repo/src/lib.rs").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn who_has_cached(&self, file: &str) -> Result<Option<Claim>, Error> {
        self.check_open()?;
        self.inner.calls.who_has(file, self.hint()).await
    }

    /// Every live hold over `file`: its exclusive hold, its shared holds, and
    /// each directory and glob hold covering it (for a pattern: every hold that
    /// may overlap it), oldest first.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// for claim in holds.holders("/repo/src/lib.rs").await? {
    ///     println!("{} ({}) by {}", claim.file, claim.hold.mode.as_str(), claim.hold.agent_id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn holders(&self, file: &str) -> Result<Vec<Claim>, Error> {
        self.check_open()?;
        self.inner.calls.covering(file).await
    }

    /// What this manager holds in memory, for diagnostics and metrics.
    ///
    /// ```no_run
    /// # fn example(holds: holds::Manager) {
    /// let stats = holds.stats();
    /// println!("{} keys, {} bytes, {} subscribers", stats.replica_keys, stats.replica_bytes, stats.subscribers);
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        let hub = self.inner.hub.stats();
        Stats {
            replica_keys: hub.replica_keys,
            replica_bytes: hub.replica_bytes,
            subscribers: hub.subscribers,
            idle_instances: self.inner.calls.idle(),
        }
    }

    /// Current holds as `Announced` events, then live changes.
    /// See [`Subscription`] for how it ends.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// let mut events = holds.subscribe().await?;
    /// while let Some(event) = events.next().await {
    ///     let event = event?;
    ///     println!("{:?} {} (revision {})", event.kind, event.file, event.revision);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe(&self) -> Result<Subscription, Error> {
        self.check_open()?;
        self.inner.hub.subscribe().await
    }

    /// A subscription whose snapshot holds only `files`' current holds (a lease's
    /// view of its own files); live changes are every file's.
    pub(crate) async fn subscribe_to(&self, files: &[String]) -> Result<Subscription, Error> {
        self.check_open()?;
        let mut keys = Vec::with_capacity(files.len());
        for file in files {
            keys.push(self.inner.calls.key_for_file(file).await?);
        }
        self.inner.hub.subscribe_to(Some(&keys)).await
    }

    /// Every live hold, oldest revision first, read fresh from the store (a
    /// replay of the bucket, not the replica, so it includes this manager's
    /// latest writes).
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// for claim in holds.list().await? {
    ///     println!("{} held by {}", claim.file, claim.hold.agent_id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list(&self) -> Result<Vec<Claim>, Error> {
        self.check_open()?;
        let store = |e: crate::kv::KvError| {
            Error::Store(Cause::new(format!("listing the bucket: {e}")).with_source(e))
        };
        let mut watch = self.inner.kv.watch().await.map_err(store)?;
        let mut current = Vec::new();
        let deadline = self.inner.config.op_timeout * 2;
        loop {
            let item = tokio::time::timeout(deadline, watch.next())
                .await
                .map_err(|_| Error::store(format!("listing the bucket took over {deadline:?}")))?;
            match item {
                Some(Ok(WatchItem::Entry { key, entry })) => current.push((key, entry)),
                Some(Ok(WatchItem::CaughtUp)) => break,
                Some(Err(e)) => return Err(store(e)),
                None => return Err(Error::store("the bucket's replay ended early")),
            }
        }
        let mut claims = Vec::new();
        for (key, entry) in current {
            if let Some(event) = self.inner.calls.snapshot_event(key, &entry).await?
                && let EventKind::Announced(hold) = event.kind
            {
                claims.push(Claim {
                    file: event.file,
                    scope: event.scope,
                    hold,
                    revision: event.revision,
                });
            }
        }
        claims.sort_by_key(|c| c.revision);
        Ok(claims)
    }

    /// The newest `limit` releases and force-releases recorded in the store's
    /// release log, in revision order: whose hold each removed, who forced it and
    /// which process asked. Every store holds keeps one (see [`crate::kv`]).
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// for r in holds.releases(20).await? {
    ///     println!("{} released by {}", r.file, r.forced_by.as_deref().unwrap_or("its holder"));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn releases(&self, limit: usize) -> Result<Vec<LoggedRelease>, Error> {
        self.check_open()?;
        let mut logged = self.inner.kv.releases(limit).await.map_err(|e| {
            Error::Store(Cause::new(format!("reading the release log: {e}")).with_source(e))
        })?;
        // A release is recorded just after its marker, so two made at once may be
        // recorded in either order: shown in the bucket's.
        logged.sort_by_key(|r| r.revision);
        let mut releases = Vec::with_capacity(logged.len());
        for r in logged {
            let file = match self.inner.calls.file_for_key(&r.key).await {
                Ok(file) => file,
                Err(Error::InvalidInput { .. }) => r.key.clone(),
                Err(e) => return Err(e),
            };
            let note = crate::kv::release_log::ReleaseNote::decode(&r.note);
            releases.push(LoggedRelease {
                file,
                revision: r.revision,
                holder: note.agent_id,
                checkout: note.checkout_path,
                hold_revision: note.revision,
                forced_by: note.released_by,
                process: r.process,
                at: r.at,
            });
        }
        Ok(releases)
    }

    /// Check the bucket answers: a read of the never-written `_probe` key, bounded
    /// by the operation timeout.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) {
    /// if let Err(e) = holds.probe().await {
    ///     eprintln!("the store is not reachable: {e}");
    /// }
    /// # }
    /// ```
    pub async fn probe(&self) -> Result<(), Error> {
        self.check_open()?;
        let timeout = self.inner.config.op_timeout;
        match tokio::time::timeout(timeout, self.inner.kv.get("_probe")).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Store(
                Cause::new(format!("probe failed: {e}")).with_source(e),
            )),
            Err(_) => Err(Error::store(format!("probe timed out after {timeout:?}"))),
        }
    }

    /// Close the manager: every subscription ends and every later call returns
    /// [`Error::Closed`]. Calls already under way end first (each within the call
    /// timeout), so a trace has every call made before close returns. Idempotent.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) {
    /// holds.close().await;
    /// assert_eq!(holds.probe().await, Err(holds::Error::Closed));
    /// # }
    /// ```
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.hub.close();
        // Every call made so far is in the trace once close returns.
        self.inner.calls.close_trace().await;
    }

    /// Name `paths` as holds keys them, wherever they are seen from (the guest's
    /// `identify`): relative paths start at `place.cwd`; symlinks are resolved for
    /// the longest existing prefix, `..` applied after resolution; a path under
    /// `place.checkout` is named under `place.workspace`; otherwise a path in a
    /// git worktree (main, linked, or of a bare repository) is named under the
    /// repository's main worktree, so agents in different worktrees contend for one
    /// key. Each [`Identity`] also says which checkout the path was seen through,
    /// for [`Announce::checkout`]. Reads the filesystem; writes nothing.
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// // In a linked worktree /src/wt2 of the repository /src/repo:
    /// let ids = holds.identify(&["src/lib.rs"], &holds::Place::at("/src/wt2")).await?;
    /// assert_eq!(ids[0].file, "/src/repo/src/lib.rs");
    /// assert_eq!(ids[0].checkout, "/src/wt2");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn identify(
        &self,
        paths: &[impl AsRef<str>],
        place: &Place,
    ) -> Result<Vec<Identity>, Error> {
        self.check_open()?;
        let place = convert::place_to_wit(place);
        let mut named = Vec::with_capacity(paths.len());
        // A bounded batch per guest call keeps each call's work far below its fuel.
        for batch in crate::batches::batches(paths) {
            let chunk: Vec<String> = paths[batch]
                .iter()
                .map(|p| p.as_ref().to_string())
                .collect();
            let ids = self.inner.calls.identify(&chunk, &place).await?;
            named.extend(ids.into_iter().map(convert::identity));
        }
        Ok(named)
    }

    /// `file` as holds keys it: absolute, cleaned (`.`, `..`, `//`), as the guest
    /// judges it (for messages naming the file a call acted on).
    ///
    /// ```no_run
    /// # async fn example(holds: holds::Manager) -> Result<(), holds::Error> {
    /// assert_eq!(holds.canonical_path("/repo//src/./lib.rs").await?, "/repo/src/lib.rs");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn canonical_path(&self, file: &str) -> Result<String, Error> {
        let key = self.inner.calls.key_for_file(file).await?;
        self.inner.calls.file_for_key(&key).await
    }
}

/// Test seams: not the supported API.
#[cfg(feature = "test-util")]
impl Manager {
    /// The store key of `file`.
    pub async fn key_for_test(&self, file: &str) -> Result<String, Error> {
        self.inner.calls.key_for_file(file).await
    }

    /// The file a key names.
    pub async fn file_for_key_for_test(&self, key: &str) -> Result<String, Error> {
        self.inner.calls.file_for_key(key).await
    }

    /// A lease's renewal of `file` written at `revision` (the conformance case
    /// list calls it directly; a [`Lease`] does so in the background).
    pub async fn renew_for_test(
        &self,
        file: &str,
        announce: &Announce,
        revision: u64,
    ) -> Result<Claim, Error> {
        self.renew(file, announce, revision).await
    }

    /// The upkeep plan the replica is kept by, field by field (durations in ns).
    pub fn upkeep_for_test(&self) -> Vec<(&'static str, u64)> {
        let u = self.inner.hub.upkeep();
        let ns = crate::time::nanos;
        vec![
            ("prune_every", ns(u.prune_every)),
            ("keep_hold", ns(u.keep_hold)),
            ("keep_marker", ns(u.keep_marker)),
            ("sweep_retry", ns(u.sweep_retry)),
            ("concurrent_sweeps", u.concurrent_sweeps as u64),
            ("restart_after", ns(u.restart_after)),
        ]
    }

    /// End every subscription of this manager as if it fell its buffer behind.
    pub fn lag_subscribers_for_test(&self) {
        self.inner.hub.lag_subscribers();
    }

    /// The bucket itself, to stage raw entries and CAS conflicts.
    pub fn kv_for_test(&self) -> Arc<dyn KvStore> {
        self.inner.kv.clone()
    }

    /// `observer(key, attempt)` runs once per CAS retry (never for a first
    /// attempt, never after the final verdict). `None` removes it.
    pub fn set_cas_retry_observer_for_test(&self, observer: Option<RetryObserver>) {
        self.inner.calls.set_retry_observer(observer);
    }
}
