//! The language-neutral conformance cases (`tests/cases/cases.json`,
//! format in `tests/cases/README.md`), run by the Rust host through the
//! holds library on memory, SQLite and a real nats-server. The Python and Node
//! packages run the same file, so a case added once runs in three runtimes.

mod clock;
mod go_wire;
mod pattern;
mod runner;
mod values;

use holds_test_support::NatsServer;
use runner::{CaseRunner, Store};
use serde_json::Value;
use std::sync::Arc;

const FORMAT: &str = "holds-conformance/1";

fn cases() -> Value {
    let path = holds_test_support::nats::workspace_root().join("tests/cases/cases.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(doc["format"], FORMAT, "{}: unknown format", path.display());
    doc
}

/// Every case on `store`, one after another; fails naming every case that failed.
async fn run_all(store: Store) {
    let doc = cases();
    let all = doc["cases"].as_array().expect("cases is an array");
    assert!(!all.is_empty(), "cases.json has no case");
    let mut failed = Vec::new();
    let mut ran = 0;
    for case in all {
        let name = case["name"].as_str().expect("a case has a name");
        let applies = case
            .get("stores")
            .and_then(Value::as_array)
            .is_none_or(|s| s.iter().any(|s| s == store.name()));
        if !applies {
            continue;
        }
        ran += 1;
        let result = match CaseRunner::new(case, &doc["defaults"], &store) {
            Ok(runner) => runner.run().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => eprintln!("ok   {} {name}", store.name()),
            Err(e) => {
                eprintln!("FAIL {} {name}: {e}", store.name());
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {ran} cases failed on {}:\n{}",
        failed.len(),
        store.name(),
        failed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_on_memory() {
    run_all(Store::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_on_sqlite() {
    run_all(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_on_jetstream() {
    run_all(Store::JetStream(Arc::new(NatsServer::start()))).await;
}

#[test]
fn case_names_are_unique() {
    let doc = cases();
    let names: Vec<&str> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "duplicate case names");
}

/// The runner fails a case whose expectation is wrong (so a passing run means
/// something), and names the step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_fails_the_case() {
    let case = serde_json::json!({
        "name": "wrong-on-purpose",
        "agents": [{"name": "a"}, {"name": "b"}],
        "steps": [
            {"do": "announce", "file": "/w/x", "ttl": "30s"},
            {"agent": "b", "do": "claim", "files": ["/w/x", "/w/y"], "ttl": "30s",
             "expect": {"error": "held-by-others", "holders": ["somebody-else"]}}
        ]
    });
    let defaults = serde_json::json!({"ttl_max": "60s"});
    let store = Store::Memory;
    let failed = CaseRunner::new(&case, &defaults, &store)
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(
        failed.contains("step 1") && failed.contains("somebody-else"),
        "{failed}"
    );
}

/// A case's `rust` field names the Rust conformance function it ports: a renamed
/// function must not leave the cases pointing at nothing.
#[test]
fn every_rust_field_names_a_conformance_function() {
    let dir = holds_test_support::nats::workspace_root().join("tests/conformance");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|x| x == "rs") {
            sources += &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
    let doc = cases();
    let stale: Vec<String> = doc["cases"]
        .as_array()
        .expect("cases is an array")
        .iter()
        .filter_map(|case| {
            let rust = case.get("rust")?.as_str().expect("rust is a function name");
            let defined = sources.contains(&format!("pub async fn {rust}("));
            (!defined).then(|| format!("{}: {rust}", case["name"]))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "cases naming no function in {}:\n{}",
        dir.display(),
        stale.join("\n")
    );
}
