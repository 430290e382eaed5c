//! Builds the guest (`../guest`) for `wasm32-unknown-unknown` and turns the core
//! module into the `holds:core` component, which the library embeds. Tests and the
//! CLI therefore never shell out to cargo themselves.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed={}", root.join("guest").display());

    require_wasm_target();
    let target_dir = out_dir.join("guest-target");
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--package",
            "holds-guest",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        // Debug info only bloats the component and slows its compilation.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    let status = cmd
        .status()
        .expect("failed to run cargo to build the guest");
    assert!(status.success(), "building the guest failed: {cmd:?}");

    let core = target_dir
        .join(TARGET)
        .join("release")
        .join("holds_guest.wasm");
    rerun_on_deps_of(&core);
    let module = fs::read(&core).unwrap_or_else(|e| panic!("reading {}: {e}", core.display()));
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .unwrap_or_else(|e| panic!("turning {} into a component: {e:?}", core.display()));
    let path = out_dir.join("holds_core.wasm");
    fs::write(&path, component).unwrap();
    println!("cargo:rustc-env=HOLDS_COMPONENT_PATH={}", path.display());
}

/// Fail with the exact fix when the wasm target is not installed (rustup does not
/// install targets on demand here).
fn require_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("failed to run rustc --print sysroot");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib").join(TARGET).exists() {
        panic!(
            "\n\nThe guest component needs the {TARGET} target, which is not installed.\n\
             Install it with:\n\n    rustup target add {TARGET}\n\n"
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
