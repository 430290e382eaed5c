//! Signals sent to `holds run` reach CMD, which decides what they mean: `holds run` exits with CMD's code
//! and releases the hold. If `holds run` is killed outright, CMD still gets SIGTERM (it must not go on
//! editing files nobody holds).

use super::{Background, SETTLE, holder, report, run_command, scratch, sh, wait_for_file};
use crate::Backend;
use crate::support::send_signal;

holds_test_support::matrix! {
    fn {
        signals_to_run_are_forwarded_and_run_exits_with_the_commands_code,
        a_killed_run_sends_its_command_sigterm,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// For each signal, a fresh `holds run` whose agent comes from `HOLDS_AGENT` (no `--agent`); CMD traps
/// TERM, INT, USR1 and HUP, records which one came and exits with a code of its own for it.
fn signals_to_run_are_forwarded_and_run_exits_with_the_commands_code(b: &Backend) {
    for (signal, code) in [("TERM", 21), ("INT", 22), ("USR1", 23), ("HUP", 24)] {
        let started = scratch(b, &format!("started-{signal}"));
        let got = scratch(b, &format!("got-{signal}"));
        let traps: String = [("TERM", 21), ("INT", 22), ("USR1", 23), ("HUP", 24)]
            .iter()
            .map(|(s, c)| format!("trap '{}; exit {c}' {s}; ", report(&got, s)))
            .collect();
        let script = format!(
            "{traps}{}; while :; do sleep 0.02; done",
            report(&started, "$HOLDS_AGENT")
        );
        let mut cmd = run_command(b, &["--ttl", "30s", "sig.rs"], &sh(&script));
        cmd.env("HOLDS_AGENT", "env-agent");
        let run = Background::spawn(cmd);
        assert_eq!(
            wait_for_file(&started, SETTLE),
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

/// SIGKILL cannot be forwarded; CMD gets SIGTERM from the kernel when its parent dies.
fn a_killed_run_sends_its_command_sigterm(b: &Backend) {
    let started = scratch(b, "started");
    let term = scratch(b, "term");
    let script = format!(
        "trap '{}; exit 0' TERM; {}; while :; do sleep 0.02; done",
        report(&term, "TERM"),
        report(&started, "up")
    );
    let run = Background::spawn(run_command(
        b,
        &["--agent", "a", "--ttl", "30s", "orphan.rs"],
        &sh(&script),
    ));
    wait_for_file(&started, SETTLE);
    send_signal(run.pid(), "KILL");
    assert_eq!(wait_for_file(&term, SETTLE), "TERM", "CMD got SIGTERM");
    let done = run.finish();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&done.status),
        Some(9),
        "{done}"
    );
    // Nobody could release it: the hold stays until its TTL runs out.
    assert_eq!(holder(b, "orphan.rs").as_deref(), Some("a"));
}
