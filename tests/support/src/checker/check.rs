//! The checker's entry points: one pass of every rule over a history.

use super::state::Checker;
use super::{Call, Op, Outcome, Report, WatchLog};
use holds::Error;
use std::collections::{BTreeMap, HashMap};

/// Check a history against the model (see the module docs).
pub fn check(calls: &[Call], watches: &[WatchLog]) -> Report {
    check_with(calls, watches, true)
}

/// [`check`] for a replicated store, where reads must see every acknowledged
/// write but may trail what a follower's consumer already delivered.
pub fn check_acked_reads(calls: &[Call], watches: &[WatchLog]) -> Report {
    check_with(calls, watches, false)
}

fn check_with(calls: &[Call], watches: &[WatchLog], deliveries_order_reads: bool) -> Report {
    // Claims are atomic on a store if every one of several files that
    // succeeded was (a store that falls back to announces does so for every
    // such claim; one file is always one write).
    let mut atomic = calls.iter().filter_map(|c| match &c.op {
        Op::Claim { atomic, files, .. } if files.len() > 1 => *atomic,
        _ => None,
    });
    let atomic_claims = atomic.clone().next().is_some() && atomic.all(|a| a);
    let mut checker = Checker {
        deliveries_order_reads,
        atomic_claims,
        calls,
        log: BTreeMap::new(),
        done: HashMap::new(),
        report: Report {
            calls: calls.len(),
            watches: watches.len(),
            watch_events: watches.iter().map(|w| w.events.len()).sum(),
            ..Report::default()
        },
    };
    for call in calls {
        let op = call.op.kind();
        let outcome = match &call.outcome {
            Outcome::Claimed(_) => "claimed".to_string(),
            Outcome::Refused(_) => "refused".to_string(),
            Outcome::Released(_) => "released".to_string(),
            Outcome::NotHeld => "not-held".to_string(),
            Outcome::NotClaimed => "not-claimed".to_string(),
            Outcome::Holder(Some(_)) => "some".to_string(),
            Outcome::Holder(None) => "none".to_string(),
            Outcome::Failed(e) => format!("error:{}", error_kind(e)),
        };
        *checker
            .report
            .outcomes
            .entry(format!("{op}/{outcome}"))
            .or_default() += 1;
    }
    checker.build_log(watches);
    checker.index_done();
    checker.check_claims();
    checker.check_claim_atomicity();
    checker.check_log();
    checker.check_reads();
    checker.find_ghosts();
    for w in watches {
        checker.check_watch(w);
    }
    checker.report
}

/// A short name for an error kind.
pub fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::HeldByAnother(_) => "held-by-another",
        Error::HeldByOthers(_) => "held-by-others",
        Error::Lost(_) => "lost",
        Error::InvalidInput { .. } => "invalid-input",
        Error::Config(_) => "config",
        Error::CasExhausted(_) => "cas-exhausted",
        Error::CorruptEntry { .. } => "corrupt-entry",
        Error::Store(_) => "store",
        Error::Closed => "closed",
        Error::Guest(_) => "guest",
        Error::Lagged(_) => "lagged",
    }
}
