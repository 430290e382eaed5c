//! Building guest components, shared by the build scripts of `host` (the embedded
//! guest) and `tests` (deliberately altered builds). Included with `#[path]`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A guest build: a package of this workspace, built for `target` with `features`,
/// then (for core-module targets) turned into a component.
pub struct GuestBuild<'a> {
    /// The workspace root.
    pub root: &'a Path,
    pub package: &'a str,
    /// The library's file stem (`holds_guest`).
    pub artifact: &'a str,
    pub target: &'a str,
    pub features: &'a [&'a str],
    /// Separate target directory, so variants do not overwrite each other.
    pub target_dir: PathBuf,
}

impl GuestBuild<'_> {
    /// Build and return the component's path (written next to the core module).
    pub fn build(&self, out_name: &str) -> PathBuf {
        require_target(self.target);
        let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(self.root)
            .args([
                "build",
                "--release",
                "--package",
                self.package,
                "--target",
                self.target,
            ])
            .env("CARGO_TARGET_DIR", &self.target_dir)
            // Debug info only bloats the component and slows its compilation.
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS");
        if !self.features.is_empty() {
            cmd.arg("--features").arg(self.features.join(","));
        }
        let status = cmd.status().expect("failed to run cargo to build a guest");
        assert!(status.success(), "building the guest failed: {cmd:?}");

        let built = self
            .target_dir
            .join(self.target)
            .join("release")
            .join(format!("{}.wasm", self.artifact));
        rerun_on_deps_of(&built);
        let bytes = fs::read(&built).unwrap_or_else(|e| panic!("reading {}: {e}", built.display()));
        // wasm32-wasip2 links a component already; other targets give a core module.
        let component = if self.target == "wasm32-wasip2" {
            bytes
        } else {
            wit_component::ComponentEncoder::default()
                .module(&bytes)
                .and_then(|encoder| encoder.validate(true).encode())
                .unwrap_or_else(|e| panic!("turning {} into a component: {e:?}", built.display()))
        };
        let path = self.target_dir.join(out_name);
        fs::write(&path, component).unwrap();
        path
    }
}

/// Fail with the exact fix when a wasm target is not installed (rustup does not
/// install targets on demand here).
pub fn require_target(target: &str) {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("failed to run rustc --print sysroot");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib").join(target).exists() {
        panic!(
            "\n\nThe guest component needs the {target} target, which is not installed.\n\
             Install it with:\n\n    rustup target add {target}\n\n"
        );
    }
}

/// Rerun when any source file the guest was built from changes (cargo's dep-info).
fn rerun_on_deps_of(artifact: &Path) {
    let Ok(deps) = fs::read_to_string(artifact.with_extension("d")) else {
        return;
    };
    for line in deps.lines() {
        let Some((_, files)) = line.split_once(": ") else {
            continue;
        };
        let mut parts = files.split_whitespace();
        while let Some(part) = parts.next() {
            let mut file = part.to_string();
            while file.ends_with('\\') {
                file.pop();
                file.push(' ');
                file.push_str(parts.next().unwrap_or_default());
            }
            println!("cargo:rerun-if-changed={file}");
        }
    }
}
