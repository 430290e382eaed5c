//! The embedded guest's marker headers (the WIT `marker-headers`): how a
//! JetStream message's headers name its operation, asked once per process.

use super::Runtime;
use crate::error::{Cause, Error};
use crate::kv::{MarkerHeader, Operation};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The table, loading the embedded guest the first time.
pub(crate) async fn marker_headers() -> Result<Arc<[MarkerHeader]>, Error> {
    static TABLE: OnceCell<Arc<[MarkerHeader]>> = OnceCell::const_new();
    TABLE
        .get_or_try_init(async || {
            let runtime = tokio::task::spawn_blocking(Runtime::embedded)
                .await
                .map_err(|e| Error::Guest(Cause::new(format!("loading the guest: {e}"))))??;
            let mut instance = runtime.instantiate().await?;
            let rules = instance
                .guest
                .holds_core_subscribe()
                .call_marker_headers(&mut instance.store)
                .await
                .map_err(|e| Error::wasm("asking the guest for its marker headers", e))?;
            Ok(rules
                .into_iter()
                .map(|r| MarkerHeader {
                    name: r.name,
                    value: r.value,
                    operation: crate::convert::operation_from_wit(r.operation),
                })
                .collect::<Vec<_>>()
                .into())
        })
        .await
        .cloned()
}

/// The operation of a message whose header `name` reads `header(name)`: the
/// first rule that matches, else a put.
pub(crate) fn operation_of<'a>(
    rules: &[MarkerHeader],
    header: impl Fn(&str) -> Option<&'a str>,
) -> Operation {
    rules
        .iter()
        .find(|r| header(&r.name) == Some(r.value.as_str()))
        .map_or(Operation::Put, |r| r.operation)
}
