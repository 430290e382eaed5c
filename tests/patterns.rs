//! Directory, glob and shared holds racing file holds: whatever interleaving the
//! stores produce, no two conflicting holds both stand (see the guest's
//! `judge.rs`). Each round, agents on their own managers (their own
//! connections) announce at once a mix of file, directory and glob holds,
//! exclusive and shared, over one small tree; every announce that returned a
//! claim must be compatible with every other that did, and the bucket must
//! hold exactly those (a withdrawn hold leaves nothing behind).

use holds::{Announce, Backend, Claim, Config, Error, Manager, Mode};
use holds_test_support::harness::{Harness, Kind};
use holds_test_support::nats::NatsCluster;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the agents ask for: overlapping in every way the rule distinguishes.
const ASKS: &[(&str, Mode)] = &[
    ("/race/src/", Mode::Exclusive),
    ("/race/src/", Mode::Shared),
    ("/race/src/a.rs", Mode::Exclusive),
    ("/race/src/a.rs", Mode::Shared),
    ("/race/src/b.rs", Mode::Exclusive),
    ("/race/**/*.rs", Mode::Exclusive),
    ("/race/**/*.rs", Mode::Shared),
    ("/race/src/deep/c.rs", Mode::Exclusive),
    ("/race/docs/*.md", Mode::Exclusive),
];

const AGENTS: usize = 8;

/// Whether two stood holds may coexist: the same agent's, both shared, or no
/// path in common (checked on a universe of paths, so a conservative refusal
/// never counts as a violation and a real overlap is never missed here).
fn compatible(a: &Claim, b: &Claim) -> bool {
    const UNIVERSE: &[&str] = &[
        "/race/src/a.rs",
        "/race/src/b.rs",
        "/race/src/deep/c.rs",
        "/race/src/x.txt",
        "/race/docs/a.md",
        "/race/a.rs",
    ];
    if a.hold.agent_id == b.hold.agent_id
        || (a.hold.mode == Mode::Shared && b.hold.mode == Mode::Shared)
    {
        return true;
    }
    !UNIVERSE
        .iter()
        .any(|f| covers(&a.file, f) && covers(&b.file, f))
}

/// The test's own reading of what a hold covers (the few shapes used here).
fn covers(held: &str, file: &str) -> bool {
    if held == file {
        return true;
    }
    if let Some(dir) = held.strip_suffix('/') {
        return file.starts_with(&format!("{dir}/"));
    }
    match held {
        "/race/**/*.rs" => file.starts_with("/race/") && file.ends_with(".rs"),
        "/race/docs/*.md" => {
            file.starts_with("/race/docs/")
                && file.ends_with(".md")
                && file[11..].find('/').is_none()
        }
        _ => false,
    }
}

/// A seeded pick per agent and round, so a failing run can be repeated.
fn pick(seed: u64, round: u64, agent: usize) -> (&'static str, Mode) {
    let mut x = seed ^ (round << 16) ^ (agent as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    ASKS[(x % ASKS.len() as u64) as usize]
}

#[derive(Default, Debug)]
struct Tally {
    rounds: u64,
    stood: u64,
    refused: u64,
    store_errors: u64,
}

async fn race(managers: &[Manager], rounds: u64, seed: u64) -> Tally {
    let mut tally = Tally::default();
    for round in 0..rounds {
        let calls = managers.iter().enumerate().map(|(i, m)| {
            let (file, mode) = pick(seed, round, i);
            let mut announce = Announce::new(format!("agent-{i}"), Duration::from_secs(30));
            if mode == Mode::Shared {
                announce = announce.shared();
            }
            async move { m.announce(file, &announce).await }
        });
        let results = futures::future::join_all(calls).await;
        let mut stood: Vec<Claim> = Vec::new();
        for result in results {
            match result {
                Ok(claim) => stood.push(claim),
                Err(Error::HeldByAnother(_) | Error::HeldByOthers(_)) => tally.refused += 1,
                Err(Error::Store(_)) => tally.store_errors += 1,
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        for (i, a) in stood.iter().enumerate() {
            for b in &stood[i + 1..] {
                assert!(
                    compatible(a, b),
                    "round {round} (seed {seed}): both stand: {} {} by {} and {} {} by {}",
                    a.hold.mode.as_str(),
                    a.file,
                    a.hold.agent_id,
                    b.hold.mode.as_str(),
                    b.file,
                    b.hold.agent_id
                );
            }
        }
        // The bucket holds exactly what stood: nothing withdrawn is left.
        let listed: BTreeMap<(String, String), u64> = managers[0]
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|c| ((c.file, c.hold.agent_id), c.revision))
            .collect();
        let expected: BTreeMap<(String, String), u64> = stood
            .iter()
            .map(|c| ((c.file.clone(), c.hold.agent_id.clone()), c.revision))
            .collect();
        if tally.store_errors == 0 {
            assert_eq!(
                listed, expected,
                "round {round} (seed {seed}): the bucket holds what stood"
            );
        }
        tally.stood += stood.len() as u64;
        tally.rounds += 1;
        // Clear the tree for the next round.
        for (i, m) in managers.iter().enumerate() {
            for (file, _) in ASKS {
                m.release(file, &format!("agent-{i}")).await.unwrap();
            }
        }
    }
    tally
}

fn seed() -> u64 {
    std::env::var("HOLDS_PATTERN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

async fn on(kind: Kind, rounds: u64) {
    let h = Harness::new(kind).await;
    let mut managers = Vec::new();
    for _ in 0..AGENTS {
        managers.push(h.manager().await);
    }
    let seed = seed();
    let tally = race(&managers, rounds, seed).await;
    println!("{kind:?} seed {seed}: {tally:?}");
    assert_eq!(tally.store_errors, 0, "{tally:?}");
    assert!(
        tally.refused > 0 && tally.stood > tally.rounds,
        "the races were contended: {tally:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_patterns_never_both_stand_on_memory() {
    on(Kind::Memory, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_patterns_never_both_stand_on_sqlite() {
    on(Kind::Sqlite, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_patterns_never_both_stand_on_jetstream() {
    on(Kind::JetStream, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_patterns_never_both_stand_on_an_r3_cluster() {
    let cluster = tokio::task::block_in_place(|| NatsCluster::start(3));
    let mut managers = Vec::new();
    for i in 0..AGENTS {
        let client = async_nats::connect(cluster.urls()[i % 3].as_str())
            .await
            .unwrap();
        let mut config = Config::new("patterns", Duration::from_secs(60));
        config.replicas = 3;
        // Right after the cluster forms, placing the R3 stream can fail until
        // every peer has reported in.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let manager = loop {
            match Manager::open(config.clone(), Backend::JetStream(client.clone())).await {
                Ok(m) => break m,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    println!("opening manager {i}: {e}; trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("opening manager {i}: {e}"),
            }
        };
        managers.push(manager);
    }
    let seed = seed();
    let tally = race(&managers, 40, seed).await;
    println!("R3 seed {seed}: {tally:?}");
    assert_eq!(tally.store_errors, 0, "{tally:?}");
    assert!(tally.refused > 0, "{tally:?}");
}
