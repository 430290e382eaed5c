//! Bucket names JetStream refuses: exit 2, on the flag and the environment variable, creating nothing.

use super::expect;
use crate::support::CliEnv;
use holds_test_support::inputs::BAD_BUCKETS;

#[test]
fn cli_bad_bucket_names_are_exit_2_and_create_nothing() {
    let env = CliEnv::sqlite();
    for (bucket, what) in BAD_BUCKETS {
        for command in [
            &["list"][..],
            &["announce", "x.rs", "--agent", "a1", "--ttl", "30s"],
            &["who-has", "x.rs"],
            &["release", "x.rs", "--agent", "a1"],
            &["probe"],
            &["watch"],
        ] {
            let mut args = vec!["--bucket", bucket];
            args.extend_from_slice(command);
            let run = env.run(&args);
            expect(
                &run,
                2,
                &["bucket name", &format!("{bucket:?}"), "[A-Za-z0-9_-]+"],
            );
            assert!(
                !env.db_path().exists(),
                "{what}: {command:?} created the database: {run}"
            );
        }
        // The environment variable is checked the same way.
        let mut cmd = env.command(["list"]);
        cmd.env("HOLDS_BUCKET", bucket);
        let run = crate::support::wait_output(
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
            crate::support::CALL_TIMEOUT,
            "holds list (HOLDS_BUCKET)",
        );
        expect(&run, 2, &["bucket name"]);
    }
    assert!(!env.db_path().exists());
}
