//! JetStream-only behaviour: server-enforced per-hold TTLs, the fallback for
//! buckets without them (as the Go package creates), and Go's bucket format.

use holds::kv::{JetStreamKv, KvStore, Operation};
use holds::{Announce, Backend, Config, EventKind, Manager};
use holds_tests::harness::spec;
use holds_tests::nats::NatsServer;
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
    // No watcher, no sweep: only the server can leave this marker.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let entry = m
        .kv_for_test()
        .get(&key)
        .await
        .unwrap()
        .expect("the server left a marker");
    assert_eq!(entry.operation, Operation::Expire);
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
