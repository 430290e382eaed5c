//! Signals sent to `holds run` reach CMD, which decides what they mean: `holds run` exits with CMD's code
//! and releases the hold. If `holds run` is killed outright, CMD still gets SIGTERM (it must not go on
//! editing files nobody holds). A signal that ends a process, sent while `holds run` is still claiming
//! (waiting), ends it there.

use super::{Background, SETTLE, holder, report, run_command, scratch, sh, wait_for_file};
use crate::Backend;
use crate::support::send_signal;

holds_test_support::matrix! {
    fn {
        signals_to_run_are_forwarded_and_run_exits_with_the_commands_code,
        a_killed_run_kills_its_command,
        a_signal_while_waiting_ends_run_before_the_command_starts,
        a_usr1_while_waiting_reaches_the_command_once_it_runs,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// For each signal, a fresh `holds run` whose agent comes from `HOLDS_AGENT` (no `--agent`); CMD traps
/// TERM, INT, USR1 and HUP, records which one came and exits with a code of its own for it.
fn signals_to_run_are_forwarded_and_run_exits_with_the_commands_code(b: &Backend) {
    const TRAPPED: [(&str, i32); 4] = [("TERM", 21), ("INT", 22), ("USR1", 23), ("HUP", 24)];
    for (signal, code) in TRAPPED {
        let started = scratch(b, &format!("started-{signal}"));
        let got = scratch(b, &format!("got-{signal}"));
        let traps: String = TRAPPED
            .iter()
            .map(|(s, c)| format!("trap '{}; exit {c}' {s}; ", report(&got, s)))
            .collect();
        let script = format!(
            "{traps}{}; while :; do sleep 0.02; done",
            report(&started, "$HOLDS_AGENT")
        );
        let mut cmd = run_command(b, &["--ttl", "30s", "sig.rs"], &sh(&script));
        cmd.env("HOLDS_AGENT", "env-agent");
        let mut run = Background::spawn(cmd);
        assert_eq!(
            run.wait_for_report(&started, SETTLE),
            "env-agent",
            "CMD sees HOLDS_AGENT"
        );
        assert_eq!(holder(b, "sig.rs").as_deref(), Some("env-agent"));
        send_signal(run.pid(), signal);
        assert_eq!(wait_for_file(&got, SETTLE), signal, "CMD got SIG{signal}");
        let done = run.finish();
        done.assert_code(code);
        assert!(!done.stderr.contains("panicked"), "{done}");
        // TTL 30 s: free at once only because it was released.
        assert_eq!(
            holder(b, "sig.rs"),
            None,
            "released after SIG{signal}: {done}"
        );
    }
}

/// SIGKILL cannot be forwarded; the kernel kills CMD when holds run dies, even a CMD that ignores SIGTERM.
fn a_killed_run_kills_its_command(b: &Backend) {
    let started = scratch(b, "started");
    let script = format!(
        "trap '' TERM; {}; while :; do sleep 0.02; done",
        report(&started, "$$")
    );
    let mut run = Background::spawn(run_command(
        b,
        &["--agent", "a", "--ttl", "30s", "orphan.rs"],
        &sh(&script),
    ));
    let pid = run.wait_for_report(&started, SETTLE);
    send_signal(run.pid(), "KILL");
    let done = run.finish();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&done.status),
        Some(9),
        "{done}"
    );
    let proc = std::path::Path::new("/proc").join(&pid);
    super::wait_until("CMD to be killed with holds run", SETTLE, || !proc.exists());
    // Nobody could release it: the hold stays until its TTL runs out.
    assert_eq!(holder(b, "orphan.rs").as_deref(), Some("a"));
}

/// SIGTERM or SIGINT while `holds run --wait` waits for a held file (CMD not started yet) ends holds run
/// at once with 128+N, CMD never starts and nothing is held; it is not kept until the wait ends (when CMD
/// would be started only to be stopped).
fn a_signal_while_waiting_ends_run_before_the_command_starts(b: &Backend) {
    crate::announce(b, "busy.rs", "a", "1m");
    for (signal, code) in [("TERM", 128 + 15), ("INT", 128 + 2)] {
        let ran = scratch(b, &format!("ran-{signal}"));
        let mut run = Background::spawn(run_command(
            b,
            &[
                "--agent", "b", "--ttl", "30s", "--wait", "30s", "busy.rs", "free.rs",
            ],
            &sh(&format!("touch '{}'", ran.display())),
        ));
        // Waiting: the same run without --wait is refused at once.
        run.assert_running_for(std::time::Duration::from_secs(1));
        send_signal(run.pid(), signal);
        let sent = std::time::Instant::now();
        let done = run.finish();
        let took = sent.elapsed();
        done.assert_code(code);
        assert!(
            took < std::time::Duration::from_secs(10),
            "ended {took:?} after SIG{signal}, with 30 s of wait left: {done}"
        );
        assert!(done.stderr.contains(&format!("SIG{signal}")), "{done}");
        assert!(!ran.exists(), "CMD started after SIG{signal}: {done}");
        assert_eq!(holder(b, "free.rs"), None, "{done}");
        assert_eq!(holder(b, "busy.rs").as_deref(), Some("a"), "{done}");
    }
    // After the wait is over the file is a's and nobody else's: release it, nobody takes it.
    b.run(["release", "busy.rs", "--agent", "a"]).assert_code(0);
    assert_eq!(holder(b, "busy.rs"), None);
}

/// SIGUSR1 while `holds run --wait` waits does not end it: it is kept, and CMD gets it as soon as it runs.
/// CMD has had no time to set a trap by then, so USR1's default action ends it: exit 128+10.
fn a_usr1_while_waiting_reaches_the_command_once_it_runs(b: &Backend) {
    crate::announce(b, "busy.rs", "a", "1m");
    let finish = scratch(b, "never");
    let mut run = Background::spawn(run_command(
        b,
        &["--agent", "b", "--ttl", "30s", "--wait", "30s", "busy.rs"],
        &sh(&super::until_exists(&finish)),
    ));
    run.assert_running_for(std::time::Duration::from_secs(1));
    send_signal(run.pid(), "USR1");
    // Still waiting: USR1 does not end holds run.
    run.assert_running_for(std::time::Duration::from_millis(500));
    b.run(["release", "busy.rs", "--agent", "a"]).assert_code(0);
    let done = run.finish();
    done.assert_code(128 + 10);
    assert_eq!(holder(b, "busy.rs"), None, "{done}");
}
