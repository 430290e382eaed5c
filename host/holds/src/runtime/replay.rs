//! Replaying traces: each recorded export call is made again on a guest whose
//! every import is answered from the record (a [`Tape`], one more [`GuestIo`]),
//! and must repeat it exactly.

use super::engine::{FUEL_PER_CALL, Runtime};
use super::invoke::Instance;
use super::io::{Answer, GuestIo, Report};
use crate::convert;
use crate::kv::{KvError, Removal};
use crate::runtime::bindings::holds::core::kv as wit_kv;
use crate::trace::format::{
    CallRecord, FORMAT, Header, Step, TraceBytes, TraceKvError, VERSION, WIT_PACKAGE,
};
use crate::trace::lines::Lines;
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a trace cannot be replayed at all (exit 2 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The trace could not be read.
    #[error("cannot read the trace: {0}")]
    Io(String),
    /// The trace has no header line.
    #[error("the trace is empty: no header line")]
    Empty,
    /// A line is not a record of this format.
    #[error("line {line}: {reason}")]
    Format {
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The trace is of another format, version or WIT package.
    #[error("the trace is {found}, this host replays {FORMAT} v{VERSION} of {WIT_PACKAGE}")]
    ForeignVersion {
        /// What the header says.
        found: String,
    },
    /// The replay itself could not run (the component would not instantiate).
    #[error("the replay could not run: {0}")]
    Runtime(String),
}

/// The first place a replayed guest did something else than the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The recorded call's number.
    pub call: u64,
    /// The trace line it is on (1-based).
    pub line: usize,
    /// The export (`announce`, `who-has`, ...).
    pub export: String,
    /// The import step (0-based) that differed; `None` when the result differed.
    pub step: Option<usize>,
    /// What the trace recorded.
    pub expected: String,
    /// What the replayed guest did.
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
    /// The trace's header.
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

/// How a replayed call left its record.
#[derive(Debug, Clone)]
struct Diverged {
    step: usize,
    expected: Option<Step>,
    actual: Step,
}

/// The recorded steps of one call, handed out in order.
struct TapeState {
    steps: VecDeque<Step>,
    taken: usize,
    diverged: Option<Diverged>,
}

/// Imports answered from a call's recorded steps, which the guest must repeat
/// exactly; on the first other call the guest is trapped and the divergence kept.
struct Tape {
    state: Arc<Mutex<TapeState>>,
}

impl Tape {
    /// The next recorded step.
    fn next(&mut self) -> Option<Step> {
        let mut state = self.state.lock().unwrap();
        state.taken += 1;
        state.steps.pop_front()
    }

    /// The guest made `actual` where the trace has `expected`: note it, and trap.
    fn diverged<T>(&mut self, expected: Option<Step>, actual: Step) -> Answer<T> {
        let mut state = self.state.lock().unwrap();
        let step = state.taken - 1;
        state.diverged = Some(Diverged {
            step,
            expected,
            actual,
        });
        wasmtime::bail!("the replayed guest left its recorded path")
    }
}

fn kv_result<T>(r: Result<T, TraceKvError>) -> Result<T, KvError> {
    r.map_err(convert::kv_error_from_trace)
}

/// Each import takes the next recorded step, which must be the same call (its
/// answer aside); anything else is a divergence.
#[async_trait]
impl GuestIo for Tape {
    async fn get(&mut self, key: &str) -> Answer<Result<wit_kv::Entry, KvError>> {
        match self.next() {
            Some(Step::KvGet { key: k, result }) if k == key => {
                Ok(kv_result(result).map(|e| convert::wit_entry_from_trace(&e)))
            }
            other => {
                let actual = Step::KvGet {
                    key: key.to_string(),
                    result: Ok(crate::trace::format::TraceEntry::missing()),
                };
                self.diverged(other, actual)
            }
        }
    }

    async fn write_if_revision(
        &mut self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl_seconds: u32,
    ) -> Answer<Result<u64, KvError>> {
        match self.next() {
            Some(Step::KvWrite {
                key: k,
                value: v,
                expected: e,
                ttl_seconds: t,
                result,
            }) if k == key && v.0 == value && e == expected && t == ttl_seconds => {
                Ok(kv_result(result))
            }
            other => {
                let actual = Step::KvWrite {
                    key: key.to_string(),
                    value: TraceBytes(value.to_vec()),
                    expected,
                    ttl_seconds,
                    result: Ok(0),
                };
                self.diverged(other, actual)
            }
        }
    }

    async fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Answer<Result<u64, KvError>> {
        let why = convert::removal_to_trace(why);
        match self.next() {
            Some(Step::KvDelete {
                key: k,
                expected: e,
                why: w,
                note: n,
                result,
            }) if k == key && e == expected && w == why && n.0 == note => Ok(kv_result(result)),
            other => {
                let actual = Step::KvDelete {
                    key: key.to_string(),
                    expected,
                    why,
                    note: TraceBytes(note.to_vec()),
                    result: Ok(0),
                };
                self.diverged(other, actual)
            }
        }
    }

    async fn get_many(&mut self, keys: &[String]) -> Answer<Result<Vec<wit_kv::Entry>, KvError>> {
        match self.next() {
            Some(Step::KvGetMany { keys: k, result }) if k == keys => Ok(kv_result(result)
                .map(|entries| entries.iter().map(convert::wit_entry_from_trace).collect())),
            other => {
                let actual = Step::KvGetMany {
                    keys: keys.to_vec(),
                    result: Ok(Vec::new()),
                };
                self.diverged(other, actual)
            }
        }
    }

    async fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> Answer<Result<Vec<wit_kv::KeyedEntry>, KvError>> {
        match self.next() {
            Some(Step::KvScan {
                prefix: p,
                through: t,
                result,
            }) if p == prefix && t == through => {
                Ok(kv_result(result).map(|entries| convert::keyed_entries_from_trace(&entries)))
            }
            other => {
                let actual = Step::KvScan {
                    prefix: prefix.to_string(),
                    through,
                    result: Ok(Vec::new()),
                };
                self.diverged(other, actual)
            }
        }
    }

    async fn write_batch(&mut self, writes: &[wit_kv::Write]) -> Answer<Result<Vec<u64>, KvError>> {
        let asked: Vec<_> = writes.iter().map(convert::write_to_trace).collect();
        match self.next() {
            Some(Step::KvWriteBatch { writes: w, result }) if w == asked => Ok(kv_result(result)),
            other => {
                let actual = Step::KvWriteBatch {
                    writes: asked,
                    result: Ok(Vec::new()),
                };
                self.diverged(other, actual)
            }
        }
    }

    fn now(&mut self) -> Answer<i64> {
        match self.next() {
            Some(Step::ClockNow { result }) => Ok(result),
            other => self.diverged(other, Step::ClockNow { result: 0 }),
        }
    }

    async fn pause(&mut self, after: Duration) -> Answer<bool> {
        let after = crate::time::nanos(after);
        match self.next() {
            Some(Step::ClockPause { after: a, result }) if a == after => Ok(result),
            other => self.diverged(
                other,
                Step::ClockPause {
                    after,
                    result: false,
                },
            ),
        }
    }

    fn cas_retry(&mut self, key: &str, attempt: u32) -> Answer<()> {
        match self.next() {
            Some(Step::CasRetry {
                key: k, attempt: a, ..
            }) if k == key && a == attempt => Ok(()),
            other => {
                let actual = Step::CasRetry {
                    key: key.to_string(),
                    attempt,
                    result: (),
                };
                self.diverged(other, actual)
            }
        }
    }

    fn report(&mut self) -> Report {
        Report::default()
    }
}

/// Replay every call of the trace read from `reader` on `runtime`'s component,
/// stopping at the first divergence. No store or server is involved.
///
/// Every recorded call carries its own imports, so calls replay independently:
/// the trace is cut into contiguous parts, one per core, parsed and replayed in
/// parallel, and the parts' findings are read back in trace order. The report
/// is the one a line-by-line replay gives: the first divergence or bad line,
/// with the calls and steps before it.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let trace = std::io::BufReader::new(std::fs::File::open("trace.jsonl")?);
/// let report = holds::trace::replay(trace, holds::Runtime::embedded()?).await?;
/// match report.divergence {
///     None => println!("identical: {} calls", report.calls),
///     Some(d) => println!("diverged: {d}"),
/// }
/// # Ok(())
/// # }
/// ```
pub async fn replay(
    reader: impl BufRead,
    runtime: Arc<Runtime>,
) -> Result<ReplayReport, TraceError> {
    // Read everything first; an unreadable stretch ends the trace there (the
    // replay of what came before still decides whether that is reported).
    let (lines, read_error) = Lines::read(reader);
    let read_error = read_error.map(|e| TraceError::Io(e.to_string()));
    if lines.len() == 0 {
        return Err(read_error.unwrap_or(TraceError::Empty));
    }
    let header_line = lines
        .text(0)
        .ok_or_else(|| TraceError::Io("line 1 is not valid UTF-8".to_string()))?;
    let header: Header = serde_json::from_str(header_line).map_err(|e| TraceError::Format {
        line: 1,
        reason: format!("not a holds trace header: {e}"),
    })?;
    if header.format != FORMAT || header.version != VERSION || header.wit != WIT_PACKAGE {
        return Err(TraceError::ForeignVersion {
            found: format!("{} v{} of {}", header.format, header.version, header.wit),
        });
    }
    // The body: every line after the header.
    let body = lines.len() - 1;
    let lines = Arc::new(lines);
    let parts = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(body.div_ceil(MIN_PART))
        .max(1);
    let size = body.div_ceil(parts).max(1);
    let mut tasks = Vec::with_capacity(parts);
    for part in 0..parts {
        let range = (part * size).min(body)..((part + 1) * size).min(body);
        let (lines, runtime) = (lines.clone(), runtime.clone());
        tasks.push(tokio::spawn(async move {
            replay_part(&lines, range, &runtime).await
        }));
    }
    let mut found = Vec::with_capacity(parts);
    for task in tasks {
        found.push(
            task.await
                .map_err(|e| TraceError::Runtime(format!("a replay task failed: {e}")))?,
        );
    }
    let mut report = ReplayReport {
        header,
        calls: 0,
        steps: 0,
        component: format!("sha256:{}", runtime.digest),
        divergence: None,
    };
    // In trace order: the first call seen twice, bad line or divergence ends it.
    let mut seen_calls = HashSet::new();
    for part in found {
        for done in part.calls {
            if !seen_calls.insert(done.call) {
                return Err(TraceError::Format {
                    line: done.line,
                    reason: format!("call {} appears twice", done.call),
                });
            }
            report.calls += 1;
            if let Some(divergence) = done.divergence {
                report.divergence = Some(divergence);
                return Ok(report);
            }
            report.steps += done.steps;
        }
        if let Some(e) = part.error {
            return Err(e);
        }
    }
    match read_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Below this many lines a part is not worth a core.
const MIN_PART: usize = 256;

/// What one part of a trace came to.
struct Part {
    /// Its calls in trace order, up to and including a divergent one.
    calls: Vec<Done>,
    /// The bad line that ended it, if one did (after `calls`).
    error: Option<TraceError>,
}

/// One replayed call.
struct Done {
    call: u64,
    line: usize,
    steps: usize,
    divergence: Option<Divergence>,
}

/// Parse and replay body lines `range` (body line `i` is trace line `i + 2`)
/// on instances of its own, stopping at its first divergence or bad line.
async fn replay_part(lines: &Lines, range: std::ops::Range<usize>, runtime: &Runtime) -> Part {
    let mut calls = Vec::with_capacity(range.len());
    let error = replay_lines(lines, range, runtime, &mut calls).await.err();
    Part { calls, error }
}

/// [`replay_part`]'s loop: each call replayed is pushed onto `calls`.
async fn replay_lines(
    lines: &Lines,
    range: std::ops::Range<usize>,
    runtime: &Runtime,
    calls: &mut Vec<Done>,
) -> Result<(), TraceError> {
    let mut instance: Option<Instance> = None;
    for index in range {
        let number = index + 2;
        let line = lines.text(index + 1).ok_or_else(|| TraceError::Format {
            line: number,
            reason: "not valid UTF-8".to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_record(line, index, number)?;
        let mut current = match instance.take() {
            Some(i) => i,
            None => runtime
                .instantiate()
                .await
                .map_err(|e| TraceError::Runtime(e.to_string()))?,
        };
        let (call, steps) = (record.call, record.steps.len());
        let replayed = replay_call(&mut current, record, number).await?;
        let diverged = replayed.divergence.is_some();
        calls.push(Done {
            call,
            line: number,
            steps,
            divergence: replayed.divergence,
        });
        if diverged {
            return Ok(());
        }
        // A trapped instance is never reused, live or replayed: the recording
        // host started the next call on a fresh one too.
        if !replayed.trapped {
            instance = Some(current);
        }
    }
    Ok(())
}

/// Body line `index` (trace line `number`) as a call record in its place.
fn parse_record(line: &str, index: usize, number: usize) -> Result<CallRecord, TraceError> {
    let record: CallRecord = serde_json::from_str(line).map_err(|e| {
        // Valid JSON of the wrong shape (an edited answer), or a cut line.
        let reason = if serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok() {
            format!("a call record of the wrong shape: {e}")
        } else {
            format!("not a complete call record (truncated or edited?): {e}")
        };
        TraceError::Format {
            line: number,
            reason,
        }
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
    Ok(record)
}

/// How one replayed call went.
struct Replayed {
    divergence: Option<Divergence>,
    /// It trapped (as recorded, when there is no divergence).
    trapped: bool,
}

/// Replay one call.
async fn replay_call(
    instance: &mut Instance,
    record: CallRecord,
    line: usize,
) -> Result<Replayed, TraceError> {
    let CallRecord {
        call,
        export,
        steps,
        ..
    } = record;
    instance
        .store
        .set_fuel(FUEL_PER_CALL)
        .map_err(|e| TraceError::Runtime(e.to_string()))?;
    let state = Arc::new(Mutex::new(TapeState {
        steps: steps.into(),
        taken: 0,
        diverged: None,
    }));
    instance.store.data_mut().bind(Box::new(Tape {
        state: state.clone(),
    }));
    let rerun = instance.rerun(&export).await;
    instance.store.data_mut().unbind();
    let trapped = rerun.trapped();
    let divergence = |step: Option<usize>, expected: String, actual: String| Replayed {
        divergence: Some(Divergence {
            call,
            line,
            export: export.name().to_string(),
            step,
            expected,
            actual,
        }),
        trapped,
    };
    let state = state.lock().unwrap();
    if let Some(d) = &state.diverged {
        return Ok(divergence(
            Some(d.step),
            d.expected
                .as_ref()
                .map_or("no further import call".to_string(), Step::call_json),
            d.actual.call_json(),
        ));
    }
    if let Some(next) = state.steps.front() {
        return Ok(divergence(
            Some(state.taken),
            next.call_json(),
            format!(
                "no further import call (the call returned {})",
                rerun.outcome_json()
            ),
        ));
    }
    if rerun != export {
        return Ok(divergence(
            None,
            export.outcome_json(),
            rerun.outcome_json(),
        ));
    }
    Ok(Replayed {
        divergence: None,
        trapped,
    })
}
