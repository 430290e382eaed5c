//! Writing traces.

use super::format::{CallRecord, Header};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes a trace to any writer: the header at once, then one line per finished
/// call. Shared by every instance of a manager.
pub struct Recorder {
    out: Mutex<Output>,
    next_call: AtomicU64,
}

struct Output {
    writer: Box<dyn Write + Send>,
    written: u64,
}

impl Recorder {
    /// Start a trace of the component with this digest (see [`crate::Runtime`]).
    pub fn new(mut out: Box<dyn Write + Send>, component_digest: &str) -> std::io::Result<Self> {
        let header = serde_json::to_string(&Header::new(component_digest))?;
        writeln!(out, "{header}")?;
        out.flush()?;
        Ok(Recorder {
            out: Mutex::new(Output {
                writer: out,
                written: 0,
            }),
            next_call: AtomicU64::new(0),
        })
    }

    /// The number of the next call to start.
    pub(crate) fn start_call(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::SeqCst)
    }

    /// Append one finished call as one line (whole lines only, even under
    /// concurrency). A failed write is logged, never fails the call itself.
    pub(crate) fn write(&self, mut record: CallRecord) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        record.written = out.written;
        let mut line = match serde_json::to_vec(&record) {
            Ok(line) => line,
            Err(e) => return tracing::error!("a trace record does not serialize: {e}"),
        };
        line.push(b'\n');
        out.written += 1;
        let writer = &mut out.writer;
        // One write per line (one system call on an unbuffered file).
        if let Err(e) = writer.write_all(&line).and_then(|()| writer.flush()) {
            tracing::error!("writing the trace failed: {e}");
        }
    }
}
