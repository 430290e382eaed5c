//! FILE may be relative: it is resolved against the working directory and cleaned, so every spelling of a
//! file names the same hold.

use crate::{Backend, abs, announce};

holds_test_support::matrix! {
    fn {
        relative_paths_resolve_against_the_working_directory,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

fn relative_paths_resolve_against_the_working_directory(b: &Backend) {
    let file = abs(b, "src/a.rs");
    let claim = announce(b, "src/a.rs", "a1", "30s");
    assert_eq!(claim["file"], file.as_str(), "held as <cwd>/src/a.rs");

    // Other spellings of the same file, relative and absolute.
    let cwd = b.cwd();
    let dir_name = cwd.file_name().unwrap().to_str().unwrap().to_string();
    let spellings = [
        "./src/../src/a.rs".to_string(),
        "src//a.rs".to_string(),
        "src/./a.rs".to_string(),
        format!("../{dir_name}/src/a.rs"),
        file.clone(),
        format!("{}/./src/../src/a.rs", cwd.display()),
    ];
    for spelling in &spellings {
        let who = b.run(["--json", "who-has", spelling]);
        who.assert_code(0);
        assert_eq!(
            crate::support::first_holder(who.json()),
            claim,
            "who-has {spelling}"
        );
        // Another agent is refused whatever the spelling.
        let refused = b.run(["announce", spelling, "--agent", "a2", "--ttl", "30s"]);
        refused.assert_code(3);
        assert!(refused.stderr.contains(&file), "{refused}");
    }
    // Renewing through another spelling renews the same hold.
    let renewed = announce(b, "./src/../src/a.rs", "a1", "45s");
    assert_eq!(renewed["file"], file.as_str());
    assert!(renewed["revision"].as_u64() > claim["revision"].as_u64());
    let listed = b.list_json();
    assert_eq!(listed, [renewed], "one hold, not two");

    // A different working directory resolves the same relative name to another file.
    std::fs::create_dir_all(cwd.join("sub")).unwrap();
    let mut cmd = b.command(["--json", "who-has", "src/a.rs"]);
    cmd.current_dir(cwd.join("sub"));
    let out = cmd.output().expect("run holds");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let nobody: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(nobody["file"], format!("{}/sub/src/a.rs", cwd.display()));

    // Released through yet another spelling.
    let released = b.run(["--json", "release", "src//a.rs", "--agent", "a1"]);
    released.assert_code(0);
    assert_eq!(released.json()["released"], true);
    assert_eq!(released.json()["file"], file.as_str());
    b.run(["who-has", "./src/a.rs"]).assert_code(4);

    // Names with spaces and non-ASCII characters round-trip.
    let odd = announce(b, "dir with space/ünï.rs", "a3", "30s");
    assert_eq!(odd["file"], abs(b, "dir with space/ünï.rs").as_str());
    let who = b.run([
        "--json",
        "who-has",
        "./dir with space/../dir with space/ünï.rs",
    ]);
    who.assert_code(0);
    assert_eq!(crate::support::first_holder(who.json()), odd);
}
