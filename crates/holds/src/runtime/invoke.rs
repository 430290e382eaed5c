//! One guest instance and its export calls, typed; and the same calls made again
//! from a trace's records ([`Instance::rerun`]), for replay.

use super::bindings::Guest;
use super::bindings::exports::holds::core::holds::{
    AnnounceRequest, BucketSettings, ClaimRequest, Claimed, FileCheck, Identity, Place,
    ReleaseOutcome,
};
use super::bindings::exports::holds::core::subscribe::{
    Change, Interpretation, SweepOutcome, UpkeepPlan,
};
use super::bindings::holds::core::{kv, types};
use super::ctx::HoldsCtx;
use super::slots::Slot;
use crate::convert;
use crate::trace::format::{Export, Outcome};
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
    pub async fn announce(
        &mut self,
        request: &AnnounceRequest,
        ttl_max: u64,
        observed: Option<&kv::Entry>,
    ) -> wasmtime::Result<GuestResult<types::Claim>> {
        self.guest
            .holds_core_holds()
            .call_announce(&mut self.store, request, ttl_max, observed)
            .await
    }

    pub async fn release(
        &mut self,
        file: &str,
        agent_id: &str,
        observed: Option<&kv::Entry>,
    ) -> wasmtime::Result<GuestResult<ReleaseOutcome>> {
        self.guest
            .holds_core_holds()
            .call_release(&mut self.store, file, agent_id, observed)
            .await
    }

    pub async fn who_has(
        &mut self,
        file: &str,
        observed: Option<&kv::Entry>,
    ) -> wasmtime::Result<GuestResult<Option<types::Claim>>> {
        self.guest
            .holds_core_holds()
            .call_who_has(&mut self.store, file, observed)
            .await
    }

    pub async fn key_for_file(&mut self, file: &str) -> wasmtime::Result<GuestResult<String>> {
        self.guest
            .holds_core_holds()
            .call_key_for_file(&mut self.store, file)
            .await
    }

    pub async fn file_for_key(&mut self, key: &str) -> wasmtime::Result<GuestResult<String>> {
        self.guest
            .holds_core_holds()
            .call_file_for_key(&mut self.store, key)
            .await
    }

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

    pub async fn interpret(&mut self, change: &Change) -> wasmtime::Result<Interpretation> {
        self.guest
            .holds_core_subscribe()
            .call_interpret(&mut self.store, change)
            .await
    }

    pub async fn sweep(
        &mut self,
        key: &str,
        observed: &kv::Entry,
    ) -> wasmtime::Result<GuestResult<SweepOutcome>> {
        self.guest
            .holds_core_subscribe()
            .call_sweep(&mut self.store, key, observed)
            .await
    }

    pub async fn claim_files(
        &mut self,
        request: &ClaimRequest,
        ttl_max: u64,
        max_files: u32,
        observed: &[Option<kv::Entry>],
    ) -> wasmtime::Result<GuestResult<Claimed>> {
        self.guest
            .holds_core_holds()
            .call_claim_files(&mut self.store, request, ttl_max, max_files, observed)
            .await
    }

    pub async fn renew(
        &mut self,
        request: &AnnounceRequest,
        revision: u64,
        ttl_max: u64,
    ) -> wasmtime::Result<GuestResult<types::Claim>> {
        self.guest
            .holds_core_holds()
            .call_renew(&mut self.store, request, revision, ttl_max)
            .await
    }

    pub async fn check(
        &mut self,
        files: &[String],
        agent_id: &str,
        tokens: &[u64],
    ) -> wasmtime::Result<GuestResult<Vec<FileCheck>>> {
        self.guest
            .holds_core_holds()
            .call_check(&mut self.store, files, agent_id, tokens)
            .await
    }

    pub async fn force_release(
        &mut self,
        file: &str,
        by: &str,
        observed: Option<&kv::Entry>,
    ) -> wasmtime::Result<GuestResult<ReleaseOutcome>> {
        self.guest
            .holds_core_holds()
            .call_force_release(&mut self.store, file, by, observed)
            .await
    }

    /// Make a recorded call again; returns it with this run's outcome.
    pub async fn rerun(&mut self, recorded: &Export) -> Export {
        let entry = |e: &Option<crate::trace::format::TraceEntry>| {
            e.as_ref().map(convert::wit_entry_from_trace)
        };
        match recorded {
            Export::Announce { args, .. } => {
                let request = convert::request_from_trace(&args.request);
                let observed = entry(&args.observed);
                let out = self
                    .announce(&request, args.ttl_max, observed.as_ref())
                    .await;
                Export::Announce {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, convert::claim_to_trace)
                    }),
                }
            }
            Export::Release { args, .. } => {
                let observed = entry(&args.observed);
                let out = self
                    .release(&args.file, &args.agent_id, observed.as_ref())
                    .await;
                Export::Release {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, convert::release_to_trace)
                    }),
                }
            }
            Export::WhoHas { args, .. } => {
                let observed = entry(&args.observed);
                let out = self.who_has(&args.file, observed.as_ref()).await;
                Export::WhoHas {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, |c| c.as_ref().map(convert::claim_to_trace))
                    }),
                }
            }
            Export::KeyForFile { args, .. } => {
                let out = self.key_for_file(&args.file).await;
                Export::KeyForFile {
                    args: args.clone(),
                    result: outcome(out, |r| convert::result_to_trace(r, String::clone)),
                }
            }
            Export::FileForKey { args, .. } => {
                let out = self.file_for_key(&args.key).await;
                Export::FileForKey {
                    args: args.clone(),
                    result: outcome(out, |r| convert::result_to_trace(r, String::clone)),
                }
            }
            Export::Interpret { args, .. } => {
                let out = self
                    .interpret(&convert::change_from_trace(&args.change))
                    .await;
                Export::Interpret {
                    args: args.clone(),
                    result: outcome(out, convert::interpretation_to_trace),
                }
            }
            Export::ClaimFiles { args, .. } => {
                let request = convert::claim_request_from_trace(&args.request);
                let observed: Vec<Option<kv::Entry>> = args.observed.iter().map(&entry).collect();
                let out = self
                    .claim_files(&request, args.ttl_max, args.max_files, &observed)
                    .await;
                Export::ClaimFiles {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, convert::claimed_to_trace)
                    }),
                }
            }
            Export::Renew { args, .. } => {
                let request = convert::request_from_trace(&args.request);
                let out = self.renew(&request, args.revision, args.ttl_max).await;
                Export::Renew {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, convert::claim_to_trace)
                    }),
                }
            }
            Export::Check { args, .. } => {
                let out = self.check(&args.files, &args.agent_id, &args.tokens).await;
                Export::Check {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, |c| convert::file_checks_to_trace(c))
                    }),
                }
            }
            Export::ForceRelease { args, .. } => {
                let observed = entry(&args.observed);
                let out = self
                    .force_release(&args.file, &args.by, observed.as_ref())
                    .await;
                Export::ForceRelease {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, convert::release_to_trace)
                    }),
                }
            }
            Export::Sweep { args, .. } => {
                let observed = convert::wit_entry_from_trace(&args.observed);
                let out = self.sweep(&args.key, &observed).await;
                Export::Sweep {
                    args: args.clone(),
                    result: outcome(out, |r| {
                        convert::result_to_trace(r, convert::sweep_to_trace)
                    }),
                }
            }
        }
    }
}

/// An export call's outcome as a trace records it.
pub(crate) fn outcome<T, U>(
    out: wasmtime::Result<T>,
    returned: impl FnOnce(&T) -> U,
) -> Outcome<U> {
    match &out {
        Ok(value) => Outcome::Returned(returned(value)),
        Err(trap) => Outcome::Trapped {
            trap: format!("{trap:#}"),
        },
    }
}
