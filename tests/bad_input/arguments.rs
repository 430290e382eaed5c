//! Arguments holds refuses as invalid input, changing nothing: empty or blank agents, TTLs of zero or over
//! the maximum, paths that are empty, relative, with a NUL byte, or too long for a key.

use super::unchanged::{assert_nothing_written_since, snapshot};
use holds::{Announce, Error, Release};
use holds_test_support::harness::{Harness, Kind, TTL_MAX};
use std::time::Duration;

holds_test_support::matrix! {
    async fn {
        library_refuses_bad_arguments_and_changes_nothing,
        library_a_path_too_long_for_a_key_is_invalid_input,
    }
    on {
        sqlite: Kind::Sqlite,
        jetstream: Kind::JetStream,
    }
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Error>, field: &str, words: &[&str]) {
    match result {
        Err(e @ Error::InvalidInput { .. }) => {
            let Error::InvalidInput { field: f, reason } = &e else {
                unreachable!()
            };
            assert_eq!(f, field, "{e}");
            let message = e.to_string();
            assert!(
                message.starts_with(&format!("invalid {field}: ")),
                "{message}"
            );
            for w in words {
                assert!(reason.contains(w), "the reason should say {w:?}: {reason}");
            }
        }
        other => panic!("expected InvalidInput on {field}, got {other:?}"),
    }
}

async fn library_refuses_bad_arguments_and_changes_nothing(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let held = m
        .announce(
            "/repo/held.rs",
            &Announce::new("a1", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let keys = vec![m.key_for_test("/repo/held.rs").await.unwrap()];
    let before = snapshot(&m, &keys).await;
    let ttl = Duration::from_secs(30);
    let a = |agent: &str, ttl: Duration| Announce::new(agent, ttl);

    // Agents: empty or only whitespace, on announce and release (also of a held file).
    for agent in ["", " ", "   ", "\t", "\n\t \r"] {
        let words = ["empty or only whitespace"];
        assert_invalid(
            m.announce("/repo/x.rs", &a(agent, ttl)).await,
            "agent-id",
            &words,
        );
        assert_invalid(
            m.announce("/repo/held.rs", &a(agent, ttl)).await,
            "agent-id",
            &words,
        );
        assert_invalid(m.release("/repo/held.rs", agent).await, "agent-id", &words);
    }
    // TTLs: zero, one nanosecond over the maximum, far over it.
    assert_invalid(
        m.announce("/repo/x.rs", &a("a2", Duration::ZERO)).await,
        "ttl",
        &["zero"],
    );
    let over = TTL_MAX + Duration::from_nanos(1);
    assert_invalid(
        m.announce("/repo/x.rs", &a("a2", over)).await,
        "ttl",
        &["above the maximum", "60.000000001s", "60s"],
    );
    assert_invalid(
        m.announce("/repo/held.rs", &a("a1", Duration::from_secs(3600)))
            .await,
        "ttl",
        &["above the maximum"],
    );
    assert_invalid(
        m.announce("/repo/x.rs", &a("a2", Duration::MAX)).await,
        "ttl",
        &["above the maximum"],
    );
    // Paths: empty, relative, with a NUL byte; on every call that takes one.
    let bad_paths: &[(&str, &[&str])] = &[
        ("", &["empty"]),
        ("src/lib.rs", &["\"src/lib.rs\" is not absolute"]),
        ("./held.rs", &["\"./held.rs\" is not absolute"]),
        ("held.rs", &["not absolute"]),
        ("~/held.rs", &["not absolute"]),
        (" /repo/held.rs", &["not absolute"]),
        ("/repo/held\0.rs", &["NUL"]),
        ("/repo/held.rs\0", &["NUL"]),
        ("\0", &["not absolute"]),
    ];
    for (path, words) in bad_paths {
        assert_invalid(m.announce(path, &a("a2", ttl)).await, "file", words);
        assert_invalid(m.release(path, "a1").await, "file", words);
        assert_invalid(m.who_has(path).await, "file", words);
        assert_invalid(m.key_for_test(path).await, "file", words);
    }
    // The held file, all along: still a1's.
    assert_eq!(snapshot(&m, &keys).await, before);
    assert_eq!(m.who_has("/repo/held.rs").await.unwrap(), Some(held));
    assert_nothing_written_since(&m, &before).await;
}

async fn library_a_path_too_long_for_a_key_is_invalid_input(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    // `~` escapes to three bytes (`=7E`): keys of about 3.9 KiB, 4 KiB and 4.5 KiB. Linux paths are at most
    // 4096 bytes, so all three are plausible inputs; each must either work (and round-trip) or be refused
    // as invalid input on `file` -- never reach the store as a key it cannot take (a store error, exit 1).
    let mut outcomes = Vec::new();
    for n in [1290, 1360, 1500] {
        let long = format!("/long/{}", "~".repeat(n));
        let key = m.key_for_test(&long).await;
        let key_len = key.as_ref().map(String::len).unwrap_or(0);
        let started = std::time::Instant::now();
        let announced = m
            .announce(&long, &Announce::new("a1", Duration::from_secs(30)))
            .await;
        let took = started.elapsed();
        let who = m.who_has(&long).await;
        let released = m.release(&long, "a1").await;
        let fine = match (&announced, &who, &released) {
            (Ok(c), Ok(Some(w)), Ok(Release::Released { .. })) => c == w && c.file == long,
            (
                Err(Error::InvalidInput { field: a, .. }),
                Err(Error::InvalidInput { field: b, .. }),
                Err(Error::InvalidInput { field: c, .. }),
            ) => a == "file" && b == "file" && c == "file" && key.is_err(),
            _ => false,
        };
        let short = |r: String| r.chars().take(120).collect::<String>();
        outcomes.push((
            fine,
            format!(
                "path of {} bytes, key of {key_len} bytes: announce {} (in {took:?}), who-has {}, release {}",
                long.len(),
                short(format!("{:?}", announced.map(|c| c.revision))),
                short(format!("{:?}", who.map(|c| c.map(|c| c.revision)))),
                short(format!("{released:?}")),
            ),
        ));
        assert!(
            took < Duration::from_secs(10),
            "{}",
            outcomes.last().unwrap().1
        );
    }
    // The manager keeps working.
    m.announce("/long/ok", &Announce::new("a1", Duration::from_secs(30)))
        .await
        .unwrap();
    let report: Vec<String> = outcomes
        .iter()
        .map(|(fine, line)| format!("{} {line}", if *fine { "ok " } else { "BAD" }))
        .collect();
    assert!(
        outcomes.iter().all(|(fine, _)| *fine),
        "long paths:\n{}",
        report.join("\n")
    );
}
