//! The stores' batch write (`KvStore::write_batch`, what a claim is on every
//! backend holds creates): each write's expected revision is checked, and one
//! stale expectation anywhere in the batch refuses it whole.

use bytes::Bytes;
use holds::kv::{BatchWrite, Entry, KvErrorKind, KvStore, Removal};
use holds_test_support::harness::{Harness, Kind};
use std::time::Duration;

fn write(key: &str, value: &str, expected: u64) -> BatchWrite {
    BatchWrite {
        key: key.to_string(),
        value: Bytes::from(value.to_string()),
        expected,
        ttl: Some(Duration::from_secs(30)),
    }
}

async fn latest(store: &dyn KvStore, keys: &[&str]) -> Vec<Option<Entry>> {
    let mut out = Vec::new();
    for key in keys {
        out.push(store.get(key).await.unwrap());
    }
    out
}

/// A stale expectation first, in the middle or last; a key expected absent that
/// exists; a key expected at a revision it never had: each refuses the batch,
/// and no key of it changes. Right expectations (a marker's revision included)
/// write every key, at consecutive revisions in batch order.
pub async fn a_batch_with_one_stale_expectation_writes_nothing(h: Harness) {
    let store = h.store().await;
    let keys = ["batch-a", "batch-b", "batch-c"];
    let a = store
        .write_if_revision("batch-a", "a0".into(), 0, None)
        .await
        .unwrap();
    let b = store
        .write_if_revision("batch-b", "b0".into(), 0, None)
        .await
        .unwrap();
    let b = store
        .delete_if_revision("batch-b", b, Removal::Released, Bytes::new())
        .await
        .unwrap();
    let right = [a, b, 0];
    let before = latest(&*store, &keys).await;
    for stale in 0..3 {
        for wrong in [right[stale] + 1000, if right[stale] == 0 { a } else { 0 }] {
            let mut expected = right;
            expected[stale] = wrong;
            let writes: Vec<BatchWrite> = keys
                .iter()
                .zip(expected)
                .map(|(k, e)| write(k, "new", e))
                .collect();
            let refused = store.write_batch(&writes).await.unwrap_err();
            assert_eq!(
                refused.kind(),
                KvErrorKind::WrongRevision,
                "{:?}: key {stale} expected at {wrong}: {refused}",
                h.kind
            );
            assert_eq!(
                latest(&*store, &keys).await,
                before,
                "key {stale} expected at {wrong}: nothing written"
            );
        }
    }
    let writes: Vec<BatchWrite> = keys
        .iter()
        .zip(right)
        .map(|(k, e)| write(k, &format!("{k}-1"), e))
        .collect();
    let revisions = store.write_batch(&writes).await.unwrap();
    assert_eq!(revisions.len(), 3);
    assert!(
        revisions.windows(2).all(|w| w[1] == w[0] + 1),
        "{revisions:?}"
    );
    for (key, (entry, revision)) in keys
        .iter()
        .zip(latest(&*store, &keys).await.into_iter().zip(&revisions))
    {
        let entry = entry.expect("written");
        assert_eq!(
            (entry.revision, entry.value),
            (*revision, Bytes::from(format!("{key}-1")))
        );
    }
}

holds_test_support::matrix! {
    async fn {
        a_batch_with_one_stale_expectation_writes_nothing,
    }
    on {
        memory: Harness::new(Kind::Memory).await,
        jetstream: Harness::new(Kind::JetStream).await,
        sqlite: Harness::new(Kind::Sqlite).await,
    }
}
