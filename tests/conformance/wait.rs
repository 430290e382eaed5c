//! Waiting for held files (issue 13, `claim_wait`/`hold_wait`): woken by the
//! watch's release and expiry events, not by polling; one manager's waiters in
//! arrival order; after the deadline, the refusal.

use super::workflow_common::{entries, hold, named};
use holds::{Announce, Error};
use holds_test_support::harness::{Harness, Kind};
use holds_test_support::ops::OpCounts;
use std::time::Duration;

const F: &str = "/wait/f";
/// Long enough that a waiter that returns was woken, not timed out.
const WAIT: Duration = Duration::from_secs(30);
/// A release's event reaches a waiting manager well within this.
const WAKE: Duration = Duration::from_secs(5);

/// While it waits, the waiter reads nothing (its first try's read aside); the
/// release wakes it, and it takes the file.
pub async fn a_waiter_is_woken_by_the_release_not_by_polling(h: Harness) {
    let holder = h.manager().await;
    holder.announce(F, &hold("a1", 30)).await.unwrap();
    let counted = OpCounts::new(h.store().await);
    let m = h.manager_on(counted.clone(), None).await;
    let _watching = m.subscribe().await.unwrap();
    counted.take();
    let waiter = {
        let m = m.clone();
        tokio::spawn(async move { m.claim_wait(&[F], &hold("a2", 30), WAIT).await })
    };
    tokio::time::timeout(WAKE, counted.read.notified())
        .await
        .expect("the waiter's first try read the file");
    let first_try = counted.peek();
    assert!(first_try.reads() <= 2, "{first_try:?}");
    // The subject: 1.5 s of waiting, in which a poller would have read again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(counted.peek(), first_try, "no store call while waiting");
    assert!(!waiter.is_finished(), "still waiting: a1 holds the file");
    let released = tokio::time::Instant::now();
    holder.release(F, "a1").await.unwrap();
    let claimed = tokio::time::timeout(WAKE, waiter)
        .await
        .expect("woken by the release")
        .unwrap()
        .unwrap();
    eprintln!(
        "{:?}: release -> waiter holds the file: {:?}",
        h.kind,
        released.elapsed()
    );
    assert_eq!(claimed.claims[0].hold.agent_id, "a2");
    assert_eq!(
        m.who_has(F).await.unwrap().as_ref(),
        Some(&claimed.claims[0])
    );
}

/// Three waiters of one manager, queued in turn: each release hands the file to
/// the earliest still waiting, and only to it.
pub async fn waiters_in_one_manager_get_the_file_in_arrival_order(h: Harness) {
    let holder = h.manager().await;
    holder.announce(F, &hold("w0", 30)).await.unwrap();
    let counted = OpCounts::new(h.store().await);
    let m = h.manager_on(counted.clone(), None).await;
    let _watching = m.subscribe().await.unwrap();
    let (took, mut order) = tokio::sync::mpsc::unbounded_channel();
    for i in 1..=3 {
        let (m, took) = (m.clone(), took.clone());
        let agent = format!("w{i}");
        tokio::spawn(async move {
            let claimed = m.claim_wait(&[F], &hold(&agent, 30), WAIT).await;
            let _ = took.send((agent, claimed));
        });
        // Queued before its first try reads: the next one arrives after it.
        tokio::time::timeout(WAKE, counted.read.notified())
            .await
            .expect("the waiter's first try");
    }
    let mut releaser = (holder.clone(), "w0".to_string());
    for expected in ["w1", "w2", "w3"] {
        releaser.0.release(F, &releaser.1).await.unwrap();
        let (agent, claimed) = tokio::time::timeout(WAKE, order.recv())
            .await
            .unwrap_or_else(|_| panic!("{expected} woken by the release"))
            .unwrap();
        assert_eq!(agent, expected, "arrival order");
        assert_eq!(claimed.unwrap().claims[0].hold.agent_id, expected);
        assert!(order.try_recv().is_err(), "only {expected} took the file");
        releaser = (m.clone(), agent);
    }
}

/// Past the deadline, the last refusal, naming every holder; nothing written.
pub async fn a_wait_past_its_deadline_is_the_refusal(h: Harness) {
    let holder = h.manager().await;
    let m = h.manager().await;
    let store = h.store().await;
    let claim = holder.announce(F, &hold("a1", 30)).await.unwrap();
    let deadline = Duration::from_millis(500);
    let start = tokio::time::Instant::now();
    match m
        .claim_wait(&[F, "/wait/g"], &hold("a2", 30), deadline)
        .await
    {
        Err(Error::HeldByOthers(holders)) => assert_eq!(holders, vec![claim.clone()]),
        other => panic!("expected held-by-others, got {other:?}"),
    }
    let waited = start.elapsed();
    assert!(
        waited >= deadline && waited < deadline + WAKE,
        "waited {waited:?}"
    );
    assert_eq!(
        entries(&m, &*store, &["/wait/g"]).await,
        vec![None],
        "nothing written"
    );
    match m.hold_wait(&[F], &hold("a2", 30), deadline).await {
        Err(e) => assert_eq!(named(&e), vec![(F.to_string(), "a1".to_string())]),
        Ok(_) => panic!("a1 holds {F}"),
    }
}

/// An expiry wakes a waiter as a release does; `hold_wait` then keeps the file.
pub async fn an_expiry_wakes_a_waiter(h: Harness) {
    let holder = h.manager().await;
    let m = h.manager().await;
    let first = holder
        .announce(F, &Announce::new("a1", Duration::from_secs(1)))
        .await
        .unwrap();
    let lease = tokio::time::timeout(WAKE, m.hold_wait(&[F], &hold("a2", 30), WAIT))
        .await
        .expect("woken by the expiry")
        .unwrap();
    let claim = &lease.claims()[0];
    assert_eq!(claim.hold.agent_id, "a2");
    assert!(claim.revision > first.revision);
    assert!(
        claim.hold.claimed_at >= first.hold.expires_at,
        "taken after the expiry"
    );
    lease.release().await.unwrap();
}

holds_test_support::matrix! {
    async fn {
        a_waiter_is_woken_by_the_release_not_by_polling,
        waiters_in_one_manager_get_the_file_in_arrival_order,
        a_wait_past_its_deadline_is_the_refusal,
        an_expiry_wakes_a_waiter,
    }
    on {
        memory: Harness::new(Kind::Memory).await,
        jetstream: Harness::new(Kind::JetStream).await,
        sqlite: Harness::new(Kind::Sqlite).await,
    }
}
