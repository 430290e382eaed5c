//! holds on JetStream: managers with a warmed replica, their latency probes,
//! the throughput pair and the contention race.

use super::latency::Probe;
use super::throughput::PairOp;
use anyhow::{Context, bail};
use async_trait::async_trait;
use holds::clock::OffsetClock;
use holds::{Announce, Backend, Config, Error, EventKind, Manager, Release, Subscription};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The TTL of the holds the probes place.
pub const TTL: Duration = Duration::from_secs(30);
/// The bench buckets' max age (and longest hold).
pub const TTL_MAX: Duration = Duration::from_secs(3600);
/// Files per probe pool.
const POOL: usize = 64;
/// How long a replica may take to show another manager's write.
const REPLICA_WAIT: Duration = Duration::from_secs(10);
/// How far ahead the take-over manager's clock runs: every 30 s hold is expired to it.
const LATE_BY: Duration = Duration::from_secs(600);

pub fn config(bucket: &str, replica: bool) -> Config {
    let mut config = Config::new(bucket, TTL_MAX);
    config.replica = replica;
    config
}

/// Open a manager; with the replica on, wait until it has replayed the bucket.
pub async fn open(
    client: &async_nats::Client,
    config: Config,
    clock: Option<OffsetClock>,
) -> anyhow::Result<Manager> {
    let replica = config.replica;
    let mut builder = Manager::builder(config);
    if let Some(clock) = clock {
        builder = builder.clock(Arc::new(clock));
    }
    let manager = builder.open(Backend::JetStream(client.clone())).await?;
    if replica {
        warm(&manager).await?;
    }
    Ok(manager)
}

/// `subscribe` waits until the watcher has replayed the bucket: the replica is ready.
pub async fn warm(manager: &Manager) -> anyhow::Result<()> {
    drop(manager.subscribe().await.context("warming the replica")?);
    Ok(())
}

fn announce(agent: &str) -> Announce {
    Announce::new(agent, TTL)
}

/// The managers of the latency probes.
pub struct Holds {
    /// Agent `bench-a`'s manager (replica on): every measured call but the take-over.
    pub main: Manager,
    /// Agent `bench-b`, another process in effect (replica off): holds files.
    pub other: Manager,
    /// Agent `bench-c`, replica on, its clock 10 min ahead: takes expired holds over.
    pub late: Manager,
    /// Agent `bench-b` on the take-over bucket (replica off).
    pub holder: Manager,
}

impl Holds {
    pub async fn open(
        client: &async_nats::Client,
        main_bucket: &str,
        takeover_bucket: &str,
    ) -> anyhow::Result<Holds> {
        let main = open(client, config(main_bucket, true), None).await?;
        let other = open(client, config(main_bucket, false), None).await?;
        let clock = OffsetClock::new();
        clock.advance(LATE_BY);
        let mut late_config = config(takeover_bucket, true);
        // It drains its events only while it prepares a batch.
        late_config.chan_buffer = 1 << 16;
        let late = open(client, late_config, Some(clock)).await?;
        let holder = open(client, config(takeover_bucket, false), None).await?;
        Ok(Holds {
            main,
            other,
            late,
            holder,
        })
    }

    pub async fn probes(&self) -> anyhow::Result<Vec<Box<dyn Probe>>> {
        let pool = |name: &str| -> Vec<String> {
            (0..POOL).map(|i| format!("/bench/{name}/{i}")).collect()
        };
        let m = &self.main;
        // Reused: every file was held and released once (a delete marker).
        let reused = pool("reused");
        for file in &reused {
            m.announce(file, &announce("bench-a")).await?;
            m.release(file, "bench-a").await?;
        }
        let renewed = pool("renewed");
        for file in &renewed {
            m.announce(file, &announce("bench-a")).await?;
        }
        // Held by another: bench-b's holds, seen by main's replica before any sample.
        let foreign = pool("foreign");
        for file in &foreign {
            self.other
                .announce(file, &Announce::new("bench-b", TTL_MAX / 2))
                .await?;
        }
        let deadline = Instant::now() + REPLICA_WAIT;
        for file in &foreign {
            loop {
                let seen = m.who_has_cached(file).await?;
                if seen.is_some_and(|c| c.hold.agent_id == "bench-b") {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "main's replica did not show bench-b's hold on {file} within {REPLICA_WAIT:?}"
                    );
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let subscription = self.late.subscribe().await?;
        Ok(vec![
            Box::new(Vacant { m: m.clone(), n: 0 }),
            Box::new(Reused {
                m: m.clone(),
                files: reused,
                i: 0,
            }),
            Box::new(Renew {
                m: m.clone(),
                files: renewed.clone(),
                i: 0,
            }),
            Box::new(HeldByAnother {
                m: m.clone(),
                files: foreign.clone(),
                i: 0,
            }),
            Box::new(TakeOver {
                late: self.late.clone(),
                holder: self.holder.clone(),
                events: subscription,
                ready: VecDeque::new(),
                n: 0,
            }),
            Box::new(ReleaseProbe {
                m: m.clone(),
                files: pool("released"),
                i: 0,
            }),
            Box::new(WhoHas {
                m: m.clone(),
                files: foreign,
                i: 0,
            }),
        ])
    }

    pub async fn close(&self) {
        for m in [&self.main, &self.other, &self.late, &self.holder] {
            m.close().await;
        }
    }
}

/// Announce and release on the agent's own files, through `m`.
pub fn pair_op(m: &Manager, run: &'static str) -> PairOp {
    let m = m.clone();
    Arc::new(move |agent, i| {
        let m = m.clone();
        Box::pin(async move {
            let file = format!("/bench/{run}/a{agent}/f{}", i % 4);
            let agent = format!("{run}-{agent}");
            m.announce(&file, &Announce::new(agent.as_str(), TTL))
                .await?;
            match m.release(&file, &agent).await? {
                Release::Released { .. } => Ok(()),
                Release::NotHeld => bail!("{agent} did not hold {file} at its release"),
            }
        })
    })
}

/// `agents` agents announce one vacant file at once: how many got it.
pub async fn race(m: &Manager, file: &str, agents: usize) -> anyhow::Result<usize> {
    let barrier = Arc::new(tokio::sync::Barrier::new(agents));
    let tasks: Vec<_> = (0..agents)
        .map(|i| {
            let (m, barrier, file) = (m.clone(), barrier.clone(), file.to_string());
            tokio::spawn(async move {
                barrier.wait().await;
                m.announce(&file, &Announce::new(format!("racer-{i}"), TTL))
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await? {
            Ok(_) => winners += 1,
            Err(Error::HeldByAnother(_)) => {}
            Err(e) => bail!("a racer failed: {e}"),
        }
    }
    Ok(winners)
}

/// Announce on a never-used file.
struct Vacant {
    m: Manager,
    n: u64,
}

#[async_trait]
impl Probe for Vacant {
    fn name(&self) -> &'static str {
        "holds_vacant_announce"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.n += 1;
        let file = format!("/bench/vacant/{}", self.n);
        let start = Instant::now();
        self.m.announce(&file, &announce("bench-a")).await?;
        Ok(start.elapsed())
    }
}

/// Announce on a file that was held and released before (its key has a delete
/// marker); released again afterwards, untimed.
struct Reused {
    m: Manager,
    files: Vec<String>,
    i: usize,
}

#[async_trait]
impl Probe for Reused {
    fn name(&self) -> &'static str {
        "holds_reused_announce"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let file = &self.files[self.i % self.files.len()];
        let start = Instant::now();
        self.m.announce(file, &announce("bench-a")).await?;
        let elapsed = start.elapsed();
        self.m.release(file, "bench-a").await?;
        Ok(elapsed)
    }
}

/// Announce by the holder itself: a renewal.
struct Renew {
    m: Manager,
    files: Vec<String>,
    i: usize,
}

#[async_trait]
impl Probe for Renew {
    fn name(&self) -> &'static str {
        "holds_renew"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let file = &self.files[self.i % self.files.len()];
        let start = Instant::now();
        self.m.announce(file, &announce("bench-a")).await?;
        Ok(start.elapsed())
    }
}

/// Announce on a file another agent holds (already in the replica): refused,
/// after one confirming read.
struct HeldByAnother {
    m: Manager,
    files: Vec<String>,
    i: usize,
}

#[async_trait]
impl Probe for HeldByAnother {
    fn name(&self) -> &'static str {
        "holds_held_by_another"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let file = &self.files[self.i % self.files.len()];
        let start = Instant::now();
        let outcome = self.m.announce(file, &announce("bench-a")).await;
        let elapsed = start.elapsed();
        match outcome {
            Err(Error::HeldByAnother(_)) => Ok(elapsed),
            Ok(_) => bail!("bench-a got {file}, which bench-b holds"),
            Err(e) => Err(e.into()),
        }
    }
}

/// Take-over of an expired hold: `holder` (bench-b) places a batch of holds,
/// `late`'s replica sees them (its subscription shows each one), then bench-c,
/// whose clock runs 10 minutes ahead, takes each over.
struct TakeOver {
    late: Manager,
    holder: Manager,
    events: Subscription,
    ready: VecDeque<String>,
    n: u64,
}

/// Holds placed per batch.
const TAKEOVER_BATCH: usize = 50;

impl TakeOver {
    async fn prepare(&mut self) -> anyhow::Result<()> {
        let mut pending = HashSet::new();
        for _ in 0..TAKEOVER_BATCH {
            self.n += 1;
            let file = format!("/bench/takeover/{}", self.n);
            self.holder.announce(&file, &announce("bench-b")).await?;
            pending.insert(file.clone());
            self.ready.push_back(file);
        }
        while !pending.is_empty() {
            let event = tokio::time::timeout(REPLICA_WAIT, self.events.next())
                .await
                .context("the take-over manager's replica did not show bench-b's holds")?
                .context("the take-over manager's subscription ended")??;
            if let EventKind::Announced(hold) = &event.kind
                && hold.agent_id == "bench-b"
            {
                pending.remove(&event.file);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Probe for TakeOver {
    fn name(&self) -> &'static str {
        "holds_takeover_expired"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        if self.ready.is_empty() {
            self.prepare().await?;
        }
        let file = self.ready.pop_front().expect("prepared");
        let start = Instant::now();
        let claim = self.late.announce(&file, &announce("bench-c")).await?;
        let elapsed = start.elapsed();
        if claim.hold.agent_id != "bench-c" {
            bail!("take-over of {file} returned {claim:?}");
        }
        Ok(elapsed)
    }
}

/// Release of the agent's own live hold (placed untimed first).
struct ReleaseProbe {
    m: Manager,
    files: Vec<String>,
    i: usize,
}

#[async_trait]
impl Probe for ReleaseProbe {
    fn name(&self) -> &'static str {
        "holds_release"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let file = &self.files[self.i % self.files.len()];
        self.m.announce(file, &announce("bench-a")).await?;
        let start = Instant::now();
        let outcome = self.m.release(file, "bench-a").await?;
        let elapsed = start.elapsed();
        match outcome {
            Release::Released { .. } => Ok(elapsed),
            Release::NotHeld => bail!("bench-a did not hold {file} at its release"),
        }
    }
}

/// who-has with its fresh read (informational: one round trip plus the guest).
struct WhoHas {
    m: Manager,
    files: Vec<String>,
    i: usize,
}

#[async_trait]
impl Probe for WhoHas {
    fn name(&self) -> &'static str {
        "holds_who_has"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let file = &self.files[self.i % self.files.len()];
        let start = Instant::now();
        let claim = self.m.who_has(file).await?;
        let elapsed = start.elapsed();
        if claim.is_none() {
            bail!("who-has found nobody on {file}");
        }
        Ok(elapsed)
    }
}
