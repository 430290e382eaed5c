//! [`Outage`]: a store wrapper that can be cut off, as a store that became
//! unreachable: while it is down every read and write fails at once (the watch,
//! already open, goes on), and nothing reaches the inner store.

use crate::forward::Forward;
use async_trait::async_trait;
use bytes::Bytes;
use holds::kv::{BatchWrite, Entry, KvError, KvStore, Removal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Outage {
    pub inner: Arc<dyn KvStore>,
    down: AtomicBool,
}

impl Outage {
    pub fn new(inner: Arc<dyn KvStore>) -> Arc<Self> {
        Arc::new(Outage {
            inner,
            down: AtomicBool::new(false),
        })
    }

    /// Cut the store off (`true`) or bring it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn up(&self) -> Result<(), KvError> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(KvError::unavailable(
                "the store is unreachable (staged outage)",
            )),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl Forward for Outage {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    fn describe(&self) -> String {
        format!("outage-prone {}", self.inner.describe())
    }
    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        self.up()?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, KvError> {
        self.up()?;
        self.inner.get_many(keys).await
    }
    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        self.up()?;
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
        self.up()?;
        self.inner
            .delete_if_revision(key, expected, why, note)
            .await
    }
    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        self.up()?;
        self.inner.write_batch(writes).await
    }
}

crate::forward_kv_store!(Outage);
