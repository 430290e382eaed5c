//! Broken traces: clear errors naming the line, never a panic.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_broken_traces_are_clear_errors() {
    use holds::trace::{self, TraceError};
    let text = std::fs::read_to_string(fixture_trace()).unwrap();
    let header_end = text.find('\n').unwrap();
    let rt = || holds::Runtime::embedded().unwrap();
    let replay = |bytes: Vec<u8>| {
        let runtime = rt();
        async move { trace::replay(std::io::Cursor::new(bytes), runtime).await }
    };
    // The header itself cut short.
    match replay(text.as_bytes()[..header_end / 2].to_vec()).await {
        Err(e @ TraceError::Format { line: 1, .. }) => {
            assert!(e.to_string().contains("not a holds trace header"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Cut right after the header's newline: an empty recording, which replays as such.
    let empty = replay(text.as_bytes()[..=header_end].to_vec())
        .await
        .unwrap();
    assert_eq!((empty.calls, empty.steps), (0, 0));
    // Bytes that are not UTF-8.
    match replay(b"\xff\xfe\x00trace\n".to_vec()).await {
        Err(e @ TraceError::Io(_)) => assert!(e.to_string().contains("UTF-8"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A record line that is not UTF-8, after the header: named by its line.
    let mut bad_line = text.as_bytes()[..=header_end].to_vec();
    bad_line.extend_from_slice(b"{\"call\":0,\xff}\n");
    bad_line.extend_from_slice(&text.as_bytes()[header_end + 1..]);
    match replay(bad_line).await {
        Err(e @ TraceError::Format { line: 2, .. }) => {
            assert!(e.to_string().contains("UTF-8"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // JSON, but not a header.
    match replay(b"{\"format\":\"something-else\"}\n".to_vec()).await {
        Err(e @ TraceError::Format { line: 1, .. }) => {
            assert!(e.to_string().contains("not a holds trace header"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

fn fixture_trace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/contention.trace.jsonl")
}
