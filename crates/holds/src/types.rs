//! The public data types of the holds API.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A hold: agent X is editing a file until a given instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub agent_id: String,
    /// When the hold was most recently announced.
    pub claimed_at: SystemTime,
    /// Past this instant the hold is vacant.
    pub expires_at: SystemTime,
    /// The agent's checkout, stored verbatim.
    pub checkout_path: String,
    /// The lease the agent asked for.
    pub ttl: Duration,
}

/// A hold and where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The cleaned absolute path.
    pub file: String,
    pub hold: Hold,
    /// The store revision of the hold: it grows with every successful announce of
    /// the file, so it serves as a fencing token.
    pub revision: u64,
}

/// What an agent asks for when it announces a hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    pub agent_id: String,
    pub ttl: Duration,
    pub checkout_path: String,
}

impl Announce {
    pub fn new(agent_id: impl Into<String>, ttl: Duration) -> Self {
        Announce {
            agent_id: agent_id.into(),
            ttl,
            checkout_path: String::new(),
        }
    }

    pub fn checkout(mut self, path: impl Into<String>) -> Self {
        self.checkout_path = path.into();
        self
    }
}

/// What a release did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The hold was removed; the revision of the marker left behind.
    Released { revision: u64 },
    /// Nothing to release: missing, expired, or another agent's hold.
    NotHeld,
}

/// What happened to a file's hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Announced(Hold),
    Released,
    Expired,
}

/// One change delivered to subscribers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub file: String,
    pub revision: u64,
    pub kind: EventKind,
}

/// Nanoseconds since the epoch (the WIT `timestamp`) as a `SystemTime`.
pub(crate) fn system_time(ns: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

/// A `SystemTime` as RFC 3339 UTC, as the stored value writes it (Go's
/// `RFC3339Nano`: trailing zeros dropped). Saturates outside 1677..2262, so Go's
/// zero time prints as the earliest representable instant rather than failing.
pub fn rfc3339(at: SystemTime) -> String {
    let ns = i128::from(crate::convert::timestamp(at));
    time::OffsetDateTime::from_unix_timestamp_nanos(ns)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .expect("every i64 nanosecond count is an RFC 3339 instant")
}
