//! Throughput: N concurrent agents, each repeating one pair of operations on its
//! own small set of files, for a fixed time.

use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One pair (announce + release, or write + delete) by agent `.0`, its `.1`-th.
pub type PairOp = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Pairs per second with `agents` concurrent agents, after `warmup`.
pub async fn pairs_per_second(
    op: &PairOp,
    agents: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<f64> {
    if !warmup.is_zero() {
        phase(op, agents, warmup).await?;
    }
    let (pairs, elapsed) = phase(op, agents, duration).await?;
    Ok(pairs as f64 / elapsed.as_secs_f64())
}

/// Every agent starts pairs until the deadline; the time runs until the last
/// pair finished, and every finished pair counts.
async fn phase(op: &PairOp, agents: usize, duration: Duration) -> anyhow::Result<(u64, Duration)> {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..agents)
        .map(|agent| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    op(agent, n).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut pairs = 0;
    for task in tasks {
        pairs += task.await??;
    }
    Ok((pairs, start.elapsed()))
}
