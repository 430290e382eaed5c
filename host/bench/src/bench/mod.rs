//! `holds bench`: holds against raw async-nats on the same server, in one run.
//!
//! One module per concern: [`server`] (`--spawn`), [`baselines`] (raw
//! async-nats), [`holds`] (managers with a warmed replica), [`native`] (the guest
//! logic natively, for the price of the sandbox), [`oneshot`] (the CLI as a fresh
//! process), [`trace`] (record and replay), [`latency`] and [`throughput`]
//! (drivers), [`stats`] and [`report`]. BENCHMARKS.md at the repository root has
//! a full run and what its numbers mean.

mod baselines;
mod holds;
mod latency;
mod layout;
mod native;
mod oneshot;
mod patterns;
mod report;
mod stats;
mod throughput;
mod trace;
mod workflow;

use crate::support::{Failure, Global, Outcome, exit, output, store};
use ::holds::kv::{BucketSpec, JetStreamKv, KvStore, MemoryKv};
use anyhow::Context;
use clap::Args;
use holds_nats_fixture::NatsServer;
use report::{Footprint, Machine, Report, Settings, Throughput};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Args, Debug)]
#[command(after_help = "\
Measures, in one run and with the same connection settings: raw async-nats baselines
(get, write-if-revision on a never-used key, the Go package's get+create on fresh and
on released keys), holds announce on never-used, released, renewed, foreign and
expired holds and release (a manager with its replica warmed), throughput with 1, 16
and 64 agents against raw write+delete pairs, a 64-agent race for one file, the
component against the same logic compiled natively, `holds who-has` as a fresh
process against a minimal async-nats program, replay throughput and the cost of
recording. Prints a table, or with --json one object with `ratios`, `targets`,
`contention_winners`, the numbers behind every ratio and the replica's footprint.

Exit 0 when the run completed (targets met or not), 1 when it could not run.")]
pub struct Opts {
    /// Start a private nats-server ($NATS_SERVER_BIN, else nats-server on PATH) on a
    /// free 127.0.0.1 port for this run (instead of --nats).
    #[arg(long)]
    pub spawn: bool,
    /// A short run for CI: a few hundred samples, short throughput windows.
    #[arg(long)]
    pub quick: bool,
    /// Timed samples per latency metric [default: 2000; --quick 300].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Untimed samples per latency metric first [default: 200; --quick 30].
    #[arg(long, value_name = "N")]
    pub warmup: Option<usize>,
    /// Samples of the in-process (memory) component/native comparison
    /// [default: 20000; --quick 2000].
    #[arg(long, value_name = "N")]
    pub in_process_samples: Option<usize>,
    /// Idle time after each timed latency sample, so that every operation starts
    /// from a quiet process (as an agent announcing at editor speed would)
    /// instead of back to back with the previous one's background work [default: 0].
    #[arg(long, value_parser = crate::support::duration, value_name = "DURATION")]
    pub pause: Option<Duration>,
    /// Length of each throughput round [default: 3s; --quick 500ms].
    #[arg(long, value_parser = crate::support::duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Throughput rounds per side, alternating, medians compared [default: 3; --quick 1].
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// Fresh-process runs of each CLI one-shot side [default: 100; --quick 10].
    #[arg(long, value_name = "N")]
    pub cli_samples: Option<usize>,
    /// Decisions recorded for the replay throughput [default: 40000; --quick 4000].
    #[arg(long, value_name = "N")]
    pub replay_decisions: Option<usize>,
    /// The minimal async-nats program of the CLI one-shot [default: holds-minimal-get
    /// next to this executable].
    #[arg(long, value_name = "PATH")]
    pub minimal_get: Option<PathBuf>,
    /// The `holds` CLI of the one-shot [default: holds next to this executable].
    #[arg(long, value_name = "PATH")]
    pub holds: Option<PathBuf>,
    /// Run the --spawn server on these CPUs only (`0`, `0,2`, `1-3`), e.g. a core
    /// of its own beside --bench-cpus [default: any].
    #[arg(long, value_parser = layout::parse_cpus, value_name = "CPUS")]
    pub server_cpus: Option<layout::Cpus>,
    /// Run this process (and the CLI one-shots it starts) on these CPUs only
    /// [default: any].
    #[arg(long, value_parser = layout::parse_cpus, value_name = "CPUS")]
    pub bench_cpus: Option<layout::Cpus>,
}

/// The run's sizes, from the options.
#[derive(Clone)]
struct Plan {
    quick: bool,
    samples: usize,
    warmup: usize,
    pause: Duration,
    in_process_samples: usize,
    duration: Duration,
    tp_warmup: Duration,
    rounds: usize,
    contention_rounds: usize,
    cli_samples: usize,
    replay_decisions: usize,
    replay_runs: usize,
}

impl Plan {
    fn new(o: &Opts) -> Plan {
        let q = o.quick;
        let pick = |given: Option<usize>, full: usize, quick: usize| {
            given.unwrap_or(if q { quick } else { full }).max(1)
        };
        let duration = o.duration.unwrap_or(if q {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(3)
        });
        Plan {
            quick: q,
            samples: pick(o.samples, 2000, 300),
            warmup: pick(o.warmup, 200, 30),
            pause: o.pause.unwrap_or(Duration::ZERO),
            in_process_samples: pick(o.in_process_samples, 20000, 2000),
            duration,
            tp_warmup: (duration / 5).min(Duration::from_millis(500)),
            rounds: pick(o.rounds, 3, 1),
            contention_rounds: if q { 3 } else { 10 },
            cli_samples: pick(o.cli_samples, 100, 10),
            replay_decisions: pick(o.replay_decisions, 40000, 4000),
            replay_runs: if q { 1 } else { 3 },
        }
    }
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let plan = Plan::new(&o);
    let layout = layout::Layout {
        server_cpus: o.server_cpus.clone().map(|c| c.0),
        bench_cpus: o.bench_cpus.clone().map(|c| c.0),
    };
    layout.check(o.spawn).map_err(Failure::usage)?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    layout.pin_self().map_err(Failure::store)?;
    let server = if o.spawn {
        // The tests' fixture: a free 127.0.0.1 port, a temporary store; it panics
        // with how to get nats-server when there is none.
        let mut builder = NatsServer::builder();
        if let Some(cpus) = &layout.server_cpus {
            builder = builder.cpus(cpus);
        }
        let spawned = tokio::task::spawn_blocking(move || builder.start())
            .await
            .map_err(|e| Failure::store(anyhow::anyhow!("starting nats-server: {e}")))?;
        Some(spawned)
    } else {
        None
    };
    let url = match (&server, &global.nats) {
        (Some(s), _) => s.url(),
        (None, Some(url)) => url.clone(),
        (None, None) => {
            return Err(Failure::usage(anyhow::anyhow!(
                "bench needs a server: --nats URL, or --spawn to start a private one"
            )));
        }
    };
    let describe = match &server {
        Some(_) => format!(
            "nats-server at {url} (spawned from {})",
            holds_nats_fixture::nats_server_bin().display()
        ),
        None => format!("nats-server at {url}"),
    };
    // Two connections with the CLI's settings: one for raw async-nats, one for holds.
    let raw_client = store::connect(&url).await?;
    let holds_client = store::connect(&url).await?;
    let nonce = format!(
        "{:08x}",
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u32)
            ^ std::process::id()
    );
    let run = Run {
        plan,
        url,
        layout,
        cores,
        server: describe,
        minimal_get: o.minimal_get.clone(),
        holds: o.holds.clone(),
        nonce,
        raw_client,
        holds_client,
    };
    // On a runtime worker, as a task of an embedding application would run
    // (the main thread's `block_on` adds a thread hand-off to every wake-up).
    let measured = tokio::spawn(async move {
        let measured = measure(&run).await;
        run.delete_buckets().await;
        measured
    })
    .await;
    drop(server);
    let report = measured.map_err(Failure::store)?.map_err(Failure::store)?;
    if global.json {
        output::print_json(&report);
    } else {
        output::print(report::table(&report).trim_end());
    }
    Ok(exit::OK)
}

/// Everything a run needs, owned (it runs on a spawned task).
struct Run {
    plan: Plan,
    url: String,
    layout: layout::Layout,
    /// The machine's cores (before this process was pinned).
    cores: usize,
    server: String,
    minimal_get: Option<PathBuf>,
    holds: Option<PathBuf>,
    nonce: String,
    raw_client: async_nats::Client,
    holds_client: async_nats::Client,
}

/// The buckets of a run (each created by the code that uses it).
const BUCKETS: [&str; 11] = [
    "patterns-0",
    "patterns-10",
    "patterns-1000",
    "raw",
    "watched",
    "main",
    "takeover",
    "native",
    "plain",
    "recording",
    "sink",
];

impl Run {
    fn bucket(&self, part: &str) -> String {
        format!("holds-bench-{}-{part}", self.nonce)
    }

    /// Leave a shared server as it was.
    async fn delete_buckets(&self) {
        let context = async_nats::jetstream::new(self.raw_client.clone());
        for part in BUCKETS {
            let _ = context.delete_key_value(self.bucket(part)).await;
        }
    }
}

fn note(what: &str) {
    output::print_err(format_args!("bench: {what}"));
}

fn spec(name: &str) -> BucketSpec {
    BucketSpec {
        name: name.to_string(),
        max_age: holds::TTL_MAX,
        replicas: 1,
        op_timeout: Duration::from_secs(5),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// The pattern buckets' figures.
struct PatternsMeasured {
    latency: Vec<(&'static str, stats::Summary)>,
    costs: Vec<patterns::PatternCost>,
}

/// Announces against 0, 10 and 1000 live pattern holds: in process (latency
/// probes, interleaved over the three buckets) and as fresh CLI processes.
async fn measure_patterns(run: &Run) -> anyhow::Result<PatternsMeasured> {
    let plan = &run.plan;
    let mut buckets = Vec::new();
    for (n, _, _) in patterns::COUNTS {
        note(&format!("patterns: placing {n} directory holds"));
        let name = run.bucket(&format!("patterns-{n}"));
        buckets.push(patterns::Bucket::open(&run.holds_client, name, n).await?);
    }
    let samples = (plan.samples / 2).max(20);
    note(&format!(
        "patterns: file and directory announces against 0, 10, 1000 pattern holds, {samples} samples each"
    ));
    let mut probes: Vec<Box<dyn latency::Probe>> = Vec::new();
    for (bucket, (_, file, dir)) in buckets.iter().zip(patterns::COUNTS) {
        probes.extend(bucket.probes((file, dir)));
    }
    let latency = latency::run(&mut probes, plan.warmup / 4, samples, plan.pause).await?;
    drop(probes);
    let holds = oneshot::sibling(run.holds.as_deref(), "holds")?;
    let cache = tempfile::Builder::new().prefix("holds-bench").tempdir()?;
    let mut costs = Vec::new();
    for bucket in &buckets {
        let (library_store_calls, library_replica_scans) =
            bucket.library_calls(&run.holds_client).await?;
        let (cli_announce, cli_store_calls) = patterns::cli(
            holds.clone(),
            run.url.clone(),
            bucket.name.clone(),
            plan.cli_samples,
            cache.path().to_path_buf(),
        )
        .await?;
        costs.push(patterns::PatternCost {
            patterns: bucket.patterns,
            cli_announce,
            library_store_calls,
            library_replica_scans,
            cli_store_calls,
        });
        bucket.close().await;
    }
    Ok(PatternsMeasured { latency, costs })
}

async fn measure(run: &Run) -> anyhow::Result<Report> {
    let plan = &run.plan;
    let raw =
        baselines::Raw::open(run.raw_client.clone(), &spec(&run.bucket("raw")), false).await?;
    let watched =
        baselines::Raw::open(run.raw_client.clone(), &spec(&run.bucket("watched")), true).await?;
    let managers = holds::Holds::open(
        &run.holds_client,
        &run.bucket("main"),
        &run.bucket("takeover"),
    )
    .await?;

    note(&format!(
        "latency: raw baselines and holds, {} samples each, interleaved",
        plan.samples
    ));
    let mut probes = raw.probes();
    probes.push(watched.watched_write_probe());
    probes.extend(managers.probes().await?);
    let mut latency: BTreeMap<&'static str, stats::Summary> =
        latency::run(&mut probes, plan.warmup, plan.samples, plan.pause)
            .await?
            .into_iter()
            .collect();
    drop(probes);

    let workflow_samples = (plan.samples / 10).max(20);
    note(&format!(
        "workflow: 4- and 16-file claims against sequential announces, wait wake-up; {workflow_samples} samples each"
    ));
    let mut probes = workflow::probes(&managers.main, &managers.main, &managers.other);
    latency
        .extend(latency::run(&mut probes, plan.warmup / 10, workflow_samples, plan.pause).await?);
    drop(probes);

    note("component vs native over JetStream");
    let kv: Arc<dyn KvStore> = Arc::new(
        JetStreamKv::open(run.holds_client.clone(), &spec(&run.bucket("native")))
            .await
            .context("opening the native bucket")?,
    );
    let mut probes = native::probes(kv, "jetstream", holds::TTL_MAX).await?;
    latency.extend(latency::run(&mut probes, plan.warmup, plan.samples, plan.pause).await?);
    drop(probes);

    note("component vs native in process (memory store)");
    let memory: Arc<dyn KvStore> = Arc::new(MemoryKv::new(&spec("memory")));
    let mut probes = native::probes(memory, "memory", holds::TTL_MAX).await?;
    latency.extend(
        latency::run(
            &mut probes,
            plan.in_process_samples / 10,
            plan.in_process_samples,
            Duration::ZERO,
        )
        .await?,
    );
    drop(probes);

    let mut tp = Vec::new();
    for agents in [1, 16, 64] {
        note(&format!("throughput: {agents} agent(s)"));
        let ops = [
            raw.pair_op("tp"),
            watched.pair_op("tp"),
            holds::pair_op(&managers.main, "tp"),
        ];
        let mut rates: [Vec<f64>; 3] = Default::default();
        for _ in 0..plan.rounds {
            for (op, rate) in ops.iter().zip(rates.iter_mut()) {
                rate.push(
                    throughput::pairs_per_second(op, agents, plan.tp_warmup, plan.duration).await?,
                );
            }
        }
        let [r, w, h] = rates;
        let (hm, rm) = (stats::median(&h), stats::median(&r));
        tp.push(Throughput {
            agents,
            holds_pairs_per_s: hm,
            raw_pairs_per_s: rm,
            raw_watched_pairs_per_s: stats::median(&w),
            ratio: hm / rm,
            holds_rounds: h,
            raw_rounds: r,
            raw_watched_rounds: w,
        });
    }
    drop((raw, watched));

    note("contention: 64 agents, one file");
    let mut contention = Vec::new();
    for round in 0..plan.contention_rounds {
        let file = format!("/bench/race/{round}");
        contention.push(holds::race(&managers.main, &file, 64).await?);
    }

    let patterns = measure_patterns(run).await?;

    let stats = managers.main.stats();
    let (keys, bytes) = (stats.replica_keys, stats.replica_bytes);
    managers.close().await;

    note("recording cost: 16 agents, without a trace, into a file, into a sink");
    let dir = tempfile::Builder::new().prefix("holds-bench").tempdir()?;
    let recording = trace::recording_cost(
        &run.holds_client,
        [
            &run.bucket("plain"),
            &run.bucket("recording"),
            &run.bucket("sink"),
        ],
        dir.path(),
        16,
        plan.tp_warmup,
        plan.duration,
        plan.rounds,
    )
    .await?;

    note(&format!(
        "replay: {} decisions recorded in memory",
        plan.replay_decisions
    ));
    let replay = trace::replay_throughput(plan.replay_decisions, plan.replay_runs).await?;

    note(&format!(
        "cli one-shot: {} fresh processes per side",
        plan.cli_samples
    ));
    let programs = oneshot::sibling(run.holds.as_deref(), "holds").and_then(|holds| {
        Ok((
            holds,
            oneshot::sibling(run.minimal_get.as_deref(), oneshot::MINIMAL)?,
        ))
    });
    let oneshot = match programs {
        Ok((holds, minimal)) => {
            oneshot::measure(
                &run.url,
                &run.bucket("main"),
                plan.cli_samples,
                holds,
                minimal,
                dir.path().join("cache"),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let cli_oneshot = oneshot.map_err(|e| {
        note(&format!("cli one-shot not measured: {e:#}"));
        format!("{e:#}")
    });

    Ok(report::build(report::Measured {
        machine: Machine {
            cores: run.cores,
            cpu: cpu_model(),
            server: run.server.clone(),
            layout: run.layout.describe(),
            pinned: run.layout.pinned(),
        },
        settings: Settings {
            quick: plan.quick,
            samples: plan.samples,
            warmup: plan.warmup,
            pause_us: plan.pause.as_secs_f64() * 1e6,
            in_process_samples: plan.in_process_samples,
            throughput_seconds: plan.duration.as_secs_f64(),
            throughput_rounds: plan.rounds,
            contention_rounds: plan.contention_rounds,
            cli_samples: plan.cli_samples,
            replay_decisions: plan.replay_decisions,
        },
        latency: {
            latency.extend(patterns.latency);
            latency
        },
        patterns: patterns.costs,
        throughput: tp,
        contention,
        cli_oneshot,
        replay,
        recording,
        replica_footprint: Footprint {
            keys,
            bytes,
            bound: "the latest entry per key the watch delivered (markers included) plus this \
                    manager's own acks not yet delivered; entries older than the bucket's max age \
                    are pruned, so it never outgrows the bucket",
        },
    }))
}
