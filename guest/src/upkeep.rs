//! How a host keeps its replica of the bucket and runs expiry sweeps: the
//! numbers every host applies, decided here once.

use crate::model::Timestamp;

/// See the WIT `upkeep` record; every duration in ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upkeep {
    pub prune_every: u64,
    pub keep_hold: u64,
    pub keep_marker: u64,
    pub sweep_retry: u64,
    pub concurrent_sweeps: u32,
    pub restart_after: u64,
}

const SECOND: u64 = 1_000_000_000;

/// A key is never swept again sooner than this after a sweep found it live, so
/// a clock that stands still (or a host's timer that fires early) cannot spin.
pub const MIN_SWEEP_DELAY: u64 = 10_000_000;

/// The upkeep of a replica of a bucket whose entries age out after `max_age`
/// ns (0: never).
///
/// Pruning runs four times per max age, between once a second and once a
/// minute. A hold is kept for twice the max age, so that the marker that ends
/// it (the server's, or a sweep's when its TTL equals the max age) still finds
/// it as the previous entry and is reported as an expiry; a marker for one.
pub fn upkeep(max_age: u64) -> Upkeep {
    Upkeep {
        prune_every: if max_age == 0 {
            0
        } else {
            (max_age / 4).clamp(SECOND, 60 * SECOND)
        },
        keep_hold: max_age.saturating_mul(2),
        keep_marker: max_age,
        sweep_retry: SECOND,
        concurrent_sweeps: 16,
        restart_after: SECOND,
    }
}

/// When to sweep again a hold that expires at `expired_from`, found live `now`.
pub fn sweep_again_at(expired_from: Timestamp, now: Timestamp) -> Timestamp {
    expired_from.max(now.saturating_add(MIN_SWEEP_DELAY as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_runs_four_times_per_max_age_within_a_second_and_a_minute() {
        assert_eq!(upkeep(0).prune_every, 0);
        assert_eq!(upkeep(2 * SECOND).prune_every, SECOND);
        assert_eq!(upkeep(60 * SECOND).prune_every, 15 * SECOND);
        assert_eq!(upkeep(3600 * SECOND).prune_every, 60 * SECOND);
    }

    #[test]
    fn holds_stay_twice_the_max_age_and_markers_once() {
        let u = upkeep(60 * SECOND);
        assert_eq!((u.keep_hold, u.keep_marker), (120 * SECOND, 60 * SECOND));
        assert_eq!(upkeep(u64::MAX).keep_hold, u64::MAX);
    }

    #[test]
    fn a_live_hold_is_swept_again_when_it_expires_but_never_within_10_ms() {
        assert_eq!(sweep_again_at(5 * SECOND as i64, 0), 5 * SECOND as i64);
        assert_eq!(sweep_again_at(100, 100), 100 + MIN_SWEEP_DELAY as i64);
        assert_eq!(sweep_again_at(0, i64::MAX), i64::MAX);
    }
}
