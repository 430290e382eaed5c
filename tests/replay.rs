//! Record and replay of the guest's decisions (issue 4): traces recorded on a real
//! JetStream bucket replay exactly with no server; tampered traces and changed
//! guests are caught at the first diverging step; broken traces are clear errors.

use holds::clock::Clock;
use holds::trace::{self, CallRecord, ReplayReport, TraceError};
use holds::{Announce, Backend, Config, Error, Manager, Runtime};
use holds_test_support::nats::NatsServer;
use holds_test_support::traces::alter_first;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

async fn replay_text(text: &str, runtime: Arc<Runtime>) -> Result<ReplayReport, TraceError> {
    trace::replay(std::io::Cursor::new(text.as_bytes().to_vec()), runtime).await
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/contention.trace.jsonl")
}

/// 16 agents race for one file on JetStream, recorded into one trace.
async fn record_contention() -> String {
    let server = NatsServer::start();
    let out = Shared::default();
    let client = async_nats::connect(server.url()).await.unwrap();
    let m = Manager::builder(Config::new("replay", Duration::from_secs(60)))
        .record(out.clone())
        .open(Backend::JetStream(client))
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (m, barrier) = (m.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                m.announce(
                    "/repo/src/lib.rs",
                    &Announce::new(format!("agent-{i}"), Duration::from_secs(30)),
                )
                .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(Error::HeldByAnother(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(winners, 1);
    let winner = m
        .who_has("/repo/src/lib.rs")
        .await
        .unwrap()
        .unwrap()
        .hold
        .agent_id;
    assert_eq!(
        m.release("/repo/src/lib.rs", "someone-else").await.unwrap(),
        holds::Release::NotHeld
    );
    m.release("/repo/src/lib.rs", &winner).await.unwrap();
    m.close().await;
    drop(server);
    out.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_contention_run_replays_identically_with_no_server() {
    let text = record_contention().await;
    let records: Vec<CallRecord> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let announces = records
        .iter()
        .filter(|r| matches!(r.export, trace::Export::Announce { .. }))
        .count();
    assert_eq!(announces, 16, "each concurrent announce is its own record");
    // The server is gone: replay answers every import from the trace.
    let report = replay_text(&text, Runtime::embedded().unwrap())
        .await
        .unwrap();
    assert_eq!(report.divergence, None);
    assert_eq!(report.calls, records.len());
    assert!(
        report.steps >= 32,
        "at least a read and a write per announce"
    );
    if std::env::var_os("HOLDS_BLESS").is_some() {
        std::fs::write(fixture(), &text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checked_in_trace_still_replays_identically() {
    let text = std::fs::read_to_string(fixture()).expect("tests/fixtures/contention.trace.jsonl");
    let report = replay_text(&text, Runtime::embedded().unwrap())
        .await
        .unwrap();
    assert_eq!(
        report.divergence,
        None,
        "{:?}",
        report.divergence.as_ref().map(|d| d.to_string())
    );
    assert!(report.calls > 16);
}

/// A manager on a memory bucket with no replica (one-shot style: every
/// announce reads, then writes), recording into the returned writer.
async fn recording_manager(bucket: &str) -> (Manager, Shared) {
    let out = Shared::default();
    let mut config = Config::new(bucket, Duration::from_secs(60));
    config.replica = false;
    let m = Manager::builder(config)
        .record(out.clone())
        .open(Backend::Memory)
        .await
        .unwrap();
    (m, out)
}

/// A one-shot style trace (no replica): every announce reads, then writes.
async fn record_reads_and_writes() -> String {
    let (m, out) = recording_manager("rw").await;
    m.announce("/f", &Announce::new("a1", Duration::from_secs(30)))
        .await
        .unwrap();
    m.release("/f", "a1").await.unwrap();
    m.announce("/f", &Announce::new("a2", Duration::from_secs(30)))
        .await
        .unwrap();
    m.close().await;
    out.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_revision_diverges_at_the_step_that_uses_it() {
    let text = record_reads_and_writes().await;
    assert_eq!(
        replay_text(&text, Runtime::embedded().unwrap())
            .await
            .unwrap()
            .divergence,
        None
    );
    // The read's revision: the guest then writes at another expected revision.
    let (altered, call, step) = alter_first(&text, "kv.get", |r| {
        if let Some(entry) = r.get_mut("Ok") {
            let rev = entry["revision"].as_u64().unwrap();
            entry["revision"] = (rev + 1000).into();
        }
    });
    let report = replay_text(&altered, Runtime::embedded().unwrap())
        .await
        .unwrap();
    let d = report.divergence.expect("the altered revision is caught");
    assert_eq!(d.call, call);
    assert_eq!(
        d.step,
        Some(step + 3),
        "get, clock.now, the scan for pattern holds in the way, then the write: {d}"
    );
    assert!(
        d.expected.contains("kv.write-if-revision") && d.actual.contains("\"expected\":100"),
        "{d}"
    );

    // A write's revision: the returned claim (the fencing token) differs.
    let (altered, call, _) = alter_first(&text, "kv.write-if-revision", |r| {
        if let Some(rev) = r.get_mut("Ok") {
            *rev = (rev.as_u64().unwrap() + 7).into();
        }
    });
    let report = replay_text(&altered, Runtime::embedded().unwrap())
        .await
        .unwrap();
    let d = report.divergence.expect("the altered ack is caught");
    // The hold is judged against pattern holds up to its revision: that scan
    // is the first step to differ.
    assert_eq!(d.call, call, "{d}");
    assert!(
        d.actual.contains("kv.scan"),
        "the judgement's scan differs: {d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_holder_changes_the_verdict() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    // Make a refused agent see its own name as the holder: it would renew instead.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut altered_call = None;
    for line in lines.iter_mut().skip(1) {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        if record["export"] != "announce" || record["result"].get("Err").is_none() {
            continue;
        }
        let agent = record["args"]["request"]["agent_id"]
            .as_str()
            .unwrap()
            .to_string();
        let steps = record["steps"].as_array_mut().unwrap();
        let Some(get) = steps.iter_mut().rev().find(|s| s["import"] == "kv.get") else {
            continue;
        };
        let value = get["result"]["Ok"]["value"].as_str().unwrap().to_string();
        let mut hold: serde_json::Value = serde_json::from_str(&value).unwrap();
        hold["agent_id"] = agent.into();
        get["result"]["Ok"]["value"] = hold.to_string().into();
        altered_call = Some(record["call"].as_u64().unwrap());
        *line = serde_json::to_string(&record).unwrap();
        break;
    }
    let report = replay_text(&(lines.join("\n") + "\n"), Runtime::embedded().unwrap())
        .await
        .unwrap();
    let d = report.divergence.expect("the altered holder is caught");
    assert_eq!(Some(d.call), altered_call);
    // It now decides to write: first it looks for pattern holds in its way.
    assert!(
        d.actual.contains("kv.scan") && d.actual.contains("\"through\":0"),
        "it now tries to renew: {d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_guest_diverges_at_the_first_decision_on_the_edge() {
    /// A clock that can be set.
    #[derive(Default)]
    struct Manual(std::sync::atomic::AtomicI64);
    impl Clock for Manual {
        fn now(&self) -> i64 {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }
    let clock = Arc::new(Manual::default());
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    clock.0.store(start, std::sync::atomic::Ordering::SeqCst);
    let out = Shared::default();
    let mut config = Config::new("edge", Duration::from_secs(60));
    config.replica = false;
    let m = Manager::builder(config)
        .clock(clock.clone())
        .record(out.clone())
        .open(Backend::Memory)
        .await
        .unwrap();
    // Decisions away from the edge: both builds agree.
    m.announce("/f", &Announce::new("a1", Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(m.who_has("/f").await.unwrap().is_some());
    // Exactly at expiry: live for the real guest, expired for the altered one.
    clock
        .0
        .store(start + 10_000_000_000, std::sync::atomic::Ordering::SeqCst);
    assert!(
        m.who_has("/f").await.unwrap().is_some(),
        "expiring exactly now is live"
    );
    m.close().await;
    let text = out.text();
    let edge_call = text.lines().count() as u64 - 2; // the last record
    // Identical on the guest that recorded it...
    assert_eq!(
        replay_text(&text, Runtime::embedded().unwrap())
            .await
            .unwrap()
            .divergence,
        None
    );
    // ...and caught on the altered build, at the edge decision and not before.
    let edge = Arc::new(
        Runtime::from_component(&std::fs::read(holds_test_programs::EDGE).unwrap()).unwrap(),
    );
    let report = replay_text(&text, edge).await.unwrap();
    let d = report.divergence.expect("the altered guest diverges");
    assert_eq!(
        (d.call, d.step, d.export.as_str()),
        (edge_call, None, "who-has"),
        "{d}"
    );
    assert!(
        d.expected.contains("\"Ok\":{") && d.actual.contains("\"Ok\":null"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_traces_are_clear_errors() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let rt = || Runtime::embedded().unwrap();
    let lines: Vec<&str> = text.lines().collect();

    assert_eq!(replay_text("", rt()).await, Err(TraceError::Empty));
    assert!(matches!(
        replay_text("not json\n", rt()).await,
        Err(TraceError::Format { line: 1, .. })
    ));
    // Truncated mid-record.
    let cut = &text[..text.len() - 40];
    match replay_text(cut, rt()).await {
        Err(TraceError::Format { line, reason }) => {
            assert_eq!(line, lines.len());
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Two records swapped.
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    assert!(matches!(
        replay_text(&(swapped.join("\n") + "\n"), rt()).await,
        Err(TraceError::Format { line: 3, ref reason }) if reason.contains("out of order")
    ));
    // A foreign version.
    let foreign = text.replacen("\"version\":1", "\"version\":99", 1);
    assert!(matches!(
        replay_text(&foreign, rt()).await,
        Err(TraceError::ForeignVersion { .. })
    ));
    let foreign = text.replacen(holds::trace::WIT_PACKAGE, "holds:core@9.0.0", 1);
    assert!(matches!(
        replay_text(&foreign, rt()).await,
        Err(TraceError::ForeignVersion { .. })
    ));
    // A result of the wrong shape.
    let (wrong, _, _) = alter_first(&text, "clock.now", |r| *r = "yesterday".into());
    assert!(
        matches!(replay_text(&wrong, rt()).await, Err(TraceError::Format { ref reason, .. }) if reason.contains("wrong shape"))
    );
}

/// A recorded call that trapped is followed by normal calls: the replay, like the
/// recording host, starts the next call on a fresh instance, so the trace replays
/// identically (a reused trapped instance would refuse every later call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_with_a_trapped_call_replays_identically() {
    let bytes = std::fs::read(holds_test_programs::HOSTILE).unwrap();
    let hostile = Arc::new(Runtime::from_component(&bytes).unwrap());
    let out = Shared::default();
    let m = Manager::builder(Config::new("trap", Duration::from_secs(60)))
        .runtime(hostile.clone())
        .record(out.clone())
        .open(Backend::Memory)
        .await
        .unwrap();
    let hold = |agent: &str| Announce::new(agent, Duration::from_secs(30));
    assert!(matches!(
        m.announce("/f", &hold("hostile-trap")).await,
        Err(Error::Guest(_))
    ));
    m.announce("/f", &hold("a1")).await.unwrap();
    assert!(matches!(
        m.announce("/f", &hold("hostile-trap")).await,
        Err(Error::Guest(_))
    ));
    m.who_has("/f").await.unwrap().unwrap();
    m.release("/f", "a1").await.unwrap();
    m.close().await;
    let text = out.text();
    assert!(text.contains("\"trap\""), "the trap is recorded");
    let report = replay_text(&text, hostile).await.unwrap();
    assert_eq!(
        report.divergence,
        None,
        "{:?}",
        report.divergence.as_ref().map(|d| d.to_string())
    );
    assert!(report.calls >= 5);
}

/// A store that can be told to refuse atomic batches, as a Go-created bucket
/// does: claims then fall back to announcing file by file.
struct SwitchableBatches {
    inner: Arc<dyn holds::kv::KvStore>,
    off: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl holds_test_support::forward::Forward for SwitchableBatches {
    fn inner(&self) -> &dyn holds::kv::KvStore {
        &*self.inner
    }
    async fn write_batch(
        &self,
        writes: &[holds::kv::BatchWrite],
    ) -> Result<Vec<u64>, holds::kv::KvError> {
        if self.off.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(holds::kv::KvError::unsupported("staged: no atomic batches"));
        }
        self.inner.write_batch(writes).await
    }
}

holds_test_support::forward_kv_store!(SwitchableBatches);

/// Claims (atomic, refused, fallen back), a lease's renewal and release, checks
/// (with tokens, without, invalid) and force-releases, recorded into one trace.
async fn record_workflow() -> String {
    let memory: Arc<dyn holds::kv::KvStore> = Arc::new(holds::kv::MemoryKv::new(
        &holds_test_support::harness::spec("workflow", Duration::from_secs(60)),
    ));
    let store = Arc::new(SwitchableBatches {
        inner: memory.clone(),
        off: false.into(),
    });
    let out = Shared::default();
    let config = Config::new("workflow", Duration::from_secs(60));
    let m = Manager::builder(config.clone())
        .record(out.clone())
        .open(Backend::Store(store.clone()))
        .await
        .unwrap();
    let other = Manager::open(config, Backend::Store(memory)).await.unwrap();
    let x = Announce::new("x", Duration::from_secs(30));
    let mut events = m.subscribe().await.unwrap();
    assert!(m.claim(&["/w/b", "/w/a", "/w/c"], &x).await.unwrap().atomic);
    other
        .announce("/w/held", &Announce::new("y", Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(matches!(
        m.claim(&["/w/a", "/w/held"], &x).await,
        Err(Error::HeldByOthers(_))
    ));
    let lease = m
        .hold(&["/w/lease"], &Announce::new("x", Duration::from_secs(1)))
        .await
        .unwrap();
    let token = lease.tokens()[0];
    // The lease's first renewal (due a third of a second in).
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("a renewal")
            .unwrap()
            .unwrap();
        if event.file == "/w/lease" && event.revision > token {
            break;
        }
    }
    let files = ["/w/a", "/w/b", "/w/held", "/w/none"];
    m.check(&files, "x", None).await.unwrap();
    let claims = m.check(&files, "x", None).await.unwrap();
    let tokens: Vec<u64> = claims
        .iter()
        .map(|c| match &c.state {
            holds::FileState::Held(claim) => claim.revision,
            _ => 0,
        })
        .collect();
    m.check(&files, "x", Some(&tokens)).await.unwrap();
    assert!(m.check(&files, "x", Some(&[1])).await.is_err());
    assert!(matches!(
        m.force_release("/w/held", "ops").await.unwrap(),
        holds::Release::Released { .. }
    ));
    assert_eq!(
        m.force_release("/w/none", "ops").await.unwrap(),
        holds::Release::NotHeld
    );
    lease.release().await.unwrap();
    store.off.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(!m.claim(&["/w/f2", "/w/f1"], &x).await.unwrap().atomic);
    m.close().await;
    out.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_trace_with_claims_renewals_checks_and_force_releases_replays_identically() {
    let text = record_workflow().await;
    let records: Vec<serde_json::Value> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |export: &str| records.iter().filter(|r| r["export"] == export).count();
    assert_eq!(
        count("claim-files"),
        4,
        "atomic, refused, the lease's, fallen back"
    );
    assert!(count("renew") >= 1, "the lease renewed");
    assert_eq!(count("check"), 4);
    assert_eq!(count("force-release"), 2);
    let imports: std::collections::HashSet<&str> = records
        .iter()
        .flat_map(|r| r["steps"].as_array().unwrap())
        .filter_map(|s| s["import"].as_str())
        .collect();
    for import in ["kv.get-many", "kv.write-batch", "kv.delete-if-revision"] {
        assert!(imports.contains(import), "{import} recorded: {imports:?}");
    }
    let report = replay_text(&text, Runtime::embedded().unwrap())
        .await
        .unwrap();
    assert_eq!(
        report.divergence,
        None,
        "{:?}",
        report.divergence.as_ref().map(|d| d.to_string())
    );
    assert_eq!(report.calls, records.len());

    // The batch's acknowledged revisions are the claims' fencing tokens: an
    // altered ack gives another result.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut altered = None;
    for line in lines.iter_mut().skip(1) {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        if record["export"] != "claim-files" {
            continue;
        }
        let steps = record["steps"].as_array_mut().unwrap();
        let Some(batch) = steps.iter_mut().find(|s| s["import"] == "kv.write-batch") else {
            continue;
        };
        let Some(revisions) = batch["result"]["Ok"].as_array_mut() else {
            continue;
        };
        revisions[0] = (revisions[0].as_u64().unwrap() + 7).into();
        altered = record["call"].as_u64();
        *line = serde_json::to_string(&record).unwrap();
        break;
    }
    let report = replay_text(&(lines.join("\n") + "\n"), Runtime::embedded().unwrap())
        .await
        .unwrap();
    let d = report.divergence.expect("the altered batch ack is caught");
    assert_eq!(Some(d.call), altered, "{d}");
    // The claims are judged against pattern holds up to the acked revisions:
    // that scan is the first step to differ.
    assert!(d.actual.contains("kv.scan"), "{d}");
}

/// A store whose writes are applied at once but answered only when the test
/// opens the gate: the write is seen (by a watch, say) while its call is still
/// under way, as a lease's renewal event can reach a subscriber before the
/// renewal is recorded.
struct GatedWrites {
    inner: Arc<dyn holds::kv::KvStore>,
    applied: tokio::sync::Notify,
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl holds_test_support::forward::Forward for GatedWrites {
    fn inner(&self) -> &dyn holds::kv::KvStore {
        &*self.inner
    }
    async fn write_if_revision(
        &self,
        key: &str,
        value: bytes::Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, holds::kv::KvError> {
        let written = self
            .inner
            .write_if_revision(key, value, expected, ttl)
            .await;
        self.applied.notify_one();
        let _open = self.gate.acquire().await.unwrap();
        written
    }
}

holds_test_support::forward_kv_store!(GatedWrites);

/// Close waits for a call whose write already happened: once close returns, the
/// trace has it, even though its answer came only while close was waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_under_way_at_close_is_in_the_trace_once_close_returns() {
    let store = Arc::new(GatedWrites {
        inner: Arc::new(holds::kv::MemoryKv::new(
            &holds_test_support::harness::spec("gated", Duration::from_secs(60)),
        )),
        applied: tokio::sync::Notify::new(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let out = Shared::default();
    let m = Manager::builder(Config::new("gated", Duration::from_secs(60)))
        .record(out.clone())
        .open(Backend::Store(store.clone()))
        .await
        .unwrap();
    let call = tokio::spawn({
        let m = m.clone();
        async move {
            m.announce("/gated/ä.rs", &Announce::new("a1", Duration::from_secs(30)))
                .await
        }
    });
    store.applied.notified().await;
    let opener = tokio::spawn({
        let store = store.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            store.gate.add_permits(1);
        }
    });
    m.close().await;
    let text = out.text();
    let exports: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["export"].to_string())
        .collect();
    assert!(
        exports.iter().any(|e| e == "\"announce\""),
        "the call under way at close: {text}"
    );
    call.await.unwrap().unwrap();
    opener.await.unwrap();
}

/// A trace long enough to be replayed in parts (one per core), altered in
/// several places: the report is the one of a line-by-line replay, the first
/// problem in trace order, with the calls before it counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_trace_replayed_in_parts_reports_its_first_problem() {
    let (m, out) = recording_manager("long").await;
    for i in 0..1500 {
        let file = format!("/long/{}", i % 50);
        m.announce(&file, &Announce::new("a1", Duration::from_secs(30)))
            .await
            .unwrap();
        m.release(&file, "a1").await.unwrap();
    }
    m.close().await;
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3001, "the header and every call, after close");
    let runtime = Runtime::embedded().unwrap();
    let report = replay_text(&text, runtime.clone()).await.unwrap();
    assert_eq!((report.calls, report.divergence), (3000, None));
    let whole_steps = report.steps;

    // Change the outcome of the release on trace line `n` (1-based).
    let alter = |lines: &mut Vec<String>, n: usize| {
        let mut record: serde_json::Value = serde_json::from_str(&lines[n - 1]).unwrap();
        assert_eq!(record["export"], "release");
        record["result"] = serde_json::json!({"Ok": "NotHeld"});
        lines[n - 1] = serde_json::to_string(&record).unwrap();
    };
    let owned = || -> Vec<String> { lines.iter().map(|l| l.to_string()).collect() };
    let join = |lines: &[String]| lines.join("\n") + "\n";

    // Divergences near the start and near the end: the first is reported.
    let mut altered = owned();
    alter(&mut altered, 2901);
    alter(&mut altered, 101);
    let report = replay_text(&join(&altered), runtime.clone()).await.unwrap();
    let d = report.divergence.expect("caught");
    assert_eq!((d.line, report.calls), (101, 100), "{d}");
    assert!(report.steps < whole_steps);

    // A divergence late, a cut line later still: the divergence.
    let mut altered = owned();
    alter(&mut altered, 2901);
    altered[2950] = altered[2950][..20].to_string();
    let report = replay_text(&join(&altered), runtime.clone()).await.unwrap();
    assert_eq!(report.divergence.map(|d| d.line), Some(2901));

    // A cut line early, a divergence late: the cut line.
    let mut altered = owned();
    alter(&mut altered, 2901);
    altered[49] = altered[49][..20].to_string();
    match replay_text(&join(&altered), runtime.clone()).await {
        Err(TraceError::Format { line, .. }) => assert_eq!(line, 50),
        other => panic!("{other:?}"),
    }

    // A call number repeated from the first part in the last: named at its line.
    let mut altered = owned();
    let mut record: serde_json::Value = serde_json::from_str(&altered[2999]).unwrap();
    record["call"] =
        serde_json::from_str::<serde_json::Value>(&altered[5]).unwrap()["call"].clone();
    altered[2999] = serde_json::to_string(&record).unwrap();
    match replay_text(&join(&altered), runtime).await {
        Err(TraceError::Format { line, reason }) => {
            assert_eq!(line, 3000);
            assert!(reason.contains("appears twice"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
