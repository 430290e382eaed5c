//! The price of the sandbox: the same guest logic run as the component (a
//! [`Manager`] with its replica off) and natively (the `holds_guest` library over
//! the same [`KvStore`], with the system clock), on the same workload.

use super::latency::Probe;
use async_trait::async_trait;
use bytes::Bytes;
use holds::clock::{Clock, SystemClock};
use holds::kv::{self, KvStore};
use holds::{Announce, Backend, Manager};
use holds_guest as guest;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The guest's imports over a [`KvStore`] and the system clock, as the host's
/// component imports implement them (minus recording and the replica feed).
pub struct NativeHost {
    kv: Arc<dyn KvStore>,
    clock: SystemClock,
}

impl NativeHost {
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        NativeHost {
            kv,
            clock: SystemClock,
        }
    }
}

fn entry(found: Option<kv::Entry>) -> guest::Entry {
    match found {
        None => guest::Entry::missing(),
        Some(e) => guest::Entry {
            found: true,
            value: e.value.to_vec(),
            revision: e.revision,
            operation: match e.operation {
                kv::Operation::Put => guest::Operation::Put,
                kv::Operation::Delete => guest::Operation::Delete,
                kv::Operation::Purge => guest::Operation::Purge,
                kv::Operation::Expire => guest::Operation::Expire,
            },
        },
    }
}

fn error(e: kv::KvError) -> guest::KvError {
    match e.kind() {
        kv::KvErrorKind::WrongRevision => guest::KvError::WrongRevision,
        kv::KvErrorKind::Unavailable => guest::KvError::Unavailable(e.to_string()),
        kv::KvErrorKind::Unsupported => guest::KvError::Unsupported,
        kv::KvErrorKind::NotStored(why) => guest::KvError::NotStored(guest::NotStored {
            why: match why {
                kv::Unsent::Busy => guest::Unsent::Busy,
                kv::Unsent::LeaderChanging => guest::Unsent::LeaderChanging,
                kv::Unsent::NoStream => guest::Unsent::NoStream,
            },
            detail: e.to_string(),
        }),
    }
}

impl guest::Host for NativeHost {
    async fn get(&mut self, key: &str) -> Result<guest::Entry, guest::KvError> {
        self.kv.get(key).await.map(entry).map_err(error)
    }

    async fn write_if_revision(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> Result<u64, guest::KvError> {
        let ttl = (ttl_seconds > 0).then(|| Duration::from_secs(u64::from(ttl_seconds)));
        self.kv
            .write_if_revision(key, Bytes::from(value), expected, ttl)
            .await
            .map_err(error)
    }

    async fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: guest::Removal,
        note: Vec<u8>,
    ) -> Result<u64, guest::KvError> {
        let why = match why {
            guest::Removal::Released => kv::Removal::Released,
            guest::Removal::Expired => kv::Removal::Expired,
        };
        self.kv
            .delete_if_revision(key, expected, why, Bytes::from(note))
            .await
            .map_err(error)
    }

    async fn get_many(&mut self, keys: &[String]) -> Result<Vec<guest::Entry>, guest::KvError> {
        let found = self.kv.get_many(keys).await.map_err(error)?;
        Ok(found.into_iter().map(entry).collect())
    }

    async fn write_batch(&mut self, writes: Vec<guest::Write>) -> Result<Vec<u64>, guest::KvError> {
        let writes: Vec<kv::BatchWrite> = writes
            .into_iter()
            .map(|w| kv::BatchWrite {
                key: w.key,
                value: Bytes::from(w.value),
                expected: w.expected,
                ttl: (w.ttl_seconds > 0).then(|| Duration::from_secs(u64::from(w.ttl_seconds))),
            })
            .collect();
        self.kv.write_batch(&writes).await.map_err(error)
    }

    async fn scan(
        &mut self,
        prefix: &str,
        _through: u64,
    ) -> Result<Vec<guest::KeyedEntry>, guest::KvError> {
        let found = self.kv.scan(prefix).await.map_err(error)?;
        Ok(found
            .into_iter()
            .map(|(key, e)| guest::KeyedEntry {
                key,
                entry: entry(Some(e)),
            })
            .collect())
    }

    fn now(&mut self) -> guest::Timestamp {
        self.clock.now()
    }

    async fn pause(&mut self, after: u64) -> bool {
        tokio::time::sleep(Duration::from_nanos(after)).await;
        true
    }

    fn cas_retry(&mut self, _key: &str, _attempt: u32) {}
}

/// Files each side cycles through.
const POOL: usize = 64;
const AGENT: &str = "bench-n";

/// The component and native announce probes over `kv` (`label`: `jetstream` or
/// `memory`). Both announce a previously released file (read + write) and
/// release it again untimed.
pub async fn probes(
    kv: Arc<dyn KvStore>,
    label: &'static str,
    ttl_max: Duration,
) -> anyhow::Result<Vec<Box<dyn Probe>>> {
    let mut config = holds::Config::new("unused", ttl_max);
    config.replica = false;
    let manager = Manager::open(config, Backend::Store(kv.clone())).await?;
    let files = |side: &str| -> Vec<String> {
        (0..POOL)
            .map(|i| format!("/bench/native/{label}/{side}/{i}"))
            .collect()
    };
    let (component, native) = match label {
        "jetstream" => ("component_announce_jetstream", "native_announce_jetstream"),
        _ => ("component_announce_memory", "native_announce_memory"),
    };
    Ok(vec![
        Box::new(ComponentCycle {
            name: component,
            manager,
            files: files("component"),
            i: 0,
        }),
        Box::new(NativeCycle {
            name: native,
            host: NativeHost::new(kv),
            ttl_max: ttl_max.as_nanos() as u64,
            files: files("native"),
            i: 0,
        }),
    ])
}

struct ComponentCycle {
    name: &'static str,
    manager: Manager,
    files: Vec<String>,
    i: usize,
}

#[async_trait]
impl Probe for ComponentCycle {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let file = &self.files[self.i % self.files.len()];
        let start = Instant::now();
        self.manager
            .announce(file, &Announce::new(AGENT, super::holds::TTL))
            .await?;
        let elapsed = start.elapsed();
        self.manager.release(file, AGENT).await?;
        Ok(elapsed)
    }
}

struct NativeCycle {
    name: &'static str,
    host: NativeHost,
    ttl_max: u64,
    files: Vec<String>,
    i: usize,
}

#[async_trait]
impl Probe for NativeCycle {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let file = &self.files[self.i % self.files.len()];
        let start = Instant::now();
        let request = guest::AnnounceRequest {
            file: file.clone(),
            agent_id: AGENT.to_string(),
            ttl: super::holds::TTL.as_nanos() as u64,
            checkout_path: String::new(),
            mode: guest::Mode::Exclusive,
        };
        guest::announce(&mut self.host, &request, self.ttl_max, None)
            .await
            .map_err(|e| anyhow::anyhow!("native announce: {e:?}"))?;
        let elapsed = start.elapsed();
        guest::release(&mut self.host, file, AGENT, None)
            .await
            .map_err(|e| anyhow::anyhow!("native release: {e:?}"))?;
        Ok(elapsed)
    }
}
