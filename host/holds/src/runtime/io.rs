//! What the guest's imports do, as a plain store interface ([`GuestIo`]) with one
//! implementation per source of answers: [`LiveIo`] over a [`KvStore`] and a
//! [`Clock`], [`Recording`] layered over another to write each call down, the
//! replay's tape (`replay.rs`) answering from a trace, and [`Unbound`] for an idle
//! instance. The view (`ctx.rs`) only converts between these and the WIT types.

use crate::clock::Clock;
use crate::convert;
use crate::kv::{Entry, KvError, KvStore, Operation, Removal};
use crate::runtime::bindings::holds::core::kv as wit_kv;
use crate::trace::format::{Step, TraceBytes};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// An import's answer, or a trap (`Err`) that aborts the guest's call.
pub(crate) type Answer<T> = wasmtime::Result<T>;

/// Called once per CAS retry with the key and the attempt about to be made.
pub(crate) type RetryObserver = Arc<dyn Fn(&str, u32) + Send + Sync>;

/// The largest value a guest may write (NATS' default max payload).
pub(crate) const MAX_VALUE: usize = 1 << 20;

/// The longest key a guest may use: a NATS protocol line (`PUB $KV.<bucket>.<key>
/// <reply> <len>`) must stay under the server's 4 KiB control-line limit.
pub(crate) const MAX_KEY: usize = 3072;

/// A view of the bucket the host keeps (the manager's replica): the value
/// entries of keys that start with a prefix, when the view has every change up
/// to a revision; `None` when it has not (then the store is read).
pub(crate) type ScanView = Arc<
    dyn Fn(
            String,
            u64,
            Duration,
        ) -> futures::future::BoxFuture<'static, Option<Vec<(String, Entry)>>>
        + Send
        + Sync,
>;

/// What an export call's imports gathered, taken after the call.
#[derive(Default)]
pub(crate) struct Report {
    /// Entries learnt from the store (fresh reads, acks of writes and deletes),
    /// for the manager's replica.
    pub seen: Vec<(String, Entry)>,
    /// The last store failure, whole, to become the cause of the guest's error.
    pub fault: Option<KvError>,
    /// The import calls with their answers, when recording.
    pub steps: Vec<Step>,
}

/// The guest's imports. Reads answer with the exact WIT entry, so a replay feeds
/// the guest precisely what was recorded.
#[async_trait]
pub(crate) trait GuestIo: Send {
    async fn get(&mut self, key: &str) -> Answer<Result<wit_kv::Entry, KvError>>;
    async fn write_if_revision(
        &mut self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl_seconds: u32,
    ) -> Answer<Result<u64, KvError>>;
    async fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Answer<Result<u64, KvError>>;
    async fn get_many(&mut self, keys: &[String]) -> Answer<Result<Vec<wit_kv::Entry>, KvError>>;
    async fn write_batch(&mut self, writes: &[wit_kv::Write]) -> Answer<Result<Vec<u64>, KvError>>;
    async fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> Answer<Result<Vec<wit_kv::KeyedEntry>, KvError>>;
    fn now(&mut self) -> Answer<i64>;
    /// Wait `after` unless that passes the call's deadline (then false, at once).
    async fn pause(&mut self, after: Duration) -> Answer<bool>;
    fn cas_retry(&mut self, key: &str, attempt: u32) -> Answer<()>;
    /// What the calls since the last report gathered.
    fn report(&mut self) -> Report;
}

/// No call is being served: every import is a host bug, and traps.
pub(crate) struct Unbound;

fn unbound<T>() -> Answer<T> {
    Err(wasmtime::Error::msg(
        "an import was called on an instance serving no call",
    ))
}

#[async_trait]
impl GuestIo for Unbound {
    async fn get(&mut self, _: &str) -> Answer<Result<wit_kv::Entry, KvError>> {
        unbound()
    }
    async fn write_if_revision(
        &mut self,
        _: &str,
        _: Bytes,
        _: u64,
        _: u32,
    ) -> Answer<Result<u64, KvError>> {
        unbound()
    }
    async fn delete_if_revision(
        &mut self,
        _: &str,
        _: u64,
        _: Removal,
        _: Bytes,
    ) -> Answer<Result<u64, KvError>> {
        unbound()
    }
    async fn get_many(&mut self, _: &[String]) -> Answer<Result<Vec<wit_kv::Entry>, KvError>> {
        unbound()
    }
    async fn write_batch(&mut self, _: &[wit_kv::Write]) -> Answer<Result<Vec<u64>, KvError>> {
        unbound()
    }
    async fn scan(&mut self, _: &str, _: u64) -> Answer<Result<Vec<wit_kv::KeyedEntry>, KvError>> {
        unbound()
    }
    fn now(&mut self) -> Answer<i64> {
        unbound()
    }
    async fn pause(&mut self, _: Duration) -> Answer<bool> {
        unbound()
    }
    fn cas_retry(&mut self, _: &str, _: u32) -> Answer<()> {
        unbound()
    }
    fn report(&mut self) -> Report {
        Report::default()
    }
}

/// Keys and values come from the guest, so they are checked here, at the
/// boundary, before any store sees them: JetStream's key rule (no empty tokens),
/// and a size bound on values.
fn check(key: &str, value_len: usize) -> Result<(), KvError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'/' | b'_' | b'=' | b'.'))
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..");
    if !valid {
        let shown = key.char_indices().nth(64).map_or(key, |(i, _)| &key[..i]);
        return Err(KvError::unavailable(format!("invalid key {shown:?}")));
    }
    if value_len > MAX_VALUE {
        return Err(KvError::unavailable(format!(
            "value of {value_len} bytes is over the {MAX_VALUE}-byte limit"
        )));
    }
    Ok(())
}

/// The manager's store, clock and observer.
pub(crate) struct LiveIo {
    pub kv: Arc<dyn KvStore>,
    pub clock: Arc<dyn Clock>,
    pub retry_observer: Option<RetryObserver>,
    /// The manager's view of the bucket (its replica), for scans it can answer.
    pub view: Option<ScanView>,
    /// The call's writes are not sent again past this.
    deadline: tokio::time::Instant,
    report: Report,
}

impl LiveIo {
    pub fn new(
        kv: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
        retry_observer: Option<RetryObserver>,
        op_timeout: Duration,
    ) -> Self {
        LiveIo {
            kv,
            clock,
            retry_observer,
            view: None,
            deadline: tokio::time::Instant::now() + op_timeout,
            report: Report::default(),
        }
    }

    fn note<T>(&mut self, result: Result<T, KvError>) -> Result<T, KvError> {
        if let Err(e) = &result {
            self.report.fault = Some(e.clone());
        }
        result
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

#[async_trait]
impl GuestIo for LiveIo {
    async fn get(&mut self, key: &str) -> Answer<Result<wit_kv::Entry, KvError>> {
        let got = match check(key, 0) {
            Err(e) => Err(e),
            Ok(()) => self.kv.get(key).await,
        };
        if let Ok(Some(entry)) = &got {
            self.report.seen.push((key.to_string(), entry.clone()));
        }
        Ok(self.note(got).map(|e| convert::entry_to_wit(e.as_ref())))
    }

    async fn write_if_revision(
        &mut self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl_seconds: u32,
    ) -> Answer<Result<u64, KvError>> {
        let written = match check(key, value.len()) {
            Err(e) => Err(e),
            Ok(()) => {
                let ttl = (ttl_seconds > 0).then(|| Duration::from_secs(u64::from(ttl_seconds)));
                self.kv
                    .write_if_revision(key, value.clone(), expected, ttl)
                    .await
            }
        };
        if let Ok(revision) = written {
            let entry = ack(value, revision, Operation::Put);
            self.report.seen.push((key.to_string(), entry));
        }
        Ok(self.note(written))
    }

    async fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Answer<Result<u64, KvError>> {
        let removed = match check(key, note.len()) {
            Err(e) => Err(e),
            Ok(()) => {
                self.kv
                    .delete_if_revision(key, expected, why, note.clone())
                    .await
            }
        };
        if let Ok(revision) = removed {
            let entry = ack(note, revision, convert::removal_operation(why));
            self.report.seen.push((key.to_string(), entry));
        }
        Ok(self.note(removed))
    }

    async fn get_many(&mut self, keys: &[String]) -> Answer<Result<Vec<wit_kv::Entry>, KvError>> {
        let got = match keys.iter().try_for_each(|key| check(key, 0)) {
            Err(e) => Err(e),
            Ok(()) => self.kv.get_many(keys).await,
        };
        if let Ok(entries) = &got {
            for (key, entry) in keys.iter().zip(entries) {
                if let Some(entry) = entry {
                    self.report.seen.push((key.clone(), entry.clone()));
                }
            }
        }
        Ok(self.note(got).map(|entries| {
            entries
                .iter()
                .map(|e| convert::entry_to_wit(e.as_ref()))
                .collect()
        }))
    }

    async fn write_batch(&mut self, writes: &[wit_kv::Write]) -> Answer<Result<Vec<u64>, KvError>> {
        let batch: Vec<_> = writes.iter().map(convert::batch_write).collect();
        let written = match batch.iter().try_for_each(|w| check(&w.key, w.value.len())) {
            Err(e) => Err(e),
            Ok(()) => self.kv.write_batch(&batch).await,
        };
        if let Ok(revisions) = &written {
            for (w, &revision) in batch.iter().zip(revisions) {
                let entry = ack(w.value.clone(), revision, Operation::Put);
                self.report.seen.push((w.key.clone(), entry));
            }
        }
        Ok(self.note(written))
    }

    async fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> Answer<Result<Vec<wit_kv::KeyedEntry>, KvError>> {
        // Wait for the view where reading the store costs round trips (and
        // never past the call's deadline).
        let wait = self.kv.catch_up_wait().min(
            self.deadline
                .saturating_duration_since(tokio::time::Instant::now()),
        );
        // The store's current state: a view caught up to its newest revision,
        // where the store can name it cheaply.
        let target = match (&self.view, through) {
            (None, _) => None,
            (Some(_), u64::MAX) => self.kv.last_revision().await.ok().flatten(),
            (Some(_), t) => Some(t),
        };
        let viewed = match (&self.view, target) {
            (Some(view), Some(t)) => view(prefix.to_string(), t, wait).await,
            _ => None,
        };
        let scanned = match viewed {
            Some(entries) => Ok(entries),
            None => {
                let read = self.kv.scan(prefix).await;
                if let Ok(entries) = &read {
                    self.report.seen.extend(entries.iter().cloned());
                }
                read
            }
        };
        Ok(self.note(scanned).map(|entries| {
            entries
                .iter()
                .map(|(key, entry)| wit_kv::KeyedEntry {
                    key: key.clone(),
                    entry: convert::entry_to_wit(Some(entry)),
                })
                .collect()
        }))
    }

    fn now(&mut self) -> Answer<i64> {
        Ok(self.clock.now())
    }

    async fn pause(&mut self, after: Duration) -> Answer<bool> {
        let until = tokio::time::Instant::now() + after;
        if until >= self.deadline {
            return Ok(false);
        }
        tokio::time::sleep_until(until).await;
        Ok(true)
    }

    fn cas_retry(&mut self, key: &str, attempt: u32) -> Answer<()> {
        if let Some(observer) = &self.retry_observer {
            observer(key, attempt);
        }
        Ok(())
    }

    fn report(&mut self) -> Report {
        std::mem::take(&mut self.report)
    }
}

/// Another source of answers, with every call and answer written down.
pub(crate) struct Recording {
    inner: Box<dyn GuestIo>,
    steps: Vec<Step>,
}

impl Recording {
    pub fn new(inner: Box<dyn GuestIo>) -> Self {
        Recording {
            inner,
            steps: Vec::new(),
        }
    }
}

#[async_trait]
impl GuestIo for Recording {
    async fn get(&mut self, key: &str) -> Answer<Result<wit_kv::Entry, KvError>> {
        let got = self.inner.get(key).await?;
        self.steps.push(Step::KvGet {
            key: key.to_string(),
            result: got
                .as_ref()
                .map(convert::wit_entry_to_trace)
                .map_err(convert::kv_error_to_trace),
        });
        Ok(got)
    }

    async fn write_if_revision(
        &mut self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl_seconds: u32,
    ) -> Answer<Result<u64, KvError>> {
        let written = self
            .inner
            .write_if_revision(key, value.clone(), expected, ttl_seconds)
            .await?;
        self.steps.push(Step::KvWrite {
            key: key.to_string(),
            value: TraceBytes(value.to_vec()),
            expected,
            ttl_seconds,
            result: written
                .as_ref()
                .copied()
                .map_err(convert::kv_error_to_trace),
        });
        Ok(written)
    }

    async fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Answer<Result<u64, KvError>> {
        let removed = self
            .inner
            .delete_if_revision(key, expected, why, note.clone())
            .await?;
        self.steps.push(Step::KvDelete {
            key: key.to_string(),
            expected,
            why: convert::removal_to_trace(why),
            note: TraceBytes(note.to_vec()),
            result: removed
                .as_ref()
                .copied()
                .map_err(convert::kv_error_to_trace),
        });
        Ok(removed)
    }

    async fn get_many(&mut self, keys: &[String]) -> Answer<Result<Vec<wit_kv::Entry>, KvError>> {
        let got = self.inner.get_many(keys).await?;
        self.steps.push(Step::KvGetMany {
            keys: keys.to_vec(),
            result: got
                .as_ref()
                .map(|entries| entries.iter().map(convert::wit_entry_to_trace).collect())
                .map_err(convert::kv_error_to_trace),
        });
        Ok(got)
    }

    async fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> Answer<Result<Vec<wit_kv::KeyedEntry>, KvError>> {
        let scanned = self.inner.scan(prefix, through).await?;
        self.steps.push(Step::KvScan {
            prefix: prefix.to_string(),
            through,
            result: scanned
                .as_ref()
                .map(|entries| convert::keyed_entries_to_trace(entries))
                .map_err(convert::kv_error_to_trace),
        });
        Ok(scanned)
    }

    async fn write_batch(&mut self, writes: &[wit_kv::Write]) -> Answer<Result<Vec<u64>, KvError>> {
        let written = self.inner.write_batch(writes).await?;
        self.steps.push(Step::KvWriteBatch {
            writes: writes.iter().map(convert::write_to_trace).collect(),
            result: written.clone().map_err(|e| convert::kv_error_to_trace(&e)),
        });
        Ok(written)
    }

    fn now(&mut self) -> Answer<i64> {
        let now = self.inner.now()?;
        self.steps.push(Step::ClockNow { result: now });
        Ok(now)
    }

    async fn pause(&mut self, after: Duration) -> Answer<bool> {
        let paused = self.inner.pause(after).await?;
        self.steps.push(Step::ClockPause {
            after: crate::time::nanos(after),
            result: paused,
        });
        Ok(paused)
    }

    fn cas_retry(&mut self, key: &str, attempt: u32) -> Answer<()> {
        self.inner.cas_retry(key, attempt)?;
        self.steps.push(Step::CasRetry {
            key: key.to_string(),
            attempt,
            result: (),
        });
        Ok(())
    }

    fn report(&mut self) -> Report {
        Report {
            steps: std::mem::take(&mut self.steps),
            ..self.inner.report()
        }
    }
}
