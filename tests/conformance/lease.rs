//! Leases (issue 13, `Manager::hold`): renewed at a third of the TTL, each
//! renewal only over the lease's revision; a loss is reported, never papered over
//! by re-taking the file; release and drop release.

use super::workflow_common::{entries, hold, next_on, next_removal_on};
use holds::clock::OffsetClock;
use holds::kv::Operation;
use holds::{Announce, EventKind, FileState, Lease, LostReason, Release};
use holds_test_support::harness::{Harness, Kind};
use holds_test_support::outage::Outage;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Short enough to see several renewals, long enough that a loaded machine
/// still renews well before expiry (a renewal is due every 2/3 s).
const TTL: Duration = Duration::from_secs(2);
const F: &str = "/lease/f";

async fn lost_within(lease: &mut Lease, within: Duration) -> holds::Lost {
    tokio::time::timeout(within, lease.lost())
        .await
        .unwrap_or_else(|_| panic!("no loss reported within {within:?}"))
}

/// Over three TTLs, a lease's files are renewed about every TTL/3 (the hold's
/// own claim times say when), each at a higher revision, and never expire.
pub async fn a_lease_renews_at_a_third_of_the_ttl_and_never_expires(h: Harness) {
    let (m, observer) = (h.manager().await, h.manager().await);
    let mut sub = observer.subscribe().await.unwrap();
    let files = ["/lease/a", "/lease/b"];
    let lease = m.hold(&files, &Announce::new("a1", TTL)).await.unwrap();
    let first = lease.claims();
    let mut seen: BTreeMap<String, Vec<(u64, SystemTime)>> = first
        .iter()
        .map(|c| (c.file.clone(), vec![(c.revision, c.hold.claimed_at)]))
        .collect();
    let until = tokio::time::Instant::now() + TTL * 3;
    loop {
        let event = match tokio::time::timeout_at(until, sub.next()).await {
            Err(_) => break,
            Ok(event) => event.expect("the subscription goes on").unwrap(),
        };
        match event.kind {
            EventKind::Announced(hold) if hold.agent_id == "a1" => {
                let renewals = seen.get_mut(&event.file).expect("a lease file");
                if event.revision > renewals[0].0 {
                    renewals.push((event.revision, hold.claimed_at));
                }
            }
            other => panic!("{other:?} on {} while the lease lived", event.file),
        }
    }
    for (file, renewals) in &seen {
        assert!(
            renewals.windows(2).all(|w| w[0].0 < w[1].0),
            "{file}: revisions grow: {renewals:?}"
        );
        let gaps: Vec<Duration> = renewals
            .windows(2)
            .map(|w| w[1].1.duration_since(w[0].1).unwrap())
            .collect();
        // About 9 renewals of a 2 s TTL in 6 s: 6 would be renewals at TTL/2, 12
        // at TTL/4.
        assert!(
            (7..=11).contains(&gaps.len()),
            "{file}: {} renewals in {:?}: {gaps:?}",
            gaps.len(),
            TTL * 3
        );
        assert!(
            gaps.iter().all(|g| *g < TTL),
            "{file}: renewed before each expiry: {gaps:?}"
        );
        let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
        assert!(
            mean >= TTL / 4 && mean <= TTL * 2 / 5,
            "{file}: renewed every {mean:?} on average, not about {:?}",
            TTL / 3
        );
    }
    assert_eq!(lease.lost_now(), None);
    lease.release().await.unwrap();
}

/// A lease's tokens are the revisions the store holds, in the order of its
/// sorted claims; they pass `check`, and follow each renewal.
pub async fn a_leases_fencing_tokens_are_the_store_revisions(h: Harness) {
    let (m, observer) = (h.manager().await, h.manager().await);
    let store = h.store().await;
    let lease = m
        .hold(&["/tok/c", "/tok/a", "/tok/b"], &hold("a1", 30))
        .await
        .unwrap();
    let files: Vec<String> = lease.claims().iter().map(|c| c.file.clone()).collect();
    assert_eq!(files, ["/tok/a", "/tok/b", "/tok/c"]);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let stored: Vec<u64> = entries(&m, &*store, &files)
        .await
        .into_iter()
        .map(|e| e.unwrap().revision)
        .collect();
    assert_eq!(lease.tokens(), stored);
    let checks = m.check(&files, "a1", Some(&lease.tokens())).await.unwrap();
    assert!(checks.iter().all(|c| c.is_held()), "{checks:?}");
    lease.release().await.unwrap();

    // A short lease: after its second renewal's event, the first renewal (written
    // by the same task before the second) is the lease's token or behind it.
    let mut sub = observer.subscribe().await.unwrap();
    let lease = m.hold(&[F], &Announce::new("a1", TTL)).await.unwrap();
    let start = lease.tokens()[0];
    let mut renewals = Vec::new();
    while renewals.len() < 2 {
        let event = next_on(&mut sub, F, TTL * 2).await.expect("a renewal");
        if event.revision > start {
            assert!(matches!(event.kind, EventKind::Announced(_)), "{event:?}");
            renewals.push(event.revision);
        }
    }
    let token = lease.tokens()[0];
    assert!(
        token >= renewals[0],
        "token {token} after renewals {renewals:?}"
    );
    let checks = m.check(&[F], "a1", Some(&[start])).await.unwrap();
    assert!(
        matches!(checks[0].state, FileState::TokenMoved(_)),
        "{checks:?}"
    );
    lease.release().await.unwrap();
}

/// A force-release is reported at once (by the watch) with who forced it; the
/// lease writes nothing after it.
pub async fn a_force_released_lease_reports_it_lost(h: Harness) {
    let (m, ops) = (h.manager().await, h.manager().await);
    let store = h.store().await;
    let mut lease = m.hold(&[F], &hold("a1", 30)).await.unwrap();
    let token = lease.tokens()[0];
    let Release::Released { revision } = ops.force_release(F, "oncall").await.unwrap() else {
        panic!("a1 holds it")
    };
    let lost = lost_within(&mut lease, Duration::from_secs(5)).await;
    assert_eq!((lost.file.as_str(), lost.revision), (F, token));
    assert_eq!(
        lost.why,
        LostReason::Released {
            forced_by: Some("oncall".into())
        }
    );
    assert!(
        lost.to_string().contains("force-released by oncall"),
        "{lost}"
    );
    let entry = entries(&m, &*store, &[F]).await.remove(0).unwrap();
    assert_eq!(
        (entry.revision, entry.operation),
        (revision, Operation::Delete)
    );
}

/// Released by another process of the same agent: reported as a plain release.
pub async fn a_lease_released_by_another_manager_reports_it_lost(h: Harness) {
    let (m, other) = (h.manager().await, h.manager().await);
    let mut lease = m.hold(&["/lease/x", F], &hold("a1", 30)).await.unwrap();
    let token = lease
        .claims()
        .iter()
        .find(|c| c.file == F)
        .unwrap()
        .revision;
    other.release(F, "a1").await.unwrap();
    let lost = lost_within(&mut lease, Duration::from_secs(5)).await;
    assert_eq!((lost.file.as_str(), lost.revision), (F, token));
    assert_eq!(lost.why, LostReason::Released { forced_by: None });
}

/// Another agent whose clock says the lease's hold expired takes it over: the
/// lease reports the new holder, and leaves it in place.
pub async fn a_lease_taken_over_after_expiry_reports_the_new_holder(h: Harness) {
    let m = h.manager().await;
    let store = h.store().await;
    let mut lease = m.hold(&[F], &hold("a1", 30)).await.unwrap();
    let token = lease.tokens()[0];
    let clock = OffsetClock::new();
    clock.advance(Duration::from_secs(31));
    let later = h.manager_with(h.config(), Some(Arc::new(clock))).await;
    let taken = later.announce(F, &hold("a2", 30)).await.unwrap();
    let lost = lost_within(&mut lease, Duration::from_secs(5)).await;
    assert_eq!((lost.file.as_str(), lost.revision), (F, token));
    assert_eq!(lost.why, LostReason::TakenOver(taken.clone()));
    let entry = entries(&m, &*store, &[F]).await.remove(0).unwrap();
    assert_eq!(entry.revision, taken.revision, "a2's hold stands");
}

/// A manager with no watch (no replica) learns of losses only by renewing: the
/// renewal over the lease's revision finds the file released (or taken over)
/// and reports it, within a renewal period, and writes nothing: the marker (or
/// the new holder's hold) is still the file's latest entry.
pub async fn a_renewal_never_re_takes_a_file_released_or_taken_over_meanwhile(h: Harness) {
    let mut config = h.config();
    config.replica = false;
    let m = h.manager_with(config, None).await;
    let other = h.manager().await;
    let store = h.store().await;
    let ttl = Announce::new("a1", TTL);

    let mut lease = m.hold(&["/lease/kept", F], &ttl).await.unwrap();
    let token = lease
        .claims()
        .iter()
        .find(|c| c.file == F)
        .unwrap()
        .revision;
    let Release::Released { revision } = other.release(F, "a1").await.unwrap() else {
        panic!("a1 holds it")
    };
    let lost = lost_within(&mut lease, TTL).await;
    assert_eq!(
        (lost.file.as_str(), lost.revision, lost.why),
        (F, token, LostReason::Gone(None))
    );
    let entry = entries(&m, &*store, &[F]).await.remove(0).unwrap();
    assert_eq!(
        (entry.revision, entry.operation),
        (revision, Operation::Delete),
        "not re-taken"
    );
    lease.release().await.unwrap();

    let mut lease = m.hold(&[F], &ttl).await.unwrap();
    let token = lease.tokens()[0];
    let clock = OffsetClock::new();
    clock.advance(TTL + Duration::from_secs(1));
    let later = h.manager_with(h.config(), Some(Arc::new(clock))).await;
    let taken = later.announce(F, &hold("a2", 30)).await.unwrap();
    let lost = lost_within(&mut lease, TTL).await;
    assert_eq!(
        (lost.revision, lost.why),
        (token, LostReason::Gone(Some(taken.clone())))
    );
    let entry = entries(&m, &*store, &[F]).await.remove(0).unwrap();
    assert_eq!(entry.revision, taken.revision, "a2's hold stands");
}

/// No renewal succeeds (the store is unreachable) for longer than the TTL: the
/// lease reports the hold lost as unrenewable, not before it could have expired
/// and within a renewal period after.
pub async fn a_lease_the_store_cannot_renew_for_a_ttl_is_lost(h: Harness) {
    let outage = Outage::new(h.store().await);
    let mut config = h.config();
    config.replica = false;
    let m = h.manager_on_with(outage.clone(), config, None).await;
    let mut lease = m.hold(&[F], &Announce::new("a1", TTL)).await.unwrap();
    outage.set_down(true);
    let cut = tokio::time::Instant::now();
    let lost = lost_within(&mut lease, TTL * 2 + Duration::from_secs(1)).await;
    let after = cut.elapsed();
    assert!(matches!(lost.why, LostReason::Unrenewable(_)), "{lost:?}");
    assert!(lost.to_string().contains("not renewable"), "{lost}");
    // The last renewal was at most TTL/3 before the cut.
    assert!(
        after >= TTL * 2 / 3 - Duration::from_millis(100),
        "reported {after:?} after the cut"
    );
    outage.set_down(false);
}

/// `Lease::release` removes every file; dropping a lease releases them in the
/// background (subscribers see the releases).
pub async fn releasing_or_dropping_a_lease_releases_its_files(h: Harness) {
    let (m, observer) = (h.manager().await, h.manager().await);
    let mut sub = observer.subscribe().await.unwrap();
    let lease = m
        .hold(&["/rel/a", "/rel/b"], &hold("a1", 30))
        .await
        .unwrap();
    lease.release().await.unwrap();
    for file in ["/rel/a", "/rel/b"] {
        assert_eq!(m.who_has(file).await.unwrap(), None, "{file}");
    }
    let dropped = m
        .hold(&["/rel/c", "/rel/d"], &hold("a1", 30))
        .await
        .unwrap();
    drop(dropped);
    for file in ["/rel/c", "/rel/d"] {
        let event = next_removal_on(&mut sub, file, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{file} released after the drop"));
        assert_eq!(event.kind, EventKind::Released { forced_by: None });
    }
}

holds_test_support::matrix! {
    async fn {
        a_lease_renews_at_a_third_of_the_ttl_and_never_expires,
        a_leases_fencing_tokens_are_the_store_revisions,
        a_force_released_lease_reports_it_lost,
        a_lease_released_by_another_manager_reports_it_lost,
        a_lease_taken_over_after_expiry_reports_the_new_holder,
        a_renewal_never_re_takes_a_file_released_or_taken_over_meanwhile,
        a_lease_the_store_cannot_renew_for_a_ttl_is_lost,
        releasing_or_dropping_a_lease_releases_its_files,
    }
    on {
        memory: Harness::new(Kind::Memory).await,
        jetstream: Harness::new(Kind::JetStream).await,
        sqlite: Harness::new(Kind::Sqlite).await,
    }
}
