//! The guest's imports (`kv`, `clock`, `observer`): live over a [`KvStore`] and a
//! [`Clock`] (optionally recording each call), or answered from a trace on replay.

use super::bindings::holds::core::{clock, kv, observer, types};
use crate::clock::Clock;
use crate::kv::{Entry, KvError, KvStore, Operation, Removal};
use crate::trace::{ImportCall, Step, Tape, TraceBytes, TraceEntry};
use bytes::Bytes;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wasmtime::StoreLimits;

/// The largest value a guest may write (NATS' default max payload).
pub(crate) const MAX_VALUE: usize = 1 << 20;

/// The longest key a guest may use: a NATS protocol line (`PUB $KV.<bucket>.<key>
/// <reply> <len>`) must stay under the server's 4 KiB control-line limit.
pub(crate) const MAX_KEY: usize = 3072;

/// Keys and values come from the guest, so they are checked here, at the
/// boundary, before any store sees them: JetStream's key rule (no empty tokens),
/// and a size bound on values.
fn check_write(key: &str, value_len: usize) -> Result<(), kv::KvError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..");
    if !valid {
        return Err(kv::KvError::Unavailable(format!(
            "invalid key {:?}",
            truncate(key)
        )));
    }
    if value_len > MAX_VALUE {
        return Err(kv::KvError::Unavailable(format!(
            "value of {value_len} bytes is over the {MAX_VALUE}-byte limit"
        )));
    }
    Ok(())
}

fn truncate(key: &str) -> &str {
    key.char_indices().nth(64).map_or(key, |(i, _)| &key[..i])
}

/// Called once per CAS retry with the key and the attempt about to be made.
pub(crate) type RetryObserver = Arc<dyn Fn(&str, u32) + Send + Sync>;

/// The store, clock and observer of the manager an instance serves during one call.
#[derive(Clone)]
pub(crate) struct Binding {
    pub kv: Arc<dyn KvStore>,
    pub clock: Arc<dyn Clock>,
    pub retry_observer: Option<RetryObserver>,
}

/// Where the imports' answers come from.
pub(crate) enum Io {
    /// An idle instance serves nobody: any import is a host bug, and traps.
    Unbound,
    Live(Binding),
    /// From a recorded call's steps, which the guest must repeat exactly.
    Replay(Tape),
}

/// What a store (one instance) owns.
pub(crate) struct GuestState {
    pub limits: StoreLimits,
    pub io: Io,
    /// Entries this call learnt from the store (fresh reads, and the acks of its
    /// own writes and deletes), handed to the manager's replica afterwards.
    pub seen: Vec<(String, Entry)>,
    /// The import calls of the current export call, when recording.
    pub recording: Option<Vec<Step>>,
    /// WASI for foreign guests, created on their first WASI call.
    pub sandbox: Option<Box<super::sandbox::Sandbox>>,
}

impl GuestState {
    pub fn new(limits: StoreLimits) -> Self {
        GuestState {
            limits,
            io: Io::Unbound,
            seen: Vec::new(),
            recording: None,
            sandbox: None,
        }
    }

    fn record<T: Serialize>(&mut self, call: ImportCall, result: &T) {
        if let Some(steps) = &mut self.recording {
            let result = serde_json::to_value(result).expect("WIT values serialize");
            steps.push(Step { call, result });
        }
    }
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

fn unbound() -> wasmtime::Error {
    wasmtime::Error::msg("an import was called on an instance serving no call")
}

impl types::Host for GuestState {}

impl kv::Host for GuestState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<kv::Entry, kv::KvError>> {
        let call = ImportCall::KvGet { key: key.clone() };
        let kv = match &mut self.io {
            Io::Replay(tape) => {
                let answer: Result<TraceEntry, kv::KvError> = tape.answer(call)?;
                return Ok(answer.map(kv::Entry::from));
            }
            Io::Live(binding) => binding.kv.clone(),
            Io::Unbound => return Err(unbound()),
        };
        let result = match check_write(&key, 0) {
            Err(e) => Err(e),
            Ok(()) => {
                let got = kv.get(&key).await;
                if let Ok(Some(entry)) = &got {
                    self.seen.push((key, entry.clone()));
                }
                got.map(|e| entry_to_wit(e.as_ref())).map_err(error_to_wit)
            }
        };
        if self.recording.is_some() {
            let traced = result.clone().map(TraceEntry::from);
            self.record(call, &traced);
        }
        Ok(result)
    }

    async fn write_if_revision(
        &mut self,
        key: String,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> wasmtime::Result<Result<u64, kv::KvError>> {
        let kv = match &mut self.io {
            Io::Replay(tape) => {
                return tape.answer(ImportCall::KvWrite {
                    key,
                    value: TraceBytes(value),
                    expected,
                    ttl_seconds,
                });
            }
            Io::Live(binding) => binding.kv.clone(),
            Io::Unbound => return Err(unbound()),
        };
        let value = Bytes::from(value);
        let result = match check_write(&key, value.len()) {
            Err(e) => Err(e),
            Ok(()) => {
                let ttl = (ttl_seconds > 0).then(|| Duration::from_secs(u64::from(ttl_seconds)));
                let written = kv
                    .write_if_revision(&key, value.clone(), expected, ttl)
                    .await;
                if let Ok(revision) = written {
                    self.seen
                        .push((key.clone(), ack(value.clone(), revision, Operation::Put)));
                }
                written.map_err(error_to_wit)
            }
        };
        if self.recording.is_some() {
            let call = ImportCall::KvWrite {
                key,
                value: TraceBytes(value.to_vec()),
                expected,
                ttl_seconds,
            };
            self.record(call, &result);
        }
        Ok(result)
    }

    async fn delete_if_revision(
        &mut self,
        key: String,
        expected: u64,
        why: kv::Removal,
    ) -> wasmtime::Result<Result<u64, kv::KvError>> {
        let call = ImportCall::KvDelete {
            key: key.clone(),
            expected,
            why,
        };
        let kv = match &mut self.io {
            Io::Replay(tape) => return tape.answer(call),
            Io::Live(binding) => binding.kv.clone(),
            Io::Unbound => return Err(unbound()),
        };
        let result = match check_write(&key, 0) {
            Err(e) => Err(e),
            Ok(()) => {
                let (removal, operation) = match why {
                    kv::Removal::Released => (Removal::Released, Operation::Delete),
                    kv::Removal::Expired => (Removal::Expired, Operation::Expire),
                };
                let removed = kv.delete_if_revision(&key, expected, removal).await;
                if let Ok(revision) = removed {
                    self.seen
                        .push((key, ack(Bytes::new(), revision, operation)));
                }
                removed.map_err(error_to_wit)
            }
        };
        self.record(call, &result);
        Ok(result)
    }
}

impl clock::Host for GuestState {
    async fn now(&mut self) -> wasmtime::Result<i64> {
        let now = match &mut self.io {
            Io::Replay(tape) => return tape.answer(ImportCall::ClockNow),
            Io::Live(binding) => binding.clock.now(),
            Io::Unbound => return Err(unbound()),
        };
        self.record(ImportCall::ClockNow, &now);
        Ok(now)
    }
}

impl observer::Host for GuestState {
    async fn cas_retry(&mut self, key: String, attempt: u32) -> wasmtime::Result<()> {
        let call = ImportCall::CasRetry {
            key: key.clone(),
            attempt,
        };
        match &mut self.io {
            Io::Replay(tape) => return tape.answer(call),
            Io::Live(binding) => {
                if let Some(observer) = &binding.retry_observer {
                    observer(&key, attempt);
                }
            }
            Io::Unbound => return Err(unbound()),
        }
        self.record(call, &());
        Ok(())
    }
}
