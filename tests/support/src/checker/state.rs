//! The checker's state while it checks one history, shared by every rule's pass.

use super::write::Write;
use super::{Call, Nanos, Report, Rule, Violation};
use std::collections::{BTreeMap, HashMap};

pub(super) struct Checker<'a> {
    /// A write delivered to a subscriber is visible to every later read.
    pub(super) deliveries_order_reads: bool,
    /// Every multi-file claim that succeeded was one atomic write (so one that
    /// did not wrote nothing).
    pub(super) atomic_claims: bool,
    pub(super) calls: &'a [Call],
    pub(super) log: BTreeMap<u64, Write>,
    /// Per file: (done_at, revision) sorted by done_at, with the running maximum.
    pub(super) done: HashMap<String, Vec<(Nanos, u64)>>,
    pub(super) report: Report,
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
            "{} by {} via manager {} [{} .. {}]",
            c.op.name(),
            c.agent,
            c.manager,
            c.start,
            c.end
        )
    }
}
