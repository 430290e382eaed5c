//! Claim: every file or none (bones' coord semantics), in one atomic batch where
//! the store can write one; else announced one by one in sorted order and rolled
//! back, revision-gated, on a refusal.

use crate::announce::announce;
use crate::attempts::Attempts;
use crate::codec;
use crate::extended;
use crate::host::Host;
use crate::host::store_error;
use crate::judge;
use crate::key::key_for_file;
use crate::model::{
    AnnounceRequest, Claim, ClaimRequest, Claimed, Entry, Error, KvError, Removal, Scope, Write,
};
use crate::pattern::Coverage;
use crate::resend::Resending;
use crate::verdict::{self, Decision};

/// One file of a claim.
struct Target {
    file: String,
    key: String,
    /// The host's belief of its entry.
    hint: Option<Entry>,
}

/// Claim every file of `request` or none; see the WIT `claim`.
pub async fn claim<H: Host>(
    host: &mut H,
    request: &ClaimRequest,
    ttl_max: u64,
    max_files: u32,
    observed: Vec<Option<Entry>>,
) -> Result<Claimed, Error> {
    let host = &mut Resending(host);
    verdict::check_agent(&request.agent_id)?;
    verdict::check_ttl(request.ttl, ttl_max)?;
    let targets = targets(request, max_files, observed)?;
    let ttl_seconds = verdict::ttl_seconds(request.ttl);
    let keys: Vec<String> = targets.iter().map(|t| t.key.clone()).collect();
    // Patterns, shared holds, and files a pattern or shared hold may be in the
    // way of are announced one by one, each judged (see `judge.rs`).
    let near: Vec<Coverage> = targets
        .iter()
        .map(|t| Coverage::parse(&t.file))
        .collect::<Result<_, _>>()?;
    let scanned = host.scan(extended::PREFIX, 0).await.map_err(store_error)?;
    let patterns = judge::held_near(scanned, &near);
    let plain = targets.iter().all(|t| !extended::is_extended(&t.key));
    if !plain || !patterns.is_empty() {
        let none = vec![None; targets.len()];
        return one_by_one(host, request, ttl_max, &targets, none).await;
    }

    // The hints where given; the other files in one read.
    let mut entries: Vec<Option<Entry>> = targets.iter().map(|t| t.hint.clone()).collect();
    let mut fresh = vec![false; targets.len()];
    let unknown: Vec<usize> = (0..targets.len())
        .filter(|&i| entries[i].is_none())
        .collect();
    reread(host, &keys, &unknown, &mut entries, &mut fresh).await?;

    let mut attempts = Attempts::new();
    loop {
        let now = host.now();
        let mut expected = Vec::with_capacity(targets.len());
        let mut holders = Vec::new();
        // Refusals (or corrupt values) seen only in a hint are confirmed first.
        let mut confirm = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let entry = entries[i].as_ref().expect("every entry is known");
            let decision = verdict::hold_of(&t.key, &t.file, entry)
                .map(|current| verdict::decide_announce(current, &request.agent_id, now, entry));
            match decision {
                Ok(Decision::Write { expected: rev }) => expected.push(rev),
                Ok(Decision::Refuse(_)) | Err(Error::CorruptEntry(_)) if !fresh[i] => {
                    confirm.push(i)
                }
                Ok(Decision::Refuse(holder)) => holders.push(holder),
                Err(e) => return Err(e),
            }
        }
        // A refusal names every holder: once one is seen, every file still
        // judged on a hint (free there, maybe not in the store) is read fresh too,
        // in the same read as the confirmations.
        if !confirm.is_empty() || !holders.is_empty() {
            let stale: Vec<usize> = (0..targets.len()).filter(|&i| !fresh[i]).collect();
            if !stale.is_empty() {
                reread(host, &keys, &stale, &mut entries, &mut fresh).await?;
                continue;
            }
        }
        if !holders.is_empty() {
            return Err(Error::HeldByOthers(holders));
        }
        let hold = verdict::new_hold(&request.agent_id, &request.checkout_path, request.ttl, now);
        let value = codec::encode(&hold);
        let writes: Vec<Write> = targets
            .iter()
            .zip(&expected)
            .map(|(t, &expected)| Write {
                key: t.key.clone(),
                value: value.clone(),
                expected,
                ttl_seconds,
            })
            .collect();
        match write_all(host, writes).await {
            Ok(revisions) => {
                let claims: Vec<Claim> = targets
                    .iter()
                    .zip(revisions)
                    .map(|(t, revision)| Claim {
                        file: t.file.clone(),
                        scope: Scope::File,
                        hold: hold.clone(),
                        revision,
                    })
                    .collect();
                // Judged as announce judges a file hold: against every shared or
                // pattern hold written before the batch (within it, every write is
                // this agent's). Unjudged, the claims may not stand.
                let first = claims.iter().map(|c| c.revision).min().unwrap_or(1);
                let seen = match host.scan(extended::PREFIX, first - 1).await {
                    Ok(scanned) => judge::held_near(scanned, &near),
                    Err(e) => {
                        roll_back(host, &targets, &entries.clone(), &claims).await;
                        return Err(store_error(e));
                    }
                };
                let mut winners = Vec::new();
                for (i, claim) in claims.iter().enumerate() {
                    let me = judge::Held {
                        claim: claim.clone(),
                        coverage: Coverage::File(claim.file.clone()),
                        tenure: None,
                    };
                    let previous = entries[i].as_ref().and_then(|e| {
                        crate::announce::own_previous(&targets[i].key, e, &request.agent_id, now)
                    });
                    winners.extend(judge::winners_over(&me, previous, &seen));
                }
                if !winners.is_empty() {
                    let before: Vec<Option<Entry>> = entries.clone();
                    roll_back(host, &targets, &before, &claims).await;
                    return Err(Error::HeldByOthers(winners));
                }
                return Ok(Claimed {
                    claims,
                    atomic: true,
                });
            }
            Err(KvError::WrongRevision) => {
                // Decided on a hint that was stale: a re-read, not a lost race.
                if fresh.iter().all(|&f| f) {
                    attempts.lost(host, &targets[0].key)?;
                }
                let all: Vec<usize> = (0..targets.len()).collect();
                reread(host, &keys, &all, &mut entries, &mut fresh).await?;
            }
            Err(KvError::Unsupported) => {
                return one_by_one(host, request, ttl_max, &targets, entries).await;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
}

/// Every write or none. One file is one conditional write, atomic by itself and
/// cheaper than a batch (nats-server syncs each atomic batch to disk at its commit).
async fn write_all<H: Host>(host: &mut H, mut writes: Vec<Write>) -> Result<Vec<u64>, KvError> {
    if writes.len() == 1 {
        let w = writes.pop().expect("one write");
        let revision = host
            .write_if_revision(&w.key, w.value, w.expected, w.ttl_seconds)
            .await?;
        return Ok(vec![revision]);
    }
    host.write_batch(writes).await
}

/// The request's files cleaned, keyed, deduplicated and sorted, with their hints.
fn targets(
    request: &ClaimRequest,
    max_files: u32,
    observed: Vec<Option<Entry>>,
) -> Result<Vec<Target>, Error> {
    if request.files.is_empty() {
        return Err(Error::invalid("files", "there is no file to claim"));
    }
    let mut hints = observed.into_iter();
    let mut targets: Vec<Target> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in &request.files {
        let cleaned = Coverage::parse(file)?.text();
        let hint = hints.next().flatten();
        if !seen.insert(cleaned.clone()) {
            continue;
        }
        // Refused as soon as the limit is passed: a claim of thousands of files
        // costs no more than one of `max_files + 1`.
        if seen.len() > max_files as usize {
            return Err(Error::invalid(
                "files",
                format!(
                    "at least {} files are more than the {max_files} one claim may take",
                    seen.len()
                ),
            ));
        }
        let coverage = Coverage::parse(file)?;
        let (key, file) = match coverage.file() {
            Some(path) if extended::is_plain(&coverage, request.mode) => {
                (key_for_file(path)?, path.to_string())
            }
            _ => (
                extended::key_for(&coverage, &request.agent_id)?,
                coverage.text(),
            ),
        };
        targets.push(Target { key, file, hint });
    }
    targets.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(targets)
}

/// Read the entries at `which` fresh, in one read.
async fn reread<H: Host>(
    host: &mut H,
    keys: &[String],
    which: &[usize],
    entries: &mut [Option<Entry>],
    fresh: &mut [bool],
) -> Result<(), Error> {
    if which.is_empty() {
        return Ok(());
    }
    let asked: Vec<String> = which.iter().map(|&i| keys[i].clone()).collect();
    let got = host.get_many(&asked).await.map_err(store_error)?;
    if got.len() != asked.len() {
        return Err(Error::Store(format!(
            "the store answered {} entries for {} keys",
            got.len(),
            asked.len()
        )));
    }
    for (&i, entry) in which.iter().zip(got) {
        entries[i] = Some(entry);
        fresh[i] = true;
    }
    Ok(())
}

/// The fallback of a store without atomic batches: announce each file in sorted
/// order; on a refusal (or any failure) undo what was written, then name every
/// holder.
async fn one_by_one<H: Host>(
    host: &mut H,
    request: &ClaimRequest,
    ttl_max: u64,
    targets: &[Target],
    before: Vec<Option<Entry>>,
) -> Result<Claimed, Error> {
    let mut claims: Vec<Claim> = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        // The request names what the target holds: a file by its text (its
        // wildcard characters escaped), a pattern as it is.
        let text = if extended::is_extended(&t.key) {
            t.file.clone()
        } else {
            Coverage::File(t.file.clone()).text()
        };
        let file_request = AnnounceRequest {
            file: text,
            agent_id: request.agent_id.clone(),
            ttl: request.ttl,
            checkout_path: request.checkout_path.clone(),
            mode: request.mode,
        };
        match announce(host, &file_request, ttl_max, before[i].clone()).await {
            Ok(claim) => claims.push(claim),
            Err(e) => {
                roll_back(host, targets, &before, &claims).await;
                return Err(match e {
                    Error::HeldByAnother(_) => holders(host, request, targets).await?,
                    other => other,
                });
            }
        }
    }
    Ok(Claimed {
        claims,
        atomic: false,
    })
}

/// Undo written claims, each only over the revision it wrote: a renewal of the
/// agent's own hold gets its previous value back, a taken file a release marker.
async fn roll_back<H: Host>(
    host: &mut H,
    targets: &[Target],
    before: &[Option<Entry>],
    claims: &[Claim],
) {
    for (i, claim) in claims.iter().enumerate() {
        let key = &targets[i].key;
        let previous = before[i].as_ref().filter(|e| e.is_value());
        let renewed = previous.and_then(|e| {
            codec::decode(&e.value)
                .ok()
                .filter(|h| h.agent_id == claim.hold.agent_id)
                .map(|h| (e, h))
        });
        // Best effort: a file someone changed since is theirs now.
        let _ = match renewed {
            Some((entry, hold)) => {
                let left = hold.expires_at.saturating_sub(host.now()).max(0) as u64;
                host.write_if_revision(
                    key,
                    entry.value.clone(),
                    claim.revision,
                    verdict::ttl_seconds(left),
                )
                .await
            }
            None => {
                let note = codec::encode_release_note(claim, None);
                host.delete_if_revision(key, claim.revision, Removal::Released, note)
                    .await
            }
        };
    }
}

/// The refusal of a claim: every other agent's live hold among its files, read
/// fresh.
async fn holders<H: Host>(
    host: &mut H,
    request: &ClaimRequest,
    targets: &[Target],
) -> Result<Error, Error> {
    let keys: Vec<String> = targets.iter().map(|t| t.key.clone()).collect();
    let entries = host.get_many(&keys).await.map_err(store_error)?;
    let now = host.now();
    let mut holders = Vec::new();
    for (t, entry) in targets.iter().zip(&entries) {
        if let Some(claim) = verdict::live(verdict::hold_of(&t.key, &t.file, entry)?, now)
            && claim.hold.agent_id != request.agent_id
        {
            holders.push(claim);
        }
    }
    Ok(Error::HeldByOthers(holders))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Call, MemoryHost, request};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    fn claim_request(files: &[&str], agent: &str) -> ClaimRequest {
        ClaimRequest {
            files: files.iter().map(|f| f.to_string()).collect(),
            agent_id: agent.into(),
            ttl: S,
            checkout_path: "/co".into(),
            mode: crate::model::Mode::Exclusive,
        }
    }

    fn go(host: &mut MemoryHost, files: &[&str], agent: &str) -> Result<Claimed, Error> {
        block_on(claim(
            host,
            &claim_request(files, agent),
            60 * S,
            16,
            Vec::new(),
        ))
    }

    #[test]
    fn one_file_is_one_conditional_write_not_a_batch_even_without_batches() {
        for atomic_store in [true, false] {
            let mut host = MemoryHost::new(0);
            host.atomic = atomic_store;
            let claimed = go(&mut host, &["/a", "/./a"], "x").unwrap();
            assert!(claimed.atomic, "one write is atomic by itself");
            assert_eq!(claimed.claims.len(), 1);
            assert_eq!(host.count(|c| matches!(c, Call::WriteBatch(_))), 0);
            assert_eq!(host.count(|c| matches!(c, Call::Write { .. })), 1);
        }
    }

    #[test]
    fn every_file_is_taken_in_one_batch_sorted_and_deduplicated() {
        let mut host = MemoryHost::new(0);
        let claimed = go(&mut host, &["/b", "/a", "/c", "/a/../b"], "x").unwrap();
        assert!(claimed.atomic);
        let files: Vec<&str> = claimed.claims.iter().map(|c| c.file.as_str()).collect();
        assert_eq!(files, ["/a", "/b", "/c"]);
        assert_eq!(host.count(|c| matches!(c, Call::GetMany(_))), 1, "one read");
        assert_eq!(
            host.count(|c| matches!(c, Call::WriteBatch(_))),
            1,
            "one write"
        );
        assert!(host.entry("=2Fa").is_value() && host.entry("=2Fc").is_value());
    }

    #[test]
    fn one_refusal_writes_nothing_and_names_every_holder() {
        let mut host = MemoryHost::new(0);
        go(&mut host, &["/b"], "y").unwrap();
        go(&mut host, &["/d"], "z").unwrap();
        let revision = host.revision;
        match go(&mut host, &["/a", "/b", "/c", "/d"], "x") {
            Err(Error::HeldByOthers(holders)) => {
                let who: Vec<(&str, &str)> = holders
                    .iter()
                    .map(|c| (c.file.as_str(), c.hold.agent_id.as_str()))
                    .collect();
                assert_eq!(who, [("/b", "y"), ("/d", "z")]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(host.revision, revision, "nothing was written");
        assert!(!host.entry("=2Fa").found);
    }

    #[test]
    fn a_refusal_names_holders_a_stale_hint_called_vacant() {
        let mut host = MemoryHost::new(0);
        let stale_d = host.entry("=2Fd");
        go(&mut host, &["/b"], "y").unwrap();
        go(&mut host, &["/d"], "z").unwrap();
        // The host's replica knows y's hold on /b but still thinks /d vacant.
        let observed = vec![None, Some(host.entry("=2Fb")), None, Some(stale_d)];
        match block_on(claim(
            &mut host,
            &claim_request(&["/a", "/b", "/c", "/d"], "x"),
            60 * S,
            16,
            observed,
        )) {
            Err(Error::HeldByOthers(holders)) => {
                let who: Vec<&str> = holders.iter().map(|c| c.hold.agent_id.as_str()).collect();
                assert_eq!(
                    who,
                    ["y", "z"],
                    "the holder behind the stale hint is named too"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lost_race_retries_the_whole_batch_from_a_fresh_read() {
        let mut host = MemoryHost::new(0);
        host.conflicts = 1;
        let claimed = go(&mut host, &["/a", "/b"], "x").unwrap();
        assert_eq!(claimed.claims.len(), 2);
        assert_eq!(host.retries, vec![2]);
        assert_eq!(host.count(|c| matches!(c, Call::WriteBatch(_))), 2);
    }

    #[test]
    fn stale_hints_are_confirmed_and_a_stale_write_is_a_re_read() {
        let mut host = MemoryHost::new(0);
        go(&mut host, &["/a"], "y").unwrap();
        let held = host.entry("=2Fa");
        host.delete("=2Fa");
        // The hint says y holds /a; the store says it is free: no refusal.
        let request = claim_request(&["/a", "/b"], "x");
        let claimed = block_on(claim(
            &mut host,
            &request,
            60 * S,
            16,
            vec![Some(held), Some(Entry::missing())],
        ))
        .unwrap();
        assert_eq!(claimed.claims[0].hold.agent_id, "x");
        assert!(host.retries.is_empty(), "{:?}", host.retries);
    }

    #[test]
    fn a_refusal_names_holders_a_stale_vacant_hint_missed_in_one_read() {
        let mut host = MemoryHost::new(0);
        go(&mut host, &["/b"], "y").unwrap();
        let held = host.entry("=2Fb");
        go(&mut host, &["/d"], "z").unwrap();
        host.calls.clear();
        // The hints: y holds /b (true), /d is free (stale: z took it).
        let request = claim_request(&["/b", "/d"], "x");
        let hints = vec![Some(held), Some(Entry::missing())];
        match block_on(claim(&mut host, &request, 60 * S, 16, hints)) {
            Err(Error::HeldByOthers(holders)) => {
                let who: Vec<&str> = holders.iter().map(|c| c.hold.agent_id.as_str()).collect();
                assert_eq!(who, ["y", "z"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(host.count(|c| matches!(c, Call::GetMany(_))), 1, "one read");
        assert_eq!(host.count(|c| matches!(c, Call::WriteBatch(_))), 0);
    }

    #[test]
    fn too_many_files_and_bad_paths_are_invalid_and_touch_nothing() {
        let mut host = MemoryHost::new(0);
        let files: Vec<String> = (0..17).map(|i| format!("/f{i}")).collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        for (files, field) in [
            (&files[..], "files"),
            (&[][..], "files"),
            (&["/a", "rel"][..], "file"),
        ] {
            match go(&mut host, files, "x") {
                Err(Error::InvalidInput(i)) => assert_eq!(i.field, field),
                other => panic!("{other:?}"),
            }
        }
        assert!(host.calls.is_empty());
    }

    #[test]
    fn without_atomic_batches_files_are_announced_one_by_one() {
        let mut host = MemoryHost::new(0);
        host.atomic = false;
        let claimed = go(&mut host, &["/b", "/a"], "x").unwrap();
        assert!(!claimed.atomic);
        assert_eq!(claimed.claims.len(), 2);
        assert_eq!(host.writes(), 2);
    }

    #[test]
    fn without_atomic_batches_a_refusal_rolls_back_and_restores_a_renewal() {
        let mut host = MemoryHost::new(0);
        go(&mut host, &["/a"], "x").unwrap();
        let before = host.entry("=2Fa");
        host.atomic = false;
        // /c is taken between the claim's read and its write.
        host.on_write = Some(Box::new(|h: &mut MemoryHost, key: &str| {
            if key == "=2Fc" {
                h.put_raw(
                    "=2Fc",
                    &codec::encode(&verdict::new_hold("y", "", 60 * S, 0)),
                );
            }
        }));
        match go(&mut host, &["/a", "/b", "/c"], "x") {
            Err(Error::HeldByOthers(holders)) => {
                assert_eq!(holders.len(), 1);
                assert_eq!(holders[0].hold.agent_id, "y");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            host.entry("=2Fa").value,
            before.value,
            "x's own hold is back"
        );
        assert!(!host.entry("=2Fb").is_value(), "the taken file is released");
    }

    #[test]
    fn a_refused_file_in_the_fallback_still_names_every_holder() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/z", "y", S), 60 * S, None)).unwrap();
        host.atomic = false;
        match go(&mut host, &["/a", "/z"], "x") {
            Err(Error::HeldByOthers(holders)) => assert_eq!(holders[0].file, "/z"),
            other => panic!("{other:?}"),
        }
        assert!(!host.entry("=2Fa").found, "refused before any write");
    }
}
