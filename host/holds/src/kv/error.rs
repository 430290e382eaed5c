//! The stores' error: a kind to match on, what failed, and the cause it came from
//! (async-nats' `Error<Kind>` shape). The guest sees it flattened to the WIT
//! `kv-error` (its kind and text); the host keeps the whole chain.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// A cause kept behind an error.
pub type Source = Arc<dyn StdError + Send + Sync + 'static>;

/// What kind of failure a [`KvError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvErrorKind {
    /// The key's latest revision was not the expected one; nothing changed.
    WrongRevision,
    /// The store could not answer (unreachable, timed out, refused).
    Unavailable,
    /// The store cannot do this (an atomic batch); nothing changed.
    Unsupported,
    /// The store took nothing of a write, for a reason that makes sending it
    /// again safe; whether and when to is the guest's call.
    NotStored(Unsent),
}

/// Why a store took nothing of a write (the WIT `unsent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsent {
    /// Another write to the key was in flight (JetStream 10164).
    Busy,
    /// A new leader could not check the expected revision yet (JetStream 10163).
    LeaderChanging,
    /// No stream answered.
    NoStream,
}

/// A store operation failed.
#[derive(Clone, Debug)]
pub struct KvError {
    kind: KvErrorKind,
    message: String,
    source: Option<Source>,
}

impl KvError {
    /// The revision did not match; nothing changed.
    pub fn wrong_revision() -> Self {
        KvError {
            kind: KvErrorKind::WrongRevision,
            message: "the key's revision was not the expected one".into(),
            source: None,
        }
    }

    /// The store could not answer; `message` says what was being done.
    pub fn unavailable(message: impl Into<String>) -> Self {
        KvError {
            kind: KvErrorKind::Unavailable,
            message: message.into(),
            source: None,
        }
    }

    /// The store cannot do this; `message` says what.
    pub fn unsupported(message: impl Into<String>) -> Self {
        KvError {
            kind: KvErrorKind::Unsupported,
            message: message.into(),
            source: None,
        }
    }

    /// The store took nothing of a write, for `why`; `message` is its answer.
    pub fn not_stored(why: Unsent, message: impl Into<String>) -> Self {
        KvError {
            kind: KvErrorKind::NotStored(why),
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source`.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The same error, caused by a boxed `source`.
    pub fn with_boxed_source(mut self, source: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        self.source = Some(Arc::from(source));
        self
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> KvErrorKind {
        self.kind
    }

    /// What was being done, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl StdError for KvError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Equal kinds and texts (sources compare by what they say).
impl PartialEq for KvError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.to_string() == other.to_string()
    }
}

impl Eq for KvError {}
