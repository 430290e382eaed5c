//! Writing traces.

use super::format::{CallRecord, Header};
use std::io::{BufWriter, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Writes a trace to any writer: the header at once, then one line per finished
/// call. Shared by every instance of a manager.
///
/// Lines are buffered: written through when no call is in flight (an idle
/// manager's trace is complete on disk after each call), when the buffer fills,
/// at [`Recorder::flush`] (a manager's close) and on drop. A busy manager so
/// makes one system call per buffer, not one per call.
pub struct Recorder {
    out: Mutex<Output>,
    next_call: AtomicU64,
    in_flight: AtomicUsize,
}

struct Output {
    writer: BufWriter<Box<dyn Write + Send>>,
    written: u64,
    /// The line being serialized, kept for its capacity.
    line: Vec<u8>,
}

/// Buffer size: a few hundred records.
const BUFFER: usize = 256 * 1024;

/// A started call; its end (even when the call is cancelled) may make the
/// recorder idle, which writes the buffered lines through.
pub(crate) struct Started<'a> {
    recorder: &'a Recorder,
    /// The call's number.
    pub(crate) number: u64,
}

impl Drop for Started<'_> {
    fn drop(&mut self) {
        if self.recorder.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.recorder.flush();
        }
    }
}

impl Recorder {
    /// Start a trace of the component with this digest (see [`crate::Runtime`]).
    pub fn new(mut out: Box<dyn Write + Send>, component_digest: &str) -> std::io::Result<Self> {
        let header = serde_json::to_string(&Header::new(component_digest))?;
        writeln!(out, "{header}")?;
        out.flush()?;
        Ok(Recorder {
            out: Mutex::new(Output {
                writer: BufWriter::with_capacity(BUFFER, out),
                written: 0,
                line: Vec::with_capacity(1024),
            }),
            next_call: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Number the next call to start, counted in flight until the guard drops.
    pub(crate) fn start_call(&self) -> Started<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Started {
            recorder: self,
            number: self.next_call.fetch_add(1, Ordering::SeqCst),
        }
    }

    /// Append one finished call as one line (whole lines only, even under
    /// concurrency). A failed write is logged, never fails the call itself.
    pub(crate) fn write(&self, mut record: CallRecord) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        record.written = out.written;
        out.line.clear();
        if let Err(e) = serde_json::to_writer(&mut out.line, &record) {
            return tracing::error!("a trace record does not serialize: {e}");
        }
        out.line.push(b'\n');
        out.written += 1;
        let Output { writer, line, .. } = &mut *out;
        if let Err(e) = writer.write_all(line) {
            tracing::error!("writing the trace failed: {e}");
        }
    }

    /// Write every buffered line through to the writer.
    pub fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = out.writer.flush() {
            tracing::error!("writing the trace failed: {e}");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}
