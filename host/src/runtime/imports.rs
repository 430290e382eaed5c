//! The guest's imports (`kv`, `clock`, `observer`) implemented over a [`KvStore`].

use super::bindings::holds::core::{clock, kv, observer, types};
use crate::clock::Clock;
use crate::kv::{Entry, KvError, KvStore, Operation, Removal};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::StoreLimits;

/// Called once per CAS retry with the key and the attempt about to be made.
pub(crate) type RetryObserver = Arc<dyn Fn(&str, u32) + Send + Sync>;

/// What a store (one instance) owns.
pub(crate) struct GuestState {
    pub kv: Arc<dyn KvStore>,
    pub clock: Arc<dyn Clock>,
    pub limits: StoreLimits,
    pub retry_observer: Option<RetryObserver>,
}

pub(crate) fn entry_to_wit(entry: Option<&Entry>) -> kv::Entry {
    match entry {
        None => kv::Entry {
            found: false,
            value: Vec::new(),
            revision: 0,
            operation: kv::Operation::Put,
        },
        Some(e) => kv::Entry {
            found: true,
            value: e.value.to_vec(),
            revision: e.revision,
            operation: match e.operation {
                Operation::Put => kv::Operation::Put,
                Operation::Delete => kv::Operation::Delete,
                Operation::Purge => kv::Operation::Purge,
                Operation::Expire => kv::Operation::Expire,
            },
        },
    }
}

fn error_to_wit(e: KvError) -> kv::KvError {
    match e {
        KvError::WrongRevision => kv::KvError::WrongRevision,
        KvError::Unavailable(why) => kv::KvError::Unavailable(why),
    }
}

impl types::Host for GuestState {}

impl kv::Host for GuestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<kv::Entry, kv::KvError>> {
        Ok(self
            .kv
            .get(&key)
            .await
            .map(|e| entry_to_wit(e.as_ref()))
            .map_err(error_to_wit))
    }

    async fn write_if_revision(
        &mut self,
        key: String,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> wasmtime::Result<Result<u64, kv::KvError>> {
        let ttl = (ttl_seconds > 0).then(|| Duration::from_secs(u64::from(ttl_seconds)));
        Ok(self
            .kv
            .write_if_revision(&key, Bytes::from(value), expected, ttl)
            .await
            .map_err(error_to_wit))
    }

    async fn delete_if_revision(
        &mut self,
        key: String,
        expected: u64,
        why: kv::Removal,
    ) -> wasmtime::Result<Result<u64, kv::KvError>> {
        let why = match why {
            kv::Removal::Released => Removal::Released,
            kv::Removal::Expired => Removal::Expired,
        };
        Ok(self
            .kv
            .delete_if_revision(&key, expected, why)
            .await
            .map_err(error_to_wit))
    }
}

impl clock::Host for GuestState {
    async fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(self.clock.now())
    }
}

impl observer::Host for GuestState {
    async fn cas_retry(&mut self, key: String, attempt: u32) -> wasmtime::Result<()> {
        if let Some(observer) = &self.retry_observer {
            observer(&key, attempt);
        }
        Ok(())
    }
}
