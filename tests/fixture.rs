//! Tests of the nats-server fixtures themselves, with a raw NATS protocol client (no async-nats).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use holds_test_support::{NatsCluster, NatsServer};

/// A minimal line-protocol NATS connection for checking the fixture.
struct Raw {
    stream: TcpStream,
    seen: String,
}

impl Raw {
    /// Connects and returns the connection and the server's first line (its `INFO {...}`).
    fn connect(port: u16) -> (Self, String) {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut raw = Self {
            stream,
            seen: String::new(),
        };
        let text = raw.read_until("\r\n", Duration::from_secs(5));
        let info = text.split("\r\n").next().unwrap().to_string();
        raw.seen.clear();
        (raw, info)
    }

    fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap();
    }

    /// Reads until everything read so far contains `pattern`; returns it all.
    fn read_until(&mut self, pattern: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while !self.seen.contains(pattern) {
            assert!(
                Instant::now() < deadline,
                "no {pattern:?} from nats-server within {timeout:?}; got {:?}",
                self.seen
            );
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("connection closed; got {:?}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read from nats-server: {e}"),
            }
        }
        self.seen.clone()
    }

    /// Publishes `payload` to `subject` with a reply inbox and waits for a reply containing `expect`.
    fn request(&mut self, subject: &str, payload: &str, expect: &str) -> String {
        self.seen.clear();
        self.send(&format!(
            "PUB {subject} _INBOX.fixture {}\r\n{payload}\r\n",
            payload.len()
        ));
        self.read_until(expect, Duration::from_secs(5))
    }
}

/// The number after `"key":` in a JSON text (monitor endpoints).
fn json_number(json: &str, key: &str) -> Option<u64> {
    let needle = format!("\"{key}\":");
    let rest = json[json.find(&needle)? + needle.len()..].trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[test]
fn server_starts_and_greets_with_info() {
    let server = NatsServer::start();
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    let (_conn, info) = Raw::connect(server.port());
    assert!(info.starts_with("INFO {"), "first line: {info:?}");
    assert!(info.contains("\"jetstream\":true"), "INFO: {info}");
    assert!(server.store_dir().join("jetstream").is_dir());
    let (status, body) = server.monitor_get("/varz").unwrap();
    assert_eq!(status, 200);
    assert_eq!(json_number(&body, "port"), Some(u64::from(server.port())));
}

#[test]
fn kill_and_restart_keep_port_and_store() {
    let mut server = NatsServer::start();
    let port = server.port();
    let store = server.store_dir().to_path_buf();

    let (mut conn, _) = Raw::connect(port);
    conn.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB _INBOX.fixture 1\r\n");
    let created = conn.request(
        "$JS.API.STREAM.CREATE.FIXTURE",
        r#"{"name":"FIXTURE","subjects":["fixture.>"],"storage":"file","num_replicas":1}"#,
        "stream_create_response",
    );
    assert!(!created.contains("\"error\""), "{created}");
    let ack = conn.request("fixture.one", "hello", "\"seq\":1");
    assert!(ack.contains("\"stream\":\"FIXTURE\""), "{ack}");
    drop(conn);

    server.kill();
    assert!(!server.is_running());
    assert!(server.pid().is_none());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts connections after kill"
    );

    server.restart();
    assert_eq!(server.port(), port);
    assert_eq!(server.store_dir(), store);
    let (_conn, info) = Raw::connect(port);
    assert!(info.starts_with("INFO {"), "first line: {info:?}");
    let (_, jsz) = server.monitor_get("/jsz").unwrap();
    assert_eq!(json_number(&jsz, "streams"), Some(1), "{jsz}");
    assert_eq!(json_number(&jsz, "messages"), Some(1), "{jsz}");
}

#[test]
fn config_file_can_require_a_password() {
    let server = NatsServer::with_config("authorization { user: alice, password: s3cret }\n");

    let (mut conn, info) = Raw::connect(server.port());
    assert!(info.contains("\"auth_required\":true"), "INFO: {info}");
    conn.send("CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"wrong\"}\r\nPING\r\n");
    let refused = conn.read_until("-ERR", Duration::from_secs(5));
    assert!(refused.contains("Authorization Violation"), "{refused}");

    let (mut conn, _) = Raw::connect(server.port());
    conn.send("CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"s3cret\"}\r\nPING\r\n");
    let ok = conn.read_until("PONG", Duration::from_secs(5));
    assert!(!ok.contains("-ERR"), "{ok}");
}

#[test]
fn three_node_cluster_forms_and_survives_a_node_restart() {
    let mut cluster = NatsCluster::start(3);
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    assert_eq!(cluster.url_list(), urls.join(","));
    for (i, server) in cluster.servers().iter().enumerate() {
        let peers = server.route_peers();
        assert_eq!(peers.len(), 2, "n{i} routes: {peers:?}");
        assert!(!peers.contains(&format!("n{i}")));
        let (_, routez) = server.monitor_get("/routez").unwrap();
        assert!(json_number(&routez, "num_routes").unwrap() >= 2, "{routez}");
        let (_, jsz) = server.monitor_get("/jsz").unwrap();
        assert!(jsz.contains(NatsCluster::NAME), "{jsz}");
    }

    cluster.kill_node(2);
    cluster.wait_routes(Duration::from_secs(10));
    assert_eq!(cluster.server(0).route_peers().len(), 1);

    cluster.start_node(2);
    assert_eq!(cluster.urls(), urls);
    for server in cluster.servers() {
        assert_eq!(server.route_peers().len(), 2);
    }

    cluster.stop_node(0);
    cluster.start_node(0);
    assert_eq!(cluster.urls(), urls);
}
