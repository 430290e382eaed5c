//! An in-process bucket with JetStream KV's revision and marker semantics.

use super::release_log::{LoggedRelease, RELEASE_LOG_LEN, this_process};
use super::{
    BatchWrite, BucketSpec, Entry, KvError, KvStore, Operation, Removal, Watch, WatchItem,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
// foldhash: SipHash showed in a hot call's profile; keys are store keys.
use foldhash::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// An in-memory bucket. Clones share the bucket, so several managers can use one
/// (as several processes share a JetStream bucket).
#[derive(Clone)]
pub struct MemoryKv {
    name: String,
    max_age: Duration,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    sequence: u64,
    entries: HashMap<String, Entry>,
    watchers: Vec<mpsc::UnboundedSender<Result<WatchItem, KvError>>>,
    releases: std::collections::VecDeque<LoggedRelease>,
}

impl MemoryKv {
    /// A fresh, empty bucket.
    ///
    /// ```
    /// use holds::kv::{BucketSpec, MemoryKv};
    /// use std::time::Duration;
    /// let bucket = MemoryKv::new(&BucketSpec {
    ///     name: "holds".into(),
    ///     max_age: Duration::from_secs(300),
    ///     replicas: 1,
    ///     op_timeout: Duration::from_secs(5),
    /// });
    /// ```
    pub fn new(spec: &BucketSpec) -> Self {
        MemoryKv {
            name: spec.name.clone(),
            max_age: spec.max_age,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every update is a single insert), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// The latest entry, unless the bucket's max age removed it.
    fn latest(&mut self, key: &str, max_age: Duration) -> Option<&Entry> {
        let aged = self
            .entries
            .get(key)
            .is_some_and(|e| e.created.elapsed().unwrap_or_default() > max_age);
        if aged {
            self.entries.remove(key);
        }
        self.entries.get(key)
    }

    fn revision(&mut self, key: &str, max_age: Duration) -> u64 {
        self.latest(key, max_age).map_or(0, |e| e.revision)
    }

    fn append(&mut self, key: &str, value: Bytes, operation: Operation) -> u64 {
        self.sequence += 1;
        let entry = Entry {
            value,
            revision: self.sequence,
            operation,
            created: SystemTime::now(),
        };
        self.watchers.retain(|w| {
            w.send(Ok(WatchItem::Entry {
                key: key.to_string(),
                entry: entry.clone(),
            }))
            .is_ok()
        });
        self.entries.insert(key.to_string(), entry);
        self.sequence
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    fn describe(&self) -> String {
        format!("in-memory bucket {}", self.name)
    }

    fn expires_entries(&self) -> bool {
        false
    }

    fn max_age(&self) -> Duration {
        self.max_age
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        Ok(self.state().latest(key, self.max_age).cloned())
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Entry)>, KvError> {
        let mut state = self.state();
        let keys: Vec<String> = state
            .entries
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        Ok(keys
            .into_iter()
            .filter_map(|key| {
                let entry = state.latest(&key, self.max_age)?.clone();
                (entry.operation == Operation::Put).then_some((key, entry))
            })
            .collect())
    }

    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        _ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        let mut state = self.state();
        if state.revision(key, self.max_age) != expected {
            return Err(KvError::wrong_revision());
        }
        Ok(state.append(key, value, Operation::Put))
    }

    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        let mut state = self.state();
        if state.revision(key, self.max_age) != expected {
            return Err(KvError::wrong_revision());
        }
        let operation = match why {
            Removal::Released => Operation::Delete,
            Removal::Expired => Operation::Expire,
        };
        let revision = state.append(key, note.clone(), operation);
        if why == Removal::Released {
            if state.releases.len() as u64 >= RELEASE_LOG_LEN {
                state.releases.pop_front();
            }
            state.releases.push_back(LoggedRelease {
                key: key.to_string(),
                revision,
                note,
                process: this_process().to_string(),
                at: SystemTime::now(),
            });
        }
        Ok(revision)
    }

    async fn releases(&self, limit: usize) -> Result<Vec<LoggedRelease>, KvError> {
        let state = self.state();
        let skip = state.releases.len().saturating_sub(limit);
        Ok(state.releases.iter().skip(skip).cloned().collect())
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, KvError> {
        let mut state = self.state();
        Ok(keys
            .iter()
            .map(|key| state.latest(key, self.max_age).cloned())
            .collect())
    }

    /// One step under the bucket's lock.
    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        let mut state = self.state();
        if writes
            .iter()
            .any(|w| state.revision(&w.key, self.max_age) != w.expected)
        {
            return Err(KvError::wrong_revision());
        }
        Ok(writes
            .iter()
            .map(|w| state.append(&w.key, w.value.clone(), Operation::Put))
            .collect())
    }

    #[cfg(feature = "test-util")]
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        Ok(self.state().append(key, value, Operation::Put))
    }

    async fn watch(&self) -> Result<Watch, KvError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.state();
        let keys: Vec<String> = state.entries.keys().cloned().collect();
        let mut current: Vec<(String, Entry)> = keys
            .into_iter()
            .filter_map(|k| state.latest(&k, self.max_age).cloned().map(|e| (k, e)))
            .collect();
        current.sort_by_key(|(_, e)| e.revision);
        for (key, entry) in current {
            let _ = tx.send(Ok(WatchItem::Entry { key, entry }));
        }
        let _ = tx.send(Ok(WatchItem::CaughtUp));
        // Registered under the same lock as the replay: no change is missed or doubled.
        state.watchers.push(tx);
        Ok(UnboundedReceiverStream::new(rx).boxed())
    }
}
