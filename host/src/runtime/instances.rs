//! A pool of guest instances for one store, and the bounded export calls.
//!
//! An instance is busy for a whole export call (which awaits the store), so
//! concurrent calls need one instance each. Idle instances are kept for reuse:
//! a pooled call skips `Store::new` + instantiation (~10-15 µs with the pooling
//! allocator). An instance that trapped, ran out of fuel or was cancelled is
//! dropped, never reused.

use super::bindings::Guest;
use super::bindings::exports::holds::core::holds::{AnnounceRequest, ReleaseOutcome};
use super::bindings::exports::holds::core::subscribe::{Change, Interpretation};
use super::bindings::holds::core::{kv, types};
use super::engine::{FUEL_PER_CALL, MEMORY_PER_INSTANCE, Runtime};
use super::imports::{GuestState, RetryObserver};
use crate::clock::Clock;
use crate::error::Error;
use crate::kv::{Entry, KvStore};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::{Store, StoreLimitsBuilder, Trap};

/// Where entries learnt during calls go (the manager's replica).
pub(crate) type SeenSink = Arc<dyn Fn(Vec<(String, Entry)>) + Send + Sync>;

/// Idle instances kept per manager.
const MAX_IDLE: usize = 64;

struct Instance {
    store: Store<GuestState>,
    guest: Guest,
}

pub(crate) struct Instances {
    runtime: Arc<Runtime>,
    kv: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    retry_observer: Mutex<Option<RetryObserver>>,
    seen_sink: Mutex<Option<SeenSink>>,
    idle: Mutex<Vec<Instance>>,
    /// Bound on a whole export call, store round trips included.
    call_timeout: Duration,
}

type GuestResult<T> = Result<T, types::Error>;

impl Instances {
    pub fn new(
        runtime: Arc<Runtime>,
        kv: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
        call_timeout: Duration,
    ) -> Self {
        Instances {
            runtime,
            kv,
            clock,
            retry_observer: Mutex::new(None),
            seen_sink: Mutex::new(None),
            idle: Mutex::new(Vec::new()),
            call_timeout,
        }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn set_seen_sink(&self, sink: SeenSink) {
        *self.seen_sink.lock().unwrap() = Some(sink);
    }

    pub fn set_retry_observer(&self, observer: Option<RetryObserver>) {
        *self.retry_observer.lock().unwrap() = observer;
        // Instances carry the observer in their state: start afresh.
        self.idle.lock().unwrap().clear();
    }

    async fn checkout(&self) -> Result<Instance, Error> {
        let pooled = self.idle.lock().unwrap().pop();
        let mut instance = match pooled {
            Some(instance) => instance,
            None => {
                let state = GuestState {
                    kv: self.kv.clone(),
                    clock: self.clock.clone(),
                    limits: StoreLimitsBuilder::new()
                        .memory_size(MEMORY_PER_INSTANCE)
                        .instances(4)
                        .build(),
                    retry_observer: self.retry_observer.lock().unwrap().clone(),
                    seen: Vec::new(),
                };
                let mut store = Store::new(&self.runtime.engine, state);
                store.limiter(|s| &mut s.limits);
                // Instantiation runs guest code too (data segments, start functions).
                store
                    .set_fuel(FUEL_PER_CALL)
                    .map_err(|e| Error::Guest(format!("setting fuel: {e:#}")))?;
                let guest = self
                    .runtime
                    .pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| Error::Guest(format!("instantiating the component: {e:#}")))?;
                Instance { store, guest }
            }
        };
        instance
            .store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| Error::Guest(format!("setting fuel: {e:#}")))?;
        Ok(instance)
    }

    /// Run one export call on a pooled instance under the call timeout.
    async fn call<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: AsyncFnOnce(&mut Instance) -> wasmtime::Result<R>,
    {
        let mut instance = self.checkout().await?;
        let outcome = tokio::time::timeout(self.call_timeout, f(&mut instance)).await;
        let seen = std::mem::take(&mut instance.store.data_mut().seen);
        if !seen.is_empty() {
            let sink = self.seen_sink.lock().unwrap().clone();
            if let Some(sink) = sink {
                sink(seen);
            }
        }
        match outcome {
            Ok(Ok(value)) => {
                let mut idle = self.idle.lock().unwrap();
                if idle.len() < MAX_IDLE {
                    idle.push(instance);
                }
                Ok(value)
            }
            Ok(Err(e)) => Err(Error::Guest(describe_trap(&e))),
            Err(_) => Err(Error::Guest(format!(
                "the call did not finish within {:?}",
                self.call_timeout
            ))),
        }
    }

    pub async fn announce(
        &self,
        request: AnnounceRequest,
        ttl_max: u64,
        replica: impl Fn(&str) -> Option<kv::Entry>,
    ) -> Result<GuestResult<types::Claim>, Error> {
        self.call(async |i: &mut Instance| {
            let holds = i.guest.holds_core_holds();
            let observed = match holds.call_key_for_file(&mut i.store, &request.file).await? {
                Ok(key) => replica(&key),
                Err(_) => None, // the announce itself reports the bad path
            };
            holds
                .call_announce(&mut i.store, &request, ttl_max, observed.as_ref())
                .await
        })
        .await
    }

    /// Release or who-has with the replica's entry as the observation.
    pub async fn release(
        &self,
        file: &str,
        agent: &str,
        replica: impl Fn(&str) -> Option<kv::Entry>,
    ) -> Result<GuestResult<ReleaseOutcome>, Error> {
        self.call(async |i: &mut Instance| {
            let holds = i.guest.holds_core_holds();
            let observed = match holds.call_key_for_file(&mut i.store, file).await? {
                Ok(key) => replica(&key),
                Err(_) => None,
            };
            holds
                .call_release(&mut i.store, file, agent, observed.as_ref())
                .await
        })
        .await
    }

    pub async fn who_has(
        &self,
        file: &str,
        replica: impl Fn(&str) -> Option<kv::Entry>,
    ) -> Result<GuestResult<Option<types::Claim>>, Error> {
        self.call(async |i: &mut Instance| {
            let holds = i.guest.holds_core_holds();
            let observed = match holds.call_key_for_file(&mut i.store, file).await? {
                Ok(key) => replica(&key),
                Err(_) => None,
            };
            holds
                .call_who_has(&mut i.store, file, observed.as_ref())
                .await
        })
        .await
    }

    pub async fn key_for_file(&self, file: &str) -> Result<GuestResult<String>, Error> {
        self.call(async |i: &mut Instance| {
            i.guest
                .holds_core_holds()
                .call_key_for_file(&mut i.store, file)
                .await
        })
        .await
    }

    pub async fn file_for_key(&self, key: &str) -> Result<GuestResult<String>, Error> {
        self.call(async |i: &mut Instance| {
            i.guest
                .holds_core_holds()
                .call_file_for_key(&mut i.store, key)
                .await
        })
        .await
    }

    pub async fn interpret(&self, change: Change) -> Result<Interpretation, Error> {
        self.call(async |i: &mut Instance| {
            i.guest
                .holds_core_subscribe()
                .call_interpret(&mut i.store, &change)
                .await
        })
        .await
    }

    pub async fn sweep(&self, key: &str) -> Result<GuestResult<bool>, Error> {
        self.call(async |i: &mut Instance| {
            i.guest
                .holds_core_subscribe()
                .call_sweep(&mut i.store, key)
                .await
        })
        .await
    }

    pub async fn encode_hold(&self, hold: types::Hold) -> Result<Vec<u8>, Error> {
        self.call(async |i: &mut Instance| {
            i.guest
                .holds_core_testing()
                .call_encode_hold(&mut i.store, &hold)
                .await
        })
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
