//! Stores that stage races deterministically around a real bucket. Each states
//! only what it changes; the rest goes to `inner` ([`Forward`]).

use async_trait::async_trait;
use bytes::Bytes;
use holds::kv::{Entry, KvError, KvStore, Removal, Watch};
use holds_test_support::forward::Forward;
use holds_test_support::{forward_kv_store, raw};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

forward_kv_store!(
    RacingWrites,
    PausedDeletes,
    StalledSweeps,
    HeldWatch,
    Delayed
);

/// Before each of the first `races` conditional writes, another client writes
/// `raw` to the same key, so the write loses the revision race.
pub struct RacingWrites {
    pub inner: Arc<dyn KvStore>,
    pub raw: Bytes,
    pub races: AtomicU32,
}

#[async_trait]
impl Forward for RacingWrites {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    fn describe(&self) -> String {
        format!("racing writes over {}", self.inner.describe())
    }
    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        if self.races.load(Ordering::SeqCst) > 0 {
            self.races.fetch_sub(1, Ordering::SeqCst);
            raw::put(&*self.inner, key, self.raw.clone()).await?;
        }
        self.inner
            .write_if_revision(key, value, expected, ttl)
            .await
    }
}

/// Holds every `delete_if_revision` until `release_deletes` is notified, after
/// telling `delete_reached`.
pub struct PausedDeletes {
    pub inner: Arc<dyn KvStore>,
    pub delete_reached: Arc<Notify>,
    pub release_deletes: Arc<Notify>,
}

#[async_trait]
impl Forward for PausedDeletes {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    fn describe(&self) -> String {
        format!("paused deletes over {}", self.inner.describe())
    }
    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        self.delete_reached.notify_one();
        self.release_deletes.notified().await;
        self.inner
            .delete_if_revision(key, expected, why, note)
            .await
    }
}

/// A store that does not expire entries itself (so the manager sweeps, even on
/// JetStream: TTLs are not passed on), whose expiry markers stall until
/// `release` is notified, after telling `stalled`.
pub struct StalledSweeps {
    pub inner: Arc<dyn KvStore>,
    pub stalled: Arc<Notify>,
    pub release: Arc<Notify>,
}

#[async_trait]
impl Forward for StalledSweeps {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    fn describe(&self) -> String {
        format!("stalled sweeps over {}", self.inner.describe())
    }
    fn expires_entries(&self) -> bool {
        false
    }
    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        _ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        self.inner
            .write_if_revision(key, value, expected, None)
            .await
    }
    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        if why == Removal::Expired {
            self.stalled.notify_one();
            self.release.notified().await;
        }
        self.inner
            .delete_if_revision(key, expected, why, note)
            .await
    }
}

/// A store whose watch delivers the bucket's replay, then holds every live change
/// back until `open` is set: the manager's replica goes stale on purpose.
pub struct HeldWatch {
    pub inner: Arc<dyn KvStore>,
    pub open: tokio::sync::watch::Sender<bool>,
}

#[async_trait]
impl Forward for HeldWatch {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    fn describe(&self) -> String {
        format!("held watch over {}", self.inner.describe())
    }
    async fn watch(&self) -> Result<Watch, KvError> {
        use futures::StreamExt;
        let inner = self.inner.watch().await?;
        let open = self.open.subscribe();
        let caught_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        Ok(inner
            .then(move |item| {
                let mut open = open.clone();
                let caught_up = caught_up.clone();
                async move {
                    if caught_up.load(Ordering::SeqCst) {
                        let _ = open.wait_for(|o| *o).await;
                    }
                    if matches!(item, Ok(holds::kv::WatchItem::CaughtUp)) {
                        caught_up.store(true, Ordering::SeqCst);
                    }
                    item
                }
            })
            .boxed())
    }
}

/// A store that answers every operation after `delay`, so calls stay in flight
/// (and hold their guest instances) as they would over a network. The delay is
/// the point (latency, not synchronisation): nothing to wait for instead.
pub struct Delayed {
    pub inner: Arc<dyn KvStore>,
    pub delay: Duration,
}

#[async_trait]
impl Forward for Delayed {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    fn describe(&self) -> String {
        format!("delayed {}", self.inner.describe())
    }
    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        tokio::time::sleep(self.delay).await;
        self.inner.get(key).await
    }
    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        tokio::time::sleep(self.delay).await;
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
        tokio::time::sleep(self.delay).await;
        self.inner
            .delete_if_revision(key, expected, why, note)
            .await
    }
}
