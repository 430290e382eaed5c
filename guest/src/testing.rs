//! An in-memory host for the unit tests.

use crate::host::Host;
use crate::model::{
    AnnounceRequest, Entry, KeyedEntry, KvError, Mode, NotStored, Operation, Removal, Timestamp,
    Unsent, Write,
};
use std::collections::HashMap;
use std::future::{Future, ready};

#[derive(Debug, PartialEq, Eq)]
pub enum Call {
    Get(String),
    Write {
        key: String,
        expected: u64,
        ttl_seconds: u32,
    },
    Delete {
        key: String,
        expected: u64,
    },
    GetMany(Vec<String>),
    WriteBatch(usize),
    Scan {
        prefix: String,
        through: u64,
    },
}

/// Runs before a write to a key lands (another client racing it).
pub type OnWrite = Box<dyn FnMut(&mut MemoryHost, &str) + Send>;

pub struct MemoryHost {
    pub now: Timestamp,
    pub entries: HashMap<String, Entry>,
    pub revision: u64,
    pub calls: Vec<Call>,
    /// Writes/deletes still to fail with a revision conflict.
    pub conflicts: u32,
    pub retries: Vec<u32>,
    /// Whether batches are written atomically (else: `unsupported`).
    pub atomic: bool,
    pub on_write: Option<OnWrite>,
    /// Writes still to be answered `not-stored`, first to last.
    pub not_stored: Vec<Unsent>,
    /// Pauses the host has waited (ns).
    pub pauses: Vec<u64>,
    /// Pause time (ns) left before the call's deadline.
    pub pause_budget: u64,
}

pub fn request(file: &str, agent: &str, ttl: u64) -> AnnounceRequest {
    AnnounceRequest {
        file: file.into(),
        agent_id: agent.into(),
        ttl,
        checkout_path: "/co".into(),
        mode: Mode::Exclusive,
    }
}

/// A shared hold's request.
pub fn shared(file: &str, agent: &str, ttl: u64) -> AnnounceRequest {
    AnnounceRequest {
        mode: Mode::Shared,
        ..request(file, agent, ttl)
    }
}

impl MemoryHost {
    pub fn new(now: Timestamp) -> Self {
        MemoryHost {
            now,
            entries: HashMap::new(),
            revision: 0,
            calls: Vec::new(),
            conflicts: 0,
            retries: Vec::new(),
            atomic: true,
            on_write: None,
            not_stored: Vec::new(),
            pauses: Vec::new(),
            pause_budget: u64::MAX,
        }
    }

    /// Calls matching `pred`.
    pub fn count(&self, pred: impl Fn(&Call) -> bool) -> usize {
        self.calls.iter().filter(|c| pred(c)).count()
    }

    fn race(&mut self, key: &str) {
        if let Some(mut hook) = self.on_write.take() {
            hook(self, key);
            self.on_write = Some(hook);
        }
    }

    pub fn entry(&self, key: &str) -> Entry {
        self.entries
            .get(key)
            .cloned()
            .unwrap_or_else(Entry::missing)
    }

    fn set(&mut self, key: &str, value: Vec<u8>, operation: Operation) -> u64 {
        self.revision += 1;
        let entry = Entry {
            found: true,
            value,
            revision: self.revision,
            operation,
        };
        self.entries.insert(key.to_string(), entry);
        self.revision
    }

    pub fn put_raw(&mut self, key: &str, value: &[u8]) {
        self.set(key, value.to_vec(), Operation::Put);
    }

    pub fn delete(&mut self, key: &str) {
        self.set(key, Vec::new(), Operation::Delete);
    }

    pub fn gets(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| matches!(c, Call::Get(_)))
            .count()
    }

    pub fn writes(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| matches!(c, Call::Write { .. }))
            .count()
    }

    fn check(&mut self, key: &str, expected: u64) -> Result<(), KvError> {
        if !self.not_stored.is_empty() {
            let why = self.not_stored.remove(0);
            return Err(KvError::NotStored(NotStored {
                why,
                detail: format!("{why:?}").to_lowercase(),
            }));
        }
        if self.conflicts > 0 {
            self.conflicts -= 1;
            return Err(KvError::WrongRevision);
        }
        if self.entry(key).revision != expected {
            return Err(KvError::WrongRevision);
        }
        Ok(())
    }
}

impl Host for MemoryHost {
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Entry, KvError>> + Send {
        self.calls.push(Call::Get(key.into()));
        ready(Ok(self.entry(key)))
    }

    fn write_if_revision(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> impl Future<Output = Result<u64, KvError>> + Send {
        self.calls.push(Call::Write {
            key: key.into(),
            expected,
            ttl_seconds,
        });
        self.race(key);
        ready(
            self.check(key, expected)
                .map(|()| self.set(key, value, Operation::Put)),
        )
    }

    fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Vec<u8>,
    ) -> impl Future<Output = Result<u64, KvError>> + Send {
        self.calls.push(Call::Delete {
            key: key.into(),
            expected,
        });
        let op = match why {
            Removal::Released => Operation::Delete,
            Removal::Expired => Operation::Expire,
        };
        ready(self.check(key, expected).map(|()| self.set(key, note, op)))
    }

    fn get_many(
        &mut self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Entry>, KvError>> + Send {
        self.calls.push(Call::GetMany(keys.to_vec()));
        ready(Ok(keys.iter().map(|k| self.entry(k)).collect()))
    }

    fn write_batch(
        &mut self,
        writes: Vec<Write>,
    ) -> impl Future<Output = Result<Vec<u64>, KvError>> + Send {
        self.calls.push(Call::WriteBatch(writes.len()));
        if !self.atomic {
            return ready(Err(KvError::Unsupported));
        }
        if let Some(why) = (!self.not_stored.is_empty()).then(|| self.not_stored.remove(0)) {
            return ready(Err(KvError::NotStored(NotStored {
                why,
                detail: format!("{why:?}").to_lowercase(),
            })));
        }
        if self.conflicts > 0 {
            self.conflicts -= 1;
            return ready(Err(KvError::WrongRevision));
        }
        if writes
            .iter()
            .any(|w| self.entry(&w.key).revision != w.expected)
        {
            return ready(Err(KvError::WrongRevision));
        }
        ready(Ok(writes
            .into_iter()
            .map(|w| self.set(&w.key, w.value, Operation::Put))
            .collect()))
    }

    fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> impl Future<Output = Result<Vec<KeyedEntry>, KvError>> + Send {
        self.calls.push(Call::Scan {
            prefix: prefix.into(),
            through,
        });
        let mut found: Vec<KeyedEntry> = self
            .entries
            .iter()
            .filter(|(k, e)| k.starts_with(prefix) && e.is_value())
            .map(|(k, e)| KeyedEntry {
                key: k.clone(),
                entry: e.clone(),
            })
            .collect();
        found.sort_by(|a, b| a.key.cmp(&b.key));
        ready(Ok(found))
    }

    fn now(&mut self) -> Timestamp {
        self.now
    }

    fn pause(&mut self, after: u64) -> impl Future<Output = bool> + Send {
        let fits = after <= self.pause_budget;
        if fits {
            self.pause_budget -= after;
            self.pauses.push(after);
        }
        ready(fits)
    }

    fn cas_retry(&mut self, _key: &str, attempt: u32) {
        self.retries.push(attempt);
    }
}
