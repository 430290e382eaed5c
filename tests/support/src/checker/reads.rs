//! The rules on reads: who-has, the holder a refusal names, a release that found
//! nothing.

use super::state::Checker;
use super::write::{Kind, ms};
use super::{Call, Nanos, Op, Outcome, Rule, ns};
use holds::{Claim, Hold};

impl Checker<'_> {
    /// Whether a write on `file` above `after` could have come before `before`:
    /// an acknowledged one that started earlier, one only a subscriber saw (other
    /// than the expiry marker of the hold at `after`, which comes after its
    /// expiry), or a hidden write of an ambiguous call that started earlier.
    /// Call `reader`'s own hidden writes do not count: a call cannot excuse itself.
    pub(super) fn write_between(
        &self,
        file: &str,
        after: u64,
        before: Nanos,
        reader: usize,
    ) -> bool {
        let mut next = true;
        for (_, w) in self.log.range(after + 1..) {
            if w.file != file {
                continue;
            }
            let immediate = std::mem::replace(&mut next, false);
            match w.call {
                Some(i) if self.calls[i].start < before => return true,
                Some(_) => {}
                None if w.kind == Kind::Expired && immediate => {}
                None => return true,
            }
        }
        self.calls.iter().enumerate().any(|(j, c)| {
            j != reader && c.file == file && self.may_hide_writes(c) && c.start < before
        })
    }

    /// A claim a read returned (who-has, or the holder a refusal named).
    pub(super) fn check_read_claim(&mut self, i: usize, claim: &Claim, what: &str) {
        let call = &self.calls[i];
        let (s, e) = (call.start, call.end);
        let file = call.file.clone();
        let before = self.done_before(&file, s);
        let found = |this: &mut Self, rule: Rule, detail: String| {
            let detail = format!("{} {what}: {detail}", this.describe(i));
            this.violation(rule, &file, claim.revision, detail);
        };
        match self.log.get(&claim.revision) {
            Some(w) if w.file == claim.file && w.kind == Kind::Put(claim.hold.clone()) => {}
            Some(w) => {
                let detail = format!("the log has a {} of {} there", w.kind.name(), w.file);
                found(self, Rule::UnknownHold, detail);
            }
            None => {
                let hidden = self.hidden(&file, Some(&claim.hold.agent_id), false, e);
                if hidden {
                    self.report.excused += 1;
                } else {
                    found(self, Rule::UnknownHold, "nobody wrote it".into());
                }
            }
        }
        if claim.revision < before {
            let how = self
                .log
                .get(&before)
                .map(|w| {
                    let at = w.done_at(self.calls);
                    let by = match w.call {
                        Some(j) if self.calls[j].end == at => "acknowledged",
                        _ => "delivered to a watch",
                    };
                    format!(" (a {} {by} {} before)", w.kind.name(), ms(s - at))
                })
                .unwrap_or_default();
            let detail = format!(
                "revision {} is older than revision {before}, written before the call started{how}",
                claim.revision
            );
            found(self, Rule::StaleRead, detail);
        }
        let claimed = ns(claim.hold.claimed_at);
        if claimed > e {
            found(
                self,
                Rule::FutureRead,
                format!("the hold was claimed at {claimed}, after the call ended"),
            );
        }
        let expires = ns(claim.hold.expires_at);
        if expires < s {
            found(
                self,
                Rule::ExpiredReturned,
                format!(
                    "{}'s hold expired at {expires}, {} before the call started",
                    claim.hold.agent_id,
                    ms(s - expires)
                ),
            );
        }
    }

    /// The hold that was live through `[s, e]` by the log, if a read then must
    /// have seen it: the latest write before `s` is a hold expiring after `e`, and
    /// no write could have come between.
    pub(super) fn live_through(&self, i: usize) -> Option<(u64, Hold)> {
        let Call {
            file,
            start: s,
            end: e,
            ..
        } = &self.calls[i];
        let (file, s, e) = (file.as_str(), *s, *e);
        let before = self.done_before(file, s);
        let w = self.log.get(&before)?;
        let Kind::Put(hold) = &w.kind else {
            return None;
        };
        if ns(hold.expires_at) <= e || self.write_between(file, before, e, i) {
            return None;
        }
        Some((before, hold.clone()))
    }

    pub(super) fn check_reads(&mut self) {
        for i in 0..self.calls.len() {
            let call = self.calls[i].clone();
            match (&call.op, &call.outcome) {
                (Op::WhoHas, Outcome::Holder(Some(claim))) => {
                    self.check_read_claim(i, claim, "returned a hold")
                }
                (Op::Announce { .. } | Op::Claim { .. }, Outcome::Refused(claim)) => {
                    if claim.hold.agent_id == call.agent {
                        let detail =
                            format!("{} was refused in favour of itself", self.describe(i));
                        self.violation(Rule::SelfRefusal, &call.file, claim.revision, detail);
                    }
                    self.check_read_claim(i, claim, "was refused for a hold")
                }
                (Op::WhoHas, Outcome::Holder(None)) => {
                    if let Some((revision, hold)) = self.live_through(i) {
                        let detail = format!(
                            "{} returned nobody while {}'s hold (revision {revision}) was live until {} ({} after the call ended)",
                            self.describe(i),
                            hold.agent_id,
                            ns(hold.expires_at),
                            ms(ns(hold.expires_at) - call.end)
                        );
                        self.violation(Rule::LostHold, &call.file, revision, detail);
                    }
                }
                (Op::Claim { .. }, Outcome::NotClaimed) => {
                    // A refused claim names every other agent's live hold.
                    if let Some((revision, hold)) = self.live_through(i)
                        && hold.agent_id != call.agent
                    {
                        let detail = format!(
                            "{} was refused without naming {}'s hold (revision {revision}) on this file, live until {}",
                            self.describe(i),
                            hold.agent_id,
                            ns(hold.expires_at)
                        );
                        self.violation(Rule::LostHold, &call.file, revision, detail);
                    }
                }
                (Op::Release | Op::ForceRelease, Outcome::NotHeld) => {
                    // An owner's release, or a force-release, of a live hold.
                    if let Some((revision, hold)) = self.live_through(i)
                        && (hold.agent_id == call.agent || call.op == Op::ForceRelease)
                    {
                        let detail = format!(
                            "{} found nothing to release while its hold (revision {revision}) was live until {}",
                            self.describe(i),
                            ns(hold.expires_at)
                        );
                        self.violation(Rule::MissedRelease, &call.file, revision, detail);
                    }
                }
                _ => {}
            }
        }
    }
}
