//! An on-disk cache of compiled components, so a second process (every CLI call)
//! loads native code in well under a millisecond instead of compiling for ~40 ms.
//!
//! The file name is keyed by the component's digest and the engine's
//! compatibility hash (a precompiled artifact only loads into an engine with the
//! same configuration). The directory is `HOLDS_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/holds`, else `~/.cache/holds`; any failure falls back to
//! compiling in memory.

use crate::error::Error;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `Hash` output into SHA-256 (stable across processes, unlike `DefaultHasher`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        unreachable!("only the full digest is used")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HOLDS_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("holds"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("holds"))
}

pub(crate) fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    digest: &str,
) -> Result<Component, Error> {
    let Some(dir) = cache_dir() else {
        return super::engine::compile(engine, bytes);
    };
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hex(&hasher.0.finalize()[..8]);
    let path = dir.join(format!("holds-{}-{engine_hash}.cwasm", &digest[..16]));
    if path.exists() {
        // SAFETY: the file is this user's own cache, written below by this code from
        // `Engine::precompile_component`; its name pins the component and engine.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring an unusable cached component: {e:#}")
            }
        }
    }
    match store(engine, bytes, &dir, &path) {
        // SAFETY: `compiled` was produced just now by `precompile_component` of this engine.
        Ok(compiled) => unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| Error::Guest(format!("loading the compiled component: {e:#}"))),
        Err(e) => {
            tracing::debug!(path = %path.display(), "not caching the compiled component: {e:#}");
            super::engine::compile(engine, bytes)
        }
    }
}

/// Write atomically (temp file + rename) so concurrent processes never read half a file.
fn store(
    engine: &Engine,
    bytes: &[u8],
    dir: &PathBuf,
    path: &PathBuf,
) -> wasmtime::Result<Vec<u8>> {
    std::fs::create_dir_all(dir)?;
    let compiled = engine.precompile_component(bytes)?;
    let tmp = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, &compiled)?;
    std::fs::rename(&tmp, path)?;
    Ok(compiled)
}
