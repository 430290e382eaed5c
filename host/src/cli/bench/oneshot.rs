//! CLI one-shot: the wall time of `holds who-has /x --nats URL` as a fresh
//! process, against `holds-minimal-get` (connect with async-nats, one KV get of
//! `_probe`, exit). Both run alternately; the compiled component comes from the
//! on-disk cache (warmed by the first, untimed run).

use super::stats::{Summary, summarize};
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The minimal program's name, next to the `holds` binary.
const MINIMAL: &str = "holds-minimal-get";

#[derive(Serialize)]
pub struct OneShot {
    pub holds: Summary,
    pub minimal: Summary,
    pub holds_command: String,
    pub minimal_command: String,
}

/// Where the minimal program is: `explicit`, else next to this executable (built
/// with cargo first when it is missing and this is a cargo build).
pub fn minimal_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the executable has no directory")?;
    let path = dir.join(format!("{MINIMAL}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        build_minimal(dir)
            .with_context(|| format!("{} is missing and could not be built", path.display()))?;
    }
    Ok(path)
}

/// `cargo build -p holds --bin holds-minimal-get` into this executable's target
/// directory and profile (`cargo run` builds only the binary it runs).
fn build_minimal(exe_dir: &Path) -> anyhow::Result<()> {
    let profile = match exe_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(other) => other.to_string(),
        None => bail!("cannot tell the cargo profile of {}", exe_dir.display()),
    };
    let target_dir = exe_dir.parent().context("no target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    super::super::output::print_err(format_args!(
        "bench: building {MINIMAL} (profile {profile})"
    ));
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "holds",
            "--bin",
            MINIMAL,
            "--profile",
        ])
        .arg(&profile)
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build failed: {status}");
    }
    Ok(())
}

/// Run `bin args` once; its wall time, checking the exit code.
fn time_once(bin: &Path, args: &[String], cache: &Path, expect: i32) -> anyhow::Result<Duration> {
    let mut command = Command::new(bin);
    command
        .args(args)
        .env("HOLDS_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Same connection settings for both: no ambient NATS options.
    for var in [
        "NATS_URL",
        "NATS_CREDS",
        "NATS_USER",
        "NATS_PASSWORD",
        "NATS_TOKEN",
        "NATS_CA",
        "NATS_CERT",
        "NATS_KEY",
        "HOLDS_LOG",
    ] {
        command.env_remove(var);
    }
    let start = Instant::now();
    let out = command
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let elapsed = start.elapsed();
    if out.status.code() != Some(expect) {
        bail!(
            "{} {} exited with {} (expected {expect}): {}",
            bin.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(elapsed)
}

pub async fn measure(
    url: &str,
    bucket: &str,
    samples: usize,
    minimal: PathBuf,
    cache: PathBuf,
) -> anyhow::Result<OneShot> {
    let holds = std::env::current_exe()?;
    let holds_args: Vec<String> = ["who-has", "/x", "--nats", url, "--bucket", bucket]
        .map(String::from)
        .to_vec();
    let minimal_args = vec![url.to_string(), bucket.to_string()];
    let holds_command = format!("holds {}", holds_args.join(" "));
    let minimal_command = format!("{MINIMAL} {}", minimal_args.join(" "));
    tokio::task::spawn_blocking(move || {
        // Warm-up: the first holds run compiles the component into the cache.
        for _ in 0..2 {
            time_once(&holds, &holds_args, &cache, 4)?;
            time_once(&minimal, &minimal_args, &cache, 0)?;
        }
        let mut h = Vec::with_capacity(samples);
        let mut m = Vec::with_capacity(samples);
        for _ in 0..samples {
            h.push(time_once(&holds, &holds_args, &cache, 4)?);
            m.push(time_once(&minimal, &minimal_args, &cache, 0)?);
        }
        Ok(OneShot {
            holds: summarize(&h),
            minimal: summarize(&m),
            holds_command,
            minimal_command,
        })
    })
    .await?
}
