//! The rules on writes: claims inside their calls, revisions in order, mutual
//! exclusion and markers per file, and the figures of ghost writes.

use super::state::Checker;
use super::write::{Kind, Write, ms};
use super::{Nanos, Op, Outcome, Rule, ns};
use holds::Hold;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

impl Checker<'_> {
    /// Acknowledged claims: inside their call, expiring ttl after they were claimed,
    /// and written above every revision acknowledged before the call started.
    pub(super) fn check_claims(&mut self) {
        for i in 0..self.calls.len() {
            let call = &self.calls[i];
            let revision = match (&call.op, &call.outcome) {
                (Op::Announce { ttl }, Outcome::Claimed(c)) => {
                    let claimed = ns(c.hold.claimed_at);
                    let expires = ns(c.hold.expires_at);
                    let ttl = i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX);
                    if claimed < call.start
                        || claimed > call.end
                        || expires != claimed.saturating_add(ttl)
                        || c.hold.agent_id != call.agent
                        || c.file != call.file
                    {
                        let detail = format!(
                            "{} returned a claim by {} on {} claimed at {claimed}, expiring at {expires} (ttl {ttl} ns)",
                            self.describe(i),
                            c.hold.agent_id,
                            c.file
                        );
                        let file = call.file.clone();
                        self.violation(Rule::BadClaim, &file, c.revision, detail);
                    }
                    c.revision
                }
                (Op::Release, Outcome::Released(r)) => *r,
                _ => continue,
            };
            let before = self.done_before(&call.file, call.start);
            if revision <= before {
                let detail = format!(
                    "{} wrote revision {revision}, not above revision {before} acknowledged before it started",
                    self.describe(i)
                );
                let file = call.file.clone();
                self.violation(Rule::RevisionOrder, &file, revision, detail);
            }
        }
    }

    /// Mutual exclusion and markers, per file in revision order.
    pub(super) fn check_log(&mut self) {
        let mut files: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (revision, w) in &self.log {
            files.entry(w.file.clone()).or_default().push(*revision);
        }
        for (file, revisions) in files {
            // The latest hold, and the marker that removed it since, if any.
            let mut current: Option<(u64, Hold)> = None;
            let mut removed: Option<Kind> = None;
            for revision in revisions {
                let w = self.log[&revision].clone();
                match &w.kind {
                    Kind::Put(b) => {
                        if let Some((ra, a)) = &current
                            && a.agent_id != b.agent_id
                            && removed != Some(Kind::Released)
                        {
                            let a_expires = ns(a.expires_at);
                            let b_claimed = ns(b.claimed_at);
                            if a_expires < b_claimed {
                                if removed.is_none() {
                                    self.report.take_overs += 1;
                                } else {
                                    self.report.after_expiry += 1;
                                }
                            } else if self.hidden(&file, Some(&a.agent_id), true, b_claimed) {
                                self.report.excused += 1;
                            } else if removed == Some(Kind::Expired) {
                                // A marker written after the hold expired comes before
                                // the next decision, so that decision is after the expiry.
                                let detail = format!(
                                    "{}'s hold (revision {ra}) was marked expired before {} took the file at {b_claimed}, {} before the hold expired",
                                    a.agent_id,
                                    b.agent_id,
                                    ms(a_expires - b_claimed)
                                );
                                self.violation(Rule::EarlyExpiry, &file, revision, detail);
                            } else {
                                let detail = format!(
                                    "{} took the file at {b_claimed} while {}'s hold (revision {ra}) was live until {a_expires} ({} later), with no release in between",
                                    b.agent_id,
                                    a.agent_id,
                                    ms(a_expires - b_claimed)
                                );
                                self.violation(Rule::Overlap, &file, revision, detail);
                            }
                        } else if current.is_some() && removed.is_none() {
                            self.report.renewals += 1;
                        } else if removed == Some(Kind::Released) {
                            self.report.after_release += 1;
                        } else if removed == Some(Kind::Expired) {
                            self.report.after_expiry += 1;
                        }
                        current = Some((revision, b.clone()));
                        removed = None;
                    }
                    Kind::Released => {
                        let holder = current
                            .as_ref()
                            .filter(|_| removed.is_none())
                            .map(|(r, h)| (*r, h));
                        match (w.call, holder) {
                            (Some(i), holder)
                                if holder
                                    .is_none_or(|(_, h)| self.calls[i].agent != h.agent_id) =>
                            {
                                let releaser = self.calls[i].agent.clone();
                                let detail = match holder {
                                    Some((rh, h)) => format!(
                                        "{} removed {}'s hold (revision {rh})",
                                        self.describe(i),
                                        h.agent_id
                                    ),
                                    None => format!(
                                        "{} was acknowledged with nothing to remove",
                                        self.describe(i)
                                    ),
                                };
                                // A hidden hold of the releaser's own could be what it removed.
                                if self.hidden(&file, Some(&releaser), false, self.calls[i].end) {
                                    self.report.excused += 1;
                                } else {
                                    self.violation(Rule::UnownedRelease, &file, revision, detail);
                                }
                            }
                            (None, Some((rh, h))) => {
                                if self.hidden(&file, Some(&h.agent_id), true, Nanos::MAX) {
                                    self.report.excused += 1;
                                } else {
                                    let detail = format!(
                                        "a release marker removed {}'s hold (revision {rh}) but no release call acknowledged it",
                                        h.agent_id
                                    );
                                    self.violation(Rule::PhantomRemoval, &file, revision, detail);
                                }
                            }
                            _ => {}
                        }
                        removed = Some(Kind::Released);
                    }
                    Kind::Expired => {
                        if let (Some((rh, h)), None, Some(seen)) = (&current, &removed, w.seen_at) {
                            let expires = ns(h.expires_at);
                            if seen <= expires {
                                let detail = format!(
                                    "an expiry marker of {}'s hold (revision {rh}) reached a subscriber at {seen}, {} before the hold expired",
                                    h.agent_id,
                                    ms(expires - seen)
                                );
                                self.violation(Rule::EarlyExpiry, &file, revision, detail);
                            }
                        }
                        if removed.is_none() {
                            removed = Some(Kind::Expired);
                        }
                    }
                }
            }
        }
    }

    /// Holds in the log that no call acknowledged but a failed announce made.
    pub(super) fn find_ghosts(&mut self) {
        // Per file: the write just before, if it is an acknowledged hold.
        let mut previous: HashMap<String, Option<Hold>> = HashMap::new();
        let log: Vec<Write> = self.log.values().cloned().collect();
        for w in log {
            let before = previous.insert(
                w.file.clone(),
                match (&w.kind, w.call) {
                    (Kind::Put(hold), Some(_)) => Some(hold.clone()),
                    _ => None,
                },
            );
            let (Kind::Put(hold), None) = (&w.kind, w.call) else {
                continue;
            };
            let claimed = ns(hold.claimed_at);
            let Some(call) = self.calls.iter().find(|c| {
                c.file == w.file
                    && c.agent == hold.agent_id
                    && c.outcome.is_ambiguous()
                    && matches!(c.op, Op::Announce { .. })
                    && c.start <= claimed
                    && claimed <= c.end
            }) else {
                continue;
            };
            self.report.ghost_writes += 1;
            let Some(seen) = w.seen_at else { continue };
            let late = Duration::from_nanos(u64::try_from(seen - call.end).unwrap_or(0));
            self.report.ghost_max_late = self.report.ghost_max_late.max(late);
            if ns(hold.expires_at) < seen {
                self.report.ghost_dead_on_arrival += 1;
            }
            if let Some(Some(prev)) = before
                && prev.agent_id == hold.agent_id
                && prev.expires_at > hold.expires_at
                && ns(prev.expires_at) > seen
            {
                self.report.ghost_shortened += 1;
            }
        }
    }
}
