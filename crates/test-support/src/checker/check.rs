//! The checker's entry points and its state while it checks one history.

use super::log::Write;
use super::{Call, Nanos, Op, Outcome, Report, Rule, Violation, WatchLog};
use holds::Error;
use std::collections::{BTreeMap, HashMap};

pub(super) struct Checker<'a> {
    /// A write delivered to a subscriber is visible to every later read.
    pub(super) deliveries_order_reads: bool,
    pub(super) calls: &'a [Call],
    pub(super) log: BTreeMap<u64, Write>,
    /// Per file: (done_at, revision) sorted by done_at, with the running maximum.
    pub(super) done: HashMap<String, Vec<(Nanos, u64)>>,
    pub(super) report: Report,
}

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
    let mut checker = Checker {
        deliveries_order_reads,
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
        let op = match call.op {
            Op::Announce { .. } => "announce",
            Op::Release => "release",
            Op::WhoHas => "who-has",
        };
        let outcome = match &call.outcome {
            Outcome::Claimed(_) => "claimed".to_string(),
            Outcome::Refused(_) => "refused".to_string(),
            Outcome::Released(_) => "released".to_string(),
            Outcome::NotHeld => "not-held".to_string(),
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

impl Checker<'_> {
    pub(super) fn violation(&mut self, rule: Rule, file: &str, revision: u64, detail: String) {
        self.report.violations.push(Violation {
            rule,
            file: file.to_string(),
            revision,
            detail,
        });
    }

    pub(super) fn describe(&self, i: usize) -> String {
        let c = &self.calls[i];
        format!(
            "{:?} by {} via manager {} [{} .. {}]",
            c.op, c.agent, c.manager, c.start, c.end
        )
    }
}
