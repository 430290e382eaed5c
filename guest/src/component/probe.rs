//! Reports what the sandbox lets a std WASI build reach, for the host's sandbox
//! test only. `file-for-key` of [`KEY`] returns the report as a store error.

pub const KEY: &str = "=probe-sandbox";

pub fn report() -> String {
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
