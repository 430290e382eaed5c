//! Builds the `holds-component` crate for `wasm32-unknown-unknown` and turns the
//! core module into the `holds:core` component, which the library embeds.

use holds_guest_build::{GuestBuild, workspace_root};
use sha2::{Digest, Sha256};
use std::env;
use std::path::PathBuf;

fn main() {
    let root = workspace_root();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    // The component crate is guest/component, inside "guest".
    for dir in ["wit", "guest"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let paths = GuestBuild {
        root: &root,
        target: "wasm32-unknown-unknown",
        packages: &["holds-component"],
        target_dir: out_dir.join("guest-target"),
    }
    .build();
    println!(
        "cargo:rustc-env=HOLDS_COMPONENT_PATH={}",
        paths[0].display()
    );
    // Every process would otherwise hash the embedded bytes at start (a CLI call's
    // largest single cost after loading the compiled code).
    let bytes = std::fs::read(&paths[0]).expect("reading the built component");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=HOLDS_COMPONENT_SHA256={digest}");
}
