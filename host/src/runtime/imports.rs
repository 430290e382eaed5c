//! The guest's imports (`kv`, `clock`, `observer`) implemented over a [`KvStore`].

use super::bindings::holds::core::{clock, kv, observer, types};
use crate::clock::Clock;
use crate::kv::{Entry, KvError, KvStore, Operation, Removal};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wasmtime::StoreLimits;

/// Called once per CAS retry with the key and the attempt about to be made.
pub(crate) type RetryObserver = Arc<dyn Fn(&str, u32) + Send + Sync>;

/// What a store (one instance) owns.
pub(crate) struct GuestState {
    pub kv: Arc<dyn KvStore>,
    pub clock: Arc<dyn Clock>,
    pub limits: StoreLimits,
    pub retry_observer: Option<RetryObserver>,
    /// Entries this call learnt from the store (fresh reads, and the acks of its
    /// own writes and deletes), handed to the manager's replica afterwards.
    pub seen: Vec<(String, Entry)>,
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

/// The entry a successful write or delete left, as its ack describes it.
fn ack(value: Bytes, revision: u64, operation: Operation) -> Entry {
    Entry {
        value,
        revision,
        operation,
        created: SystemTime::now(),
    }
}

impl types::Host for GuestState {}

impl kv::Host for GuestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<kv::Entry, kv::KvError>> {
        let got = self.kv.get(&key).await;
        if let Ok(Some(entry)) = &got {
            self.seen.push((key, entry.clone()));
        }
        Ok(got.map(|e| entry_to_wit(e.as_ref())).map_err(error_to_wit))
    }

    async fn write_if_revision(
        &mut self,
        key: String,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> wasmtime::Result<Result<u64, kv::KvError>> {
        let ttl = (ttl_seconds > 0).then(|| Duration::from_secs(u64::from(ttl_seconds)));
        let value = Bytes::from(value);
        let written = self
            .kv
            .write_if_revision(&key, value.clone(), expected, ttl)
            .await;
        if let Ok(revision) = written {
            self.seen.push((key, ack(value, revision, Operation::Put)));
        }
        Ok(written.map_err(error_to_wit))
    }

    async fn delete_if_revision(
        &mut self,
        key: String,
        expected: u64,
        why: kv::Removal,
    ) -> wasmtime::Result<Result<u64, kv::KvError>> {
        let (why, operation) = match why {
            kv::Removal::Released => (Removal::Released, Operation::Delete),
            kv::Removal::Expired => (Removal::Expired, Operation::Expire),
        };
        let removed = self.kv.delete_if_revision(&key, expected, why).await;
        if let Ok(revision) = removed {
            self.seen
                .push((key, ack(Bytes::new(), revision, operation)));
        }
        Ok(removed.map_err(error_to_wit))
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
