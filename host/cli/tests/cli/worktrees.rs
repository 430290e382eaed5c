//! One file is one hold wherever it is seen from: real git repositories with linked worktrees, a bare
//! repository's worktrees, symlinked checkouts and paths, and a copy declared with HOLDS_WORKSPACE. Every
//! surface (announce, --wait, run, check, who-has, release, the edit hook, the git guard) names a file by
//! its path in the repository's main worktree, and shows where its holder works.

use crate::support::{
    CALL_TIMEOUT, CliEnv, Run, first_holder, like, run_command_with_input, wait_output,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `git ARGS` in `dir`, which must succeed.
#[track_caller]
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git (install git): {e}"));
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A repository `repo` with one commit (README.md, src/lib.rs) under the environment's working directory.
fn repository(env: &CliEnv, name: &str) -> PathBuf {
    let root = env.cwd().join(name);
    std::fs::create_dir_all(root.join("src")).unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    for (key, value) in [
        ("user.name", "Test"),
        ("user.email", "test@example.com"),
        ("commit.gpgsign", "false"),
    ] {
        git(&root, &["config", key, value]);
    }
    std::fs::write(root.join("README.md"), "hello\n").unwrap();
    std::fs::write(root.join("src/lib.rs"), "// lib\n").unwrap();
    git(&root, &["add", "."]);
    git(&root, &["commit", "-q", "-m", "first"]);
    root
}

/// `git worktree add` of a new branch at `<cwd>/<name>`, from `repo` (a work tree or a bare repository).
fn worktree(env: &CliEnv, repo: &Path, name: &str) -> PathBuf {
    let path = env.cwd().join(name);
    git(
        repo,
        &["worktree", "add", "-q", "-b", name, path.to_str().unwrap()],
    );
    path
}

/// `holds ARGS` run in `dir`, with `envs` set.
fn holds_in(env: &CliEnv, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = env.command(args);
    cmd.current_dir(dir).envs(envs.iter().copied());
    run_command_with_input(cmd, "")
}

/// `holds --json announce FILE --agent AGENT --ttl 5m` in `dir`, which must succeed: the claim.
#[track_caller]
fn announce_in(env: &CliEnv, dir: &Path, file: &str, agent: &str) -> Value {
    let run = holds_in(
        env,
        dir,
        &["--json", "announce", file, "--agent", agent, "--ttl", "5m"],
        &[],
    );
    run.assert_code(0);
    run.json()
}

/// A refusal (exit 3) naming `agent` working in `checkout`.
#[track_caller]
fn assert_refused(run: &Run, file: &str, agent: &str, checkout: &Path) {
    run.assert_code(3);
    let says = format!(
        "{file} is held by agent {agent:?} (in {}) until ",
        checkout.display()
    );
    assert!(run.stderr.contains(&says), "{says}: {run}");
}

fn path(dir: &Path, rest: &str) -> String {
    format!("{}/{rest}", dir.display())
}

#[test]
fn agents_in_three_worktrees_of_one_repository_contend_for_one_file() {
    let env = CliEnv::sqlite();
    let main = repository(&env, "repo");
    let wt2 = worktree(&env, &main, "wt2");
    let wt3 = worktree(&env, &main, "wt3");
    let lib = path(&main, "src/lib.rs");

    let claim = announce_in(&env, &main, "src/lib.rs", "wa");
    assert_eq!(claim["file"], lib.as_str(), "{claim}");
    assert_eq!(
        claim["hold"]["checkout_path"],
        path(&main, "").trim_end_matches('/')
    );

    // From each linked worktree the same relative name is the same hold.
    for (dir, agent) in [(&wt2, "wb"), (&wt3, "wc")] {
        let run = holds_in(
            &env,
            dir,
            &["announce", "src/lib.rs", "--agent", agent],
            &[],
        );
        assert_refused(&run, &lib, "wa", &main);
        let who = holds_in(&env, dir, &["--json", "who-has", "src/lib.rs"], &[]);
        who.assert_code(0);
        assert_eq!(
            first_holder(who.json()),
            claim,
            "who-has in {}",
            dir.display()
        );
        holds_in(&env, dir, &["check", "src/lib.rs", "--agent", "wa"], &[]).assert_code(0);
        holds_in(&env, dir, &["check", "src/lib.rs", "--agent", agent], &[]).assert_code(3);
        let run = holds_in(
            &env,
            dir,
            &["run", "src/lib.rs", "--agent", agent, "--", "true"],
            &[],
        );
        assert_refused(&run, &lib, "wa", &main);
    }

    // A file that does not exist yet, taken in a linked worktree: refused in the main one, naming where
    // its holder works.
    let new = announce_in(&env, &wt3, "src/new.rs", "wc");
    assert_eq!(new["file"], path(&main, "src/new.rs").as_str());
    assert_eq!(new["hold"]["checkout_path"], wt3.to_str().unwrap());
    let run = holds_in(
        &env,
        &main,
        &["announce", "src/new.rs", "--agent", "wa"],
        &[],
    );
    assert_refused(&run, &path(&main, "src/new.rs"), "wc", &wt3);

    // wb waits in wt2; wa releases from wt3 (by the path it sees there); wb gets the file.
    let mut cmd = env.command([
        "--json",
        "announce",
        "src/lib.rs",
        "--agent",
        "wb",
        "--wait",
        "30s",
    ]);
    cmd.current_dir(&wt2);
    let waiter = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let released = holds_in(
        &env,
        &wt3,
        &["--json", "release", "src/lib.rs", "--agent", "wa"],
        &[],
    );
    released.assert_code(0);
    assert_eq!(released.json()["released"], true, "{released}");
    assert_eq!(released.json()["file"], lib.as_str());
    let waited = wait_output(waiter, CALL_TIMEOUT, "announce --wait in wt2");
    waited.assert_code(0);
    assert_eq!(waited.json()["file"], lib.as_str(), "{waited}");
    assert_eq!(
        waited.json()["hold"]["checkout_path"],
        wt2.to_str().unwrap()
    );

    // The edit hook in wt3 denies wc's edit of the file wb holds from wt2.
    let event = json!({
        "session_id": "s-wc",
        "hook_event_name": "PreToolUse",
        "cwd": wt3.to_str().unwrap(),
        "tool_name": "Edit",
        "tool_input": {"file_path": "src/lib.rs", "old_string": "a", "new_string": "b"},
    });
    let mut cmd = env.command(["hook", "claude-code"]);
    cmd.current_dir(&wt3).env("HOLDS_AGENT", "wc");
    let run = run_command_with_input(cmd, &event.to_string());
    run.assert_code(0);
    let reason = run.json()["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap_or_else(|| panic!("no deny: {run}"))
        .to_string();
    assert!(
        reason.starts_with(&format!(
            "{lib} is held by agent \"wb\" (in {}) until ",
            wt2.display()
        )),
        "{reason}"
    );
    // wb's own edit, from its worktree, goes through.
    let mut cmd = env.command(["hook", "claude-code"]);
    cmd.current_dir(&wt2).env("HOLDS_AGENT", "wb");
    let event = json!({
        "session_id": "s-wb",
        "hook_event_name": "PreToolUse",
        "cwd": wt2.to_str().unwrap(),
        "tool_name": "Write",
        "tool_input": {"file_path": path(&wt2, "src/lib.rs"), "content": "x"},
    });
    let run = run_command_with_input(cmd, &event.to_string());
    run.assert_code(0);
    assert_eq!(run.stdout, "", "{run}");
}

#[test]
fn the_guard_in_a_linked_worktree_blocks_a_file_held_from_the_main_one() {
    let env = CliEnv::sqlite();
    let main = repository(&env, "repo");
    let wt2 = worktree(&env, &main, "wt2");
    holds_in(&env, &main, &["guard", "install", "--mode", "block"], &[]).assert_code(0);
    announce_in(&env, &main, "src/lib.rs", "wa");

    let commit = |dir: &Path, agent: &str| {
        std::fs::write(dir.join("src/lib.rs"), format!("// {agent}\n")).unwrap();
        git(dir, &["add", "src/lib.rs"]);
        // git runs the hook's `holds` with the test's environment, as an agent's shell would.
        let mut cmd = like(&env.command(Vec::<&str>::new()), "git");
        cmd.env("HOLDS_AGENT", agent)
            .arg("-C")
            .arg(dir)
            .args(["commit", "-q", "-m", agent]);
        run_command_with_input(cmd, "")
    };
    let run = commit(&wt2, "wb");
    assert_ne!(run.code(), 0, "{run}");
    let says = format!(
        "holds guard: {} is held by agent \"wa\" (in {}) until ",
        path(&main, "src/lib.rs"),
        main.display()
    );
    assert!(run.stderr.contains(&says), "{says}: {run}");
    // The holder commits in its own worktree.
    commit(&main, "wa").assert_code(0);
}

#[test]
fn worktrees_of_a_bare_repository_share_one_root() {
    let env = CliEnv::sqlite();
    let seed = repository(&env, "seed");
    let bare = env.cwd().join("proj.git");
    git(
        &env.cwd(),
        &["clone", "-q", "--bare", seed.to_str().unwrap(), "proj.git"],
    );
    let b1 = worktree(&env, &bare, "b1");
    let b2 = worktree(&env, &bare, "b2");
    let file = path(&bare, "src/lib.rs");

    let claim = announce_in(&env, &b1, "src/lib.rs", "a");
    assert_eq!(claim["file"], file.as_str(), "{claim}");
    assert_eq!(claim["hold"]["checkout_path"], b1.to_str().unwrap());
    let run = holds_in(&env, &b2, &["announce", "src/lib.rs", "--agent", "b"], &[]);
    assert_refused(&run, &file, "a", &b1);
}

#[test]
fn symlinked_checkouts_and_components_name_the_real_file() {
    let env = CliEnv::sqlite();
    let cwd = env.cwd();
    let repo = repository(&env, "repo");
    std::os::unix::fs::symlink(&repo, cwd.join("link")).unwrap();
    std::os::unix::fs::symlink(repo.join("src"), cwd.join("srclink")).unwrap();
    std::fs::create_dir_all(repo.join("src/sub")).unwrap();
    std::os::unix::fs::symlink("sub", repo.join("src/mid")).unwrap();
    let a = path(&repo, "src/a.rs");

    // Relative and absolute names through the link are the real file.
    let claim = announce_in(&env, &cwd, "link/src/a.rs", "a");
    assert_eq!(claim["file"], a.as_str());
    for name in [
        "repo/src/a.rs".to_string(),
        path(&cwd, "link/src/a.rs"),
        path(&cwd, "link/src/../src/a.rs"),
        "srclink/a.rs".to_string(),
    ] {
        let run = holds_in(&env, &cwd, &["announce", &name, "--agent", "b"], &[]);
        assert_refused(&run, &a, "a", &repo);
    }
    // `..` after a symlink leaves the link's target, as the kernel does: srclink/.. is repo, not cwd.
    let readme = announce_in(&env, &cwd, "srclink/../README.md", "a");
    assert_eq!(readme["file"], path(&repo, "README.md").as_str());

    // A middle component that is a symlink, to a file that does not exist yet.
    let deep = announce_in(&env, &cwd, "repo/src/mid/deep/f.rs", "a");
    assert_eq!(deep["file"], path(&repo, "src/sub/deep/f.rs").as_str());
    let run = holds_in(
        &env,
        &repo,
        &["announce", "src/sub/deep/f.rs", "--agent", "b"],
        &[],
    );
    assert_refused(&run, &path(&repo, "src/sub/deep/f.rs"), "a", &repo);

    // A working directory entered through the link.
    let who = holds_in(
        &env,
        &cwd.join("link"),
        &["--json", "who-has", "src/a.rs"],
        &[],
    );
    who.assert_code(0);
    assert_eq!(first_holder(who.json()), claim);
}

#[test]
fn a_copy_declared_with_holds_workspace_maps_onto_the_workspace() {
    let env = CliEnv::sqlite();
    let cwd = env.cwd();
    let ws = cwd.join("ws");
    let copy_a = cwd.join("copy-a");
    let copy_c = cwd.join("copy-c");
    for dir in [&ws, &copy_a, &copy_c] {
        std::fs::create_dir_all(dir.join("src")).unwrap();
    }
    let ws_env = |copy: &Path| {
        [
            ("HOLDS_WORKSPACE", ws.to_str().unwrap().to_string()),
            ("HOLDS_CHECKOUT", copy.to_str().unwrap().to_string()),
        ]
    };
    let file = path(&ws, "src/x.rs");

    let a_env = ws_env(&copy_a);
    let a_env: Vec<(&str, &str)> = a_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = holds_in(
        &env,
        &copy_a,
        &["--json", "announce", "src/x.rs", "--agent", "a"],
        &a_env,
    );
    run.assert_code(0);
    assert_eq!(run.json()["file"], file.as_str(), "{run}");
    assert_eq!(
        run.json()["hold"]["checkout_path"],
        copy_a.to_str().unwrap()
    );

    // In the workspace itself, and in another copy, the same file is refused.
    let run = holds_in(&env, &ws, &["announce", "src/x.rs", "--agent", "b"], &[]);
    assert_refused(&run, &file, "a", &copy_a);
    let c_env = ws_env(&copy_c);
    let c_env: Vec<(&str, &str)> = c_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = holds_in(
        &env,
        &copy_c,
        &["announce", "src/x.rs", "--agent", "c"],
        &c_env,
    );
    assert_refused(&run, &file, "a", &copy_a);

    // A workspace without a checkout is bad input, naming the setting; nothing is held.
    let run = holds_in(
        &env,
        &copy_c,
        &["announce", "src/y.rs", "--agent", "c"],
        &[("HOLDS_WORKSPACE", ws.to_str().unwrap())],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("workspace"), "{run}");
    holds_in(&env, &ws, &["who-has", "src/y.rs"], &[]).assert_code(4);
}
