//! JetStream-only behaviour: server-enforced per-hold TTLs, the fallback for
//! buckets without them (as the Go package creates), and Go's bucket format.

use holds::kv::{JetStreamKv, KvStore, Operation};
use holds::{Announce, Backend, Config, EventKind, Manager};
use holds_test_support::harness::spec;
use holds_test_support::nats::NatsServer;
use std::time::Duration;

fn config(bucket: &str) -> Config {
    let mut c = Config::new(bucket, Duration::from_secs(60));
    c.replica = false;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_expires_holds_with_nobody_watching() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let m = Manager::open(config("ttl"), Backend::JetStream(client.clone()))
        .await
        .unwrap();
    assert!(
        m.kv_for_test().expires_entries(),
        "a new bucket on 2.15 has per-message TTLs"
    );
    m.announce("/f", &Announce::new("a1", Duration::from_secs(1)))
        .await
        .unwrap();
    let key = m.key_for_test("/f").await.unwrap();
    // No watcher, no sweep: only the server can leave this marker, within 2.5 s.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    let entry = loop {
        let entry = m
            .kv_for_test()
            .get(&key)
            .await
            .unwrap()
            .expect("the hold or the server's marker");
        if entry.operation != Operation::Put || tokio::time::Instant::now() >= deadline {
            break entry;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entry.operation, Operation::Expire, "{entry:?}");
    // The bucket is what the Go package expects apart from the TTL settings.
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("KV_ttl").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_messages_per_subject, 1, "history 1");
    assert_eq!(
        info.config.max_age,
        Duration::from_secs(60),
        "max age = hold_ttl_max"
    );
    assert_eq!(
        info.config.storage,
        async_nats::jetstream::stream::StorageType::File
    );
    assert!(info.config.allow_message_ttl);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_style_bucket_without_ttls_still_gets_expired_events() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    // Created as the Go package does: no limit markers.
    let js = async_nats::jetstream::new(client.clone());
    js.create_key_value(async_nats::jetstream::kv::Config {
        bucket: "bones-holds".into(),
        history: 1,
        max_age: Duration::from_secs(60),
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut c = config("bones-holds");
    c.replica = true;
    let m = Manager::open(c, Backend::JetStream(client)).await.unwrap();
    assert!(
        !m.kv_for_test().expires_entries(),
        "falls back: no per-message TTL on this bucket"
    );
    let mut events = m.subscribe().await.unwrap();
    m.announce("/f", &Announce::new("a1", Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(matches!(
        events.next().await.unwrap().unwrap().kind,
        EventKind::Announced(_)
    ));
    let expired = tokio::time::timeout(Duration::from_millis(1500), events.next())
        .await
        .expect("an expired event from the manager's sweep")
        .unwrap()
        .unwrap();
    assert_eq!(expired.kind, EventKind::Expired);
    // The bucket was not reconfigured behind the Go agents' backs.
    let mut stream = js.get_stream("KV_bones-holds").await.unwrap();
    assert!(!stream.info().await.unwrap().config.allow_message_ttl);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_to_an_existing_bucket_keeps_its_contents() {
    let server = NatsServer::start();
    let first = Manager::open(
        config("shared"),
        Backend::JetStream(async_nats::connect(server.url()).await.unwrap()),
    )
    .await
    .unwrap();
    let claim = first
        .announce("/f", &Announce::new("a1", Duration::from_secs(30)))
        .await
        .unwrap();
    let second = Manager::open(
        config("shared"),
        Backend::JetStream(async_nats::connect(server.url()).await.unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(second.who_has("/f").await.unwrap(), Some(claim));
    let kv = JetStreamKv::open(
        async_nats::connect(server.url()).await.unwrap(),
        &spec("shared", Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert!(
        kv.describe().contains("nats-server 2."),
        "{}",
        kv.describe()
    );
}

/// On a bucket with limit markers, a release's `DEL` marker is removed at the
/// bucket's max age and the server leaves a `MaxAge` marker for it: that marker
/// replaces a marker, not a hold, and is no `expired` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_marker_aging_out_is_not_an_expiry() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut c = Config::new("aging", Duration::from_secs(2));
    c.replica = true;
    let m = Manager::open(c, Backend::JetStream(client.clone()))
        .await
        .unwrap();
    assert!(
        m.kv_for_test().expires_entries(),
        "a bucket with limit markers"
    );
    let mut events = m.subscribe().await.unwrap();
    let claim = m
        .announce("/f", &Announce::new("a1", Duration::from_secs(2)))
        .await
        .unwrap();
    let released = m.release("/f", "a1").await.unwrap();
    // Wait for the server's marker that replaces the release marker.
    let stream = async_nats::jetstream::new(client)
        .get_stream("KV_aging")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let marker = loop {
        let last = stream
            .get_last_raw_message_by_subject("$KV.aging.=2Ff")
            .await;
        if let Ok(message) = last
            && message
                .headers
                .get("Nats-Marker-Reason")
                .map(|v| v.as_str())
                == Some("MaxAge")
        {
            break message.sequence;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server left no MaxAge marker for the aged-out release marker"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let holds::Release::Released { revision } = released else {
        panic!("{released:?}")
    };
    assert!(
        marker > revision,
        "the MaxAge marker came after the release"
    );
    // A later announce orders the stream: nothing may come between the release and it.
    let again = m
        .announce("/f", &Announce::new("a2", Duration::from_secs(2)))
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("events")
            .unwrap()
            .unwrap();
        let last = event.revision == again.revision;
        seen.push((event.revision, event.kind));
        if last {
            break;
        }
    }
    let kinds: Vec<_> = seen
        .iter()
        .map(|(r, k)| (*r, std::mem::discriminant(k)))
        .collect();
    assert_eq!(
        seen.len(),
        3,
        "announced, released, announced only: {seen:?}"
    );
    assert_eq!(seen[0].0, claim.revision);
    assert_eq!(
        (seen[1].0, &seen[1].1),
        (revision, &EventKind::Released { forced_by: None })
    );
    assert!(matches!(seen[2].1, EventKind::Announced(_)), "{kinds:?}");
}

/// A hold whose TTL is a Go-created bucket's max age: the server drops it at the
/// max age with no marker, and the watching manager's sweep still gives one
/// `expired` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_as_long_as_a_go_buckets_max_age_still_expires_once() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    js.create_key_value(async_nats::jetstream::kv::Config {
        bucket: "bones-holds".into(),
        history: 1,
        max_age: Duration::from_secs(2),
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut c = Config::new("bones-holds", Duration::from_secs(2));
    c.replica = true;
    let m = Manager::open(c, Backend::JetStream(client)).await.unwrap();
    assert!(!m.kv_for_test().expires_entries());
    let mut events = m.subscribe().await.unwrap();
    m.announce("/f", &Announce::new("a1", Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(matches!(
        events.next().await.unwrap().unwrap().kind,
        EventKind::Announced(_)
    ));
    let expired = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an expired event")
        .unwrap()
        .unwrap();
    assert_eq!(expired.kind, EventKind::Expired);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), events.next())
            .await
            .is_err(),
        "one event only"
    );
}
