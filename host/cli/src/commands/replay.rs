//! `holds replay TRACE [--component FILE]`

use crate::failure::{Failure, Outcome, exit};
use crate::output;
use clap::Args;
use holds::Runtime;
use holds::trace::{self, TraceError};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
#[command(
    after_help = "Re-runs every recorded guest call with each import answered from the trace (no\nstore or server needed) and checks the guest makes the same import calls in the\nsame order and returns the same results. Exit 0: identical; 5: diverged (the first\ndiverging step is printed); 2: not a usable trace or component."
)]
pub struct Opts {
    /// A trace written with `holds --record FILE ...` or `ManagerBuilder::record`.
    pub trace: PathBuf,
    /// Replay against this build of the component instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub component: Option<PathBuf>,
}

#[derive(Serialize)]
struct ReplayJson {
    identical: bool,
    calls: usize,
    steps: usize,
    recorded_component: String,
    replayed_component: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    divergence: Option<DivergenceJson>,
}

#[derive(Serialize)]
struct DivergenceJson {
    call: u64,
    line: usize,
    export: String,
    /// The import step that differed; absent when the result differed.
    step: Option<usize>,
    expected: String,
    actual: String,
}

pub async fn run(json: bool, o: Opts) -> Outcome {
    let runtime = match &o.component {
        None => Runtime::embedded()?,
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                Failure::usage(anyhow::anyhow!(
                    "cannot read the component {}: {e}",
                    path.display()
                ))
            })?;
            Arc::new(Runtime::from_component(&bytes).map_err(|e| {
                Failure::usage(anyhow::anyhow!(
                    "{} is not a usable holds:core component: {e}",
                    path.display()
                ))
            })?)
        }
    };
    let file = std::fs::File::open(&o.trace).map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "cannot open the trace {}: {e}",
            o.trace.display()
        ))
    })?;
    let report = trace::replay(std::io::BufReader::new(file), runtime)
        .await
        .map_err(|e| match e {
            TraceError::Runtime(_) => Failure::store(anyhow::anyhow!("{}: {e}", o.trace.display())),
            _ => Failure::usage(anyhow::anyhow!("{}: {e}", o.trace.display())),
        })?;
    if json {
        output::print_json(&ReplayJson {
            identical: report.divergence.is_none(),
            calls: report.calls,
            steps: report.steps,
            recorded_component: report.header.component.clone(),
            replayed_component: report.component.clone(),
            divergence: report.divergence.as_ref().map(|d| DivergenceJson {
                call: d.call,
                line: d.line,
                export: d.export.clone(),
                step: d.step,
                expected: d.expected.clone(),
                actual: d.actual.clone(),
            }),
        });
    }
    match &report.divergence {
        None => {
            if !json {
                output::print(format_args!(
                    "identical: {} calls, {} import steps replayed on {} (recorded on {})",
                    report.calls, report.steps, report.component, report.header.component
                ));
            }
            Ok(exit::OK)
        }
        Some(divergence) => {
            output::print_err(format_args!("holds: replay diverged: {divergence}"));
            Ok(exit::DIVERGED)
        }
    }
}
