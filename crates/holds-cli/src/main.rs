//! The `holds` command line: one module per subcommand (`commands/`), the shared
//! options and exit codes in `args.rs`, output in `output.rs`, opening the store in
//! `store.rs`.

mod args;
mod commands;
mod output;
mod store;

use args::{Cli, Command, exit};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::from(exit::OK);
        }
        Err(e) => {
            // Every usage error exits 2 with one sentence (clap's text without the
            // usage block), and a JSON error object too when --json was asked for.
            let json = std::env::args_os().any(|a| a == "--json");
            args::usage_error(&e.to_string(), json);
            return ExitCode::from(exit::USAGE);
        }
    };
    tracing_subscriber::fmt()
        // Silent unless HOLDS_LOG asks: errors reach the user as one sentence.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOLDS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    // A CLI call is a short-lived process; the benchmark measures the library's
    // long-lived configuration.
    if !matches!(cli.command, Command::Bench(_)) {
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
        Command::Release(o) => commands::release::run(&cli.global, o).await,
        Command::WhoHas(o) => commands::who_has::run(&cli.global, o).await,
        Command::List(o) => commands::list::run(&cli.global, o).await,
        Command::Watch(o) => commands::watch::run(&cli.global, o).await,
        Command::Probe(o) => commands::probe::run(&cli.global, o).await,
        Command::Replay(o) => commands::replay::run(json, o).await,
        Command::Component(o) => commands::component::run(o),
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

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
