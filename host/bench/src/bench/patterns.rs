//! What an announce costs against the number of live pattern holds in the
//! bucket (0, 10, 1000): in process (a manager with a warmed replica, the
//! way agents' long-lived hosts run) and as a fresh CLI process; and how many
//! store calls each makes, counted from a recorded trace.

use super::holds::{TTL, config, open};
use super::latency::Probe;
use super::oneshot::time_once;
use super::stats::{Summary, summarize};
use anyhow::Context;
use async_trait::async_trait;
use holds::{Announce, Backend, Manager};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The pattern counts measured, and each count's metric names.
pub const COUNTS: [(usize, &str, &str); 3] = [
    (
        0,
        "holds_announce_0_patterns",
        "holds_dir_announce_0_patterns",
    ),
    (
        10,
        "holds_announce_10_patterns",
        "holds_dir_announce_10_patterns",
    ),
    (
        1000,
        "holds_announce_1000_patterns",
        "holds_dir_announce_1000_patterns",
    ),
];

/// One pattern count's figures.
#[derive(Serialize)]
pub struct PatternCost {
    pub patterns: usize,
    /// A fresh `holds announce FILE` process, wall time.
    pub cli_announce: Summary,
    /// Store calls of one in-process exact-file announce (kv imports but the
    /// scans, which the replica answers).
    pub library_store_calls: usize,
    /// Scans of that announce, answered by the replica without a round trip.
    pub library_replica_scans: usize,
    /// Store calls of one CLI announce (no replica: every kv import, a scan
    /// being a JetStream consumer created, read and deleted).
    pub cli_store_calls: usize,
}

/// A bucket holding `n` other agents' directory holds, and the managers and
/// probes measuring announces in it.
pub struct Bucket {
    pub patterns: usize,
    pub name: String,
    main: Manager,
    other: Manager,
}

impl Bucket {
    pub async fn open(client: &async_nats::Client, name: String, n: usize) -> anyhow::Result<Self> {
        let main = open(client, config(&name, true), None).await?;
        let other = open(client, config(&name, true), None).await?;
        let long = Announce::new("bench-p", super::holds::TTL_MAX / 2);
        for i in 0..n {
            other
                .announce(&format!("/bench/pat/{i}/"), &long)
                .await
                .with_context(|| format!("placing pattern {i}"))?;
        }
        // The measuring manager's replica has them all before any sample.
        let deadline = Instant::now() + Duration::from_secs(30);
        while main.list().await?.len() < n {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the replica never showed {n} patterns"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Bucket {
            patterns: n,
            name,
            main,
            other,
        })
    }

    pub fn probes(&self, names: (&'static str, &'static str)) -> Vec<Box<dyn Probe>> {
        [(names.0, false), (names.1, true)]
            .into_iter()
            .map(|(name, directory)| {
                Box::new(NewAnnounce {
                    m: self.main.clone(),
                    name,
                    directory,
                    n: 0,
                }) as Box<dyn Probe>
            })
            .collect()
    }

    /// Store calls of one in-process announce: (round trips, replica scans).
    pub async fn library_calls(
        &self,
        client: &async_nats::Client,
    ) -> anyhow::Result<(usize, usize)> {
        let sink = Sink::default();
        let manager = Manager::builder(config(&self.name, true))
            .record(sink.clone())
            .open(Backend::JetStream(client.clone()))
            .await?;
        super::holds::warm(&manager).await?;
        manager
            .announce("/bench/counted/library", &Announce::new("bench-a", TTL))
            .await?;
        manager.close().await;
        let text = String::from_utf8(sink.0.lock().unwrap().clone())?;
        let calls = kv_imports(&text, "announce");
        let scans = calls.iter().filter(|c| c.as_str() == "kv.scan").count();
        Ok((calls.len() - scans, scans))
    }

    pub async fn close(&self) {
        self.main.close().await;
        self.other.close().await;
    }
}

/// The kv imports of every `export` call in a trace (JSON lines), in order.
fn kv_imports(trace: &str, export: &str) -> Vec<String> {
    trace
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["export"] == export)
        .flat_map(|record| {
            record["steps"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|step| step["import"].as_str().map(str::to_string))
                .filter(|import| import.starts_with("kv."))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A trace written into memory.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `samples` fresh `holds announce` processes on `bucket`, each for a new file;
/// then one recorded, to count its store calls.
pub async fn cli(
    holds: PathBuf,
    url: String,
    bucket: String,
    samples: usize,
    cache: PathBuf,
) -> anyhow::Result<(Summary, usize)> {
    tokio::task::spawn_blocking(move || {
        let args = |file: String, extra: &[String]| -> Vec<String> {
            let mut args: Vec<String> = [
                "announce",
                &file,
                "--agent",
                "bench-cli",
                "--nats",
                &url,
                "--bucket",
                &bucket,
            ]
            .map(String::from)
            .to_vec();
            args.extend_from_slice(extra);
            args
        };
        for i in 0..2 {
            time_once(&holds, &args(format!("/bench/cli/warm{i}"), &[]), &cache, 0)?;
        }
        let mut taken = Vec::with_capacity(samples);
        for i in 0..samples {
            taken.push(time_once(
                &holds,
                &args(format!("/bench/cli/{i}"), &[]),
                &cache,
                0,
            )?);
        }
        let trace = cache.join(format!("announce-{bucket}.trace"));
        let record = ["--record".to_string(), trace.display().to_string()];
        time_once(
            &holds,
            &args("/bench/cli/counted".into(), &record),
            &cache,
            0,
        )?;
        let text = std::fs::read_to_string(&trace)?;
        Ok((summarize(&taken), kv_imports(&text, "announce").len()))
    })
    .await?
}

/// Announce of a never-used file, or of a never-used directory (a pattern hold
/// of its own, released afterwards, untimed, so the pattern count stays as
/// set), by an agent holding none of the patterns.
struct NewAnnounce {
    m: Manager,
    name: &'static str,
    directory: bool,
    n: u64,
}

#[async_trait]
impl Probe for NewAnnounce {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.n += 1;
        let held = match self.directory {
            true => format!("/bench/dirs/{}/", self.n),
            false => format!("/bench/files/{}", self.n),
        };
        let start = Instant::now();
        self.m
            .announce(&held, &Announce::new("bench-a", TTL))
            .await?;
        let elapsed = start.elapsed();
        if self.directory {
            self.m.release(&held, "bench-a").await?;
        }
        Ok(elapsed)
    }
}
