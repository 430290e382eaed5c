//! Building guest components from a build script: the `holds` library embeds the
//! shipped component, `holds-test-programs` builds the test guests. Tests and the
//! CLI therefore never run cargo themselves.
//!
//! All the packages of one target are built by one nested `cargo build` into one
//! target directory, so their dependencies compile once.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages of this workspace built for one wasm target.
pub struct GuestBuild<'a> {
    /// The workspace root.
    pub root: &'a Path,
    /// `wasm32-unknown-unknown` (core modules, turned into components here) or
    /// `wasm32-wasip2` (components already).
    pub target: &'a str,
    /// The crates to build (each a `cdylib`).
    pub packages: &'a [&'a str],
    /// The nested build's own target directory.
    pub target_dir: PathBuf,
}

impl GuestBuild<'_> {
    /// Build every package; returns each one's component path, in order.
    pub fn build(&self) -> Vec<PathBuf> {
        require_target(self.target);
        let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(self.root)
            .args(["build", "--release", "--target", self.target])
            .env("CARGO_TARGET_DIR", &self.target_dir)
            // Debug info only bloats the component and slows its compilation.
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
            // The nested build is the same whatever runs the outer one (clippy sets a
            // wrapper; CI lints the guests for their own target instead).
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CLIPPY_ARGS");
        for package in self.packages {
            cmd.args(["--package", package]);
        }
        let status = cmd.status().expect("failed to run cargo to build a guest");
        assert!(status.success(), "building the guests failed: {cmd:?}");
        self.packages
            .iter()
            .map(|package| self.componentize(package))
            .collect()
    }

    fn componentize(&self, package: &str) -> PathBuf {
        let stem = package.replace('-', "_");
        let built = self
            .target_dir
            .join(self.target)
            .join("release")
            .join(format!("{stem}.wasm"));
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
        let path = self
            .target_dir
            .join(format!("{stem}.{}.component.wasm", self.target));
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
            "\n\nThe guest components need the {target} target, which is not installed.\n\
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

/// The workspace root, from a build script of a crate inside it.
pub fn workspace_root() -> PathBuf {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("run from a build script"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("wit").is_dir() && dir.join("Cargo.lock").is_file())
        .expect("the workspace root (with wit/ and Cargo.lock) above the crate")
        .to_path_buf()
}
