//! Reports what the sandbox lets a std WASI build reach, for the host's sandbox
//! test only: `file-for-key` of [`KEY`] returns the report as a store error;
//! everything else is the real guest. Built for wasm32-wasip2.
#![cfg(target_arch = "wasm32")]

use holds_guest::component::bindings::holds::core::types;
use holds_guest::component::{Component, Exports};

/// The key whose `file-for-key` returns the report.
pub const KEY: &str = "=probe-sandbox";

fn report() -> String {
    let file = std::fs::read_to_string("/etc/hostname").map(|s| s.len());
    let dir = std::fs::read_dir("/").map(|d| d.count());
    let env: Vec<(String, String)> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().collect();
    format!(
        "file: {}; dir: {}; env: {} vars; args: {}",
        match file {
            Ok(n) => format!("read {n} bytes"),
            Err(e) => format!("denied ({e})"),
        },
        match dir {
            Ok(n) => format!("listed {n} entries"),
            Err(e) => format!("denied ({e})"),
        },
        env.len(),
        args.len()
    )
}

struct Probe;

impl Exports for Probe {
    fn file_for_key(key: String) -> Result<String, types::Error> {
        if key == KEY {
            return Err(types::Error::Store(report()));
        }
        <Component as Exports>::file_for_key(key)
    }
}

holds_guest::component::bindings::export!(Probe with_types_in holds_guest::component::bindings);
