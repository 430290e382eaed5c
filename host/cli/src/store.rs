//! Opening the manager the global options describe.

use crate::args::{Global, NatsAuth};
use crate::failure::Failure;
use crate::secrets::{Secrets, redact_url};
use async_nats::ConnectErrorKind;
use holds::kv::{JetStreamKv, SqliteKv};
use holds::{Backend, Config, Manager};
use std::error::Error as StdError;
use std::path::{Path, PathBuf};
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

/// Open for a one-shot command: no replica (it would pay for a watch it never
/// uses; `watch` starts one anyway).
pub async fn open(global: &Global) -> Result<Manager, Failure> {
    open_with_replica(global, false).await
}

/// Open for a command that only reads (list, who-has, check, probe, the guard):
/// a bucket that does not exist is not made (its settings are a writer's to
/// choose), and reads as empty.
pub async fn open_to_read(global: &Global) -> Result<Manager, Failure> {
    open_as(global, false, false).await
}

/// Open, with a replica when the command waits on events or keeps a lease.
pub async fn open_with_replica(global: &Global, replica: bool) -> Result<Manager, Failure> {
    open_as(global, replica, true).await
}

async fn open_as(global: &Global, replica: bool, create: bool) -> Result<Manager, Failure> {
    let mut config = Config::new(global.bucket.clone(), global.ttl_max);
    config.op_timeout = Duration::from_secs(5);
    config.replicas = global.replicas;
    config.replica = replica;
    // Validate before touching any store: bad input changes nothing.
    config.validated()?;
    // Start loading the guest now, on a blocking thread, so that it overlaps with
    // connecting; `open` below waits for this load (and reports its error).
    drop(tokio::task::spawn_blocking(holds::Runtime::embedded));
    let backend = match &global.nats {
        Some(url) => Backend::JetStream(connect(url, &global.auth).await?),
        None => Backend::Sqlite(global.store.clone().unwrap_or_else(default_store)),
    };
    // A command that only reads makes no bucket: one that is not there reads as empty.
    let backend = if create || bucket_exists(&backend, &global.bucket).await? {
        backend
    } else {
        Backend::Memory
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

/// Whether `backend` already has `bucket`, found without making it.
async fn bucket_exists(backend: &Backend, bucket: &str) -> Result<bool, Failure> {
    let exists = match backend {
        Backend::JetStream(client) => JetStreamKv::bucket_exists(client, bucket).await,
        Backend::Sqlite(path) => SqliteKv::bucket_exists(path, bucket).await,
        _ => Ok(true),
    };
    exists.map_err(|e| Failure::store(anyhow::Error::new(e)))
}

/// Connect to NATS with the nats CLI's authentication options.
pub async fn connect(url: &str, auth: &NatsAuth) -> Result<async_nats::Client, Failure> {
    // A cluster is given as a comma-separated list, as the nats CLI takes it.
    let servers = url
        .split(',')
        .map(|part| {
            part.trim().parse::<async_nats::ServerAddr>().map_err(|e| {
                Failure::usage(anyhow::anyhow!(
                    "--nats: {:?} is not a NATS URL: {e}",
                    redact_url(part)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    // Credentials in the URL (nats://user:password@host, nats://token@host), as
    // the nats CLI takes them; options given explicitly win.
    let (url_user, url_secret) = url_credentials(&servers);
    match (
        &auth.user,
        &auth.password,
        &auth.token,
        url_user,
        url_secret,
    ) {
        (None, None, None, Some(user), Some(password)) => {
            options = options.user_and_password(user, password)
        }
        (None, None, None, Some(token), None) => options = options.token(token),
        _ => {}
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
    if let Some(path) = &auth.nkey {
        options = options.nkey(read_nkey_seed(path)?);
    }
    if let Some(ca) = &auth.tlscacert {
        check_pem(ca, "--tlscacert", "the CA certificate", "CERTIFICATE-----")?;
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&auth.tlscert, &auth.tlskey) {
        (Some(cert), Some(key)) => {
            check_pem(
                cert,
                "--tlscert",
                "the client certificate",
                "CERTIFICATE-----",
            )?;
            check_pem(key, "--tlskey", "the client key", "PRIVATE KEY-----")?;
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
    let connecting = options.connect(servers.as_slice());
    match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(Failure::store(anyhow::anyhow!(
            "cannot connect to NATS at {}: {}",
            redact_url(url),
            Secrets::of(auth, Some(url)).scrub(&describe_connect_error(&e, auth))
        ))),
        Err(_) => Err(Failure::store(anyhow::anyhow!(
            "cannot connect to NATS at {}: no answer within {CONNECT_TIMEOUT:?}",
            redact_url(url)
        ))),
    }
}

/// The user and password (or the token, as a user alone) of the first server
/// URL that carries any, percent-decoded.
fn url_credentials(servers: &[async_nats::ServerAddr]) -> (Option<String>, Option<String>) {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    servers
        .iter()
        .find(|s| s.has_user_pass())
        .map(|s| {
            (
                s.username().map(decode),
                s.password().map(decode).filter(|p| !p.is_empty()),
            )
        })
        .unwrap_or_default()
}

/// A TLS file must be readable and hold a PEM block whose label ends with `label_end`: caught here, it is
/// a usage error naming the file, not a connection failure.
fn check_pem(path: &Path, option: &str, what: &str, label_end: &str) -> Result<(), Failure> {
    let text = std::fs::read(path).map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "cannot read {what} {} ({option}): {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8_lossy(&text);
    if !text.contains("-----BEGIN ") || !text.contains(label_end) {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} ({option}) is not {what} in PEM format (no -----BEGIN ...{label_end} block)",
            path.display()
        )));
    }
    Ok(())
}

/// The user seed of an nkey seed file, as the nats CLI's `--nkey` reads it: the first `SU...` token, alone
/// in the file or between nsc's `-----BEGIN USER NKEY SEED-----` lines.
fn read_nkey_seed(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "cannot read the nkey seed file {}: {e}",
            path.display()
        ))
    })?;
    let seed = text.split_whitespace().find(|token| {
        token.len() == 58
            && token.starts_with('S')
            && token
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    });
    match seed {
        Some(seed) if seed.as_bytes()[1] == b'U' => Ok(seed.to_string()),
        Some(seed) => Err(Failure::usage(anyhow::anyhow!(
            "the nkey seed file {} holds a seed of another kind ({}...), not a user seed (SU...)",
            path.display(),
            &seed[..2]
        ))),
        None => Err(Failure::usage(anyhow::anyhow!(
            "the nkey seed file {} holds no nkey seed (a 58-character SU... line)",
            path.display()
        ))),
    }
}

/// The TLS failure behind a connect error, found by walking its causes (async-nats
/// reports most handshake failures as I/O errors wrapping rustls' error).
fn tls_cause(e: &async_nats::ConnectError) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        cause = c.source();
    }
    None
}

/// A connect failure in words that say which option to check.
fn describe_connect_error(e: &async_nats::ConnectError, auth: &NatsAuth) -> String {
    let text = e.to_string();
    let tls = tls_cause(e);
    match e.kind() {
        ConnectErrorKind::AuthorizationViolation => format!(
            "authorization failed: the server refused {} ({text})",
            credentials(auth)
        ),
        ConnectErrorKind::Authentication => format!(
            "authentication failed: cannot sign the server's challenge with the given nkey seed or \
             credentials ({text})"
        ),
        kind if tls.is_some() || kind == ConnectErrorKind::Tls => {
            let why = match tls {
                Some(rustls::Error::InvalidCertificate(_)) if auth.tlscacert.is_some() => {
                    "the server's certificate is not signed by the CA given with --tlscacert"
                }
                Some(rustls::Error::InvalidCertificate(_)) => {
                    "the server's certificate is not trusted: give its CA with --tlscacert"
                }
                Some(rustls::Error::AlertReceived(_)) if auth.tlscert.is_some() => {
                    "the server refused the client certificate given with --tlscert"
                }
                Some(rustls::Error::AlertReceived(_)) => {
                    "the server refused the handshake: it may require a client certificate \
                     (--tlscert and --tlskey)"
                }
                _ => "the TLS setup failed",
            };
            format!("TLS failed: {why} ({text})")
        }
        _ => text,
    }
}

/// Which credentials were offered, for an authorization failure.
fn credentials(auth: &NatsAuth) -> String {
    let mut given = Vec::new();
    if auth.creds.is_some() {
        given.push("--creds");
    }
    if auth.user.is_some() {
        given.push("--user/--password");
    }
    if auth.token.is_some() {
        given.push("--token");
    }
    if auth.nkey.is_some() {
        given.push("--nkey");
    }
    if auth.tlscert.is_some() {
        given.push("--tlscert");
    }
    if given.is_empty() {
        "an anonymous connection (no --user/--password, --token, --nkey or --creds)".to_string()
    } else {
        format!("the credentials given ({})", given.join(", "))
    }
}
