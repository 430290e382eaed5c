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

use bindings::exports::holds::core::holds::{
    AnnounceRequest, BucketSettings, ClaimRequest, Claimed, FileCheck, Guest as HoldsGuest,
    Identity, Place, ReleaseOutcome,
};
use bindings::exports::holds::core::subscribe::{
    Change, Guest as SubscribeGuest, Interpretation, MarkerHeader, SweepOutcome, UpkeepPlan,
};
use bindings::holds::core::{clock, fs, kv, observer, types};

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
        note: Vec<u8>,
    ) -> Result<u64, model::KvError> {
        let why = match why {
            model::Removal::Released => kv::Removal::Released,
            model::Removal::Expired => kv::Removal::Expired,
        };
        kv::delete_if_revision(key, expected, why, &note).map_err(kv_error_from)
    }

    async fn get_many(&mut self, keys: &[String]) -> Result<Vec<model::Entry>, model::KvError> {
        kv::get_many(keys)
            .map(|entries| entries.into_iter().map(entry_from).collect())
            .map_err(kv_error_from)
    }

    async fn write_batch(&mut self, writes: Vec<model::Write>) -> Result<Vec<u64>, model::KvError> {
        let writes: Vec<kv::Write> = writes.into_iter().map(write_to).collect();
        kv::write_batch(&writes).map_err(kv_error_from)
    }

    async fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> Result<Vec<model::KeyedEntry>, model::KvError> {
        kv::scan(prefix, through)
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|e| model::KeyedEntry {
                        key: e.key,
                        entry: entry_from(e.entry),
                    })
                    .collect()
            })
            .map_err(kv_error_from)
    }

    fn now(&mut self) -> model::Timestamp {
        clock::now()
    }

    async fn pause(&mut self, after: u64) -> bool {
        clock::pause(after)
    }

    fn cas_retry(&mut self, key: &str, attempt: u32) {
        observer::cas_retry(key, attempt)
    }
}

/// The `fs` import, as the logic's [`crate::Filesystem`].
pub struct Files;

impl crate::Filesystem for Files {
    fn inspect(&mut self, path: &str) -> crate::identity::Node {
        use crate::identity::Node;
        match fs::inspect(path) {
            fs::Node::Missing => Node::Missing,
            fs::Node::Directory => Node::Directory,
            fs::Node::File => Node::File,
            fs::Node::Symlink(target) => Node::Symlink(target),
            fs::Node::Other => Node::Other,
        }
    }

    fn read_link_file(&mut self, path: &str) -> Option<String> {
        fs::read_link_file(path)
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

/// Every export, each defaulting to the real logic. The shipped component takes
/// them all ([`Component`]); a test guest overrides only what it changes and
/// calls `<Component as Exports>::...` for the real behaviour.
#[allow(missing_docs)]
pub trait Exports {
    fn announce(
        request: AnnounceRequest,
        ttl_max: u64,
        observed: Option<kv::Entry>,
    ) -> Result<types::Claim, types::Error> {
        let request = announce_request_from(request);
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

    fn covering(file: String) -> Result<Vec<types::Claim>, types::Error> {
        run(crate::covering(&mut Imports, &file))
            .map(|claims| claims.into_iter().map(claim_to).collect())
            .map_err(error_to)
    }

    fn claim_files(
        request: ClaimRequest,
        ttl_max: u64,
        max_files: u32,
        observed: Vec<Option<kv::Entry>>,
    ) -> Result<Claimed, types::Error> {
        let observed = observed.into_iter().map(|e| e.map(entry_from)).collect();
        run(crate::claim(
            &mut Imports,
            &claim_request_from(request),
            ttl_max,
            max_files,
            observed,
        ))
        .map(claimed_to)
        .map_err(error_to)
    }

    fn renew(
        request: AnnounceRequest,
        revision: u64,
        ttl_max: u64,
    ) -> Result<types::Claim, types::Error> {
        run(crate::renew(
            &mut Imports,
            &announce_request_from(request),
            revision,
            ttl_max,
        ))
        .map(claim_to)
        .map_err(error_to)
    }

    fn check(
        files: Vec<String>,
        agent_id: String,
        tokens: Vec<u64>,
    ) -> Result<Vec<FileCheck>, types::Error> {
        run(crate::check(&mut Imports, &files, &agent_id, &tokens))
            .map(|checks| checks.into_iter().map(file_check_to).collect())
            .map_err(error_to)
    }

    fn force_release(
        file: String,
        by: String,
        observed: Option<kv::Entry>,
    ) -> Result<ReleaseOutcome, types::Error> {
        run(crate::force_release(
            &mut Imports,
            &file,
            &by,
            observed.map(entry_from),
        ))
        .map(release_to)
        .map_err(error_to)
    }

    fn key_for_file(file: String) -> Result<String, types::Error> {
        crate::key::key_for_file(&file).map_err(error_to)
    }

    fn file_for_key(key: String) -> Result<String, types::Error> {
        crate::extended::named_by_key(&key)
            .map(|(named, _)| named)
            .map_err(error_to)
    }

    fn check_bucket(settings: BucketSettings, ttl_max: u64) -> Result<(), types::Error> {
        let settings = crate::BucketSettings {
            bucket: settings.bucket,
            max_age: settings.max_age,
            max_messages: settings.max_messages,
            max_bytes: settings.max_bytes,
            max_messages_per_key: settings.max_messages_per_key,
            discard_old: settings.discard_old,
            discard_new_per_key: settings.discard_new_per_key,
        };
        crate::check_bucket(&settings, ttl_max).map_err(error_to)
    }

    fn identify(paths: Vec<String>, place: Place) -> Result<Vec<Identity>, types::Error> {
        let place = crate::identity::Place {
            cwd: place.cwd,
            workspace: place.workspace,
            checkout: place.checkout,
        };
        crate::identify(&mut Files, &paths, &place)
            .map(|ids| {
                ids.into_iter()
                    .map(|i| Identity {
                        file: i.file,
                        checkout: i.checkout,
                    })
                    .collect()
            })
            .map_err(error_to)
    }

    fn marker_headers() -> Vec<MarkerHeader> {
        crate::markers::MARKER_HEADERS
            .iter()
            .map(marker_header_to)
            .collect()
    }

    fn upkeep(max_age: u64) -> UpkeepPlan {
        upkeep_to(crate::upkeep(max_age))
    }

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

impl Exports for Component {}

impl<T: Exports + 'static> HoldsGuest for T {
    fn announce(
        request: AnnounceRequest,
        ttl_max: u64,
        observed: Option<kv::Entry>,
    ) -> Result<types::Claim, types::Error> {
        <T as Exports>::announce(request, ttl_max, observed)
    }

    fn release(
        file: String,
        agent_id: String,
        observed: Option<kv::Entry>,
    ) -> Result<ReleaseOutcome, types::Error> {
        <T as Exports>::release(file, agent_id, observed)
    }

    fn who_has(
        file: String,
        observed: Option<kv::Entry>,
    ) -> Result<Option<types::Claim>, types::Error> {
        <T as Exports>::who_has(file, observed)
    }

    fn covering(file: String) -> Result<Vec<types::Claim>, types::Error> {
        <T as Exports>::covering(file)
    }

    fn claim_files(
        request: ClaimRequest,
        ttl_max: u64,
        max_files: u32,
        observed: Vec<Option<kv::Entry>>,
    ) -> Result<Claimed, types::Error> {
        <T as Exports>::claim_files(request, ttl_max, max_files, observed)
    }

    fn renew(
        request: AnnounceRequest,
        revision: u64,
        ttl_max: u64,
    ) -> Result<types::Claim, types::Error> {
        <T as Exports>::renew(request, revision, ttl_max)
    }

    fn check(
        files: Vec<String>,
        agent_id: String,
        tokens: Vec<u64>,
    ) -> Result<Vec<FileCheck>, types::Error> {
        <T as Exports>::check(files, agent_id, tokens)
    }

    fn force_release(
        file: String,
        by: String,
        observed: Option<kv::Entry>,
    ) -> Result<ReleaseOutcome, types::Error> {
        <T as Exports>::force_release(file, by, observed)
    }

    fn key_for_file(file: String) -> Result<String, types::Error> {
        <T as Exports>::key_for_file(file)
    }

    fn file_for_key(key: String) -> Result<String, types::Error> {
        <T as Exports>::file_for_key(key)
    }

    fn check_bucket(settings: BucketSettings, ttl_max: u64) -> Result<(), types::Error> {
        <T as Exports>::check_bucket(settings, ttl_max)
    }

    fn identify(paths: Vec<String>, place: Place) -> Result<Vec<Identity>, types::Error> {
        <T as Exports>::identify(paths, place)
    }
}

impl<T: Exports + 'static> SubscribeGuest for T {
    fn marker_headers() -> Vec<MarkerHeader> {
        <T as Exports>::marker_headers()
    }

    fn upkeep(max_age: u64) -> UpkeepPlan {
        <T as Exports>::upkeep(max_age)
    }

    fn interpret(change: Change) -> Interpretation {
        <T as Exports>::interpret(change)
    }

    fn sweep(key: String, observed: kv::Entry) -> Result<SweepOutcome, types::Error> {
        <T as Exports>::sweep(key, observed)
    }
}
