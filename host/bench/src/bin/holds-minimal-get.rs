//! The baseline of `holds bench`'s CLI one-shot: the least a fresh process can do
//! to read one key of a JetStream KV bucket with async-nats — connect (with the
//! `holds` CLI's connection options), open the bucket, get `_probe`, exit.
//!
//! Usage: `holds-minimal-get URL BUCKET`. Exit 0 on success, 1 on failure.

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(bucket)) = (args.next(), args.next()) else {
        eprintln!("usage: holds-minimal-get URL BUCKET");
        return ExitCode::from(2);
    };
    // The same runtime as the holds CLI.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    let got = runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(3))
            .request_timeout(Some(Duration::from_secs(5)))
            .connect(url.as_str())
            .await?;
        let kv = async_nats::jetstream::new(client)
            .get_key_value(bucket.as_str())
            .await?;
        kv.get("_probe").await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    match got {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("holds-minimal-get: {e}");
            ExitCode::FAILURE
        }
    }
}
