//! Which of two conflicting holds stands, when neither saw the other before it
//! was written.
//!
//! Keys are flat, so a pattern hold and the file holds it covers share no key
//! that a compare-and-swap could guard. Every hold that can conflict with
//! another key's hold (any shared or pattern hold, and an exclusive file hold
//! against those) is therefore written first and judged after: its writer
//! reads every conflicting hold the bucket had up to its own revision (`scan`)
//! and withdraws its hold unless it *precedes* each of them. The rule:
//!
//! - Liveness is read from the values, never a clock: a hold is in the way of
//!   a version `v` when it does not expire before `v.claimed_at`.
//! - Two shared or pattern holds (tenures known): the older tenure precedes,
//!   provided its holder was live when the younger one's tenure began — its
//!   version then was either this one (written before) or its previous one
//!   (written before, not expired at the younger tenure's `since`).
//! - A shared or pattern hold never precedes an exclusive file hold (whose Go
//!   value has no tenure): it yields to any in its way.
//! - An exclusive file hold precedes a shared or pattern hold whose tenure
//!   began after it was written, or whose tenure began after its previous
//!   version, live at that tenure's `since`, or before its previous version
//!   when that version was judged (a lease's own: its judgement saw that
//!   tenure and found the chain live at its start, or the other expired).
//!
//! Why no two conflicting holds are both kept: say A's tenure began before B's.
//! B's first judgement read every revision up to B's, so it saw A's version
//! current then. If that version was live at B's `since`, B yields to it (A is
//! a file hold, or A's tenure is older), unless B precedes A, which needs B's
//! tenure older: it is not. If it was not live, no version of A is live from
//! B's `since` on unless A renews after B began: that renewal's previous
//! version is the one B saw, not live at B's `since`, so A does not precede B
//! and yields. A hold whose writer stopped before judging it (a crash) is judged
//! again by the next renewal, which also yields to anything in the way of its
//! tenure's start. Two holds that judge each other in the way may both yield:
//! the price of never keeping both.

use crate::codec;
use crate::extended::{self, Tenure};
use crate::key::file_for_key;
use crate::model::{Claim, Entry, KeyedEntry, Mode, Scope, Timestamp};
use crate::pattern::Coverage;

/// A hold as the judgement reads it.
#[derive(Clone, Debug)]
pub struct Held {
    pub claim: Claim,
    pub coverage: Coverage,
    /// `None` for an exclusive file hold (Go's value has no tenure).
    pub tenure: Option<Tenure>,
}

/// The version of its own hold a new version replaced (a renewal's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Previous {
    pub revision: u64,
    pub expires_at: Timestamp,
    /// It was judged and stood: a lease's own revision, which it got from a
    /// call that returned it (a hold re-announced may be one whose writer
    /// stopped before judging it).
    pub judged: bool,
}

/// The holds among scanned entries whose keys name something one of `near`
/// overlaps; the others' values are never decoded.
pub fn held_near(entries: Vec<KeyedEntry>, near: &[Coverage]) -> Vec<Held> {
    entries
        .into_iter()
        .filter(|e| named(&e.key).is_some_and(|c| near.iter().any(|n| c.overlaps(n))))
        .filter_map(|KeyedEntry { key, entry }| held_at(&key, &entry))
        .collect()
}

/// How many holds in its way a refused or withdrawn hold names at most: the
/// first found decide it, and judging thousands would outrun the call's budget.
pub const NAMED: usize = 16;

/// [`winners_over`] among scanned entries: only the values of keys naming
/// something `me` overlaps are decoded (a bucket may hold thousands of holds,
/// few of them near `me`), and the search ends at [`NAMED`] winners.
pub fn winners_among(
    me: &Held,
    previous: Option<Previous>,
    entries: Vec<KeyedEntry>,
) -> Vec<Claim> {
    let mut winners = Vec::new();
    for KeyedEntry { key, entry } in entries {
        if !named(&key).is_some_and(|c| c.overlaps(&me.coverage)) {
            continue;
        }
        let Some(other) = held_at(&key, &entry) else {
            continue;
        };
        if conflict(me, &other) && in_the_way(me, &other) && !precedes(me, previous, &other) {
            winners.push(other.claim);
            if winners.len() == NAMED {
                break;
            }
        }
    }
    sort_winners(&mut winners);
    winners
}

fn sort_winners(winners: &mut [Claim]) {
    // Named in file order (then oldest first), as a claim's refusal names them.
    winners.sort_by(|a, b| a.file.cmp(&b.file).then(a.revision.cmp(&b.revision)));
}

/// What a hold's key names.
fn named(key: &str) -> Option<Coverage> {
    if extended::is_extended(key) {
        extended::coverage_for_key(key)
    } else {
        file_for_key(key).ok().map(Coverage::File)
    }
}

/// The hold a key's entry is, if it is one.
pub fn held_at(key: &str, entry: &Entry) -> Option<Held> {
    if !entry.is_value() {
        return None;
    }
    if extended::is_extended(key) {
        let (claim, coverage, tenure) = extended::decode_at(&entry.value, entry.revision).ok()?;
        return Some(Held {
            claim,
            coverage,
            tenure: Some(tenure),
        });
    }
    let file = file_for_key(key).ok()?;
    let hold = codec::decode(&entry.value).ok()?;
    Some(Held {
        claim: Claim {
            file: file.clone(),
            scope: Scope::File,
            hold,
            revision: entry.revision,
        },
        coverage: Coverage::File(file),
        tenure: None,
    })
}

/// Whether two holds conflict: different agents', not both shared, and some
/// path could be covered by both.
pub fn conflict(a: &Held, b: &Held) -> bool {
    a.claim.hold.agent_id != b.claim.hold.agent_id
        && !(a.claim.hold.mode == Mode::Shared && b.claim.hold.mode == Mode::Shared)
        && a.coverage.overlaps(&b.coverage)
}

/// Whether `other` stands in the way of `me`: live at my `claimed_at`, or, for
/// a renewal of an older tenure, live at its start and written before it.
fn in_the_way(me: &Held, other: &Held) -> bool {
    if other.claim.hold.expires_at >= me.claim.hold.claimed_at {
        return true;
    }
    match me.tenure {
        Some(t) if t.revision < me.claim.revision => {
            other.claim.revision < t.revision && other.claim.hold.expires_at >= t.since
        }
        _ => false,
    }
}

/// Whether `me` (with the version it replaced, for a renewal) precedes `other`.
fn precedes(me: &Held, previous: Option<Previous>, other: &Held) -> bool {
    let Some(theirs) = other.tenure else {
        return false;
    };
    // My version current when their tenure began was live then: written
    // before and not expired at their start, or a judged version written after
    // it, whose own judgement saw their tenure and found it so (or found them
    // expired: then their later versions yield to mine).
    let live_at_their_start = me.claim.revision < theirs.revision
        || previous.is_some_and(|p| {
            (p.revision < theirs.revision && p.expires_at >= theirs.since)
                || (p.judged && p.revision > theirs.revision)
        });
    match me.tenure {
        Some(mine) => mine.revision < theirs.revision && live_at_their_start,
        None => live_at_their_start,
    }
}

/// The holds among `others` that `me` must yield to (empty: `me` stands).
/// `me.claim.revision` is `u64::MAX` when judging before writing.
pub fn winners_over(me: &Held, previous: Option<Previous>, others: &[Held]) -> Vec<Claim> {
    let mut winners: Vec<Claim> = others
        .iter()
        .filter(|o| conflict(me, o) && in_the_way(me, o) && !precedes(me, previous, o))
        .map(|o| o.claim.clone())
        .collect();
    sort_winners(&mut winners);
    winners
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Hold;

    fn held(
        text: &str,
        agent: &str,
        mode: Mode,
        revision: u64,
        at: i64,
        tenure: Option<(u64, i64)>,
    ) -> Held {
        let coverage = Coverage::parse(text).unwrap();
        Held {
            claim: Claim {
                file: coverage.text(),
                scope: coverage.scope(),
                hold: Hold {
                    agent_id: agent.into(),
                    claimed_at: at,
                    expires_at: at + 100,
                    mode,
                    ..Hold::default()
                },
                revision,
            },
            coverage,
            tenure: tenure.map(|(revision, since)| Tenure { revision, since }),
        }
    }

    use Mode::{Exclusive as X, Shared as S};

    #[test]
    fn the_older_pattern_stands_and_the_younger_yields() {
        let a = held("/r/src/", "a", X, 5, 10, Some((5, 10)));
        let b = held("/r/src/x.rs", "b", S, 8, 12, Some((8, 12)));
        assert!(winners_over(&a, None, std::slice::from_ref(&b)).is_empty());
        assert_eq!(winners_over(&b, None, std::slice::from_ref(&a)).len(), 1);
    }

    #[test]
    fn shared_holds_coexist_and_the_same_agent_never_conflicts() {
        let a = held("/r/src/", "a", S, 5, 10, Some((5, 10)));
        let b = held("/r/src/", "b", S, 8, 12, Some((8, 12)));
        assert!(winners_over(&b, None, std::slice::from_ref(&a)).is_empty());
        let mine = held("/r/src/x.rs", "a", X, 9, 12, None);
        assert!(winners_over(&mine, None, std::slice::from_ref(&a)).is_empty());
    }

    #[test]
    fn a_pattern_yields_to_any_file_hold_in_its_way() {
        let file = held("/r/src/x.rs", "f", X, 9, 12, None);
        let dir = held("/r/src/", "d", X, 5, 10, Some((5, 10)));
        assert_eq!(
            winners_over(&dir, None, std::slice::from_ref(&file)).len(),
            1
        );
        // The file hold, written after the pattern's tenure began, yields too
        // (it cannot know the pattern saw it): both yield, never both stand.
        assert_eq!(
            winners_over(&file, None, std::slice::from_ref(&dir)).len(),
            1
        );
        // A file hold written before the pattern's tenure stands.
        let older = held("/r/src/x.rs", "f", X, 3, 9, None);
        assert!(winners_over(&older, None, std::slice::from_ref(&dir)).is_empty());
    }

    #[test]
    fn a_renewal_stands_over_a_pattern_that_arrived_while_it_was_live() {
        let dir = held("/r/src/", "d", X, 6, 10, Some((6, 10)));
        let renewal = held("/r/src/x.rs", "f", X, 9, 50, None);
        let previous = Previous {
            revision: 3,
            expires_at: 100,
            judged: false,
        };
        assert!(winners_over(&renewal, Some(previous), std::slice::from_ref(&dir)).is_empty());
        let lapsed = Previous {
            revision: 3,
            expires_at: 9,
            judged: false,
        };
        assert_eq!(
            winners_over(&renewal, Some(lapsed), std::slice::from_ref(&dir)).len(),
            1
        );
    }

    #[test]
    fn a_leases_later_renewal_stands_over_a_younger_hold_still_in_view() {
        // The pattern arrived at 6 and yields to the file (its writer has not
        // withdrawn it yet); the lease renewed at 9, judged, and renews again at 12.
        let dir = held("/r/src/", "d", X, 6, 10, Some((6, 10)));
        let renewal = held("/r/src/x.rs", "f", X, 12, 50, None);
        let judged = Previous {
            revision: 9,
            expires_at: 100,
            judged: true,
        };
        assert!(winners_over(&renewal, Some(judged), std::slice::from_ref(&dir)).is_empty());
        // A version nobody saw judged (its writer may have stopped first) proves nothing.
        let unjudged = Previous {
            judged: false,
            ..judged
        };
        assert_eq!(
            winners_over(&renewal, Some(unjudged), std::slice::from_ref(&dir)).len(),
            1
        );
        // The same for a pattern of an older tenure.
        let older = held("/r/", "p", X, 12, 50, Some((2, 1)));
        assert!(winners_over(&older, Some(judged), std::slice::from_ref(&dir)).is_empty());
        assert_eq!(
            winners_over(&older, Some(unjudged), std::slice::from_ref(&dir)).len(),
            1
        );
    }

    #[test]
    fn a_hold_expired_before_my_claim_is_not_in_the_way() {
        let old = held("/r/src/", "a", X, 2, 0, Some((2, 0)));
        let late = held("/r/src/x.rs", "b", X, 9, 500, None);
        assert!(winners_over(&late, None, std::slice::from_ref(&old)).is_empty());
    }

    /// Exhaustively, over small histories of two conflicting holds, never
    /// both stand at once: A (a file hold or a pattern) written at revision 2
    /// and renewed at 4, B (a pattern) first written at 1, 3 or 5; claim times
    /// free of the revision order (a write may land long after it was decided)
    /// except that A's renewal is decided after A's first version.
    #[test]
    fn no_two_conflicting_versions_both_stand() {
        let times = [0i64, 10, 20, 30, 40];
        for a_is_file in [true, false] {
            for b_rev in [1u64, 3, 5] {
                for a1_t in times {
                    for a2_t in times.into_iter().filter(|t| *t >= a1_t) {
                        for b_t in times {
                            for a_life in [5i64, 25, 100] {
                                for b_life in [5i64, 25, 100] {
                                    check_pair(
                                        a_is_file,
                                        b_rev,
                                        (a1_t, a2_t, b_t),
                                        (a_life, b_life),
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn check_pair(
        a_is_file: bool,
        b_rev: u64,
        (a1_t, a2_t, b_t): (i64, i64, i64),
        (a_life, b_life): (i64, i64),
    ) {
        let version =
            |text: &str, agent: &str, rev: u64, at: i64, life: i64, tenure: Option<(u64, i64)>| {
                let mut h = held(text, agent, X, rev, at, tenure);
                h.claim.hold.expires_at = at + life;
                h
            };
        let a_text = if a_is_file { "/r/src/x.rs" } else { "/r/src/x" };
        let v1 = version(
            a_text,
            "a",
            2,
            a1_t,
            a_life,
            (!a_is_file).then_some((2, a1_t)),
        );
        // A renewal continues its tenure only if the version it replaces was
        // live when it was decided; else it is a new hold over an expired one.
        let continued = v1.claim.hold.expires_at >= a2_t;
        let v2_tenure = match (a_is_file, continued) {
            (true, _) => None,
            (false, true) => Some((2, a1_t)),
            (false, false) => Some((4, a2_t)),
        };
        let v2 = version(a_text, "a", 4, a2_t, a_life, v2_tenure);
        let previous = continued.then_some(Previous {
            revision: 2,
            expires_at: v1.claim.hold.expires_at,
            judged: false,
        });
        let b = version("/r/src/", "b", b_rev, b_t, b_life, Some((b_rev, b_t)));
        // Each version is judged against the other's latest version before it.
        let b_stands = match b_rev {
            1 => true,
            3 => winners_over(&b, None, std::slice::from_ref(&v1)).is_empty(),
            _ => winners_over(&b, None, std::slice::from_ref(&v2)).is_empty(),
        };
        let v1_stands = b_rev > 2 || winners_over(&v1, None, std::slice::from_ref(&b)).is_empty();
        // A renewal needs the version it replaces still there (not withdrawn).
        let v2_stands = (v1_stands || !continued)
            && (b_rev > 4 || winners_over(&v2, previous, std::slice::from_ref(&b)).is_empty());
        let overlap = |v: &Held| {
            v.claim.hold.claimed_at <= b.claim.hold.expires_at
                && b.claim.hold.claimed_at <= v.claim.hold.expires_at
        };
        let case = format!(
            "file={a_is_file} b_rev={b_rev} times=({a1_t},{a2_t},{b_t}) lives=({a_life},{b_life})"
        );
        if b_stands {
            assert!(
                !(v1_stands && overlap(&v1)),
                "A's first version and B both stand: {case}"
            );
            assert!(
                !(v2_stands && overlap(&v2)),
                "A's renewal and B both stand: {case}"
            );
        }
    }
}
