//! `holds log`: every release and force-release is recorded in the store's release log with whose hold it
//! removed and the process that asked, so a release typed by another process (which ends the holder's
//! `holds run` with exit 6) can be traced afterwards. Reading the log changes nothing.

use super::{Background, SETTLE, holder, report, run_command, scratch, sh, wait_until};
use crate::{Backend, announce};

holds_test_support::matrix! {
    fn {
        a_release_typed_by_another_process_is_logged_with_who_asked,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

fn a_release_typed_by_another_process_is_logged_with_who_asked(b: &Backend) {
    let empty = b.run(["log"]);
    empty.assert_code(0);
    assert!(empty.stderr.contains("no releases recorded"), "{empty}");

    let started = scratch(b, "started");
    let script = format!("{}; while :; do sleep 0.02; done", report(&started, "up"));
    let mut run = Background::spawn(run_command(
        b,
        &["--agent", "a", "--ttl", "30s", "taken.rs", "kept.rs"],
        &sh(&script),
    ));
    run.wait_for_report(&started, SETTLE);
    let run_pid = run.pid();
    // Another process names itself agent a: holds cannot tell, but the log can say who it was.
    b.run(["release", "taken.rs", "--agent", "a"])
        .assert_code(0);
    run.finish().assert_code(6);
    wait_until("kept.rs released by the run", SETTLE, || {
        holder(b, "kept.rs").is_none()
    });
    announce(b, "stale.rs", "b", "5m");
    b.run(["release", "--force", "stale.rs", "--by", "ops"])
        .assert_code(0);

    let log = b.run(["--json", "log"]);
    log.assert_code(0);
    let records = log.json_lines();
    let of = |file: &str| {
        records
            .iter()
            .find(|r| r["file"] == crate::abs(b, file).as_str())
            .unwrap_or_else(|| panic!("{file} not in the log: {log}"))
            .clone()
    };
    let taken = of("taken.rs");
    assert_eq!(taken["action"], "released", "{log}");
    assert_eq!(taken["holder"], "a", "{log}");
    assert!(taken.get("forced_by").is_none(), "{log}");
    let process = taken["process"].as_str().unwrap();
    assert!(process.starts_with("holds release (pid "), "{log}");
    assert!(
        !process.contains(&format!("pid {run_pid},")),
        "not the run's own: {log}"
    );
    let kept = of("kept.rs");
    assert!(
        kept["process"]
            .as_str()
            .unwrap()
            .starts_with(&format!("holds run (pid {},", run_pid)),
        "the run released what it still held: {log}"
    );
    assert!(
        kept["hold_revision"].as_u64().unwrap() > 0
            && kept["revision"].as_u64() > kept["hold_revision"].as_u64(),
        "{log}"
    );
    let stale = of("stale.rs");
    assert_eq!(stale["action"], "force-released", "{log}");
    assert_eq!(
        (&stale["holder"], &stale["forced_by"]),
        (&"b".into(), &"ops".into()),
        "{log}"
    );
    // Oldest first, one line each.
    let revisions: Vec<u64> = records
        .iter()
        .map(|r| r["revision"].as_u64().unwrap())
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{log}");

    let text = b.run(["log", "--limit", "1"]);
    text.assert_code(0);
    assert_eq!(text.stdout.lines().count(), 1, "{text}");
    assert!(
        text.stdout.contains("force-released")
            && text.stdout.contains("(b's hold, revision ")
            && text.stdout.contains(" by ops, from holds release (pid "),
        "{text}"
    );
}
