//! The process's instance slots.
//!
//! The engine's pooling allocator has a fixed number of slots for the whole
//! process, so every instance of every component takes a permit from one
//! process-wide semaphore first: a call beyond the slots waits for one (within its
//! timeout) instead of failing. When no permit is free, an idle instance of any
//! component is evicted to make room (see `pool.rs`).

use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Component instances that may exist at once in this process (pooling slots).
pub(crate) const INSTANCE_SLOTS: u32 = 512;

/// A permit for one instance; dropping the instance frees it.
pub(crate) type Slot = OwnedSemaphorePermit;

/// Drops one idle instance somewhere; false when it had none.
pub(crate) type Evict = Box<dyn Fn() -> bool + Send + Sync>;

struct Slots {
    permits: Arc<Semaphore>,
    /// One per component's idle pool.
    evictors: Mutex<Vec<Evict>>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| Slots {
        permits: Arc::new(Semaphore::new(INSTANCE_SLOTS as usize)),
        evictors: Mutex::new(Vec::new()),
    })
}

/// Let [`acquire`] evict from another idle pool.
pub(crate) fn register_evictor(evict: Evict) {
    slots().evictors.lock().unwrap().push(evict);
}

/// Wait for a free slot, evicting idle instances (of any component) first.
pub(crate) async fn acquire() -> Slot {
    let slots = slots();
    loop {
        if let Ok(permit) = slots.permits.clone().try_acquire_owned() {
            return permit;
        }
        let evicted = slots.evictors.lock().unwrap().iter().any(|evict| evict());
        if !evicted {
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
