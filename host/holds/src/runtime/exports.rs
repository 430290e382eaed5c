//! How each recorded export is called and its result recorded: one
//! [`GuestExport`] impl per line of the export table (`crate::exports`), used
//! by live calls (`calls.rs`) and replay ([`Instance::rerun`]) alike.

use super::bindings::exports::holds::core::holds::{Claimed, FileCheck, ReleaseOutcome};
use super::bindings::exports::holds::core::subscribe::{Interpretation, SweepOutcome};
use super::bindings::holds::core::{kv, types};
use super::invoke::{GuestResult, Instance};
use crate::convert::{self, result_to_trace};
use crate::trace::format::*;

/// One export: its arguments as a trace records them, the call they make, and
/// its result as a trace records it.
pub(crate) trait GuestExport {
    /// The arguments, as recorded.
    type Args: Clone;
    /// What the guest returns.
    type Out;
    /// The result, as recorded.
    type Recorded;

    /// Make the call on `instance`.
    fn call(
        instance: &mut Instance,
        args: &Self::Args,
    ) -> impl Future<Output = wasmtime::Result<Self::Out>> + Send;

    /// The result as a trace records it.
    fn recorded(out: &Self::Out) -> Self::Recorded;
}

/// A [`GuestExport`] with its place in the trace's [`Export`] enum.
pub(crate) trait Recorded: GuestExport {
    /// The record of a call with `args` that ended in `result`.
    fn record(args: Self::Args, result: Outcome<Self::Recorded>) -> Export;
}

/// An export call's outcome as a trace records it.
pub(crate) fn outcome<T, U>(
    out: &wasmtime::Result<T>,
    returned: impl FnOnce(&T) -> U,
) -> Outcome<U> {
    match out {
        Ok(value) => Outcome::Returned(returned(value)),
        Err(trap) => Outcome::Trapped {
            trap: format!("{trap:#}"),
        },
    }
}

macro_rules! define_exports {
    ($($variant:ident $name:literal $args:ty => $result:ty;)*) => {
        $(
            #[doc = concat!("The `", $name, "` export.")]
            pub(crate) struct $variant;

            impl Recorded for $variant {
                fn record(args: $args, result: Outcome<$result>) -> Export {
                    Export::$variant { args, result }
                }
            }
        )*

        impl Instance {
            /// Make a recorded call again; returns it with this run's outcome.
            pub async fn rerun(&mut self, recorded: &Export) -> Export {
                match recorded {
                    $(Export::$variant { args, .. } => {
                        let out = $variant::call(self, args).await;
                        $variant::record(args.clone(), outcome(&out, $variant::recorded))
                    })*
                }
            }
        }
    };
}

crate::exports::for_each_export!(define_exports);

fn entry(e: &Option<TraceEntry>) -> Option<kv::Entry> {
    e.as_ref().map(convert::wit_entry_from_trace)
}

impl GuestExport for Announce {
    type Args = AnnounceArgs;
    type Out = GuestResult<types::Claim>;
    type Recorded = Result<TraceClaim, TraceError>;

    async fn call(i: &mut Instance, a: &AnnounceArgs) -> wasmtime::Result<Self::Out> {
        let request = convert::request_from_trace(&a.request);
        let observed = entry(&a.observed);
        i.guest
            .holds_core_holds()
            .call_announce(&mut i.store, &request, a.ttl_max, observed.as_ref())
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, convert::claim_to_trace)
    }
}

impl GuestExport for Release {
    type Args = ReleaseArgs;
    type Out = GuestResult<ReleaseOutcome>;
    type Recorded = Result<TraceReleaseOutcome, TraceError>;

    async fn call(i: &mut Instance, a: &ReleaseArgs) -> wasmtime::Result<Self::Out> {
        let observed = entry(&a.observed);
        i.guest
            .holds_core_holds()
            .call_release(&mut i.store, &a.file, &a.agent_id, observed.as_ref())
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, convert::release_to_trace)
    }
}

impl GuestExport for WhoHas {
    type Args = WhoHasArgs;
    type Out = GuestResult<Option<types::Claim>>;
    type Recorded = Result<Option<TraceClaim>, TraceError>;

    async fn call(i: &mut Instance, a: &WhoHasArgs) -> wasmtime::Result<Self::Out> {
        let observed = entry(&a.observed);
        i.guest
            .holds_core_holds()
            .call_who_has(&mut i.store, &a.file, observed.as_ref())
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, |c| c.as_ref().map(convert::claim_to_trace))
    }
}

impl GuestExport for Covering {
    type Args = FileArgs;
    type Out = GuestResult<Vec<types::Claim>>;
    type Recorded = Result<Vec<TraceClaim>, TraceError>;

    async fn call(i: &mut Instance, a: &FileArgs) -> wasmtime::Result<Self::Out> {
        i.guest
            .holds_core_holds()
            .call_covering(&mut i.store, &a.file)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, |claims| {
            claims.iter().map(convert::claim_to_trace).collect()
        })
    }
}

impl GuestExport for KeyForFile {
    type Args = FileArgs;
    type Out = GuestResult<String>;
    type Recorded = Result<String, TraceError>;

    async fn call(i: &mut Instance, a: &FileArgs) -> wasmtime::Result<Self::Out> {
        i.guest
            .holds_core_holds()
            .call_key_for_file(&mut i.store, &a.file)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, String::clone)
    }
}

impl GuestExport for FileForKey {
    type Args = KeyArgs;
    type Out = GuestResult<String>;
    type Recorded = Result<String, TraceError>;

    async fn call(i: &mut Instance, a: &KeyArgs) -> wasmtime::Result<Self::Out> {
        i.guest
            .holds_core_holds()
            .call_file_for_key(&mut i.store, &a.key)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, String::clone)
    }
}

impl GuestExport for Interpret {
    type Args = InterpretArgs;
    type Out = Interpretation;
    type Recorded = TraceInterpretation;

    async fn call(i: &mut Instance, a: &InterpretArgs) -> wasmtime::Result<Self::Out> {
        let change = convert::change_from_trace(&a.change);
        i.guest
            .holds_core_subscribe()
            .call_interpret(&mut i.store, &change)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        convert::interpretation_to_trace(out)
    }
}

impl GuestExport for Sweep {
    type Args = SweepArgs;
    type Out = GuestResult<SweepOutcome>;
    type Recorded = Result<TraceSweepOutcome, TraceError>;

    async fn call(i: &mut Instance, a: &SweepArgs) -> wasmtime::Result<Self::Out> {
        let observed = convert::wit_entry_from_trace(&a.observed);
        i.guest
            .holds_core_subscribe()
            .call_sweep(&mut i.store, &a.key, &observed)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, convert::sweep_to_trace)
    }
}

impl GuestExport for ClaimFiles {
    type Args = ClaimArgs;
    type Out = GuestResult<Claimed>;
    type Recorded = Result<TraceClaimed, TraceError>;

    async fn call(i: &mut Instance, a: &ClaimArgs) -> wasmtime::Result<Self::Out> {
        let request = convert::claim_request_from_trace(&a.request);
        let observed: Vec<Option<kv::Entry>> = a.observed.iter().map(entry).collect();
        i.guest
            .holds_core_holds()
            .call_claim_files(&mut i.store, &request, a.ttl_max, a.max_files, &observed)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, convert::claimed_to_trace)
    }
}

impl GuestExport for Renew {
    type Args = RenewArgs;
    type Out = GuestResult<types::Claim>;
    type Recorded = Result<TraceClaim, TraceError>;

    async fn call(i: &mut Instance, a: &RenewArgs) -> wasmtime::Result<Self::Out> {
        let request = convert::request_from_trace(&a.request);
        i.guest
            .holds_core_holds()
            .call_renew(&mut i.store, &request, a.revision, a.ttl_max)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, convert::claim_to_trace)
    }
}

impl GuestExport for Check {
    type Args = CheckArgs;
    type Out = GuestResult<Vec<FileCheck>>;
    type Recorded = Result<Vec<TraceFileCheck>, TraceError>;

    async fn call(i: &mut Instance, a: &CheckArgs) -> wasmtime::Result<Self::Out> {
        i.guest
            .holds_core_holds()
            .call_check(&mut i.store, &a.files, &a.agent_id, &a.tokens)
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, |c| convert::file_checks_to_trace(c))
    }
}

impl GuestExport for ForceRelease {
    type Args = ForceReleaseArgs;
    type Out = GuestResult<ReleaseOutcome>;
    type Recorded = Result<TraceReleaseOutcome, TraceError>;

    async fn call(i: &mut Instance, a: &ForceReleaseArgs) -> wasmtime::Result<Self::Out> {
        let observed = entry(&a.observed);
        i.guest
            .holds_core_holds()
            .call_force_release(&mut i.store, &a.file, &a.by, observed.as_ref())
            .await
    }

    fn recorded(out: &Self::Out) -> Self::Recorded {
        result_to_trace(out, convert::release_to_trace)
    }
}
