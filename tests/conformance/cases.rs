//! The cases of the conformance suite: the Go package's test list, plus what
//! holds does better (revision-gated release, fencing tokens, awkward paths).

use super::staged::{Delayed, HeldWatch, PausedDeletes, RacingWrites, StalledSweeps};
use holds::clock::{Clock, OffsetClock};
use holds::kv::KvStore;
use holds::{Announce, Error, Event, EventKind, Hold, Manager, Release, Subscription};
use holds_test_support::harness::{Harness, TTL_MAX};
use holds_test_support::ops::OpCounts;
use holds_test_support::raw;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How long after a 1 s hold's announce its expired event may take. Generous
/// (a wrong TTL would be the bucket's 60 s, or an earlier hold's 30 s): SQLite's
/// sweeps wait on the disk, and another test's fsyncs once stretched one past
/// 1.5 s.
const EXPIRY_WINDOW: Duration = Duration::from_secs(3);
use tokio::sync::Notify;

const F: &str = "/work/a.txt";

fn hold(agent: &str, secs: u64) -> Announce {
    Announce::new(agent, Duration::from_secs(secs)).checkout(format!("/co/{agent}"))
}

async fn next(sub: &mut Subscription) -> Result<Event, Error> {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("no event within 10 s")
        .expect("the subscription ended")
}

fn holder(event: &Event) -> &str {
    match &event.kind {
        EventKind::Announced(h) => &h.agent_id,
        other => panic!("expected an announce, got {other:?}"),
    }
}

pub async fn announce_who_has_release_happy_path(h: Harness) {
    let m = h.manager().await;
    let claim = m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(claim.file, F);
    assert_eq!(claim.hold.agent_id, "a1");
    assert_eq!(claim.hold.checkout_path, "/co/a1");
    assert_eq!(claim.hold.ttl, Duration::from_secs(30));
    assert_eq!(
        claim
            .hold
            .expires_at
            .duration_since(claim.hold.claimed_at)
            .unwrap(),
        Duration::from_secs(30)
    );
    assert_eq!(m.who_has(F).await.unwrap(), Some(claim.clone()));
    let out = m.release(F, "a1").await.unwrap();
    assert!(matches!(out, Release::Released { revision } if revision > claim.revision));
    assert_eq!(m.who_has(F).await.unwrap(), None);
}

pub async fn same_agent_reannounce_renews_and_moves_claimed_at(h: Harness) {
    let clock = OffsetClock::new();
    let m = h
        .manager_with(h.config(), Some(Arc::new(clock.clone())))
        .await;
    let first = m.announce(F, &hold("a1", 30)).await.unwrap();
    // The guest reads the time of the claim from this clock.
    clock.advance(Duration::from_millis(5));
    let second = m.announce(F, &hold("a1", 10)).await.unwrap();
    assert!(second.hold.claimed_at > first.hold.claimed_at);
    assert!(second.revision > first.revision);
    assert_eq!(
        second.hold.ttl,
        Duration::from_secs(10),
        "the whole value is replaced"
    );
    assert_eq!(m.who_has(F).await.unwrap(), Some(second));
}

pub async fn another_agents_live_hold_is_refused_with_the_holder(h: Harness) {
    let (m1, m2) = (h.manager().await, h.manager().await);
    let claim = m1.announce(F, &hold("a1", 30)).await.unwrap();
    match m2.announce(F, &hold("a2", 30)).await {
        Err(Error::HeldByAnother(holder)) => assert_eq!(*holder, claim),
        other => panic!("expected held-by-another, got {other:?}"),
    }
    assert_eq!(m2.who_has(F).await.unwrap().unwrap().hold.agent_id, "a1");
}

pub async fn release_by_the_wrong_agent_changes_nothing(h: Harness) {
    let m = h.manager().await;
    let claim = m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(m.release(F, "a2").await.unwrap(), Release::NotHeld);
    assert_eq!(m.who_has(F).await.unwrap(), Some(claim));
}

pub async fn release_of_a_missing_file_is_a_no_op(h: Harness) {
    let m = h.manager().await;
    assert_eq!(
        m.release("/never/held", "a1").await.unwrap(),
        Release::NotHeld
    );
    let key = m.key_for_test("/never/held").await.unwrap();
    assert_eq!(
        h.store().await.get(&key).await.unwrap(),
        None,
        "no marker was written"
    );
}

pub async fn who_has_an_unclaimed_file_is_none(h: Harness) {
    let m = h.manager().await;
    assert_eq!(m.who_has("/nobody/holds/this").await.unwrap(), None);
}

pub async fn probe_is_healthy_and_fails_after_close(h: Harness) {
    let m = h.manager().await;
    m.probe().await.unwrap();
    m.close().await;
    assert_eq!(m.probe().await, Err(Error::Closed));
}

pub async fn path_with_spaces_round_trips_through_the_key(h: Harness) {
    let m = h.manager().await;
    let file = "/work/with space/foo.txt";
    let claim = m.announce(file, &hold("a1", 30)).await.unwrap();
    assert_eq!(claim.file, file);
    assert_eq!(
        m.key_for_test(file).await.unwrap(),
        "=2Fwork=2Fwith=20space=2Ffoo.txt"
    );
    assert_eq!(m.who_has(file).await.unwrap().unwrap().file, file);
    let listed = m.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].file, file);
}

pub async fn preconditions_are_invalid_input_and_write_nothing(h: Harness) {
    let m = h.manager().await;
    let cases: Vec<(&str, Announce, &str)> = vec![
        (F, Announce::new("", Duration::from_secs(1)), "agent-id"),
        (F, Announce::new("  \t", Duration::from_secs(1)), "agent-id"),
        (F, Announce::new("a1", Duration::ZERO), "ttl"),
        (
            F,
            Announce::new("a1", TTL_MAX + Duration::from_nanos(1)),
            "ttl",
        ),
        ("", Announce::new("a1", Duration::from_secs(1)), "file"),
        (
            "work/a.txt",
            Announce::new("a1", Duration::from_secs(1)),
            "file",
        ),
        (
            "./a.txt",
            Announce::new("a1", Duration::from_secs(1)),
            "file",
        ),
    ];
    for (file, announce, field) in cases {
        match m.announce(file, &announce).await {
            Err(Error::InvalidInput { field: got, .. }) => {
                assert_eq!(got, field, "{file:?} {announce:?}")
            }
            other => panic!("{file:?} {announce:?}: expected invalid input, got {other:?}"),
        }
    }
    assert!(matches!(
        m.release(F, "").await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        m.release("rel", "a1").await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        m.who_has("").await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(m.list().await.unwrap(), vec![], "nothing was written");
    let key = m.key_for_test(F).await.unwrap();
    assert_eq!(h.store().await.get(&key).await.unwrap(), None);
}

pub async fn every_call_after_close_is_closed_and_close_is_idempotent(h: Harness) {
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    m.close().await;
    m.close().await;
    assert_eq!(m.announce(F, &hold("a1", 1)).await, Err(Error::Closed));
    assert_eq!(m.release(F, "a1").await, Err(Error::Closed));
    assert_eq!(m.who_has(F).await, Err(Error::Closed));
    assert!(matches!(m.subscribe().await, Err(Error::Closed)));
    assert_eq!(m.probe().await, Err(Error::Closed));
    assert!(
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn cas_retry_when_a_raw_write_races_a_renewal(h: Harness) {
    let m = h.manager().await;
    let first = m.announce(F, &hold("a1", 30)).await.unwrap();
    // Another client renews a1's hold between our read and our write.
    let mut raced = first.hold.clone();
    raced.claimed_at += Duration::from_millis(1);
    let raw = holds_test_support::go::value(&raced);
    let racing = Arc::new(RacingWrites {
        inner: h.store().await,
        raw: raw.into(),
        races: AtomicU32::new(1),
    });
    // No replica: the decision is on a fresh read, so the raced write is a lost
    // race (on a replica's hint it would be a re-read, which is no retry).
    let mut cold = h.config();
    cold.replica = false;
    let m2 = h.manager_on_with(racing, cold, None).await;
    let retries = Arc::new(Mutex::new(Vec::new()));
    let seen = retries.clone();
    m2.set_cas_retry_observer_for_test(Some(Arc::new(move |key: &str, attempt| {
        seen.lock().unwrap().push((key.to_string(), attempt));
    })));
    let renewed = m2.announce(F, &hold("a1", 30)).await.unwrap();
    let key = m.key_for_test(F).await.unwrap();
    assert_eq!(
        *retries.lock().unwrap(),
        vec![(key, 2)],
        "one retry, fired for attempt 2"
    );
    assert!(
        renewed.revision >= first.revision + 2,
        "written after the raw write"
    );
    assert_eq!(m.who_has(F).await.unwrap(), Some(renewed));
}

pub async fn cas_attempts_are_exhausted_after_eight_lost_races(h: Harness) {
    let m = h.manager().await;
    let first = m.announce(F, &hold("a1", 30)).await.unwrap();
    let raw = holds_test_support::go::value(&first.hold);
    let racing = Arc::new(RacingWrites {
        inner: h.store().await,
        raw: raw.into(),
        races: AtomicU32::new(100),
    });
    let m2 = h.manager_on(racing, None).await;
    let retries = Arc::new(AtomicU32::new(0));
    let count = retries.clone();
    m2.set_cas_retry_observer_for_test(Some(Arc::new(move |_: &str, _| {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    })));
    assert_eq!(
        m2.announce(F, &hold("a1", 30)).await,
        Err(Error::CasExhausted(8))
    );
    assert_eq!(
        retries.load(std::sync::atomic::Ordering::SeqCst),
        7,
        "no retry after the final verdict"
    );
}

pub async fn sixteen_agents_race_for_one_file_and_exactly_one_wins(h: Harness) {
    let mut managers = Vec::new();
    for _ in 0..4 {
        managers.push(h.manager().await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let m = managers[i % 4].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                m.announce(F, &hold(&format!("agent-{i}"), 30)).await
            })
        })
        .collect();
    let (mut won, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::HeldByAnother(_)) => refused += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((won, refused), (1, 15));
}

pub async fn eight_concurrent_renewals_by_one_agent_all_succeed(h: Harness) {
    let m = h.manager().await;
    m.announce(F, &hold("a1", 30)).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move { m.announce(F, &hold("a1", 30)).await })
        })
        .collect();
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(
            task.await
                .unwrap()
                .expect("every renewal succeeds")
                .revision,
        );
    }
    revisions.sort();
    revisions.dedup();
    assert_eq!(revisions.len(), 8, "each renewal wrote its own revision");
}

pub async fn subscribe_sees_announce_and_release(h: Harness) {
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    let claim = m.announce(F, &hold("a1", 30)).await.unwrap();
    let e = next(&mut sub).await.unwrap();
    assert_eq!(
        e,
        Event {
            file: F.into(),
            scope: holds::Scope::File,
            revision: claim.revision,
            kind: EventKind::Announced(claim.hold.clone())
        }
    );
    let Release::Released { revision } = m.release(F, "a1").await.unwrap() else {
        panic!("not released")
    };
    let e = next(&mut sub).await.unwrap();
    assert_eq!(
        e,
        Event {
            file: F.into(),
            scope: holds::Scope::File,
            revision,
            kind: EventKind::Released { forced_by: None }
        }
    );
}

pub async fn subscription_ends_on_drop_and_on_close(h: Harness) {
    let m = h.manager().await;
    let dropped = m.subscribe().await.unwrap();
    let mut kept = m.subscribe().await.unwrap();
    drop(dropped);
    m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(holder(&next(&mut kept).await.unwrap()), "a1");
    m.close().await;
    let end = tokio::time::timeout(Duration::from_secs(5), kept.next())
        .await
        .expect("ended promptly");
    assert!(end.is_none(), "close ends the stream cleanly, got {end:?}");
}

pub async fn two_subscribers_both_see_an_event(h: Harness) {
    let (m1, m2) = (h.manager().await, h.manager().await);
    let mut s1 = m1.subscribe().await.unwrap();
    let mut s2 = m2.subscribe().await.unwrap();
    m1.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(holder(&next(&mut s1).await.unwrap()), "a1");
    assert_eq!(holder(&next(&mut s2).await.unwrap()), "a1");
}

pub async fn snapshot_has_live_holds_only(h: Harness) {
    let m = h.manager().await;
    m.announce("/live", &hold("a1", 30)).await.unwrap();
    m.announce("/released", &hold("a1", 30)).await.unwrap();
    m.release("/released", "a1").await.unwrap();
    m.announce("/expired", &Announce::new("a1", Duration::from_millis(20)))
        .await
        .unwrap();
    // A manager whose clock is past the 20 ms hold's expiry: the guest judges the
    // snapshot by it.
    let later = OffsetClock::new();
    later.advance(Duration::from_millis(50));
    let fresh = h.manager_with(h.config(), Some(Arc::new(later))).await;
    let mut sub = fresh.subscribe().await.unwrap();
    let snapshot = sub.take_snapshot();
    let files: Vec<&str> = snapshot.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(
        files,
        vec!["/live"],
        "markers and expired holds are not in the snapshot"
    );
    assert_eq!(holder(&snapshot[0]), "a1");
}

pub async fn slow_subscriber_lags_without_stalling_others(h: Harness) {
    let mut config = h.config();
    config.chan_buffer = 2;
    let m = h.manager_with(config, None).await;
    let mut slow = m.subscribe().await.unwrap();
    let mut fast = m.subscribe().await.unwrap();
    for i in 0..6 {
        let file = format!("/f{i}");
        m.announce(&file, &hold("a1", 30)).await.unwrap();
        assert_eq!(
            next(&mut fast).await.unwrap().file,
            file,
            "the fast subscriber keeps up"
        );
    }
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), slow.next())
            .await
            .unwrap()
        {
            Some(Ok(e)) => got.push(e.file),
            Some(Err(e)) => {
                assert_eq!(e, Error::Lagged(2));
                break;
            }
            None => panic!("ended without saying it lagged"),
        }
    }
    assert_eq!(
        got,
        vec!["/f0", "/f1"],
        "it got its buffer's worth, in order"
    );
    assert!(slow.next().await.is_none(), "then the stream ends");
}

pub async fn short_hold_is_vacant_after_it_expires(h: Harness) {
    let clock = OffsetClock::new();
    let m = h
        .manager_with(h.config(), Some(Arc::new(clock.clone())))
        .await;
    m.announce(F, &Announce::new("a1", Duration::from_millis(50)))
        .await
        .unwrap();
    // Past the hold's expiry on the clock the guest judges it by.
    clock.advance(Duration::from_millis(100));
    assert_eq!(m.who_has(F).await.unwrap(), None);
}

pub async fn another_agent_takes_over_an_expired_hold(h: Harness) {
    let clock = OffsetClock::new();
    let m = h
        .manager_with(h.config(), Some(Arc::new(clock.clone())))
        .await;
    let first = m
        .announce(F, &Announce::new("a1", Duration::from_millis(50)))
        .await
        .unwrap();
    // Past a1's expiry on the clock the guest judges it by.
    clock.advance(Duration::from_millis(100));
    let taken = m.announce(F, &hold("a2", 30)).await.unwrap();
    assert_eq!(taken.hold.agent_id, "a2");
    assert!(taken.revision > first.revision);
    assert_eq!(m.who_has(F).await.unwrap(), Some(taken));
}

pub async fn hold_expiring_exactly_now_is_still_live(h: Harness) {
    // A clock that stands still at the instant a1's hold expires.
    struct Frozen(i64);
    impl Clock for Frozen {
        fn now(&self) -> i64 {
            self.0
        }
    }
    let m = h.manager().await;
    let claim = m.announce(F, &hold("a1", 30)).await.unwrap();
    let expiry = claim
        .hold
        .expires_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let at_expiry = h
        .manager_with(h.config(), Some(Arc::new(Frozen(expiry))))
        .await;
    assert!(at_expiry.who_has(F).await.unwrap().is_some());
    assert!(matches!(
        at_expiry.announce(F, &hold("a2", 30)).await,
        Err(Error::HeldByAnother(_))
    ));
    let after = h
        .manager_with(h.config(), Some(Arc::new(Frozen(expiry + 1))))
        .await;
    assert_eq!(after.who_has(F).await.unwrap(), None);
}

pub async fn revision_gated_release_survives_a_racing_take_over(h: Harness) {
    let m = h.manager().await;
    m.announce(F, &hold("a1", 1)).await.unwrap();
    // a1 releases, but its delete is held back after it judged its hold live...
    let reached = Arc::new(Notify::new());
    let go = Arc::new(Notify::new());
    let paused = Arc::new(PausedDeletes {
        inner: h.store().await,
        delete_reached: reached.clone(),
        release_deletes: go.clone(),
    });
    let a1 = h.manager_on(paused, None).await;
    let release = tokio::spawn(async move { a1.release(F, "a1").await });
    reached.notified().await;
    // ...while a2, whose clock is past a1's expiry, takes the hold over.
    let late = OffsetClock::new();
    late.advance(Duration::from_secs(2));
    let a2 = h.manager_with(h.config(), Some(Arc::new(late))).await;
    let taken = a2.announce(F, &hold("a2", 30)).await.unwrap();
    go.notify_one();
    // The stale delete loses the revision race; the retry sees a2's hold: no-op.
    assert_eq!(release.await.unwrap().unwrap(), Release::NotHeld);
    assert_eq!(
        m.who_has(F).await.unwrap(),
        Some(taken),
        "a2's hold survived a1's release"
    );
}

pub async fn fencing_token_grows_with_every_announce(h: Harness) {
    let m = h.manager().await;
    let late = OffsetClock::new();
    let other = h
        .manager_with(h.config(), Some(Arc::new(late.clone())))
        .await;
    let mut revisions = vec![
        m.announce(F, &hold("a1", 1)).await.unwrap().revision,
        m.announce(F, &hold("a1", 1)).await.unwrap().revision,
    ];
    late.advance(Duration::from_secs(2));
    revisions.push(other.announce(F, &hold("a2", 1)).await.unwrap().revision);
    other.release(F, "a2").await.unwrap();
    revisions.push(m.announce(F, &hold("a1", 1)).await.unwrap().revision);
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
}

pub async fn awkward_paths_get_valid_keys_and_round_trip(h: Harness) {
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    let paths = [
        "/w/tilde~x",
        "/w/$dollar",
        "/w/a&b",
        "/w/a+b",
        "/w/c:d",
        "/w/user@host",
        "/w/a=b",
        "/w/trailing.",
        "/w/..dots",
        "/w/x..y",
        "/w/é ü 漢字",
        "/w/%41",
        "/w/#?;,",
    ];
    for path in paths {
        // A glob wildcard in a file's name is announced escaped.
        let asked = path.replace('?', "\\?");
        let claim = m
            .announce(&asked, &hold("a1", 30))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(claim.file, path);
        assert_eq!(m.who_has(path).await.unwrap().unwrap().file, path);
        assert_eq!(next(&mut sub).await.unwrap().file, path);
        let key = m.key_for_test(path).await.unwrap();
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b)),
            "{key}"
        );
        assert_eq!(m.file_for_key_for_test(&key).await.unwrap(), path);
    }
    // Paths are cleaned before keying.
    assert_eq!(
        m.who_has("/w//x/../tilde~x").await.unwrap().unwrap().file,
        "/w/tilde~x"
    );
}

pub async fn go_wire_vectors_and_a_raw_go_value_read_back(h: Harness) {
    let m = h.manager().await;
    for (file, key) in [
        ("/work/a.txt", "=2Fwork=2Fa.txt"),
        (
            "/work/with space/foo.txt",
            "=2Fwork=2Fwith=20space=2Ffoo.txt",
        ),
        ("/w/é.txt", "=2Fw=2F=C3=A9.txt"),
    ] {
        assert_eq!(m.key_for_test(file).await.unwrap(), key);
    }
    // A value exactly as Go's encoding/json writes it, by another client.
    let claimed = SystemTime::now();
    let expires = claimed + Duration::from_secs(30);
    let go = format!(
        r#"{{"agent_id":"go-agent","claimed_at":"{}","expires_at":"{}","checkout_path":"/tmp/co","ttl":30000000000,"future_field":true}}"#,
        holds::rfc3339(claimed),
        holds::rfc3339(expires)
    );
    let revision = raw::put(&*h.store().await, "=2Fwork=2Fa.txt", go)
        .await
        .unwrap();
    let claim = m
        .who_has("/work/a.txt")
        .await
        .unwrap()
        .expect("the Go hold is live");
    assert_eq!(claim.revision, revision);
    assert_eq!(
        claim.hold,
        Hold {
            agent_id: "go-agent".into(),
            claimed_at: claimed,
            expires_at: expires,
            checkout_path: "/tmp/co".into(),
            ttl: Duration::from_secs(30),
            mode: holds::Mode::Exclusive,
        }
    );
    // And what announce stores is Go's exact format, byte for byte.
    let ours = m
        .announce(
            "/work/b.txt",
            &Announce::new("<a&b>", Duration::from_secs(30)).checkout("/tmp/co"),
        )
        .await
        .unwrap();
    let stored = h
        .store()
        .await
        .get("=2Fwork=2Fb.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(stored.value.to_vec()).unwrap(),
        String::from_utf8(holds_test_support::go::value(&ours.hold)).unwrap()
    );
}

pub async fn corrupt_value_is_a_corrupt_entry_error(h: Harness) {
    let m = h.manager().await;
    let key = m.key_for_test(F).await.unwrap();
    let revision = raw::put(&*h.store().await, &key, &b"{not a hold"[..])
        .await
        .unwrap();
    for result in [
        m.who_has(F).await.map(|_| ()),
        m.announce(F, &hold("a1", 30)).await.map(|_| ()),
        m.release(F, "a1").await.map(|_| ()),
    ] {
        match result {
            Err(Error::CorruptEntry {
                key: k,
                revision: r,
                ..
            }) => assert_eq!((k.as_str(), r), (key.as_str(), revision)),
            other => panic!("expected a corrupt entry error, got {other:?}"),
        }
    }
    assert_eq!(
        h.store().await.get(&key).await.unwrap().unwrap().revision,
        revision,
        "nothing changed"
    );
}

pub async fn list_returns_every_live_hold(h: Harness) {
    let m: Manager = h.manager().await;
    for i in 0..5 {
        m.announce(&format!("/list/{i}"), &hold(&format!("a{i}"), 30))
            .await
            .unwrap();
    }
    m.release("/list/2", "a2").await.unwrap();
    let listed = h.manager().await.list().await.unwrap();
    let files: Vec<String> = listed.iter().map(|c| c.file.clone()).collect();
    assert_eq!(files, vec!["/list/0", "/list/1", "/list/3", "/list/4"]);
}

/// With a warm replica every announce outcome and every release is one round trip.
pub async fn warm_replica_makes_each_decision_one_round_trip(h: Harness) {
    let counting = OpCounts::new(h.store().await);
    let take = || {
        let o = counting.take();
        (o.gets, o.writes, o.deletes)
    };
    let m = h.manager_on(counting.clone(), None).await;
    let other = h.manager().await;
    let mut watching = m.subscribe().await.unwrap(); // the replica is ready once this returns
    let mut other_watching = other.subscribe().await.unwrap();
    take();

    m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(take(), (0, 1, 0), "vacant: one write");
    m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(take(), (0, 1, 0), "renewal: one write");
    m.release(F, "a1").await.unwrap();
    assert_eq!(take(), (0, 0, 1), "release: one delete");
    m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(take(), (0, 1, 0), "reused (released) key: one write");

    // Another agent's hold, once the watch has brought it: one confirming read.
    for _ in 0..3 {
        next(&mut watching).await.unwrap();
    }
    other.announce("/other", &hold("a2", 30)).await.unwrap();
    loop {
        if next(&mut watching).await.unwrap().file == "/other" {
            break;
        }
    }
    assert!(matches!(
        m.announce("/other", &hold("a1", 30)).await,
        Err(Error::HeldByAnother(_))
    ));
    assert_eq!(take(), (1, 0, 0), "held by another: one confirming read");
    assert!(m.who_has_cached("/other").await.unwrap().is_some());
    assert_eq!(take(), (0, 0, 0), "who_has_cached reads nothing");
    drop(other_watching.take_snapshot());
}

/// Without a replica (one-shot processes), every announce is a read and a write.
pub async fn cold_announce_is_one_read_and_one_write(h: Harness) {
    let counting = OpCounts::new(h.store().await);
    let take = || {
        let o = counting.take();
        (o.gets, o.writes, o.deletes)
    };
    let mut config = h.config();
    config.replica = false;
    let m = h
        .builder(config)
        .open(holds::Backend::Store(counting.clone()))
        .await
        .unwrap();
    m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(take(), (1, 1, 0), "never used");
    m.announce(F, &hold("a1", 30)).await.unwrap();
    assert_eq!(take(), (1, 1, 0), "renewal");
    m.release(F, "a1").await.unwrap();
    assert_eq!(take(), (1, 0, 1), "release");
    m.announce(F, &hold("a2", 30)).await.unwrap();
    assert_eq!(
        take(),
        (1, 1, 0),
        "released before: still one write, at the marker's revision"
    );
}

/// Wait for the next event on `file` that is not an announce of it, skipping others.
async fn next_removal(sub: &mut Subscription, file: &str, within: Duration) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, sub.next()).await {
            Err(_) => return None,
            Ok(None) => panic!("the subscription ended"),
            Ok(Some(Err(e))) => panic!("the subscription failed: {e}"),
            Ok(Some(Ok(e))) if e.file == file && !matches!(e.kind, EventKind::Announced(_)) => {
                return Some(e);
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub async fn one_second_hold_produces_an_expired_event(h: Harness) {
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    let claim = m
        .announce(F, &Announce::new("a1", Duration::from_secs(1)))
        .await
        .unwrap();
    let event = next_removal(&mut sub, F, EXPIRY_WINDOW)
        .await
        .expect("an expired event within EXPIRY_WINDOW of the announce");
    assert_eq!(event.kind, EventKind::Expired, "expiry is not a release");
    assert!(event.revision > claim.revision);
    assert_eq!(m.who_has(F).await.unwrap(), None);
}

/// A hold renewed well before each expiry never expires; unrenewed, it does.
///
/// Real time, on every backend: JetStream enforces the TTL itself, and the other
/// backends' sweeps run on timers. So the margins are wide and nothing drifts:
/// each renewal is due a third of the TTL after the claim it renews (not after the
/// previous call returned), two thirds of the TTL before that claim expires, and
/// every wait is a wait for a removal event that must not come.
pub async fn renewing_before_expiry_prevents_the_expired_event(h: Harness) {
    const TTL: Duration = Duration::from_secs(3);
    const RENEW_AFTER: Duration = Duration::from_secs(1);
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    let first = m.announce(F, &Announce::new("a1", TTL)).await.unwrap();
    // No removal until well past the moment the first hold would have expired.
    let quiet_until = first.hold.expires_at + Duration::from_millis(500);
    let mut last = first.clone();
    loop {
        let due = last.hold.claimed_at + RENEW_AFTER;
        let renew = due <= quiet_until;
        let until = if renew { due } else { quiet_until };
        let left = until
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if let Some(removed) = next_removal(&mut sub, F, left).await {
            panic!(
                "{removed:?} while a1 renewed its hold every {RENEW_AFTER:?}; last claim {last:?}"
            );
        }
        if !renew {
            break;
        }
        let renewed = m.announce(F, &Announce::new("a1", TTL)).await.unwrap();
        // Written while the hold it renews was live, so no expiry may come between.
        // If not, this machine stalled for longer than the margin and the run proves
        // nothing: say so rather than blame the product.
        let late = SystemTime::now().duration_since(last.hold.expires_at);
        assert!(
            late.is_err(),
            "inconclusive: a renewal returned {:?} after the hold it renews expired (a stall of over {:?})",
            late.unwrap_or_default(),
            TTL - RENEW_AFTER
        );
        last = renewed;
    }
    assert_eq!(m.who_has(F).await.unwrap().unwrap().hold.agent_id, "a1");
    // Unrenewed, the last hold expires: its event within 1.8 s of the expiry.
    let left = (last.hold.expires_at + Duration::from_millis(1800))
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let event = next_removal(&mut sub, F, left)
        .await
        .expect("it expires in the end");
    assert_eq!(event.kind, EventKind::Expired);
    assert!(event.revision > last.revision, "{event:?} after {last:?}");
}

pub async fn new_holds_over_expired_and_released_keys_keep_their_ttl(h: Harness) {
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    // Over an expiry marker...
    m.announce(F, &Announce::new("a1", Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        next_removal(&mut sub, F, EXPIRY_WINDOW)
            .await
            .map(|e| e.kind),
        Some(EventKind::Expired)
    );
    let over_expired = m
        .announce(F, &Announce::new("a2", Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(over_expired.hold.agent_id, "a2");
    assert_eq!(
        next_removal(&mut sub, F, EXPIRY_WINDOW)
            .await
            .map(|e| e.kind),
        Some(EventKind::Expired),
        "the new hold expired at its own TTL"
    );
    // ...and over a release marker.
    m.announce(F, &hold("a3", 30)).await.unwrap();
    m.release(F, "a3").await.unwrap();
    assert_eq!(
        next_removal(&mut sub, F, Duration::from_secs(5))
            .await
            .map(|e| e.kind),
        Some(EventKind::Released { forced_by: None })
    );
    m.announce(F, &Announce::new("a4", Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        next_removal(&mut sub, F, EXPIRY_WINDOW)
            .await
            .map(|e| e.kind),
        Some(EventKind::Expired)
    );
}

pub async fn take_over_after_an_expired_event_works(h: Harness) {
    let (m1, m2) = (h.manager().await, h.manager().await);
    let mut sub = m2.subscribe().await.unwrap();
    let first = m1
        .announce(F, &Announce::new("a1", Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        next_removal(&mut sub, F, EXPIRY_WINDOW)
            .await
            .map(|e| e.kind),
        Some(EventKind::Expired)
    );
    let taken = m2.announce(F, &hold("a2", 30)).await.unwrap();
    assert!(taken.revision > first.revision);
    assert_eq!(m1.who_has(F).await.unwrap(), Some(taken));
}

/// The bucket's max age is its creator's: a manager allowing longer holds would see
/// them deleted early, so it is refused; a shorter maximum is fine.
pub async fn a_manager_allowing_holds_longer_than_the_bucket_keeps_them_is_refused(h: Harness) {
    h.manager().await; // creates the bucket with TTL_MAX
    let mut longer = h.config();
    longer.hold_ttl_max = TTL_MAX * 2;
    match h.builder(longer).open(h.backend().await).await {
        Err(Error::Config(why)) => assert!(
            why.contains("keeps entries for 60s, less than the maximum TTL 120s"),
            "{why}"
        ),
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error"),
    }
    let mut shorter = h.config();
    shorter.hold_ttl_max = TTL_MAX / 2;
    let m = h.builder(shorter).open(h.backend().await).await.unwrap();
    assert!(matches!(
        m.announce(F, &Announce::new("a1", TTL_MAX)).await,
        Err(Error::InvalidInput { .. })
    ));
}

/// Events of `sub` until nothing arrives for `quiet`.
async fn drain(sub: &mut Subscription, quiet: Duration) -> Vec<Event> {
    let mut events = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(quiet, sub.next()).await {
        events.push(item.expect("the subscription failed"));
    }
    events
}

/// A hold whose TTL equals the bucket's max age: the store may age the entry out
/// (with no marker) a few microseconds after the hold expires; that is still one
/// `expired` event, like any expiry by TTL.
pub async fn a_hold_whose_ttl_is_the_buckets_max_age_expires_with_one_event(h: Harness) {
    let h = h.with_max_age(Duration::from_secs(2));
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    let claim = m
        .announce(F, &Announce::new("a1", Duration::from_secs(2)))
        .await
        .unwrap();
    let expired = next_removal(&mut sub, F, Duration::from_secs(5))
        .await
        .expect("an expired event for a hold as long as the bucket's max age");
    assert_eq!(expired.kind, EventKind::Expired);
    assert!(expired.revision > claim.revision);
    let later = drain(&mut sub, Duration::from_millis(1500)).await;
    assert!(
        later.is_empty(),
        "exactly one event for the expiry: {later:?}"
    );
    assert_eq!(m.who_has(F).await.unwrap(), None);
    assert_eq!(m.who_has_cached(F).await.unwrap(), None);
}

/// A manager allowing shorter holds than the bucket keeps (another process, or a
/// Go agent, created it) keeps other agents' long holds in its replica.
pub async fn the_replica_keeps_holds_for_the_buckets_max_age_not_this_managers(h: Harness) {
    let creator = h.manager().await;
    let claim = creator.announce(F, &hold("a1", 30)).await.unwrap();
    let mut short = h.config();
    short.hold_ttl_max = Duration::from_secs(1);
    let m = h.manager_with(short, None).await;
    m.subscribe().await.unwrap(); // the replica is warm
    // Past this manager's maximum TTL (and a replica prune every second, were it
    // pruned by it), well within the bucket's max age. Real time on purpose: the
    // prune runs on a timer and ages entries by the store's write time, which no
    // injected clock moves; letting that time pass is what this case checks.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(m.who_has_cached(F).await.unwrap(), Some(claim.clone()));
    let mut late = m.subscribe().await.unwrap();
    let snapshot = late.take_snapshot();
    assert_eq!(snapshot.len(), 1, "{snapshot:?}");
    assert_eq!(holder(&snapshot[0]), "a1");
}

/// Keys holds would never write (Go leaves `=` unescaped: its key for `/x=41` is
/// `=2Fx=41`, which reads as `/xA`; lowercase escapes; literal bytes) are never
/// reported as another file's hold.
pub async fn a_key_holds_would_not_write_is_never_read_as_another_files_hold(h: Harness) {
    let m = h.manager().await;
    let mut sub = m.subscribe().await.unwrap();
    let go_hold = holds_test_support::go::value(&Hold {
        agent_id: "go-agent".into(),
        claimed_at: SystemTime::now(),
        expires_at: SystemTime::now() + Duration::from_secs(30),
        checkout_path: "/co/go".into(),
        ttl: Duration::from_secs(30),
        mode: holds::Mode::Exclusive,
    });
    let store = h.store().await;
    for key in ["=2Fx=41", "=2fxA", "xA"] {
        raw::put(&*store, key, go_hold.clone()).await.unwrap();
    }
    assert_eq!(m.who_has("/xA").await.unwrap(), None);
    assert!(
        m.list().await.unwrap().is_empty(),
        "no live hold is ours to name"
    );
    let mut late = m.subscribe().await.unwrap();
    assert!(late.take_snapshot().is_empty());
    // The holds own key for /xA, written after them: the first event anyone sees.
    let claim = m.announce("/xA", &hold("a1", 30)).await.unwrap();
    let first = next(&mut sub).await.unwrap();
    assert_eq!(
        (first.file.as_str(), first.revision),
        ("/xA", claim.revision)
    );
}

/// Dropping a subscription removes it at once, not at the next event.
pub async fn dropped_subscriptions_leave_the_manager_at_once(h: Harness) {
    let m = h.manager().await;
    let kept = m.subscribe().await.unwrap();
    for _ in 0..1000 {
        drop(m.subscribe().await.unwrap());
    }
    assert_eq!(m.stats().subscribers, 1);
    drop(kept);
    assert_eq!(m.stats().subscribers, 0);
}

/// More concurrent calls than the process has guest instance slots wait for one,
/// and every change still reaches the subscriber.
pub async fn a_thousand_concurrent_calls_on_eight_managers_all_succeed(h: Harness) {
    const CALLS: usize = 1000;
    // Every store round trip takes a while, so calls hold their instances.
    let store: Arc<dyn KvStore> = Arc::new(Delayed {
        inner: h.store().await,
        delay: Duration::from_millis(20),
    });
    let mut managers = Vec::new();
    for _ in 0..8 {
        managers.push(h.manager_on(store.clone(), None).await);
    }
    let mut config = h.config();
    config.chan_buffer = 2 * CALLS;
    let watcher = h.manager_with(config, None).await;
    let mut sub = watcher.subscribe().await.unwrap();
    let calls = (0..CALLS).map(|i| {
        let m = managers[i % managers.len()].clone();
        async move {
            m.announce(&format!("/many/{i}"), &hold(&format!("agent-{i}"), 30))
                .await
        }
    });
    let results = futures::future::join_all(calls).await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} calls failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let mut seen = std::collections::HashSet::new();
    while seen.len() < CALLS {
        let event = next(&mut sub).await.expect("no event is dropped");
        assert!(matches!(event.kind, EventKind::Announced(_)), "{event:?}");
        seen.insert(event.file);
    }
}

/// A sweep that stalls on the store never holds up the delivery of events.
pub async fn a_stalled_sweep_never_holds_up_events(h: Harness) {
    let stalled = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let store = Arc::new(StalledSweeps {
        inner: h.store().await,
        stalled: stalled.clone(),
        release: release.clone(),
    });
    let m = h.manager_on(store, None).await;
    let mut sub = m.subscribe().await.unwrap();
    for i in 0..20 {
        m.announce(
            &format!("/short/{i}"),
            &Announce::new("a1", Duration::from_millis(100)),
        )
        .await
        .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), stalled.notified())
        .await
        .expect("a sweep reached the store");
    let claim = m.announce(F, &hold("a2", 30)).await.unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(2), sub.next())
            .await
            .expect("events flow while sweeps stall")
            .unwrap()
            .unwrap();
        if event.file == F {
            assert_eq!(event.revision, claim.revision);
            break;
        }
    }
    release.notify_waiters();
}

/// A write decided on a stale replica entry that loses is a re-read, not a lost
/// race: no CAS retry is reported and no attempt is used up.
pub async fn a_stale_replica_hint_is_a_re_read_not_a_cas_retry(h: Harness) {
    let (open, _) = tokio::sync::watch::channel(false);
    let held = Arc::new(HeldWatch {
        inner: h.store().await,
        open,
    });
    let m = h.manager_on(held.clone(), None).await;
    let other = h.manager().await;
    let retries = Arc::new(AtomicU32::new(0));
    let counted = retries.clone();
    m.set_cas_retry_observer_for_test(Some(Arc::new(move |_, _| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    })));
    m.subscribe().await.unwrap(); // the replica is warm, and then held
    m.announce(F, &hold("a1", 30)).await.unwrap();
    // Renewed through another manager: m's replica still has the first revision.
    let renewed = other.announce(F, &hold("a1", 30)).await.unwrap();
    let again = m.announce(F, &hold("a1", 30)).await.unwrap();
    assert!(again.revision > renewed.revision);
    assert_eq!(
        retries.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no agent raced"
    );
    held.open.send_replace(true);
}
