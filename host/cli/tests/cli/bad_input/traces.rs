//! Broken traces given to `holds replay`: exit 2 naming the file and the line.

use super::expect;
use crate::support::{CliEnv, fixture_trace};
use std::ffi::OsString;

#[test]
fn cli_broken_traces_are_exit_2() {
    let env = CliEnv::sqlite();
    let dir = env.dir();
    let text = std::fs::read_to_string(fixture_trace()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The intact trace replays.
    let ok = env.run([std::ffi::OsStr::new("replay"), fixture_trace().as_os_str()]);
    expect(&ok, 0, &[]);
    assert!(ok.stdout.starts_with("identical"), "{ok}");
    let second_line = text.find('\n').unwrap() + 1;
    let cases: Vec<(&str, Vec<u8>, Vec<String>)> = vec![
        ("empty", Vec::new(), vec!["the trace is empty".into()]),
        (
            "cut-mid-record",
            text.as_bytes()[..text.len() - 40].to_vec(),
            vec![format!("line {}", lines.len()), "truncated".into()],
        ),
        (
            "cut-in-second-line",
            text.as_bytes()[..second_line + 10].to_vec(),
            vec!["line 2".into(), "truncated".into()],
        ),
        (
            "cut-in-header",
            text.as_bytes()[..30].to_vec(),
            vec!["line 1".into(), "not a holds trace header".into()],
        ),
        (
            "not-a-trace",
            b"hello, world\nthis is not a trace\n".to_vec(),
            vec!["line 1".into(), "not a holds trace header".into()],
        ),
        (
            "a-cargo-manifest",
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
                .unwrap(),
            vec!["line 1".into()],
        ),
        (
            "binary",
            b"\x7fELF\x02\x01\x01\x00\xff\xfe".to_vec(),
            vec!["UTF-8".into()],
        ),
        (
            "foreign-version",
            text.replacen("\"version\":1", "\"version\":99", 1)
                .into_bytes(),
            vec![
                "holds-trace v99".into(),
                "this host replays holds-trace v1".into(),
            ],
        ),
        (
            // A value as hex with a non-ASCII character in it (a panic once).
            "non-ascii-hex",
            {
                let at = lines
                    .iter()
                    .position(|l| l.contains(r#""value":""#))
                    .expect("the fixture records a written value");
                let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                edited[at] =
                    edited[at].replacen(r#""value":""#, r#""value":{"hex":"é0"},"was":""#, 1);
                format!("{}\n", edited.join("\n")).into_bytes()
            },
            vec!["is not hex".into(), "non-ASCII".into()],
        ),
        (
            "foreign-wit",
            text.replacen(holds::trace::WIT_PACKAGE, "holds:core@9.0.0", 1)
                .into_bytes(),
            vec!["holds:core@9.0.0".into()],
        ),
    ];
    for (name, bytes, words) in cases {
        let path = dir.join(format!("{name}.trace.jsonl"));
        std::fs::write(&path, bytes).unwrap();
        for json in [false, true] {
            let mut args: Vec<OsString> = Vec::new();
            if json {
                args.push("--json".into());
            }
            args.push("replay".into());
            args.push(path.clone().into());
            let run = env.run(&args);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            expect(&run, 2, &words);
            run.one_line_stderr();
            assert!(
                run.stderr.contains(&path.display().to_string()),
                "names the file: {run}"
            );
        }
    }
    let missing = dir.join("missing.trace.jsonl");
    let run = env.run([std::ffi::OsStr::new("replay"), missing.as_os_str()]);
    expect(&run, 2, &["cannot open the trace", "No such file"]);
    let run = env.run([std::ffi::OsStr::new("replay"), dir.as_os_str()]);
    expect(&run, 2, &[]);
}
