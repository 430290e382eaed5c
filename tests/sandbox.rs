//! The guest's imports, foreign (WASI) guests in the capability-less sandbox, and
//! hostile guests: each bad call fails with a clear error within a bounded time,
//! the process survives, and the next call works.

use holds::{Announce, Backend, Config, Error, Manager, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn runtime(path: &str) -> Arc<Runtime> {
    Arc::new(Runtime::from_component(&std::fs::read(path).unwrap()).unwrap())
}

async fn manager(runtime: Option<Arc<Runtime>>, store: Backend) -> Manager {
    let mut config = Config::new("sandbox", Duration::from_secs(60));
    config.replica = false;
    let mut builder = Manager::builder(config);
    if let Some(runtime) = runtime {
        builder = builder.runtime(runtime);
    }
    builder.open(store).await.unwrap()
}

#[test]
fn the_embedded_guest_imports_only_its_own_interfaces() {
    let imports = Runtime::embedded().unwrap().imports();
    assert!(
        imports.iter().all(|i| !i.starts_with("wasi:")),
        "{imports:?}"
    );
    assert!(
        imports.iter().all(|i| i.starts_with("holds:core/")),
        "{imports:?}"
    );
    assert!(
        imports.contains(&"holds:core/kv@0.3.0".to_string()),
        "{imports:?}"
    );
    assert!(!Runtime::embedded().unwrap().foreign);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_build_runs_sandboxed_and_reaches_no_file_nor_the_environment() {
    // The host has variables (PATH at least) for the guest not to see. (None is
    // set here: other tests share this process, and setting one while another
    // thread reads the environment is unsound.)
    assert!(
        std::env::vars_os().next().is_some(),
        "the host has an environment"
    );
    let probe = runtime(holds_test_programs::PROBE);
    assert!(probe.foreign);
    assert!(
        probe
            .imports()
            .iter()
            .any(|i| i.starts_with("wasi:filesystem")),
        "the probe really asks for files"
    );
    let m = manager(Some(probe), Backend::Memory).await;
    let report = match m.file_for_key_for_test("=probe-sandbox").await {
        Err(Error::Store(report)) => report.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(report.contains("file: denied"), "{report}");
    assert!(report.contains("dir: denied"), "{report}");
    assert!(report.contains("env: 0 vars"), "{report}");
    assert!(report.contains("args: 0"), "{report}");
    // And it still does its job.
    m.announce("/f", &Announce::new("a1", Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(m.who_has("/f").await.unwrap().unwrap().hold.agent_id, "a1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_guests_fail_cleanly_and_the_next_call_works() {
    let store = holds::kv::MemoryKv::new(&holds_test_support::harness::spec(
        "sandbox",
        Duration::from_secs(60),
    ));
    let backend = || Backend::Store(Arc::new(store.clone()));
    let hostile = manager(Some(runtime(holds_test_programs::HOSTILE)), backend()).await;
    let good = manager(None, backend()).await;
    for (agent, expect) in [
        ("hostile-loop", "ran out of fuel"),
        ("hostile-alloc", "trapped"),
        ("hostile-trap", "trapped"),
    ] {
        let started = Instant::now();
        let result = hostile
            .announce("/f", &Announce::new(agent, Duration::from_secs(30)))
            .await;
        let took = started.elapsed();
        match result {
            Err(Error::Guest(why)) => assert!(why.to_string().contains(expect), "{agent}: {why}"),
            other => panic!("{agent}: expected a guest failure, got {other:?}"),
        }
        assert!(took < Duration::from_secs(5), "{agent} took {took:?}");
        // The same manager (a fresh instance) and another manager keep working.
        let claim = hostile
            .announce("/ok", &Announce::new("a1", Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(good.who_has("/ok").await.unwrap(), Some(claim));
        hostile.release("/ok", "a1").await.unwrap();
    }
    assert_eq!(
        good.list().await.unwrap(),
        vec![],
        "nothing hostile reached the store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_misusing_its_imports_gets_errors_and_changes_nothing() {
    let store = holds::kv::MemoryKv::new(&holds_test_support::harness::spec(
        "sandbox",
        Duration::from_secs(60),
    ));
    let kv: Arc<dyn holds::kv::KvStore> = Arc::new(store.clone());
    let victim = holds_test_support::raw::put(&*kv, "=2Fvictim", &b"{}"[..])
        .await
        .unwrap();
    let hostile = manager(
        Some(runtime(holds_test_programs::HOSTILE)),
        Backend::Store(kv.clone()),
    )
    .await;
    // Invalid keys, an 8 MiB value, a wrong revision: each answered with an error,
    // then the call carries on normally.
    let claim = hostile
        .announce(
            "/f",
            &Announce::new("hostile-imports", Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(claim.hold.agent_id, "hostile-imports");
    assert_eq!(kv.get("=2Fvictim").await.unwrap().unwrap().revision, victim);
    for key in ["..", "*", ""] {
        assert_eq!(
            kv.get(key).await.unwrap(),
            None,
            "{key:?} was never written"
        );
    }
}

/// Linear memory never shrinks: an instance a big call grew is dropped after the
/// call rather than kept idle (a long-lived `holds mcp` kept up to 64 such,
/// each up to the 64 MiB limit); instances of ordinary calls stay pooled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_a_big_call_grew_is_not_kept_idle() {
    // A runtime of its own: its pool is this test's alone.
    let runtime = Arc::new(Runtime::from_component(holds::component::COMPONENT).unwrap());
    let store = Backend::Store(Arc::new(holds::kv::MemoryKv::new(
        &holds_test_support::harness::spec("pool", Duration::from_secs(60)),
    )));
    let m = manager(Some(runtime), store).await;
    let small = Announce::new("a", Duration::from_secs(30));
    m.announce("/small", &small).await.unwrap();
    assert_eq!(
        m.stats().idle_instances,
        1,
        "an ordinary call's instance is kept"
    );
    let big = Announce::new("b".repeat(900 << 10), Duration::from_secs(30));
    m.announce("/big", &big).await.unwrap();
    assert_eq!(
        m.stats().idle_instances,
        0,
        "the grown instance was dropped"
    );
    m.release("/small", "a").await.unwrap();
    assert_eq!(
        m.stats().idle_instances,
        1,
        "the next call's fresh one is kept"
    );
    // A check of 256 paths near the key limit is cut by bytes too: each guest
    // call stays far below its fuel (it ran out in one call of all 256).
    let files: Vec<String> = (0..256)
        .map(|i| format!("/{}/{i}", "d".repeat(2900)))
        .collect();
    let checks = m.check(&files, "a", None).await.unwrap();
    assert_eq!(checks.len(), 256);
    assert!(checks.iter().all(|c| c.state == holds::FileState::Vacant));
}
