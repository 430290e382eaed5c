//! Recording calls: each [`Manager`] call with the instants around it and its result.

use super::{Nanos, now_ns};
use holds::{Announce, Claim, Error, Manager, Release};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a call asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Announce {
        ttl: Duration,
    },
    /// One file's part of a multi-file claim (all or nothing): the claim is
    /// recorded as one call per file, with the same instants.
    Claim {
        ttl: Duration,
        /// Every file of the claim, sorted.
        files: Vec<String>,
        /// Whether it was one atomic write, when it succeeded.
        atomic: Option<bool>,
    },
    Release,
    /// A release of whoever's hold, by the operator named as the call's agent.
    ForceRelease,
    WhoHas,
}

impl Op {
    /// The call writes a hold (an announce, or a file of a claim).
    pub fn takes(&self) -> bool {
        matches!(self, Op::Announce { .. } | Op::Claim { .. })
    }

    /// The call writes a release marker.
    pub fn releases(&self) -> bool {
        matches!(self, Op::Release | Op::ForceRelease)
    }

    /// The kind of call, as the report counts outcomes (`claim/claimed`).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Announce { .. } => "announce",
            Op::Claim { .. } => "claim",
            Op::Release => "release",
            Op::ForceRelease => "force-release",
            Op::WhoHas => "who-has",
        }
    }

    /// The call for a violation's detail.
    pub fn name(&self) -> String {
        match self {
            Op::Announce { ttl } => format!("announce (ttl {ttl:?})"),
            Op::Claim { ttl, files, atomic } => format!(
                "claim of {} files (ttl {ttl:?}{})",
                files.len(),
                match atomic {
                    Some(true) => ", atomic",
                    Some(false) => ", announced one by one",
                    None => "",
                }
            ),
            other => other.kind().into(),
        }
    }
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Announce succeeded.
    Claimed(Claim),
    /// Announce refused: `HeldByAnother` with the holder.
    Refused(Claim),
    /// Release removed the hold; the marker's revision.
    Released(u64),
    /// Release found nothing of the caller's to release.
    NotHeld,
    /// A file of a refused claim that nobody else held: nothing of the claim
    /// stays held.
    NotClaimed,
    /// Who-has answered.
    Holder(Option<Claim>),
    /// Any other error.
    Failed(Error),
}

impl Outcome {
    /// A failure after which the call's write may or may not have landed.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Outcome::Failed(Error::Store(_) | Error::Guest(_)))
    }

    pub fn is_ok(&self) -> bool {
        !matches!(self, Outcome::Failed(_))
    }
}

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The agent making the call (for who-has: the asker, for the record).
    pub agent: String,
    /// The file, a clean absolute path (as claims and events name it).
    pub file: String,
    /// Which manager (process, connection) made the call.
    pub manager: usize,
    pub op: Op,
    /// Just before the call.
    pub start: Nanos,
    /// Just after it returned.
    pub end: Nanos,
    pub outcome: Outcome,
}

impl Call {
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.end - self.start).unwrap_or(0))
    }
}

/// Calls recorded by any number of tasks.
#[derive(Clone, Default)]
pub struct History {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    /// Every call so far, in the order they finished.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(
        &self,
        agent: &str,
        file: &str,
        manager: usize,
        op: Op,
        start: Nanos,
        outcome: Outcome,
    ) -> Call {
        let call = Call {
            agent: agent.to_string(),
            file: file.to_string(),
            manager,
            op,
            start,
            end: now_ns(),
            outcome,
        };
        self.push(call.clone());
        call
    }

    /// `m.announce(file, announce)`, recorded.
    pub async fn announce(
        &self,
        m: &Manager,
        manager: usize,
        file: &str,
        announce: &Announce,
    ) -> Call {
        let start = now_ns();
        let outcome = match m.announce(file, announce).await {
            Ok(claim) => Outcome::Claimed(claim),
            Err(Error::HeldByAnother(holder)) => Outcome::Refused(*holder),
            Err(e) => Outcome::Failed(e),
        };
        let op = Op::Announce { ttl: announce.ttl };
        self.record(&announce.agent_id, file, manager, op, start, outcome)
    }

    /// `m.claim(files, announce)`, recorded as one call per distinct file
    /// (sorted): each claimed, or, on a refusal, refused for its holder or not
    /// claimed.
    pub async fn claim(
        &self,
        m: &Manager,
        manager: usize,
        files: &[String],
        announce: &Announce,
    ) -> Vec<Call> {
        let mut sorted = files.to_vec();
        sorted.sort();
        sorted.dedup();
        let start = now_ns();
        let result = m.claim(&sorted, announce).await;
        let end = now_ns();
        let op = |atomic| Op::Claim {
            ttl: announce.ttl,
            files: sorted.clone(),
            atomic,
        };
        let outcomes: Vec<(String, Op, Outcome)> = match result {
            Ok(claimed) => claimed
                .claims
                .into_iter()
                .map(|c| {
                    (
                        c.file.clone(),
                        op(Some(claimed.atomic)),
                        Outcome::Claimed(c),
                    )
                })
                .collect(),
            Err(Error::HeldByOthers(holders)) => {
                let by_file: HashMap<String, Claim> =
                    holders.into_iter().map(|c| (c.file.clone(), c)).collect();
                sorted
                    .iter()
                    .map(|f| {
                        let outcome = match by_file.get(f) {
                            Some(holder) => Outcome::Refused(holder.clone()),
                            None => Outcome::NotClaimed,
                        };
                        (f.clone(), op(None), outcome)
                    })
                    .collect()
            }
            Err(e) => sorted
                .iter()
                .map(|f| (f.clone(), op(None), Outcome::Failed(e.clone())))
                .collect(),
        };
        let calls: Vec<Call> = outcomes
            .into_iter()
            .map(|(file, op, outcome)| Call {
                agent: announce.agent_id.clone(),
                file,
                manager,
                op,
                start,
                end,
                outcome,
            })
            .collect();
        for call in &calls {
            self.push(call.clone());
        }
        calls
    }

    /// `m.force_release(file, by)`, recorded with `by` as the call's agent.
    pub async fn force_release(&self, m: &Manager, manager: usize, file: &str, by: &str) -> Call {
        let start = now_ns();
        let outcome = release_outcome(m.force_release(file, by).await);
        self.record(by, file, manager, Op::ForceRelease, start, outcome)
    }

    /// `m.release(file, agent)`, recorded.
    pub async fn release(&self, m: &Manager, manager: usize, file: &str, agent: &str) -> Call {
        let start = now_ns();
        let outcome = release_outcome(m.release(file, agent).await);
        self.record(agent, file, manager, Op::Release, start, outcome)
    }

    /// `m.who_has(file)` asked by `asker`, recorded.
    pub async fn who_has(&self, m: &Manager, manager: usize, file: &str, asker: &str) -> Call {
        let start = now_ns();
        let outcome = match m.who_has(file).await {
            Ok(holder) => Outcome::Holder(holder),
            Err(e) => Outcome::Failed(e),
        };
        self.record(asker, file, manager, Op::WhoHas, start, outcome)
    }
}

/// A release's or force-release's result as an outcome.
fn release_outcome(result: Result<Release, Error>) -> Outcome {
    match result {
        Ok(Release::Released { revision }) => Outcome::Released(revision),
        Ok(Release::NotHeld) => Outcome::NotHeld,
        Err(e) => Outcome::Failed(e),
    }
}

/// The highest revision any call acknowledged.
pub fn max_acked_revision(calls: &[Call]) -> u64 {
    calls
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Claimed(claim) => Some(claim.revision),
            Outcome::Released(r) => Some(*r),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}
