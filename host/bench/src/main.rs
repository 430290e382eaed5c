//! `holds-bench`: holds against raw async-nats baselines on the same server, in one
//! run, with ratios (BENCHMARKS.md). `holds bench ARGS` runs this binary.

mod bench;
mod support;

use clap::Parser;
use std::process::ExitCode;

/// Measure holds against raw async-nats baselines (see BENCHMARKS.md).
#[derive(Parser, Debug)]
#[command(name = "holds-bench", version)]
struct Cli {
    #[command(flatten)]
    global: support::Global,
    #[command(flatten)]
    opts: bench::Opts,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    match runtime.block_on(bench::run(&cli.global, cli.opts)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            support::output::print_err(format_args!("holds-bench: {:#}", failure.error));
            ExitCode::from(failure.code)
        }
    }
}
