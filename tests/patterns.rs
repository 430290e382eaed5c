//! Directory, glob and shared holds racing file holds: whatever interleaving the
//! stores produce, no two conflicting holds both stand (see the guest's
//! `judge.rs`). Each round, agents on their own managers (their own
//! connections) announce at once a mix of file, directory and glob holds,
//! exclusive and shared, over one small tree; every announce that returned a
//! claim must be compatible with every other that did, and the bucket must
//! hold exactly those (a withdrawn hold leaves nothing behind). Then a churn:
//! the same agents announce, renew and release at once, and no two agents may
//! ever believe at once that they hold conflicting holds.

use holds::{Announce, Claim, Config, Error, Manager, Mode};
use holds_test_support::harness::{Harness, Kind};
use holds_test_support::nats::NatsCluster;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// One agent's hold as the churn saw it: believed from when its announce
/// returned to when its agent called release (or met a refused renewal).
#[derive(Clone, Debug)]
struct Belief {
    claim: Claim,
    from: Instant,
    until: Instant,
}

/// What a churn did.
#[derive(Debug, Default)]
struct Churned {
    stood: usize,
    refused: u64,
    /// Renewals of a standing hold refused (the hold was in another's way as
    /// the judgement saw it: see the progress note on issue 25).
    renewals_refused: u64,
}

/// Agents on their own managers loop at once: announce a random ask (a renewal
/// when they hold it already), or release one of their holds. No two agents
/// may ever believe at once that they hold conflicting holds: an announce that
/// returns a claim was judged against every hold the store had before it, and
/// a release is called before its agent stops relying on the hold.
async fn churn(managers: &[Manager], steps: u64, seed: u64) -> Churned {
    let log = std::sync::Mutex::new(Vec::<String>::new());
    let log = &log;
    let tasks = managers.iter().enumerate().map(|(i, m)| async move {
        let agent = format!("churn-{i}");
        let mut live: BTreeMap<&'static str, Belief> = BTreeMap::new();
        let mut done: Vec<Belief> = Vec::new();
        let mut churned = Churned::default();
        for step in 0..steps {
            // The in-process store never waits: let the others in.
            tokio::task::yield_now().await;
            let (file, mode) = pick(seed, step, i);
            // One mode per path and agent at a time: a release names the path
            // alone, and would end both.
            let other_mode = live.get(file).is_some_and(|t| t.claim.hold.mode != mode);
            if (!live.is_empty() && step % 3 == 2) || other_mode {
                let file = *live.keys().nth((step as usize) % live.len()).unwrap();
                let mut ended = live.remove(file).unwrap();
                ended.until = Instant::now();
                let released = m.release(file, &agent).await.unwrap();
                log.lock()
                    .unwrap()
                    .push(format!("{agent} released {file}: {released:?}"));
                assert!(
                    matches!(released, holds::Release::Released { .. }),
                    "{agent}'s live hold on {file} was gone (seed {seed})"
                );
                done.push(ended);
                continue;
            }
            let mut announce = Announce::new(agent.as_str(), Duration::from_secs(60));
            if mode == Mode::Shared {
                announce = announce.shared();
            }
            let asked = Instant::now();
            match m.announce(file, &announce).await {
                Ok(claim) => {
                    log.lock().unwrap().push(format!(
                        "{agent} holds {} {file} at {}",
                        mode.as_str(),
                        claim.revision
                    ));
                    let from = live.get(file).map_or_else(Instant::now, |t| t.from);
                    let until = far_future();
                    live.insert(file, Belief { claim, from, until });
                }
                Err(e @ (Error::HeldByAnother(_) | Error::HeldByOthers(_))) => {
                    let by: Vec<String> = e
                        .holders()
                        .iter()
                        .map(|c| format!("{}@{} {}", c.hold.agent_id, c.revision, c.file))
                        .collect();
                    log.lock().unwrap().push(format!(
                        "{agent} refused {} {file} by {by:?}",
                        mode.as_str()
                    ));
                    churned.refused += 1;
                    if let Some(mut ended) = live.remove(file) {
                        // The agent stops relying on it when it asks again.
                        ended.until = asked;
                        done.push(ended);
                        churned.renewals_refused += 1;
                        m.release(file, &agent).await.unwrap();
                    }
                }
                Err(e) => panic!("{agent} on {file}: {e:?}"),
            }
        }
        for (file, mut ended) in live {
            ended.until = Instant::now();
            let released = m.release(file, &agent).await.unwrap();
            assert!(
                matches!(released, holds::Release::Released { .. }),
                "{agent}'s live hold on {file} was gone (seed {seed})"
            );
            done.push(ended);
        }
        churned.stood = done.len();
        (done, churned)
    });
    let mut all: Vec<Belief> = Vec::new();
    let mut total = Churned::default();
    for (done, churned) in futures::future::join_all(tasks).await {
        all.extend(done);
        total.stood += churned.stood;
        total.refused += churned.refused;
        total.renewals_refused += churned.renewals_refused;
    }
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            let overlap = a.from < b.until && b.from < a.until;
            if !overlap || compatible(&a.claim, &b.claim) {
                continue;
            }
            let history: Vec<String> = log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| {
                    l.contains(&a.claim.hold.agent_id) || l.contains(&b.claim.hold.agent_id)
                })
                .cloned()
                .collect();
            panic!(
                "seed {seed}: conflicting holds were believed at once: {} {} by {} (revision {}) and {} {} by {} (revision {})\n{}",
                a.claim.hold.mode.as_str(),
                a.claim.file,
                a.claim.hold.agent_id,
                a.claim.revision,
                b.claim.hold.mode.as_str(),
                b.claim.file,
                b.claim.hold.agent_id,
                b.claim.revision,
                history.join("\n")
            );
        }
    }
    let left: Vec<String> = managers[0]
        .list()
        .await
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}@{}",
                c.hold.mode.as_str(),
                c.file,
                c.hold.agent_id,
                c.revision
            )
        })
        .collect();
    assert!(
        left.is_empty(),
        "every hold was released, but {left:?} stand"
    );
    total
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
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
    let churned = churn(&managers, rounds, seed).await;
    println!("{kind:?} churn seed {seed}: {churned:?}, 0 conflicting beliefs");
    assert!(
        churned.refused > 0 && churned.stood > 0,
        "the churn was contended: {churned:?}"
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
        managers.push(crate::cluster::open_on_a_new_cluster(config, client, i).await);
    }
    let seed = seed();
    let tally = race(&managers, 40, seed).await;
    println!("R3 seed {seed}: {tally:?}");
    assert_eq!(tally.store_errors, 0, "{tally:?}");
    assert!(tally.refused > 0, "{tally:?}");
    let churned = churn(&managers, 40, seed).await;
    println!("R3 churn seed {seed}: {churned:?}, 0 conflicting beliefs");
    assert!(
        churned.refused > 0 && churned.stood > 0,
        "the churn was contended: {churned:?}"
    );
}

/// A pattern's judgement among thousands of file holds: a directory beside
/// them is judged without decoding them, one over them is refused naming
/// them, and neither runs out of the guest's budget.
async fn among_thousands_of_file_holds(kind: Kind) {
    const FILES: usize = 3000;
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let files = Announce::new("files", Duration::from_secs(60));
    for i in 0..FILES {
        m.announce(&format!("/many/other/{i}.rs"), &files)
            .await
            .unwrap();
    }
    let dirs = Announce::new("dirs", Duration::from_secs(60));
    m.announce("/many/mine/", &dirs).await.unwrap();
    match m.announce("/many/", &dirs).await {
        Err(Error::HeldByOthers(holders)) => {
            assert!(!holders.is_empty());
            assert!(holders.iter().all(|c| c.hold.agent_id == "files"));
        }
        other => panic!("the directory over {FILES} file holds: {other:?}"),
    }
    match m.announce("/many/**/*.rs", &dirs).await {
        Err(Error::HeldByOthers(_)) => {}
        other => panic!("the glob over {FILES} file holds: {other:?}"),
    }
    assert_eq!(m.list().await.unwrap().len(), FILES + 1);
    // Thousands of shared directory holds: a file's check, its holders and a
    // claim beside them read only the few near it.
    for i in 0..FILES / 3 {
        let shared = Announce::new(format!("s{i}"), Duration::from_secs(60)).shared();
        m.announce(&format!("/many/shared/{i}/"), &shared)
            .await
            .unwrap();
    }
    let checks = m
        .check(&["/many/shared/7/a.rs", "/many/other/7.rs"], "dirs", None)
        .await
        .unwrap();
    assert!(matches!(
        checks[0].state,
        holds::FileState::HeldByAnother(_)
    ));
    assert!(matches!(
        checks[1].state,
        holds::FileState::HeldByAnother(_)
    ));
    let holders = m.holders("/many/shared/7/a.rs").await.unwrap();
    assert_eq!(holders.len(), 1);
    let claimed = m
        .claim(&["/many/new/a.rs", "/many/new/b.rs"], &dirs)
        .await
        .unwrap();
    assert_eq!(claimed.claims.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_among_thousands_of_file_holds_on_memory() {
    among_thousands_of_file_holds(Kind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_among_thousands_of_file_holds_on_jetstream() {
    among_thousands_of_file_holds(Kind::JetStream).await;
}
