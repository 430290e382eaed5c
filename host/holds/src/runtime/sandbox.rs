//! A capability-less WASI context for foreign guests: builds of the holds world
//! that import WASI (a std `wasm32-wasip2` build, or a guest written in another
//! language). They get no preopened directories, no environment, no arguments,
//! no sockets and closed stdio; their clocks and randomness are deterministic and
//! supplied by the host, so a replay sees exactly what the recording saw. The only
//! real time a guest sees is the holds `clock` import.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView};

/// The WASI state of one foreign instance.
pub(crate) struct Sandbox {
    ctx: WasiCtx,
    table: ResourceTable,
}

/// WASI's wall clock, frozen at the Unix epoch.
struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// WASI's monotonic clock: advances by one nanosecond per reading.
#[derive(Default)]
struct SteppingClock(AtomicU64);

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

impl Sandbox {
    pub fn new() -> Self {
        // The builder's defaults grant nothing: no preopens, env, args or
        // socket addresses; stdin closed, stdout/stderr discarded.
        let ctx = WasiCtx::builder()
            .wall_clock(FrozenWallClock)
            .monotonic_clock(SteppingClock::default())
            .secure_random(StdRng::seed_from_u64(0))
            .insecure_random(StdRng::seed_from_u64(1))
            .insecure_random_seed(0)
            .build();
        Sandbox {
            ctx,
            table: ResourceTable::new(),
        }
    }
}

impl Sandbox {
    /// The WASI context and its resource table.
    pub fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}
