//! Paths with every special character: each one works, is held under its cleaned spelling (Go's
//! `path.Clean`), and round-trips through its key.

use holds::{Announce, Claim, Error, Release};
use holds_test_support::harness::{Harness, Kind};
use holds_test_support::inputs::{as_file, clean, special_paths};
use std::time::Duration;

holds_test_support::matrix! {
    async fn {
        library_paths_with_special_characters_round_trip,
    }
    on {
        sqlite: Kind::Sqlite,
        jetstream: Kind::JetStream,
    }
}

async fn library_paths_with_special_characters_round_trip(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    // The oracle itself, on the cases that matter.
    for (path, cleaned) in [
        ("/p/a/../b/./c", "/p/b/c"),
        ("/p/dir/", "/p/dir"),
        ("//p//double///slash//", "/p/double/slash"),
        ("/p/../../..", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/p/...", "/p/..."),
        ("/p/a..b/c.", "/p/a..b/c."),
    ] {
        assert_eq!(clean(path), cleaned, "{path:?}");
    }
    let mut paths = special_paths("/p");
    paths.extend(["/".to_string(), "//".to_string(), "/p/../../..".to_string()]);
    let ttl = Duration::from_secs(30);
    let mut held: Vec<Claim> = Vec::new();
    for path in &paths {
        let cleaned = clean(path);
        let claim = m
            .announce(
                &as_file(path),
                &Announce::new("a1", ttl).checkout(path.as_str()),
            )
            .await
            .unwrap_or_else(|e| panic!("announce {path:?}: {e}"));
        assert_eq!(claim.file, cleaned, "announce {path:?}");
        assert_eq!(
            claim.hold.checkout_path, *path,
            "checkout paths are stored as given"
        );
        for spelling in [path.as_str(), cleaned.as_str()] {
            let who = m.who_has(spelling).await.unwrap();
            assert_eq!(who.as_ref(), Some(&claim), "who-has {spelling:?}");
        }
        let key = m.key_for_test(path).await.unwrap();
        assert_eq!(
            m.file_for_key_for_test(&key).await.unwrap(),
            cleaned,
            "{key}"
        );
        let raw = m
            .kv_for_test()
            .get(&key)
            .await
            .unwrap()
            .expect("a raw entry");
        assert_eq!(raw.revision, claim.revision);
        // Another agent is refused on every spelling.
        match m
            .announce(&as_file(&cleaned), &Announce::new("a2", ttl))
            .await
        {
            Err(Error::HeldByAnother(c)) => assert_eq!(*c, claim),
            other => panic!("{path:?}: {other:?}"),
        }
        held.retain(|c| c.file != cleaned);
        held.push(claim);
    }
    let mut listed = m.list().await.unwrap();
    listed.sort_by_key(|c| c.revision);
    held.sort_by_key(|c| c.revision);
    assert_eq!(listed, held, "list shows every cleaned path once");
    for claim in &held {
        match m
            .release(&as_file(&claim.hold.checkout_path), "a1")
            .await
            .unwrap()
        {
            Release::Released { revision } => assert!(revision > claim.revision),
            Release::NotHeld => panic!("{:?} was not released", claim.file),
        }
        assert_eq!(m.who_has(&claim.file).await.unwrap(), None);
    }
    assert_eq!(m.list().await.unwrap(), []);
}
