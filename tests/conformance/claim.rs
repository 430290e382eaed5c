//! Multi-file claims (issue 13): all or nothing, sorted, deduplicated, at most
//! `max_claim_files`, one atomic write on every backend holds creates.

use super::staged::HeldWatch;
use super::workflow_common::{entries, hold, named};
use holds::clock::OffsetClock;
use holds::{Error, Manager};
use holds_test_support::harness::{Harness, Kind};
use holds_test_support::ops::{OpCounts, Ops};
use std::sync::Arc;
use std::time::Duration;

async fn who(m: &Manager, file: &str) -> Option<String> {
    m.who_has(file).await.unwrap().map(|c| c.hold.agent_id)
}

/// Two of five files held by two other agents: the refusal names both, and no
/// file is written, not even a vacant one or one with a release marker.
pub async fn a_refused_claim_names_every_holder_and_writes_nothing(h: Harness) {
    let (m, other) = (h.manager().await, h.manager().await);
    let store = h.store().await;
    let files = ["/claim/a", "/claim/b", "/claim/c", "/claim/d", "/claim/e"];
    let b = other.announce("/claim/b", &hold("y", 30)).await.unwrap();
    let d = other.announce("/claim/d", &hold("z", 30)).await.unwrap();
    other.announce("/claim/e", &hold("y", 30)).await.unwrap();
    other.release("/claim/e", "y").await.unwrap();
    let before = entries(&m, &*store, &files).await;
    match m.claim(&files, &hold("x", 30)).await {
        Err(Error::HeldByOthers(holders)) => assert_eq!(holders, vec![b, d]),
        other => panic!("expected held-by-others, got {other:?}"),
    }
    assert_eq!(
        entries(&m, &*store, &files).await,
        before,
        "no entry changed"
    );
    for (file, holder) in files.iter().zip([None, Some("y"), None, Some("z"), None]) {
        assert_eq!(who(&m, file).await.as_deref(), holder, "{file}");
    }
}

/// The one held file first, last, or alone among vacant ones: nothing stays held.
pub async fn one_held_file_anywhere_in_the_claim_refuses_it_whole(h: Harness) {
    let (m, other) = (h.manager().await, h.manager().await);
    let store = h.store().await;
    for (i, held) in ["/one/0", "/one/2", "/one/4"].into_iter().enumerate() {
        let files: Vec<String> = (0..5).map(|f| format!("/one/{f}")).collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let holder = other.announce(held, &hold("y", 30)).await.unwrap();
        let before = entries(&m, &*store, &files).await;
        let refused = m.claim(&files, &hold("x", 30)).await.unwrap_err();
        assert_eq!(
            named(&refused),
            vec![(held.to_string(), "y".to_string())],
            "round {i}"
        );
        assert_eq!(refused, Error::HeldByOthers(vec![holder]));
        assert_eq!(
            entries(&m, &*store, &files).await,
            before,
            "round {i}: nothing written"
        );
        other.release(held, "y").await.unwrap();
    }
}

/// A replica that saw one holder but missed another (its watch is held back):
/// the refusal still names both, as the store has them.
pub async fn a_refusal_over_a_stale_replica_names_every_holder(h: Harness) {
    let other = h.manager().await;
    let b = other.announce("/stale/b", &hold("y", 30)).await.unwrap();
    let (open, _) = tokio::sync::watch::channel(false);
    let held = Arc::new(HeldWatch {
        inner: h.store().await,
        open,
    });
    let m = h.manager_on(held.clone(), None).await;
    let _watching = m.subscribe().await.unwrap(); // warm with b's hold, then held back
    let d = other.announce("/stale/d", &hold("z", 30)).await.unwrap();
    let refused = m
        .claim(&["/stale/a", "/stale/b", "/stale/d"], &hold("x", 30))
        .await
        .unwrap_err();
    assert_eq!(refused, Error::HeldByOthers(vec![b, d]));
    held.open.send_replace(true);
}

/// The result lists each distinct cleaned file once, sorted, each at the revision
/// the store has; every claim carries the same hold, in one atomic write.
pub async fn a_claim_is_sorted_deduplicated_cleaned_and_atomic(h: Harness) {
    let m = h.manager().await;
    let store = h.store().await;
    let asked = ["/s/c", "/s/a", "/s/./b", "/s//a", "/s/x/../c", "/s//b"];
    let claimed = m.claim(&asked, &hold("x", 30)).await.unwrap();
    assert!(
        claimed.atomic,
        "{:?}: every backend holds creates writes a claim atomically",
        h.kind
    );
    let files: Vec<&str> = claimed.claims.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(files, ["/s/a", "/s/b", "/s/c"]);
    let stored = entries(&m, &*store, &files).await;
    for (claim, entry) in claimed.claims.iter().zip(&stored) {
        assert_eq!(claim.hold, claimed.claims[0].hold, "one hold for all");
        assert_eq!(claim.hold.agent_id, "x");
        assert_eq!(
            entry.as_ref().unwrap().revision,
            claim.revision,
            "{}",
            claim.file
        );
        assert_eq!(m.who_has(&claim.file).await.unwrap().as_ref(), Some(claim));
    }
    let revisions: Vec<u64> = claimed.claims.iter().map(|c| c.revision).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
}

/// 17 files are one more than the default limit: invalid, nothing written. 16
/// are fine, and so are 17 paths naming 16 files. Empty lists and relative paths
/// are invalid too; a lower configured limit is honoured.
pub async fn too_many_files_or_bad_paths_are_invalid_and_write_nothing(h: Harness) {
    let m = h.manager().await;
    let store = h.store().await;
    let seventeen: Vec<String> = (0..17).map(|i| format!("/many/{i:02}")).collect();
    let seventeen: Vec<&str> = seventeen.iter().map(String::as_str).collect();
    match m.claim(&seventeen, &hold("x", 30)).await {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "files");
            assert!(reason.contains("17") && reason.contains("16"), "{reason}");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    let none: Vec<Option<holds::kv::Entry>> = vec![None; 17];
    assert_eq!(entries(&m, &*store, &seventeen).await, none, "no write");
    for (files, field) in [
        (&[][..], "files"),
        (&["/many/00", "relative/path"][..], "file"),
        (&["/many/00", ""][..], "file"),
    ] {
        match m.claim(files, &hold("x", 30)).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{files:?}"),
            other => panic!("{files:?}: expected invalid input, got {other:?}"),
        }
    }
    assert_eq!(
        entries(&m, &*store, &seventeen).await,
        none,
        "still no write"
    );
    // The 17th path is the first one again: 16 files.
    let mut doubled = seventeen[..16].to_vec();
    doubled.push("/many/./00");
    assert_eq!(
        m.claim(&doubled, &hold("x", 30))
            .await
            .unwrap()
            .claims
            .len(),
        16
    );

    let mut config = h.config();
    config.max_claim_files = 2;
    let small = h.manager_with(config, None).await;
    assert!(matches!(
        small.claim(&["/few/a", "/few/b", "/few/c"], &hold("x", 30)).await,
        Err(Error::InvalidInput { field, .. }) if field == "files"
    ));
    assert_eq!(
        entries(&m, &*store, &["/few/a", "/few/b", "/few/c"]).await,
        vec![None; 3]
    );
    assert_eq!(
        small
            .claim(&["/few/a", "/few/b"], &hold("x", 30))
            .await
            .unwrap()
            .claims
            .len(),
        2
    );
}

/// Claiming files the agent already holds renews them (new revisions, later
/// claim time); one of another agent's among them refuses the claim and leaves
/// the agent's own holds as they were.
pub async fn a_claim_over_the_agents_own_holds_renews_them(h: Harness) {
    let clock = OffsetClock::new();
    let m = h
        .manager_with(h.config(), Some(Arc::new(clock.clone())))
        .await;
    let other = h.manager().await;
    let store = h.store().await;
    let first = m
        .claim(&["/own/a", "/own/b"], &hold("x", 30))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(5));
    let again = m
        .claim(&["/own/b", "/own/c", "/own/a"], &hold("x", 20))
        .await
        .unwrap();
    assert_eq!(again.claims.len(), 3);
    for (old, new) in first.claims.iter().zip(&again.claims) {
        assert_eq!(old.file, new.file);
        assert!(new.revision > old.revision, "{new:?} renews {old:?}");
        assert!(new.hold.claimed_at > old.hold.claimed_at);
        assert_eq!(new.hold.ttl, Duration::from_secs(20));
    }
    other.announce("/own/d", &hold("y", 30)).await.unwrap();
    let mine = ["/own/a", "/own/b", "/own/c"];
    let before = entries(&m, &*store, &mine).await;
    let refused = m
        .claim(&["/own/a", "/own/b", "/own/c", "/own/d"], &hold("x", 30))
        .await
        .unwrap_err();
    assert_eq!(
        named(&refused),
        vec![("/own/d".to_string(), "y".to_string())]
    );
    assert_eq!(
        entries(&m, &*store, &mine).await,
        before,
        "own holds untouched"
    );
}

/// With a warm replica a claim is one batch write and nothing else (one round
/// trip on JetStream); its renewal too; a refusal is one confirming batch read.
/// Without a replica: one batch read, then the batch write.
pub async fn a_claim_over_a_warm_replica_is_one_batch_write(h: Harness) {
    let counted = OpCounts::new(h.store().await);
    let m = h.manager_on(counted.clone(), None).await;
    let other = h.manager().await;
    let _watching = m.subscribe().await.unwrap(); // the replica is warm once this returns
    let files: Vec<String> = (0..8).map(|i| format!("/rt/{i}")).collect();
    counted.take();
    m.claim(&files, &hold("x", 30)).await.unwrap();
    assert_eq!(
        counted.take(),
        Ops {
            batches: 1,
            ..Ops::default()
        },
        "vacant files"
    );
    m.claim(&files, &hold("x", 30)).await.unwrap();
    assert_eq!(
        counted.take(),
        Ops {
            batches: 1,
            ..Ops::default()
        },
        "a renewal"
    );
    other.announce("/rt/held", &hold("y", 30)).await.unwrap();
    let mut refused = files.clone();
    refused.push("/rt/held".into());
    // The replica may not have the other agent's hold yet: then the batch loses
    // and the re-read finds it. Either way, no file is written.
    assert!(matches!(
        m.claim(&refused, &hold("x", 30)).await,
        Err(Error::HeldByOthers(_))
    ));
    let ops = counted.take();
    assert_eq!(
        (ops.gets, ops.get_manys, ops.writes, ops.deletes),
        (0, 1, 0, 0),
        "{ops:?}"
    );
    assert!(ops.batches <= 1, "{ops:?}");

    let cold_counted = OpCounts::new(h.store().await);
    let mut config = h.config();
    config.replica = false;
    let cold = h.manager_on_with(cold_counted.clone(), config, None).await;
    cold.claim(&["/rt/cold/a", "/rt/cold/b"], &hold("x", 30))
        .await
        .unwrap();
    assert_eq!(
        cold_counted.take(),
        Ops {
            get_manys: 1,
            batches: 1,
            ..Ops::default()
        },
        "no replica: one read, one write"
    );
}

holds_test_support::matrix! {
    async fn {
        a_refused_claim_names_every_holder_and_writes_nothing,
        one_held_file_anywhere_in_the_claim_refuses_it_whole,
        a_refusal_over_a_stale_replica_names_every_holder,
        a_claim_is_sorted_deduplicated_cleaned_and_atomic,
        too_many_files_or_bad_paths_are_invalid_and_write_nothing,
        a_claim_over_the_agents_own_holds_renews_them,
        a_claim_over_a_warm_replica_is_one_batch_write,
    }
    on {
        memory: Harness::new(Kind::Memory).await,
        jetstream: Harness::new(Kind::JetStream).await,
        sqlite: Harness::new(Kind::Sqlite).await,
        /// The guest built for wasm32-wasip2 with std exports the same claim.
        foreign_guest: Harness::with_component(Kind::Memory, holds_test_programs::FOREIGN).await,
    }
}
