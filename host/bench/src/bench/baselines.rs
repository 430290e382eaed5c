//! Raw async-nats baselines: what the same operations cost without holds.
//!
//! They run on their own bucket, created by the same code as the holds buckets
//! (history 1, file storage, limit markers), through async-nats' KV API as any
//! client would use it.

use super::latency::Probe;
use super::throughput::PairOp;
use anyhow::{Context, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use holds::kv::{BucketSpec, JetStreamKv};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A value the size of a stored hold (what holds writes for a 30 s hold).
pub const PAYLOAD: &[u8] = br#"{"agent_id":"bench-a","claimed_at":"2026-11-26T06:00:00.123456789Z","expires_at":"2026-11-26T06:00:30.123456789Z","checkout_path":"","ttl":30000000000}"#;

/// The raw bucket and its async-nats handles.
#[derive(Clone)]
pub struct Raw {
    pub kv: kv::Store,
    pub context: jetstream::Context,
    subject_prefix: String,
    /// The task draining this bucket's watch, when it has one.
    _watch: Option<Arc<AbortOnDrop>>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Raw {
    /// Create the bucket exactly as holds creates its own, then open it with
    /// async-nats. `watched`: also watch it on the same connection (`watch_all`,
    /// every change received and dropped), as a holds replica does, to show what
    /// the watch alone costs a writer.
    pub async fn open(
        client: async_nats::Client,
        spec: &BucketSpec,
        watched: bool,
    ) -> anyhow::Result<Raw> {
        JetStreamKv::open(client.clone(), spec)
            .await
            .context("creating the raw bucket")?;
        let context = jetstream::new(client);
        let kv = context
            .get_key_value(&spec.name)
            .await
            .context("opening the raw bucket")?;
        let watch = if watched {
            let mut watch = kv.watch_all().await.context("watching the raw bucket")?;
            Some(Arc::new(AbortOnDrop(tokio::spawn(async move {
                while let Some(change) = watch.next().await {
                    std::hint::black_box(change.ok());
                }
            }))))
        } else {
            None
        };
        Ok(Raw {
            kv,
            context,
            subject_prefix: format!("$KV.{}.", spec.name),
            _watch: watch,
        })
    }

    /// The write probe alone, named for a watched bucket.
    pub fn watched_write_probe(&self) -> Box<dyn Probe> {
        Box::new(Write {
            raw: self.clone(),
            n: 0,
            name: "raw_write_watched",
        })
    }

    pub fn probes(&self) -> Vec<Box<dyn Probe>> {
        vec![
            Box::new(Get {
                raw: self.clone(),
                key: "get-target".into(),
                ready: false,
            }),
            Box::new(Write {
                raw: self.clone(),
                n: 0,
                name: "raw_write",
            }),
            Box::new(WriteTtl {
                raw: self.clone(),
                n: 0,
            }),
            Box::new(DeleteIfRevision {
                raw: self.clone(),
                n: 0,
            }),
            Box::new(GoCreate {
                raw: self.clone(),
                n: 0,
                released: false,
            }),
            Box::new(GoCreate {
                raw: self.clone(),
                n: 0,
                released: true,
            }),
        ]
    }

    /// One raw write+delete pair per call: `put`, then `delete` (what a lock
    /// without holds' checks would cost), on the agent's own keys.
    pub fn pair_op(&self, run: &'static str) -> PairOp {
        let kv = self.kv.clone();
        Arc::new(move |agent, i| {
            let kv = kv.clone();
            Box::pin(async move {
                let key = format!("{run}.a{agent}.f{}", i % 4);
                kv.put(&key, Bytes::from_static(PAYLOAD)).await?;
                kv.delete(&key).await?;
                Ok(())
            })
        })
    }
}

/// `get` of an existing key.
struct Get {
    raw: Raw,
    key: String,
    ready: bool,
}

#[async_trait]
impl Probe for Get {
    fn name(&self) -> &'static str {
        "raw_get"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        if !self.ready {
            self.raw
                .kv
                .put(&self.key, Bytes::from_static(PAYLOAD))
                .await?;
            self.ready = true;
        }
        let start = Instant::now();
        let got = self.raw.kv.get(&self.key).await?;
        let elapsed = start.elapsed();
        if got.is_none() {
            bail!("the key written for raw_get is missing");
        }
        Ok(elapsed)
    }
}

/// Write-if-revision 0 (`update(key, value, 0)`) on a never-used key: one round trip.
struct Write {
    raw: Raw,
    n: u64,
    name: &'static str,
}

#[async_trait]
impl Probe for Write {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.n += 1;
        let key = format!("w.{}", self.n);
        let start = Instant::now();
        self.raw
            .kv
            .update(&key, Bytes::from_static(PAYLOAD), 0)
            .await?;
        Ok(start.elapsed())
    }
}

/// A revision-gated delete of a key just written (untimed): what a release is
/// at the store.
struct DeleteIfRevision {
    raw: Raw,
    n: u64,
}

#[async_trait]
impl Probe for DeleteIfRevision {
    fn name(&self) -> &'static str {
        "raw_delete_if_revision"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.n += 1;
        let key = format!("d.{}", self.n);
        let revision = self.raw.kv.put(&key, Bytes::from_static(PAYLOAD)).await?;
        let start = Instant::now();
        self.raw
            .kv
            .delete_expect_revision(&key, Some(revision))
            .await?;
        Ok(start.elapsed())
    }
}

/// The same write with a per-message TTL, as holds publishes it (diagnostic: the
/// server's cost of `Nats-TTL` on a bucket with limit markers).
struct WriteTtl {
    raw: Raw,
    n: u64,
}

#[async_trait]
impl Probe for WriteTtl {
    fn name(&self) -> &'static str {
        "raw_write_ttl"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.n += 1;
        let subject = format!("{}t.{}", self.raw.subject_prefix, self.n);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
        headers.insert("Nats-TTL", "30s");
        let start = Instant::now();
        self.raw
            .context
            .publish_with_headers(subject, headers, Bytes::from_static(PAYLOAD))
            .await?
            .await?;
        Ok(start.elapsed())
    }
}

/// The Go package's announce on a vacant file: `get`, then `create`. On a key
/// that was written and deleted before, `create` needs a failed write, a read and
/// a second write: four round trips in all.
struct GoCreate {
    raw: Raw,
    n: u64,
    released: bool,
}

#[async_trait]
impl Probe for GoCreate {
    fn name(&self) -> &'static str {
        if self.released {
            "raw_go_get_create_released"
        } else {
            "raw_go_get_create_fresh"
        }
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.n += 1;
        let key = if self.released {
            let key = format!("gr.{}", self.n);
            self.raw.kv.put(&key, Bytes::from_static(PAYLOAD)).await?;
            self.raw.kv.delete(&key).await?;
            key
        } else {
            format!("gf.{}", self.n)
        };
        let start = Instant::now();
        if self.raw.kv.get(&key).await?.is_some() {
            bail!("{key} should be vacant");
        }
        self.raw
            .kv
            .create(&key, Bytes::from_static(PAYLOAD))
            .await?;
        Ok(start.elapsed())
    }
}
