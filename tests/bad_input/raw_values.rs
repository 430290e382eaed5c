//! Values another client wrote raw into the bucket: what is not a hold is a corrupt entry naming its key
//! (and changes nothing), null and missing fields read as Go's zero values, unknown fields and huge values
//! read fine.

use super::unchanged::{assert_nothing_written_since, snapshot};
use holds::{Announce, Config, Error, Release};
use holds_test_support::harness::{Harness, Kind, TTL_MAX};
use holds_test_support::inputs::corrupt_values;
use holds_test_support::raw;
use std::time::{Duration, SystemTime};

holds_test_support::matrix! {
    async fn {
        library_corrupt_values_are_corrupt_entries_naming_the_key,
        library_null_and_missing_fields_read_as_go_zero_values,
        library_unknown_fields_and_huge_values_read_fine,
    }
    on {
        sqlite: Kind::Sqlite,
        jetstream: Kind::JetStream,
    }
}

async fn library_corrupt_values_are_corrupt_entries_naming_the_key(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let kv = m.kv_for_test();
    let held = m
        .announce(
            "/repo/held.rs",
            &Announce::new("a1", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let mut keys = vec![m.key_for_test("/repo/held.rs").await.unwrap()];
    let mut staged = Vec::new();
    for (name, value, _) in corrupt_values() {
        let file = format!("/corrupt/{name}");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = raw::put(&*kv, &key, value).await.unwrap();
        keys.push(key.clone());
        staged.push((file, key, revision));
    }
    let before = snapshot(&m, &keys).await;
    assert_eq!(
        before.list,
        std::slice::from_ref(&held),
        "list skips what is not a hold"
    );
    for ((name, _, word), (file, key, revision)) in corrupt_values().into_iter().zip(&staged) {
        let check = |what: &str, result: Result<String, Error>| match result {
            Err(e @ Error::CorruptEntry { .. }) => {
                let Error::CorruptEntry {
                    key: k,
                    revision: r,
                    reason,
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((k, r), (key, revision), "{name} {what}: {e}");
                assert!(
                    reason.contains(word),
                    "{name} {what}: {reason:?} should say {word:?}"
                );
                let message = e.to_string();
                assert!(
                    message.contains(&format!("corrupt entry at key {key} (revision {revision})")),
                    "{message}"
                );
                assert!(
                    message.len() < 1024,
                    "{name} {what}: the message is {} bytes",
                    message.len()
                );
            }
            other => panic!("{name} {what}: expected a corrupt entry, got {other:?}"),
        };
        check("who-has", m.who_has(file).await.map(|c| format!("{c:?}")));
        check(
            "announce",
            m.announce(file, &Announce::new("a2", Duration::from_secs(30)))
                .await
                .map(|c| format!("{c:?}")),
        );
        check(
            "release",
            m.release(file, "a2").await.map(|r| format!("{r:?}")),
        );
        check(
            "release by nobody's agent",
            m.release(file, "a1").await.map(|r| format!("{r:?}")),
        );
    }
    // Another manager (another process) sees the same.
    let other = h.manager().await;
    let (file, key, revision) = &staged[0];
    match other.who_has(file).await {
        Err(Error::CorruptEntry {
            key: k,
            revision: r,
            ..
        }) => assert_eq!((&k, &r), (key, revision)),
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&m, &keys).await, before);
    assert_nothing_written_since(&m, &before).await;
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_nanos(at).to_string()
}

async fn library_null_and_missing_fields_read_as_go_zero_values(kind: Kind) {
    let h = Harness::new(kind).await;
    // No watcher: on SQLite and memory a watching manager would (rightly) sweep
    // these expired zero holds in the background, and this test checks that the
    // calls themselves change nothing.
    let mut config = Config::new(&h.bucket, TTL_MAX);
    config.replica = false;
    let m = h.manager_with(config, None).await;
    let kv = m.kv_for_test();
    let now = SystemTime::now();
    let claimed = rfc3339(now);
    // Go unmarshals these into a zero Hold: no agent, expired at the zero time.
    let zero: Vec<(&str, String)> = vec![
        ("null", "null".into()),
        ("empty-object", "{}".into()),
        ("agent-only", r#"{"agent_id":"ghost"}"#.into()),
        (
            "no-expiry",
            format!(r#"{{"agent_id":"ghost","claimed_at":"{claimed}","ttl":30000000000}}"#),
        ),
        (
            "all-null",
            r#"{"agent_id":null,"claimed_at":null,"expires_at":null,"checkout_path":null,"ttl":null}"#
                .into(),
        ),
        (
            "unknown-only",
            r#"{"holder":"ghost","until":"2999-01-01T00:00:00Z"}"#.into(),
        ),
    ];
    for (name, value) in zero {
        let file = format!("/zero/{name}");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = raw::put(&*kv, &key, value.clone()).await.unwrap();
        let keys = vec![key.clone()];
        let before = snapshot(&m, &keys).await;
        assert!(before.list.iter().all(|c| c.file != file), "{name}: listed");
        assert_eq!(
            m.who_has(&file).await.unwrap(),
            None,
            "{name}: an expired zero hold"
        );
        assert_eq!(
            m.release(&file, "ghost").await.unwrap(),
            Release::NotHeld,
            "{name}: nothing live to release"
        );
        assert_eq!(
            m.release(&file, "a2").await.unwrap(),
            Release::NotHeld,
            "{name}"
        );
        assert_eq!(
            snapshot(&m, &keys).await,
            before,
            "{name}: changed by a no-op"
        );
        // Expired, so any agent takes it over at the next revision.
        let claim = m
            .announce(&file, &Announce::new("a2", Duration::from_secs(30)))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(claim.revision > revision, "{name}");
        assert_eq!(m.who_has(&file).await.unwrap(), Some(claim), "{name}");
        m.release(&file, "a2").await.unwrap();
    }
}

async fn library_unknown_fields_and_huge_values_read_fine(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let kv = m.kv_for_test();
    let now = SystemTime::now();
    let (claimed, expires) = (rfc3339(now), rfc3339(now + Duration::from_secs(60)));
    let huge = "y".repeat(900 * 1024);
    let values: Vec<(&str, String)> = vec![
        (
            "extra-fields",
            format!(
                r#"{{"agent_id":"owner","claimed_at":"{claimed}","expires_at":"{expires}","checkout_path":"/co","ttl":60000000000,"extra":{{"nested":[1,2,{{"deep":null}}]}},"version":2,"agent":"not me"}}"#
            ),
        ),
        (
            "reordered-with-unknown-first",
            format!(
                r#"{{"zz":true,"ttl":60000000000,"expires_at":"{expires}","agent_id":"owner","checkout_path":"/co","claimed_at":"{claimed}"}}"#
            ),
        ),
        (
            "huge-unknown-field",
            format!(
                r#"{{"agent_id":"owner","claimed_at":"{claimed}","expires_at":"{expires}","checkout_path":"/co","ttl":60000000000,"padding":"{huge}"}}"#
            ),
        ),
        (
            "huge-agent-id",
            format!(
                r#"{{"agent_id":"owner{huge}","claimed_at":"{claimed}","expires_at":"{expires}","checkout_path":"/co","ttl":60000000000}}"#
            ),
        ),
    ];
    for (name, value) in values {
        let file = format!("/unknown/{name}");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = raw::put(&*kv, &key, value).await.unwrap();
        let keys = vec![key.clone()];
        let before = snapshot(&m, &keys).await;
        let claim = m
            .who_has(&file)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: a live hold reads as nobody's"));
        assert_eq!(claim.revision, revision, "{name}");
        assert!(claim.hold.agent_id.starts_with("owner"), "{name}");
        assert_eq!(claim.hold.checkout_path, "/co", "{name}");
        assert_eq!(claim.hold.ttl, Duration::from_secs(60), "{name}");
        assert_eq!(rfc3339(claim.hold.expires_at), expires, "{name}");
        assert!(before.list.contains(&claim), "{name}: not listed");
        match m
            .announce(&file, &Announce::new("intruder", Duration::from_secs(30)))
            .await
        {
            Err(Error::HeldByAnother(c)) => assert_eq!(*c, claim, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(
            m.release(&file, "intruder").await.unwrap(),
            Release::NotHeld
        );
        assert_eq!(snapshot(&m, &keys).await, before, "{name}");
        let owner = claim.hold.agent_id.clone();
        assert!(matches!(
            m.release(&file, &owner).await.unwrap(),
            Release::Released { .. }
        ));
    }
}
