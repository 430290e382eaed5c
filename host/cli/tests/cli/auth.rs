//! NATS authentication (issue 7): nats-servers that require a user and password, a token, an nkey, TLS
//! with a CA made in the test (server certificate only, then client certificates too), and a JWT creds
//! file from an operator/account/user chain made in the test. For each: an anonymous client and wrong
//! credentials are refused with a clear error, quickly; the right ones work, from the library (a
//! [`Manager`] on a client connected with the right options) and from the CLI (flags and the `NATS_*`
//! environment variables), and both see the same holds.

use crate::support::{CALL_TIMEOUT, CliEnv, Run, wait_output};
use async_nats::{ConnectErrorKind, ConnectOptions};
use data_encoding::BASE64URL_NOPAD;
use holds::{Announce, Backend, Config, Manager, Release};
use holds_nats_fixture::NatsServer;
use nkeys::KeyPair;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// A refused connection must be reported within this long (the CLI's connect timeout is 3 s).
const REFUSED_WITHIN: Duration = Duration::from_secs(5);

/// The CLI's defaults, so the library and the CLI share one bucket.
fn config() -> Config {
    let mut config = Config::new("holds", Duration::from_secs(300));
    config.replica = false;
    config
}

/// How a client authenticates, as CLI flags and as the equivalent environment variables.
#[derive(Clone, Debug, Default)]
struct Creds {
    flags: Vec<String>,
    vars: Vec<(&'static str, String)>,
}

impl Creds {
    fn anonymous() -> Self {
        Creds::default()
    }

    /// `--name value` pairs; `vars` are the same settings as environment variables.
    fn new(flags: &[(&str, &str)], vars: &[(&'static str, &str)]) -> Self {
        Creds {
            flags: flags
                .iter()
                .flat_map(|(f, v)| [f.to_string(), v.to_string()])
                .collect(),
            vars: vars.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }
}

/// `holds [flags] ARGS` with `vars` set, against `env`'s server.
fn holds(env: &CliEnv, flags: &[String], vars: &[(&str, String)], args: &[&str]) -> Run {
    let all: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .chain(args.iter().copied())
        .collect();
    let mut cmd = env.command(all);
    // Not (yet) in the fixture's list of variables cleared for isolation.
    cmd.env_remove("NATS_NKEY");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    wait_output(child, CALL_TIMEOUT, &shown)
}

/// The CLI refuses to connect: exit 1, quickly, one clear line naming the problem, no panic.
#[track_caller]
fn assert_cli_refused(run: &Run, words: &[&str]) {
    assert!(!run.stderr.contains("panicked"), "{run}");
    run.assert_code(1);
    assert!(
        run.elapsed < REFUSED_WITHIN,
        "took {:?}: {run}",
        run.elapsed
    );
    // The sentence is the last line (async-nats may log before it: see
    // `a_refused_connection_is_one_line_on_stderr`).
    let line = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        line.starts_with("holds: cannot connect to NATS at nats://127.0.0.1:"),
        "{run}"
    );
    for w in words {
        assert!(line.contains(w), "stderr should say {w:?}: {run}");
    }
    assert_eq!(run.stdout, "", "{run}");
}

/// Bad auth options the CLI catches before connecting: exit 2.
#[track_caller]
fn assert_cli_usage(run: &Run, words: &[&str]) {
    assert!(!run.stderr.contains("panicked"), "{run}");
    run.assert_code(2);
    let line = run.one_line_stderr();
    for w in words {
        assert!(line.contains(w), "stderr should say {w:?}: {run}");
    }
}

/// The CLI works with `creds`, as flags and as environment variables: probe, announce, who-has, list,
/// release, and it sees `library_file` (held by the library's agent "lib").
fn assert_cli_works(env: &CliEnv, creds: &Creds, library_file: &str) {
    for (flags, vars, how) in [
        (creds.flags.clone(), Vec::new(), "flags"),
        (Vec::new(), creds.vars.clone(), "environment"),
    ] {
        let probe = holds(env, &flags, &vars, &["probe"]);
        probe.assert_code(0);
        assert!(probe.stdout.starts_with("ok:"), "{how}: {probe}");
        let file = format!("/auth/cli-{how}.rs");
        let announced = holds(
            env,
            &flags,
            &vars,
            &["--json", "announce", &file, "--agent", "cli", "--ttl", "1m"],
        );
        announced.assert_code(0);
        assert_eq!(
            announced.json()["file"],
            file.as_str(),
            "{how}: {announced}"
        );
        let who = holds(env, &flags, &vars, &["--json", "who-has", library_file]);
        who.assert_code(0);
        assert_eq!(who.json()["hold"]["agent_id"], "lib", "{how}: {who}");
        let list = holds(env, &flags, &vars, &["--json", "list"]);
        list.assert_code(0);
        assert!(list.stdout.contains(&file), "{how}: {list}");
        let released = holds(
            env,
            &flags,
            &vars,
            &["--json", "release", &file, "--agent", "cli"],
        );
        released.assert_code(0);
        assert_eq!(released.json()["released"], true, "{how}: {released}");
    }
}

/// The library refuses: connecting with `options` fails with `kind`, quickly.
async fn assert_library_refused(url: &str, options: ConnectOptions, kind: ConnectErrorKind) {
    let started = Instant::now();
    let connected = tokio::time::timeout(REFUSED_WITHIN, options.connect(url))
        .await
        .unwrap_or_else(|_| {
            panic!("connecting was neither refused nor accepted in {REFUSED_WITHIN:?}")
        });
    match connected {
        Err(e) => assert_eq!(e.kind(), kind, "{e}"),
        Ok(_) => panic!("connected with credentials that should be refused"),
    }
    assert!(started.elapsed() < REFUSED_WITHIN);
}

/// A TLS handshake failure as async-nats reports it: mostly as an IO error, with rustls' reason.
#[track_caller]
fn assert_tls_refusal(e: &async_nats::ConnectError, word: &str) {
    assert!(
        matches!(e.kind(), ConnectErrorKind::Tls | ConnectErrorKind::Io),
        "{e}"
    );
    assert!(e.to_string().contains(word), "{e} should say {word:?}");
}

/// The library refuses a TLS connection with `options`, quickly, saying `word`.
async fn assert_library_refused_tls(url: &str, options: ConnectOptions, word: &str) {
    match tokio::time::timeout(REFUSED_WITHIN, options.connect(url)).await {
        Ok(Err(e)) => assert_tls_refusal(&e, word),
        Ok(Ok(_)) => panic!("connected to a TLS server that should be refused"),
        Err(_) => panic!("neither refused nor accepted in {REFUSED_WITHIN:?}"),
    }
}

/// The library works on a client connected with `options`; leaves a hold on `file` by agent "lib".
async fn assert_library_works(url: &str, options: ConnectOptions, file: &str) -> Manager {
    let client = options
        .connect(url)
        .await
        .expect("connecting with the right credentials");
    let m = Manager::open(config(), Backend::JetStream(client))
        .await
        .expect("opening a manager");
    m.probe().await.unwrap();
    let claim = m
        .announce(
            "/auth/scratch.rs",
            &Announce::new("lib", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(m.who_has("/auth/scratch.rs").await.unwrap(), Some(claim));
    assert!(matches!(
        m.release("/auth/scratch.rs", "lib").await.unwrap(),
        Release::Released { .. }
    ));
    // The longest hold allowed: the CLI checks it after many other processes ran.
    m.announce(file, &Announce::new("lib", Duration::from_secs(300)))
        .await
        .unwrap();
    m
}

/// After the CLI ran: the library sees the CLI's changes (its holds released) and its own hold.
async fn assert_library_sees_cli(m: &Manager, file: &str) {
    let list = m.list().await.unwrap();
    let files: Vec<&str> = list.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(files, [file], "the CLI released what it announced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password() {
    let server =
        NatsServer::with_config("authorization { user: holds, password: \"s3cret pass\" }\n");
    let url = server.url();
    let env = CliEnv::nats(&url);

    // Library.
    assert_library_refused(
        &url,
        ConnectOptions::new(),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    for (user, password) in [("holds", "wrong"), ("nobody", "s3cret pass"), ("holds", "")] {
        assert_library_refused(
            &url,
            ConnectOptions::with_user_and_password(user.into(), password.into()),
            ConnectErrorKind::AuthorizationViolation,
        )
        .await;
    }
    let good = || ConnectOptions::with_user_and_password("holds".into(), "s3cret pass".into());
    let m = assert_library_works(&url, good(), "/auth/lib.rs").await;

    // CLI: refused.
    let refused = [
        (Creds::anonymous(), "an anonymous connection"),
        (
            Creds::new(&[("--user", "holds"), ("--password", "wrong")], &[]),
            "--user/--password",
        ),
        (
            Creds::new(&[], &[("NATS_USER", "holds"), ("NATS_PASSWORD", "wrong")]),
            "--user/--password",
        ),
        (
            Creds::new(&[("--user", "nobody"), ("--password", "s3cret pass")], &[]),
            "--user/--password",
        ),
        (Creds::new(&[("--token", "s3cret pass")], &[]), "--token"),
    ];
    for (creds, names) in refused {
        let run = holds(&env, &creds.flags, &creds.vars, &["probe"]);
        assert_cli_refused(
            &run,
            &["authorization failed", "authorization violation", names],
        );
        let run = holds(
            &env,
            &creds.flags,
            &creds.vars,
            &["who-has", "/auth/lib.rs"],
        );
        assert_cli_refused(&run, &["authorization failed"]);
    }
    let run = holds(&env, &["--user".into(), "holds".into()], &[], &["probe"]);
    assert_cli_usage(&run, &["--user and --password go together"]);

    // CLI: accepted, as flags and as NATS_USER/NATS_PASSWORD.
    let creds = Creds::new(
        &[("--user", "holds"), ("--password", "s3cret pass")],
        &[("NATS_USER", "holds"), ("NATS_PASSWORD", "s3cret pass")],
    );
    assert_cli_works(&env, &creds, "/auth/lib.rs");
    assert_library_sees_cli(&m, "/auth/lib.rs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token() {
    let server = NatsServer::with_config("authorization { token: \"t0ken-0f-holds\" }\n");
    let url = server.url();
    let env = CliEnv::nats(&url);

    assert_library_refused(
        &url,
        ConnectOptions::new(),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    assert_library_refused(
        &url,
        ConnectOptions::with_token("t0ken".into()),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    assert_library_refused(
        &url,
        ConnectOptions::with_user_and_password("holds".into(), "t0ken-0f-holds".into()),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    let m = assert_library_works(
        &url,
        ConnectOptions::with_token("t0ken-0f-holds".into()),
        "/auth/lib.rs",
    )
    .await;

    for (creds, names) in [
        (Creds::anonymous(), "an anonymous connection"),
        (Creds::new(&[("--token", "wrong")], &[]), "--token"),
        (
            Creds::new(&[], &[("NATS_TOKEN", "t0ken-0f-holds-but-longer")]),
            "--token",
        ),
        (
            Creds::new(
                &[("--user", "holds"), ("--password", "t0ken-0f-holds")],
                &[],
            ),
            "--user/--password",
        ),
    ] {
        let run = holds(&env, &creds.flags, &creds.vars, &["probe"]);
        assert_cli_refused(&run, &["authorization failed", names]);
    }
    let creds = Creds::new(
        &[("--token", "t0ken-0f-holds")],
        &[("NATS_TOKEN", "t0ken-0f-holds")],
    );
    assert_cli_works(&env, &creds, "/auth/lib.rs");
    assert_library_sees_cli(&m, "/auth/lib.rs").await;
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nkey() {
    let user = KeyPair::new_user();
    let stranger = KeyPair::new_user();
    let server = NatsServer::with_config(format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
        user.public_key()
    ));
    let url = server.url();
    let env = CliEnv::nats(&url);
    let dir = TempDir::new().unwrap();
    let seed = user.seed().unwrap();
    // A bare seed, as `nk -gen user` writes it, and one decorated as nsc writes seeds.
    let plain = write(dir.path(), "user.nk", &format!("{seed}\n"));
    let decorated = write(
        dir.path(),
        "user-decorated.nk",
        &format!(
            "-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        ),
    );
    let stranger_seed = write(dir.path(), "stranger.nk", &stranger.seed().unwrap());
    let account_seed = write(
        dir.path(),
        "account.nk",
        &KeyPair::new_account().seed().unwrap(),
    );
    let garbage = write(dir.path(), "garbage.nk", "this is not a seed\n");
    // The right shape, a wrong checksum: only decoding it can tell.
    let mut bad_checksum = seed.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let bad_checksum = write(
        dir.path(),
        "bad-checksum.nk",
        std::str::from_utf8(&bad_checksum).unwrap(),
    );
    let missing = dir.path().join("missing.nk");

    // Library.
    assert_library_refused(
        &url,
        ConnectOptions::new(),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    assert_library_refused(
        &url,
        ConnectOptions::with_nkey(stranger.seed().unwrap()),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    let m = assert_library_works(
        &url,
        ConnectOptions::with_nkey(seed.clone()),
        "/auth/lib.rs",
    )
    .await;

    // CLI: refused by the server.
    for (creds, words) in [
        (
            Creds::anonymous(),
            vec!["authorization failed", "an anonymous connection"],
        ),
        (
            Creds::new(&[("--nkey", path_str(&stranger_seed))], &[]),
            vec!["authorization failed", "--nkey"],
        ),
        (
            Creds::new(&[], &[("NATS_NKEY", path_str(&stranger_seed))]),
            vec!["authorization failed", "--nkey"],
        ),
        (
            Creds::new(&[("--nkey", path_str(&bad_checksum))], &[]),
            vec!["authentication failed", "nkey"],
        ),
    ] {
        let run = holds(&env, &creds.flags, &creds.vars, &["probe"]);
        assert_cli_refused(&run, &words);
    }
    // CLI: seed files that are no use, caught before connecting.
    for (file, words) in [
        (
            &account_seed,
            vec!["a seed of another kind (SA...)", "not a user seed"],
        ),
        (&garbage, vec!["holds no nkey seed"]),
        (
            &missing,
            vec!["cannot read the nkey seed file", "missing.nk"],
        ),
    ] {
        let run = holds(
            &env,
            &["--nkey".into(), path_str(file).into()],
            &[],
            &["probe"],
        );
        assert_cli_usage(&run, &words);
    }
    // CLI: accepted, plain and decorated, as --nkey and as NATS_NKEY.
    assert_cli_works(
        &env,
        &Creds::new(
            &[("--nkey", path_str(&plain))],
            &[("NATS_NKEY", path_str(&decorated))],
        ),
        "/auth/lib.rs",
    );
    assert_cli_works(
        &env,
        &Creds::new(
            &[("--nkey", path_str(&decorated))],
            &[("NATS_NKEY", path_str(&plain))],
        ),
        "/auth/lib.rs",
    );
    assert_library_sees_cli(&m, "/auth/lib.rs").await;
}

/// A CA, and certificates it signs, in PEM files.
struct Pki {
    dir: TempDir,
    ca: CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf certificate for 127.0.0.1 and localhost: (cert file, key file).
    fn leaf(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let cert_file = self.dir.path().join(format!("{name}.pem"));
        let key_file = self.dir.path().join(format!("{name}-key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

/// A TLS server with a certificate from `pki`; with `verify`, client certificates from it are required.
fn tls_server(pki: &Pki, verify: bool) -> NatsServer {
    let (cert, key) = pki.leaf("server", ExtendedKeyUsagePurpose::ServerAuth);
    NatsServer::with_config(format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: {verify}\n  timeout: 2\n}}\n",
        cert.display(),
        key.display(),
        pki.ca_file().display()
    ))
}

fn tls_options(ca: &Path) -> ConnectOptions {
    ConnectOptions::new()
        .add_root_certificates(ca.to_path_buf())
        .require_tls(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_made_in_the_test() {
    let pki = Pki::new("holds test CA");
    let other = Pki::new("another CA");
    let server = tls_server(&pki, false);
    let url = server.url();
    let env = CliEnv::nats(&url);
    let ca = pki.ca_file();
    let not_pem = write(other.dir.path(), "not-pem.pem", "not a certificate\n");

    // Library: without the CA (the system's roots) and with another CA, the server's certificate is
    // refused; with the CA it works.
    assert_library_refused_tls(
        &url,
        ConnectOptions::new(),
        "invalid peer certificate: UnknownIssuer",
    )
    .await;
    assert_library_refused_tls(
        &url,
        tls_options(&other.ca_file()),
        "invalid peer certificate: UnknownIssuer",
    )
    .await;
    let m = assert_library_works(&url, tls_options(&ca), "/auth/lib.rs").await;

    for (creds, words) in [
        (
            Creds::anonymous(),
            vec![
                "TLS failed",
                "not trusted: give its CA with --tlscacert",
                "UnknownIssuer",
            ],
        ),
        (
            Creds::new(&[("--tlscacert", path_str(&other.ca_file()))], &[]),
            vec![
                "TLS failed",
                "not signed by the CA given with --tlscacert",
                "UnknownIssuer",
            ],
        ),
        (
            Creds::new(&[], &[("NATS_CA", path_str(&other.ca_file()))]),
            vec!["TLS failed", "not signed by the CA"],
        ),
    ] {
        let run = holds(&env, &creds.flags, &creds.vars, &["probe"]);
        assert_cli_refused(&run, &words);
    }
    // TLS files that are no use, caught before connecting.
    let (cert, key) = pki.leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
    let missing = other.dir.path().join("missing.pem");
    for (flags, words) in [
        (
            vec!["--tlscacert", path_str(&missing)],
            vec![
                "cannot read the CA certificate",
                "missing.pem",
                "--tlscacert",
            ],
        ),
        (
            vec!["--tlscacert", path_str(&not_pem)],
            vec!["not-pem.pem (--tlscacert) is not the CA certificate in PEM format"],
        ),
        (
            vec!["--tlscacert", path_str(&key)],
            vec!["is not the CA certificate in PEM format"],
        ),
        (
            vec![
                "--tlscacert",
                path_str(&ca),
                "--tlscert",
                path_str(&cert),
                "--tlskey",
                path_str(&cert),
            ],
            vec!["(--tlskey) is not the client key in PEM format"],
        ),
        (
            vec![
                "--tlscacert",
                path_str(&ca),
                "--tlscert",
                path_str(&missing),
                "--tlskey",
                path_str(&key),
            ],
            vec!["cannot read the client certificate", "missing.pem"],
        ),
    ] {
        let flags: Vec<String> = flags.into_iter().map(String::from).collect();
        let run = holds(&env, &flags, &[], &["probe"]);
        assert_cli_usage(&run, &words);
    }
    let creds = Creds::new(
        &[("--tlscacert", path_str(&ca))],
        &[("NATS_CA", path_str(&ca))],
    );
    assert_cli_works(&env, &creds, "/auth/lib.rs");
    assert_library_sees_cli(&m, "/auth/lib.rs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let pki = Pki::new("holds test CA");
    let other = Pki::new("another CA");
    let server = tls_server(&pki, true);
    let url = server.url();
    let env = CliEnv::nats(&url);
    let ca = pki.ca_file();
    let (cert, key) = pki.leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
    let (foreign_cert, foreign_key) = other.leaf("intruder", ExtendedKeyUsagePurpose::ClientAuth);

    // Library: no client certificate, or one from another CA, is refused.
    let started = Instant::now();
    for options in [
        tls_options(&ca),
        tls_options(&ca).add_client_certificate(foreign_cert.clone(), foreign_key.clone()),
    ] {
        let connected = tokio::time::timeout(REFUSED_WITHIN, options.connect(&url)).await;
        match connected {
            Ok(Err(e)) => assert_tls_refusal(&e, "fatal alert"),
            Ok(Ok(_)) => panic!("connected without an acceptable client certificate"),
            Err(_) => panic!("neither refused nor accepted in {REFUSED_WITHIN:?}"),
        }
    }
    assert!(started.elapsed() < 2 * REFUSED_WITHIN);
    let m = assert_library_works(
        &url,
        tls_options(&ca).add_client_certificate(cert.clone(), key.clone()),
        "/auth/lib.rs",
    )
    .await;

    let (ca_s, cert_s, key_s) = (path_str(&ca), path_str(&cert), path_str(&key));
    for (creds, words) in [
        (
            Creds::new(&[("--tlscacert", ca_s)], &[]),
            ["TLS failed", "it may require a client certificate"],
        ),
        (
            Creds::new(
                &[
                    ("--tlscacert", ca_s),
                    ("--tlscert", path_str(&foreign_cert)),
                    ("--tlskey", path_str(&foreign_key)),
                ],
                &[],
            ),
            [
                "TLS failed",
                "refused the client certificate given with --tlscert",
            ],
        ),
        (
            Creds::new(
                &[],
                &[
                    ("NATS_CA", ca_s),
                    ("NATS_CERT", path_str(&foreign_cert)),
                    ("NATS_KEY", path_str(&foreign_key)),
                ],
            ),
            ["TLS failed", "refused the client certificate"],
        ),
    ] {
        let run = holds(&env, &creds.flags, &creds.vars, &["probe"]);
        assert_cli_refused(&run, &words);
    }
    let run = holds(
        &env,
        &[
            "--tlscacert".into(),
            ca_s.into(),
            "--tlscert".into(),
            cert_s.into(),
        ],
        &[],
        &["probe"],
    );
    assert_cli_usage(&run, &["--tlscert and --tlskey go together"]);
    let creds = Creds::new(
        &[
            ("--tlscacert", ca_s),
            ("--tlscert", cert_s),
            ("--tlskey", key_s),
        ],
        &[
            ("NATS_CA", ca_s),
            ("NATS_CERT", cert_s),
            ("NATS_KEY", key_s),
        ],
    );
    assert_cli_works(&env, &creds, "/auth/lib.rs");
    assert_library_sees_cli(&m, "/auth/lib.rs").await;
}

/// A NATS JWT (`ed25519-nkey`) with `claims`' `nats` section, issued by `issuer` to `subject`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let header = json!({ "typ": "JWT", "alg": "ed25519-nkey" });
    let claims = json!({
        "jti": data_encoding::BASE32_NOPAD.encode(format!("{subject}-{now}-{serial}").as_bytes()),
        "iat": now,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let header = BASE64URL_NOPAD.encode(header.to_string().as_bytes());
    let claims = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
    let signature = issuer
        .sign(format!("{header}.{claims}").as_bytes())
        .unwrap();
    format!("{header}.{claims}.{}", BASE64URL_NOPAD.encode(&signature))
}

/// Account limits with nothing limited (JWT v2: a missing limit is 0, not unlimited).
fn unlimited_account(jetstream: bool) -> serde_json::Value {
    let mut limits = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
    });
    if jetstream {
        for k in ["mem_storage", "disk_storage", "streams", "consumer"] {
            limits[k] = json!(-1);
        }
    }
    json!({ "limits": limits, "default_permissions": { "pub": {}, "sub": {} }, "type": "account", "version": 2 })
}

/// A creds file for a user of `account`, as nsc writes it.
fn creds_file(dir: &Path, name: &str, account: &KeyPair) -> PathBuf {
    let user = KeyPair::new_user();
    let user_jwt = jwt(
        account,
        &user.public_key(),
        name,
        json!({ "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2 }),
    );
    write(
        dir,
        &format!("{name}.creds"),
        &format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n",
            user.seed().unwrap()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_creds_from_an_operator_made_in_the_test() {
    let operator = KeyPair::new_operator();
    let system = KeyPair::new_account();
    let account = KeyPair::new_account();
    let op = operator.public_key();
    let operator_jwt = jwt(
        &operator,
        &op,
        "holds-test-operator",
        json!({ "system_account": system.public_key(), "type": "operator", "version": 2 }),
    );
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        unlimited_account(false),
    );
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "HOLDS",
        unlimited_account(true),
    );
    let server = NatsServer::with_config(format!(
        "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {sys}: \"{system_jwt}\"\n  {acc}: \"{account_jwt}\"\n}}\n",
        sys = system.public_key(),
        acc = account.public_key(),
    ));
    let url = server.url();
    let env = CliEnv::nats(&url);
    let dir = TempDir::new().unwrap();
    let good = creds_file(dir.path(), "agent", &account);
    // Signed by an account the operator never issued.
    let forged = creds_file(dir.path(), "forged", &KeyPair::new_account());
    let broken = write(
        dir.path(),
        "broken.creds",
        "-----BEGIN NATS USER JWT-----\nnot a jwt\n",
    );

    assert_library_refused(
        &url,
        ConnectOptions::new(),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    assert_library_refused(
        &url,
        ConnectOptions::with_credentials_file(&forged)
            .await
            .unwrap(),
        ConnectErrorKind::AuthorizationViolation,
    )
    .await;
    let m = assert_library_works(
        &url,
        ConnectOptions::with_credentials_file(&good).await.unwrap(),
        "/auth/lib.rs",
    )
    .await;

    for (creds, words) in [
        (
            Creds::anonymous(),
            vec!["authorization failed", "an anonymous connection"],
        ),
        (
            Creds::new(&[("--creds", path_str(&forged))], &[]),
            vec!["authorization failed", "--creds"],
        ),
        (
            Creds::new(&[], &[("NATS_CREDS", path_str(&forged))]),
            vec!["authorization failed", "--creds"],
        ),
    ] {
        let run = holds(&env, &creds.flags, &creds.vars, &["probe"]);
        assert_cli_refused(&run, &words);
    }
    let run = holds(
        &env,
        &["--creds".into(), path_str(&broken).into()],
        &[],
        &["probe"],
    );
    assert_cli_usage(&run, &["cannot read the credentials file", "broken.creds"]);
    let creds = Creds::new(
        &[("--creds", path_str(&good))],
        &[("NATS_CREDS", path_str(&good))],
    );
    assert_cli_works(&env, &creds, "/auth/lib.rs");
    assert_library_sees_cli(&m, "/auth/lib.rs").await;
}

/// A refused connection is one sentence on stderr, as every other CLI error: nothing logged before it.
#[test]
fn a_refused_connection_is_one_line_on_stderr() {
    let server = NatsServer::with_config("authorization { token: \"t0ken\" }\n");
    let env = CliEnv::nats(server.url());
    for args in [&["probe"][..], &["--token", "wrong", "who-has", "/x"]] {
        let run = holds(&env, &[], &[], args);
        run.assert_code(1);
        let line = run.one_line_stderr();
        assert!(line.starts_with("holds: cannot connect"), "{run}");
    }
}
