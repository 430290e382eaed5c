//! The process-wide engine and compiled components.

use super::bindings::GuestPre;
use super::cache;
use super::ctx::{self, HoldsCtx, HoldsCtxBuilder};
use super::invoke::Instance;
use super::pool::Pool;
use super::slots::{self, INSTANCE_SLOTS};
use crate::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Instructions one export call may execute. A real call needs well under 1% of
/// this; a runaway guest traps within tens of milliseconds.
pub(crate) const FUEL_PER_CALL: u64 = 50_000_000;
/// Linear memory one instance may use.
pub(crate) const MEMORY_PER_INSTANCE: usize = 64 << 20;
/// Core instances, memories and tables one component instance may have (the
/// embedded guest has 3, 1 and 2; foreign builds may have more). The pool is
/// sized so that [`INSTANCE_SLOTS`] component instances always fit.
const CORE_INSTANCES_PER_COMPONENT: u32 = 4;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

static ONE_SHOT: AtomicBool = AtomicBool::new(false);

/// Tune the process's engine for a short-lived process that makes a few calls
/// (the CLI): instances are allocated on demand instead of from a pool, whose
/// set-up (guarded fiber stacks for every slot, ~4 ms) would dominate a one-shot
/// call. Takes effect only before the first component is loaded.
///
/// ```no_run
/// holds::prefer_one_shot_engine();
/// let runtime = holds::Runtime::embedded()?;
/// # Ok::<(), holds::Error>(())
/// ```
pub fn prefer_one_shot_engine() {
    ONE_SHOT.store(true, Ordering::Relaxed);
}

/// A compiled component ready to instantiate: the embedded guest, or another
/// build of it (replay against a changed guest, tests of hostile guests).
///
/// ```no_run
/// # fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let bytes = std::fs::read("other-build.wasm")?;
/// let runtime = std::sync::Arc::new(holds::Runtime::from_component(&bytes)?);
/// println!("sha256:{}", runtime.digest);
/// # Ok(())
/// # }
/// ```
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) pre: GuestPre<HoldsCtx>,
    /// SHA-256 of the component's bytes, hex.
    pub digest: String,
    /// The component imports WASI (a foreign guest): it runs in a capability-less
    /// sandbox (see `sandbox.rs`).
    pub foreign: bool,
    /// Idle instances, shared by every manager running this component.
    pub(crate) pool: Pool,
}

impl Runtime {
    /// The embedded `holds:core` component, compiled once per process.
    ///
    /// ```no_run
    /// let runtime = holds::Runtime::embedded()?;
    /// assert!(!runtime.foreign);
    /// # Ok::<(), holds::Error>(())
    /// ```
    pub fn embedded() -> Result<Arc<Runtime>, Error> {
        // A mutex, not a OnceLock: a caller arriving while another thread loads
        // (the CLI starts loading while it connects) waits for that load instead
        // of doing it again; a failed load is not kept, so the next caller retries.
        static EMBEDDED: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);
        let mut embedded = EMBEDDED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = embedded.as_ref() {
            return Ok(rt.clone());
        }
        let rt = Arc::new(Runtime::load(
            crate::component::COMPONENT,
            crate::component::COMPONENT_SHA256.to_string(),
        )?);
        *embedded = Some(rt.clone());
        Ok(rt)
    }

    /// Another build of the component (its bytes).
    pub fn from_component(bytes: &[u8]) -> Result<Runtime, Error> {
        Runtime::load(bytes, cache::digest(bytes))
    }

    /// Compile (or load from the cache) `bytes`, whose SHA-256 is `digest`.
    fn load(bytes: &[u8], digest: String) -> Result<Runtime, Error> {
        let engine = engine()?.clone();
        let component = cache::load_or_compile(&engine, bytes, &digest)?;
        let mut linker = Linker::<HoldsCtx>::new(&engine);
        ctx::add_to_linker(&mut linker).map_err(|e| Error::wasm("linking the component", e))?;
        let foreign = component
            .component_type()
            .imports(&engine)
            .any(|(name, _)| name.starts_with("wasi:"));
        if foreign {
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                .map_err(|e| Error::wasm("linking WASI", e))?;
        }
        let pre = linker
            .instantiate_pre(&component)
            .and_then(GuestPre::new)
            .map_err(|e| Error::wasm("the component does not fit the holds:core world", e))?;
        Ok(Runtime {
            engine,
            pre,
            digest,
            foreign,
            pool: Pool::new(),
        })
    }

    /// The names of the component's imports (interfaces), e.g. `holds:core/kv@0.3.0`.
    pub fn imports(&self) -> Vec<String> {
        self.pre
            .instance_pre()
            .component()
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// The limits every instance runs under.
    fn limits(&self) -> wasmtime::StoreLimits {
        wasmtime::StoreLimitsBuilder::new()
            .memory_size(MEMORY_PER_INSTANCE)
            .instances(CORE_INSTANCES_PER_COMPONENT as usize)
            .memories(MEMORIES_PER_COMPONENT as usize)
            .tables(TABLES_PER_COMPONENT as usize)
            .build()
    }

    /// A new instance, under the limits, once a slot is free (callers bound the wait).
    pub(crate) async fn instantiate(&self) -> Result<Instance, Error> {
        let slot = slots::acquire().await;
        let ctx = HoldsCtxBuilder::new(self.limits()).build();
        let mut store = wasmtime::Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        // Instantiation runs guest code too (data segments, start functions).
        store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| Error::wasm("setting fuel", e))?;
        let guest = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| Error::wasm("instantiating the component", e))?;
        Ok(Instance {
            store,
            guest,
            _slot: slot,
        })
    }
}

/// The one engine of this process.
pub(crate) fn engine() -> Result<&'static Engine, Error> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine);
    }
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Fuel bounds guest work independently of how long the store takes to answer.
    config.consume_fuel(true);
    // No component-model async here: turning it off makes each call ~3x cheaper.
    config.concurrency_support(false);
    if ONE_SHOT.load(Ordering::Relaxed) {
        // The store limiter still caps each instance's memory.
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        // A few instances per process: copying the data segments into each is
        // cheaper than building a copy-on-write image of them (a memfd) at load.
        config.memory_init_cow(false);
    } else {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(INSTANCE_SLOTS)
            .total_core_instances(INSTANCE_SLOTS * CORE_INSTANCES_PER_COMPONENT)
            .total_memories(INSTANCE_SLOTS * MEMORIES_PER_COMPONENT)
            .total_tables(INSTANCE_SLOTS * TABLES_PER_COMPONENT)
            .total_stacks(INSTANCE_SLOTS)
            .max_memory_size(MEMORY_PER_INSTANCE);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config).map_err(|e| Error::wasm("creating the engine", e))?;
    Ok(ENGINE.get_or_init(|| engine))
}
