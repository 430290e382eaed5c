//! The logic bound to the WIT world: [`Component`] implements the exports over
//! [`Imports`]. This crate does not export it: the `holds-component` crate does
//! (`holds_guest::component::bindings::export!(Component with_types_in holds_guest::component::bindings)`),
//! and test guests wrap it the same way with their own behaviour.

mod convert;

use crate::model;
pub use convert::*;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// The generated bindings of the `guest` world.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "guest",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "holds_guest::component::bindings",
    });
}

use bindings::exports::holds::core::holds::{AnnounceRequest, Guest as HoldsGuest, ReleaseOutcome};
use bindings::exports::holds::core::subscribe::{
    Change, Guest as SubscribeGuest, Interpretation, SweepOutcome,
};
use bindings::holds::core::{clock, kv, observer, types};

/// The holds exports, implemented by the logic.
pub struct Component;

/// The imports, as the logic's [`crate::Host`].
pub struct Imports;

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
pub fn run<F: Future>(future: F) -> F::Output {
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
        .map(release_to)
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
            .map(sweep_to)
            .map_err(error_to)
    }
}
