//! The public data types of the holds API.

use std::time::{Duration, SystemTime};

/// A hold: agent X is editing a file until a given instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The agent that owns the hold.
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
    /// The hold.
    pub hold: Hold,
    /// The store revision of the hold: it grows with every successful announce of
    /// the file, so it serves as a fencing token.
    pub revision: u64,
}

/// What an agent asks for when it announces a hold.
#[derive(Clone, Debug, PartialEq, Eq)]
///
/// ```
/// use holds::Announce;
/// use std::time::Duration;
/// let announce = Announce::new("agent-1", Duration::from_secs(30)).checkout("/tmp/co-agent-1");
/// assert_eq!(announce.checkout_path, "/tmp/co-agent-1");
/// ```
pub struct Announce {
    /// The agent taking the hold.
    pub agent_id: String,
    /// How long the hold lasts unless renewed (at most the manager's `hold_ttl_max`).
    pub ttl: Duration,
    /// The agent's checkout, stored with the hold (empty by default).
    pub checkout_path: String,
}

impl Announce {
    /// A hold for `agent_id`, lasting `ttl`.
    pub fn new(agent_id: impl Into<String>, ttl: Duration) -> Self {
        Announce {
            agent_id: agent_id.into(),
            ttl,
            checkout_path: String::new(),
        }
    }

    /// Store `path` as the agent's checkout.
    pub fn checkout(mut self, path: impl Into<String>) -> Self {
        self.checkout_path = path.into();
        self
    }
}

/// What a release did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The hold was removed.
    Released {
        /// The revision of the marker left behind.
        revision: u64,
    },
    /// Nothing to release: missing, expired, or another agent's hold.
    NotHeld,
}

/// What happened to a file's hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A hold was written (created, renewed or taken over).
    Announced(Hold),
    /// A hold was removed on purpose (a release, or another client's delete or purge).
    Released,
    /// A hold outlived its TTL and the store (or a sweep) removed it.
    Expired,
}

/// One change delivered to subscribers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The cleaned absolute path of the file.
    pub file: String,
    /// The store revision of the change.
    pub revision: u64,
    /// What happened.
    pub kind: EventKind,
}
