//! One manager's export calls: an instance bound to the manager's store and clock
//! for each call, under the call's time bound; each export recorded when a
//! recorder is set; the guest's answers converted to the API's types once.
//!
//! An instance is busy for a whole call (which awaits the store), so concurrent
//! calls need one instance each. Idle instances are reused (see `pool.rs`): a
//! pooled call skips `Store::new` + instantiation (~10-15 µs with the pooling
//! allocator). An instance that trapped, ran out of fuel or was cancelled is
//! dropped, never reused.

use super::bindings::exports::holds::core::holds::{BucketSettings, Identity, Place};
use super::bindings::exports::holds::core::subscribe::{Change, Interpretation, SweepOutcome};
use super::bindings::holds::core::kv as wit_kv;
use super::engine::{FUEL_PER_CALL, Runtime};
use super::exports::{self, Recorded, outcome};
use super::invoke::{GuestResult, Instance};
use super::io::{GuestIo, LiveIo, Recording, RetryObserver, ScanView};
use crate::clock::Clock;
use crate::convert;
use crate::error::{Cause, Error};
use crate::kv::{Entry, KvError, KvStore};
use crate::trace::Recorder;
use crate::trace::format::*;
use crate::types::{Announce, Claim, Claimed, Event, FileCheck, Release};
use crate::upkeep::Upkeep;
// foldhash: SipHash showed in a hot call's profile; keys are file paths.
use foldhash::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use wasmtime::Trap;

/// Where entries learnt during calls go (the manager's replica).
pub(crate) type SeenSink = Arc<dyn Fn(Vec<(String, Entry)>) + Send + Sync>;

/// The replica's entry for a key, when the caller keeps a replica.
pub(crate) type Replica<'a> = Option<&'a (dyn Fn(&str) -> Option<wit_kv::Entry> + Sync)>;

/// Files whose keys are remembered (the guest's `key-for-file` is pure, so a
/// warm-replica call needs one guest call instead of two). Cleared when full.
const KEY_CACHE: usize = 4096;

pub(crate) struct Calls {
    runtime: Arc<Runtime>,
    kv: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    retry_observer: Mutex<Option<RetryObserver>>,
    seen_sink: Mutex<Option<SeenSink>>,
    scan_view: Mutex<Option<ScanView>>,
    recorder: Option<Arc<Recorder>>,
    /// Reuse the runtime's idle instances (false: a fresh store and instance per call).
    reuse: bool,
    /// Bound on a whole call, store round trips (and the wait for a slot) included.
    call_timeout: Duration,
    /// How long a call's writes may be sent again while the store takes nothing.
    op_timeout: Duration,
    /// The guest's answers of `key-for-file`, for the replica lookups.
    keys: Mutex<HashMap<String, String>>,
}

impl Calls {
    pub fn new(
        runtime: Arc<Runtime>,
        kv: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
        recorder: Option<Arc<Recorder>>,
        max_idle: usize,
        call_timeout: Duration,
        op_timeout: Duration,
    ) -> Self {
        if max_idle > 0 {
            runtime.pool.keep_at_least(max_idle);
        }
        Calls {
            runtime,
            kv,
            clock,
            retry_observer: Mutex::new(None),
            seen_sink: Mutex::new(None),
            scan_view: Mutex::new(None),
            recorder,
            reuse: max_idle > 0,
            call_timeout,
            op_timeout,
            keys: Mutex::new(HashMap::default()),
        }
    }

    pub fn set_seen_sink(&self, sink: SeenSink) {
        *self.seen_sink.lock().unwrap() = Some(sink);
    }

    /// Answer the guest's scans from this view when it can.
    pub fn set_scan_view(&self, view: ScanView) {
        *self.scan_view.lock().unwrap() = Some(view);
    }

    pub fn set_retry_observer(&self, observer: Option<RetryObserver>) {
        *self.retry_observer.lock().unwrap() = observer;
    }

    /// Idle instances of this manager's component.
    pub fn idle(&self) -> usize {
        self.runtime.pool.idle()
    }

    /// An instance bound to this manager, with a full tank of fuel.
    async fn checkout(&self) -> Result<Instance, Error> {
        let pooled = if self.reuse {
            self.runtime.pool.take()
        } else {
            None
        };
        let mut instance = match pooled {
            Some(instance) => instance,
            None => self.runtime.instantiate().await?,
        };
        let mut live = LiveIo::new(
            self.kv.clone(),
            self.clock.clone(),
            self.retry_observer.lock().unwrap().clone(),
            self.op_timeout,
        );
        live.view = self.scan_view.lock().unwrap().clone();
        let live: Box<dyn GuestIo> = Box::new(live);
        let io = match &self.recorder {
            Some(_) => Box::new(Recording::new(live)),
            None => live,
        };
        instance.store.data_mut().bind(io);
        instance
            .store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| Error::wasm("setting fuel", e))?;
        Ok(instance)
    }

    /// Make the export calls of `f` on one instance, under the call timeout.
    async fn call<R>(
        &self,
        f: impl AsyncFnOnce(&mut Instance) -> wasmtime::Result<R>,
    ) -> Result<R, Error> {
        let mut work = std::pin::pin!(async {
            let mut instance = self.checkout().await?;
            let out = f(&mut instance).await;
            Ok::<_, Error>((instance, out))
        });
        // A call that never waits (the memory store's, a warm replica's refusal)
        // is done at its first poll: only one that waits arms the timer.
        let done = match futures::poll!(&mut work) {
            Poll::Ready(done) => Ok(done),
            Poll::Pending => tokio::time::timeout(self.call_timeout, work).await,
        };
        let (mut instance, out) = match done {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(Error::guest(format!(
                    "the call did not finish within {:?}",
                    self.call_timeout
                )));
            }
        };
        instance.store.data_mut().unbind();
        match out {
            Ok(value) => {
                if self.reuse {
                    self.runtime.pool.put(instance);
                }
                Ok(value)
            }
            Err(e) => Err(Error::Guest(
                Cause::new(describe_trap(&e)).with_dyn_source(boxed(e)),
            )),
        }
    }

    /// A manager's close: let the calls already under way end (each within the
    /// call timeout), then write the trace's buffered lines through. A call's
    /// writes can be seen (a lease's renewal event, say) before it is recorded,
    /// so flushing at once could leave out a call whose effect was already seen.
    pub(crate) async fn close_trace(&self) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        // Polled, not signalled: close is rare, and a signal would cost every call.
        let deadline = tokio::time::Instant::now() + self.call_timeout;
        while recorder.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        recorder.flush();
    }

    /// One recorded export call: run it, hand what it learnt to the replica,
    /// record it. Returns its result and the store failure behind it, if any.
    async fn export<E: Recorded>(
        &self,
        instance: &mut Instance,
        args: E::Args,
    ) -> wasmtime::Result<(E::Out, Option<KvError>)> {
        let started = self.recorder.as_ref().map(|r| r.start_call());
        let out = E::call(instance, &args).await;
        let report = instance.store.data_mut().report();
        if !report.seen.is_empty() {
            let sink = self.seen_sink.lock().unwrap().clone();
            if let Some(sink) = sink {
                sink(report.seen);
            }
        }
        if let (Some(recorder), Some(started)) = (&self.recorder, &started) {
            recorder.write(CallRecord {
                call: started.number,
                written: 0,
                export: E::record(args, outcome(&out, E::recorded)),
                steps: report.steps,
            });
        }
        out.map(|value| (value, report.fault))
    }

    /// The key of `file` and the replica's entry for it, as the first observation.
    async fn observe(
        &self,
        instance: &mut Instance,
        file: &str,
        replica: Replica<'_>,
    ) -> wasmtime::Result<Option<TraceEntry>> {
        let Some(replica) = replica else {
            return Ok(None);
        };
        let known = self.keys.lock().unwrap().get(file).cloned();
        let key = match known {
            Some(key) => key,
            None => {
                // A bad path gets no hint: the call itself reports it.
                let Ok(key) = self.key_export(instance, file).await?.0 else {
                    return Ok(None);
                };
                let mut keys = self.keys.lock().unwrap();
                if keys.len() >= KEY_CACHE {
                    keys.clear();
                }
                keys.insert(file.to_string(), key.clone());
                key
            }
        };
        Ok(replica(&key).as_ref().map(convert::wit_entry_to_trace))
    }

    async fn key_export(
        &self,
        instance: &mut Instance,
        file: &str,
    ) -> wasmtime::Result<(GuestResult<String>, Option<KvError>)> {
        let args = FileArgs {
            file: file.to_string(),
        };
        self.export::<exports::KeyForFile>(instance, args).await
    }

    /// Announce, with the replica's entry for the file's key as the first observation.
    pub async fn announce(
        &self,
        file: &str,
        announce: &Announce,
        ttl_max: Duration,
        replica: Replica<'_>,
    ) -> Result<Claim, Error> {
        let request = convert::request_to_trace(&convert::announce_request(file, announce));
        let ttl_max = crate::time::nanos(ttl_max);
        let (out, fault) = self
            .call(async |i: &mut Instance| {
                let observed = self.observe(i, file, replica).await?;
                let args = AnnounceArgs {
                    request,
                    ttl_max,
                    observed,
                };
                self.export::<exports::Announce>(i, args).await
            })
            .await?;
        out.map(convert::claim)
            .map_err(|e| convert::error(e, fault))
    }

    pub async fn release(
        &self,
        file: &str,
        agent: &str,
        replica: Replica<'_>,
    ) -> Result<Release, Error> {
        let (out, fault) = self
            .call(async |i: &mut Instance| {
                let observed = self.observe(i, file, replica).await?;
                let args = ReleaseArgs {
                    file: file.to_string(),
                    agent_id: agent.to_string(),
                    observed,
                };
                self.export::<exports::Release>(i, args).await
            })
            .await?;
        out.map(convert::release)
            .map_err(|e| convert::error(e, fault))
    }

    pub async fn who_has(&self, file: &str, replica: Replica<'_>) -> Result<Option<Claim>, Error> {
        let (out, fault) = self
            .call(async |i: &mut Instance| {
                let observed = self.observe(i, file, replica).await?;
                let args = WhoHasArgs {
                    file: file.to_string(),
                    observed,
                };
                self.export::<exports::WhoHas>(i, args).await
            })
            .await?;
        out.map(|c| c.map(convert::claim))
            .map_err(|e| convert::error(e, fault))
    }

    /// Every live hold over `file` (or overlapping a pattern), oldest first.
    pub async fn covering(&self, file: &str) -> Result<Vec<Claim>, Error> {
        let args = FileArgs {
            file: file.to_string(),
        };
        let (out, fault) = self
            .call(async |i: &mut Instance| self.export::<exports::Covering>(i, args).await)
            .await?;
        out.map(|claims| claims.into_iter().map(convert::claim).collect())
            .map_err(|e| convert::error(e, fault))
    }

    /// Claim every file or none, with the replica's entries as first observations.
    pub async fn claim(
        &self,
        files: &[String],
        announce: &Announce,
        ttl_max: Duration,
        max_files: u32,
        replica: Replica<'_>,
    ) -> Result<Claimed, Error> {
        let request = convert::claim_request_to_trace(&convert::claim_request(files, announce));
        let ttl_max = crate::time::nanos(ttl_max);
        let (out, fault) = self
            .call(async |i: &mut Instance| {
                let mut observed = Vec::with_capacity(files.len());
                if replica.is_some() {
                    for file in files {
                        observed.push(self.observe(i, file, replica).await?);
                    }
                }
                let args = ClaimArgs {
                    request,
                    ttl_max,
                    max_files,
                    observed,
                };
                self.export::<exports::ClaimFiles>(i, args).await
            })
            .await?;
        out.map(convert::claimed)
            .map_err(|e| convert::error(e, fault))
    }

    /// Renew a lease's hold written at `revision`.
    pub async fn renew(
        &self,
        file: &str,
        announce: &Announce,
        revision: u64,
        ttl_max: Duration,
    ) -> Result<Claim, Error> {
        let args = RenewArgs {
            request: convert::request_to_trace(&convert::announce_request(file, announce)),
            revision,
            ttl_max: crate::time::nanos(ttl_max),
        };
        let (out, fault) = self
            .call(async |i: &mut Instance| self.export::<exports::Renew>(i, args).await)
            .await?;
        out.map(convert::claim)
            .map_err(|e| convert::error(e, fault))
    }

    /// Each file's state for `agent`, read fresh.
    pub async fn check(
        &self,
        files: &[String],
        agent: &str,
        tokens: &[u64],
    ) -> Result<Vec<FileCheck>, Error> {
        let args = CheckArgs {
            files: files.to_vec(),
            agent_id: agent.to_string(),
            tokens: tokens.to_vec(),
        };
        let (out, fault) = self
            .call(async |i: &mut Instance| self.export::<exports::Check>(i, args).await)
            .await?;
        out.map(|checks| checks.into_iter().map(convert::file_check).collect())
            .map_err(|e| convert::error(e, fault))
    }

    /// Remove whoever's live hold on `file`, noting `by`.
    pub async fn force_release(
        &self,
        file: &str,
        by: &str,
        replica: Replica<'_>,
    ) -> Result<Release, Error> {
        let (out, fault) = self
            .call(async |i: &mut Instance| {
                let observed = self.observe(i, file, replica).await?;
                let args = ForceReleaseArgs {
                    file: file.to_string(),
                    by: by.to_string(),
                    observed,
                };
                self.export::<exports::ForceRelease>(i, args).await
            })
            .await?;
        out.map(convert::release)
            .map_err(|e| convert::error(e, fault))
    }

    pub async fn key_for_file(&self, file: &str) -> Result<String, Error> {
        let (out, fault) = self
            .call(async |i: &mut Instance| self.key_export(i, file).await)
            .await?;
        out.map_err(|e| convert::error(e, fault))
    }

    pub async fn file_for_key(&self, key: &str) -> Result<String, Error> {
        let args = KeyArgs {
            key: key.to_string(),
        };
        let (out, fault) = self
            .call(async |i: &mut Instance| self.export::<exports::FileForKey>(i, args).await)
            .await?;
        out.map_err(|e| convert::error(e, fault))
    }

    /// The guest's verdict on a bucket's settings. Not recorded: it is made
    /// once, at open, from the store's settings, and reads no entry.
    pub async fn check_bucket(
        &self,
        settings: &BucketSettings,
        ttl_max: Duration,
    ) -> Result<(), Error> {
        let ttl_max = crate::time::nanos(ttl_max);
        let (out, fault) = self
            .call(async |i: &mut Instance| Ok((i.check_bucket(settings, ttl_max).await?, None)))
            .await?;
        out.map_err(|e| convert::error(e, fault))
    }

    /// How the hub keeps its replica of a bucket whose entries age out after
    /// `max_age`. Not recorded: asked once, when the manager opens.
    pub async fn upkeep(&self, max_age: Duration) -> Result<Upkeep, Error> {
        let max_age = crate::time::nanos(max_age);
        let plan = self
            .call(async |i: &mut Instance| i.upkeep(max_age).await)
            .await?;
        Ok(convert::upkeep(plan))
    }

    /// Name `paths` as seen from `place`. Not recorded: it reads the filesystem,
    /// not the store, and a trace's calls carry the files it named.
    pub async fn identify(&self, paths: &[String], place: &Place) -> Result<Vec<Identity>, Error> {
        let (out, fault) = self
            .call(async |i: &mut Instance| Ok((i.identify(paths, place).await?, None)))
            .await?;
        out.map_err(|e| convert::error(e, fault))
    }

    pub async fn interpret(&self, change: Change) -> Result<Interpretation, Error> {
        let args = InterpretArgs {
            change: convert::change_to_trace(&change),
        };
        let (out, _) = self
            .call(async |i: &mut Instance| self.export::<exports::Interpret>(i, args).await)
            .await?;
        Ok(out)
    }

    /// What `entry`, the latest of `key`, shows in a snapshot (a subscription's
    /// first events, a listing): its hold's event, if it holds one.
    pub async fn snapshot_event(&self, key: String, entry: &Entry) -> Result<Option<Event>, Error> {
        let meaning = self
            .interpret(Change {
                key,
                entry: convert::entry_to_wit(Some(entry)),
                previous: convert::entry_to_wit(None),
                snapshot: true,
            })
            .await?;
        Ok(meaning.event.map(convert::event))
    }

    pub async fn sweep(&self, key: &str, observed: wit_kv::Entry) -> Result<SweepOutcome, Error> {
        let args = SweepArgs {
            key: key.to_string(),
            observed: convert::wit_entry_to_trace(&observed),
        };
        let (out, fault) = self
            .call(async |i: &mut Instance| self.export::<exports::Sweep>(i, args).await)
            .await?;
        out.map_err(|e| convert::error(e, fault))
    }
}

fn boxed(e: wasmtime::Error) -> Box<dyn StdError + Send + Sync + 'static> {
    e.into()
}

fn describe_trap(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => format!(
            "the guest ran out of fuel (more than {FUEL_PER_CALL} instructions in one call)"
        ),
        Some(trap) => format!("the guest trapped: {trap}"),
        None => format!("{e:#}"),
    }
}
