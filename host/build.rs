//! Builds the guest (`../guest`) for `wasm32-unknown-unknown` and turns the core
//! module into the `holds:core` component, which the library embeds. Tests and the
//! CLI therefore never shell out to cargo themselves.

#[path = "build_guest.rs"]
mod build_guest;

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed={}", root.join("guest").display());
    let path = build_guest::GuestBuild {
        root,
        package: "holds-guest",
        artifact: "holds_guest",
        target: "wasm32-unknown-unknown",
        features: &[],
        target_dir: out_dir.join("guest-target"),
    }
    .build("holds_core.wasm");
    println!("cargo:rustc-env=HOLDS_COMPONENT_PATH={}", path.display());
}
