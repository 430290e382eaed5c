//! Plain Rust mirrors of the WIT types, so the logic does not depend on bindings.

/// Nanoseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// How a hold shares what it covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Exclusive,
    Shared,
}

/// The value stored at a file's key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    pub agent_id: String,
    pub claimed_at: Timestamp,
    pub expires_at: Timestamp,
    pub checkout_path: String,
    /// Nanoseconds.
    pub ttl: u64,
    pub mode: Mode,
}

/// What a hold covers: one file, every path beneath a directory, or every
/// path a glob matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    File,
    Directory,
    Glob,
}

/// A hold and the revision it was written at (the fencing token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The file, or the pattern's canonical text.
    pub file: String,
    pub scope: Scope,
    pub hold: Hold,
    pub revision: u64,
}

/// The operation behind a key's latest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Put,
    Delete,
    Purge,
    Expire,
}

/// A key's latest entry; `found == false` means the key has no entry at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub found: bool,
    pub value: Vec<u8>,
    pub revision: u64,
    pub operation: Operation,
}

impl Entry {
    /// The entry of a key that has none.
    pub fn missing() -> Self {
        Entry {
            found: false,
            value: Vec::new(),
            revision: 0,
            operation: Operation::Put,
        }
    }

    /// True when the entry is a value (not a marker, not missing).
    pub fn is_value(&self) -> bool {
        self.found && self.operation == Operation::Put
    }
}

/// Why a marker is left on a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Released,
    Expired,
}

/// A KV import failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvError {
    WrongRevision,
    /// The store took nothing; the same write may be sent again.
    NotStored(NotStored),
    Unavailable(String),
    /// The store cannot do this (an atomic batch); nothing changed.
    Unsupported,
}

/// Why a store took nothing of a write (see the WIT `unsent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsent {
    Busy,
    LeaderChanging,
    NoStream,
}

/// A write the store took nothing of: why, and the store's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotStored {
    pub why: Unsent,
    pub detail: String,
}

/// A key and its latest entry (a `scan` result).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedEntry {
    pub key: String,
    pub entry: Entry,
}

/// One conditional write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub key: String,
    pub value: Vec<u8>,
    pub expected: u64,
    pub ttl_seconds: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidInput {
    pub field: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptEntry {
    pub key: String,
    pub revision: u64,
    pub reason: String,
}

/// A hold a lease no longer has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostHold {
    pub file: String,
    /// The revision the lease held.
    pub revision: u64,
    /// Who holds the file now, if anyone.
    pub holder: Option<Claim>,
}

/// Errors of the holds exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    HeldByAnother(Claim),
    /// Every other agent's live hold among a claim's files.
    HeldByOthers(Vec<Claim>),
    Lost(Box<LostHold>),
    InvalidInput(InvalidInput),
    CasExhausted(u32),
    CorruptEntry(CorruptEntry),
    Store(String),
}

impl Error {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidInput(InvalidInput {
            field: field.to_string(),
            reason: reason.into(),
        })
    }
}

/// The arguments of announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub file: String,
    pub agent_id: String,
    /// Nanoseconds.
    pub ttl: u64,
    pub checkout_path: String,
    pub mode: Mode,
}

/// A multi-file claim's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRequest {
    pub files: Vec<String>,
    pub agent_id: String,
    /// Nanoseconds.
    pub ttl: u64,
    pub checkout_path: String,
    pub mode: Mode,
}

/// What a claim took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// Sorted by file.
    pub claims: Vec<Claim>,
    /// One atomic write (false: announced one by one, with rollback on refusal).
    pub atomic: bool,
}

/// A file's state for `check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    Held(Claim),
    TokenMoved(Claim),
    HeldByAnother(Claim),
    Shared(Claim),
    Vacant,
}

/// One file of a `check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    pub file: String,
    pub state: FileState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Released; the revision of the marker left behind.
    Released(u64),
    NotHeld,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Announced(Hold),
    /// Who forced it, for a force-release.
    Released(Option<String>),
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub file: String,
    pub scope: Scope,
    pub revision: u64,
    pub kind: ChangeKind,
}

/// A store change as the host's watcher saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub entry: Entry,
    /// The key's entry before this change as the host knows it (missing: none known).
    pub previous: Entry,
    pub snapshot: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interpretation {
    pub event: Option<Event>,
    pub expiry_check_at: Option<Timestamp>,
    pub dropped: Option<String>,
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepOutcome {
    /// An `expire` marker was left at this revision.
    Expired(u64),
    /// Still live: sweep again at this instant.
    NotDue(Timestamp),
    /// No hold (any more) to judge.
    Nothing,
}
