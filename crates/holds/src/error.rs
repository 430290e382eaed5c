//! The error type of the holds API.

use crate::types::Claim;
use std::time::SystemTime;

/// Why a holds call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Another agent holds a live hold on the file.
    #[error("{} is held by agent {:?} until {}", .0.file, .0.hold.agent_id, crate::types::rfc3339(.0.hold.expires_at))]
    HeldByAnother(Box<Claim>),

    /// A precondition was broken; nothing was changed.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    /// The configuration given to `Manager::open` is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// Every attempt lost the revision race.
    #[error("gave up after {0} attempts: every write lost the revision race")]
    CasExhausted(u32),

    /// A stored value does not decode as a hold.
    #[error("corrupt entry at key {key} (revision {revision}): {reason}")]
    CorruptEntry {
        key: String,
        revision: u64,
        reason: String,
    },

    /// The store failed: unreachable, timed out, refused.
    #[error("store error: {0}")]
    Store(String),

    /// The manager is closed.
    #[error("holds: manager is closed")]
    Closed,

    /// The guest trapped, ran out of fuel or memory, or timed out. The manager
    /// discards that instance and keeps working.
    #[error("guest failure: {0}")]
    Guest(String),

    /// A subscriber fell more than its buffer behind the live changes; its
    /// subscription ended. Subscribe again to resynchronise from a fresh snapshot.
    #[error("subscription lagged: more than {0} events were waiting")]
    Lagged(usize),
}

impl Error {
    /// The instant the holder's hold expires, for `HeldByAnother`.
    pub fn held_until(&self) -> Option<SystemTime> {
        match self {
            Error::HeldByAnother(claim) => Some(claim.hold.expires_at),
            _ => None,
        }
    }
}
