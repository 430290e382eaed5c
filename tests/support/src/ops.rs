//! [`OpCounts`]: a store wrapper counting every kind of store operation (each one
//! round trip), to show how many a call makes: a claim over a warm replica is one
//! batch write, a check one batch read, a waiter polls nothing.

use crate::forward::Forward;
use async_trait::async_trait;
use bytes::Bytes;
use holds::kv::{BatchWrite, Entry, KvError, KvStore, Removal};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The operations made through an [`OpCounts`] since its last [`OpCounts::take`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ops {
    pub gets: u32,
    pub get_manys: u32,
    pub writes: u32,
    pub deletes: u32,
    pub batches: u32,
}

impl Ops {
    /// Reads of either kind.
    pub fn reads(&self) -> u32 {
        self.gets + self.get_manys
    }
}

/// Counts every operation passed through it; `read` is notified after each read
/// has been answered (a waiter's first try, say, has then been refused).
pub struct OpCounts {
    pub inner: Arc<dyn KvStore>,
    gets: AtomicU32,
    get_manys: AtomicU32,
    writes: AtomicU32,
    deletes: AtomicU32,
    batches: AtomicU32,
    pub read: Arc<Notify>,
}

impl OpCounts {
    pub fn new(inner: Arc<dyn KvStore>) -> Arc<Self> {
        Arc::new(OpCounts {
            inner,
            gets: AtomicU32::new(0),
            get_manys: AtomicU32::new(0),
            writes: AtomicU32::new(0),
            deletes: AtomicU32::new(0),
            batches: AtomicU32::new(0),
            read: Arc::new(Notify::new()),
        })
    }

    /// The counts so far, without resetting them.
    pub fn peek(&self) -> Ops {
        Ops {
            gets: self.gets.load(Ordering::SeqCst),
            get_manys: self.get_manys.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
            deletes: self.deletes.load(Ordering::SeqCst),
            batches: self.batches.load(Ordering::SeqCst),
        }
    }

    /// The counts since the last call, resetting them.
    pub fn take(&self) -> Ops {
        Ops {
            gets: self.gets.swap(0, Ordering::SeqCst),
            get_manys: self.get_manys.swap(0, Ordering::SeqCst),
            writes: self.writes.swap(0, Ordering::SeqCst),
            deletes: self.deletes.swap(0, Ordering::SeqCst),
            batches: self.batches.swap(0, Ordering::SeqCst),
        }
    }
}

#[async_trait]
impl Forward for OpCounts {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    fn describe(&self) -> String {
        format!("counted {}", self.inner.describe())
    }
    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let got = self.inner.get(key).await;
        self.read.notify_one();
        got
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, KvError> {
        self.get_manys.fetch_add(1, Ordering::SeqCst);
        let got = self.inner.get_many(keys).await;
        self.read.notify_one();
        got
    }
    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner
            .write_if_revision(key, value, expected, ttl)
            .await
    }
    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        self.inner
            .delete_if_revision(key, expected, why, note)
            .await
    }
    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.inner.write_batch(writes).await
    }
}

crate::forward_kv_store!(OpCounts);
