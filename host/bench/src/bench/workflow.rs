//! The agent workflow on JetStream: a multi-file claim against the same files
//! announced one after another, and how soon a waiter holds a released file.

use super::latency::Probe;
use anyhow::bail;
use async_trait::async_trait;
use holds::{Announce, Error, Manager};
use std::time::{Duration, Instant};

const AGENT: &str = "bench-w";
const HOLDER: &str = "bench-h";
/// Claim sets each probe cycles through (each released again, untimed).
const SETS: usize = 8;
/// How long a waiter is given to queue before the holder releases.
const QUEUE_TIME: Duration = Duration::from_millis(20);

fn announce(agent: &str) -> Announce {
    Announce::new(agent, super::holds::TTL)
}

fn sets(name: &str, files: usize) -> Vec<Vec<String>> {
    (0..SETS)
        .map(|s| {
            (0..files)
                .map(|f| format!("/bench/{name}/{s}/{f}"))
                .collect()
        })
        .collect()
}

/// `m` (replica on, warm): the claim and sequential probes; `waiter` and
/// `holder` (both replica on): the wake-up probe.
pub fn probes(m: &Manager, waiter: &Manager, holder: &Manager) -> Vec<Box<dyn Probe>> {
    let mut probes: Vec<Box<dyn Probe>> = Vec::new();
    for (files, claim, sequential) in [
        (4, "holds_claim_4_files", "holds_announce_4_sequential"),
        (16, "holds_claim_16_files", "holds_announce_16_sequential"),
    ] {
        for (name, one_claim) in [(claim, true), (sequential, false)] {
            probes.push(Box::new(SetProbe {
                name,
                m: m.clone(),
                sets: sets(name, files),
                i: 0,
                one_claim,
            }));
        }
    }
    probes.push(Box::new(WakeUp {
        waiter: waiter.clone(),
        holder: holder.clone(),
        n: 0,
    }));
    probes
}

async fn release_all(m: &Manager, files: &[String]) -> anyhow::Result<()> {
    for file in files {
        m.release(file, AGENT).await?;
    }
    Ok(())
}

/// A set of files taken by one all-or-nothing claim, or announced one after
/// another (no rollback on a refusal); released again, untimed.
struct SetProbe {
    name: &'static str,
    m: Manager,
    sets: Vec<Vec<String>>,
    i: usize,
    one_claim: bool,
}

#[async_trait]
impl Probe for SetProbe {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.i += 1;
        let files = &self.sets[self.i % SETS];
        let start = Instant::now();
        if self.one_claim {
            let claimed = self.m.claim(files, &announce(AGENT)).await?;
            if !claimed.atomic || claimed.claims.len() != files.len() {
                bail!("{}: claimed {claimed:?}", self.name);
            }
        } else {
            for file in files {
                self.m.announce(file, &announce(AGENT)).await?;
            }
        }
        let elapsed = start.elapsed();
        release_all(&self.m, files).await?;
        Ok(elapsed)
    }
}

/// From the holder's release call to the waiter holding the file: the release's
/// round trip, the watch delivering its event, and the waiter's claim.
struct WakeUp {
    waiter: Manager,
    holder: Manager,
    n: u64,
}

#[async_trait]
impl Probe for WakeUp {
    fn name(&self) -> &'static str {
        "holds_wait_wakeup"
    }

    async fn sample(&mut self) -> anyhow::Result<Duration> {
        self.n += 1;
        let file = format!("/bench/wakeup/{}", self.n);
        self.holder.announce(&file, &announce(HOLDER)).await?;
        let waiter = self.waiter.clone();
        let wanted = file.clone();
        let waiting = tokio::spawn(async move {
            let claimed = waiter
                .claim_wait(
                    &[wanted.as_str()],
                    &announce(AGENT),
                    Duration::from_secs(10),
                )
                .await;
            (claimed, Instant::now())
        });
        // Untimed: the waiter's first attempt is refused and it queues.
        tokio::time::sleep(QUEUE_TIME).await;
        if waiting.is_finished() {
            bail!("the waiter did not wait for {file}");
        }
        let start = Instant::now();
        self.holder.release(&file, HOLDER).await?;
        let (claimed, held_at) = waiting.await?;
        match claimed {
            Ok(_) => {}
            Err(Error::HeldByAnother(c)) => bail!("the waiter timed out behind {c:?}"),
            Err(e) => return Err(e.into()),
        }
        let elapsed = held_at - start;
        self.waiter.release(&file, AGENT).await?;
        Ok(elapsed)
    }
}
