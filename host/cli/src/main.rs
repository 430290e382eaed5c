//! The `holds` command line: one module per subcommand (`commands/`), the shared
//! options and exit codes in `args.rs`, output in `output.rs`, opening the store in
//! `store.rs`.

mod agent;
mod args;
mod commands;
mod failure;
mod files;
mod output;
mod secrets;
mod store;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use commands::{
    announce, bench, check, component, guard, hook, list, log, mcp, probe, release, replay, run,
    watch, who_has,
};
use failure::{Failure, exit};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  store or runtime error (unreachable store, corrupt entry, guest failure)
  2  invalid input or usage (empty agent, bad duration, TTL 0 or over the max,
     bad bucket name, relative or empty path, unknown command)
  3  held by another agent (the message names every holder and when each
     expires); check: a file is held by another agent or at another token;
     guard check: a staged or pushed file is held by another agent (block mode)
  4  who-has, check: nobody holds the file
  5  replay: the guest diverged from the trace (the first diverging step is printed)
  6  run: a hold was lost while CMD ran (CMD was stopped)
  126, 127  run: CMD could not be started, or was not found
  run exits with CMD's own exit code otherwise (128+N for a signal N).
  hook claude-code exits 0 whether it denies or not (a deny is its JSON on
  stdout), 2 for input that is not a PreToolUse event.

--agent defaults to HOLDS_AGENT and --ttl to HOLDS_TTL (else 30s), so an agent's
environment sets them once.

Without --nats, holds uses an embedded SQLite database (--store) that every
process on this machine shares. FILE may be relative: it is resolved against the
working directory and cleaned. Durations: 30s, 5m, 250ms, 1h30m.";

/// File-level holds (leases) for fleets of coding agents editing one workspace.
#[derive(Parser, Debug)]
#[command(name = "holds", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: args::Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Place or renew holds on FILEs (several: all or nothing); prints the claims.
    Announce(announce::Opts),
    /// Run a command while holding FILEs: renewed meanwhile, released at its exit.
    Run(run::Opts),
    /// Does AGENT hold every FILE live? (exit 0; 3 held by another; 4 by nobody)
    Check(check::Opts),
    /// Release AGENT's hold on FILE (a no-op when it holds none), or with --force
    /// whoever's.
    Release(release::Opts),
    /// Who holds FILE (exit 4 when nobody does).
    WhoHas(who_has::Opts),
    /// Every live hold.
    List(list::Opts),
    /// The store's release log: who released or force-released which hold, from
    /// which process.
    Log(log::Opts),
    /// Stream events: current holds first, then live changes, until interrupted.
    Watch(watch::Opts),
    /// Check the store is reachable; fails within seconds when it is not.
    Probe(probe::Opts),
    /// Replay a recorded trace against the embedded (or another) guest build.
    Replay(replay::Opts),
    /// Write the embedded holds:core component, for other runtimes (jco, wasmtime-py).
    Component(component::Opts),
    /// An MCP server over stdio: holds as tools for agents, renewed while the session lives.
    Mcp(mcp::Opts),
    /// Git pre-commit and pre-push hooks stopping commits of files others hold.
    Guard(guard::Opts),
    /// Edit-time guards for agents' hook mechanisms (claude-code).
    Hook(hook::Opts),
    /// Measure holds against raw async-nats baselines (see BENCHMARKS.md).
    Bench(bench::Opts),
}

/// Report a command-line parsing error: its first paragraph, as one sentence.
fn usage_error(clap_text: &str, json: bool) {
    let sentence = clap_text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let sentence = sentence.strip_prefix("error: ").unwrap_or(&sentence);
    let failure = Failure::usage(anyhow::anyhow!("{sentence} (see holds --help)"));
    output::failure(&failure, json);
}

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::from(exit::OK);
        }
        Err(e) => {
            // Every usage error exits 2 with one sentence (clap's text without the
            // usage block), and a JSON error object too when --json was asked for.
            let json = std::env::args_os().any(|a| a == "--json");
            usage_error(&e.to_string(), json);
            return ExitCode::from(exit::USAGE);
        }
    };
    tracing_subscriber::fmt()
        // Silent unless HOLDS_LOG asks: errors reach the user as one sentence.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOLDS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(secrets::ScrubbedStderr(std::sync::Arc::new(
            secrets::Secrets::of(&cli.global.auth, cli.global.nats.as_deref()),
        )))
        .init();
    // The release log names the process that released a hold by its subcommand.
    let subcommand = matches.subcommand_name().unwrap_or_default();
    holds::kv::name_this_process(&format!("holds {subcommand}"));
    // A CLI call is a short-lived process; the benchmark measures the library's
    // long-lived configuration.
    if !matches!(cli.command, Command::Bench(_) | Command::Mcp(_)) {
        holds::prefer_one_shot_engine();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let json = cli.global.json;
    let outcome = match cli.command {
        Command::Announce(o) => commands::announce::run(&cli.global, o).await,
        Command::Run(o) => commands::run::run(&cli.global, o).await,
        Command::Check(o) => commands::check::run(&cli.global, o).await,
        Command::Release(o) => commands::release::run(&cli.global, o).await,
        Command::WhoHas(o) => commands::who_has::run(&cli.global, o).await,
        Command::List(o) => commands::list::run(&cli.global, o).await,
        Command::Log(o) => commands::log::run(&cli.global, o).await,
        Command::Watch(o) => commands::watch::run(&cli.global, o).await,
        Command::Probe(o) => commands::probe::run(&cli.global, o).await,
        Command::Replay(o) => commands::replay::run(json, o).await,
        Command::Component(o) => commands::component::run(o),
        Command::Mcp(o) => commands::mcp::run(&cli.global, o).await,
        Command::Guard(o) => commands::guard::run(&cli.global, o).await,
        Command::Hook(o) => commands::hook::run(&cli.global, o).await,
        Command::Bench(o) => commands::bench::run(&cli.global, o).await,
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            output::failure(&failure, json);
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks its definitions only in debug builds (this suite runs in
    /// release), so the check that bit once is made here too: a subcommand's
    /// option must not reuse a global option's name.
    #[test]
    fn no_subcommand_option_shadows_a_global_one() {
        let cli = super::Cli::command();
        let globals: Vec<&str> = cli
            .get_arguments()
            .filter(|a| a.is_global_set())
            .filter_map(|a| a.get_long())
            .collect();
        assert!(globals.contains(&"token"), "globals: {globals:?}");
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments().filter(|a| !a.is_global_set()) {
                if let Some(long) = arg.get_long() {
                    assert!(
                        !globals.contains(&long),
                        "holds {} --{long} shadows the global --{long}",
                        sub.get_name()
                    );
                }
            }
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
