//! The `holds` command line.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::from(cli::exit::OK);
        }
        Err(e) => {
            // Every usage error exits 2 with one sentence (clap's text without the
            // usage block), and a JSON error object too when --json was asked for.
            let json = std::env::args_os().any(|a| a == "--json");
            cli::usage_error(&e.to_string(), json);
            return ExitCode::from(cli::exit::USAGE);
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
    if !matches!(cli.command, cli::Command::Bench(_)) {
        holds::prefer_one_shot_engine();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    runtime.block_on(cli::run(cli))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::cli::Cli::command().debug_assert();
    }
}
