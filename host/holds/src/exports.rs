//! Every guest export the host records and replays, listed once. The trace's
//! [`Export`](crate::trace::format::Export) enum, its reading back, and
//! replay's dispatch are all expanded from this table; how each export is
//! called and its result recorded is one `GuestExport` impl
//! (`runtime/exports.rs`). A new export is a line here and an impl there.

/// Calls `$m!` with the table: the variant (and the `GuestExport` type of the
/// same name), the WIT name, the recorded arguments and the recorded result.
macro_rules! for_each_export {
    ($m:ident) => {
        $m! {
            Announce "announce" AnnounceArgs => Result<TraceClaim, TraceError>;
            Release "release" ReleaseArgs => Result<TraceReleaseOutcome, TraceError>;
            WhoHas "who-has" WhoHasArgs => Result<Option<TraceClaim>, TraceError>;
            Covering "covering" FileArgs => Result<Vec<TraceClaim>, TraceError>;
            KeyForFile "key-for-file" FileArgs => Result<String, TraceError>;
            FileForKey "file-for-key" KeyArgs => Result<String, TraceError>;
            Interpret "interpret" InterpretArgs => TraceInterpretation;
            Sweep "sweep" SweepArgs => Result<TraceSweepOutcome, TraceError>;
            ClaimFiles "claim-files" ClaimArgs => Result<TraceClaimed, TraceError>;
            Renew "renew" RenewArgs => Result<TraceClaim, TraceError>;
            Check "check" CheckArgs => Result<Vec<TraceFileCheck>, TraceError>;
            ForceRelease "force-release" ForceReleaseArgs => Result<TraceReleaseOutcome, TraceError>;
        }
    };
}

pub(crate) use for_each_export;
