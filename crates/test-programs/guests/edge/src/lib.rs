//! A deliberately changed guest, for the replay tests only: its who-has counts a
//! hold expiring exactly now as expired (the real guest: still live). Replay must
//! catch the change at the first decision on that edge, and nowhere before.
#![cfg(target_arch = "wasm32")]

use holds_guest::component::bindings::exports::holds::core::holds::{
    AnnounceRequest, Guest as HoldsGuest, ReleaseOutcome,
};
use holds_guest::component::bindings::exports::holds::core::subscribe::{
    Change, Guest as SubscribeGuest, Interpretation, SweepOutcome,
};
use holds_guest::component::bindings::holds::core::{kv, types};
use holds_guest::component::{Component, Imports, claim_to, entry_from, error_to, run};
use holds_guest::model::{Entry, KvError, Removal, Timestamp};
use std::future::Future;

/// The real imports, remembering the last `now` the logic read.
struct Remembering {
    imports: Imports,
    now: Option<Timestamp>,
}

impl holds_guest::Host for Remembering {
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Entry, KvError>> + Send {
        self.imports.get(key)
    }
    fn write_if_revision(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> impl Future<Output = Result<u64, KvError>> + Send {
        self.imports
            .write_if_revision(key, value, expected, ttl_seconds)
    }
    fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
    ) -> impl Future<Output = Result<u64, KvError>> + Send {
        self.imports.delete_if_revision(key, expected, why)
    }
    fn now(&mut self) -> Timestamp {
        let now = self.imports.now();
        self.now = Some(now);
        now
    }
    fn cas_retry(&mut self, key: &str, attempt: u32) {
        self.imports.cas_retry(key, attempt)
    }
}

struct Edge;

impl HoldsGuest for Edge {
    fn announce(
        request: AnnounceRequest,
        ttl_max: u64,
        observed: Option<kv::Entry>,
    ) -> Result<types::Claim, types::Error> {
        Component::announce(request, ttl_max, observed)
    }
    fn release(
        file: String,
        agent_id: String,
        observed: Option<kv::Entry>,
    ) -> Result<ReleaseOutcome, types::Error> {
        Component::release(file, agent_id, observed)
    }
    fn who_has(
        file: String,
        observed: Option<kv::Entry>,
    ) -> Result<Option<types::Claim>, types::Error> {
        let mut host = Remembering {
            imports: Imports,
            now: None,
        };
        let claim = run(holds_guest::who_has(
            &mut host,
            &file,
            observed.map(entry_from),
        ))
        .map_err(error_to)?;
        // The changed rule: expiring exactly now is expired.
        Ok(claim
            .filter(|c| Some(c.hold.expires_at) != host.now)
            .map(claim_to))
    }
    fn key_for_file(file: String) -> Result<String, types::Error> {
        Component::key_for_file(file)
    }
    fn file_for_key(key: String) -> Result<String, types::Error> {
        Component::file_for_key(key)
    }
}

impl SubscribeGuest for Edge {
    fn interpret(change: Change) -> Interpretation {
        Component::interpret(change)
    }
    fn sweep(key: String, observed: kv::Entry) -> Result<SweepOutcome, types::Error> {
        Component::sweep(key, observed)
    }
}

holds_guest::component::bindings::export!(Edge with_types_in holds_guest::component::bindings);
