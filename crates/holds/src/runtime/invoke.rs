//! One guest instance, and export calls described as data ([`ExportCall`]) so the
//! same path serves live calls, recording and replay.

use super::bindings::Guest;
use super::bindings::exports::holds::core::holds::ReleaseOutcome;
use super::bindings::exports::holds::core::subscribe::{Change, Interpretation, SweepOutcome};
use super::bindings::holds::core::{kv, types};
use super::imports::GuestState;
use crate::trace::ExportCall;
use wasmtime::Store;

pub(crate) struct Instance {
    pub store: Store<GuestState>,
    pub guest: Guest,
    /// This instance's pooling slot, freed when it is dropped.
    pub _slot: super::pool::Slot,
}

type GuestResult<T> = Result<T, types::Error>;

/// What an export call returned.
pub(crate) enum ExportResult {
    Claim(GuestResult<types::Claim>),
    Release(GuestResult<ReleaseOutcome>),
    WhoHas(GuestResult<Option<types::Claim>>),
    Text(GuestResult<String>),
    Interpretation(Interpretation),
    Swept(GuestResult<SweepOutcome>),
}

const MISMATCH: &str = "invoke returns the result kind of its call";

impl ExportResult {
    pub fn claim(self) -> GuestResult<types::Claim> {
        match self {
            ExportResult::Claim(r) => r,
            _ => unreachable!("{MISMATCH}"),
        }
    }
    pub fn release(self) -> GuestResult<ReleaseOutcome> {
        match self {
            ExportResult::Release(r) => r,
            _ => unreachable!("{MISMATCH}"),
        }
    }
    pub fn who_has(self) -> GuestResult<Option<types::Claim>> {
        match self {
            ExportResult::WhoHas(r) => r,
            _ => unreachable!("{MISMATCH}"),
        }
    }
    pub fn text(self) -> GuestResult<String> {
        match self {
            ExportResult::Text(r) => r,
            _ => unreachable!("{MISMATCH}"),
        }
    }
    pub fn interpretation(self) -> Interpretation {
        match self {
            ExportResult::Interpretation(r) => r,
            _ => unreachable!("{MISMATCH}"),
        }
    }
    pub fn swept(self) -> GuestResult<SweepOutcome> {
        match self {
            ExportResult::Swept(r) => r,
            _ => unreachable!("{MISMATCH}"),
        }
    }

    /// The result as a trace records it.
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            ExportResult::Claim(r) => serde_json::to_value(r),
            ExportResult::Release(r) => serde_json::to_value(r),
            ExportResult::WhoHas(r) => serde_json::to_value(r),
            ExportResult::Text(r) => serde_json::to_value(r),
            ExportResult::Interpretation(r) => serde_json::to_value(r),
            ExportResult::Swept(r) => serde_json::to_value(r),
        };
        value.expect("WIT values serialize")
    }
}

impl Instance {
    /// Make one export call.
    pub async fn invoke(&mut self, call: &ExportCall) -> wasmtime::Result<ExportResult> {
        let store = &mut self.store;
        let holds = self.guest.holds_core_holds();
        let subscribe = self.guest.holds_core_subscribe();
        let entry = |e: &Option<crate::trace::TraceEntry>| e.clone().map(kv::Entry::from);
        Ok(match call {
            ExportCall::Announce {
                request,
                ttl_max,
                observed,
            } => ExportResult::Claim(
                holds
                    .call_announce(&mut *store, request, *ttl_max, entry(observed).as_ref())
                    .await?,
            ),
            ExportCall::Release {
                file,
                agent_id,
                observed,
            } => ExportResult::Release(
                holds
                    .call_release(&mut *store, file, agent_id, entry(observed).as_ref())
                    .await?,
            ),
            ExportCall::WhoHas { file, observed } => ExportResult::WhoHas(
                holds
                    .call_who_has(&mut *store, file, entry(observed).as_ref())
                    .await?,
            ),
            ExportCall::KeyForFile { file } => {
                ExportResult::Text(holds.call_key_for_file(&mut *store, file).await?)
            }
            ExportCall::FileForKey { key } => {
                ExportResult::Text(holds.call_file_for_key(&mut *store, key).await?)
            }
            ExportCall::Interpret { change } => {
                let change = Change {
                    key: change.key.clone(),
                    entry: change.entry.clone().into(),
                    previous: change.previous.clone().into(),
                    snapshot: change.snapshot,
                };
                ExportResult::Interpretation(subscribe.call_interpret(&mut *store, &change).await?)
            }
            ExportCall::Sweep { key, observed } => ExportResult::Swept(
                subscribe
                    .call_sweep(&mut *store, key, &observed.clone().into())
                    .await?,
            ),
        })
    }
}
