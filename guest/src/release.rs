//! Release: revision-gated removal of the caller's own live hold, and the
//! operator's force-release of whoever's.

use crate::cas::Cas;
use crate::extended;
use crate::host::Host;
use crate::host::store_error;
use crate::key::key_for_file;
use crate::model::{Claim, Entry, Error, KvError, ReleaseOutcome, Removal, Timestamp};
use crate::pattern::Coverage;
use crate::resend::Resending;
use crate::verdict;

/// Remove `agent`'s live hold on `file`; see the WIT `release`.
///
/// The delete is gated on the revision judged, so a take-over racing the release
/// survives it (the Go package's plain delete destroys it). A no-op verdict on the
/// host's `observed` entry is confirmed by a fresh read.
pub async fn release<H: Host>(
    host: &mut H,
    file: &str,
    agent: &str,
    observed: Option<Entry>,
) -> Result<ReleaseOutcome, Error> {
    verdict::check_agent(agent)?;
    let coverage = Coverage::parse(file)?;
    let mine = |current, now| verdict::releasable(current, agent, now);
    // A file's exclusive hold has Go's key; its shared hold, or a pattern's, a
    // key of its own: release whichever the agent has.
    if !coverage.is_file() {
        let own = extended::key_for(&coverage, agent)?;
        return remove(host, &own, &coverage.text(), None, mine, None).await;
    }
    let path = coverage.file().unwrap_or(file);
    let outcome = remove(host, &key_for_file(path)?, path, observed, mine, None).await?;
    // An agent id too long for a shared hold's key has none.
    let Ok(own) = extended::key_for(&coverage, agent) else {
        return Ok(outcome);
    };
    // The host's view says whether the agent has a shared hold on the file too
    // (a host sees its own writes).
    let shared = host
        .scan(extended::PREFIX, 0)
        .await
        .map_err(store_error)?
        .iter()
        .any(|e| e.key == own);
    if !shared {
        return Ok(outcome);
    }
    match remove(host, &own, &coverage.text(), None, mine, None).await? {
        ReleaseOutcome::NotHeld => Ok(outcome),
        released => Ok(released),
    }
}

/// Remove whoever's live holds on `file` as named — a file's exclusive hold and
/// every agent's shared hold on it, or every agent's hold on a pattern —
/// noting `by` in each marker; see the WIT `force-release`. Each removal is gated
/// on the revision judged, so a renewal or take-over racing it is judged again
/// rather than destroyed unseen. The outcome is the last removal's.
pub async fn force_release<H: Host>(
    host: &mut H,
    file: &str,
    by: &str,
    observed: Option<Entry>,
) -> Result<ReleaseOutcome, Error> {
    if by.trim().is_empty() {
        return Err(Error::invalid(
            "by",
            "say who forces the release: the operator's id is empty",
        ));
    }
    let coverage = Coverage::parse(file)?;
    let mut outcome = ReleaseOutcome::NotHeld;
    if let Some(path) = coverage.file() {
        let key = key_for_file(path)?;
        outcome = remove(host, &key, path, observed, verdict::live, Some(by)).await?;
    }
    let text = coverage.text();
    // Other patterns' keys may share this prefix (`.` is not escaped in the
    // pattern): only keys that name exactly this coverage are its holds.
    let prefix = extended::key_prefix(&coverage);
    let named = host
        .scan(&prefix, u64::MAX)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|e| extended::coverage_for_key(&e.key).as_ref() == Some(&coverage));
    for held in named {
        let removed = remove(
            host,
            &held.key,
            &text,
            Some(held.entry),
            verdict::live,
            Some(by),
        )
        .await?;
        if let ReleaseOutcome::Released(_) = removed {
            outcome = removed;
        }
    }
    Ok(outcome)
}

/// Leave a release marker over the hold `target` picks, noting whose hold it was
/// and who forced it (if anyone), each delete gated on the revision judged; a
/// lost race or a no-op verdict on the host's hint is judged again on a fresh read.
async fn remove<H: Host>(
    host: &mut H,
    key: &str,
    file: &str,
    observed: Option<Entry>,
    target: impl Fn(Option<Claim>, Timestamp) -> Option<Claim>,
    forced_by: Option<&str>,
) -> Result<ReleaseOutcome, Error> {
    let host = &mut Resending(host);
    let file = crate::path::clean_absolute(file)?;
    let mut cas = Cas::start(host, key, observed).await?;
    loop {
        let current = verdict::hold_of(key, &file, cas.entry());
        let now = host.now();
        let claim = match current.map(|c| target(c, now)) {
            Ok(Some(claim)) => claim,
            Ok(None) | Err(Error::CorruptEntry(_)) if !cas.fresh() => {
                cas.reread(host).await?;
                continue;
            }
            Ok(None) => return Ok(ReleaseOutcome::NotHeld),
            Err(e) => return Err(e),
        };
        let note = crate::codec::encode_release_note(&claim, forced_by);
        match host
            .delete_if_revision(key, claim.revision, Removal::Released, note)
            .await
        {
            Ok(revision) => return Ok(ReleaseOutcome::Released(revision)),
            Err(KvError::WrongRevision) => cas.lost(host).await?,
            Err(e) => return Err(store_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::announce;
    use crate::testing::{MemoryHost, request, shared};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    #[test]
    fn owner_releases_at_the_revision_it_judged() {
        let mut host = MemoryHost::new(0);
        let claim = block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let out = block_on(release(&mut host, "/f", "a", None)).unwrap();
        assert_eq!(out, ReleaseOutcome::Released(claim.revision + 1));
        assert!(!host.entry("=2Ff").is_value());
    }

    #[test]
    fn wrong_agent_missing_and_expired_are_no_ops() {
        let mut host = MemoryHost::new(0);
        assert_eq!(
            block_on(release(&mut host, "/f", "a", None)).unwrap(),
            ReleaseOutcome::NotHeld
        );
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        assert_eq!(
            block_on(release(&mut host, "/f", "b", None)).unwrap(),
            ReleaseOutcome::NotHeld
        );
        host.now = 2 * S as i64;
        assert_eq!(
            block_on(release(&mut host, "/f", "a", None)).unwrap(),
            ReleaseOutcome::NotHeld
        );
        assert!(host.entry("=2Ff").is_value(), "nothing was deleted");
    }

    #[test]
    fn a_take_over_racing_the_release_survives() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        // Between release's read and its delete, b takes the (now expired) hold over.
        let before = host.entry("=2Ff");
        host.now = 2 * S as i64;
        block_on(announce(&mut host, &request("/f", "b", S), 60 * S, None)).unwrap();
        host.now = 0;
        let out = block_on(release(&mut host, "/f", "a", Some(before))).unwrap();
        assert_eq!(out, ReleaseOutcome::NotHeld);
        let holder = crate::codec::decode(&host.entry("=2Ff").value).unwrap();
        assert_eq!(holder.agent_id, "b");
    }

    #[test]
    fn a_stale_hint_that_loses_the_delete_is_a_re_read_not_a_retry() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let stale = host.entry("=2Ff");
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let out = block_on(release(&mut host, "/f", "a", Some(stale))).unwrap();
        assert!(matches!(out, ReleaseOutcome::Released(3)), "{out:?}");
        assert!(host.retries.is_empty(), "{:?}", host.retries);
    }

    #[test]
    fn force_release_removes_anyones_live_hold_and_notes_who() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let out = block_on(force_release(&mut host, "/f", "ops", None)).unwrap();
        assert!(matches!(out, ReleaseOutcome::Released(2)));
        let marker = host.entry("=2Ff");
        assert_eq!(
            crate::codec::decode_release_note(&marker.value).as_deref(),
            Some("ops")
        );
        assert_eq!(
            block_on(force_release(&mut host, "/f", "ops", None)).unwrap(),
            ReleaseOutcome::NotHeld
        );
        assert!(matches!(
            block_on(force_release(&mut host, "/f", " ", None)),
            Err(Error::InvalidInput(i)) if i.field == "by"
        ));
    }

    #[test]
    fn force_release_of_a_pattern_removes_every_agents_hold_on_it_and_no_other() {
        let mut host = MemoryHost::new(0);
        for agent in ["a", "b"] {
            block_on(announce(
                &mut host,
                &shared("/r/src/", agent, S),
                60 * S,
                None,
            ))
            .unwrap();
        }
        // A pattern whose key starts with the same escaped text.
        block_on(announce(
            &mut host,
            &shared("/r/src/.x/", "c", S),
            60 * S,
            None,
        ))
        .unwrap();
        let out = block_on(force_release(&mut host, "/r/src/", "ops", None)).unwrap();
        assert!(matches!(out, ReleaseOutcome::Released(_)), "{out:?}");
        let left: Vec<String> = block_on(crate::covering::covering(&mut host, "/r/src/.x/y"))
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {}", c.file, c.hold.agent_id))
            .collect();
        assert_eq!(left, ["/r/src/.x/ c"]);
        assert_eq!(
            block_on(force_release(&mut host, "/r/src/", "ops", None)).unwrap(),
            ReleaseOutcome::NotHeld
        );
    }

    #[test]
    fn force_release_of_a_file_removes_its_exclusive_and_shared_holds() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &shared("/f", "a", S), 60 * S, None)).unwrap();
        block_on(announce(&mut host, &shared("/f", "b", S), 60 * S, None)).unwrap();
        let out = block_on(force_release(&mut host, "/f", "ops", None)).unwrap();
        assert!(matches!(out, ReleaseOutcome::Released(_)), "{out:?}");
        assert!(
            block_on(crate::covering::covering(&mut host, "/f"))
                .unwrap()
                .is_empty()
        );
        block_on(announce(&mut host, &request("/f", "c", S), 60 * S, None)).unwrap();
        let out = block_on(force_release(&mut host, "/f", "ops", None)).unwrap();
        assert!(matches!(out, ReleaseOutcome::Released(_)), "{out:?}");
        assert!(!host.entry("=2Ff").is_value());
    }

    #[test]
    fn a_stale_vacant_hint_is_confirmed_before_a_no_op() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let out = block_on(release(&mut host, "/f", "a", Some(crate::Entry::missing()))).unwrap();
        assert!(matches!(out, ReleaseOutcome::Released(_)));
    }
}
