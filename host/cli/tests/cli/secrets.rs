//! No secret ever appears in output, logs or a child's environment: a password and a token are planted
//! (in a NATS URL, in NATS_PASSWORD and NATS_TOKEN) and every output of holds is searched for them: text
//! and `--json` results and errors, `--help`, `HOLDS_LOG=debug` logs, and the environment `holds run`
//! gives its command.

use crate::support::{CliEnv, Run};
use holds_nats_fixture::NatsServer;

const PASSWORD: &str = "S3cretPW-planted";
const TOKEN: &str = "T0ken-planted";

#[track_caller]
fn assert_clean(run: &Run, what: &str) {
    for secret in [PASSWORD, TOKEN] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{what} shows {secret}: {run}"
        );
    }
}

fn holds(env: &CliEnv, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = env.command(args);
    cmd.envs(vars.iter().copied());
    crate::support::run_command_with_input(cmd, "")
}

#[test]
fn a_planted_password_and_token_appear_in_no_output_log_or_child_environment() {
    let server = NatsServer::with_config(format!(
        "authorization {{ user: alice, password: \"{PASSWORD}\" }}\n"
    ));
    let url = server
        .url()
        .replace("nats://", &format!("nats://alice:{PASSWORD}@"));
    let wrong = server
        .url()
        .replace("nats://", &format!("nats://alice:x{PASSWORD}@"));
    let env = CliEnv::sqlite();
    let debug = [("HOLDS_LOG", "debug")];

    // A working connection, with every log line on.
    let run = holds(
        &env,
        &["--nats", &url, "announce", "a.rs", "--agent", "a"],
        &debug,
    );
    run.assert_code(0);
    assert!(run.stderr.contains("DEBUG"), "the logs are on: {run}");
    assert_clean(&run, "announce with debug logs");
    let run = holds(&env, &["--json", "--nats", &url, "who-has", "a.rs"], &debug);
    run.assert_code(0);
    assert_clean(&run, "who-has --json with debug logs");

    // A refused one: the error in text and in JSON, and the logs.
    for json in [false, true] {
        let mut args = vec!["--nats", wrong.as_str(), "list"];
        if json {
            args.insert(0, "--json");
        }
        let run = holds(&env, &args, &debug);
        run.assert_code(1);
        assert!(
            run.stderr.contains("***@127.0.0.1"),
            "the URL is shown redacted: {run}"
        );
        assert_clean(&run, "a refused connection");
    }
    let run = holds(
        &env,
        &["--nats", &server.url(), "list"],
        &[
            ("NATS_USER", "alice"),
            ("NATS_PASSWORD", "wrong-S3cretPW-planted"),
        ],
    );
    run.assert_code(1);
    assert_clean(&run, "a refused NATS_PASSWORD");

    // --help, with the secrets in the environment clap shows defaults from.
    let run = holds(
        &env,
        &["--help"],
        &[
            ("NATS_PASSWORD", PASSWORD),
            ("NATS_TOKEN", TOKEN),
            ("NATS_URL", &url),
        ],
    );
    run.assert_code(0);
    assert_clean(&run, "--help");

    // The command holds run starts: over NATS (the URL's password), and on SQLite with both variables set.
    let run = holds(
        &env,
        &["run", "r.rs", "--agent", "a", "--", "env"],
        &[("NATS_URL", &url)],
    );
    run.assert_code(0);
    assert!(run.stdout.contains("HOLDS_AGENT=a"), "env ran: {run}");
    assert!(run.stdout.contains("NATS_URL=nats://***@"), "{run}");
    assert_clean(&run, "run's child over NATS");
    let run = holds(
        &env,
        &["run", "r.rs", "--agent", "a", "--", "env"],
        &[("NATS_PASSWORD", PASSWORD), ("NATS_TOKEN", TOKEN)],
    );
    run.assert_code(0);
    assert!(run.stdout.contains("HOLDS_AGENT=a"), "env ran: {run}");
    assert_clean(&run, "run's child on SQLite");
}
