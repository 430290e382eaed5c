//! What the logic needs from its host: the WIT imports, as a trait.

use crate::model::{Entry, Error, KeyedEntry, KvError, Removal, Timestamp, Write};
use std::future::Future;

/// The `kv`, `clock` and `observer` imports.
///
/// The methods are async so the same logic can run natively over an async store
/// (the sandbox-cost benchmark). Inside the component every import answers at once,
/// so each future is ready on its first poll.
pub trait Host: Send {
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Entry, KvError>> + Send;

    fn write_if_revision(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> impl Future<Output = Result<u64, KvError>> + Send;

    fn delete_if_revision(
        &mut self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Vec<u8>,
    ) -> impl Future<Output = Result<u64, KvError>> + Send;

    fn get_many(
        &mut self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Entry>, KvError>> + Send;

    fn write_batch(
        &mut self,
        writes: Vec<Write>,
    ) -> impl Future<Output = Result<Vec<u64>, KvError>> + Send;

    /// Every value entry whose key starts with `prefix`, from a view of the
    /// bucket that includes every change up to revision `through`.
    fn scan(
        &mut self,
        prefix: &str,
        through: u64,
    ) -> impl Future<Output = Result<Vec<KeyedEntry>, KvError>> + Send;

    fn now(&mut self) -> Timestamp;

    /// Wait `after` ns before sending again a write the store did not take;
    /// false, without waiting, when that would pass the call's deadline.
    fn pause(&mut self, after: u64) -> impl Future<Output = bool> + Send;

    fn cas_retry(&mut self, key: &str, attempt: u32);
}

/// A fresh read of `key`.
pub(crate) async fn read<H: Host>(host: &mut H, key: &str) -> Result<Entry, Error> {
    host.get(key).await.map_err(store_error)
}

/// A store failure where no conflict is possible (a read), or a store that
/// cannot do what was asked, as the export's error.
pub(crate) fn store_error(e: KvError) -> Error {
    match e {
        KvError::Unavailable(why) => Error::Store(why),
        KvError::NotStored(refusal) => Error::Store(refusal.detail),
        KvError::WrongRevision => {
            Error::Store("the store reported a revision conflict on a read".into())
        }
        KvError::Unsupported => Error::Store("the store does not support this operation".into()),
    }
}
