//! Writing traces.

use super::format::{CallRecord, Header};
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Writes a trace to any writer: the header at once, then one line per finished
/// call. Shared by every instance of a manager.
///
/// Lines are buffered: written through once no call has been in flight for
/// [`IDLE`] (an idle manager's trace is complete on disk moments after its last
/// call), when the buffer fills, at [`Recorder::flush`] (a manager's close) and
/// on drop. A manager making calls one after another, or many at once, so makes
/// one system call per buffer, not one per call.
pub struct Recorder {
    shared: Arc<Shared>,
    next_call: AtomicU64,
    /// Writes lines through when the recorder goes idle.
    flusher: Option<std::thread::JoinHandle<()>>,
}

/// What the recorder and its flusher thread share.
struct Shared {
    out: Mutex<Output>,
    in_flight: AtomicUsize,
    /// Bumped by every call's end: the flusher sees whether any came since it looked.
    ends: AtomicU64,
    /// Set when lines are buffered and the flusher was told; cleared by a flush.
    /// An atomic, so a record costs no second lock: `stopping` is taken only to
    /// wake the flusher, once per buffered stretch.
    dirty: AtomicBool,
    /// The recorder is being dropped (the flusher's condition variable's lock).
    stopping: Mutex<bool>,
    wake: Condvar,
}

/// How long no call must be in flight before buffered lines are written through.
pub const IDLE: Duration = Duration::from_millis(2);

struct Output {
    writer: BufWriter<Box<dyn Write + Send>>,
    written: u64,
    /// The line being serialized, kept for its capacity.
    line: Vec<u8>,
}

/// Buffer size: a few hundred records.
const BUFFER: usize = 256 * 1024;

/// A started call; its end (even when the call is cancelled) may make the
/// recorder idle, which soon writes the buffered lines through.
pub(crate) struct Started<'a> {
    recorder: &'a Recorder,
    /// The call's number.
    pub(crate) number: u64,
}

impl Drop for Started<'_> {
    fn drop(&mut self) {
        let shared = &self.recorder.shared;
        shared.ends.fetch_add(1, Ordering::SeqCst);
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = out.writer.flush() {
            tracing::error!("writing the trace failed: {e}");
        }
    }

    /// The flusher thread: once told lines are buffered, it waits until no call
    /// has ended or been in flight for a whole [`IDLE`], then writes them through.
    /// It wakes once per buffered stretch and once per `IDLE` while calls go on,
    /// never once per call.
    fn flush_when_idle(&self) {
        let mut stopping = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while !self.dirty.load(Ordering::SeqCst) && !*stopping {
                stopping = self.wake.wait(stopping).unwrap_or_else(|e| e.into_inner());
            }
            if *stopping {
                return;
            }
            let seen = self.ends.load(Ordering::SeqCst);
            let (again, _) = self
                .wake
                .wait_timeout(stopping, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            stopping = again;
            let quiet = self.ends.load(Ordering::SeqCst) == seen
                && self.in_flight.load(Ordering::SeqCst) == 0;
            if quiet && !*stopping {
                // Cleared before the flush: a line written meanwhile sets it again.
                self.dirty.store(false, Ordering::SeqCst);
                drop(stopping);
                self.flush();
                stopping = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
            }
        }
    }
}

impl Recorder {
    /// Start a trace of the component with this digest (see [`crate::Runtime`]).
    pub fn new(mut out: Box<dyn Write + Send>, component_digest: &str) -> std::io::Result<Self> {
        let header = serde_json::to_string(&Header::new(component_digest))?;
        writeln!(out, "{header}")?;
        out.flush()?;
        let shared = Arc::new(Shared {
            out: Mutex::new(Output {
                writer: BufWriter::with_capacity(BUFFER, out),
                written: 0,
                line: Vec::with_capacity(1024),
            }),
            in_flight: AtomicUsize::new(0),
            ends: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            stopping: Mutex::new(false),
            wake: Condvar::new(),
        });
        let flusher = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("holds-trace".into())
                .spawn(move || shared.flush_when_idle())?
        };
        Ok(Recorder {
            shared,
            next_call: AtomicU64::new(0),
            flusher: Some(flusher),
        })
    }

    /// Number the next call to start, counted in flight until the guard drops.
    pub(crate) fn start_call(&self) -> Started<'_> {
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        Started {
            recorder: self,
            number: self.next_call.fetch_add(1, Ordering::SeqCst),
        }
    }

    /// Append one finished call as one line (whole lines only, even under
    /// concurrency). A failed write is logged, never fails the call itself.
    pub(crate) fn write(&self, mut record: CallRecord) {
        let mut out = self.shared.out.lock().unwrap_or_else(|e| e.into_inner());
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
        drop(out);
        // Tell the flusher once per buffered stretch, not once per line; under
        // its lock, so the wake cannot fall between its check and its wait.
        if !self.shared.dirty.swap(true, Ordering::SeqCst) {
            let _stopping = self
                .shared
                .stopping
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_one();
        }
    }

    /// Write every buffered line through to the writer.
    pub fn flush(&self) {
        self.shared.flush();
    }

    /// Calls started and not yet ended (recorded or cancelled).
    pub(crate) fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        *self
            .shared
            .stopping
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::format::{Export, FileArgs, Outcome};
    use std::time::Instant;

    /// A writer counting the writes it is given, sharing what it got.
    #[derive(Clone, Default)]
    struct Counted {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
    }

    impl Write for Counted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn call(recorder: &Recorder, file: String) {
        let started = recorder.start_call();
        recorder.write(CallRecord {
            call: started.number,
            written: 0,
            export: Export::KeyForFile {
                args: FileArgs { file: file.clone() },
                result: Outcome::Returned(Ok(file)),
            },
            steps: Vec::new(),
        });
    }

    fn lines(out: &Counted) -> usize {
        out.bytes
            .lock()
            .unwrap()
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    /// Calls one after another are written once per buffer, not once per call;
    /// once the recorder is idle every line reaches the writer without a close.
    #[test]
    fn calls_one_after_another_are_buffered_and_written_through_when_idle() {
        let out = Counted::default();
        let recorder = Recorder::new(Box::new(out.clone()), "digest").unwrap();
        let before = out.writes.load(Ordering::SeqCst);
        for i in 0..2000 {
            call(&recorder, format!("/repo/file-{i}"));
        }
        let during = out.writes.load(Ordering::SeqCst) - before;
        // A pause of IDLE between two calls (a slow scheduler) may flush; one
        // write per call may not happen.
        assert!(during < 200, "{during} writes for 2000 calls");
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines(&out) < 2001 {
            assert!(Instant::now() < deadline, "{} of 2001 lines", lines(&out));
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Lines buffered while a call is still in flight wait for it; dropping
    /// the recorder writes everything through and stops its thread.
    #[test]
    fn a_call_in_flight_holds_the_flush_and_drop_writes_everything() {
        let out = Counted::default();
        let recorder = Recorder::new(Box::new(out.clone()), "digest").unwrap();
        let long = recorder.start_call();
        call(&recorder, "/repo/a".into());
        std::thread::sleep(IDLE * 10);
        assert_eq!(lines(&out), 1, "only the header while a call is in flight");
        drop(long);
        drop(recorder);
        assert_eq!(lines(&out), 2);
    }
}
