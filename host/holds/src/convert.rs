//! Every mapping between the four shapes of the same data — the WIT bindings, the
//! public types, the stores' entries and the trace's records — and time.

use crate::error::{Cause, Error};
use crate::kv::{BatchWrite, Entry, KvError, KvErrorKind, Operation, Removal, Unsent};
use crate::runtime::bindings::exports::holds::core::holds::{
    AnnounceRequest, BucketSettings, ClaimRequest, Claimed as WitClaimed,
    FileCheck as WitFileCheck, FileState as WitFileState, Identity as WitIdentity,
    Place as WitPlace, ReleaseOutcome,
};
use crate::runtime::bindings::exports::holds::core::subscribe as wit_subscribe;
use crate::runtime::bindings::exports::holds::core::subscribe::{
    Change, Interpretation, SweepOutcome,
};
use crate::runtime::bindings::holds::core::{kv as wit_kv, types as wit};
use crate::time::{nanos, system_time};
use crate::trace::format::*;
use crate::types::{
    Claim, Claimed, Event, EventKind, FileCheck, FileState, Hold, Identity, LostHold, Mode, Place,
    Release, Scope,
};
use std::time::Duration;

// ---- WIT -> public --------------------------------------------------------------

pub(crate) fn hold(h: wit::Hold) -> Hold {
    Hold {
        agent_id: h.agent_id,
        claimed_at: system_time(h.claimed_at),
        expires_at: system_time(h.expires_at),
        checkout_path: h.checkout_path,
        ttl: Duration::from_nanos(h.ttl),
        mode: match h.mode {
            wit::Mode::Exclusive => Mode::Exclusive,
            wit::Mode::Shared => Mode::Shared,
        },
    }
}

pub(crate) fn mode_to_wit(m: Mode) -> wit::Mode {
    match m {
        Mode::Exclusive => wit::Mode::Exclusive,
        Mode::Shared => wit::Mode::Shared,
    }
}

fn mode_to_trace(m: wit::Mode) -> TraceMode {
    match m {
        wit::Mode::Exclusive => TraceMode::Exclusive,
        wit::Mode::Shared => TraceMode::Shared,
    }
}

fn mode_from_trace(m: TraceMode) -> wit::Mode {
    match m {
        TraceMode::Exclusive => wit::Mode::Exclusive,
        TraceMode::Shared => wit::Mode::Shared,
    }
}

fn scope(s: wit::Scope) -> Scope {
    match s {
        wit::Scope::File => Scope::File,
        wit::Scope::Directory => Scope::Directory,
        wit::Scope::Glob => Scope::Glob,
    }
}

fn scope_to_trace(s: wit::Scope) -> TraceScope {
    match s {
        wit::Scope::File => TraceScope::File,
        wit::Scope::Directory => TraceScope::Directory,
        wit::Scope::Glob => TraceScope::Glob,
    }
}

pub(crate) fn claim(c: wit::Claim) -> Claim {
    Claim {
        file: c.file,
        scope: scope(c.scope),
        hold: hold(c.hold),
        revision: c.revision,
    }
}

pub(crate) fn event(e: wit::Event) -> Event {
    Event {
        file: e.file,
        scope: scope(e.scope),
        revision: e.revision,
        kind: match e.kind {
            wit::ChangeKind::Announced(h) => EventKind::Announced(hold(h)),
            wit::ChangeKind::Released(forced_by) => EventKind::Released { forced_by },
            wit::ChangeKind::Expired => EventKind::Expired,
        },
    }
}

pub(crate) fn claimed(c: WitClaimed) -> Claimed {
    Claimed {
        claims: c.claims.into_iter().map(claim).collect(),
        atomic: c.atomic,
    }
}

pub(crate) fn file_check(c: WitFileCheck) -> FileCheck {
    FileCheck {
        file: c.file,
        state: match c.state {
            WitFileState::Held(c) => FileState::Held(claim(c)),
            WitFileState::TokenMoved(c) => FileState::TokenMoved(claim(c)),
            WitFileState::HeldByAnother(c) => FileState::HeldByAnother(claim(c)),
            WitFileState::Shared(c) => FileState::Shared(claim(c)),
            WitFileState::Vacant => FileState::Vacant,
        },
    }
}

pub(crate) fn identity(i: WitIdentity) -> Identity {
    Identity {
        file: i.file,
        checkout: i.checkout,
    }
}

pub(crate) fn bucket_settings(
    bucket: &str,
    max_age: Duration,
    limits: crate::kv::BucketLimits,
) -> BucketSettings {
    BucketSettings {
        bucket: bucket.to_string(),
        max_age: nanos(max_age),
        max_messages: limits.max_messages,
        max_bytes: limits.max_bytes,
        max_messages_per_key: limits.max_messages_per_key,
        discard_old: limits.discard_old,
        discard_new_per_key: limits.discard_new_per_key,
    }
}

pub(crate) fn place_to_wit(p: &Place) -> WitPlace {
    WitPlace {
        cwd: p.cwd.clone(),
        workspace: p.workspace.clone(),
        checkout: p.checkout.clone(),
    }
}

pub(crate) fn release(r: ReleaseOutcome) -> Release {
    match r {
        ReleaseOutcome::Released(revision) => Release::Released { revision },
        ReleaseOutcome::NotHeld => Release::NotHeld,
    }
}

/// The guest's error as the API's, converted once: a store failure the guest
/// reports (as text) gets the store's own error, kept by the host, as its cause.
pub(crate) fn error(e: wit::Error, fault: Option<KvError>) -> Error {
    match e {
        wit::Error::HeldByAnother(c) => Error::HeldByAnother(Box::new(claim(c))),
        wit::Error::HeldByOthers(cs) => Error::HeldByOthers(cs.into_iter().map(claim).collect()),
        wit::Error::Lost(l) => Error::Lost(Box::new(LostHold {
            file: l.file,
            revision: l.revision,
            holder: l.holder.map(claim),
        })),
        wit::Error::InvalidInput(i) => Error::InvalidInput {
            field: i.field,
            reason: i.reason,
        },
        wit::Error::CasExhausted(n) => Error::CasExhausted(n),
        wit::Error::CorruptEntry(c) => Error::CorruptEntry {
            key: c.key,
            revision: c.revision,
            reason: c.reason,
        },
        wit::Error::Store(why) => Error::Store(match fault {
            Some(fault) => Cause::new(why).with_source(fault),
            None => Cause::new(why),
        }),
    }
}

// ---- public -> WIT ----------------------------------------------------------------

pub(crate) fn announce_request(file: &str, a: &crate::types::Announce) -> AnnounceRequest {
    AnnounceRequest {
        file: file.to_string(),
        agent_id: a.agent_id.clone(),
        ttl: nanos(a.ttl),
        checkout_path: a.checkout_path.clone(),
        mode: mode_to_wit(a.mode),
    }
}

pub(crate) fn claim_request(files: &[String], a: &crate::types::Announce) -> ClaimRequest {
    ClaimRequest {
        files: files.to_vec(),
        agent_id: a.agent_id.clone(),
        ttl: nanos(a.ttl),
        checkout_path: a.checkout_path.clone(),
        mode: mode_to_wit(a.mode),
    }
}

// ---- stores <-> WIT ---------------------------------------------------------------

pub(crate) fn operation_to_wit(op: Operation) -> wit_kv::Operation {
    match op {
        Operation::Put => wit_kv::Operation::Put,
        Operation::Delete => wit_kv::Operation::Delete,
        Operation::Purge => wit_kv::Operation::Purge,
        Operation::Expire => wit_kv::Operation::Expire,
    }
}

/// A key's latest entry as the guest sees it (`found: false` for none).
pub(crate) fn operation_from_wit(op: wit_kv::Operation) -> Operation {
    match op {
        wit_kv::Operation::Put => Operation::Put,
        wit_kv::Operation::Delete => Operation::Delete,
        wit_kv::Operation::Purge => Operation::Purge,
        wit_kv::Operation::Expire => Operation::Expire,
    }
}

pub(crate) fn entry_to_wit(entry: Option<&Entry>) -> wit_kv::Entry {
    match entry {
        None => wit_kv::Entry {
            found: false,
            value: Vec::new(),
            revision: 0,
            operation: wit_kv::Operation::Put,
        },
        Some(e) => wit_kv::Entry {
            found: true,
            value: e.value.to_vec(),
            revision: e.revision,
            operation: operation_to_wit(e.operation),
        },
    }
}

pub(crate) fn removal_from_wit(why: wit_kv::Removal) -> Removal {
    match why {
        wit_kv::Removal::Released => Removal::Released,
        wit_kv::Removal::Expired => Removal::Expired,
    }
}

/// The guest's upkeep plan, in the hub's units.
pub(crate) fn upkeep(plan: wit_subscribe::UpkeepPlan) -> crate::upkeep::Upkeep {
    let d = Duration::from_nanos;
    crate::upkeep::Upkeep {
        prune_every: d(plan.prune_every),
        keep_hold: d(plan.keep_hold),
        keep_marker: d(plan.keep_marker),
        sweep_retry: d(plan.sweep_retry),
        concurrent_sweeps: usize::try_from(plan.concurrent_sweeps)
            .unwrap_or(usize::MAX)
            .max(1),
        restart_after: d(plan.restart_after),
    }
}

/// The flat error the guest sees.
pub(crate) fn kv_error_to_wit(e: &KvError) -> wit_kv::KvError {
    match e.kind() {
        KvErrorKind::WrongRevision => wit_kv::KvError::WrongRevision,
        KvErrorKind::Unavailable => wit_kv::KvError::Unavailable(e.to_string()),
        KvErrorKind::Unsupported => wit_kv::KvError::Unsupported,
        KvErrorKind::NotStored(why) => wit_kv::KvError::NotStored(wit_kv::NotStored {
            why: match why {
                Unsent::Busy => wit_kv::Unsent::Busy,
                Unsent::LeaderChanging => wit_kv::Unsent::LeaderChanging,
                Unsent::NoStream => wit_kv::Unsent::NoStream,
            },
            detail: e.to_string(),
        }),
    }
}

/// A batch's write as the store takes it.
pub(crate) fn batch_write(w: &wit_kv::Write) -> BatchWrite {
    BatchWrite {
        key: w.key.clone(),
        value: w.value.clone().into(),
        expected: w.expected,
        ttl: (w.ttl_seconds > 0).then(|| Duration::from_secs(u64::from(w.ttl_seconds))),
    }
}

/// The marker a removal leaves.
pub(crate) fn removal_operation(why: Removal) -> Operation {
    match why {
        Removal::Released => Operation::Delete,
        Removal::Expired => Operation::Expire,
    }
}

// ---- stores <-> trace (recorded and replayed imports) -----------------------------

pub(crate) fn kv_error_to_trace(e: &KvError) -> TraceKvError {
    match e.kind() {
        KvErrorKind::WrongRevision => TraceKvError::WrongRevision,
        KvErrorKind::Unavailable => TraceKvError::Unavailable(e.to_string()),
        KvErrorKind::Unsupported => TraceKvError::Unsupported,
        KvErrorKind::NotStored(why) => TraceKvError::NotStored {
            why: match why {
                Unsent::Busy => TraceUnsent::Busy,
                Unsent::LeaderChanging => TraceUnsent::LeaderChanging,
                Unsent::NoStream => TraceUnsent::NoStream,
            },
            detail: e.to_string(),
        },
    }
}

pub(crate) fn write_to_trace(w: &wit_kv::Write) -> TraceWrite {
    TraceWrite {
        key: w.key.clone(),
        value: TraceBytes(w.value.clone()),
        expected: w.expected,
        ttl_seconds: w.ttl_seconds,
    }
}

pub(crate) fn kv_error_from_trace(e: TraceKvError) -> KvError {
    match e {
        TraceKvError::WrongRevision => KvError::wrong_revision(),
        TraceKvError::Unavailable(why) => KvError::unavailable(why),
        TraceKvError::Unsupported => KvError::unsupported("the recorded store could not"),
        TraceKvError::NotStored { why, detail } => KvError::not_stored(
            match why {
                TraceUnsent::Busy => Unsent::Busy,
                TraceUnsent::LeaderChanging => Unsent::LeaderChanging,
                TraceUnsent::NoStream => Unsent::NoStream,
            },
            detail,
        ),
    }
}

pub(crate) fn removal_to_trace(why: Removal) -> TraceRemoval {
    match why {
        Removal::Released => TraceRemoval::Released,
        Removal::Expired => TraceRemoval::Expired,
    }
}

// ---- WIT <-> trace (recorded and replayed exports) --------------------------------

fn wit_operation_to_trace(op: wit_kv::Operation) -> TraceOperation {
    match op {
        wit_kv::Operation::Put => TraceOperation::Put,
        wit_kv::Operation::Delete => TraceOperation::Delete,
        wit_kv::Operation::Purge => TraceOperation::Purge,
        wit_kv::Operation::Expire => TraceOperation::Expire,
    }
}

fn wit_operation_from_trace(op: TraceOperation) -> wit_kv::Operation {
    match op {
        TraceOperation::Put => wit_kv::Operation::Put,
        TraceOperation::Delete => wit_kv::Operation::Delete,
        TraceOperation::Purge => wit_kv::Operation::Purge,
        TraceOperation::Expire => wit_kv::Operation::Expire,
    }
}

pub(crate) fn wit_entry_to_trace(e: &wit_kv::Entry) -> TraceEntry {
    TraceEntry {
        found: e.found,
        value: TraceBytes(e.value.clone()),
        revision: e.revision,
        operation: wit_operation_to_trace(e.operation),
    }
}

pub(crate) fn wit_entry_from_trace(e: &TraceEntry) -> wit_kv::Entry {
    wit_kv::Entry {
        found: e.found,
        value: e.value.0.clone(),
        revision: e.revision,
        operation: wit_operation_from_trace(e.operation),
    }
}

pub(crate) fn request_to_trace(r: &AnnounceRequest) -> TraceAnnounceRequest {
    TraceAnnounceRequest {
        file: r.file.clone(),
        agent_id: r.agent_id.clone(),
        ttl: r.ttl,
        checkout_path: r.checkout_path.clone(),
        mode: mode_to_trace(r.mode),
    }
}

pub(crate) fn request_from_trace(r: &TraceAnnounceRequest) -> AnnounceRequest {
    AnnounceRequest {
        file: r.file.clone(),
        agent_id: r.agent_id.clone(),
        ttl: r.ttl,
        checkout_path: r.checkout_path.clone(),
        mode: mode_from_trace(r.mode),
    }
}

pub(crate) fn change_to_trace(c: &Change) -> TraceChange {
    TraceChange {
        key: c.key.clone(),
        entry: wit_entry_to_trace(&c.entry),
        previous: wit_entry_to_trace(&c.previous),
        snapshot: c.snapshot,
    }
}

pub(crate) fn change_from_trace(c: &TraceChange) -> Change {
    Change {
        key: c.key.clone(),
        entry: wit_entry_from_trace(&c.entry),
        previous: wit_entry_from_trace(&c.previous),
        snapshot: c.snapshot,
    }
}

fn hold_to_trace(h: &wit::Hold) -> TraceHold {
    TraceHold {
        agent_id: h.agent_id.clone(),
        claimed_at: h.claimed_at,
        expires_at: h.expires_at,
        checkout_path: h.checkout_path.clone(),
        ttl: h.ttl,
        mode: mode_to_trace(h.mode),
    }
}

pub(crate) fn claim_to_trace(c: &wit::Claim) -> TraceClaim {
    TraceClaim {
        file: c.file.clone(),
        scope: scope_to_trace(c.scope),
        hold: hold_to_trace(&c.hold),
        revision: c.revision,
    }
}

pub(crate) fn error_to_trace(e: &wit::Error) -> TraceError {
    match e {
        wit::Error::HeldByAnother(c) => TraceError::HeldByAnother(claim_to_trace(c)),
        wit::Error::HeldByOthers(cs) => {
            TraceError::HeldByOthers(cs.iter().map(claim_to_trace).collect())
        }
        wit::Error::Lost(l) => TraceError::Lost(Box::new(TraceLostHold {
            file: l.file.clone(),
            revision: l.revision,
            holder: l.holder.as_ref().map(claim_to_trace),
        })),
        wit::Error::InvalidInput(i) => TraceError::InvalidInput(TraceInvalidInput {
            field: i.field.clone(),
            reason: i.reason.clone(),
        }),
        wit::Error::CasExhausted(n) => TraceError::CasExhausted(*n),
        wit::Error::CorruptEntry(c) => TraceError::CorruptEntry(TraceCorruptEntry {
            key: c.key.clone(),
            revision: c.revision,
            reason: c.reason.clone(),
        }),
        wit::Error::Store(why) => TraceError::Store(why.clone()),
    }
}

pub(crate) fn release_to_trace(r: &ReleaseOutcome) -> TraceReleaseOutcome {
    match r {
        ReleaseOutcome::Released(revision) => TraceReleaseOutcome::Released(*revision),
        ReleaseOutcome::NotHeld => TraceReleaseOutcome::NotHeld,
    }
}

pub(crate) fn interpretation_to_trace(i: &Interpretation) -> TraceInterpretation {
    TraceInterpretation {
        event: i.event.as_ref().map(|e| TraceEvent {
            file: e.file.clone(),
            scope: scope_to_trace(e.scope),
            revision: e.revision,
            kind: match &e.kind {
                wit::ChangeKind::Announced(h) => TraceChangeKind::Announced(hold_to_trace(h)),
                wit::ChangeKind::Released(by) => TraceChangeKind::Released(by.clone()),
                wit::ChangeKind::Expired => TraceChangeKind::Expired,
            },
        }),
        expiry_check_at: i.expiry_check_at,
        dropped: i.dropped.clone(),
    }
}

pub(crate) fn sweep_to_trace(s: &SweepOutcome) -> TraceSweepOutcome {
    match s {
        SweepOutcome::Expired(revision) => TraceSweepOutcome::Expired(*revision),
        SweepOutcome::NotDue(at) => TraceSweepOutcome::NotDue(*at),
        SweepOutcome::Nothing => TraceSweepOutcome::Nothing,
    }
}

pub(crate) fn claim_request_to_trace(r: &ClaimRequest) -> TraceClaimRequest {
    TraceClaimRequest {
        files: r.files.clone(),
        agent_id: r.agent_id.clone(),
        ttl: r.ttl,
        checkout_path: r.checkout_path.clone(),
        mode: mode_to_trace(r.mode),
    }
}

pub(crate) fn claim_request_from_trace(r: &TraceClaimRequest) -> ClaimRequest {
    ClaimRequest {
        files: r.files.clone(),
        agent_id: r.agent_id.clone(),
        ttl: r.ttl,
        checkout_path: r.checkout_path.clone(),
        mode: mode_from_trace(r.mode),
    }
}

pub(crate) fn keyed_entries_to_trace(entries: &[wit_kv::KeyedEntry]) -> Vec<TraceKeyedEntry> {
    entries
        .iter()
        .map(|e| TraceKeyedEntry {
            key: e.key.clone(),
            entry: wit_entry_to_trace(&e.entry),
        })
        .collect()
}

pub(crate) fn keyed_entries_from_trace(entries: &[TraceKeyedEntry]) -> Vec<wit_kv::KeyedEntry> {
    entries
        .iter()
        .map(|e| wit_kv::KeyedEntry {
            key: e.key.clone(),
            entry: wit_entry_from_trace(&e.entry),
        })
        .collect()
}

pub(crate) fn claimed_to_trace(c: &WitClaimed) -> TraceClaimed {
    TraceClaimed {
        claims: c.claims.iter().map(claim_to_trace).collect(),
        atomic: c.atomic,
    }
}

pub(crate) fn file_checks_to_trace(checks: &[WitFileCheck]) -> Vec<TraceFileCheck> {
    checks
        .iter()
        .map(|c| TraceFileCheck {
            file: c.file.clone(),
            state: match &c.state {
                WitFileState::Held(c) => TraceFileState::Held(claim_to_trace(c)),
                WitFileState::TokenMoved(c) => TraceFileState::TokenMoved(claim_to_trace(c)),
                WitFileState::HeldByAnother(c) => TraceFileState::HeldByAnother(claim_to_trace(c)),
                WitFileState::Shared(c) => TraceFileState::Shared(claim_to_trace(c)),
                WitFileState::Vacant => TraceFileState::Vacant,
            },
        })
        .collect()
}

/// A result as a trace records it.
pub(crate) fn result_to_trace<T, U>(
    r: &Result<T, wit::Error>,
    ok: impl FnOnce(&T) -> U,
) -> Result<U, TraceError> {
    r.as_ref().map(ok).map_err(error_to_trace)
}
