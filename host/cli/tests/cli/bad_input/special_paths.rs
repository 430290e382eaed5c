//! Relative spellings and paths with every special character: each resolves against the working directory,
//! is held under its cleaned spelling, and round-trips through announce, who-has, list and release.

use super::expect;
use crate::support::{CliEnv, first_holder};
use holds_test_support::inputs::{as_file, clean, special_paths};
use serde_json::Value;

#[test]
fn cli_relative_paths_resolve_against_the_working_directory() {
    let env = CliEnv::sqlite();
    let cwd = env.cwd().display().to_string();
    for (relative, cleaned) in [
        ("a.rs", format!("{cwd}/a.rs")),
        ("./src/../b.rs", format!("{cwd}/b.rs")),
        ("dir/", format!("{cwd}/dir/")),
        (".", cwd.clone()),
        ("..", clean(&format!("{cwd}/.."))),
        ("-dash.rs", format!("{cwd}/-dash.rs")),
    ] {
        let run = env.run([
            "--json", "announce", "--agent", "a1", "--ttl", "30s", "--", relative,
        ]);
        expect(&run, 0, &[]);
        assert_eq!(run.json()["file"], cleaned.as_str(), "{relative:?}: {run}");
        let who = env.run(["--json", "who-has", cleaned.as_str()]);
        expect(&who, 0, &[]);
        assert_eq!(first_holder(who.json()), run.json(), "{relative:?}");
    }
}

/// Special-character paths, relative and absolute, through announce -> who-has -> list -> release.
/// Each is named as a file ([`as_file`]: a trailing `/` dropped, wildcards escaped).
pub fn cli_special_paths_round_trip(env: &CliEnv, limit: Option<usize>) {
    let cwd = env.cwd().display().to_string();
    let mut paths = special_paths(&format!("{cwd}/p"));
    // The same names relative to the working directory.
    paths.extend(
        special_paths("p/rel")
            .into_iter()
            .map(|p| p.trim_start_matches('/').to_string()),
    );
    if let Some(n) = limit {
        paths.truncate(n);
    }
    let before = env.list_json();
    let mut held: Vec<Value> = before.clone();
    for path in &paths {
        let cleaned = if path.starts_with('/') {
            clean(path)
        } else {
            clean(&format!("{cwd}/{path}"))
        };
        let path = &as_file(path);
        let run = env.run([
            "--json", "announce", "--agent", "a1", "--ttl", "1m", "--", path,
        ]);
        expect(&run, 0, &[]);
        let claim = run.json();
        assert_eq!(claim["file"], cleaned.as_str(), "announce {path:?}: {run}");
        for spelling in [path.clone(), as_file(&cleaned)] {
            let who = env.run(["--json", "who-has", "--", &spelling]);
            expect(&who, 0, &[]);
            assert_eq!(first_holder(who.json()), claim, "who-has {spelling:?}");
        }
        // The text output names the file too, its control characters escaped.
        let text = env.run(["who-has", "--", path]);
        expect(&text, 0, &[]);
        assert!(text.stdout.contains(&escaped(&cleaned)), "{path:?}: {text}");
        held.retain(|c| c["file"] != cleaned.as_str());
        held.push(claim);
    }
    let mut listed = env.list_json();
    let by_revision = |v: &Value| v["revision"].as_u64();
    listed.sort_by_key(by_revision);
    held.sort_by_key(by_revision);
    assert_eq!(listed, held, "list shows every cleaned path once");
    for claim in held.iter().filter(|c| !before.contains(c)) {
        let file = &as_file(claim["file"].as_str().unwrap());
        let run = env.run(["--json", "release", "--agent", "a1", "--", file]);
        expect(&run, 0, &[]);
        assert_eq!(run.json()["released"], true, "{file:?}: {run}");
        expect(&env.run(["who-has", "--", file]), 4, &[]);
    }
    assert_eq!(env.list_json(), before);
}

#[test]
fn cli_paths_with_special_characters_round_trip() {
    cli_special_paths_round_trip(&CliEnv::sqlite(), None);
}

/// `text` as holds prints it for a person: control characters and bidirectional overrides escaped.
fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_control() && (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                format!("\\u{{{:x}}}", c as u32)
            }
            c => c.to_string(),
        })
        .collect()
}
