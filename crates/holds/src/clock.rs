//! The wall clock the guest imports.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock UTC time, nanoseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// The system clock plus an adjustable offset: tests move time forward without
/// sleeping (and simulate clock skew between agents).
#[derive(Clone, Debug, Default)]
pub struct OffsetClock {
    offset_ns: Arc<AtomicI64>,
}

impl OffsetClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Move this clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.offset_ns.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> i64 {
        SystemClock
            .now()
            .saturating_add(self.offset_ns.load(Ordering::SeqCst))
    }
}
