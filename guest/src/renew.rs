//! Renew: a lease's hold, written only over the revision the lease holds.

use crate::announce::{announce_extended, stand_or_withdraw};
use crate::cas::Cas;
use crate::extended;
use crate::host::Host;
use crate::host::store_error;
use crate::judge::{self, Previous};
use crate::key::key_for_file;
use crate::model::{AnnounceRequest, Claim, Error, KvError, LostHold, Scope};
use crate::pattern::Coverage;
use crate::resend::Resending;
use crate::{codec, verdict};

/// Renew the hold a lease wrote at `revision`; see the WIT `renew`.
///
/// One write when nothing changed. A file released, force-released, expired or
/// taken over since is `lost`, never re-taken (a plain re-announce would take a
/// vacant file again). A newer live hold of the same agent (it re-announced the
/// file elsewhere) is still the agent's, and is renewed instead.
pub async fn renew<H: Host>(
    host: &mut H,
    request: &AnnounceRequest,
    revision: u64,
    ttl_max: u64,
) -> Result<Claim, Error> {
    let host = &mut Resending(host);
    verdict::check_agent(&request.agent_id)?;
    verdict::check_ttl(request.ttl, ttl_max)?;
    let coverage = Coverage::parse(&request.file)?;
    let file = match coverage.file() {
        Some(file) if extended::is_plain(&coverage, request.mode) => file.to_string(),
        _ => return announce_extended(host, request, coverage, Some(revision)).await,
    };
    let key = key_for_file(&file)?;
    let ttl_seconds = verdict::ttl_seconds(request.ttl);
    let mut expected = revision;
    let mut cas = Cas::unread(&key);
    // With a shared or pattern hold over the file in view, the version this
    // renewal replaces is read first: the judgement needs its expiry.
    let mut previous = None;
    let scanned = host.scan(extended::PREFIX, 0).await.map_err(store_error)?;
    let over = judge::held_near(scanned, &[Coverage::File(file.clone())]);
    if over.iter().any(|h| h.coverage.covers(&file)) {
        let entry = crate::host::read(host, &key).await?;
        previous = crate::announce::own_previous(&key, &entry, &request.agent_id, host.now())
            // The lease's own version was judged when it got it.
            .map(|p| Previous {
                judged: p.revision == revision,
                ..p
            });
        expected = entry.revision;
    }
    loop {
        let now = host.now();
        let hold = verdict::new_hold(&request.agent_id, &request.checkout_path, request.ttl, now);
        match host
            .write_if_revision(&key, codec::encode(&hold), expected, ttl_seconds)
            .await
        {
            Ok(written) => {
                let me = judge::Held {
                    coverage: Coverage::File(file.clone()),
                    claim: Claim {
                        file,
                        scope: Scope::File,
                        hold,
                        revision: written,
                    },
                    tenure: None,
                };
                return stand_or_withdraw(host, &key, me, previous).await;
            }
            Err(KvError::WrongRevision) => {
                cas.lost(host).await?;
                let entry = cas.entry();
                let current = verdict::live(verdict::hold_of(&key, &file, entry)?, host.now());
                match current {
                    Some(claim) if claim.hold.agent_id == request.agent_id => {
                        expected = entry.revision;
                        previous = Some(Previous {
                            revision: entry.revision,
                            expires_at: claim.hold.expires_at,
                            judged: false,
                        });
                    }
                    holder => {
                        return Err(Error::Lost(Box::new(LostHold {
                            file,
                            revision,
                            holder,
                        })));
                    }
                }
            }
            Err(e) => return Err(store_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::announce;
    use crate::release::{force_release, release};
    use crate::testing::{MemoryHost, request};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_lease_renews_in_one_write_over_its_revision() {
        let mut host = MemoryHost::new(0);
        let first = block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        host.calls.clear();
        host.now = S as i64 / 2;
        let renewed = block_on(renew(
            &mut host,
            &request("/f", "a", S),
            first.revision,
            60 * S,
        ))
        .unwrap();
        assert!(renewed.revision > first.revision);
        assert_eq!(renewed.hold.expires_at, S as i64 / 2 + S as i64);
        assert_eq!((host.gets(), host.writes()), (0, 1));
    }

    /// A contender whose writer stopped between its write and its judgement
    /// leaves a pattern hold that yields to the lease's file but stays until
    /// it expires: the lease renews over it again and again.
    #[test]
    fn a_lease_keeps_renewing_over_a_younger_hold_left_unjudged() {
        for (held, pattern) in [("/r/src/x.rs", "/r/src/"), ("/r/src/", "/r/**/*.rs")] {
            let mut host = MemoryHost::new(0);
            let ask = request(held, "lease", 10 * S);
            let mut claim = block_on(announce(&mut host, &ask, 60 * S, None)).unwrap();
            let stopped = crate::model::Hold {
                agent_id: "stopped".into(),
                expires_at: 60 * S as i64,
                mode: crate::model::Mode::Exclusive,
                ..Default::default()
            };
            let coverage = Coverage::parse(pattern).unwrap();
            host.put_raw(
                &extended::key_for(&coverage, "stopped").unwrap(),
                &extended::encode(&stopped, &coverage.text(), None),
            );
            for round in 1..=3 {
                host.now = round * S as i64;
                claim = block_on(renew(&mut host, &ask, claim.revision, 60 * S))
                    .unwrap_or_else(|e| panic!("{held}: renewal {round}: {e:?}"));
            }
            // A re-announce cannot know its own last version was judged.
            assert!(block_on(announce(&mut host, &ask, 60 * S, None)).is_err());
        }
    }

    #[test]
    fn a_released_file_is_lost_never_re_taken() {
        let mut host = MemoryHost::new(0);
        let first = block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        block_on(release(&mut host, "/f", "a", None)).unwrap();
        let revision = host.revision;
        match block_on(renew(
            &mut host,
            &request("/f", "a", S),
            first.revision,
            60 * S,
        )) {
            Err(Error::Lost(lost)) => {
                assert_eq!((lost.revision, lost.holder), (first.revision, None));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(host.revision, revision, "nothing was written");
    }

    #[test]
    fn a_force_released_or_taken_over_file_is_lost_naming_the_new_holder() {
        let mut host = MemoryHost::new(0);
        let first = block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        block_on(force_release(&mut host, "/f", "ops", None)).unwrap();
        host.now = 2 * S as i64;
        block_on(announce(&mut host, &request("/f", "b", S), 60 * S, None)).unwrap();
        match block_on(renew(
            &mut host,
            &request("/f", "a", S),
            first.revision,
            60 * S,
        )) {
            Err(Error::Lost(lost)) => assert_eq!(lost.holder.unwrap().hold.agent_id, "b"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_newer_hold_of_the_same_agent_is_renewed_not_lost() {
        let mut host = MemoryHost::new(0);
        let first = block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let renewed = block_on(renew(
            &mut host,
            &request("/f", "a", S),
            first.revision,
            60 * S,
        ))
        .unwrap();
        assert_eq!(renewed.revision, host.revision);
        assert!(host.retries.is_empty());
    }
}
