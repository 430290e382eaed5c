//! JetStream: a few of the same cases through `--nats`.

use super::raw_values::cli_raw_values;
use super::special_paths::cli_special_paths_round_trip;
use super::{expect, os};
use crate::support::CliEnv;
use holds_nats_fixture::NatsServer;
use holds_test_support::inputs::{BAD_BUCKETS, stream_names};
use std::ffi::OsString;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_on_jetstream() {
    let server = NatsServer::start();
    let env = CliEnv::nats(server.url());
    let streams = stream_names(&server.url()).await;
    for (bucket, _) in BAD_BUCKETS {
        let run = env.run([
            "--bucket", bucket, "announce", "x.rs", "--agent", "a1", "--ttl", "30s",
        ]);
        expect(&run, 2, &["bucket name"]);
    }
    assert_eq!(
        stream_names(&server.url()).await,
        streams,
        "a refused bucket was created"
    );
    let held = env.run([
        "--json", "announce", "held.rs", "--agent", "a1", "--ttl", "2m",
    ]);
    expect(&held, 0, &[]);
    let before = env.list_json();
    for (args, words) in [
        (
            &["announce", "x.rs", "--agent", " ", "--ttl", "30s"][..],
            &["invalid agent-id"][..],
        ),
        (
            &["announce", "x.rs", "--agent", "a1", "--ttl", "6m"],
            &["above the maximum"],
        ),
        (
            &["announce", "x.rs", "--agent", "a1", "--ttl", "5x"],
            &["not a duration"],
        ),
        (&["--ttl-max", "0s", "list"], &["hold_ttl_max"]),
        (&["who-has", ""], &["invalid file"]),
    ] {
        expect(&env.run(args), 2, words);
    }
    let run = env.run([OsString::from("who-has"), os(b"\xff.rs")]);
    expect(&run, 2, &["UTF-8"]);
    assert_eq!(env.list_json(), before);
    cli_raw_values(&env).await;
    cli_special_paths_round_trip(&env, Some(12));
}
