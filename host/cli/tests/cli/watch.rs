//! `holds watch` in one process sees the announces and releases other processes make, prints them as JSON
//! lines, and ends cleanly (exit 0) on SIGINT and SIGTERM, or when its reader goes away.

use crate::{Backend, abs, announce, assert_claim};
use std::time::Duration;

/// How long an event may take to reach the watcher (the SQLite store is polled every 50 ms).
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the watcher may take to end after a signal.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

holds_test_support::matrix! {
    fn {
        watch_sees_other_processes_and_ends_on_sigint,
        watch_ends_on_sigterm,
        watch_ends_quietly_when_its_reader_goes_away,
        watch_prints_expired_holds,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// A hold nobody renews expires, and the watcher prints that as `"kind": "expired"`, distinct from a
/// release: on JetStream the server's TTL marker, on SQLite the watching process's sweep.
fn watch_prints_expired_holds(b: &Backend) {
    // Once the watcher printed the current hold it is live: the 1 s hold cannot expire before it looks.
    announce(b, "long.rs", "a0", "1m");
    let mut watch = b.watch();
    let current = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(current["kind"], "announced", "{current}");
    let file = abs(b, "short.rs");
    let claim = announce(b, "short.rs", "a1", "1s");
    let announced = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(announced["kind"], "announced", "{announced}");
    assert_eq!(announced["revision"], claim["revision"], "{announced}");
    let expired = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(expired["kind"], "expired", "{expired}");
    assert_eq!(expired["file"], file.as_str(), "{expired}");
    assert!(
        expired["revision"].as_u64() > claim["revision"].as_u64(),
        "the expiry marker comes after the hold: {expired}"
    );
    // The file is free: who-has finds nobody, another agent takes it.
    b.run(["who-has", "short.rs"]).assert_code(4);
    announce(b, "short.rs", "a2", "30s");
    let taken = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(taken["kind"], "announced", "{taken}");
    assert_eq!(taken["hold"]["agent_id"], "a2", "{taken}");
}

fn watch_sees_other_processes_and_ends_on_sigint(b: &Backend) {
    // A hold made before the watch starts comes first, as the current state.
    let before = announce(b, "before.rs", "a0", "1m");
    let mut watch = b.watch();
    let first = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(first["kind"], "announced", "{first}");
    assert_eq!(first["file"], before["file"], "{first}");
    assert_eq!(first["revision"], before["revision"], "{first}");
    assert_eq!(first["hold"], before["hold"], "{first}");

    // Live changes by other processes.
    let file = abs(b, "src/live.rs");
    let claim = announce(b, "src/live.rs", "a1", "30s");
    let announced = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(announced["kind"], "announced", "{announced}");
    assert_eq!(announced["file"], file.as_str(), "{announced}");
    assert_eq!(announced["revision"], claim["revision"], "{announced}");
    assert_claim(
        &serde_json::json!({
            "file": announced["file"],
            "scope": announced["scope"],
            "revision": announced["revision"],
            "hold": announced["hold"],
        }),
        &file,
        "a1",
        Duration::from_secs(30),
        "",
    );
    assert_eq!(announced["hold"], claim["hold"]);

    // A refused announce changes nothing, so it prints nothing.
    b.run(["announce", "src/live.rs", "--agent", "a2", "--ttl", "30s"])
        .assert_code(3);

    let release = b.run(["--json", "release", "src/live.rs", "--agent", "a1"]);
    release.assert_code(0);
    let released = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(released["kind"], "released", "{released}");
    assert_eq!(released["file"], file.as_str(), "{released}");
    assert_eq!(
        released["revision"],
        release.json()["revision"],
        "{released}"
    );
    assert!(released.get("hold").is_none(), "{released}");

    // The other agent can take it now, and the watcher sees that too.
    let taken = announce(b, "src/live.rs", "a2", "30s");
    let event = watch.next_event(EVENT_TIMEOUT);
    assert_eq!(event["kind"], "announced", "{event}");
    assert_eq!(event["hold"]["agent_id"], "a2", "{event}");
    assert_eq!(event["revision"], taken["revision"], "{event}");
    watch.assert_quiet(Duration::from_millis(300));

    watch.signal("INT");
    let (status, took, stderr) = watch.wait(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "SIGINT ends watch cleanly: {status}, stderr {stderr:?}"
    );
    assert!(took < EXIT_TIMEOUT, "took {took:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn watch_ends_on_sigterm(b: &Backend) {
    announce(b, "t.rs", "a1", "30s");
    let mut watch = b.watch();
    watch.next_event(EVENT_TIMEOUT);
    watch.signal("TERM");
    let (status, _, stderr) = watch.wait(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM ends watch cleanly: {status}, stderr {stderr:?}"
    );
}

/// `holds watch | head -1`: once the reader is gone, the next event cannot be written and watch must end
/// without a panic.
fn watch_ends_quietly_when_its_reader_goes_away(b: &Backend) {
    announce(b, "p0.rs", "a1", "30s");
    let mut watch = b.watch();
    watch.next_event(EVENT_TIMEOUT);
    watch.close_stdout();
    // The first of these is read (and dropped) by the reader thread, which then closes the pipe; a later
    // one meets the closed pipe. The next one only if watch has not ended yet.
    for i in 1..=3 {
        announce(b, &format!("p{i}.rs"), "a1", "30s");
        if watch.ended_within(Duration::from_millis(200)) {
            break;
        }
    }
    let (status, _, stderr) = watch.wait(EVENT_TIMEOUT);
    assert!(!stderr.contains("panicked"), "watch panicked: {stderr}");
    assert_eq!(status.code(), Some(0), "{status}, stderr {stderr:?}");
}
