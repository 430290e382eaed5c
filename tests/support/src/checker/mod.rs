//! A model checker for histories of holds: every call with its start and end
//! instants and its result, and what subscribers saw.
//!
//! # The history
//!
//! [`History`] wraps [`Manager`] calls and records each as a [`Call`]: who asked,
//! which file, the wall-clock instants (ns since the epoch, the clock the guest
//! reads) just before the call and just after it returned, and its [`Outcome`].
//! [`WatchRecorder`] records subscriptions: every event with the instant the
//! subscriber received it, and how the subscription ended.
//!
//! # The model
//!
//! The store gives one revision sequence per bucket; every write to a file (a
//! hold, a release marker, an expiry marker) gets a revision, and for one file the
//! writes are totally ordered by revision. The checker rebuilds that order, the
//! *log*, from the union of what the calls acknowledged (a claim's revision is its
//! fencing token; a release's marker revision) and what the watches delivered
//! (which also shows writes nobody acknowledged: expiry markers, and writes of
//! calls that failed ambiguously). It then checks:
//!
//! - **Mutual exclusion** (`Overlap`): walk each file's log in revision order. A
//!   hold written by agent B right after a hold of agent A != B (with no marker in
//!   between) is legal only if A's hold had expired when B's hold was decided:
//!   `A.expires_at < B.claimed_at`. `claimed_at` is the instant the guest judged
//!   the key (it is the `now` of the decision), on the clock that judged
//!   `A.expires_at`, so this is exactly "was A's hold live when B took the file";
//!   a hold expiring exactly then is live, as the guest rules. Renewals (A after
//!   A) are always legal.
//! - **Markers**: a release marker must be acknowledged by a release call of the
//!   hold's owner (`UnownedRelease`, `PhantomRemoval`); an expiry marker must not
//!   be seen by a subscriber before the hold it removes expired (`EarlyExpiry`:
//!   the marker was written before the instant a subscriber received it).
//! - **Reads** (who-has, the holder named by a refusal, a release that found
//!   nothing): the store is linearizable per key, so a read that started at `s`
//!   sees at least every write acknowledged (or delivered to a subscriber) before
//!   `s` (`StaleRead`; on a replicated JetStream stream a follower's consumer may
//!   deliver a write before the leader, which answers reads, has applied it, so
//!   [`check_acked_reads`] counts acknowledgements only), only writes that started before the read ended
//!   (`FutureRead`), only holds that were written (`UnknownHold`), and only holds
//!   live at some instant of the call (`ExpiredReturned`). A who-has that returns
//!   nothing while an acknowledged hold was live for the whole call, with no write
//!   that could have come between, is a `LostHold` (every acknowledged announce is
//!   visible until released or expired); an owner's release that found nothing to
//!   release in the same situation is a `MissedRelease`.
//! - **Revisions**: one revision names one write (`RevisionConflict`); a write's
//!   revision is above every revision acknowledged before it started
//!   (`RevisionOrder`); a claim's instants lie inside its call and its expiry is
//!   `claimed_at + ttl` (`BadClaim`).
//! - **Watches**: each subscription's revisions increase, per file and overall
//!   (`WatchOrder`); it delivers every acknowledged write that started after it
//!   was subscribed (up to its last event if it ended early), with the content
//!   the call acknowledged (`WatchMissing`, `WatchMismatch`).
//!
//! Calls that failed with a store or guest error are *ambiguous*: their write
//! may have landed (even after the call returned, from a client's reconnect
//! buffer). They never count as acknowledged, and a check that a hidden write of
//! theirs could explain is counted as *excused* instead of a violation. With a
//! complete watch there are no hidden writes.
//!
//! Soundness: every check above follows from the guest's rules and a
//! linearizable store, judged on one wall clock shared by all managers of the
//! test process (the guest's clock is the system clock). The checker assumes that
//! clock does not step backwards during a run (`BadClaim` would show it).
//!
//! # The files
//!
//! `history.rs` records calls, `recorder.rs` subscriptions; `log.rs` rebuilds
//! the bucket's log from both; `safety.rs` and `reads.rs` hold the rules on
//! writes and on reads, `watch_rules.rs` those on subscriptions (`check.rs` runs
//! them all); `report.rs` is the verdict. `workload.rs` drives random agents,
//! seeded by `rng.rs`.

mod check;
mod history;
mod log;
mod reads;
mod recorder;
mod report;
mod rng;
mod safety;
mod state;
mod watch_rules;
mod workload;
mod write;

pub use check::{check, check_acked_reads, error_kind};
pub use history::{Call, History, Op, Outcome, max_acked_revision};
pub use recorder::{
    Ended, RESUBSCRIBE_EVERY, Seen, WatchLog, WatchRecorder, stop_all, wait_for_watches,
};
pub use report::{Report, Rule, Violation};
pub use rng::{Rng, seed_from_env};
pub use workload::{Running, Workload, env_or};

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, on the wall clock the guest reads.
pub type Nanos = i64;

/// The wall clock now.
pub fn now_ns() -> Nanos {
    ns(SystemTime::now())
}

pub fn ns(at: SystemTime) -> Nanos {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}
