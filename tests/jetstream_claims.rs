//! The agent workflow on JetStream only (issue 13): atomic batch publishes on
//! buckets holds creates (`allow_atomic`), checked on the server itself; the
//! fallback on buckets the Go package creates (no `allow_atomic`), with its
//! revision-gated rollback; a lease whose server goes away.

use async_trait::async_trait;
use bytes::Bytes;
use holds::kv::{BatchWrite, Entry, KvErrorKind, KvStore, Operation};
use holds::{Announce, Backend, Config, Error, Hold, LostReason, Manager};
use holds_test_support::forward::Forward;
use holds_test_support::harness::spec;
use holds_test_support::nats::NatsServer;
use holds_test_support::{go, raw};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

fn config(bucket: &str) -> Config {
    Config::new(bucket, Duration::from_secs(60))
}

fn write(key: &str, expected: u64) -> BatchWrite {
    BatchWrite {
        key: key.to_string(),
        value: Bytes::from_static(b"v"),
        expected,
        ttl: Some(Duration::from_secs(30)),
    }
}

/// A bucket as the Go package (and nats-py) create it: no limit markers, no
/// `allow_atomic`.
async fn go_bucket(client: &async_nats::Client, name: &str) {
    async_nats::jetstream::new(client.clone())
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: name.into(),
            history: 1,
            max_age: Duration::from_secs(60),
            storage: async_nats::jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn stream_state(client: &async_nats::Client, bucket: &str) -> (u64, u64) {
    let mut stream = async_nats::jetstream::new(client.clone())
        .get_stream(format!("KV_{bucket}"))
        .await
        .unwrap();
    let state = stream.info().await.unwrap().state.clone();
    (state.messages, state.last_sequence)
}

/// holds makes a bucket's stream in one step, as `create_key_value` makes it
/// plus `allow_atomic`: made in two (create, then update), the bucket was for a
/// moment without atomic batches, and a batch a CI run sent then was refused as
/// unsupported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bucket_is_the_kv_stream_async_nats_makes_plus_atomic_batches() {
    use async_nats::jetstream::{kv, stream};
    use futures::StreamExt;
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let mut advisories = client
        .subscribe("$JS.EVENT.ADVISORY.STREAM.*.KV_made")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let m = Manager::open(config("made"), Backend::JetStream(client.clone()))
        .await
        .unwrap();
    // Created, and never updated afterwards: never seen without atomic batches.
    let mut seen = Vec::new();
    while let Ok(Some(advisory)) =
        tokio::time::timeout(Duration::from_millis(500), advisories.next()).await
    {
        seen.push(advisory.subject.to_string());
    }
    assert_eq!(seen, ["$JS.EVENT.ADVISORY.STREAM.CREATED.KV_made"]);
    js.create_key_value(kv::Config {
        bucket: "reference".into(),
        history: 1,
        max_age: Duration::from_secs(60),
        storage: stream::StorageType::File,
        num_replicas: 1,
        limit_markers: Some(Duration::from_secs(60)),
        ..Default::default()
    })
    .await
    .unwrap();
    let config_of = |name: &'static str| {
        let js = js.clone();
        async move {
            let info = js
                .get_stream(name)
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .clone();
            let mut config = serde_json::to_value(&info.config).unwrap();
            let config = config.as_object_mut().unwrap();
            // The server's own bookkeeping (required API level, version).
            config.remove("metadata");
            config.remove("name");
            config.remove("subjects");
            (info.config, serde_json::Value::Object(config.clone()))
        }
    };
    let (made, made_json) = config_of("KV_made").await;
    let (reference, mut reference_json) = config_of("KV_reference").await;
    assert_eq!(made.subjects, ["$KV.made.>"]);
    assert_eq!(reference.subjects, ["$KV.reference.>"]);
    assert!(made.allow_atomic_publish && !reference.allow_atomic_publish);
    reference_json["allow_atomic"] = serde_json::Value::Bool(true);
    assert_eq!(made_json, reference_json);
    m.close().await;
}

/// A bucket holds creates takes atomic batches; a batch whose expectation is
/// stale for one key (first, middle or last) is refused at the commit and the
/// stream stores no message of it at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_stale_expectation_stores_no_message_on_the_server() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let m = Manager::open(config("atomic"), Backend::JetStream(client.clone()))
        .await
        .unwrap();
    let mut stream = async_nats::jetstream::new(client.clone())
        .get_stream("KV_atomic")
        .await
        .unwrap();
    assert!(stream.info().await.unwrap().config.allow_atomic_publish);
    let kv = m.kv_for_test();
    let a = kv
        .write_if_revision("a", "a0".into(), 0, None)
        .await
        .unwrap();
    let right = [a, 0, 0];
    let before = stream_state(&client, "atomic").await;
    for stale in 0..3 {
        let mut expected = right;
        expected[stale] += 5000;
        let writes: Vec<BatchWrite> = ["a", "b", "c"]
            .iter()
            .zip(expected)
            .map(|(k, e)| write(k, e))
            .collect();
        let refused = kv.write_batch(&writes).await.unwrap_err();
        assert_eq!(
            refused.kind(),
            KvErrorKind::WrongRevision,
            "key {stale}: {refused}"
        );
        assert_eq!(
            stream_state(&client, "atomic").await,
            before,
            "key {stale}: no message stored"
        );
    }
    let writes: Vec<BatchWrite> = ["a", "b", "c"]
        .iter()
        .zip(right)
        .map(|(k, e)| write(k, e))
        .collect();
    let revisions = kv.write_batch(&writes).await.unwrap();
    assert_eq!(
        stream_state(&client, "atomic").await,
        (before.0 + 2, before.1 + 3),
        "a replaced, b and c new"
    );
    assert_eq!(revisions, [before.1 + 1, before.1 + 2, before.1 + 3]);
}

/// A batch is one request on the wire: every write but the last is a plain
/// publish, and the commit's reply is the only message that comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_eight_writes_is_one_request_on_the_wire() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let kv = holds::kv::JetStreamKv::open(client.clone(), &spec("wire", Duration::from_secs(60)))
        .await
        .unwrap();
    let writes: Vec<BatchWrite> = (0..8).map(|i| write(&format!("k{i}"), 0)).collect();
    let stats = client.statistics();
    let (sent, received) = (
        stats.out_messages.load(Ordering::SeqCst),
        stats.in_messages.load(Ordering::SeqCst),
    );
    assert_eq!(kv.write_batch(&writes).await.unwrap().len(), 8);
    assert_eq!(
        (
            stats.out_messages.load(Ordering::SeqCst) - sent,
            stats.in_messages.load(Ordering::SeqCst) - received
        ),
        (8, 1),
        "eight messages out, one reply in"
    );
}

/// Before the write of `race_key` (once): another agent takes it, and another
/// client writes over `overwrite_key`, a file the claim has already written.
struct RacedClaim {
    inner: Arc<dyn KvStore>,
    race_key: String,
    overwrite_key: String,
    taker: Vec<u8>,
    overwriter: Vec<u8>,
    armed: AtomicBool,
}

#[async_trait]
impl Forward for RacedClaim {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, holds::kv::KvError> {
        if key == self.race_key && self.armed.swap(false, Ordering::SeqCst) {
            raw::put(&*self.inner, &self.race_key, self.taker.clone()).await?;
            raw::put(&*self.inner, &self.overwrite_key, self.overwriter.clone()).await?;
        }
        self.inner
            .write_if_revision(key, value, expected, ttl)
            .await
    }
}

holds_test_support::forward_kv_store!(RacedClaim);

fn live_hold(agent: &str) -> Hold {
    let now = SystemTime::now();
    Hold {
        agent_id: agent.into(),
        claimed_at: now,
        expires_at: now + Duration::from_secs(30),
        checkout_path: String::new(),
        ttl: Duration::from_secs(30),
        mode: holds::Mode::Exclusive,
    }
}

/// On a Go-created bucket a claim announces file by file (`atomic` false). A
/// refusal met mid-way (a file taken between the claim's read and its write)
/// rolls back what the claim wrote, each only over the revision it wrote: a file
/// another client wrote over meanwhile keeps that client's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_on_a_go_bucket_falls_back_and_rolls_back_revision_gated() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    go_bucket(&client, "bones-holds").await;
    let plain = Manager::open(config("bones-holds"), Backend::JetStream(client.clone()))
        .await
        .unwrap();
    let x = Announce::new("x", Duration::from_secs(30));
    let claimed = plain.claim(&["/go/2", "/go/1"], &x).await.unwrap();
    assert!(
        !claimed.atomic,
        "no allow_atomic on a Go bucket: announced one by one"
    );
    assert_eq!(claimed.claims.len(), 2);
    for claim in &claimed.claims {
        assert_eq!(
            plain.who_has(&claim.file).await.unwrap().as_ref(),
            Some(claim)
        );
    }
    let mut stream = async_nats::jetstream::new(client.clone())
        .get_stream("KV_bones-holds")
        .await
        .unwrap();
    assert!(
        !stream.info().await.unwrap().config.allow_atomic_publish,
        "the Go agents' bucket was not reconfigured"
    );

    let key = |f: &'static str| {
        let plain = plain.clone();
        async move { plain.key_for_test(f).await.unwrap() }
    };
    let (a, b, c) = (key("/go/a").await, key("/go/b").await, key("/go/c").await);
    let raced = Arc::new(RacedClaim {
        inner: plain.kv_for_test(),
        race_key: c.clone(),
        overwrite_key: a.clone(),
        taker: go::value(&live_hold("y")),
        overwriter: go::value(&live_hold("z")),
        armed: AtomicBool::new(true),
    });
    let m = Manager::open(config("bones-holds"), Backend::Store(raced.clone()))
        .await
        .unwrap();
    let refused = m.claim(&["/go/c", "/go/a", "/go/b"], &x).await.unwrap_err();
    let Error::HeldByOthers(holders) = &refused else {
        panic!("expected held-by-others, got {refused:?}")
    };
    let named: Vec<(&str, &str)> = holders
        .iter()
        .map(|c| (c.file.as_str(), c.hold.agent_id.as_str()))
        .collect();
    assert_eq!(
        named,
        [("/go/a", "z"), ("/go/c", "y")],
        "every holder, read fresh"
    );
    assert!(!raced.armed.load(Ordering::SeqCst), "the race was staged");
    let store = plain.kv_for_test();
    let latest = |k: String| {
        let store = store.clone();
        async move { store.get(&k).await.unwrap().expect("an entry") }
    };
    let holder = |e: &Entry| e.operation == Operation::Put;
    let (ea, eb, ec) = (latest(a).await, latest(b).await, latest(c).await);
    assert!(
        holder(&ea) && String::from_utf8_lossy(&ea.value).contains("\"z\""),
        "z's write survives the rollback: {ea:?}"
    );
    assert_eq!(
        eb.operation,
        Operation::Delete,
        "the claim's own write is rolled back"
    );
    assert!(
        holder(&ec) && String::from_utf8_lossy(&ec.value).contains("\"y\""),
        "{ec:?}"
    );
    assert_eq!(m.who_has("/go/b").await.unwrap(), None);
}

/// The server stops while a lease lives: no renewal can succeed, and the lease
/// reports the hold lost as unrenewable once the TTL has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_lost_when_the_server_is_gone_for_longer_than_the_ttl() {
    const TTL: Duration = Duration::from_secs(2);
    let mut server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut c = config("lease");
    c.op_timeout = Duration::from_secs(1);
    let m = Manager::open(c, Backend::JetStream(client)).await.unwrap();
    let mut lease = m
        .hold(&["/lease/f"], &Announce::new("a1", TTL))
        .await
        .unwrap();
    tokio::task::block_in_place(|| server.stop());
    let stopped = tokio::time::Instant::now();
    let lost = tokio::time::timeout(TTL * 2 + Duration::from_secs(3), lease.lost())
        .await
        .expect("the loss is reported");
    assert!(matches!(lost.why, LostReason::Unrenewable(_)), "{lost:?}");
    eprintln!(
        "lost {:?} after the server stopped: {lost}",
        stopped.elapsed()
    );
}

/// A write no stream takes wrote nothing, and the store says so at once, one
/// send each, as `not-stored(no-stream)`: sending it again is the guest's call
/// (its schedule is pinned by the shared cases). A batch's commit too: a
/// clean-clone CI run saw a multi-file claim's commit answered "no responders"
/// on a just-created R3 bucket, whose stream was not yet listening on every
/// node. Here the bucket's stream is deleted, then made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_no_stream_took_are_not_stored_and_land_once_it_is_back() {
    use holds::kv::{BucketSpec, JetStreamKv, Unsent};
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let spec = BucketSpec {
        op_timeout: Duration::from_secs(2),
        ..spec("gone", Duration::from_secs(60))
    };
    let kv = JetStreamKv::open(client.clone(), &spec).await.unwrap();
    let batch = [write("b", 0), write("c", 0)];

    js.delete_stream("KV_gone").await.unwrap();
    let started = tokio::time::Instant::now();
    let single = kv.write_if_revision("a", "v".into(), 0, None).await;
    let refused = kv.write_batch(&batch).await;
    for refused in [single.map(|_| ()), refused.map(|_| ())] {
        let refused = refused.expect_err("no stream to take it");
        assert_eq!(
            refused.kind(),
            KvErrorKind::NotStored(Unsent::NoStream),
            "{refused}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "one send each, not a wait: {:?}",
        started.elapsed()
    );

    JetStreamKv::open(client.clone(), &spec).await.unwrap();
    let single = kv.write_if_revision("a", "v".into(), 0, None).await;
    let batch = kv.write_batch(&batch).await;
    let single = single.expect("the single write lands once the stream is back");
    let batch = batch.expect("the batch lands once the stream is back");
    let mut revisions = batch.clone();
    revisions.push(single);
    revisions.sort_unstable();
    assert_eq!(revisions, [1, 2, 3], "single {single}, batch {batch:?}");
    assert_eq!(stream_state(&client, "gone").await, (3, 3));
}
