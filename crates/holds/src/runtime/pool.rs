//! Instance slots and idle instances.
//!
//! The engine's pooling allocator has a fixed number of slots for the whole
//! process, so every instance of every component takes a permit from one
//! process-wide semaphore first: a call beyond the slots waits for one (within its
//! timeout) instead of failing. Idle instances are kept per component and shared by
//! every manager running it (their store bindings are set per call), so idle
//! instances of one manager never starve another; when no permit is free, an idle
//! instance of any component is evicted to make room.

use super::invoke::Instance;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Component instances that may exist at once in this process (pooling slots).
pub(crate) const INSTANCE_SLOTS: u32 = 512;

/// Idle instances a component keeps by default.
pub(crate) const DEFAULT_MAX_IDLE: usize = 64;

/// The process-wide slots, and every component's idle pool (to evict from).
struct Slots {
    permits: Arc<Semaphore>,
    pools: Mutex<Vec<Weak<Mutex<Idle>>>>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| Slots {
        permits: Arc::new(Semaphore::new(INSTANCE_SLOTS as usize)),
        pools: Mutex::new(Vec::new()),
    })
}

/// A permit for one instance; dropping the instance frees it.
pub(crate) type Slot = OwnedSemaphorePermit;

/// Wait for a free slot, evicting idle instances (of any component) first.
pub(crate) async fn acquire() -> Slot {
    let slots = slots();
    loop {
        if let Ok(permit) = slots.permits.clone().try_acquire_owned() {
            return permit;
        }
        if !evict_one(slots) {
            break;
        }
    }
    slots
        .permits
        .clone()
        .acquire_owned()
        .await
        .expect("the slot semaphore is never closed")
}

/// Drop one idle instance somewhere; false when none is idle.
fn evict_one(slots: &Slots) -> bool {
    let mut pools = slots.pools.lock().unwrap();
    pools.retain(|p| p.strong_count() > 0);
    for pool in pools.iter().filter_map(Weak::upgrade) {
        let evicted = pool.lock().unwrap().instances.pop();
        if evicted.is_some() {
            return true;
        }
    }
    false
}

struct Idle {
    instances: Vec<Instance>,
    max: usize,
}

/// The idle instances of one component.
pub(crate) struct Pool {
    idle: Arc<Mutex<Idle>>,
}

impl Pool {
    pub fn new() -> Self {
        let idle = Arc::new(Mutex::new(Idle {
            instances: Vec::new(),
            max: DEFAULT_MAX_IDLE,
        }));
        slots().pools.lock().unwrap().push(Arc::downgrade(&idle));
        Pool { idle }
    }

    /// Keep at least `max` idle instances (the largest any manager asked for).
    pub fn keep_at_least(&self, max: usize) {
        let mut idle = self.idle.lock().unwrap();
        idle.max = idle.max.max(max);
    }

    pub fn take(&self) -> Option<Instance> {
        self.idle.lock().unwrap().instances.pop()
    }

    /// Keep `instance` for reuse, or drop it when the pool is full.
    pub fn put(&self, instance: Instance) {
        let mut idle = self.idle.lock().unwrap();
        if idle.instances.len() < idle.max {
            idle.instances.push(instance);
        }
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap().instances.len()
    }
}
