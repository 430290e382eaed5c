//! An on-disk cache of compiled components, so a second process (every CLI call)
//! loads native code in well under a millisecond instead of compiling for ~40 ms.
//!
//! A cached artifact is native code that is executed, so the cache trusts nothing
//! it did not write itself:
//! - the directory (`HOLDS_CACHE_DIR`, else `$XDG_CACHE_HOME/holds`, else
//!   `~/.cache/holds`) is created `0700` and used only while it is a real
//!   directory owned by this user that nobody else can write; otherwise
//!   components are compiled in memory;
//! - artifacts are written to fresh, randomly named files created exclusively
//!   (`O_EXCL`, never through a symlink) in that directory, then renamed into place;
//! - each artifact ends with a BLAKE3 hash (a fifth of SHA-256's cost on the
//!   ~1 MB artifact every CLI call reads) over the component's digest, the
//!   engine's compatibility hash and the artifact itself; the file is read into memory
//!   (never mapped, so it cannot change after the check), opened without following
//!   symlinks, and a truncated, edited or swapped artifact (another component's) is
//!   recompiled, never deserialized.

use crate::error::Error;
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bytes of the seal at the end of an artifact.
const SEAL: usize = 32;

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

/// The component compiled for `engine`: from the user's cache when a sound
/// artifact is there, else compiled (and cached when the cache is usable).
pub(crate) fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    digest: &str,
) -> Result<Component, Error> {
    let cache = cache_dir().and_then(|dir| match Cache::open(&dir) {
        Ok(cache) => Some(cache),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "not using the compile cache: {e}");
            None
        }
    });
    match cache {
        Some(cache) => cache.load_or_compile(engine, bytes, digest).map(|(c, _)| c),
        None => compile(engine, bytes),
    }
}

/// Compile in memory (no cache).
fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, Error> {
    Component::new(engine, bytes).map_err(|e| Error::wasm("compiling the component", e))
}

/// Where a component came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Cache,
    Compiled,
}

/// A private cache directory.
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Create `dir` (mode 0700) if needed, and check nobody else can write to it.
    pub fn open(dir: &Path) -> io::Result<Cache> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let meta = fs::symlink_metadata(dir)?;
        let refuse = |why: String| Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        if !meta.is_dir() {
            return refuse(format!("{} is not a directory", dir.display()));
        }
        if meta.uid() != euid() {
            return refuse(format!(
                "{} belongs to user {}, not to this user ({})",
                dir.display(),
                meta.uid(),
                euid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return refuse(format!(
                "{} can be written by others (mode {:o})",
                dir.display(),
                meta.mode() & 0o777
            ));
        }
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    /// The artifact's path and the seal's key for this component and engine.
    fn artifact(&self, engine: &Engine, digest: &str) -> (PathBuf, Vec<u8>) {
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hex(&hasher.0.finalize()[..8]);
        let path = self
            .dir
            .join(format!("holds-{}-{engine_hash}.cwasm", &digest[..16]));
        let key = format!("holds-cwasm-blake3\0{digest}\0{engine_hash}\0").into_bytes();
        (path, key)
    }

    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(Component, Source), Error> {
        let (path, key) = self.artifact(engine, digest);
        match read_sealed(&path, &key) {
            Ok(Some(artifact)) => {
                // SAFETY: the artifact is sealed for this component and engine, was
                // read from a private directory into memory, and was written there
                // by `store` below from `Engine::precompile_component`.
                match unsafe { Component::deserialize(engine, &artifact) } {
                    Ok(component) => return Ok((component, Source::Cache)),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "ignoring an unusable cached component: {e:#}")
                    }
                }
            }
            Ok(None) => {
                tracing::warn!(path = %path.display(), "recompiling: the cached component is not sealed for this component and engine")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "recompiling: cannot read the cached component: {e}")
            }
        }
        let compiled = engine
            .precompile_component(bytes)
            .map_err(|e| Error::wasm("compiling the component", e))?;
        match self.store(&path, &key, &compiled) {
            Ok(()) => self.prune(),
            Err(e) => {
                tracing::debug!(path = %path.display(), "not caching the compiled component: {e}")
            }
        }
        // SAFETY: `compiled` was produced just now by `precompile_component` of this engine.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| Error::wasm("loading the compiled component", e))?;
        Ok((component, Source::Compiled))
    }

    /// Write the sealed artifact to a fresh file and rename it into place, so
    /// concurrent processes never read half a file and no planted link is followed.
    fn store(&self, path: &Path, key: &[u8], compiled: &[u8]) -> io::Result<()> {
        let mut file = tempfile::Builder::new()
            .prefix(".holds-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        file.write_all(compiled)?;
        file.write_all(&seal(key, compiled))?;
        file.as_file().sync_data()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Artifacts kept in the cache: every holds version, build or engine setting
/// run on the machine leaves one (~1 MB), so the oldest beyond these go.
const KEEP: usize = 16;
/// A temporary file older than this was left by a process that died writing it.
const ABANDONED: std::time::Duration = std::time::Duration::from_secs(600);

impl Cache {
    /// Keep the [`KEEP`] newest artifacts and drop abandoned temporary files. Run
    /// only after a compile, so a warm start never lists the directory. A process
    /// that loses an artifact to this recompiles it; one reading it keeps its
    /// open file.
    fn prune(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = std::time::SystemTime::now();
        let mut artifacts = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = entry.metadata() else { continue };
            let Ok(modified) = meta.modified() else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if name.starts_with("holds-") && name.ends_with(".cwasm") {
                artifacts.push((modified, entry.path()));
            } else if name.starts_with(".holds-")
                && name.ends_with(".tmp")
                && now
                    .duration_since(modified)
                    .is_ok_and(|age| age > ABANDONED)
            {
                let _ = fs::remove_file(entry.path());
            }
        }
        artifacts.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        for (_, old) in artifacts.iter().skip(KEEP) {
            if let Err(e) = fs::remove_file(old) {
                tracing::debug!(path = %old.display(), "not pruning a cached component: {e}");
            }
        }
    }
}

fn seal(key: &[u8], artifact: &[u8]) -> [u8; SEAL] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(key);
    hasher.update(artifact);
    hasher.finalize().into()
}

/// The artifact at `path` when its seal is right (`None` when it is not), read
/// without following a symlink; only this user's regular files are read.
fn read_sealed(path: &Path, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != euid() {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)?;
    if bytes.len() < SEAL {
        return Ok(None);
    }
    let (artifact, sealed) = bytes.split_at(bytes.len() - SEAL);
    if seal(key, artifact) != sealed {
        return Ok(None);
    }
    bytes.truncate(bytes.len() - SEAL);
    Ok(Some(bytes))
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn engine() -> &'static Engine {
        super::super::engine::engine().unwrap()
    }

    /// The embedded component, and another valid one (the same plus a custom section).
    fn components() -> (Vec<u8>, Vec<u8>) {
        let a = crate::component::COMPONENT.to_vec();
        let mut b = a.clone();
        // A custom section: id 0, size, name length, name.
        b.extend_from_slice(&[0, 6, 5]);
        b.extend_from_slice(b"other");
        (a, b)
    }

    fn load(cache: &Cache, bytes: &[u8]) -> Source {
        cache
            .load_or_compile(engine(), bytes, &digest(bytes))
            .unwrap()
            .1
    }

    fn artifact_of(cache: &Cache, bytes: &[u8]) -> PathBuf {
        cache.artifact(engine(), &digest(bytes)).0
    }

    #[test]
    fn the_cache_directory_is_private_and_loads_what_it_stored() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/holds");
        let cache = Cache::open(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let (a, _) = components();
        assert_eq!(load(&cache, &a), Source::Compiled);
        assert_eq!(load(&cache, &a), Source::Cache);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn a_truncated_or_edited_artifact_is_recompiled_never_loaded() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        let (a, _) = components();
        load(&cache, &a);
        let path = artifact_of(&cache, &a);
        let good = fs::read(&path).unwrap();
        for tampered in [good[..good.len() / 2].to_vec(), {
            let mut edited = good.clone();
            let middle = edited.len() / 2;
            edited[middle] ^= 0xff;
            edited
        }] {
            fs::write(&path, &tampered).unwrap();
            assert_eq!(load(&cache, &a), Source::Compiled);
            assert_eq!(
                load(&cache, &a),
                Source::Cache,
                "the artifact was rewritten"
            );
        }
    }

    #[test]
    fn another_components_artifact_swapped_in_is_recompiled() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        let (a, b) = components();
        load(&cache, &a);
        load(&cache, &b);
        // B's (perfectly valid, sealed) artifact under A's name.
        fs::copy(artifact_of(&cache, &b), artifact_of(&cache, &a)).unwrap();
        assert_eq!(load(&cache, &a), Source::Compiled);
        assert_eq!(load(&cache, &a), Source::Cache);
    }

    #[test]
    fn planted_symlinks_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        let cache = Cache::open(&dir).unwrap();
        let victim = root.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let (a, _) = components();
        let path = artifact_of(&cache, &a);
        // The artifact's name, and the temporary name the cache once wrote through.
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let old_tmp = dir.join(format!(
            ".{}.{}",
            std::process::id(),
            path.file_name().unwrap().to_string_lossy()
        ));
        std::os::unix::fs::symlink(&victim, &old_tmp).unwrap();
        assert_eq!(load(&cache, &a), Source::Compiled);
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(
            !fs::symlink_metadata(&path).unwrap().is_symlink(),
            "the link was replaced, its target untouched"
        );
        assert_eq!(load(&cache, &a), Source::Cache);
    }

    #[test]
    fn a_compile_keeps_the_newest_artifacts_and_drops_abandoned_temporaries() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        let hours_ago =
            |h: u64| std::time::SystemTime::now() - std::time::Duration::from_secs(h * 3600);
        let planted = |name: &str, age_hours: u64| {
            let path = root.path().join(name);
            fs::write(&path, b"old").unwrap();
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(hours_ago(age_hours))
                .unwrap();
            path
        };
        // 20 artifacts of other builds, one hour apart; an abandoned and a fresh
        // temporary file; a file that is not the cache's.
        let olds: Vec<PathBuf> = (0..20)
            .map(|i| planted(&format!("holds-{i:016x}-0000000000000000.cwasm"), i + 1))
            .collect();
        let abandoned = planted(".holds-abandoned.tmp", 2);
        let writing = root.path().join(".holds-writing.tmp");
        fs::write(&writing, b"being written").unwrap();
        let other = planted("notes.txt", 100);

        let (a, _) = components();
        assert_eq!(load(&cache, &a), Source::Compiled);
        let kept: Vec<bool> = olds.iter().map(|p| p.exists()).collect();
        // The new artifact and the 15 newest others (1 to 15 hours old).
        assert_eq!(kept, (0..20).map(|i| i < KEEP - 1).collect::<Vec<_>>());
        assert!(artifact_of(&cache, &a).exists());
        assert!(
            !abandoned.exists(),
            "a temporary file left for hours is removed"
        );
        assert!(writing.exists(), "one being written is not");
        assert!(
            other.exists(),
            "files that are not the cache's are left alone"
        );
        // A warm load lists nothing and removes nothing.
        let survivor = &olds[0];
        assert_eq!(load(&cache, &a), Source::Cache);
        assert!(survivor.exists());
    }

    #[test]
    fn a_directory_others_can_write_is_not_used() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shared");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = Cache::open(&dir).err().expect("refused");
        assert!(err.to_string().contains("written by others"), "{err}");
        let file = root.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(Cache::open(&file).is_err());
    }
}
