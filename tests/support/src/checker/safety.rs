//! The rules on writes: claims inside their calls, revisions in order, mutual
//! exclusion and markers per file, and the figures of ghost writes.

use super::state::Checker;
use super::write::{Kind, Write, ms};
use super::{Nanos, Op, Outcome, Rule, ns};
use holds::Hold;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Whether a refused claim's hold was rolled back, as far as the log shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undone {
    Yes,
    No,
    /// A force-release or an expiry removed it first.
    Otherwise,
    /// The log misses a revision between the hold and the file's next write.
    Unknown,
}

/// What removed a file's latest hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removed {
    Released,
    Expired,
}

impl Checker<'_> {
    /// Acknowledged claims: inside their call, expiring ttl after they were claimed,
    /// and written above every revision acknowledged before the call started.
    pub(super) fn check_claims(&mut self) {
        for i in 0..self.calls.len() {
            let call = &self.calls[i];
            let revision = match (&call.op, &call.outcome) {
                (Op::Announce { ttl } | Op::Claim { ttl, .. }, Outcome::Claimed(c)) => {
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
                (Op::Release | Op::ForceRelease, Outcome::Released(r)) => *r,
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
            let mut removed: Option<Removed> = None;
            for revision in revisions {
                let w = self.log[&revision].clone();
                match &w.kind {
                    Kind::Put(b) => {
                        if let Some((ra, a)) = &current
                            && a.agent_id != b.agent_id
                            && removed != Some(Removed::Released)
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
                            } else if removed == Some(Removed::Expired) {
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
                        } else if removed == Some(Removed::Released) {
                            self.report.after_release += 1;
                        } else if removed == Some(Removed::Expired) {
                            self.report.after_expiry += 1;
                        }
                        current = Some((revision, b.clone()));
                        removed = None;
                    }
                    Kind::Released { .. } => {
                        let holder = current
                            .as_ref()
                            .filter(|_| removed.is_none())
                            .map(|(r, h)| (*r, h));
                        match (w.call, holder) {
                            // A force-release removes whoever's hold there is.
                            (Some(i), Some(_)) if self.calls[i].op == Op::ForceRelease => {
                                self.report.forced_releases += 1;
                            }
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
                                // A hidden hold of the releaser's own could be what it
                                // removed; for a force-release, anyone's.
                                let whose = (self.calls[i].op != Op::ForceRelease)
                                    .then_some(releaser.as_str());
                                if self.hidden(&file, whose, false, self.calls[i].end) {
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
                        removed = Some(Removed::Released);
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
                            removed = Some(Removed::Expired);
                        }
                    }
                }
            }
        }
    }

    /// A claim is all or nothing. One that succeeded atomically wrote its files
    /// as consecutive revisions (nothing between them); one that did not
    /// succeed left none of the claimant's holds behind: on an atomic store it
    /// wrote none, elsewhere each hold it wrote is followed by its rollback.
    pub(super) fn check_claim_atomicity(&mut self) {
        // A claim is recorded as one call per file, with the same instants.
        let mut groups: BTreeMap<(String, Nanos, Nanos), Vec<usize>> = BTreeMap::new();
        for (i, c) in self.calls.iter().enumerate() {
            if let Op::Claim { .. } = c.op {
                groups
                    .entry((c.agent.clone(), c.start, c.end))
                    .or_default()
                    .push(i);
            }
        }
        for parts in groups.values() {
            let first = &self.calls[parts[0]];
            if parts
                .iter()
                .all(|&i| matches!(self.calls[i].outcome, Outcome::Claimed(_)))
            {
                self.check_claimed(parts);
            } else if !first.outcome.is_ambiguous() {
                for &i in parts {
                    self.check_refused_part(i);
                }
            }
        }
    }

    /// A claim of several files that succeeded: atomic ones are consecutive
    /// revisions.
    fn check_claimed(&mut self, parts: &[usize]) {
        let first = &self.calls[parts[0]];
        let Op::Claim {
            atomic: Some(atomic),
            files,
            ..
        } = &first.op
        else {
            return;
        };
        if files.len() < 2 {
            return;
        }
        self.report.claims += 1;
        if !atomic {
            return;
        }
        self.report.atomic_claims += 1;
        let mut revisions: Vec<u64> = parts
            .iter()
            .filter_map(|&i| match &self.calls[i].outcome {
                Outcome::Claimed(c) => Some(c.revision),
                _ => None,
            })
            .collect();
        revisions.sort();
        let (lo, hi) = (revisions[0], revisions[revisions.len() - 1]);
        if hi - lo + 1 != revisions.len() as u64 {
            let between: Vec<u64> = self
                .log
                .range(lo..=hi)
                .map(|(r, _)| *r)
                .filter(|r| !revisions.contains(r))
                .collect();
            let detail = format!(
                "{} was acknowledged as atomic at revisions {revisions:?}, with writes {between:?} between them",
                self.describe(parts[0])
            );
            let file = first.file.clone();
            self.violation(Rule::PartialClaim, &file, lo, detail);
        }
    }

    /// One file of a refused claim: the claimant's unacknowledged holds written
    /// during the call.
    fn check_refused_part(&mut self, i: usize) {
        let c = &self.calls[i];
        let written: Vec<u64> = self
            .log
            .iter()
            .filter(|(_, w)| {
                w.file == c.file
                    && w.call.is_none()
                    && matches!(&w.kind, Kind::Put(h) if h.agent_id == c.agent
                        && (c.start..=c.end).contains(&ns(h.claimed_at)))
            })
            .map(|(r, _)| *r)
            .collect();
        for revision in written {
            let left = match (self.atomic_claims, self.undone(i, revision)) {
                (true, _) => " (claims are atomic here)",
                (false, Undone::No) => " and not rolled back",
                (false, Undone::Yes) => {
                    self.report.rollbacks += 1;
                    continue;
                }
                (false, Undone::Otherwise | Undone::Unknown) => {
                    self.report.excused += 1;
                    continue;
                }
            };
            let detail = format!(
                "{} was refused, but its hold at revision {revision} was written{left}",
                self.describe(i)
            );
            let file = self.calls[i].file.clone();
            self.violation(Rule::PartialClaim, &file, revision, detail);
        }
    }

    /// Whether the hold that refused claim `i` wrote at `revision` was rolled
    /// back, as far as the log shows.
    fn undone(&self, i: usize, revision: u64) -> Undone {
        let c = &self.calls[i];
        let next = self
            .log
            .range(revision + 1..)
            .find(|(_, n)| n.file == c.file)
            .map(|(r, n)| (*r, n));
        match next.map(|(_, n)| (n.call, &n.kind)) {
            // Rolled back: a release marker, or the claimant's earlier hold (a
            // renewal) written back.
            Some((None, Kind::Released { forced_by: None })) => return Undone::Yes,
            Some((None, Kind::Put(h))) if h.agent_id == c.agent && ns(h.claimed_at) < c.start => {
                return Undone::Yes;
            }
            // Removed before the rollback came (a force-release between the
            // claim's write and its rollback, whose revision check then fails,
            // as it should): nothing of the claim stays either.
            Some((_, Kind::Released { forced_by: Some(_) } | Kind::Expired)) => {
                return Undone::Otherwise;
            }
            _ => {}
        }
        // A subscription that fell behind may have had the rollback coalesced
        // away: only a log with every revision up to the next write shows there
        // was none.
        let until = next.map_or_else(|| self.log.keys().last().copied().unwrap_or(0), |(r, _)| r);
        if (revision + 1..until).all(|q| self.log.contains_key(&q)) {
            Undone::No
        } else {
            Undone::Unknown
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
                    && c.op.takes()
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
