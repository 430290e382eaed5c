//! Time as the WIT sees it (nanoseconds since the Unix epoch, saturating) and as
//! Go writes it (RFC 3339).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `SystemTime` as nanoseconds since the epoch (the WIT `timestamp`), saturating.
pub(crate) fn ns(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// Nanoseconds since the epoch as a `SystemTime`.
pub(crate) fn system_time(ns: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

/// A duration as WIT nanoseconds, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A `SystemTime` as RFC 3339 UTC, as the stored value writes it (Go's
/// `RFC3339Nano`: trailing zeros dropped). Saturates outside 1677..2262, so Go's
/// zero time prints as the earliest representable instant rather than failing.
pub fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns(at)))
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .expect("every i64 nanosecond count is an RFC 3339 instant")
}

/// An instant no wait reaches (about 30 years from now): the deadline of a wait
/// too long to represent.
pub(crate) fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(30 * 365 * 24 * 3600)
}
