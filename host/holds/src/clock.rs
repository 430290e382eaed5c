//! The wall clock the guest imports.

use std::time::SystemTime;
#[cfg(feature = "test-util")]
use std::{
    sync::Arc,
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

/// Wall-clock UTC time, nanoseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> i64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::time::ns(SystemTime::now())
    }
}

/// Test seam, not the supported API: the system clock plus an adjustable offset,
/// so tests move time forward without sleeping (and simulate clock skew between
/// agents).
#[cfg(feature = "test-util")]
#[derive(Clone, Debug, Default)]
pub struct OffsetClock {
    offset_ns: Arc<AtomicI64>,
}

#[cfg(feature = "test-util")]
impl OffsetClock {
    /// A clock that reads the system's, until advanced.
    pub fn new() -> Self {
        Self::default()
    }

    /// Move this clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.offset_ns.fetch_add(by, Ordering::SeqCst);
    }
}

#[cfg(feature = "test-util")]
impl Clock for OffsetClock {
    fn now(&self) -> i64 {
        SystemClock
            .now()
            .saturating_add(self.offset_ns.load(Ordering::SeqCst))
    }
}
