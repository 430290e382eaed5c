//! Builds every test guest for its wasm target (one nested cargo per target, so
//! dependencies compile once) and writes their paths into `gen.rs`.

use holds_guest_build::{GuestBuild, workspace_root};
use std::env;
use std::fmt::Write;
use std::path::PathBuf;

/// (constant, package, target, what it is).
const GUESTS: &[(&str, &str, &str, &str)] = &[
    (
        "HOSTILE",
        "holds-test-guest-hostile",
        "wasm32-unknown-unknown",
        "Loops, hoards memory, traps or misuses its imports when announce's agent id asks it to (`hostile-loop`, `hostile-alloc`, `hostile-trap`, `hostile-imports`).",
    ),
    (
        "EDGE",
        "holds-test-guest-edge",
        "wasm32-unknown-unknown",
        "Counts a hold expiring exactly now as expired in who-has (replay must catch the change).",
    ),
    (
        "FOREIGN",
        "holds-component",
        "wasm32-wasip2",
        "The real guest as a std `wasm32-wasip2` build, which imports WASI (it must run in the capability-less sandbox).",
    ),
    (
        "PROBE",
        "holds-test-guest-probe",
        "wasm32-wasip2",
        "The real guest plus a probe of what WASI lets it reach (`file-for-key` of `=probe-sandbox`).",
    ),
];

fn main() {
    let root = workspace_root();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    for dir in ["wit", "guest", "tests/programs/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let mut generated = String::new();
    for target in ["wasm32-unknown-unknown", "wasm32-wasip2"] {
        let guests: Vec<_> = GUESTS.iter().filter(|g| g.2 == target).collect();
        let packages: Vec<&str> = guests.iter().map(|g| g.1).collect();
        let paths = GuestBuild {
            root: &root,
            target,
            packages: &packages,
            target_dir: out_dir.join("guests"),
        }
        .build();
        for ((name, _, _, doc), path) in guests.iter().zip(paths) {
            writeln!(
                generated,
                "/// {doc}\npub const {name}: &str = {:?};",
                path.display().to_string()
            )
            .unwrap();
        }
    }
    std::fs::write(out_dir.join("gen.rs"), generated).unwrap();
}
