//! One guest instance, and the export calls a trace does not record (made
//! once, at open, or reading the filesystem rather than the store). The
//! recorded exports are called through `exports.rs`.

use super::bindings::Guest;
use super::bindings::exports::holds::core::holds::{BucketSettings, Identity, Place};
use super::bindings::exports::holds::core::subscribe::UpkeepPlan;
use super::bindings::holds::core::types;
use super::ctx::HoldsCtx;
use super::slots::Slot;
use wasmtime::Store;

/// An instance in its own store.
pub(crate) struct Instance {
    pub store: Store<HoldsCtx>,
    pub guest: Guest,
    /// This instance's pooling slot, freed when it is dropped.
    pub _slot: Slot,
}

/// An export's own result (`Err` carries the guest's `error`).
pub(crate) type GuestResult<T> = Result<T, types::Error>;

impl Instance {
    pub async fn check_bucket(
        &mut self,
        settings: &BucketSettings,
        ttl_max: u64,
    ) -> wasmtime::Result<GuestResult<()>> {
        self.guest
            .holds_core_holds()
            .call_check_bucket(&mut self.store, settings, ttl_max)
            .await
    }

    /// `identify`, with the `fs` import served for its duration.
    pub async fn identify(
        &mut self,
        paths: &[String],
        place: &Place,
    ) -> wasmtime::Result<GuestResult<Vec<Identity>>> {
        self.store.data_mut().serve_files(true);
        let out = self
            .guest
            .holds_core_holds()
            .call_identify(&mut self.store, paths, place)
            .await;
        self.store.data_mut().serve_files(false);
        out
    }

    pub async fn upkeep(&mut self, max_age: u64) -> wasmtime::Result<UpkeepPlan> {
        self.guest
            .holds_core_subscribe()
            .call_upkeep(&mut self.store, max_age)
            .await
    }
}
