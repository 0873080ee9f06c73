//! Attacks on the proxy and on what one client can hold (issue #13, items 4
//! and 6, connections per address, `GET /apis`): the real binary, attacked
//! over raw sockets, so that no client library normalises or completes what
//! is sent.
//!
//! `cargo test -p rig --test attack_proxy -- --nocapture` prints the figures.

mod common;

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use common::{api_def, backend::Backend, jwt, process::Canary, process::Gateway, PATIENCE};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// Connects to `to` from `from` (a loopback address of the test's choosing).
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    tokio::time::timeout(PATIENCE, socket.connect(to)).await.expect("connect in time").expect("connect")
}

/// Everything the server sends until it closes (or `PATIENCE` passes).
async fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw response (0 when there is none).
fn status_of(response: &str) -> u16 {
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// One request written as is (`Connection: close`), and the whole answer.
async fn exchange(to: SocketAddr, from: IpAddr, method: &str, target: &str, headers: &str) -> String {
    let mut s = connect_from(from, to).await;
    let req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_all(&mut s).await
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

async fn add_api(g: &Gateway, def: &Value) {
    let r = reqwest::Client::new().post(g.api_url("/v3/apis")).json(def).send().await.unwrap();
    assert_eq!(r.status(), 201, "add API: {}", r.text().await.unwrap());
}

/// `GET /api/public/.*` open, `GET /api/admin/secret` secured (JWT in `Authorization`).
async fn public_and_secret(g: &Gateway, backend: &Backend) {
    let mut def = api_def(
        "split",
        backend.port(),
        json!([
            {"id": "secret", "method": "GET", "path_regex": "/api/admin/secret", "secured": true},
            {"id": "public", "method": "GET", "path_regex": "/api/public/.*"},
        ]),
    );
    def["auth_type"] = "jwt".into();
    def["auth"] = json!({"use_header": true, "header_name": "Authorization"});
    add_api(g, &def).await;
}

#[tokio::test]
async fn dot_segments_and_encodings_never_reach_the_secured_endpoint_without_a_token() {
    let g = Gateway::spawn(&[]);
    let backend = Backend::ok().await;
    public_and_secret(&g, &backend).await;

    let variants = [
        "/api/public/../admin/secret",
        "/api/public/./../admin/secret",
        "/api/public/%2e%2e/admin/secret",
        "/api/public/%2E%2E/admin/secret",
        "/api/public/.%2e/admin/secret",
        "/api/public/%2e./admin/secret",
        "/api/public/%2E%2E%2Fadmin%2Fsecret",
        "/api/public/..%2fadmin%2fsecret",
        "/api/public/..%5Cadmin%5Csecret",
        "/api/public/..\\admin\\secret",
        "/api/public/%252e%252e/admin/secret",
        "/api/public/%25%32%65%25%32%65/admin/secret",
        "/api/public/%252e%252e%252fadmin%252fsecret",
        "/api/public//../admin/secret",
        "/api/public/..//admin/secret",
        "//api//public/..//admin//secret",
        "/api/public/..;/admin/secret",
        "/api/public/%2e%2e;x=1/admin/secret",
        "/api/public/x/../../admin/secret",
        "/api/public/../../../../../api/admin/secret",
        "/API/PUBLIC/../ADMIN/SECRET",
        "/api/public/%2e%2e/admin/secret?x=1",
        "/api/public/../admin/secret/.",
        "/api/public/../admin/./secret",
        "/api/public/..%00/admin/secret",
        "/api/public/%c0%ae%c0%ae/admin/secret",
        "/api/%70ublic/../%61dmin/secret",
        "http://localhost/api/public/../admin/secret",
    ];
    for target in variants {
        for method in ["GET", "HEAD"] {
            let r = exchange(g.inbound, LOCAL, method, target, "").await;
            let status = status_of(&r);
            eprintln!("{method} {target} -> {status}");
            assert!(matches!(status, 400 | 401 | 404), "{method} {target}: {r}");
            if status == 400 && method == "GET" {
                let body: Value = serde_json::from_str(body_of(&r)).unwrap_or_else(|_| panic!("{target}: JSON body: {r}"));
                assert!(body["error"].is_string(), "{target}: {r}");
            }
        }
    }
    let seen: Vec<String> = backend.seen().into_iter().map(|s| s.path).collect();
    assert!(seen.is_empty(), "the backend got {seen:?}");

    // With a token the normalised path is what is matched and forwarded.
    let bearer = format!("Authorization: Bearer {}\r\n", jwt(json!({"jti": "s1"})));
    let r = exchange(g.inbound, LOCAL, "GET", "/api/public/%2e%2e/admin/secret", &bearer).await;
    assert_eq!(status_of(&r), 200, "{r}");
    assert_eq!(backend.last().path, "/api/admin/secret");
    for (target, forwarded) in [
        ("/api/public/a/./b/../c", "/api/public/a/c"),
        ("/api/public//x//y/", "/api/public/x/y/"),
        ("/api/public/%7Euser/a%20b/%c3%a9", "/api/public/~user/a%20b/%C3%A9"),
        ("/api/admin/../public/z?q=%2e%2e", "/api/public/z"),
    ] {
        let r = exchange(g.inbound, LOCAL, "GET", target, "").await;
        assert_eq!(status_of(&r), 200, "{target}: {r}");
        let last = backend.last();
        assert_eq!(last.path, forwarded, "{target}");
        eprintln!("{target} forwarded as {} (query {:?})", last.path, last.query);
    }
}

/// What happened to one stalled-body connection.
struct Stalled {
    status: u16,
    response: String,
    closed_after: Duration,
}

/// Announces a 1000-byte body (or a 1000-byte chunk), sends 6 bytes of it and
/// waits for the gateway to answer and close.
async fn stall(to: SocketAddr, target: &str, chunked: bool, extra: &str) -> Stalled {
    let mut s = connect_from(LOCAL, to).await;
    let framing = if chunked { "Transfer-Encoding: chunked\r\n\r\n3e8\r\n" } else { "Content-Length: 1000\r\n\r\n" };
    let head = format!("POST {target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{extra}{framing}{{\"a\":1");
    s.write_all(head.as_bytes()).await.unwrap();
    let t = Instant::now();
    let response = read_all(&mut s).await;
    Stalled { status: status_of(&response), response, closed_after: t.elapsed() }
}

#[tokio::test]
async fn stalled_request_bodies_are_answered_408_and_closed_at_the_deadline() {
    const DEADLINE_MS: u64 = 1000;
    // A loaded 2-core machine: the close may come late, never this late.
    let margin = Duration::from_secs(5);
    let g = Gateway::spawn(&[("RIG_BODY_READ_TIMEOUT_MS", "1000")]);
    let backend = Backend::ok().await;
    add_api(&g, &api_def("upload", backend.port(), json!([{"id": "up", "method": "POST", "path_regex": "/api/upload"}]))).await;
    let canary = Canary::start(&g).await;
    let rss_before = g.rss_kib();

    let started = Instant::now();
    let g_inbound = g.inbound;
    let mut attacks = Vec::new();
    for (port, target, what) in [
        (g.inbound, "/_rig/v1/events", "public /_rig/v1/events"),
        (g.api, "/v3/messages", "internal /v3/messages"),
        (g.api, "/v3/apis", "internal /v3/apis"),
        (g.inbound, "/api/upload", "proxied POST /api/upload"),
    ] {
        for i in 0..40 {
            attacks.push(tokio::spawn(async move { (what, stall(port, target, i % 2 == 1, "").await) }));
        }
    }
    // Next try: keep the body trickling, one byte at a time, so it never stalls for long.
    let drips: Vec<_> = (0..10)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = connect_from(LOCAL, g_inbound).await;
                s.write_all(b"POST /_rig/v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n").await.unwrap();
                let t = Instant::now();
                let mut out = Vec::new();
                let mut buf = [0u8; 512];
                loop {
                    tokio::select! {
                        n = s.read(&mut buf) => match n {
                            Ok(0) | Err(_) => break,
                            Ok(n) => out.extend_from_slice(&buf[..n]),
                        },
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {
                            if t.elapsed() > PATIENCE || s.write_all(b" ").await.is_err() {
                                break;
                            }
                        }
                    }
                }
                (String::from_utf8_lossy(&out).into_owned(), t.elapsed())
            })
        })
        .collect();
    for d in drips {
        let (r, after) = d.await.unwrap();
        assert_eq!(status_of(&r), 408, "a trickled body: {r}");
        assert!(after <= Duration::from_millis(DEADLINE_MS) + margin, "a trickled body was closed after {after:?}");
        eprintln!("trickled body (a byte per 100 ms): 408 and closed after {after:?}");
    }

    let mut worst = Duration::ZERO;
    let mut total = 0;
    for a in attacks {
        let (what, r) = a.await.unwrap();
        total += 1;
        worst = worst.max(r.closed_after);
        assert_eq!(r.status, 408, "{what}: {}", r.response);
        let body: Value = serde_json::from_str(body_of(&r.response)).unwrap_or_else(|_| panic!("{what}: {}", r.response));
        assert_eq!(body["error"], format!("request body not received within {DEADLINE_MS} ms"), "{what}");
        assert!(r.response.to_ascii_lowercase().contains("connection: close"), "{what}: {}", r.response);
        assert!(r.closed_after >= Duration::from_millis(DEADLINE_MS / 2), "{what}: closed after {:?}", r.closed_after);
        assert!(r.closed_after <= Duration::from_millis(DEADLINE_MS) + margin, "{what}: closed after {:?}", r.closed_after);
    }
    eprintln!(
        "{total} stalled bodies (deadline {DEADLINE_MS} ms): all closed, the last after {worst:?}; all done {:?} after the start",
        started.elapsed()
    );
    assert!(backend.seen().is_empty(), "a stalled body reached the backend");

    // A GET whose body the handler never reads is closed too (hyper gives up on the body).
    let t = Instant::now();
    let mut s = connect_from(LOCAL, g.inbound).await;
    s.write_all(b"GET /_rig/health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nabcdef").await.unwrap();
    let r = read_all(&mut s).await;
    assert_eq!(status_of(&r), 200, "{r}");
    assert!(t.elapsed() <= Duration::from_millis(DEADLINE_MS) + margin, "{:?}", t.elapsed());
    eprintln!("GET with an unread stalled body: answered and closed after {:?}", t.elapsed());

    // A body that arrives in time is served as before, on the same kind of connection.
    let event = json!({"specversion": "1.0", "type": "x", "source": "s", "id": "ok"}).to_string();
    let head = format!("Content-Type: application/cloudevents+json\r\nContent-Length: {}\r\n\r\n{event}", event.len());
    let mut s = connect_from(LOCAL, g.inbound).await;
    s.write_all(format!("POST /_rig/v1/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{head}").as_bytes()).await.unwrap();
    assert_eq!(status_of(&read_all(&mut s).await), 202);

    let report = canary.report().await;
    eprintln!("RSS before {rss_before} KiB, peak {} KiB", report.peak_rss_kib);
    report.assert_healthy("stalled bodies", 3000);
}

/// `n` connections from `from` that the gateway holds: half idle, half with a stalled body.
async fn hold(n: usize, from: IpAddr, to: SocketAddr) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for i in 0..n {
        let mut s = connect_from(from, to).await;
        if i % 2 == 1 {
            s.write_all(b"POST /_rig/v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{\"a\":1").await.unwrap();
        }
        held.push(s);
    }
    held
}

fn refused_total(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("rig_connections_refused_per_ip_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("rig_connections_refused_per_ip_total")
}

#[tokio::test]
async fn connections_per_address_are_capped_on_both_ports_and_freed_on_close() {
    const MAX: usize = 20;
    let g = Gateway::spawn(&[("RIG_MAX_CONNECTIONS_PER_IP", "20")]);
    let attacker: IpAddr = "127.0.0.2".parse().unwrap();
    let bystander: IpAddr = "127.0.0.3".parse().unwrap();
    let mut held = hold(MAX, attacker, g.inbound).await;

    for (port, what) in [(g.inbound, "public"), (g.api, "internal")] {
        let r = exchange(port, attacker, "GET", "/_rig/health", "").await;
        assert_eq!(status_of(&r), 429, "{what} port, connection {}: {r}", MAX + 1);
        let body: Value = serde_json::from_str(body_of(&r)).unwrap_or_else(|_| panic!("{r}"));
        assert!(body["error"].as_str().unwrap().contains("too many connections"), "{r}");
    }
    let r = exchange(g.inbound, bystander, "GET", "/_rig/health", "").await;
    assert_eq!(status_of(&r), 200, "another address is not affected: {r}");

    // One closes; its place is free again as soon as the gateway sees the close
    // (the gateway drops its socket a moment after the client sees it closed,
    // so a connection right after may still be refused: retried).
    let health_once_free = || async {
        let closed = Instant::now();
        let mut refused_meanwhile = 0;
        loop {
            let r = exchange(g.inbound, attacker, "GET", "/_rig/health", "").await;
            match status_of(&r) {
                200 => return (closed.elapsed(), refused_meanwhile),
                429 if closed.elapsed() < PATIENCE => refused_meanwhile += 1,
                _ => panic!("after a close: {r}"),
            }
        }
    };
    drop(held.pop());
    for _ in 0..3 {
        let (after, refused_meanwhile) = health_once_free().await;
        eprintln!("a closed connection's place was free again after {after:?} ({refused_meanwhile} refused meanwhile)");
    }

    let metrics = reqwest::get(g.api_url("/metrics")).await.unwrap().text().await.unwrap();
    let refused = refused_total(&metrics);
    eprintln!("rig_connections_refused_per_ip_total {refused}");
    assert!(refused >= 2, "{refused}");
    assert!(g.log().iter().any(|l| l.contains("RIG_MAX_CONNECTIONS_PER_IP")), "a warning names the variable");
    drop(held);
}

#[tokio::test]
async fn get_apis_on_the_public_port_is_off_unless_turned_on() {
    let backend = Backend::ok().await;
    let def = api_def("listed", backend.port(), json!([{"id": "e", "method": "GET", "path_regex": "/other"}]));

    let off = Gateway::spawn(&[]);
    add_api(&off, &def).await;
    let r = exchange(off.inbound, LOCAL, "GET", "/apis", "").await;
    assert_eq!(status_of(&r), 404, "{r}");
    assert!(!r.contains(&backend.port().to_string()), "no backend port leaks: {r}");

    let on = Gateway::spawn(&[("RIG_PUBLIC_APIS_ENDPOINT", "true")]);
    add_api(&on, &def).await;
    let listed: Value = reqwest::get(on.url("/apis")).await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["id"], "listed");
    assert_eq!(listed[0]["proxy"]["port"], backend.port());
}

/// A self-signed certificate for 127.0.0.1 and its unencrypted key, in a
/// directory removed on drop.
struct Certificate {
    dir: std::path::PathBuf,
}

impl Certificate {
    fn generate() -> Certificate {
        let dir = std::env::temp_dir().join(format!("rig-attack-proxy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-keyout", dir.join("key.pem").to_str().unwrap(), "-out", dir.join("cert.pem").to_str().unwrap()])
            .output()
            .expect("the openssl CLI is installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Certificate { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// HTTP/2 multiplexes: stalled request bodies are streams of one connection,
/// and each must still end at the deadline (in-process gateway, for its HTTPS address).
#[tokio::test]
async fn stalled_request_bodies_over_http2_end_at_the_deadline() {
    use futures_util::StreamExt as _;
    let cert = Certificate::generate();
    let (cert_file, key_file) = (cert.path("cert.pem"), cert.path("key.pem"));
    let rig = common::TestRig::start(&[
        ("HTTPS_CERTFILE", &cert_file),
        ("HTTPS_KEYFILE", &key_file),
        ("INBOUND_HTTPS_PORT", "0"),
        ("API_HTTPS_PORT", "0"),
        ("RIG_BODY_READ_TIMEOUT_MS", "1000"),
        ("RIG_MAX_CONNECTIONS_PER_IP", "8"),
    ])
    .await;
    let (public, internal) = rig.app.https_addrs.expect("HTTPS is on");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert_file).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(ca).use_rustls_tls().build().unwrap();
    // One HTTP/2 connection per port, opened first, which the stalled streams share.
    for url in [format!("https://{public}/_rig/health"), format!("https://{internal}/health")] {
        assert_eq!(client.get(url).send().await.unwrap().version(), reqwest::Version::HTTP_2);
    }
    let stalled = |url: String| {
        let client = client.clone();
        tokio::spawn(async move {
            let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"a\":1")) });
            let body = reqwest::Body::wrap_stream(first.chain(futures_util::stream::pending()));
            let t = Instant::now();
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .header("content-length", "1000")
                .body(body)
                .timeout(PATIENCE)
                .send()
                .await
                .expect("an answer");
            let version = r.version();
            let status = r.status().as_u16();
            (version, status, r.text().await.unwrap_or_default(), t.elapsed())
        })
    };
    let mut streams = Vec::new();
    for i in 0..20 {
        let base = if i % 2 == 0 { format!("https://{public}/_rig/v1/events") } else { format!("https://{internal}/v3/messages") };
        streams.push(stalled(base));
    }
    let mut worst = Duration::ZERO;
    for s in streams {
        let (version, status, body, after) = s.await.unwrap();
        assert_eq!(version, reqwest::Version::HTTP_2);
        assert_eq!((status, body.as_str()), (408, r#"{"error":"request body not received within 1000 ms"}"#));
        assert!(after <= Duration::from_secs(6), "answered after {after:?}");
        worst = worst.max(after);
    }
    eprintln!("20 stalled HTTP/2 request bodies: all 408, the last after {worst:?}");
    let health = client.get(format!("https://{public}/_rig/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the connection's other streams are served");

    // Over the per-address limit a TLS connection is closed before any handshake.
    let attacker: IpAddr = "127.0.0.2".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from(attacker, public).await);
    }
    let mut extra = connect_from(attacker, public).await;
    let _ = extra.write_all(b"\x16\x03\x01\x00\x05hello").await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(PATIENCE, extra.read(&mut buf)).await.expect("closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "no TLS answer over the limit: {n:?}");
    drop(held);
}
