//! A store that answers scripted writes `not-stored` (as a busy or leaderless
//! JetStream stream does), storing nothing, and counts the writes it is sent:
//! the shared cases' `refuse_writes` and `writes_sent` steps.

use crate::forward::Forward;
use async_trait::async_trait;
use bytes::Bytes;
use holds::kv::{BatchWrite, KvError, KvStore, Removal, Unsent};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Wraps a store; without a script it changes nothing.
pub struct Refusing {
    inner: Arc<dyn KvStore>,
    script: Mutex<(VecDeque<Unsent>, usize)>,
}

impl Refusing {
    pub fn new(inner: Arc<dyn KvStore>) -> Self {
        Refusing {
            inner,
            script: Mutex::new((VecDeque::new(), 0)),
        }
    }

    /// Answer the next writes `not-stored` for these reasons, one each; the
    /// count of writes sent starts again.
    pub fn refuse(&self, answers: impl IntoIterator<Item = Unsent>) {
        *self.script.lock().unwrap() = (answers.into_iter().collect(), 0);
    }

    /// Writes sent since the last [`Refusing::refuse`], refused ones included.
    pub fn sent(&self) -> usize {
        self.script.lock().unwrap().1
    }

    /// Count a write; its scripted refusal, if any.
    fn send(&self) -> Result<(), KvError> {
        let mut script = self.script.lock().unwrap();
        script.1 += 1;
        match script.0.pop_front() {
            Some(why) => Err(KvError::not_stored(why, format!("scripted {why:?}"))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Forward for Refusing {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }

    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        self.send()?;
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
        self.send()?;
        self.inner
            .delete_if_revision(key, expected, why, note)
            .await
    }

    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        self.send()?;
        self.inner.write_batch(writes).await
    }
}

crate::forward_kv_store!(Refusing);
