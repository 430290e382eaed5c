//! Conversions between the WIT types and the logic's model.

use super::bindings::exports::holds::core::holds::{
    AnnounceRequest, ClaimRequest, Claimed, FileCheck, FileState, ReleaseOutcome,
};
use super::bindings::exports::holds::core::subscribe::{MarkerHeader, SweepOutcome, UpkeepPlan};
use super::bindings::holds::core::{kv, types};
use crate::model;

pub fn entry_from(e: kv::Entry) -> model::Entry {
    model::Entry {
        found: e.found,
        value: e.value,
        revision: e.revision,
        operation: match e.operation {
            kv::Operation::Put => model::Operation::Put,
            kv::Operation::Delete => model::Operation::Delete,
            kv::Operation::Purge => model::Operation::Purge,
            kv::Operation::Expire => model::Operation::Expire,
        },
    }
}

pub fn kv_error_from(e: kv::KvError) -> model::KvError {
    match e {
        kv::KvError::WrongRevision => model::KvError::WrongRevision,
        kv::KvError::NotStored(refusal) => model::KvError::NotStored(model::NotStored {
            why: match refusal.why {
                kv::Unsent::Busy => model::Unsent::Busy,
                kv::Unsent::LeaderChanging => model::Unsent::LeaderChanging,
                kv::Unsent::NoStream => model::Unsent::NoStream,
            },
            detail: refusal.detail,
        }),
        kv::KvError::Unavailable(why) => model::KvError::Unavailable(why),
        kv::KvError::Unsupported => model::KvError::Unsupported,
    }
}

fn operation_to(op: model::Operation) -> kv::Operation {
    match op {
        model::Operation::Put => kv::Operation::Put,
        model::Operation::Delete => kv::Operation::Delete,
        model::Operation::Purge => kv::Operation::Purge,
        model::Operation::Expire => kv::Operation::Expire,
    }
}

pub fn marker_header_to(rule: &crate::markers::MarkerHeader) -> MarkerHeader {
    MarkerHeader {
        name: rule.name.to_string(),
        value: rule.value.to_string(),
        operation: operation_to(rule.operation),
    }
}

pub fn upkeep_to(u: crate::Upkeep) -> UpkeepPlan {
    UpkeepPlan {
        prune_every: u.prune_every,
        keep_hold: u.keep_hold,
        keep_marker: u.keep_marker,
        sweep_retry: u.sweep_retry,
        concurrent_sweeps: u.concurrent_sweeps,
        restart_after: u.restart_after,
    }
}

pub fn write_to(w: model::Write) -> kv::Write {
    kv::Write {
        key: w.key,
        value: w.value,
        expected: w.expected,
        ttl_seconds: w.ttl_seconds,
    }
}

pub fn announce_request_from(r: AnnounceRequest) -> model::AnnounceRequest {
    model::AnnounceRequest {
        file: r.file,
        agent_id: r.agent_id,
        ttl: r.ttl,
        checkout_path: r.checkout_path,
        mode: mode_from(r.mode),
    }
}

pub fn mode_from(m: types::Mode) -> model::Mode {
    match m {
        types::Mode::Exclusive => model::Mode::Exclusive,
        types::Mode::Shared => model::Mode::Shared,
    }
}

pub fn claim_request_from(r: ClaimRequest) -> model::ClaimRequest {
    model::ClaimRequest {
        files: r.files,
        agent_id: r.agent_id,
        ttl: r.ttl,
        checkout_path: r.checkout_path,
        mode: mode_from(r.mode),
    }
}

pub fn claimed_to(c: model::Claimed) -> Claimed {
    Claimed {
        claims: c.claims.into_iter().map(claim_to).collect(),
        atomic: c.atomic,
    }
}

pub fn file_check_to(c: model::FileCheck) -> FileCheck {
    FileCheck {
        file: c.file,
        state: match c.state {
            model::FileState::Held(c) => FileState::Held(claim_to(c)),
            model::FileState::TokenMoved(c) => FileState::TokenMoved(claim_to(c)),
            model::FileState::HeldByAnother(c) => FileState::HeldByAnother(claim_to(c)),
            model::FileState::Shared(c) => FileState::Shared(claim_to(c)),
            model::FileState::Vacant => FileState::Vacant,
        },
    }
}

pub fn hold_to(h: model::Hold) -> types::Hold {
    types::Hold {
        agent_id: h.agent_id,
        claimed_at: h.claimed_at,
        expires_at: h.expires_at,
        checkout_path: h.checkout_path,
        ttl: h.ttl,
        mode: match h.mode {
            model::Mode::Exclusive => types::Mode::Exclusive,
            model::Mode::Shared => types::Mode::Shared,
        },
    }
}

fn scope_to(s: model::Scope) -> types::Scope {
    match s {
        model::Scope::File => types::Scope::File,
        model::Scope::Directory => types::Scope::Directory,
        model::Scope::Glob => types::Scope::Glob,
    }
}

pub fn claim_to(c: model::Claim) -> types::Claim {
    types::Claim {
        file: c.file,
        scope: scope_to(c.scope),
        hold: hold_to(c.hold),
        revision: c.revision,
    }
}

pub fn event_to(e: model::Event) -> types::Event {
    types::Event {
        file: e.file,
        scope: scope_to(e.scope),
        revision: e.revision,
        kind: match e.kind {
            model::ChangeKind::Announced(hold) => types::ChangeKind::Announced(hold_to(hold)),
            model::ChangeKind::Released(by) => types::ChangeKind::Released(by),
            model::ChangeKind::Expired => types::ChangeKind::Expired,
        },
    }
}

pub fn error_to(e: model::Error) -> types::Error {
    match e {
        model::Error::HeldByAnother(c) => types::Error::HeldByAnother(claim_to(c)),
        model::Error::HeldByOthers(cs) => {
            types::Error::HeldByOthers(cs.into_iter().map(claim_to).collect())
        }
        model::Error::Lost(l) => types::Error::Lost(types::LostHold {
            file: l.file,
            revision: l.revision,
            holder: l.holder.map(claim_to),
        }),
        model::Error::InvalidInput(i) => types::Error::InvalidInput(types::InvalidInput {
            field: i.field,
            reason: i.reason,
        }),
        model::Error::CasExhausted(n) => types::Error::CasExhausted(n),
        model::Error::CorruptEntry(c) => types::Error::CorruptEntry(types::CorruptEntry {
            key: c.key,
            revision: c.revision,
            reason: c.reason,
        }),
        model::Error::Store(why) => types::Error::Store(why),
    }
}

pub fn release_to(outcome: model::ReleaseOutcome) -> ReleaseOutcome {
    match outcome {
        model::ReleaseOutcome::Released(rev) => ReleaseOutcome::Released(rev),
        model::ReleaseOutcome::NotHeld => ReleaseOutcome::NotHeld,
    }
}

pub fn sweep_to(outcome: model::SweepOutcome) -> SweepOutcome {
    match outcome {
        model::SweepOutcome::Expired(revision) => SweepOutcome::Expired(revision),
        model::SweepOutcome::NotDue(at) => SweepOutcome::NotDue(at),
        model::SweepOutcome::Nothing => SweepOutcome::Nothing,
    }
}
