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

/// The minimal program's name, next to this binary.
pub const MINIMAL: &str = "holds-minimal-get";

#[derive(Serialize)]
pub struct OneShot {
    pub holds: Summary,
    pub minimal: Summary,
    pub holds_command: String,
    pub minimal_command: String,
}

/// A program of this workspace: `explicit`, else `name` next to this executable
/// (`cargo build --release -p holds-cli -p holds-bench` puts them side by side).
pub fn sibling(explicit: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the executable has no directory")?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p holds-cli -p holds-bench`",
            path.display()
        );
    }
    Ok(path)
}

/// Run `bin args` once; its wall time, checking the exit code.
pub fn time_once(
    bin: &Path,
    args: &[String],
    cache: &Path,
    expect: i32,
) -> anyhow::Result<Duration> {
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
    holds: PathBuf,
    minimal: PathBuf,
    cache: PathBuf,
) -> anyhow::Result<OneShot> {
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
