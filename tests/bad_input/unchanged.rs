//! What a store looked like, to show a rejected call left it as it was.

use holds::{Announce, Claim, Manager};
use std::time::Duration;

/// A key's raw entry: (revision, value), or none.
type RawEntry = Option<(u64, Vec<u8>)>;

/// What a store looked like: every live hold, and the raw entries of some keys.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub list: Vec<Claim>,
    pub raw: Vec<(String, RawEntry)>,
}

pub async fn snapshot(m: &Manager, keys: &[String]) -> Snapshot {
    let kv = m.kv_for_test();
    let mut raw = Vec::new();
    for key in keys {
        let entry = kv.get(key).await.expect("reading a raw entry");
        raw.push((key.clone(), entry.map(|e| (e.revision, e.value.to_vec()))));
    }
    Snapshot {
        list: m.list().await.expect("list"),
        raw,
    }
}

/// The highest revision among the snapshot's entries and holds.
fn top_revision(s: &Snapshot) -> u64 {
    let raw = s
        .raw
        .iter()
        .filter_map(|(_, e)| e.as_ref().map(|(r, _)| *r));
    let listed = s.list.iter().map(|c| c.revision);
    raw.chain(listed).max().unwrap_or(0)
}

/// Asserts a write now takes the very next revision: nothing was written since `before`.
pub async fn assert_nothing_written_since(m: &Manager, before: &Snapshot) {
    let probe = format!("/bad-input/next-{}", top_revision(before));
    let claim = m
        .announce(&probe, &Announce::new("checker", Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        claim.revision,
        top_revision(before) + 1,
        "a rejected call wrote something"
    );
    m.release(&probe, "checker").await.unwrap();
}
