//! The bucket's log rebuilt from the history: every write (hold, release marker,
//! expiry marker) by revision, from what calls acknowledged and watches delivered.

use super::state::Checker;
use super::write::{Kind, Write};
use super::{Call, Nanos, Op, Outcome, Rule, WatchLog};
use std::collections::HashMap;

impl Checker<'_> {
    /// Rebuild the log from the acknowledgements and the watches.
    pub(super) fn build_log(&mut self, watches: &[WatchLog]) {
        for (i, call) in self.calls.iter().enumerate() {
            let (revision, file, kind) = match &call.outcome {
                Outcome::Claimed(c) => (c.revision, c.file.clone(), Kind::Put(c.hold.clone())),
                Outcome::Released(r) => {
                    let forced_by = (call.op == Op::ForceRelease).then(|| call.agent.clone());
                    (*r, call.file.clone(), Kind::Released { forced_by })
                }
                _ => continue,
            };
            if let Some(existing) = self.log.get(&revision) {
                let other = existing.call.map(|j| self.describe(j)).unwrap_or_default();
                let detail = format!(
                    "acknowledged to {} ({} of {file}) and to {other} ({} of {})",
                    self.describe(i),
                    kind.name(),
                    existing.kind.name(),
                    existing.file
                );
                self.violation(Rule::RevisionConflict, &file, revision, detail);
                continue;
            }
            self.log.insert(
                revision,
                Write {
                    file,
                    kind,
                    call: Some(i),
                    seen_at: None,
                },
            );
        }
        for w in watches {
            for seen in &w.events {
                let e = &seen.event;
                let kind = Kind::of_event(&e.kind);
                match self.log.get_mut(&e.revision) {
                    None => {
                        self.log.insert(
                            e.revision,
                            Write {
                                file: e.file.clone(),
                                kind,
                                call: None,
                                seen_at: Some(seen.at),
                            },
                        );
                    }
                    Some(existing) if existing.file == e.file && existing.kind == kind => {
                        existing.seen_at =
                            Some(existing.seen_at.map_or(seen.at, |t| t.min(seen.at)));
                    }
                    Some(existing) => {
                        let rule = if existing.call.is_some() {
                            Rule::WatchMismatch
                        } else {
                            Rule::RevisionConflict
                        };
                        let detail = format!(
                            "watch {} delivered a {} of {}, the log has a {} of {}",
                            w.name,
                            kind.name(),
                            e.file,
                            existing.kind.name(),
                            existing.file
                        );
                        let file = e.file.clone();
                        self.violation(rule, &file, e.revision, detail);
                    }
                }
            }
        }
        for w in self.log.values() {
            match w.kind {
                Kind::Put(_) => self.report.holds_written += 1,
                Kind::Released { .. } => self.report.releases_written += 1,
                Kind::Expired => self.report.expiries_written += 1,
            }
        }
    }

    pub(super) fn index_done(&mut self) {
        let mut done: HashMap<String, Vec<(Nanos, u64)>> = HashMap::new();
        for (revision, w) in &self.log {
            let at = if self.deliveries_order_reads {
                w.done_at(self.calls)
            } else {
                w.call.map(|i| self.calls[i].end).unwrap_or(Nanos::MAX)
            };
            done.entry(w.file.clone())
                .or_default()
                .push((at, *revision));
        }
        for list in done.values_mut() {
            list.sort();
            let mut max = 0;
            for entry in list.iter_mut() {
                max = max.max(entry.1);
                entry.1 = max;
            }
        }
        self.done = done;
    }

    /// The highest revision of `file` certainly written before `at` (0: none).
    pub(super) fn done_before(&self, file: &str, at: Nanos) -> u64 {
        let Some(list) = self.done.get(file) else {
            return 0;
        };
        let n = list.partition_point(|(t, _)| *t < at);
        if n == 0 { 0 } else { list[n - 1].1 }
    }

    /// An ambiguous call on `file` (by `agent`, of this kind) that started before
    /// `before`: its write may be missing from the log.
    pub(super) fn hidden(
        &self,
        file: &str,
        agent: Option<&str>,
        release: bool,
        before: Nanos,
    ) -> bool {
        self.calls.iter().any(|c| {
            c.file == file
                && self.may_hide_writes(c)
                && c.start < before
                // A force-release may remove anyone's hold.
                && agent.is_none_or(|a| c.agent == a || (release && c.op == Op::ForceRelease))
                && match c.op {
                    // A claim that fell back to announces rolls back with releases.
                    Op::Claim { .. } => !release || !self.atomic_claims,
                    // An announce that could not judge what it wrote withdraws
                    // it (a release marker) and fails.
                    ref op if release => op.releases() || op.takes(),
                    ref op => op.takes(),
                }
        })
    }

    /// Whether `c` may have written what it did not acknowledge: an ambiguous
    /// failure, or, where claims fall back to announces, a claim that did not
    /// succeed (its holds and their rollback markers).
    pub(super) fn may_hide_writes(&self, c: &Call) -> bool {
        c.outcome.is_ambiguous()
            || (!self.atomic_claims
                && matches!(c.op, Op::Claim { .. })
                && !matches!(c.outcome, Outcome::Claimed(_)))
    }
}
