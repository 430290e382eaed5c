//! `holds bench [ARGS]`: runs `holds-bench` (the `holds-bench` crate), found next
//! to this executable or on PATH, as cargo runs its external subcommands. The
//! benchmark is a separate program so the CLI links neither its harness nor the
//! natively compiled guest it measures against.

use crate::args::Global;
use crate::failure::{Failure, Outcome};
use clap::Args;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

#[derive(Args, Debug)]
#[command(
    disable_help_flag = true,
    after_help = "Every argument goes to holds-bench (`holds bench --help` shows its options); --nats\nand --json given to holds are passed on."
)]
pub struct Opts {
    /// holds-bench's arguments (e.g. `--spawn --quick`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

/// `holds-bench` beside this executable, else on PATH.
fn program() -> Result<PathBuf, Failure> {
    let name = format!("holds-bench{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|path| path.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&name))
                .find(|path| path.is_file())
        })
    };
    beside.or_else(on_path).ok_or_else(|| {
        Failure::store(anyhow::anyhow!(
            "holds bench runs holds-bench, which is not next to holds nor on PATH: build it with \
             `cargo build --release -p holds-bench`"
        ))
    })
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let mut command = Command::new(program()?);
    if let Some(url) = &global.nats {
        command.args(["--nats", url]);
    }
    if global.json {
        command.arg("--json");
    }
    command.args(&o.args);
    let status = command
        .status()
        .map_err(|e| Failure::store(anyhow::anyhow!("running holds-bench: {e}")))?;
    Ok(status.code().map_or(1, |code| code.clamp(0, 255) as u8))
}
