//! The checker's verdict: the rules, their violations, and the history's figures.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What rule a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Two agents' holds on one file were live at once.
    Overlap,
    /// A release removed a hold of another agent.
    UnownedRelease,
    /// A release marker that no release call acknowledged.
    PhantomRemoval,
    /// An expiry marker delivered before the hold it removes expired.
    EarlyExpiry,
    /// A read missed a write acknowledged before it started.
    StaleRead,
    /// A read returned a hold written after it ended.
    FutureRead,
    /// A read returned a hold nobody wrote.
    UnknownHold,
    /// A read returned a hold that had expired before the call started.
    ExpiredReturned,
    /// Who-has returned nothing while an acknowledged hold was live.
    LostHold,
    /// The owner's release found nothing while its hold was live.
    MissedRelease,
    /// A refusal named the caller itself.
    SelfRefusal,
    /// One revision names two different writes.
    RevisionConflict,
    /// A write's revision is not above one acknowledged before it started.
    RevisionOrder,
    /// A claim's instants are outside its call, or its expiry is not claimed_at + ttl.
    BadClaim,
    /// A subscription's revisions did not increase.
    WatchOrder,
    /// A subscription missed an acknowledged write that nothing superseded.
    WatchMissing,
    /// A subscription missed an acknowledged write that a later write on the
    /// same file may have superseded before the subscription got past it (the
    /// store coalesced the key's changes, as a JetStream KV bucket with history
    /// 1 does for a consumer that lags).
    WatchSkipped,
    /// A subscription delivered a write different from what was acknowledged.
    WatchMismatch,
    /// A multi-file claim was not all or nothing: an atomic one with other
    /// writes between its own, or a refused one that left a hold behind.
    PartialClaim,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub file: String,
    pub revision: u64,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} on {} at revision {}: {}",
            self.rule, self.file, self.revision, self.detail
        )
    }
}

/// The checker's verdict and the history's figures.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub calls: usize,
    /// Calls by kind and outcome, e.g. `announce/claimed`.
    pub outcomes: BTreeMap<String, usize>,
    /// Writes in the rebuilt log: holds, release markers, expiry markers.
    pub holds_written: usize,
    pub releases_written: usize,
    pub expiries_written: usize,
    /// Holds that took a file over from another agent whose hold had expired
    /// (no marker in between).
    pub take_overs: usize,
    /// Holds that took a file after a release marker.
    pub after_release: usize,
    /// Holds that took a file after an expiry marker.
    pub after_expiry: usize,
    pub renewals: usize,
    /// Multi-file claims that succeeded, and how many of them were one atomic write.
    pub claims: usize,
    pub atomic_claims: usize,
    /// Holds of refused claims (announced one by one) that were rolled back.
    pub rollbacks: usize,
    /// Release markers of force-releases that removed a hold.
    pub forced_releases: usize,
    pub watch_events: usize,
    pub watches: usize,
    /// Checks a hidden write of an ambiguous call could explain.
    pub excused: usize,
    /// Holds written by announce calls that failed (seen only by subscribers).
    pub ghost_writes: usize,
    /// The longest a ghost write reached a subscriber after its call had
    /// returned the error.
    pub ghost_max_late: Duration,
    /// Ghost holds that had already expired when a subscriber received them.
    pub ghost_dead_on_arrival: usize,
    /// Ghost holds that replaced the same agent's acknowledged, still live hold
    /// with an earlier expiry: the agent's lease was cut short by a call it was
    /// told had failed.
    pub ghost_shortened: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn count(&self, rule: Rule) -> usize {
        self.violations.iter().filter(|v| v.rule == rule).count()
    }

    /// Take the violations of `rule` out of the report (a documented behaviour
    /// the caller reports instead of failing on), returning how many there were.
    pub fn set_aside(&mut self, rule: Rule) -> usize {
        let before = self.violations.len();
        self.violations.retain(|v| v.rule != rule);
        before - self.violations.len()
    }

    pub fn outcome(&self, key: &str) -> usize {
        self.outcomes.get(key).copied().unwrap_or(0)
    }

    /// Panic with the first violations if there are any.
    pub fn assert_clean(&self) {
        if !self.violations.is_empty() {
            let shown: Vec<String> = self
                .violations
                .iter()
                .take(20)
                .map(|v| format!("  {v}"))
                .collect();
            panic!(
                "{} violation(s):\n{}\n{self}",
                self.violations.len(),
                shown.join("\n")
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(f, "calls: {} ({})", self.calls, outcomes.join(", "))?;
        writeln!(
            f,
            "log: {} holds ({} renewals, {} take-overs of expired holds, {} after a release, \
             {} after an expiry marker), {} release markers, {} expiry markers",
            self.holds_written,
            self.renewals,
            self.take_overs,
            self.after_release,
            self.after_expiry,
            self.releases_written,
            self.expiries_written
        )?;
        writeln!(
            f,
            "claims: {} succeeded ({} atomic), {} holds of refused claims rolled back; {} force-releases",
            self.claims, self.atomic_claims, self.rollbacks, self.forced_releases
        )?;
        writeln!(
            f,
            "watch: {} events over {} subscriptions; excused by ambiguous calls: {}",
            self.watch_events, self.watches, self.excused
        )?;
        if self.ghost_writes > 0 {
            writeln!(
                f,
                "ghost writes (holds of failed announces): {}, latest {:?} after the error, {} already expired, \
                 {} cut the agent's acknowledged lease short",
                self.ghost_writes,
                self.ghost_max_late,
                self.ghost_dead_on_arrival,
                self.ghost_shortened
            )?;
        }
        let mut by_rule: BTreeMap<Rule, usize> = BTreeMap::new();
        for v in &self.violations {
            *by_rule.entry(v.rule).or_default() += 1;
        }
        write!(f, "violations: {} {:?}", self.violations.len(), by_rule)
    }
}
