//! The idle instances of one component, shared by every manager running it:
//! their store bindings are set per call, so one manager's idle instances never
//! starve another.

use super::invoke::Instance;
use super::limits::IDLE_MEMORY_MAX;
use super::slots;
use std::sync::{Arc, Mutex, Weak};

/// Idle instances a component keeps by default.
pub(crate) const DEFAULT_MAX_IDLE: usize = 64;

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
        let weak: Weak<Mutex<Idle>> = Arc::downgrade(&idle);
        slots::register_evictor(Box::new(move || {
            // Dropped outside the lock.
            let evicted = weak
                .upgrade()
                .and_then(|idle| idle.lock().unwrap().instances.pop());
            evicted.is_some()
        }));
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

    /// Keep `instance` for reuse, or drop it when the pool is full or its
    /// memory grew past [`IDLE_MEMORY_MAX`] (a big call's: memory never shrinks).
    pub fn put(&self, instance: Instance) {
        if instance.store.data().limits.grown_to() > IDLE_MEMORY_MAX {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        if idle.instances.len() < idle.max {
            idle.instances.push(instance);
        }
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap().instances.len()
    }
}
