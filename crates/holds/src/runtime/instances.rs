//! The bounded export calls of one manager.
//!
//! An instance is busy for a whole export call (which awaits the store), so
//! concurrent calls need one instance each. Idle instances are kept for reuse by
//! the runtime (see `pool.rs`) and bound to this manager's store and clock for the
//! length of a call: a pooled call skips `Store::new` + instantiation (~10-15 µs
//! with the pooling allocator). An instance that trapped, ran out of fuel or was
//! cancelled is dropped, never reused.

use super::bindings::exports::holds::core::holds::{AnnounceRequest, ReleaseOutcome};
use super::bindings::exports::holds::core::subscribe::{Change, Interpretation, SweepOutcome};
use super::bindings::holds::core::{kv, types};
use super::engine::{FUEL_PER_CALL, Runtime};
use super::imports::{Binding, Io, RetryObserver};
use super::invoke::{ExportResult, Instance};
use crate::clock::Clock;
use crate::error::Error;
use crate::kv::{Entry, KvStore};
use crate::trace::{CallRecord, ExportCall, Recorder, TraceChange};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::Trap;

/// Where entries learnt during calls go (the manager's replica).
pub(crate) type SeenSink = Arc<dyn Fn(Vec<(String, Entry)>) + Send + Sync>;

/// Files whose keys are remembered (the guest's `key-for-file` is pure, so a
/// warm-replica call needs one guest call instead of two). Cleared when full.
const KEY_CACHE: usize = 4096;

pub(crate) struct Instances {
    runtime: Arc<Runtime>,
    kv: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    retry_observer: Mutex<Option<RetryObserver>>,
    seen_sink: Mutex<Option<SeenSink>>,
    recorder: Option<Arc<Recorder>>,
    /// Reuse the runtime's idle instances (false: a fresh store and instance per call).
    reuse: bool,
    /// Bound on a whole export call, store round trips included.
    call_timeout: Duration,
    /// The guest's answers of `key-for-file`, for the replica lookups.
    keys: Mutex<std::collections::HashMap<String, String>>,
}

type GuestResult<T> = Result<T, types::Error>;

/// The replica's entry for a key, when the caller keeps a replica.
pub(crate) type Replica<'a> = Option<&'a (dyn Fn(&str) -> Option<kv::Entry> + Sync)>;

impl Instances {
    pub fn new(
        runtime: Arc<Runtime>,
        kv: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
        recorder: Option<Arc<Recorder>>,
        max_idle: usize,
        call_timeout: Duration,
    ) -> Self {
        if max_idle > 0 {
            runtime.pool.keep_at_least(max_idle);
        }
        Instances {
            runtime,
            kv,
            clock,
            retry_observer: Mutex::new(None),
            seen_sink: Mutex::new(None),
            recorder,
            reuse: max_idle > 0,
            call_timeout,
            keys: Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn set_seen_sink(&self, sink: SeenSink) {
        *self.seen_sink.lock().unwrap() = Some(sink);
    }

    /// Idle instances of this manager's component.
    pub fn idle(&self) -> usize {
        self.runtime.pool.idle()
    }

    pub fn set_retry_observer(&self, observer: Option<RetryObserver>) {
        *self.retry_observer.lock().unwrap() = observer;
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
        instance.store.data_mut().io = Io::Live(Binding {
            kv: self.kv.clone(),
            clock: self.clock.clone(),
            retry_observer: self.retry_observer.lock().unwrap().clone(),
        });
        instance
            .store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| Error::Guest(format!("setting fuel: {e:#}")))?;
        Ok(instance)
    }

    /// Make the export calls of `f` on one instance, under the call timeout (which
    /// also bounds the wait for a free instance slot).
    async fn call<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: AsyncFnOnce(&Self, &mut Instance) -> wasmtime::Result<R>,
    {
        let outcome = tokio::time::timeout(self.call_timeout, async {
            let mut instance = self.checkout().await?;
            let outcome = f(self, &mut instance).await;
            Ok::<_, Error>((instance, outcome))
        })
        .await;
        let (mut instance, outcome) = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(Error::Guest(format!(
                    "the call did not finish within {:?}",
                    self.call_timeout
                )));
            }
        };
        let state = instance.store.data_mut();
        state.io = Io::Unbound;
        let seen = std::mem::take(&mut state.seen);
        if !seen.is_empty() {
            let sink = self.seen_sink.lock().unwrap().clone();
            if let Some(sink) = sink {
                sink(seen);
            }
        }
        match outcome {
            Ok(value) => {
                if self.reuse {
                    self.runtime.pool.put(instance);
                }
                Ok(value)
            }
            Err(e) => Err(Error::Guest(describe_trap(&e))),
        }
    }

    /// One export call, recorded when a recorder is set.
    async fn invoke(
        &self,
        instance: &mut Instance,
        call: ExportCall,
    ) -> wasmtime::Result<ExportResult> {
        let Some(recorder) = &self.recorder else {
            return instance.invoke(&call).await;
        };
        let number = recorder.start_call();
        instance.store.data_mut().recording = Some(Vec::new());
        let outcome = instance.invoke(&call).await;
        let steps = instance
            .store
            .data_mut()
            .recording
            .take()
            .unwrap_or_default();
        let result = match &outcome {
            Ok(result) => result.to_json(),
            Err(e) => serde_json::json!({ "trap": format!("{e:#}") }),
        };
        recorder.write(CallRecord {
            call: number,
            written: 0,
            export: call,
            steps,
            result,
        });
        outcome
    }

    /// The key of `file` and the replica's entry for it, as the first observation.
    async fn observe(
        &self,
        i: &mut Instance,
        file: &str,
        replica: Replica<'_>,
    ) -> wasmtime::Result<Option<crate::trace::TraceEntry>> {
        let Some(replica) = replica else {
            return Ok(None);
        };
        let known = self.keys.lock().unwrap().get(file).cloned();
        let key = match known {
            Some(key) => key,
            None => {
                let answer = self
                    .invoke(
                        i,
                        ExportCall::KeyForFile {
                            file: file.to_string(),
                        },
                    )
                    .await?
                    .text();
                // A bad path gets no hint: the call itself reports it.
                let Ok(key) = answer else {
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
        Ok(replica(&key).map(Into::into))
    }

    /// Announce, with the replica's entry for the file's key as the first observation.
    pub async fn announce(
        &self,
        request: AnnounceRequest,
        ttl_max: u64,
        replica: Replica<'_>,
    ) -> Result<GuestResult<types::Claim>, Error> {
        self.call(async |this: &Self, i: &mut Instance| {
            let observed = this.observe(i, &request.file, replica).await?;
            let call = ExportCall::Announce {
                request,
                ttl_max,
                observed,
            };
            Ok(this.invoke(i, call).await?.claim())
        })
        .await
    }

    pub async fn release(
        &self,
        file: &str,
        agent: &str,
        replica: Replica<'_>,
    ) -> Result<GuestResult<ReleaseOutcome>, Error> {
        self.call(async |this: &Self, i: &mut Instance| {
            let observed = this.observe(i, file, replica).await?;
            let call = ExportCall::Release {
                file: file.to_string(),
                agent_id: agent.to_string(),
                observed,
            };
            Ok(this.invoke(i, call).await?.release())
        })
        .await
    }

    pub async fn who_has(
        &self,
        file: &str,
        replica: Replica<'_>,
    ) -> Result<GuestResult<Option<types::Claim>>, Error> {
        self.call(async |this: &Self, i: &mut Instance| {
            let observed = this.observe(i, file, replica).await?;
            let call = ExportCall::WhoHas {
                file: file.to_string(),
                observed,
            };
            Ok(this.invoke(i, call).await?.who_has())
        })
        .await
    }

    pub async fn key_for_file(&self, file: &str) -> Result<GuestResult<String>, Error> {
        let call = ExportCall::KeyForFile {
            file: file.to_string(),
        };
        self.call(async |this: &Self, i: &mut Instance| Ok(this.invoke(i, call).await?.text()))
            .await
    }

    pub async fn file_for_key(&self, key: &str) -> Result<GuestResult<String>, Error> {
        let call = ExportCall::FileForKey {
            key: key.to_string(),
        };
        self.call(async |this: &Self, i: &mut Instance| Ok(this.invoke(i, call).await?.text()))
            .await
    }

    pub async fn interpret(&self, change: Change) -> Result<Interpretation, Error> {
        let call = ExportCall::Interpret {
            change: TraceChange {
                key: change.key,
                entry: change.entry.into(),
                previous: change.previous.into(),
                snapshot: change.snapshot,
            },
        };
        self.call(async |this: &Self, i: &mut Instance| {
            Ok(this.invoke(i, call).await?.interpretation())
        })
        .await
    }

    pub async fn sweep(
        &self,
        key: &str,
        observed: kv::Entry,
    ) -> Result<GuestResult<SweepOutcome>, Error> {
        let call = ExportCall::Sweep {
            key: key.to_string(),
            observed: observed.into(),
        };
        self.call(async |this: &Self, i: &mut Instance| Ok(this.invoke(i, call).await?.swept()))
            .await
    }
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
