//! Record and replay (issue 4): replay throughput, and what recording costs an
//! announcing manager on JetStream.

use super::holds::{TTL, config, pair_op, warm};
use super::stats::median;
use super::throughput::pairs_per_second;
use anyhow::{Context, bail};
use holds::trace::CallRecord;
use holds::{Announce, Backend, Manager, Runtime};
use serde::Serialize;
use std::io::{BufRead, Cursor, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A trace recorded into memory.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Serialize)]
pub struct ReplayThroughput {
    /// Recorded export calls (announce, who-has, release), each one decision.
    pub decisions: usize,
    pub trace_bytes: usize,
    /// `holds::trace::replay` of the whole trace (reading and parsing every line,
    /// then re-running it on the component), median of the runs.
    pub parse_and_replay_s: f64,
    pub parse_and_replay_per_s: f64,
    /// Parsing every record alone (`serde_json` into `CallRecord`), median.
    pub parse_only_s: f64,
    /// The difference: the replay itself, as far as it can be measured from outside.
    pub replay_only_per_s: f64,
    pub runs: usize,
}

/// Record `calls` decisions on an in-memory bucket (replica off: no watcher, no
/// key lookups in the trace), then time their replay.
pub async fn replay_throughput(calls: usize, runs: usize) -> anyhow::Result<ReplayThroughput> {
    let buf = SharedBuf::default();
    let manager = Manager::builder(config("replay", false))
        .record(buf.clone())
        .open(Backend::Memory)
        .await?;
    // Per round: a vacant or reused announce, a refused one, a who-has, a release.
    let mut decisions = 0;
    let mut round = 0usize;
    while decisions < calls {
        let file = format!("/bench/replay/{}", round % 64);
        let (a, b) = (
            format!("agent-{}", round % 3),
            format!("agent-{}", (round + 1) % 3),
        );
        manager
            .announce(&file, &Announce::new(a.as_str(), TTL))
            .await?;
        if manager
            .announce(&file, &Announce::new(b, TTL))
            .await
            .is_ok()
        {
            bail!("a second agent got {file}");
        }
        manager.who_has(&file).await?;
        manager.release(&file, &a).await?;
        decisions += 4;
        round += 1;
    }
    manager.close().await;
    drop(manager);
    let bytes = std::mem::take(&mut *buf.0.lock().unwrap());
    let runtime = Runtime::embedded()?;

    let mut parse = Vec::new();
    let mut total = Vec::new();
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        for line in Cursor::new(&bytes).lines().skip(1) {
            let record: CallRecord = serde_json::from_str(&line?)?;
            std::hint::black_box(record);
        }
        parse.push(start.elapsed().as_secs_f64());

        let start = Instant::now();
        let report = holds::trace::replay(Cursor::new(&bytes), runtime.clone())
            .await
            .context("replaying the recorded trace")?;
        total.push(start.elapsed().as_secs_f64());
        if let Some(d) = report.divergence {
            bail!("the replay diverged: {d}");
        }
        if report.calls != decisions {
            bail!("replayed {} calls of {decisions}", report.calls);
        }
    }
    let (parse, total) = (median(&parse), median(&total));
    Ok(ReplayThroughput {
        decisions,
        trace_bytes: bytes.len(),
        parse_and_replay_s: total,
        parse_and_replay_per_s: decisions as f64 / total,
        parse_only_s: parse,
        replay_only_per_s: decisions as f64 / (total - parse).max(f64::EPSILON),
        runs: runs.max(1),
    })
}

#[derive(Serialize)]
pub struct RecordingCost {
    pub agents: usize,
    pub plain_pairs_per_s: f64,
    /// Recording into a file (one line written and flushed per call).
    pub recording_pairs_per_s: f64,
    /// Recording into `io::sink()`: the cost of building and serializing the
    /// records alone, without the writes.
    pub sink_pairs_per_s: f64,
    pub plain_rounds: Vec<f64>,
    pub recording_rounds: Vec<f64>,
    pub sink_rounds: Vec<f64>,
    /// `1 - recording / plain`.
    pub overhead: f64,
    /// `1 - sink / plain`.
    pub sink_overhead: f64,
}

/// Announce+release throughput of a manager recording every call into a file
/// (and of one recording into a sink), against one that does not: three
/// managers (replica on) on three buckets, rounds alternating, medians compared.
pub async fn recording_cost(
    client: &async_nats::Client,
    buckets: [&str; 3],
    dir: &Path,
    agents: usize,
    warmup: Duration,
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<RecordingCost> {
    let open = async |bucket: &str, out: Option<Box<dyn Write + Send>>| {
        let mut builder = Manager::builder(config(bucket, true));
        if let Some(out) = out {
            builder = builder.record(out);
        }
        let manager = builder.open(Backend::JetStream(client.clone())).await?;
        warm(&manager).await?;
        anyhow::Ok(manager)
    };
    let file = std::fs::File::create(dir.join("recording-cost.trace.jsonl"))?;
    let plain = open(buckets[0], None).await?;
    let recording = open(buckets[1], Some(Box::new(file))).await?;
    let sink = open(buckets[2], Some(Box::new(std::io::sink()))).await?;
    let ops = [&plain, &recording, &sink].map(|m| pair_op(m, "rec"));
    let mut rates: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds.max(1) {
        for (op, rate) in ops.iter().zip(rates.iter_mut()) {
            rate.push(pairs_per_second(op, agents, warmup, duration).await?);
        }
    }
    for m in [&plain, &recording, &sink] {
        m.close().await;
    }
    let [p, r, s] = rates;
    let (pm, rm, sm) = (median(&p), median(&r), median(&s));
    Ok(RecordingCost {
        agents,
        plain_pairs_per_s: pm,
        recording_pairs_per_s: rm,
        sink_pairs_per_s: sm,
        plain_rounds: p,
        recording_rounds: r,
        sink_rounds: s,
        overhead: 1.0 - rm / pm,
        sink_overhead: 1.0 - sm / pm,
    })
}
