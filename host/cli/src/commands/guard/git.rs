//! The git facts a guard needs, from git itself.

use crate::failure::Failure;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `git ARGS` in `dir`; its stdout, or a failure naming the command.
pub fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, Failure> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| Failure::store(anyhow::anyhow!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Failure::usage(anyhow::anyhow!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

fn text(bytes: Vec<u8>) -> Result<String, Failure> {
    String::from_utf8(bytes)
        .map(|s| s.trim_end_matches('\n').to_string())
        .map_err(|_| Failure::usage(anyhow::anyhow!("git printed a path that is not UTF-8")))
}

/// The work tree's root.
pub fn toplevel(dir: &Path) -> Result<PathBuf, Failure> {
    Ok(PathBuf::from(text(git(
        dir,
        &["rev-parse", "--show-toplevel"],
    )?)?))
}

/// The hooks directory (core.hooksPath when set), absolute.
pub fn hooks_dir(dir: &Path) -> Result<PathBuf, Failure> {
    let hooks = PathBuf::from(text(git(dir, &["rev-parse", "--git-path", "hooks"])?)?);
    if hooks.is_absolute() {
        return Ok(hooks);
    }
    // Relative to `dir`: made absolute so messages name the real place.
    let dir = dir
        .canonicalize()
        .map_err(|e| Failure::usage(anyhow::anyhow!("{}: {e}", dir.display())))?;
    Ok(dir.join(hooks))
}

/// Paths from `--name-status -z` output: both names of a rename or copy.
pub fn name_status_paths(out: &[u8]) -> Result<Vec<String>, Failure> {
    let mut fields = out
        .split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8(f.to_vec()));
    let mut paths = Vec::new();
    while let Some(status) = fields.next() {
        let status = status.map_err(|_| not_utf8())?;
        // R100 and C75 carry two paths, every other status one.
        let names = if status.starts_with('R') || status.starts_with('C') {
            2
        } else {
            1
        };
        for _ in 0..names {
            match fields.next() {
                Some(path) => paths.push(path.map_err(|_| not_utf8())?),
                None => {
                    return Err(Failure::usage(anyhow::anyhow!(
                        "git's --name-status output ended after status {status:?}"
                    )));
                }
            }
        }
    }
    Ok(paths)
}

fn not_utf8() -> Failure {
    Failure::usage(anyhow::anyhow!("git printed a path that is not UTF-8"))
}

/// The staged paths, relative to the root.
pub fn staged(root: &Path) -> Result<Vec<String>, Failure> {
    let out = git(root, &["diff", "--cached", "--name-status", "-z", "-M"])?;
    name_status_paths(&out)
}

const ZERO: &str = "0000000000000000000000000000000000000000";

/// The paths changed by the commits a push sends: git's pre-push stdin, one
/// `<local ref> <local sha> <remote ref> <remote sha>` line per ref.
pub fn pushed(root: &Path, refs: &str) -> Result<Vec<String>, Failure> {
    let mut paths = Vec::new();
    for line in refs.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local, _, remote] = fields[..] else {
            return Err(Failure::usage(anyhow::anyhow!(
                "not a pre-push line (<local ref> <local sha> <remote ref> <remote sha>): {line:?}"
            )));
        };
        // Only object names reach git's command line (never an option like `--all`).
        for sha in [local, remote] {
            if !is_object_name(sha) {
                return Err(Failure::usage(anyhow::anyhow!(
                    "not a pre-push line: {sha:?} is not an object name (40 or 64 hex digits): {line:?}"
                )));
            }
        }
        // A deletion pushes no commits.
        if local.trim_start_matches('0').is_empty() {
            continue;
        }
        let known = remote != ZERO
            && !remote.trim_start_matches('0').is_empty()
            && git(root, &["cat-file", "-e", &format!("{remote}^{{commit}}")]).is_ok();
        let range = if known {
            git(root, &["rev-list", &format!("{remote}..{local}")])?
        } else {
            // A new branch: the commits no remote-tracking branch has.
            git(root, &["rev-list", local, "--not", "--remotes"])?
        };
        for commit in text(range)?.lines().filter(|c| !c.is_empty()) {
            let out = git(
                root,
                &[
                    "diff-tree",
                    "--no-commit-id",
                    "--name-status",
                    "-r",
                    "-z",
                    "-M",
                    "--root",
                    commit,
                ],
            )?;
            paths.extend(name_status_paths(&out)?);
        }
    }
    Ok(paths)
}

/// A SHA-1 or SHA-256 object name in hex.
fn is_object_name(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::name_status_paths;

    #[test]
    fn renames_and_copies_give_both_names() {
        let out = b"M\0src/a.rs\0R100\0old.rs\0new.rs\0C75\0x.rs\0y.rs\0D\0gone.rs\0";
        assert_eq!(
            name_status_paths(out).ok(),
            Some(
                vec!["src/a.rs", "old.rs", "new.rs", "x.rs", "y.rs", "gone.rs"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
        assert!(name_status_paths(b"R100\0old.rs\0").is_err());
    }
}
