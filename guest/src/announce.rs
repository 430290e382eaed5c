//! Announce: the compare-and-swap decision loop, and the judgement of holds
//! that can conflict across keys (see `judge.rs`).

use crate::cas::Cas;
use crate::codec;
use crate::extended::{self, Tenure};
use crate::host::{Host, store_error};
use crate::judge::{self, Held, Previous};
use crate::key::key_for_file;
use crate::model::{
    AnnounceRequest, Claim, Entry, Error, KeyedEntry, KvError, LostHold, Removal, Scope, Timestamp,
};
use crate::pattern::Coverage;
use crate::resend::Resending;
use crate::verdict::{self, Decision};

/// Place or renew a hold; see the WIT `announce`.
///
/// `observed` is the host's belief of the file's key's latest entry. It is
/// decided on without a read, but a refusal (or a corrupt value) seen only there
/// is confirmed by a fresh read first, so a stale replica never refuses a free
/// file.
pub async fn announce<H: Host>(
    host: &mut H,
    request: &AnnounceRequest,
    ttl_max: u64,
    observed: Option<Entry>,
) -> Result<Claim, Error> {
    let host = &mut Resending(host);
    verdict::check_agent(&request.agent_id)?;
    verdict::check_ttl(request.ttl, ttl_max)?;
    let coverage = Coverage::parse(&request.file)?;
    if let (Some(file), true) = (coverage.file(), extended::is_plain(&coverage, request.mode)) {
        announce_file(host, request, file, observed).await
    } else {
        // The host's hint is for the file's key, not this hold's.
        announce_extended(host, request, coverage, None).await
    }
}

/// An exclusive hold on one file, at Go's key with Go's bytes; judged against
/// the shared and pattern holds.
async fn announce_file<H: Host>(
    host: &mut H,
    request: &AnnounceRequest,
    file: &str,
    observed: Option<Entry>,
) -> Result<Claim, Error> {
    let key = key_for_file(file)?;
    let file = file.to_string();
    let ttl_seconds = verdict::ttl_seconds(request.ttl);
    let mut cas = Cas::start(host, &key, observed).await?;
    loop {
        let now = host.now();
        let entry = cas.entry();
        let decision = verdict::hold_of(&key, &file, entry)
            .map(|current| verdict::decide_announce(current, &request.agent_id, now, entry));
        let (expected, previous) = match decision {
            Ok(Decision::Write { expected }) => {
                (expected, own_previous(&key, entry, &request.agent_id, now))
            }
            Ok(Decision::Refuse(_)) | Err(Error::CorruptEntry(_)) if !cas.fresh() => {
                cas.reread(host).await?;
                continue;
            }
            Ok(Decision::Refuse(holder)) => return Err(Error::HeldByAnother(holder)),
            Err(e) => return Err(e),
        };
        let hold = verdict::new_hold(&request.agent_id, &request.checkout_path, request.ttl, now);
        let mut me = Held {
            claim: Claim {
                file: file.clone(),
                scope: Scope::File,
                hold,
                revision: u64::MAX,
            },
            coverage: Coverage::File(file.clone()),
            tenure: None,
        };
        refuse_if_in_the_way(host, &me, previous).await?;
        match host
            .write_if_revision(&key, codec::encode(&me.claim.hold), expected, ttl_seconds)
            .await
        {
            Ok(revision) => {
                me.claim.revision = revision;
                return stand_or_withdraw(host, &key, me, previous).await;
            }
            Err(KvError::WrongRevision) => cas.lost(host).await?,
            Err(e) => return Err(store_error(e)),
        }
    }
}

/// A shared hold, or a hold on a directory or glob, at a key of its own.
///
/// `renewing` is a lease's revision: then only the agent's own live hold is
/// written over, and anything else is `lost`.
pub(crate) async fn announce_extended<H: Host>(
    host: &mut H,
    request: &AnnounceRequest,
    coverage: Coverage,
    renewing: Option<u64>,
) -> Result<Claim, Error> {
    let key = extended::key_for(&coverage, &request.agent_id)?;
    let ttl_seconds = verdict::ttl_seconds(request.ttl);
    let mut cas = Cas::start(host, &key, None).await?;
    loop {
        let now = host.now();
        let entry = cas.entry();
        // The key is the agent's own: whatever is there is its own earlier hold
        // (or a corrupt value, which it may overwrite).
        let own = judge::held_at(&key, entry).filter(|h| h.claim.hold.agent_id == request.agent_id);
        let continued = own.filter(|h| {
            h.claim.hold.mode == request.mode && !verdict::is_expired(&h.claim.hold, now)
        });
        let previous = continued.as_ref().map(|h| Previous {
            revision: h.claim.revision,
            expires_at: h.claim.hold.expires_at,
            judged: renewing == Some(h.claim.revision),
        });
        if let Some(revision) = renewing
            && continued.is_none()
        {
            let holder = judge::held_at(&key, entry)
                .filter(|h| !verdict::is_expired(&h.claim.hold, now))
                .map(|h| h.claim);
            return Err(Error::Lost(Box::new(LostHold {
                file: coverage.text().to_string(),
                revision,
                holder,
            })));
        }
        let kept = continued.and_then(|h| h.tenure);
        let mut hold =
            verdict::new_hold(&request.agent_id, &request.checkout_path, request.ttl, now);
        hold.mode = request.mode;
        let mut me = Held {
            claim: Claim {
                file: coverage.text().to_string(),
                scope: coverage.scope(),
                hold,
                revision: u64::MAX,
            },
            coverage: coverage.clone(),
            tenure: Some(kept.unwrap_or(Tenure {
                revision: u64::MAX,
                since: now,
            })),
        };
        refuse_if_in_the_way(host, &me, previous).await?;
        let value = extended::encode(&me.claim.hold, &coverage.text(), kept);
        match host
            .write_if_revision(&key, value, entry.revision, ttl_seconds)
            .await
        {
            Ok(revision) => {
                me.claim.revision = revision;
                if kept.is_none() {
                    me.tenure = Some(Tenure {
                        revision,
                        since: now,
                    });
                }
                return stand_or_withdraw(host, &key, me, previous).await;
            }
            Err(KvError::WrongRevision) => cas.lost(host).await?,
            Err(e) => return Err(store_error(e)),
        }
    }
}

/// The version a renewal replaces: the agent's own hold, live now.
pub(crate) fn own_previous(
    key: &str,
    entry: &Entry,
    agent: &str,
    now: Timestamp,
) -> Option<Previous> {
    judge::held_at(key, entry)
        .filter(|h| h.claim.hold.agent_id == agent && !verdict::is_expired(&h.claim.hold, now))
        .map(|h| Previous {
            revision: h.claim.revision,
            expires_at: h.claim.hold.expires_at,
            judged: false,
        })
}

/// Every key that may hold something conflicting with `me`, through
/// `through`: the shared and pattern holds, and for a shared or pattern hold
/// the file holds under its literal prefix (an exclusive file hold meets other
/// file holds at its own key only).
async fn scan_around<H: Host>(
    host: &mut H,
    me: &Held,
    through: u64,
) -> Result<Vec<KeyedEntry>, KvError> {
    let coverage = &me.coverage;
    let mut found = host.scan(extended::PREFIX, through).await?;
    if !extended::is_plain(coverage, me.claim.hold.mode) {
        let files = crate::key::key_prefix_for(&coverage.literal_prefix());
        found.extend(host.scan(&files, through).await?);
    }
    Ok(found)
}

/// Refuse, writing nothing, when a hold in the host's view is in `me`'s way
/// (confirmed on the store's current state, so a stale view never refuses).
pub(crate) async fn refuse_if_in_the_way<H: Host>(
    host: &mut H,
    me: &Held,
    previous: Option<Previous>,
) -> Result<(), Error> {
    let scanned = scan_around(host, me, 0).await.map_err(store_error)?;
    if judge::winners_among(me, previous, scanned).is_empty() {
        return Ok(());
    }
    let scanned = scan_around(host, me, u64::MAX).await.map_err(store_error)?;
    let winners = judge::winners_among(me, previous, scanned);
    if winners.is_empty() {
        Ok(())
    } else {
        Err(Error::HeldByOthers(winners))
    }
}

/// Judge `me`, just written, against every hold the bucket had before it;
/// withdraw it (a release marker, gated on its revision) when one wins.
pub(crate) async fn stand_or_withdraw<H: Host>(
    host: &mut H,
    key: &str,
    me: Held,
    previous: Option<Previous>,
) -> Result<Claim, Error> {
    let before = me.claim.revision.saturating_sub(1);
    let refusal = match scan_around(host, &me, before).await {
        Ok(scanned) => {
            let winners = judge::winners_among(&me, previous, scanned);
            if winners.is_empty() {
                return Ok(me.claim);
            }
            Error::HeldByOthers(winners)
        }
        // Unjudged, the hold may not stand: withdrawn, and the store's failure
        // is the answer.
        Err(e) => store_error(e),
    };
    let note = codec::encode_release_note(&me.claim, None);
    match host
        .delete_if_revision(key, me.claim.revision, Removal::Released, note)
        .await
    {
        // Gone already (released or taken over meanwhile): nothing to withdraw.
        Ok(_) | Err(KvError::WrongRevision) => Err(refusal),
        Err(e) => Err(store_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Operation;
    use crate::testing::{Call, MemoryHost, request, shared};
    use futures::FutureExt;
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    #[test]
    fn vacant_file_is_created_at_revision_zero() {
        let mut host = MemoryHost::new(1_000);
        let claim = block_on(announce(
            &mut host,
            &request("/f", "a", 30 * S),
            60 * S,
            None,
        ))
        .unwrap();
        assert_eq!(claim.revision, 1);
        assert_eq!(claim.hold.claimed_at, 1_000);
        assert_eq!(claim.hold.expires_at, 1_000 + 30 * S as i64);
        assert_eq!(
            host.calls[2],
            Call::Write {
                key: "=2Ff".into(),
                expected: 0,
                ttl_seconds: 30
            }
        );
    }

    #[test]
    fn released_key_is_written_at_its_marker_revision_in_one_write() {
        let mut host = MemoryHost::new(1_000);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        host.delete("=2Ff");
        host.calls.clear();
        let claim = block_on(announce(&mut host, &request("/f", "b", S), 60 * S, None)).unwrap();
        assert_eq!(claim.revision, 3);
        assert_eq!(host.writes(), 1);
    }

    #[test]
    fn held_by_another_is_refused() {
        let mut host = MemoryHost::new(1_000);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let err = block_on(announce(&mut host, &request("/f", "b", S), 60 * S, None)).unwrap_err();
        match err {
            Error::HeldByAnother(c) => assert_eq!(c.hold.agent_id, "a"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stale_hint_never_refuses_a_free_file() {
        let mut host = MemoryHost::new(1_000);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let stale = host.entry("=2Ff");
        host.delete("=2Ff");
        host.calls.clear();
        let claim = block_on(announce(
            &mut host,
            &request("/f", "b", S),
            60 * S,
            Some(stale),
        ))
        .unwrap();
        assert_eq!(claim.hold.agent_id, "b");
        assert_eq!(
            host.gets(),
            1,
            "the refusal was confirmed by one fresh read"
        );
    }

    #[test]
    fn a_current_hint_costs_one_write_and_no_read() {
        let mut host = MemoryHost::new(1_000);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        host.delete("=2Ff");
        let hint = host.entry("=2Ff");
        assert_eq!(hint.operation, Operation::Delete);
        host.calls.clear();
        block_on(announce(
            &mut host,
            &request("/f", "a", S),
            60 * S,
            Some(hint),
        ))
        .unwrap();
        assert_eq!((host.gets(), host.writes()), (0, 1));
    }

    #[test]
    fn cas_exhaustion_after_eight_attempts_with_seven_retries() {
        let mut host = MemoryHost::new(1_000);
        host.conflicts = u32::MAX;
        let err = block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap_err();
        assert_eq!(err, Error::CasExhausted(8));
        assert_eq!(host.writes(), 8);
        assert_eq!(host.retries, vec![2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_stale_hint_that_loses_the_write_is_a_re_read_not_a_retry() {
        let mut host = MemoryHost::new(1_000);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let stale = host.entry("=2Ff");
        // Renewed behind the hint's back: the hint's revision is gone.
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        host.calls.clear();
        // Seven real lost races after the stale hint still leave the eighth attempt.
        host.conflicts = 1 + 7;
        let claim = block_on(announce(
            &mut host,
            &request("/f", "a", S),
            60 * S,
            Some(stale),
        ))
        .unwrap();
        assert_eq!(claim.hold.agent_id, "a");
        assert_eq!(
            host.retries,
            vec![2, 3, 4, 5, 6, 7, 8],
            "the stale hint fired no retry"
        );
        assert_eq!(host.writes(), 9);
    }

    #[test]
    fn preconditions_are_errors() {
        let mut host = MemoryHost::new(0);
        for (req, field) in [
            (request("/f", "", S), "agent-id"),
            (request("/f", "  ", S), "agent-id"),
            (request("/f", "a", 0), "ttl"),
            (request("/f", "a", 61 * S), "ttl"),
            (request("", "a", S), "file"),
            (request("rel/f", "a", S), "file"),
        ] {
            match block_on(announce(&mut host, &req, 60 * S, None)) {
                Err(Error::InvalidInput(i)) => assert_eq!(i.field, field),
                other => panic!("{req:?}: {other:?}"),
            }
        }
        assert!(host.calls.is_empty(), "bad input touches nothing");
    }

    fn refused_by(result: Result<Claim, Error>) -> Vec<(String, String)> {
        match result {
            Err(Error::HeldByOthers(holders)) => holders
                .into_iter()
                .map(|c| (c.file, c.hold.agent_id))
                .collect(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_directory_hold_and_a_file_beneath_it_exclude_each_other_but_not_a_sibling() {
        let mut host = MemoryHost::new(1_000);
        let dir = block_on(announce(
            &mut host,
            &request("/r/src/auth/", "a", S),
            60 * S,
            None,
        ))
        .unwrap();
        assert_eq!(dir.file, "/r/src/auth/");
        let writes = host.writes();
        let refused = refused_by(block_on(announce(
            &mut host,
            &request("/r/src/auth/login.rs", "b", S),
            60 * S,
            None,
        )));
        assert_eq!(refused, [("/r/src/auth/".to_string(), "a".to_string())]);
        assert_eq!(host.writes(), writes, "a refusal writes nothing");
        block_on(announce(
            &mut host,
            &request("/r/src/authz.rs", "b", S),
            60 * S,
            None,
        ))
        .unwrap();
        block_on(announce(
            &mut host,
            &request("/r/src/auth/login.rs", "a", S),
            60 * S,
            None,
        ))
        .unwrap();
        let refused = refused_by(block_on(announce(
            &mut host,
            &request("/r/src/", "b", S),
            60 * S,
            None,
        )));
        assert_eq!(
            refused.len(),
            2,
            "every holder in the way is named: {refused:?}"
        );
    }

    #[test]
    fn shared_holds_coexist_and_exclude_an_exclusive_one() {
        let mut host = MemoryHost::new(1_000);
        block_on(announce(
            &mut host,
            &shared("/r/a.rs", "a", S),
            60 * S,
            None,
        ))
        .unwrap();
        block_on(announce(
            &mut host,
            &shared("/r/a.rs", "b", S),
            60 * S,
            None,
        ))
        .unwrap();
        block_on(announce(&mut host, &shared("/r/", "c", S), 60 * S, None)).unwrap();
        let refused = refused_by(block_on(announce(
            &mut host,
            &request("/r/a.rs", "d", S),
            60 * S,
            None,
        )));
        assert_eq!(refused.len(), 3);
        let refused = refused_by(block_on(announce(
            &mut host,
            &request("/r/**/*.rs", "d", S),
            60 * S,
            None,
        )));
        assert_eq!(refused.len(), 3);
        let refused = refused_by(block_on(announce(
            &mut host,
            &request("/r/**/*.md", "d", S),
            60 * S,
            None,
        )));
        assert_eq!(
            refused,
            [("/r/".to_string(), "c".to_string())],
            "only the directory covers it"
        );
        block_on(announce(
            &mut host,
            &request("/s/**/*.md", "d", S),
            60 * S,
            None,
        ))
        .unwrap();
    }

    /// `asked` by `agent`, while `other` by `rival` lands just before its write
    /// (at the first written key `lands_before` accepts).
    fn raced(
        host: &mut MemoryHost,
        (asked, agent): (&str, &str),
        (other, rival): (&'static str, &'static str),
        lands_before: fn(&str) -> bool,
    ) -> Result<Claim, Error> {
        host.on_write = Some(Box::new(move |host, key| {
            if lands_before(key) {
                host.on_write = None;
                let req = request(other, rival, S);
                announce(host, &req, 60 * S, None)
                    .now_or_never()
                    .unwrap()
                    .unwrap();
            }
        }));
        block_on(announce(host, &request(asked, agent, S), 60 * S, None))
    }

    #[test]
    fn a_file_hold_racing_a_directory_hold_is_withdrawn() {
        let mut host = MemoryHost::new(1_000);
        // The directory hold lands just before the file hold's write.
        let refused = refused_by(raced(
            &mut host,
            ("/r/src/a.rs", "b"),
            ("/r/src/", "a"),
            |key| key == "=2Fr=2Fsrc=2Fa.rs",
        ));
        assert_eq!(refused, [("/r/src/".to_string(), "a".to_string())]);
        let left = host.entry("=2Fr=2Fsrc=2Fa.rs");
        assert_eq!(
            left.operation,
            Operation::Delete,
            "withdrawn: a release marker"
        );
        assert!(
            block_on(crate::covering::covering(&mut host, "/r/src/a.rs"))
                .unwrap()
                .iter()
                .all(|c| c.hold.agent_id == "a")
        );
    }

    #[test]
    fn a_pattern_racing_a_file_hold_written_first_is_withdrawn() {
        let mut host = MemoryHost::new(1_000);
        let refused = refused_by(raced(
            &mut host,
            ("/r/src/", "a"),
            ("/r/src/a.rs", "b"),
            |key| key.starts_with("_hx."),
        ));
        assert_eq!(refused, [("/r/src/a.rs".to_string(), "b".to_string())]);
        let covering = block_on(crate::covering::covering(&mut host, "/r/src/a.rs")).unwrap();
        assert_eq!(covering.len(), 1, "only the file hold stands");
    }

    #[test]
    fn a_shared_hold_or_pattern_over_another_agents_exclusive_file_is_refused() {
        for (asked, shared) in [
            ("/r/src/a.rs", true),
            ("/r/src/", true),
            ("/r/src/", false),
            ("/r/**/*.rs", false),
        ] {
            let mut host = MemoryHost::new(0);
            block_on(announce(
                &mut host,
                &request("/r/src/a.rs", "b", S),
                60 * S,
                None,
            ))
            .unwrap();
            let ask = if shared {
                crate::testing::shared(asked, "a", S)
            } else {
                request(asked, "a", S)
            };
            match block_on(announce(&mut host, &ask, 60 * S, None)) {
                Err(Error::HeldByOthers(holders)) => {
                    assert_eq!(holders.len(), 1, "{asked}");
                    assert_eq!(holders[0].hold.agent_id, "b", "{asked}");
                }
                other => panic!("{asked} (shared: {shared}) over b's file: {other:?}"),
            }
        }
    }

    #[test]
    fn a_pattern_renewal_keeps_its_tenure_and_the_same_agent_never_conflicts() {
        let mut host = MemoryHost::new(1_000);
        let first = block_on(announce(
            &mut host,
            &request("/r/src/", "a", S),
            60 * S,
            None,
        ))
        .unwrap();
        block_on(announce(
            &mut host,
            &request("/r/src/a.rs", "a", S),
            60 * S,
            None,
        ))
        .unwrap();
        host.now += 1_000;
        let renewed = block_on(announce(
            &mut host,
            &request("/r/src/", "a", S),
            60 * S,
            None,
        ))
        .unwrap();
        assert!(renewed.revision > first.revision);
        let key = crate::extended::key_for(&Coverage::parse("/r/src/").unwrap(), "a").unwrap();
        let (_, _, tenure) =
            crate::extended::decode_at(&host.entry(&key).value, renewed.revision).unwrap();
        assert_eq!(tenure.revision, first.revision);
    }
}
