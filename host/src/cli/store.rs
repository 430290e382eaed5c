//! Opening the manager the global options describe.

use super::{Failure, Global, NatsAuth};
use holds::{Backend, Config, Manager};
use std::path::PathBuf;
use std::time::Duration;

/// How long connecting to NATS may take before the command fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The default embedded database: `holds.db` in the user's data directory.
pub fn default_store() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("holds")
        .join("holds.db")
}

pub async fn open(global: &Global) -> Result<Manager, Failure> {
    let mut config = Config::new(global.bucket.clone(), global.ttl_max);
    config.op_timeout = Duration::from_secs(5);
    // A one-shot process would pay for a watch it never uses; `watch` starts one anyway.
    config.replica = false;
    // Validate before touching any store: bad input changes nothing.
    config.validated()?;
    let backend = match &global.nats {
        Some(url) => Backend::JetStream(connect(url, &global.auth).await?),
        None => Backend::Sqlite(global.store.clone().unwrap_or_else(default_store)),
    };
    let mut builder = Manager::builder(config);
    if let Some(path) = &global.record {
        let file = std::fs::File::create(path).map_err(|e| {
            Failure::usage(anyhow::anyhow!(
                "cannot create the trace file {}: {e}",
                path.display()
            ))
        })?;
        builder = builder.record(file);
    }
    Ok(builder.open(backend).await?)
}

/// Connect to NATS with the nats CLI's authentication options.
pub async fn connect(url: &str, auth: &NatsAuth) -> Result<async_nats::Client, Failure> {
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(CONNECT_TIMEOUT)
        .request_timeout(Some(Duration::from_secs(5)));
    if let Some(creds) = &auth.creds {
        options = options.credentials_file(creds).await.map_err(|e| {
            Failure::usage(anyhow::anyhow!(
                "cannot read the credentials file {}: {e}",
                creds.display()
            ))
        })?;
    }
    match (&auth.user, &auth.password) {
        (Some(user), Some(password)) => {
            options = options.user_and_password(user.clone(), password.clone())
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Failure::usage(anyhow::anyhow!(
                "--user and --password go together"
            )));
        }
        (None, None) => {}
    }
    if let Some(token) = &auth.token {
        options = options.token(token.clone());
    }
    if let Some(ca) = &auth.tlscacert {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&auth.tlscert, &auth.tlskey) {
        (Some(cert), Some(key)) => {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true)
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Failure::usage(anyhow::anyhow!(
                "--tlscert and --tlskey go together"
            )));
        }
        (None, None) => {}
    }
    let connecting = options.connect(url);
    match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(Failure::store(anyhow::anyhow!(
            "cannot connect to NATS at {url}: {e}"
        ))),
        Err(_) => Err(Failure::store(anyhow::anyhow!(
            "cannot connect to NATS at {url}: no answer within {CONNECT_TIMEOUT:?}"
        ))),
    }
}
