//! The revisioned key-value stores the guest's `kv` import runs on.
//!
//! One trait, [`KvStore`], with one module per backend: [`JetStreamKv`] (NATS
//! JetStream, the distributed store), [`SqliteKv`] (one database file shared by
//! the processes of one machine, the default) and [`MemoryKv`] (in-process, for
//! tests and embedding). Every backend has JetStream KV's semantics with history 1: one
//! increasing revision sequence per bucket, and a removed key keeps a marker entry
//! with its own revision until the bucket's max age removes it.

mod error;
mod jetstream;
mod memory;
pub(crate) mod release_log;
mod sqlite;

pub use error::{KvError, KvErrorKind, Source, Unsent};
pub use jetstream::MarkerHeader;

pub use jetstream::JetStreamKv;
pub use memory::MemoryKv;
pub use release_log::{LoggedRelease, RELEASE_LOG_LEN, name_this_process, this_process};
pub use sqlite::{CHANGE_LOG_LEN, POLL_INTERVAL, SqliteKv};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::time::{Duration, SystemTime};

/// The operation that produced a key's latest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A value was written.
    Put,
    /// Marker of an explicit delete.
    Delete,
    /// Marker of an explicit purge.
    Purge,
    /// Marker the store (or a sweep) left because the entry outlived its TTL.
    Expire,
}

/// Why a marker is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The owner released the hold.
    Released,
    /// The hold expired.
    Expired,
}

/// The latest entry of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value (empty for markers).
    pub value: Bytes,
    /// Its revision, from the bucket's one increasing sequence.
    pub revision: u64,
    /// What wrote it.
    pub operation: Operation,
    /// When the store wrote it (ages the entry out at the bucket's max age).
    pub created: SystemTime,
}

/// One item of a watch: an entry, or the end of the initial replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// A key's latest entry (during the replay) or a change (live).
    Entry {
        /// The key.
        key: String,
        /// Its entry.
        entry: Entry,
    },
    /// Every key's latest entry present when the watch started has been replayed;
    /// what follows is live. Sent exactly once, possibly first (empty bucket).
    CaughtUp,
}

/// A watch over the whole bucket.
pub type Watch = BoxStream<'static, Result<WatchItem, KvError>>;

/// One conditional write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchWrite {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Bytes,
    /// The key's latest revision it expects (0: no entry).
    pub expected: u64,
    /// Asks the store to expire the entry itself, as for `write_if_revision`.
    pub ttl: Option<Duration>,
}

/// What a bucket is opened with.
#[derive(Clone, Debug)]
pub struct BucketSpec {
    /// `[A-Za-z0-9_-]+`.
    pub name: String,
    /// Entries (markers included) older than this disappear.
    pub max_age: Duration,
    /// Copies of the bucket in a cluster (JetStream only).
    pub replicas: usize,
    /// Bound on each store operation.
    pub op_timeout: Duration,
}

/// A bucket's limits besides its max age, as its store reports them (JetStream
/// stream settings); the guest judges whether they could drop a live hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketLimits {
    /// Entries the bucket keeps (0 or less: no limit).
    pub max_messages: i64,
    /// Bytes the bucket keeps (0 or less: no limit).
    pub max_bytes: i64,
    /// Entries kept per key (0 or less: no limit).
    pub max_messages_per_key: i64,
    /// At a limit the oldest entries are dropped (else new ones are refused).
    pub discard_old: bool,
    /// A key at its per-key limit refuses new entries.
    pub discard_new_per_key: bool,
}

/// A revisioned key-value bucket. See the module docs for the semantics.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// A short description for logs (`jetstream bucket holds at nats://...`).
    fn describe(&self) -> String;

    /// Whether the store removes an entry itself when the TTL it was written
    /// with elapses (JetStream per-message TTL). When it does not, the host sweeps.
    fn expires_entries(&self) -> bool;

    /// How long the bucket keeps an entry (zero: forever, or unknown). An existing
    /// bucket keeps the max age it was created with, which may differ from the one
    /// asked for. Wrappers should forward it.
    fn max_age(&self) -> Duration {
        Duration::ZERO
    }

    /// The bucket's other limits (none by default). Wrappers should forward it.
    fn limits(&self) -> BucketLimits {
        BucketLimits::default()
    }

    /// The latest entry of `key`, markers included; `None` if it has none.
    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError>;

    /// Write `value` if `key`'s latest revision is `expected` (0: no entry).
    /// `ttl` asks the store to expire the entry itself; stores that cannot ignore it.
    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError>;

    /// Leave a marker on `key` if its latest revision is `expected`; `note` is
    /// the marker's value (the guest's note of whose hold it was and who forced
    /// it). A store with a release log records a release there, with
    /// [`this_process`].
    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError>;

    /// The latest entries of `keys`, in order. By default one [`KvStore::get`]
    /// after another; stores that can answer in one round trip do.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, KvError> {
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            entries.push(self.get(key).await?);
        }
        Ok(entries)
    }

    /// Every write, each only if its key's latest revision is its `expected`, as
    /// one atomic step: all or none ([`KvErrorKind::WrongRevision`] when any
    /// precondition fails). A store that cannot is [`KvErrorKind::Unsupported`]
    /// (the default), and the guest announces the files one by one instead.
    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        let _ = writes;
        Err(KvError::unsupported("this store cannot write atomically"))
    }

    /// The newest `limit` releases in the store's log, oldest first. A store
    /// without a log says [`KvErrorKind::Unsupported`] (the default).
    async fn releases(&self, limit: usize) -> Result<Vec<LoggedRelease>, KvError> {
        let _ = limit;
        Err(KvError::unsupported("this store keeps no log of releases"))
    }

    /// Test seam, not the supported API: an unconditional write, as another client
    /// of the bucket would make it, to stage raw entries. holds never writes without
    /// a revision.
    #[cfg(feature = "test-util")]
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        let _ = (key, value);
        Err(KvError::unavailable(
            "this store cannot write unconditionally",
        ))
    }

    /// How long a scan may wait for a watch of this store to catch up before it
    /// reads the store instead: worth it where a read costs round trips (none
    /// by default). Wrappers should forward it.
    fn catch_up_wait(&self) -> Duration {
        Duration::ZERO
    }

    /// The revision of the bucket's newest change, where the store can say it in
    /// one round trip and a watch delivers changes about when they are
    /// acknowledged (then a current view is a watch caught up to it); `None`
    /// by default: a current view is a fresh read. Wrappers should forward it.
    async fn last_revision(&self) -> Result<Option<u64>, KvError> {
        Ok(None)
    }

    /// The latest entry of every key that starts with `prefix` and holds a value
    /// (markers left out), read from the store now. By default a replay of the
    /// bucket's watch until it has caught up; stores that can select by prefix do.
    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Entry)>, KvError> {
        let mut watch = self.watch().await?;
        let mut found = Vec::new();
        while let Some(item) = watch.next().await {
            match item? {
                WatchItem::Entry { key, entry } => {
                    if key.starts_with(prefix) && entry.operation == Operation::Put {
                        found.push((key, entry));
                    } else if key.starts_with(prefix) {
                        found.retain(|(k, _)| *k != key);
                    }
                }
                WatchItem::CaughtUp => return Ok(found),
            }
        }
        Err(KvError::unavailable("the bucket's replay ended early"))
    }

    /// Replay every key's latest entry, then [`WatchItem::CaughtUp`], then live
    /// changes in revision order.
    async fn watch(&self) -> Result<Watch, KvError>;
}
