//! `holds-bench --spawn --quick --json` runs end to end (its own nats-server,
//! found through NATS_SERVER_BIN, the checkout's .tools/bin or PATH) and reports
//! every ratio, the numbers behind it, and the contention race. The CLI one-shot
//! runs the `holds` binary beside it (`cargo test --workspace` builds it).

use serde_json::Value;
use std::process::Command;

const RATIOS: [&str; 10] = [
    "vacant_announce_vs_raw_write",
    "reused_announce_vs_raw_write",
    "renew_vs_raw_write",
    "takeover_vs_raw_write",
    "held_by_another_vs_raw_get",
    "release_vs_raw_delete_if_revision",
    "component_vs_native",
    "component_vs_native_in_process",
    "agents64_vs_raw_watched_pairs",
    "cli_oneshot_vs_minimal_get",
];

#[test]
fn quick_bench_reports_every_ratio() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_holds-bench"))
        .args(["--spawn", "--quick", "--json"])
        .env("HOLDS_CACHE_DIR", cache.path())
        .env_remove("NATS_URL")
        .output()
        .expect("running holds-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "holds-bench failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}); stderr: {stderr}"));

    for key in RATIOS {
        let ratio = &report["ratios"][key];
        assert!(
            ratio.as_f64().is_some_and(|r| r > 0.0),
            "ratios.{key} is {ratio}; stderr: {stderr}"
        );
        let inputs = &report["ratio_inputs"][key];
        assert!(
            inputs["holds"].is_object() && inputs["baseline"].is_object(),
            "ratio_inputs.{key} is {inputs}"
        );
    }
    assert_eq!(
        report["contention_winners"], 1,
        "{}",
        report["contention_rounds"]
    );
    for metric in [
        "raw_write",
        "raw_get",
        "raw_delete_if_revision",
        "holds_vacant_announce",
        "holds_takeover_expired",
    ] {
        let p50 = &report["latency_us"][metric]["p50_us"];
        assert!(p50.as_f64().is_some_and(|v| v > 0.0), "{metric}: {p50}");
    }
    assert!(
        report["replica_footprint"]["keys"]
            .as_u64()
            .is_some_and(|k| k > 0),
        "{}",
        report["replica_footprint"]
    );
    assert!(report["targets"].as_array().is_some_and(|t| !t.is_empty()));
}
