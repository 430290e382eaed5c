//! The component: WIT bindings and the glue between them and the logic.

use crate::model;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

wit_bindgen::generate!({
    world: "guest",
    path: "../wit",
});

use exports::holds::core::holds::{AnnounceRequest, Guest as HoldsGuest, ReleaseOutcome};
use exports::holds::core::subscribe::{
    Change, Guest as SubscribeGuest, Interpretation, SweepOutcome,
};
use exports::holds::core::testing::Guest as TestingGuest;
use holds::core::{clock, kv, observer, types};

#[cfg(feature = "hostile")]
mod hostile;
#[cfg(feature = "sandbox-probe")]
mod probe;

struct Component;

export!(Component);

/// The imports, as the logic's [`crate::Host`].
struct Imports;

impl crate::Host for Imports {
    async fn get(&mut self, key: &str) -> Result<model::Entry, model::KvError> {
        kv::get(key).map(entry_from).map_err(kv_error_from)
    }

    async fn write_if_revision(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> Result<u64, model::KvError> {
        kv::write_if_revision(key, &value, expected, ttl_seconds).map_err(kv_error_from)
    }

    async fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: model::Removal,
    ) -> Result<u64, model::KvError> {
        let why = match why {
            model::Removal::Released => kv::Removal::Released,
            model::Removal::Expired => kv::Removal::Expired,
        };
        kv::delete_if_revision(key, expected, why).map_err(kv_error_from)
    }

    fn now(&mut self) -> model::Timestamp {
        clock::now()
    }

    fn cas_retry(&mut self, key: &str, attempt: u32) {
        observer::cas_retry(key, attempt)
    }
}

/// Every import answers synchronously, so the logic's futures finish on their first poll.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("synchronous imports never leave a future pending"),
    }
}

impl HoldsGuest for Component {
    fn announce(
        request: AnnounceRequest,
        ttl_max: u64,
        observed: Option<kv::Entry>,
    ) -> Result<types::Claim, types::Error> {
        #[cfg(feature = "hostile")]
        hostile::misbehave(&request.agent_id);
        let request = model::AnnounceRequest {
            file: request.file,
            agent_id: request.agent_id,
            ttl: request.ttl,
            checkout_path: request.checkout_path,
        };
        run(crate::announce(
            &mut Imports,
            &request,
            ttl_max,
            observed.map(entry_from),
        ))
        .map(claim_to)
        .map_err(error_to)
    }

    fn release(
        file: String,
        agent_id: String,
        observed: Option<kv::Entry>,
    ) -> Result<ReleaseOutcome, types::Error> {
        run(crate::release(
            &mut Imports,
            &file,
            &agent_id,
            observed.map(entry_from),
        ))
        .map(|outcome| match outcome {
            model::ReleaseOutcome::Released(rev) => ReleaseOutcome::Released(rev),
            model::ReleaseOutcome::NotHeld => ReleaseOutcome::NotHeld,
        })
        .map_err(error_to)
    }

    fn who_has(
        file: String,
        observed: Option<kv::Entry>,
    ) -> Result<Option<types::Claim>, types::Error> {
        run(crate::who_has(
            &mut Imports,
            &file,
            observed.map(entry_from),
        ))
        .map(|claim| claim.map(claim_to))
        .map_err(error_to)
    }

    fn key_for_file(file: String) -> Result<String, types::Error> {
        crate::key::key_for_file(&file).map_err(error_to)
    }

    fn file_for_key(key: String) -> Result<String, types::Error> {
        #[cfg(feature = "sandbox-probe")]
        if key == probe::KEY {
            return Err(types::Error::Store(probe::report()));
        }
        crate::key::file_for_key(&key).map_err(error_to)
    }
}

impl SubscribeGuest for Component {
    fn interpret(change: Change) -> Interpretation {
        let change = model::Change {
            key: change.key,
            entry: entry_from(change.entry),
            previous: entry_from(change.previous),
            snapshot: change.snapshot,
        };
        let out = crate::interpret(&mut Imports, &change);
        Interpretation {
            event: out.event.map(event_to),
            expiry_check_at: out.expiry_check_at,
            dropped: out.dropped,
        }
    }

    fn sweep(key: String, observed: kv::Entry) -> Result<SweepOutcome, types::Error> {
        run(crate::sweep(&mut Imports, &key, &entry_from(observed)))
            .map(|outcome| match outcome {
                model::SweepOutcome::Expired(revision) => SweepOutcome::Expired(revision),
                model::SweepOutcome::NotDue(at) => SweepOutcome::NotDue(at),
                model::SweepOutcome::Nothing => SweepOutcome::Nothing,
            })
            .map_err(error_to)
    }
}

impl TestingGuest for Component {
    fn encode_hold(hold: types::Hold) -> Vec<u8> {
        crate::codec::encode(&hold_from(hold))
    }
}

fn entry_from(e: kv::Entry) -> model::Entry {
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

fn kv_error_from(e: kv::KvError) -> model::KvError {
    match e {
        kv::KvError::WrongRevision => model::KvError::WrongRevision,
        kv::KvError::Unavailable(why) => model::KvError::Unavailable(why),
    }
}

fn hold_from(h: types::Hold) -> model::Hold {
    model::Hold {
        agent_id: h.agent_id,
        claimed_at: h.claimed_at,
        expires_at: h.expires_at,
        checkout_path: h.checkout_path,
        ttl: h.ttl,
    }
}

fn hold_to(h: model::Hold) -> types::Hold {
    types::Hold {
        agent_id: h.agent_id,
        claimed_at: h.claimed_at,
        expires_at: h.expires_at,
        checkout_path: h.checkout_path,
        ttl: h.ttl,
    }
}

fn claim_to(c: model::Claim) -> types::Claim {
    types::Claim {
        file: c.file,
        hold: hold_to(c.hold),
        revision: c.revision,
    }
}

fn event_to(e: model::Event) -> types::Event {
    types::Event {
        file: e.file,
        revision: e.revision,
        kind: match e.kind {
            model::ChangeKind::Announced(hold) => types::ChangeKind::Announced(hold_to(hold)),
            model::ChangeKind::Released => types::ChangeKind::Released,
            model::ChangeKind::Expired => types::ChangeKind::Expired,
        },
    }
}

fn error_to(e: model::Error) -> types::Error {
    match e {
        model::Error::HeldByAnother(c) => types::Error::HeldByAnother(claim_to(c)),
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
        model::Error::Closed => types::Error::Closed,
    }
}
