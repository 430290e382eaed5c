//! `holds announce FILE...`: several files all or nothing (JSON `{claims, atomic}`); `--wait D` blocks
//! while another process holds a file and takes it soon after that process releases it, or exits 3 when
//! the file is still held at the deadline. `holds run --wait` likewise.

use super::{Background, SETTLE, holder, report, run_command, scratch, sh, wait_for_file};
use crate::{Backend, abs, announce, assert_claim};
use std::time::{Duration, Instant};

holds_test_support::matrix! {
    fn {
        announce_several_files_is_all_or_nothing,
        announce_wait_takes_the_file_soon_after_another_process_releases_it,
        announce_wait_exits_3_when_still_held_at_the_deadline,
        run_wait_starts_the_command_once_the_file_is_released,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// How long a woken waiter may take to finish after the release (its deadline is 30 s).
const WAKE_BOUND: Duration = Duration::from_secs(5);

fn announce_several_files_is_all_or_nothing(b: &Backend) {
    let run = b.run([
        "--json", "announce", "z.rs", "x.rs", "y.rs", "--agent", "a", "--ttl", "45s",
    ]);
    run.assert_code(0);
    let out = run.json();
    let mut keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["atomic", "claims"], "{run}");
    // holds creates the bucket (nats-server 2.15, allow_atomic) or the database: one atomic write.
    assert_eq!(out["atomic"], true, "{run}");
    let claims = out["claims"].as_array().unwrap();
    let files: Vec<&str> = claims.iter().map(|c| c["file"].as_str().unwrap()).collect();
    let mut expected = vec![abs(b, "x.rs"), abs(b, "y.rs"), abs(b, "z.rs")];
    expected.sort();
    assert_eq!(files, expected, "claimed in sorted order: {run}");
    for claim in claims {
        assert_claim(
            claim,
            claim["file"].as_str().unwrap(),
            "a",
            Duration::from_secs(45),
            "",
        );
    }
    let before = b.list_json();
    assert_eq!(before.len(), 3);

    // b wants w.rs (free) and y.rs (a's): refused, naming a's hold, and w.rs is not taken.
    let refused = b.run([
        "--json", "announce", "w.rs", "y.rs", "--agent", "b", "--ttl", "45s",
    ]);
    refused.assert_code(3);
    let error = &refused.json()["error"];
    assert_eq!(error["kind"], "held-by-others", "{refused}");
    let y = claims
        .iter()
        .find(|c| c["file"] == abs(b, "y.rs").as_str())
        .unwrap();
    assert_eq!(error["holders"], serde_json::json!([y]), "{refused}");
    assert!(refused.stderr.contains("\"a\""), "{refused}");
    assert_eq!(holder(b, "w.rs"), None, "all or nothing: {refused}");
    assert_eq!(b.list_json(), before, "the refusal changed nothing");

    // One file given: the claim object itself, as before several were possible.
    let one = announce(b, "w.rs", "b", "45s");
    assert_claim(&one, &abs(b, "w.rs"), "b", Duration::from_secs(45), "");
}

fn announce_wait_takes_the_file_soon_after_another_process_releases_it(b: &Backend) {
    announce(b, "busy.rs", "a", "1m");
    let mut waiter = Background::spawn(b.command([
        "--json", "announce", "busy.rs", "free.rs", "--agent", "b", "--ttl", "30s", "--wait", "30s",
    ]));
    // Blocked: without --wait the same announce is refused at once.
    waiter.assert_running_for(Duration::from_secs(1));
    assert_eq!(holder(b, "free.rs"), None, "nothing held while waiting");
    let release = b.run(["--json", "release", "busy.rs", "--agent", "a"]);
    release.assert_code(0);
    let released_at = Instant::now();
    let released = release.json()["revision"].as_u64().unwrap();
    let done = waiter.finish();
    let after = released_at.elapsed();
    done.assert_code(0);
    assert!(
        after < WAKE_BOUND,
        "took the file {after:?} after the release: {done}"
    );
    let out = done.json();
    let claims = out["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 2, "{done}");
    for claim in claims {
        assert_eq!(claim["hold"]["agent_id"], "b", "{done}");
        assert!(
            claim["revision"].as_u64().unwrap() > released,
            "after the release: {done}"
        );
    }
    assert_eq!(holder(b, "busy.rs").as_deref(), Some("b"));
    eprintln!("release -> waiter done in {after:?}");
}

fn announce_wait_exits_3_when_still_held_at_the_deadline(b: &Backend) {
    announce(b, "busy.rs", "a", "1m");
    let run = b.run([
        "announce", "busy.rs", "free.rs", "--agent", "b", "--ttl", "30s", "--wait", "1500ms",
    ]);
    run.assert_code(3);
    assert!(
        run.elapsed >= Duration::from_millis(1500),
        "waited the whole 1.5 s: {run}"
    );
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert!(run.stderr.contains("\"a\""), "names the holder: {run}");
    assert_eq!(holder(b, "busy.rs").as_deref(), Some("a"));
    assert_eq!(holder(b, "free.rs"), None, "nothing taken");
}

fn run_wait_starts_the_command_once_the_file_is_released(b: &Backend) {
    announce(b, "busy.rs", "a", "1m");
    let ran = scratch(b, "ran");
    let mut run = Background::spawn(run_command(
        b,
        &["--agent", "b", "--ttl", "30s", "--wait", "30s", "busy.rs"],
        &sh(&report(&ran, "$HOLDS_AGENT")),
    ));
    run.assert_running_for(Duration::from_secs(1));
    assert!(!ran.exists(), "CMD ran while the file was held");
    b.run(["release", "busy.rs", "--agent", "a"]).assert_code(0);
    assert_eq!(wait_for_file(&ran, SETTLE), "b");
    run.finish().assert_code(0);
    assert_eq!(holder(b, "busy.rs"), None);
}
