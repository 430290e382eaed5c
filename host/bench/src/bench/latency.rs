//! Latency probes, run interleaved so that every metric of a group sees the same
//! server and machine state (a slow minute hits all of them alike).

use super::stats::{Summary, summarize};
use async_trait::async_trait;
use std::time::Duration;

/// One kind of operation, measured one sample at a time.
#[async_trait]
pub trait Probe: Send {
    /// The metric's name (`raw_write`, `holds_vacant_announce`, ...).
    fn name(&self) -> &'static str;

    /// Make one operation (plus any untimed setup it needs) and return the time
    /// of the operation alone.
    async fn sample(&mut self) -> anyhow::Result<Duration>;
}

/// Samples taken per probe before switching to the next one.
const BLOCK: usize = 50;

/// `warmup` untimed samples of each probe, then `samples` timed ones, taken in
/// blocks of [`BLOCK`] round-robin over the probes, idling `pause` after each
/// timed sample (zero: back to back).
pub async fn run(
    probes: &mut [Box<dyn Probe>],
    warmup: usize,
    samples: usize,
    pause: Duration,
) -> anyhow::Result<Vec<(&'static str, Summary)>> {
    for probe in probes.iter_mut() {
        for _ in 0..warmup {
            probe.sample().await.map_err(|e| e.context(probe.name()))?;
        }
    }
    let mut taken: Vec<Vec<Duration>> =
        probes.iter().map(|_| Vec::with_capacity(samples)).collect();
    let mut done = 0;
    while done < samples {
        let block = BLOCK.min(samples - done);
        for (probe, taken) in probes.iter_mut().zip(taken.iter_mut()) {
            for _ in 0..block {
                let elapsed = probe.sample().await.map_err(|e| e.context(probe.name()))?;
                taken.push(elapsed);
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }
        done += block;
    }
    Ok(probes
        .iter()
        .zip(taken)
        .map(|(probe, taken)| (probe.name(), summarize(&taken)))
        .collect())
}
