//! `holds replay` from the shell.

use crate::support::fixture_trace as fixture;
use holds_test_support::traces::alter_first;

/// `holds replay` from the shell: the checked-in trace exits 0; the same trace
/// with one recorded revision altered exits 5 and names the diverging call and
/// step; `--component` replays against another build (here the embedded one,
/// written out by `holds component`).
#[test]
fn the_cli_exits_0_when_identical_and_5_at_the_first_divergence() {
    use crate::support::holds_bin;
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(holds_bin())
            .args(args)
            .env("HOLDS_CACHE_DIR", dir.path().join("cache"))
            .output()
            .expect("running holds");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let fixture = fixture();
    let (code, text) = run(&["replay".as_ref(), fixture.as_os_str()]);
    assert_eq!(code, Some(0), "{text}");

    let component = dir.path().join("holds.wasm");
    let (code, text) = run(&[
        "component".as_ref(),
        "--out".as_ref(),
        component.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&[
        "replay".as_ref(),
        fixture.as_os_str(),
        "--component".as_ref(),
        component.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{text}");

    let original = std::fs::read_to_string(&fixture).unwrap();
    let (altered, call, _) = alter_first(&original, "kv.write-if-revision", |r| {
        if let Some(rev) = r.get_mut("Ok") {
            *rev = (rev.as_u64().unwrap() + 7).into();
        }
    });
    let path = dir.path().join("altered.trace.jsonl");
    std::fs::write(&path, altered).unwrap();
    let (code, text) = run(&["replay".as_ref(), path.as_os_str()]);
    assert_eq!(code, Some(5), "{text}");
    // The hold is judged against pattern holds up to its revision: that scan is
    // the first step to differ.
    assert!(
        text.contains(&format!("call {call} ")) && text.contains("kv.scan"),
        "the divergence names call {call}: {text}"
    );
}
