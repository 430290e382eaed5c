//! A hold lost while CMD runs: CMD gets SIGTERM (then SIGKILL after `--grace`) and `holds run` exits 6,
//! saying the hold was lost, and releases the files it still holds.

use super::{
    Background, SETTLE, holder, report, run_command, scratch, sh, until_exists, wait_for_file,
    wait_until,
};
use crate::Backend;
use holds_nats_fixture::NatsServer;
use std::path::PathBuf;
use std::time::{Duration, Instant};

holds_test_support::matrix! {
    fn {
        force_release_stops_the_command_with_sigterm_and_run_exits_6,
        a_command_ignoring_sigterm_is_killed_after_the_grace,
        a_lost_hold_stops_every_process_cmd_started,
        what_cmd_leaves_running_is_stopped_before_the_release,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// CMD traps TERM (records it, exits 0); another process force-releases one of the two files. `holds run`
/// exits 6 (not CMD's 0), says the hold on that file was lost and who forced it, and releases the other.
/// With a 30 s TTL the next renewal is 10 s away: the loss is seen from the store's events, sooner.
fn force_release_stops_the_command_with_sigterm_and_run_exits_6(b: &Backend) {
    let started = scratch(b, "started");
    let term = scratch(b, "term");
    let script = format!(
        "trap '{}; exit 0' TERM; {}; while :; do sleep 0.02; done",
        report(&term, "TERM"),
        report(&started, "up")
    );
    let mut run = Background::spawn(run_command(
        b,
        &["--agent", "a", "--ttl", "30s", "lost.rs", "kept.rs"],
        &sh(&script),
    ));
    run.wait_for_report(&started, SETTLE);
    let forced = b.run(["--json", "release", "--force", "lost.rs", "--by", "ops"]);
    forced.assert_code(0);
    assert_eq!(forced.json()["released"], true, "{forced}");
    let released = Instant::now();
    assert_eq!(wait_for_file(&term, SETTLE), "TERM", "CMD got SIGTERM");
    let done = run.finish();
    done.assert_code(6);
    assert!(
        released.elapsed() < Duration::from_secs(8),
        "the loss took {:?} to act on: {done}",
        released.elapsed()
    );
    assert!(done.stderr.contains("lost the hold on"), "{done}");
    assert!(done.stderr.contains(&crate::abs(b, "lost.rs")), "{done}");
    assert!(done.stderr.contains("force-released by ops"), "{done}");
    assert!(done.stderr.contains("SIGTERM"), "{done}");
    assert_eq!(
        holder(b, "kept.rs"),
        None,
        "the other file is released: {done}"
    );
    assert_eq!(holder(b, "lost.rs"), None, "{done}");
}

/// CMD records SIGTERM and carries on; after `--grace 2s` it is killed: `holds run` exits 6 about two
/// seconds after the TERM (not at once, not after the default 5 s) and CMD's process is gone.
fn a_command_ignoring_sigterm_is_killed_after_the_grace(b: &Backend) {
    let started = scratch(b, "started");
    let term = scratch(b, "term");
    let script = format!(
        "trap '{}' TERM; {}; while :; do sleep 0.02; done",
        report(&term, "TERM"),
        report(&started, "$$")
    );
    let mut run = Background::spawn(run_command(
        b,
        &[
            "--agent",
            "a",
            "--ttl",
            "30s",
            "--grace",
            "2s",
            "stubborn.rs",
        ],
        &sh(&script),
    ));
    let pid = run.wait_for_report(&started, SETTLE);
    b.run(["release", "--force", "stubborn.rs", "--by", "ops"])
        .assert_code(0);
    wait_for_file(&term, SETTLE);
    let termed = Instant::now();
    let done = run.finish();
    let after_term = termed.elapsed();
    done.assert_code(6);
    assert!(done.stderr.contains("SIGKILL in 2s"), "{done}");
    // TERM was sent before CMD wrote its report, and the kill comes 2 s after TERM; the report may have
    // lagged TERM by the shell's loop (tens of milliseconds), hence the margin.
    assert!(
        after_term >= Duration::from_millis(1500),
        "killed {after_term:?} after TERM, before the 2 s grace: {done}"
    );
    assert!(
        after_term < Duration::from_millis(4500),
        "killed {after_term:?} after TERM: the default 5 s grace, not --grace 2s? {done}"
    );
    let proc = std::path::Path::new("/proc").join(&pid);
    assert!(!proc.exists(), "CMD (pid {pid}) still exists: {done}");
    assert_eq!(holder(b, "stubborn.rs"), None, "{done}");
}

/// The processes of process group `pgid` (from /proc: `pid (comm) state ppid pgrp ...`).
fn group_members(pgid: &str) -> Vec<String> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        if stat[close + 2..].split(' ').nth(2) == Some(pgid) {
            members.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    members
}

/// CMD (a shell) starts a background `sleep` and waits; a force-release stops the whole group: holds run
/// exits 6 and no process of CMD's group is left, the background one included.
fn a_lost_hold_stops_every_process_cmd_started(b: &Backend) {
    let started = scratch(b, "started");
    let background = scratch(b, "background");
    let script = format!(
        "{}; sleep 300 & {}; wait",
        report(&started, "$$"),
        report(&background, "$!")
    );
    let mut run = Background::spawn(run_command(
        b,
        &["--agent", "a", "--ttl", "30s", "--grace", "1s", "group.rs"],
        &sh(&script),
    ));
    let pgid = run.wait_for_report(&started, SETTLE);
    let sleeper = wait_for_file(&background, SETTLE);
    assert!(
        group_members(&pgid).contains(&sleeper),
        "CMD leads its own group"
    );
    b.run(["release", "--force", "group.rs", "--by", "ops"])
        .assert_code(0);
    let done = run.finish();
    done.assert_code(6);
    assert_eq!(group_members(&pgid), Vec::<String>::new(), "{done}");
    assert!(
        !std::path::Path::new("/proc").join(&sleeper).exists(),
        "{done}"
    );
}

/// CMD exits 0 and leaves a background `sleep` in its group: the sleep is stopped, then the file is
/// released and holds run exits with CMD's 0.
fn what_cmd_leaves_running_is_stopped_before_the_release(b: &Backend) {
    let started = scratch(b, "started");
    let background = scratch(b, "background");
    let script = format!(
        "{}; sleep 300 & {}; exit 0",
        report(&started, "$$"),
        report(&background, "$!")
    );
    let run = Background::spawn(run_command(
        b,
        &["--agent", "a", "--ttl", "30s", "--grace", "1s", "left.rs"],
        &sh(&script),
    ));
    let done = run.finish();
    done.assert_code(0);
    let pgid = wait_for_file(&started, SETTLE);
    let sleeper = wait_for_file(&background, SETTLE);
    assert!(
        !std::path::Path::new("/proc").join(&sleeper).exists(),
        "{done}"
    );
    assert_eq!(group_members(&pgid), Vec::<String>::new(), "{done}");
    assert_eq!(holder(b, "left.rs"), None, "{done}");
}

/// `holds run --agent a --ttl TTL FILE` of a CMD that runs until SIGTERM, which it reports to the returned
/// file (and exits 0); returns once CMD is up.
fn run_until_term(env: &crate::support::CliEnv, ttl: &str, file: &str) -> (Background, PathBuf) {
    let started = scratch(env, "started");
    let term = scratch(env, "term");
    let script = format!(
        "trap '{}; exit 0' TERM; {}; {}",
        report(&term, "TERM"),
        report(&started, "up"),
        until_exists(&scratch(env, "never"))
    );
    let mut run = Background::spawn(run_command(
        env,
        &["--agent", "a", "--ttl", ttl, file],
        &sh(&script),
    ));
    run.wait_for_report(&started, SETTLE);
    (run, term)
}

/// The SQLite store removed under a running `holds run` (`rm x.db*`; a new store may be made at the same
/// path): it is a lost store, not one that still works, so past the TTL CMD is stopped and run exits 6.
#[test]
fn run_exits_6_when_its_sqlite_store_is_removed() {
    let env = crate::support::CliEnv::sqlite();
    let (run, term) = run_until_term(&env, "2s", "gone.rs");
    let db = env.db_path();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    // Another agent takes the file on the store that now lives at the path.
    crate::announce(&env, "gone.rs", "b", "30s");
    assert_eq!(wait_for_file(&term, SETTLE), "TERM", "CMD got SIGTERM");
    let done = run.finish();
    done.assert_code(6);
    // Removed, or (once b's announce made a new one) replaced.
    assert!(
        done.stderr.contains("was removed") || done.stderr.contains("was replaced"),
        "{done}"
    );
}

/// JetStream (nats-server killed): nats-server goes away while `holds run`
/// holds a 1 s hold; once it cannot renew for longer than the TTL, CMD gets SIGTERM and run exits 6.
#[test]
fn run_exits_6_when_the_store_is_unreachable_past_the_ttl() {
    let mut server = NatsServer::start();
    let env = crate::support::CliEnv::nats(server.url());
    let (run, term) = run_until_term(&env, "1s", "far.rs");
    server.kill();
    let killed = Instant::now();
    wait_until("holds run to say the hold was lost", SETTLE, || {
        run.stderr_so_far().contains("lost the hold")
    });
    let noticed = killed.elapsed();
    assert_eq!(wait_for_file(&term, SETTLE), "TERM");
    let done = run.finish();
    done.assert_code(6);
    assert!(done.stderr.contains("not renewable"), "{done}");
    // Renewals are every 333 ms; the loss is called once none succeeded for a TTL (1 s).
    assert!(
        noticed < Duration::from_secs(5),
        "the loss took {noticed:?} to notice: {done}"
    );
    eprintln!(
        "store gone -> loss noticed in {noticed:?}; holds run exited {:?} after",
        done.elapsed
    );
}
