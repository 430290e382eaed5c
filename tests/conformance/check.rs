//! Check (issue 13): does an agent hold every file live, at these fencing tokens?
//! For commit gates: one batch read, never served from the replica.

use super::workflow_common::hold;
use holds::clock::OffsetClock;
use holds::{Error, FileState};
use holds_test_support::harness::{Harness, Kind};
use holds_test_support::ops::{OpCounts, Ops};
use std::sync::Arc;
use std::time::Duration;

/// Held, held by another, vacant (never held, released, expired) and a token
/// that moved, with tokens and without; each agent sees its own holds as held.
pub async fn check_tells_every_state_apart(h: Harness) {
    let (m, other) = (h.manager().await, h.manager().await);
    let a = m.announce("/chk/a", &hold("x", 30)).await.unwrap();
    let b = other.announce("/chk/b", &hold("y", 30)).await.unwrap();
    let d_old = m.announce("/chk/d", &hold("x", 30)).await.unwrap();
    let d = m.announce("/chk/d", &hold("x", 30)).await.unwrap();
    m.announce("/chk/e", &hold("x", 30)).await.unwrap();
    m.release("/chk/e", "x").await.unwrap();
    // Uncleaned paths come back cleaned, in the order asked.
    let files = ["/chk//a", "/chk/b", "/chk/c", "/chk/./d", "/chk/e"];
    let states = |checks: Vec<holds::FileCheck>| {
        let cleaned: Vec<String> = checks.iter().map(|c| c.file.clone()).collect();
        assert_eq!(cleaned, ["/chk/a", "/chk/b", "/chk/c", "/chk/d", "/chk/e"]);
        checks.into_iter().map(|c| c.state).collect::<Vec<_>>()
    };
    use FileState::*;
    assert_eq!(
        states(m.check(&files, "x", None).await.unwrap()),
        [
            Held(a.clone()),
            HeldByAnother(b.clone()),
            Vacant,
            Held(d.clone()),
            Vacant
        ]
    );
    let tokens = [a.revision, 0, 0, d_old.revision, 0];
    assert_eq!(
        states(m.check(&files, "x", Some(&tokens)).await.unwrap()),
        [
            Held(a.clone()),
            HeldByAnother(b.clone()),
            Vacant,
            TokenMoved(d.clone()),
            Vacant
        ]
    );
    let tokens = [a.revision, b.revision, 1, d.revision, 1];
    let checks = m.check(&files, "x", Some(&tokens)).await.unwrap();
    assert_eq!(
        checks.iter().map(|c| c.is_held()).collect::<Vec<_>>(),
        [true, false, false, true, false],
        "another's token does not make its hold mine"
    );
    assert_eq!(
        states(other.check(&files, "y", None).await.unwrap()),
        [
            HeldByAnother(a.clone()),
            Held(b.clone()),
            Vacant,
            HeldByAnother(d.clone()),
            Vacant
        ]
    );
    // Past every hold's expiry, each is nobody's.
    let clock = OffsetClock::new();
    clock.advance(Duration::from_secs(31));
    let later = h.manager_with(h.config(), Some(Arc::new(clock))).await;
    assert_eq!(
        states(
            later
                .check(&files, "x", Some(&[a.revision, 0, 0, d.revision, 0]))
                .await
                .unwrap()
        ),
        [Vacant, Vacant, Vacant, Vacant, Vacant]
    );
}

/// One batch read for all the files, even with a warm replica (a commit gate
/// must not trust a replica that may lag): never a read per file, never a write.
pub async fn check_is_one_batch_read(h: Harness) {
    let counted = OpCounts::new(h.store().await);
    let m = h.manager_on(counted.clone(), None).await;
    let _watching = m.subscribe().await.unwrap();
    let files: Vec<String> = (0..6).map(|i| format!("/chk/one/{i}")).collect();
    m.claim(&files[..3], &hold("x", 30)).await.unwrap();
    counted.take();
    let checks = m.check(&files, "x", None).await.unwrap();
    assert_eq!(checks.iter().filter(|c| c.is_held()).count(), 3);
    assert_eq!(
        counted.take(),
        Ops {
            get_manys: 1,
            ..Ops::default()
        }
    );
    let mut config = h.config();
    config.replica = false;
    let cold_counted = OpCounts::new(h.store().await);
    let cold = h.manager_on_with(cold_counted.clone(), config, None).await;
    cold.check(&files, "x", None).await.unwrap();
    assert_eq!(
        cold_counted.take(),
        Ops {
            get_manys: 1,
            ..Ops::default()
        }
    );
}

/// Files, agent, tokens, and the field the error must name.
type BadCheck<'a> = (&'a [&'a str], &'a str, Option<&'a [u64]>, &'a str);

/// An empty list, a token count that is neither zero nor one per file, an empty
/// agent or a relative path: invalid input naming the field, and no store call.
pub async fn check_refuses_bad_input_without_touching_the_store(h: Harness) {
    let counted = OpCounts::new(h.store().await);
    let m = h.manager_on(counted.clone(), None).await;
    m.announce("/chk/bad", &hold("x", 30)).await.unwrap();
    counted.take();
    let two = ["/chk/bad", "/chk/other"];
    let cases: [BadCheck; 5] = [
        (&[], "x", None, "files"),
        (&two, "x", Some(&[1]), "tokens"),
        (&two, "x", Some(&[1, 2, 3]), "tokens"),
        (&two, " ", None, "agent-id"),
        (&["/chk/bad", "chk/relative"], "x", None, "file"),
    ];
    for (files, agent, tokens, field) in cases {
        match m.check(files, agent, tokens).await {
            Err(Error::InvalidInput { field: f, reason }) => {
                assert_eq!(f, field, "{files:?} {tokens:?}: {reason}")
            }
            other => {
                panic!("{files:?} {agent:?} {tokens:?}: expected invalid input, got {other:?}")
            }
        }
    }
    assert_eq!(counted.take(), Ops::default(), "no store call");
}

holds_test_support::matrix! {
    async fn {
        check_tells_every_state_apart,
        check_is_one_batch_read,
        check_refuses_bad_input_without_touching_the_store,
    }
    on {
        memory: Harness::new(Kind::Memory).await,
        jetstream: Harness::new(Kind::JetStream).await,
        sqlite: Harness::new(Kind::Sqlite).await,
    }
}
