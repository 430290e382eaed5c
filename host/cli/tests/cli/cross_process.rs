//! The cross-process race: 16 `holds announce` processes for one file, started at once, on one store.
//! Exactly one wins (exit 0) and fifteen are refused (exit 3) naming the winner, on the embedded SQLite
//! store (one database file shared by the processes) and on JetStream (a real nats-server).

use crate::support::{CALL_TIMEOUT, CliEnv, Run, wait_output, warm_cache};
use holds_nats_fixture::NatsServer;
use std::process::Stdio;
use std::time::Instant;

const RACERS: usize = 16;
/// Races per backend: the first on a fresh store (creating the database or bucket is part of the race),
/// the others on the existing one, each for a new file.
const ROUNDS: usize = 3;

/// Runs `holds ARGS` for each ARGS, all spawned before any is waited for, so the
/// processes run concurrently; their runs in the same order.
fn all_at_once<'a, const N: usize>(
    env: &CliEnv,
    each: impl Iterator<Item = [&'a str; N]>,
) -> Vec<Run> {
    let children: Vec<_> = each
        .map(|args| {
            let mut cmd = env.command(args);
            let shown = format!("{cmd:?}");
            let child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn holds");
            (shown, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(shown, child)| wait_output(child, CALL_TIMEOUT, &shown))
        .collect()
}

fn race(env: &CliEnv, round: usize) {
    warm_cache();
    let start = Instant::now();
    let file = format!("race/file-{round}.rs");
    let agents: Vec<String> = (0..RACERS).map(|i| format!("agent-{i}")).collect();
    let runs: Vec<(String, Run)> = agents
        .iter()
        .cloned()
        .zip(all_at_once(
            env,
            agents
                .iter()
                .map(|agent| ["--json", "announce", &file, "--agent", agent, "--ttl", "1m"]),
        ))
        .collect();

    let report = || {
        runs.iter()
            .map(|(agent, run)| {
                format!(
                    "{agent}: {} in {:?} stdout {:?} stderr {:?}",
                    run.status,
                    run.elapsed,
                    run.stdout.trim(),
                    run.stderr.trim()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let winners: Vec<&(String, Run)> = runs
        .iter()
        .filter(|(_, r)| r.status.code() == Some(0))
        .collect();
    let refused = runs
        .iter()
        .filter(|(_, r)| r.status.code() == Some(3))
        .count();
    assert_eq!(
        (winners.len(), refused),
        (1, RACERS - 1),
        "round {round}: expected one winner and {} refused:\n{}",
        RACERS - 1,
        report()
    );

    let (winner, run) = winners[0];
    let claim = run.json();
    assert_eq!(claim["hold"]["agent_id"], winner.as_str());
    for (agent, run) in &runs {
        if agent == winner {
            continue;
        }
        let error = &run.json()["error"];
        assert_eq!(error["kind"], "held-by-another", "{run}");
        assert_eq!(
            error["holder"], claim,
            "{agent} was refused by another holder: {run}"
        );
        assert!(run.stderr.contains(&format!("{winner:?}")), "{run}");
    }
    let who = env.run(["--json", "who-has", &file]);
    who.assert_code(0);
    assert_eq!(
        crate::support::first_holder(who.json()),
        claim,
        "the store agrees with the winner"
    );
    let slowest = runs
        .iter()
        .map(|(_, r)| r.elapsed)
        .max()
        .unwrap_or_default();
    eprintln!(
        "round {round}: {winner} won; {RACERS} processes in {:?} (slowest {slowest:?})",
        start.elapsed()
    );
}

#[test]
fn sixteen_announcers_one_winner_sqlite() {
    let env = CliEnv::sqlite();
    for round in 0..ROUNDS {
        race(&env, round);
    }
    assert_eq!(env.list_json().len(), ROUNDS);
}

#[test]
fn sixteen_announcers_one_winner_jetstream() {
    let server = NatsServer::start();
    let env = CliEnv::nats(server.url());
    for round in 0..ROUNDS {
        race(&env, round);
    }
    assert_eq!(env.list_json().len(), ROUNDS);
}

/// Fresh databases for [`agents_starting_at_once_on_a_fresh_database_all_open_it`].
const FRESH_ROUNDS: usize = 10;

/// Agents starting at once where no database exists yet: every one opens it and gets its own file.
/// Setting a fresh database up takes a lock SQLite does not wait for; before the open was tried again,
/// 4 of 360 such processes (shell loops of six) failed with "database is locked". The timing is
/// rarely hit from here; `kv::sqlite`'s unit test, with a barrier, hits it every run.
#[test]
fn agents_starting_at_once_on_a_fresh_database_all_open_it() {
    warm_cache();
    for round in 0..FRESH_ROUNDS {
        let env = CliEnv::sqlite();
        let own: Vec<(String, String)> = (0..RACERS)
            .map(|i| (format!("own/file-{i}.rs"), format!("agent-{i}")))
            .collect();
        let failed: Vec<String> = all_at_once(
            &env,
            own.iter()
                .map(|(file, agent)| ["announce", file, "--agent", agent, "--ttl", "1m"]),
        )
        .into_iter()
        .filter(|run| run.status.code() != Some(0))
        .map(|run| {
            format!(
                "{}: {}",
                run.status,
                run.stderr.lines().last().unwrap_or("")
            )
        })
        .collect();
        assert!(
            failed.is_empty(),
            "round {round}: {} of {RACERS} failed:\n{}",
            failed.len(),
            failed.join("\n")
        );
        assert_eq!(env.list_json().len(), RACERS, "round {round}");
    }
}
