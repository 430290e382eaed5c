//! Writing and removing the hook scripts. An existing hook is never overwritten:
//! it is moved to `<hook>.holds-chained` and run first by the new hook; uninstall
//! moves it back.

use super::{Hook, Mode, git};
use crate::failure::{Failure, Outcome, exit};
use crate::output;
use clap::Args;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The line marking a hook as written by `holds guard install`.
const MARKER: &str = "# holds guard: written by `holds guard install`";

#[derive(Args, Debug)]
pub struct InstallOpts {
    /// Stop (block) or only warn about commits and pushes touching others' files.
    #[arg(long, value_enum, default_value = "block")]
    pub mode: Mode,
    /// The repository [default: the working directory's].
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
}

#[derive(Args, Debug)]
pub struct UninstallOpts {
    /// The repository [default: the working directory's].
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
}

const HOOKS: [Hook; 2] = [Hook::PreCommit, Hook::PrePush];

fn chained(hook: &Path) -> PathBuf {
    let mut name = hook.as_os_str().to_owned();
    name.push(".holds-chained");
    PathBuf::from(name)
}

fn is_ours(hook: &Path) -> bool {
    std::fs::read_to_string(hook).is_ok_and(|text| text.contains(MARKER))
}

/// Single-quoted for sh.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The hook script: the chained hook first (its refusal wins), then the check.
/// pre-push reads its refs from stdin, so both get a copy.
fn script(hook: Hook, mode: Mode, holds: &str) -> String {
    let name = hook.file_name();
    let check = format!(
        "{} guard check --hook {name} --mode {} \"$@\"",
        quoted(holds),
        mode.as_str()
    );
    let body = match hook {
        Hook::PreCommit => format!(
            "if [ -x \"$0.holds-chained\" ]; then \"$0.holds-chained\" \"$@\" || exit $?; fi\nexec {check}\n"
        ),
        Hook::PrePush => format!(
            "refs=$(cat)\n\
             feed() {{ if [ -n \"$refs\" ]; then printf '%s\\n' \"$refs\"; fi; }}\n\
             if [ -x \"$0.holds-chained\" ]; then feed | \"$0.holds-chained\" \"$@\" || exit $?; fi\n\
             feed | exec {check}\n"
        ),
    };
    format!(
        "#!/bin/sh\n{MARKER} (mode {}); `holds guard uninstall` removes it.\n\
         # HOLDS_GUARD=off skips the check; HOLDS_AGENT names the agent committing.\n{body}",
        mode.as_str()
    )
}

pub fn install(o: InstallOpts) -> Outcome {
    let dir = git::hooks_dir(&o.repo)?;
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let holds = std::env::current_exe()
        .map_err(|e| Failure::store(anyhow::anyhow!("cannot find the holds binary: {e}")))?;
    let holds = holds
        .to_str()
        .ok_or_else(|| Failure::usage(anyhow::anyhow!("the holds binary's path is not UTF-8")))?;
    // Check both before writing either: a refusal leaves the repository as it was.
    for hook in HOOKS {
        let path = dir.join(hook.file_name());
        if path.exists() && !is_ours(&path) && chained(&path).exists() {
            return Err(Failure::usage(anyhow::anyhow!(
                "{} exists and so does {}: not overwriting either; move one away first",
                path.display(),
                chained(&path).display()
            )));
        }
    }
    for hook in HOOKS {
        let path = dir.join(hook.file_name());
        if path.exists() && !is_ours(&path) {
            let kept = chained(&path);
            std::fs::rename(&path, &kept).map_err(|e| io(&path, e))?;
            output::print(format_args!(
                "kept the existing {} as {} (run first)",
                hook.file_name(),
                kept.display()
            ));
        }
        std::fs::write(&path, script(hook, o.mode, holds)).map_err(|e| io(&path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io(&path, e))?;
        output::print(format_args!(
            "installed {} (mode {})",
            path.display(),
            o.mode.as_str()
        ));
    }
    Ok(exit::OK)
}

pub fn uninstall(o: UninstallOpts) -> Outcome {
    let dir = git::hooks_dir(&o.repo)?;
    for hook in HOOKS {
        let path = dir.join(hook.file_name());
        if !path.exists() {
            continue;
        }
        if !is_ours(&path) {
            output::print(format_args!(
                "left {} alone: holds guard did not write it",
                path.display()
            ));
            continue;
        }
        let kept = chained(&path);
        if kept.exists() {
            std::fs::rename(&kept, &path).map_err(|e| io(&kept, e))?;
            output::print(format_args!("restored {}", path.display()));
        } else {
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
            output::print(format_args!("removed {}", path.display()));
        }
    }
    Ok(exit::OK)
}

fn io(path: &Path, e: std::io::Error) -> Failure {
    Failure::store(anyhow::anyhow!("{}: {e}", path.display()))
}
