//! `holds guard` on real git repositories in temporary directories: hooks installed by the real binary,
//! real commits, renames and pushes to a local bare remote; git runs the hooks as it always does.

use crate::announce;
use crate::support::{CALL_TIMEOUT, CliEnv, Run, Store, wait_output};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A repository at `<cwd>/repo` with one commit, and the environment its hooks' `holds` calls share.
struct Repo {
    env: CliEnv,
    root: PathBuf,
}

impl Repo {
    fn new() -> Self {
        Self::on(CliEnv::sqlite())
    }

    fn on(env: CliEnv) -> Self {
        let root = env.cwd().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let repo = Repo { env, root };
        repo.git(&["init", "-q", "-b", "main"]).assert_code(0);
        for (key, value) in [
            ("user.name", "Test"),
            ("user.email", "test@example.com"),
            ("commit.gpgsign", "false"),
        ] {
            repo.git(&["config", key, value]).assert_code(0);
        }
        repo.write("README.md", "hello\n");
        repo.git(&["add", "README.md"]).assert_code(0);
        repo.git(&["commit", "-q", "-m", "first"]).assert_code(0);
        repo
    }

    /// `git ARGS` in the repository, with the test's holds environment (and `envs`), as an agent's shell runs it.
    fn git_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut cmd = crate::support::like(&self.env.command(Vec::<&str>::new()), "git");
        // The hooks' holds calls get the store from the environment, as an agent's would.
        if let Store::Nats(url) = self.env.store() {
            cmd.env("NATS_URL", url);
        }
        cmd.env_remove("HOLDS_GUARD").envs(envs.iter().copied());
        cmd.arg("-C").arg(&self.root).args(args);
        let shown = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        wait_output(child, CALL_TIMEOUT, &shown)
    }

    fn git(&self, args: &[&str]) -> Run {
        self.git_with(args, &[])
    }

    fn holds(&self, args: &[&str]) -> Run {
        let mut cmd = self.env.command(args);
        cmd.current_dir(&self.root);
        let shown = format!("{cmd:?}");
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_output(child, CALL_TIMEOUT, &shown)
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.root.display())
    }

    fn hook(&self, name: &str) -> PathBuf {
        self.root.join(".git/hooks").join(name)
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).stdout.trim().to_string()
    }

    /// Stage `path` with new content and commit as `agent`.
    fn commit(&self, path: &str, agent: &str, envs: &[(&str, &str)]) -> Run {
        self.write(path, &format!("{agent} was here\n"));
        self.git(&["add", path]).assert_code(0);
        let mut all = vec![("HOLDS_AGENT", agent)];
        all.extend_from_slice(envs);
        self.git_with(&["commit", "-q", "-m", "change"], &all)
    }

    fn install(&self, mode: &str) {
        self.holds(&["guard", "install", "--mode", mode])
            .assert_code(0);
    }
}

fn hold(repo: &Repo, path: &str, agent: &str) {
    announce(&repo.env, &repo.path(path), agent, "5m");
}

#[track_caller]
fn assert_blocked(run: &Run, repo: &Repo, path: &str, holder: &str, what: &str) {
    assert_ne!(run.code(), 0, "{run}");
    // The holder took the file in the repository's (only) worktree.
    let line = format!(
        "holds guard: {} is held by agent {holder:?} (in {}) until ",
        repo.path(path),
        repo.root.display()
    );
    assert!(run.stderr.contains(&line), "{line}: {run}");
    assert!(
        run.stderr
            .contains(&format!("holds guard: {what} blocked: ")),
        "{run}"
    );
}

#[test]
fn a_commit_of_a_file_another_agent_holds_is_blocked_and_its_holder_may_commit() {
    let repo = Repo::new();
    repo.install("block");
    hold(&repo, "src/a.rs", "agent-b");
    let before = repo.head();
    let run = repo.commit("src/a.rs", "agent-a", &[]);
    assert_blocked(&run, &repo, "src/a.rs", "agent-b", "commit");
    assert_eq!(repo.head(), before, "nothing was committed");
    // The holder itself commits.
    repo.git_with(
        &["commit", "-q", "-m", "by b"],
        &[("HOLDS_AGENT", "agent-b")],
    )
    .assert_code(0);
    // A file nobody holds must be held by the committing agent first.
    let before = repo.head();
    let run = repo.commit("src/free.rs", "agent-a", &[]);
    assert_ne!(run.code(), 0, "{run}");
    assert!(
        run.stderr.contains(&format!(
            "holds guard: {} is held by nobody: agent-a must hold it",
            repo.path("src/free.rs")
        )),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("holds guard: commit blocked: 1 file is not held by agent-a"),
        "{run}"
    );
    assert_eq!(repo.head(), before, "nothing was committed");
    hold(&repo, "src/free.rs", "agent-a");
    repo.git_with(
        &["commit", "-q", "-m", "by a"],
        &[("HOLDS_AGENT", "agent-a")],
    )
    .assert_code(0);
}

/// A commit is judged against every hold covering its paths: another agent's glob blocks it naming the
/// glob, the committer's own directory hold lets it through, and a file only shared (its own shared hold
/// included) may not be changed.
#[test]
fn a_commit_is_judged_through_directory_glob_and_shared_holds() {
    let repo = Repo::new();
    repo.install("block");
    let announce = |args: &[&str], agent: &str| {
        let mut all = vec!["announce"];
        all.extend_from_slice(args);
        all.extend(["--agent", agent, "--ttl", "5m"]);
        repo.holds(&all).assert_code(0);
    };
    announce(&["docs/**/*.md"], "agent-b");
    let before = repo.head();
    let run = repo.commit("docs/guide/intro.md", "agent-a", &[]);
    assert_ne!(run.code(), 0, "{run}");
    let line = format!(
        "holds guard: {} is held by agent \"agent-b\" (in {}) (exclusive hold on {}) until ",
        repo.path("docs/guide/intro.md"),
        repo.root.display(),
        repo.path("docs/**/*.md")
    );
    assert!(run.stderr.contains(&line), "{line}: {run}");
    assert_eq!(repo.head(), before, "nothing was committed");
    repo.git(&["reset", "-q"]).assert_code(0);
    announce(&["src/"], "agent-a");
    repo.commit("src/deep/a.rs", "agent-a", &[]).assert_code(0);
    announce(&["lib/", "--shared"], "agent-a");
    let before = repo.head();
    let run = repo.commit("lib/x.rs", "agent-a", &[]);
    assert_ne!(run.code(), 0, "{run}");
    assert!(
        run.stderr.contains(&format!(
            "holds guard: {} is only shared (agent-a's shared hold on {} until ",
            repo.path("lib/x.rs"),
            repo.path("lib/")
        )),
        "{run}"
    );
    assert_eq!(repo.head(), before, "nothing was committed");
}

#[test]
fn without_holds_agent_any_holder_blocks() {
    let repo = Repo::new();
    repo.install("block");
    hold(&repo, "src/a.rs", "agent-b");
    repo.write("src/a.rs", "x\n");
    repo.git(&["add", "src/a.rs"]).assert_code(0);
    let run = repo.git(&["commit", "-q", "-m", "human"]);
    assert_blocked(&run, &repo, "src/a.rs", "agent-b", "commit");
    assert!(run.stderr.contains("HOLDS_AGENT is not set"), "{run}");
}

#[test]
fn both_names_of_a_rename_are_checked() {
    let repo = Repo::new();
    repo.write("old.rs", "fn old() {}\n");
    repo.git(&["add", "old.rs"]).assert_code(0);
    repo.git(&["commit", "-q", "-m", "old"]).assert_code(0);
    repo.install("block");
    hold(&repo, "old.rs", "agent-b");
    repo.git(&["mv", "old.rs", "new.rs"]).assert_code(0);
    let run = repo.git_with(
        &["commit", "-q", "-m", "rename"],
        &[("HOLDS_AGENT", "agent-a")],
    );
    assert_blocked(&run, &repo, "old.rs", "agent-b", "commit");
    repo.holds(&["release", &repo.path("old.rs"), "--agent", "agent-b"])
        .assert_code(0);
    hold(&repo, "new.rs", "agent-c");
    let run = repo.git_with(
        &["commit", "-q", "-m", "rename"],
        &[("HOLDS_AGENT", "agent-a")],
    );
    assert_blocked(&run, &repo, "new.rs", "agent-c", "commit");
}

#[test]
fn warn_mode_prints_the_holder_and_commits() {
    let repo = Repo::new();
    repo.install("warn");
    hold(&repo, "src/a.rs", "agent-b");
    let before = repo.head();
    let run = repo.commit("src/a.rs", "agent-a", &[]);
    run.assert_code(0);
    assert!(
        run.stderr.contains(&format!(
            "holds guard: {} is held by agent \"agent-b\"",
            repo.path("src/a.rs")
        )),
        "{run}"
    );
    assert!(run.stderr.contains("holds guard: warning: 1 file is held by another agent (HOLDS_AGENT=agent-a); commit goes on (--mode warn)"), "{run}");
    assert_ne!(repo.head(), before);
}

#[test]
fn holds_guard_off_bypasses_and_says_so() {
    let repo = Repo::new();
    repo.install("block");
    hold(&repo, "src/a.rs", "agent-b");
    let run = repo.commit("src/a.rs", "agent-a", &[("HOLDS_GUARD", "off")]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("holds guard: HOLDS_GUARD=off: commit not checked against holds"),
        "{run}"
    );
}

#[test]
fn install_chains_an_existing_hook_and_uninstall_restores_it() {
    let repo = Repo::new();
    let log = repo.env.dir().join("chained.log");
    let original = format!(
        "#!/bin/sh\necho \"pre-commit ran\" >> '{}'\n",
        log.display()
    );
    let hook = repo.hook("pre-commit");
    std::fs::write(&hook, &original).unwrap();
    make_executable(&hook);
    let run = repo.holds(&["guard", "install"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("kept the existing pre-commit as"),
        "{run}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.hook("pre-commit.holds-chained")).unwrap(),
        original
    );
    // Installing again rewrites holds' own hooks and chains nothing twice.
    repo.install("block");
    assert_eq!(
        std::fs::read_to_string(repo.hook("pre-commit.holds-chained")).unwrap(),
        original
    );

    hold(&repo, "src/free.rs", "agent-a");
    repo.commit("src/free.rs", "agent-a", &[]).assert_code(0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "pre-commit ran\n");
    // The chained hook still runs when the guard would block, and the guard still blocks after it.
    hold(&repo, "src/a.rs", "agent-b");
    assert_blocked(
        &repo.commit("src/a.rs", "agent-a", &[]),
        &repo,
        "src/a.rs",
        "agent-b",
        "commit",
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "pre-commit ran\npre-commit ran\n"
    );

    let run = repo.holds(&["guard", "uninstall"]);
    run.assert_code(0);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), original);
    assert!(!repo.hook("pre-commit.holds-chained").exists());
    assert!(
        !repo.hook("pre-push").exists(),
        "the pre-push holds wrote is gone"
    );
    // Uninstalled: the held file commits.
    repo.git_with(
        &["commit", "-q", "-m", "after"],
        &[("HOLDS_AGENT", "agent-a")],
    )
    .assert_code(0);
}

#[test]
fn a_refusing_chained_hook_stops_the_commit_first() {
    let repo = Repo::new();
    let hook = repo.hook("pre-commit");
    std::fs::write(&hook, "#!/bin/sh\necho 'lint failed' >&2\nexit 7\n").unwrap();
    make_executable(&hook);
    repo.install("block");
    let run = repo.commit("src/free.rs", "agent-a", &[]);
    assert_ne!(run.code(), 0, "{run}");
    assert!(
        run.stderr.contains("lint failed") && !run.stderr.contains("holds guard"),
        "{run}"
    );
}

#[test]
fn install_refuses_to_overwrite_a_hook_and_an_earlier_chained_copy() {
    let repo = Repo::new();
    for name in ["pre-push", "pre-push.holds-chained"] {
        std::fs::write(repo.hook(name), format!("#!/bin/sh\n# {name}\n")).unwrap();
    }
    let run = repo.holds(&["guard", "install"]);
    run.assert_code(2);
    assert!(
        run.one_line_stderr().contains("not overwriting either"),
        "{run}"
    );
    // Nothing was written, pre-commit included.
    assert!(!repo.hook("pre-commit").exists());
    assert_eq!(
        std::fs::read_to_string(repo.hook("pre-push")).unwrap(),
        "#!/bin/sh\n# pre-push\n"
    );
}

#[test]
fn a_push_of_commits_touching_a_file_another_agent_holds_is_blocked() {
    let repo = Repo::new();
    let remote = repo.env.dir().join("remote.git");
    Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&remote)
        .status()
        .unwrap();
    repo.git(&["remote", "add", "origin", remote.to_str().unwrap()])
        .assert_code(0);
    repo.install("block");
    let release = |repo: &Repo, path: &str, agent: &str| {
        repo.holds(&["release", &repo.path(path), "--agent", agent])
            .assert_code(0);
    };
    // The first push carries every commit, README.md's too: agent-a holds it.
    hold(&repo, "README.md", "agent-a");
    hold(&repo, "src/a.rs", "agent-a");
    repo.commit("src/a.rs", "agent-a", &[]).assert_code(0);
    // Taken by another agent after the commit: the push carries it.
    release(&repo, "src/a.rs", "agent-a");
    hold(&repo, "src/a.rs", "agent-b");
    let push = |repo: &Repo| {
        repo.git_with(
            &["push", "-q", "origin", "main"],
            &[("HOLDS_AGENT", "agent-a")],
        )
    };
    let run = push(&repo);
    assert_blocked(&run, &repo, "src/a.rs", "agent-b", "push to origin");
    let remote_head = |repo: &Repo| repo.git(&["ls-remote", "origin", "main"]).stdout;
    assert_eq!(remote_head(&repo), "", "nothing reached the remote");
    // Released by b, it is held by nobody: a's push must hold it.
    release(&repo, "src/a.rs", "agent-b");
    let run = push(&repo);
    assert!(
        run.stderr
            .contains("holds guard: push to origin blocked: 1 file is not held by agent-a"),
        "{run}"
    );
    hold(&repo, "src/a.rs", "agent-a");
    push(&repo).assert_code(0);
    // Only the new commits count: src/a.rs is held by b again but the next push does not touch it.
    release(&repo, "src/a.rs", "agent-a");
    hold(&repo, "src/a.rs", "agent-b");
    hold(&repo, "src/b.rs", "agent-a");
    repo.commit("src/b.rs", "agent-a", &[]).assert_code(0);
    push(&repo).assert_code(0);
    assert!(remote_head(&repo).starts_with(&repo.head()));
    // A later commit touching it is stopped at the push.
    repo.commit("src/a.rs", "agent-b", &[]).assert_code(0);
    assert_blocked(&push(&repo), &repo, "src/a.rs", "agent-b", "push to origin");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn on_jetstream_a_commit_of_a_file_another_agent_holds_is_blocked() {
    let server = holds_nats_fixture::NatsServer::start();
    let repo = Repo::on(CliEnv::nats(server.url()));
    repo.install("block");
    hold(&repo, "src/a.rs", "agent-b");
    let run = repo.commit("src/a.rs", "agent-a", &[]);
    assert_blocked(&run, &repo, "src/a.rs", "agent-b", "commit");
    repo.git_with(
        &["commit", "-q", "-m", "by b"],
        &[("HOLDS_AGENT", "agent-b")],
    )
    .assert_code(0);
}

/// Warn mode never blocks: a staged file whose name is not UTF-8 made the guard fail before its warn
/// handling and abort the commit (the hook exited 2).
#[test]
fn warn_mode_never_blocks_even_on_a_path_it_cannot_judge() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new();
    repo.install("warn");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.rs");
    std::fs::write(repo.root.join(name), "x\n").unwrap();
    repo.git(&["add", "-A"]).assert_code(0);
    let before = repo.head();
    let run = repo.git_with(
        &["commit", "-q", "-m", "non-UTF-8"],
        &[("HOLDS_AGENT", "agent-a")],
    );
    run.assert_code(0);
    assert!(run.stderr.contains("holds guard: warning"), "{run}");
    assert_ne!(repo.head(), before, "committed");
}

/// Only object names reach git: a pre-push line whose "sha" is an option (`--all`) is refused naming it.
#[test]
fn a_pre_push_line_whose_sha_is_no_object_name_is_refused() {
    let repo = Repo::new();
    let zero = "0".repeat(40);
    for sha in ["--all", "HEAD", "abc"] {
        let line = format!("refs/heads/main {sha} refs/heads/main {zero}\n");
        let mut cmd = repo
            .env
            .command(["guard", "check", "--hook", "pre-push", "origin", "url"]);
        cmd.current_dir(&repo.root);
        let run = crate::support::run_command_with_input(cmd, &line);
        run.assert_code(2);
        assert!(run.stderr.contains("is not an object name"), "{sha}: {run}");
    }
}
