//! Configurations holds refuses before it touches any store: bucket names JetStream would not take, a
//! maximum TTL of zero or past what a duration holds.

use super::unchanged::{assert_nothing_written_since, snapshot};
use holds::{Announce, Backend, Config, Error, Manager};
use holds_test_support::harness::{Harness, Kind, TTL_MAX};
use holds_test_support::inputs::{BAD_BUCKETS, stream_names};
use std::time::Duration;

holds_test_support::matrix! {
    async fn {
        library_refuses_bad_configs_before_touching_any_store,
    }
    on {
        sqlite: Kind::Sqlite,
        jetstream: Kind::JetStream,
    }
}

async fn library_refuses_bad_configs_before_touching_any_store(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let held = m
        .announce(
            "/repo/held.rs",
            &Announce::new("a1", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let keys = vec![m.key_for_test("/repo/held.rs").await.unwrap()];
    let before = snapshot(&m, &keys).await;
    assert_eq!(before.list, [held]);
    let streams = match kind {
        Kind::JetStream => stream_names(&h.url().unwrap()).await,
        _ => Vec::new(),
    };
    let fresh = tempfile::tempdir().unwrap();
    let fresh_db = fresh.path().join("fresh.db");
    let backend = || async {
        match kind {
            // A database that does not exist yet: a refused config must not even create it.
            Kind::Sqlite => Backend::Sqlite(fresh_db.clone()),
            _ => h.backend().await,
        }
    };
    for (bucket, what) in BAD_BUCKETS {
        let opened = Manager::open(Config::new(*bucket, TTL_MAX), backend().await).await;
        match opened {
            Err(Error::Config(message)) => {
                assert!(
                    message.contains(&format!("{bucket:?}")) && message.contains("[A-Za-z0-9_-]+"),
                    "{what}: {message}"
                );
            }
            other => panic!("bucket {bucket:?} ({what}): {:?}", other.err()),
        }
    }
    let mut zero = Config::new(h.bucket.clone(), Duration::ZERO);
    zero.replica = false;
    match Manager::open(zero, backend().await).await {
        Err(Error::Config(message)) => assert!(message.contains("hold_ttl_max"), "{message}"),
        other => panic!("ttl max 0: {:?}", other.err()),
    }
    let mut huge = Config::new(h.bucket.clone(), Duration::MAX);
    huge.replica = false;
    match Manager::open(huge, backend().await).await {
        Err(Error::Config(message)) => assert!(message.contains("hold_ttl_max"), "{message}"),
        other => panic!("ttl max Duration::MAX: {:?}", other.err()),
    }
    assert!(!fresh_db.exists(), "a refused config created the database");
    if kind == Kind::JetStream {
        assert_eq!(
            stream_names(&h.url().unwrap()).await,
            streams,
            "a refused config created a bucket"
        );
    }
    assert_eq!(snapshot(&m, &keys).await, before);
    assert_nothing_written_since(&m, &before).await;
}
