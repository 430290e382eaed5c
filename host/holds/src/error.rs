//! The error type of the holds API.
//!
//! Store and guest failures keep their causes ([`Cause`]): the message says what
//! failed, [`std::error::Error::source`] leads to the store's error and from there
//! to the client library's (async-nats, rusqlite, wasmtime), so callers can walk the
//! chain and downcast instead of reading messages.

use crate::types::{Claim, LostHold};
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// Why a holds call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Another agent holds a live hold on the file.
    #[error("{} is held by agent {:?}{} until {}", .0.file, .0.hold.agent_id, .0.hold.working_in(), crate::time::rfc3339(.0.hold.expires_at))]
    HeldByAnother(Box<Claim>),

    /// A claim over several files was refused: every live hold of another agent
    /// among them. Nothing stays written.
    #[error("{}", held_by_others(.0))]
    HeldByOthers(Vec<Claim>),

    /// A lease's hold is gone (released, force-released, expired or taken over):
    /// a renewal writes nothing then.
    #[error("the hold on {} (revision {}) was lost{}", .0.file, .0.revision, match &.0.holder { Some(c) => format!(": {} holds it now", c.hold.agent_id), None => String::new() })]
    Lost(Box<LostHold>),

    /// A precondition was broken; nothing was changed.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field (`agent-id`, `ttl`, `file`, ...).
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The configuration given to `Manager::open` is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// Every attempt lost the revision race.
    #[error("gave up after {0} attempts: every write lost the revision race")]
    CasExhausted(u32),

    /// A stored value does not decode as a hold.
    #[error("corrupt entry at key {key} (revision {revision}): {reason}")]
    CorruptEntry {
        /// The store key.
        key: String,
        /// The entry's revision.
        revision: u64,
        /// Why it is not a hold.
        reason: String,
    },

    /// The store failed: unreachable, timed out, refused.
    #[error("store error: {0}")]
    Store(#[source] Cause),

    /// The manager is closed.
    #[error("holds: manager is closed")]
    Closed,

    /// The guest trapped, ran out of fuel or memory, or timed out. The manager
    /// discards that instance and keeps working.
    #[error("guest failure: {0}")]
    Guest(#[source] Cause),

    /// A subscriber fell more than its buffer behind the live changes; its
    /// subscription ended. Subscribe again to resynchronise from a fresh snapshot.
    #[error("subscription lagged: more than {0} events were waiting")]
    Lagged(usize),
}

fn held_by_others(holders: &[Claim]) -> String {
    let each: Vec<String> = holders
        .iter()
        .map(|c| {
            let shared = match c.hold.mode {
                crate::types::Mode::Shared => " shared",
                crate::types::Mode::Exclusive => "",
            };
            format!(
                "{} is held{shared} by agent {:?}{} until {}",
                c.file,
                c.hold.agent_id,
                c.hold.working_in(),
                crate::time::rfc3339(c.hold.expires_at)
            )
        })
        .collect();
    each.join("; ")
}

impl Error {
    /// The instant the holder's hold expires, for `HeldByAnother` (the earliest,
    /// for `HeldByOthers`).
    pub fn held_until(&self) -> Option<SystemTime> {
        match self {
            Error::HeldByAnother(claim) => Some(claim.hold.expires_at),
            Error::HeldByOthers(claims) => claims.iter().map(|c| c.hold.expires_at).min(),
            _ => None,
        }
    }

    /// Every holder a refusal names.
    pub fn holders(&self) -> Vec<&Claim> {
        match self {
            Error::HeldByAnother(claim) => vec![claim.as_ref()],
            Error::HeldByOthers(claims) => claims.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// A store failure saying `message`, with no cause behind it.
    pub(crate) fn store(message: impl Into<String>) -> Self {
        Error::Store(Cause::new(message))
    }

    /// A guest failure saying `message`, with no cause behind it.
    pub(crate) fn guest(message: impl Into<String>) -> Self {
        Error::Guest(Cause::new(message))
    }

    /// The guest, or wasmtime around it, failed doing `what`.
    pub(crate) fn wasm(what: &str, e: wasmtime::Error) -> Self {
        let message = format!("{what}: {e:#}");
        let source: Box<dyn StdError + Send + Sync + 'static> = e.into();
        Error::Guest(Cause::new(message).with_dyn_source(source))
    }
}

/// What failed, and the error it came from.
#[derive(Clone)]
pub struct Cause {
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Cause::new(message)
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause::new(message)
    }
}

impl Cause {
    /// A cause saying `message`, with nothing behind it.
    pub fn new(message: impl Into<String>) -> Self {
        Cause {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub(crate) fn with_dyn_source(
        mut self,
        source: Box<dyn StdError + Send + Sync + 'static>,
    ) -> Self {
        self.source = Some(Arc::from(source));
        self
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Cause");
        d.field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", &source.to_string());
        }
        d.finish()
    }
}

impl StdError for Cause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Causes compare by what they say.
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for Cause {}
