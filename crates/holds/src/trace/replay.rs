//! Replaying traces: each recorded export call is made again on a guest whose
//! every import is answered from the record, and must repeat it exactly.

use super::format::{
    CallRecord, ExportCall, FORMAT, Header, ImportCall, Step, VERSION, WIT_PACKAGE,
};
use crate::runtime::Runtime;
use crate::runtime::imports::Io;
use crate::runtime::invoke::Instance;
use serde::de::DeserializeOwned;
use std::collections::{HashSet, VecDeque};
use std::io::BufRead;
use std::sync::Arc;

/// Why a trace cannot be replayed at all (exit 2 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read the trace: {0}")]
    Io(String),
    #[error("the trace is empty: no header line")]
    Empty,
    #[error("line {line}: {reason}")]
    Format { line: usize, reason: String },
    #[error("the trace is {found}, this host replays {FORMAT} v{VERSION} of {WIT_PACKAGE}")]
    ForeignVersion { found: String },
    #[error("the replay could not run: {0}")]
    Runtime(String),
}

/// The first place a replayed guest did something else than the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The recorded call's number, and the trace line it is on (1-based).
    pub call: u64,
    pub line: usize,
    /// The export (`announce`, `who-has`, ...).
    pub export: String,
    /// The import step (0-based) that differed; `None` when the result differed.
    pub step: Option<usize>,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(step) => write!(
                f,
                "call {} ({}, trace line {}) diverged at import step {step}: expected {}, got {}",
                self.call, self.export, self.line, self.expected, self.actual
            ),
            None => write!(
                f,
                "call {} ({}, trace line {}) returned a different result: expected {}, got {}",
                self.call, self.export, self.line, self.expected, self.actual
            ),
        }
    }
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub header: Header,
    /// Calls replayed (up to and including a divergent one).
    pub calls: usize,
    /// Import steps answered.
    pub steps: usize,
    /// `sha256:<hex>` of the component replayed against.
    pub component: String,
    /// `None`: every call was identical.
    pub divergence: Option<Divergence>,
}

/// How a replayed call failed to follow its record.
#[derive(Debug, Clone)]
pub(crate) enum TapeFailure {
    Diverged {
        step: usize,
        expected: Option<ImportCall>,
        actual: ImportCall,
    },
    BadResult {
        step: usize,
        reason: String,
    },
}

/// The recorded steps of one call, handed out in order.
#[derive(Default)]
pub(crate) struct Tape {
    steps: VecDeque<Step>,
    taken: usize,
    pub failure: Option<TapeFailure>,
}

impl Tape {
    fn new(steps: Vec<Step>) -> Self {
        Tape {
            steps: steps.into(),
            taken: 0,
            failure: None,
        }
    }

    /// The recorded answer to `call`, which must be the next recorded step. On a
    /// mismatch the failure is noted and the guest is trapped.
    pub fn answer<T: DeserializeOwned>(&mut self, call: ImportCall) -> wasmtime::Result<T> {
        let step = self.taken;
        self.taken += 1;
        let failure = match self.steps.pop_front() {
            Some(recorded) if recorded.call == call => {
                match serde_json::from_value(recorded.result) {
                    Ok(answer) => return Ok(answer),
                    Err(e) => TapeFailure::BadResult {
                        step,
                        reason: e.to_string(),
                    },
                }
            }
            Some(recorded) => TapeFailure::Diverged {
                step,
                expected: Some(recorded.call),
                actual: call,
            },
            None => TapeFailure::Diverged {
                step,
                expected: None,
                actual: call,
            },
        };
        self.failure = Some(failure);
        wasmtime::bail!("the replayed guest left its recorded path")
    }
}

fn describe(call: &ImportCall) -> String {
    serde_json::to_string(call).expect("import calls serialize")
}

fn export_name(call: &ExportCall) -> String {
    match serde_json::to_value(call) {
        Ok(serde_json::Value::Object(map)) => map
            .get("export")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string(),
        _ => "?".to_string(),
    }
}

/// Replay every call of the trace read from `reader` on `runtime`'s component,
/// stopping at the first divergence. No store or server is involved.
pub async fn replay(
    reader: impl BufRead,
    runtime: Arc<Runtime>,
) -> Result<ReplayReport, TraceError> {
    let mut lines = reader.lines();
    let header_line = match lines.next() {
        None => return Err(TraceError::Empty),
        Some(line) => line.map_err(|e| TraceError::Io(e.to_string()))?,
    };
    let header: Header = serde_json::from_str(&header_line).map_err(|e| TraceError::Format {
        line: 1,
        reason: format!("not a holds trace header: {e}"),
    })?;
    if header.format != FORMAT || header.version != VERSION || header.wit != WIT_PACKAGE {
        return Err(TraceError::ForeignVersion {
            found: format!("{} v{} of {}", header.format, header.version, header.wit),
        });
    }
    let mut report = ReplayReport {
        header,
        calls: 0,
        steps: 0,
        component: format!("sha256:{}", runtime.digest),
        divergence: None,
    };
    let mut instance: Option<Instance> = None;
    let mut seen_calls = HashSet::new();
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let line = line.map_err(|e| TraceError::Io(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: CallRecord = serde_json::from_str(&line).map_err(|e| TraceError::Format {
            line: number,
            reason: format!("not a complete call record (truncated or edited?): {e}"),
        })?;
        if record.written != index as u64 {
            return Err(TraceError::Format {
                line: number,
                reason: format!(
                    "records are out of order: this is record {} of the recording",
                    record.written
                ),
            });
        }
        if !seen_calls.insert(record.call) {
            return Err(TraceError::Format {
                line: number,
                reason: format!("call {} appears twice", record.call),
            });
        }
        let mut current = match instance.take() {
            Some(i) => i,
            None => runtime
                .instantiate()
                .await
                .map_err(|e| TraceError::Runtime(e.to_string()))?,
        };
        let steps = record.steps.len();
        let replayed = replay_call(&mut current, &record, number).await?;
        report.calls += 1;
        if let Some(divergence) = replayed.divergence {
            report.divergence = Some(divergence);
            return Ok(report);
        }
        report.steps += steps;
        // A trapped instance is never reused, live or replayed: the recording
        // host started the next call on a fresh one too.
        if !replayed.trapped {
            instance = Some(current);
        }
    }
    Ok(report)
}

/// How one replayed call went.
struct Replayed {
    /// How it diverged, if it did.
    divergence: Option<Divergence>,
    /// It trapped (as recorded, when there is no divergence).
    trapped: bool,
}

/// Replay one call.
async fn replay_call(
    instance: &mut Instance,
    record: &CallRecord,
    line: usize,
) -> Result<Replayed, TraceError> {
    let export = export_name(&record.export);
    instance
        .store
        .set_fuel(crate::runtime::FUEL_PER_CALL)
        .map_err(|e| TraceError::Runtime(e.to_string()))?;
    instance.store.data_mut().io = Io::Replay(Tape::new(record.steps.clone()));
    let outcome = instance.invoke(&record.export).await;
    let Io::Replay(tape) = std::mem::replace(
        &mut instance.store.data_mut().io,
        Io::Replay(Tape::default()),
    ) else {
        unreachable!("the io was set to replay above")
    };
    let trapped = outcome.is_err();
    let divergence = |step: Option<usize>, expected: String, actual: String| Replayed {
        divergence: Some(Divergence {
            call: record.call,
            line,
            export: export.clone(),
            step,
            expected,
            actual,
        }),
        trapped,
    };
    if let Some(failure) = tape.failure {
        return match failure {
            TapeFailure::Diverged {
                step,
                expected,
                actual,
            } => Ok(divergence(
                Some(step),
                expected
                    .as_ref()
                    .map_or("no further import call".to_string(), describe),
                describe(&actual),
            )),
            TapeFailure::BadResult { step, reason } => Err(TraceError::Format {
                line,
                reason: format!("import step {step} has a result of the wrong shape: {reason}"),
            }),
        };
    }
    let actual = match &outcome {
        Ok(result) => result.to_json(),
        Err(e) => serde_json::json!({ "trap": format!("{e:#}") }),
    };
    if !tape.steps.is_empty() {
        return Ok(divergence(
            Some(tape.taken),
            describe(&tape.steps[0].call),
            format!("no further import call (the call returned {actual})"),
        ));
    }
    if actual != record.result {
        return Ok(divergence(
            None,
            record.result.to_string(),
            actual.to_string(),
        ));
    }
    Ok(Replayed {
        divergence: None,
        trapped,
    })
}
