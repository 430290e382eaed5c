//! Builds deliberately altered guests for the tests (never shipped):
//! - `EDGE_GUEST_COMPONENT`: the guest with `edge-expired-at-now`, which counts a
//!   hold expiring exactly now as expired (replay must catch the change).
//! - `HOSTILE_GUEST_COMPONENT`: loops, hoards memory, traps or misuses its imports
//!   when announce's agent id asks it to (`hostile-loop`, ...).
//! - `FOREIGN_GUEST_COMPONENT`: the real guest as a std `wasm32-wasip2` build,
//!   which imports WASI (it must run in the capability-less sandbox).
//! - `PROBE_GUEST_COMPONENT`: that build plus a probe of what WASI lets it reach.

#[path = "../host/build_guest.rs"]
mod build_guest;

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed={}", root.join("guest").display());
    let edge = build_guest::GuestBuild {
        root,
        package: "holds-guest",
        artifact: "holds_guest",
        target: "wasm32-unknown-unknown",
        features: &["edge-expired-at-now"],
        target_dir: out_dir.join("edge-guest"),
    }
    .build("holds_core_edge.wasm");
    println!("cargo:rustc-env=EDGE_GUEST_COMPONENT={}", edge.display());

    let variants: [(&str, &str, &[&str], &str); 3] = [
        (
            "HOSTILE_GUEST_COMPONENT",
            "wasm32-unknown-unknown",
            &["hostile"],
            "hostile",
        ),
        ("FOREIGN_GUEST_COMPONENT", "wasm32-wasip2", &[], "foreign"),
        (
            "PROBE_GUEST_COMPONENT",
            "wasm32-wasip2",
            &["sandbox-probe"],
            "probe",
        ),
    ];
    for (var, target, features, name) in variants {
        let path = build_guest::GuestBuild {
            root,
            package: "holds-guest",
            artifact: "holds_guest",
            target,
            features,
            target_dir: out_dir.join(format!("{name}-guest")),
        }
        .build(&format!("holds_core_{name}.wasm"));
        println!("cargo:rustc-env={var}={}", path.display());
    }
}
