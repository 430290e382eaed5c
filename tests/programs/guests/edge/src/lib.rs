//! A deliberately changed guest, for the replay tests only: its who-has counts a
//! hold expiring exactly now as expired (the real guest: still live). Replay must
//! catch the change at the first decision on that edge, and nowhere before.
#![cfg(target_arch = "wasm32")]

use holds_guest::component::bindings::holds::core::{kv, types};
use holds_guest::component::{Exports, Imports, claim_to, entry_from, error_to, run};
use holds_guest::model::{Entry, KeyedEntry, KvError, Removal, Timestamp, Write};
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
        note: Vec<u8>,
    ) -> impl Future<Output = Result<u64, KvError>> + Send {
        self.imports.delete_if_revision(key, expected, why, note)
    }
    fn get_many(
        &mut self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Entry>, KvError>> + Send {
        self.imports.get_many(keys)
    }
    fn write_batch(
        &mut self,
        writes: Vec<Write>,
    ) -> impl Future<Output = Result<Vec<u64>, KvError>> + Send {
        self.imports.write_batch(writes)
    }
    fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> impl Future<Output = Result<Vec<KeyedEntry>, KvError>> + Send {
        self.imports.scan(prefix, through)
    }
    fn now(&mut self) -> Timestamp {
        let now = self.imports.now();
        self.now = Some(now);
        now
    }
    fn pause(&mut self, after: u64) -> impl Future<Output = bool> + Send {
        self.imports.pause(after)
    }
    fn cas_retry(&mut self, key: &str, attempt: u32) {
        self.imports.cas_retry(key, attempt)
    }
}

struct Edge;

impl Exports for Edge {
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
}

holds_guest::component::bindings::export!(Edge with_types_in holds_guest::component::bindings);
