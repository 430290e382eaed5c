//! Announce: the compare-and-swap decision loop.

use crate::cas::Cas;
use crate::codec;
use crate::host::{Host, store_error};
use crate::key::key_for_file;
use crate::model::{AnnounceRequest, Claim, Entry, Error, KvError};
use crate::resend::Resending;
use crate::verdict::{self, Decision};

/// Place or renew a hold; see the WIT `announce`.
///
/// `observed` is the host's belief of the key's latest entry. It is decided on
/// without a read, but a refusal (or a corrupt value) seen only there is confirmed
/// by a fresh read first, so a stale replica never refuses a free file.
pub async fn announce<H: Host>(
    host: &mut H,
    request: &AnnounceRequest,
    ttl_max: u64,
    observed: Option<Entry>,
) -> Result<Claim, Error> {
    let host = &mut Resending(host);
    verdict::check_agent(&request.agent_id)?;
    verdict::check_ttl(request.ttl, ttl_max)?;
    let key = key_for_file(&request.file)?;
    let file = crate::path::clean_absolute(&request.file)?;
    let ttl_seconds = verdict::ttl_seconds(request.ttl);

    let mut cas = Cas::start(host, &key, observed).await?;
    loop {
        let now = host.now();
        let entry = cas.entry();
        let decision = verdict::hold_of(&key, &file, entry)
            .map(|current| verdict::decide_announce(current, &request.agent_id, now, entry));
        let expected = match decision {
            Ok(Decision::Write { expected }) => expected,
            Ok(Decision::Refuse(_)) | Err(Error::CorruptEntry(_)) if !cas.fresh() => {
                cas.reread(host).await?;
                continue;
            }
            Ok(Decision::Refuse(holder)) => return Err(Error::HeldByAnother(holder)),
            Err(e) => return Err(e),
        };
        let hold = verdict::new_hold(&request.agent_id, &request.checkout_path, request.ttl, now);
        match host
            .write_if_revision(&key, codec::encode(&hold), expected, ttl_seconds)
            .await
        {
            Ok(revision) => {
                return Ok(Claim {
                    file,
                    hold,
                    revision,
                });
            }
            Err(KvError::WrongRevision) => cas.lost(host).await?,
            Err(e) => return Err(store_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Operation;
    use crate::testing::{Call, MemoryHost, request};
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
            host.calls[1],
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
}
