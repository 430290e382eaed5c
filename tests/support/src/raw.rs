//! Raw writes: entries another client of the bucket wrote (a Go agent's hold,
//! values that are not holds, keys holds would not write), which holds itself
//! never writes. Every test stages them through [`put`], so how a raw write is
//! made (today `KvStore::put`, an unconditional write) is decided here only.

use bytes::Bytes;
use holds::kv::{KvError, KvStore};

/// Writes `value` to `key` unconditionally, as another client would; returns the
/// entry's revision.
pub async fn put(store: &dyn KvStore, key: &str, value: impl Into<Bytes>) -> Result<u64, KvError> {
    store.put(key, value.into()).await
}
