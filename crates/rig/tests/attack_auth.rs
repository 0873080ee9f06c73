//! Attacks on authentication and on the management surface, against the real
//! binary: tokens the old JWT library let through (a string `nbf`, `exp` equal
//! to now), a storm of unknown key ids while the JWKS endpoint is down, the
//! cluster accept loop at the file-descriptor limit, and the internal port
//! (its own bind address, its token, cross-site and DNS-rebinding requests).

mod common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{http::StatusCode, routing::get, Router};
use common::{backend::Backend, process::Gateway, *};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// An HS256 token over `claims`, signed with [`SECRET`], with key id `kid`.
fn token(claims: Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET.as_bytes()).unwrap()).unwrap()
}

/// Status of an SSE connect carrying `jwt`.
async fn sse_status(g: &Gateway, jwt: &str) -> u16 {
    SseClient::connect(&g.url(&format!("/_rig/v1/connection/sse?jwt={jwt}"))).await.status
}

/// One HTTP/1.1 request written by hand (so `Host` and `Origin` are exactly
/// what an attacker's browser would send); returns status, head and body.
async fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("host: {addr}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await.expect("an answer").unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn is_json_error(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v["error"].is_string())
}

// --- JWT claims the old library accepted ---------------------------------------------

#[tokio::test]
async fn string_nbf_and_exp_equal_to_now_are_refused_everywhere() {
    let g = Gateway::spawn(&[("SUBMISSION_CHECK", "jwt_validation")]);
    let backend = Backend::ok().await;
    let mut def =
        api_def("secure", backend.port(), json!([{"id": "secret", "method": "GET", "path_regex": "/api/admin/secret", "secured": true}]));
    def["auth_type"] = "jwt".into();
    let http = reqwest::Client::new();
    let r = http.post(g.api_url("/v3/apis")).json(&def).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let secured = |jwt: String| {
        let http = http.clone();
        let url = g.url("/api/admin/secret");
        async move { http.get(url).bearer_auth(jwt).send().await.unwrap().status().as_u16() }
    };

    let publish = |jwt: String| {
        let http = http.clone();
        let url = g.url("/_rig/v1/events");
        let event = json!({"specversion": "1.0", "type": "t", "source": "attack", "id": "e1"}).to_string();
        async move {
            let r = http.post(url).bearer_auth(jwt).header("content-type", "application/cloudevents+json").body(event);
            r.send().await.unwrap().status().as_u16()
        }
    };
    // Refused WebSocket connections are upgraded, then closed with the reason (as RIG).
    let ws_refusal = |jwt: String| {
        let url = g.ws_url(&format!("/_rig/v1/connection/ws?jwt={jwt}"));
        async move {
            let mut ws = ws_connect(&url).await;
            match ws_next_message(&mut ws).await {
                tokio_tungstenite::tungstenite::Message::Close(frame) => Some(frame.map(|f| f.reason.to_string()).unwrap_or_default()),
                _ => None,
            }
        }
    };

    let valid = token(json!({"exp": now() + 600}), None);
    assert_eq!(sse_status(&g, &valid).await, 200);
    assert_eq!(ws_refusal(valid.clone()).await, None);
    assert_eq!(publish(valid.clone()).await, 202);
    assert_eq!(secured(valid).await, 200);

    let future = now() + 3600;
    let cases = [
        ("nbf a future date as a string (GHSA-h395-gr6q-cpjc)", json!({"exp": future + 600, "nbf": future.to_string()})),
        ("nbf an RFC 3339 string", json!({"exp": future + 600, "nbf": "2999-01-01T00:00:00Z"})),
        ("nbf a future number", json!({"exp": future + 600, "nbf": future})),
        ("exp equal to now (RFC 7519: now < exp)", json!({"exp": now()})),
        ("exp as a string", json!({"exp": future.to_string()})),
    ];
    for (what, claims) in cases {
        let jwt = token(claims, None);
        let sse = SseClient::connect(&g.url(&format!("/_rig/v1/connection/sse?jwt={jwt}"))).await;
        assert_eq!(sse.status, 400, "SSE, {what}: {}", sse.body);
        assert!(is_json_error(&sse.body), "SSE, {what}: {}", sse.body);
        let lp = http.get(g.url(&format!("/_rig/v1/connection/longpolling?jwt={jwt}"))).send().await.unwrap();
        assert_eq!(lp.status(), 400, "long-polling, {what}");
        let reason = ws_refusal(jwt.clone()).await;
        assert!(reason.is_some(), "WebSocket, {what}: not closed at once");
        assert_eq!(publish(jwt.clone()).await, 403, "publishing with SUBMISSION_CHECK=jwt_validation, {what}");
        assert_eq!(secured(jwt).await, 401, "secured proxy path, {what}");
    }
    assert_eq!(backend.seen().len(), 1, "only the valid token reached the backend");
}

// --- Certificates of every key type (JWT_SECRET_KEY) ------------------------------------

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl CLI is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed certificate (or one issued by `ca`) for a new `newkey` key:
/// (private key PEM, certificate PEM).
fn certificate(dir: &std::path::Path, name: &str, newkey: &[&str], ca: Option<&str>) -> (String, String) {
    let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
    let mut args = vec!["req", "-newkey"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&["-nodes", "-subj", "/CN=rig-attack", "-days", "1", "-keyout", &key]);
    match ca {
        None => {
            args.extend_from_slice(&["-x509", "-out", &cert]);
            openssl(dir, &args);
        }
        Some(ca) => {
            let csr = format!("{name}.csr");
            args.extend_from_slice(&["-out", &csr]);
            openssl(dir, &args);
            let (ca_cert, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
            openssl(
                dir,
                &["x509", "-req", "-in", &csr, "-CA", &ca_cert, "-CAkey", &ca_key, "-set_serial", "7", "-days", "1", "-out", &cert],
            );
        }
    }
    (std::fs::read_to_string(dir.join(key)).unwrap(), std::fs::read_to_string(dir.join(cert)).unwrap())
}

/// Our certificate reading (auth/x509.rs) with the new JWT library's verifiers:
/// RSA, EC P-256 and P-384, Ed25519, and a certificate whose issuer signed it with
/// another algorithm than its key's, which the library's own certificate support
/// misreads (it takes the first key-type OID it meets, here the issuer's Ed25519
/// signature algorithm), which is why x509.rs stays.
#[tokio::test]
async fn certificates_of_every_key_type_verify() {
    let dir = std::env::temp_dir().join(format!("rig-attack-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rsa = ["rsa:2048"];
    let p256 = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let p384 = ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
    let ed = ["ed25519"];
    let ed_ca = certificate(&dir, "edca", &ed, None);
    let cases: Vec<(&str, Algorithm, (String, String))> = vec![
        ("RS256", Algorithm::RS256, certificate(&dir, "rsa", &rsa, None)),
        ("PS256", Algorithm::PS256, certificate(&dir, "rsa-ps", &rsa, None)),
        ("ES256", Algorithm::ES256, certificate(&dir, "p256", &p256, None)),
        ("ES384", Algorithm::ES384, certificate(&dir, "p384", &p384, None)),
        ("EdDSA", Algorithm::EdDSA, ed_ca.clone()),
        ("RS256", Algorithm::RS256, certificate(&dir, "rsa-by-ed", &rsa, Some("edca"))),
        ("ES256", Algorithm::ES256, certificate(&dir, "p256-by-ed", &p256, Some("edca"))),
    ];
    let _ = std::fs::remove_dir_all(&dir);
    let by_ed_ca = &cases[5].2 .1;
    assert!(
        jsonwebtoken::DecodingKey::from_rsa_pem(by_ed_ca.as_bytes()).is_err(),
        "jsonwebtoken now reads an RSA certificate issued by an Ed25519 CA: auth/x509.rs could give way to DecodingKey::from_*_pem"
    );
    for (alg_name, alg, (key, cert)) in &cases {
        let g = Gateway::spawn(&[("JWT_ALG", alg_name), ("JWT_SECRET_KEY", cert)]);
        let encoding = match alg {
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(key.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(key.as_bytes()),
            _ => EncodingKey::from_ec_pem(key.as_bytes()),
        }
        .unwrap();
        let sign = |claims: Value| jsonwebtoken::encode(&Header::new(*alg), &claims, &encoding).unwrap();
        assert_eq!(sse_status(&g, &sign(json!({"exp": now() + 600}))).await, 200, "{alg_name} certificate");
        assert_eq!(sse_status(&g, &sign(json!({"exp": now() + 600, "nbf": (now() + 600).to_string()}))).await, 400, "{alg_name}");
        let other = token(json!({"exp": now() + 600}), None);
        assert_eq!(sse_status(&g, &other).await, 400, "{alg_name}: an HS256 token is refused");
    }
}

// --- JWKS during an outage -----------------------------------------------------------

/// A JWKS endpoint that is down: every `GET /jwks` answers 500 after `delay`;
/// counts the requests started and answered.
struct DeadJwks {
    addr: SocketAddr,
    started: Arc<AtomicU64>,
    /// When each request arrived.
    times: Arc<std::sync::Mutex<Vec<Instant>>>,
    answered: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl DeadJwks {
    async fn start(delay: Duration) -> DeadJwks {
        let (started, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let times = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, a, t) = (started.clone(), answered.clone(), times.clone());
        let app = Router::new().route(
            "/jwks",
            get(move || {
                let (s, a, t) = (s.clone(), a.clone(), t.clone());
                async move {
                    t.lock().unwrap().push(Instant::now());
                    s.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    a.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::INTERNAL_SERVER_ERROR, "down")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        DeadJwks { addr, started, times, answered, task }
    }

    fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests have been answered (the start-up fetch, say).
    async fn wait_answered(&self, n: u64) {
        let deadline = Instant::now() + PATIENCE;
        while self.answered.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the gateway never fetched the JWKS");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for DeadJwks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn unknown_kids_during_a_jwks_outage_respect_the_refetch_floor() {
    let jwks = DeadJwks::start(Duration::ZERO).await;
    let g = Gateway::spawn(&[("JWT_SECRET_KEY", ""), ("JWT_JWKS_URL", &jwks.url()), ("JWT_JWKS_MIN_REFETCH_MS", "5000")]);
    jwks.wait_answered(1).await;
    let before = jwks.started();
    let t = Instant::now();
    for i in 0..40 {
        let jwt = token(json!({"exp": now() + 600}), Some(&format!("forged-{i}")));
        assert_eq!(sse_status(&g, &jwt).await, 400, "a token with an unknown kid is refused");
    }
    let storm = t.elapsed();
    let fetches = jwks.started() - before;
    eprintln!("JWKS outage: 40 unknown kids in {storm:?} caused {fetches} fetches (start-up fetch not counted), floor 5000 ms");
    // One more fetch per started floor period at most (the start-up fetch opened the first).
    let allowed = storm.as_millis() as u64 / 5000 + 1;
    assert!(fetches <= allowed, "{fetches} fetches in {storm:?}: failed fetches must count toward JWT_JWKS_MIN_REFETCH_MS");

    // The floor delays refetching, it does not stop it: a miss after it has passed fetches again.
    let seen = jwks.started();
    let deadline = Instant::now() + PATIENCE;
    let mut i = 0;
    while jwks.started() == seen {
        assert!(Instant::now() < deadline, "no refetch after the floor");
        i += 1;
        let jwt = token(json!({"exp": now() + 600}), Some(&format!("later-{i}")));
        assert_eq!(sse_status(&g, &jwt).await, 400);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let times = jwks.times.lock().unwrap().clone();
    let gap = times[times.len() - 1] - times[times.len() - 2];
    eprintln!("JWKS outage: next fetch {gap:?} after the previous one ({} fetches in all)", times.len());
    assert!(gap >= Duration::from_millis(4900), "refetched after {gap:?}, within the 5000 ms floor");
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_jwks_fetch() {
    // No floor at all: only single flight keeps the fetches down.
    let jwks = DeadJwks::start(Duration::from_millis(1500)).await;
    let g = Gateway::spawn(&[("JWT_SECRET_KEY", ""), ("JWT_JWKS_URL", &jwks.url()), ("JWT_JWKS_MIN_REFETCH_MS", "0")]);
    jwks.wait_answered(1).await;
    let before = jwks.started();
    let url = g.url("/_rig/v1/connection/sse");
    let t = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let url = format!("{url}?jwt={}", token(json!({"exp": now() + 600}), Some(&format!("burst-{i}"))));
            tokio::spawn(async move { SseClient::connect(&url).await.status })
        })
        .collect();
    for c in clients {
        assert_eq!(c.await.unwrap(), 400);
    }
    let fetches = jwks.started() - before;
    eprintln!("JWKS outage, 1.5 s per fetch, no floor: 20 concurrent unknown kids caused {fetches} fetches in {:?}", t.elapsed());
    assert!(fetches <= 2, "{fetches} fetches: concurrent misses must share the fetch under way");
}

// --- The cluster accept loop at the descriptor limit ---------------------------------

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn cluster_accept_at_the_fd_limit_does_not_spin() {
    const LIMIT: usize = 256;
    let port = free_port().to_string();
    let dead_peer = format!("127.0.0.1:{}", backend::dead_port());
    let g = Gateway::spawn_cmd(
        &["prlimit", &format!("--nofile={LIMIT}"), "--"],
        &[
            ("NODE_COOKIE", "attack-cookie"),
            ("NODE_HOST", "127.0.0.1"),
            ("RIG_CLUSTER_PORT", &port),
            ("RIG_CLUSTER_PEERS", &dead_peer),
            // Closed SSE connections are noticed at the next heartbeat.
            ("RIG_HEARTBEAT_INTERVAL_MS", "1000"),
        ],
    );
    let pid = g.pid();
    // Fill the descriptor table with SSE connections; the last one waits in the backlog.
    let mut streams = Vec::new();
    let head = format!("GET /_rig/v1/connection/sse HTTP/1.1\r\nhost: {}\r\n\r\n", g.inbound);
    let deadline = Instant::now() + PATIENCE * 3;
    while open_fds(pid) < LIMIT {
        assert!(Instant::now() < deadline, "could not exhaust descriptors: {} open", open_fds(pid));
        let mut s = TcpStream::connect(g.inbound).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let mut buf = [0u8; 12];
        // Answered (accepted), or the table is full and it waits in the backlog.
        loop {
            match tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => break,
                Ok(_) => panic!("an SSE connection was closed while filling the table"),
                Err(_) if open_fds(pid) >= LIMIT => break,
                Err(_) => assert!(Instant::now() < deadline, "SSE connection neither answered nor queued"),
            }
        }
        streams.push(s);
    }
    eprintln!("descriptors exhausted: {} open of {LIMIT}, {} SSE connections", open_fds(pid), streams.len());

    let cluster: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut link = TcpStream::connect(cluster).await.expect("the kernel queues the connection");
    let cpu0 = g.cpu_seconds();
    let window = Duration::from_secs(3);
    tokio::time::sleep(window).await; // measuring, not waiting for anything
    let cpu = g.cpu_seconds() - cpu0;
    let warnings = g.log().iter().filter(|l| l.contains("Accept failed") && l.contains("cluster")).count();
    eprintln!("cluster port at the fd limit: {cpu:.2} CPU s in {window:?}, {warnings} accept warnings logged");
    assert!(cpu < 0.5, "the accept loop spins: {cpu:.2} CPU s in {window:?}");
    assert!((1..=2).contains(&warnings), "accept failures are logged at a bounded rate: {warnings}");

    // Descriptors free up: the queued cluster connection is served (the server hello arrives).
    streams.truncate(streams.len() - 20);
    let mut hello = [0u8; 8];
    tokio::time::timeout(PATIENCE, link.read_exact(&mut hello)).await.expect("served once descriptors are free").unwrap();
}

// --- The internal port ---------------------------------------------------------------

#[tokio::test]
async fn internal_port_binds_apart_from_the_public_one() {
    let g = Gateway::spawn(&[("RIG_BIND_ADDRESS", "127.0.0.1"), ("RIG_API_BIND_ADDRESS", "127.0.0.2")]);
    eprintln!("public {} internal {}", g.inbound, g.api);
    assert_eq!(g.inbound.ip().to_string(), "127.0.0.1");
    assert_eq!(g.api.ip().to_string(), "127.0.0.2");
    let http = reqwest::Client::new();
    assert_eq!(http.get(g.api_url("/health")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(g.url("/_rig/health")).send().await.unwrap().status(), 200);
    let elsewhere: SocketAddr = format!("127.0.0.1:{}", g.api.port()).parse().unwrap();
    assert!(TcpStream::connect(elsewhere).await.is_err(), "the internal port is not on the public address");
    assert!(!g.log().iter().any(|l| l.contains("beyond loopback")), "loopback: no warning");

    // Beyond loopback without a token: a warning at start; with a token: none.
    let open = Gateway::spawn(&[("RIG_API_BIND_ADDRESS", "0.0.0.0")]);
    assert!(open.log().iter().any(|l| l.contains("beyond loopback")), "{:?}", open.log());
    let closed = Gateway::spawn(&[("RIG_API_BIND_ADDRESS", "0.0.0.0"), ("RIG_API_TOKEN", "t0ken")]);
    assert!(!closed.log().iter().any(|l| l.contains("beyond loopback")), "{:?}", closed.log());
}

#[tokio::test]
async fn internal_token_is_required_except_for_health() {
    let g = Gateway::spawn(&[("RIG_API_TOKEN", "s3cret-t0ken")]);
    let blacklist = r#"{"sessionId":"victim","validityInSeconds":60}"#;
    let json = ("content-type", "application/json");
    for auth in [None, Some("Bearer wrong"), Some("s3cret-t0ken"), Some("Basic czNjcmV0LXQwa2Vu")] {
        let mut headers = vec![json];
        headers.extend(auth.map(|a| ("authorization", a)));
        for (method, path) in [("GET", "/v3/users"), ("GET", "/metrics"), ("GET", "/status.json"), ("GET", "/v3/apis"), ("GET", "/nope")] {
            let (status, head, body) = raw(g.api, method, path, &headers, "").await;
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {body}");
            assert!(is_json_error(&body) && head.contains("www-authenticate: bearer"), "{path}: {head}{body}");
        }
        let (status, _, body) = raw(g.api, "POST", "/v3/session-blacklist", &headers, blacklist).await;
        assert_eq!(status, 401, "blacklisting with {auth:?}: {body}");
    }
    assert_eq!(raw(g.api, "GET", "/health", &[], "").await.0, 200, "probes need no token");
    let ok = [json, ("authorization", "Bearer s3cret-t0ken")];
    assert_eq!(raw(g.api, "GET", "/v3/users", &ok, "").await.0, 200);
    let (status, _, metrics) = raw(g.api, "GET", "/metrics", &ok, "").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("rig_connections"), "Prometheus with the token: {metrics}");
    assert_eq!(raw(g.api, "POST", "/v3/session-blacklist", &ok, blacklist).await.0, 201);
    assert!(!g.log().iter().any(|l| l.contains("s3cret-t0ken")), "the token is never logged");
}

#[tokio::test]
async fn cross_site_requests_to_the_internal_port_are_refused() {
    let g = Gateway::spawn(&[]);
    let form = ("content-type", "application/x-www-form-urlencoded");
    let body = "sessionId=victim&validityInSeconds=600";
    for origin in ["http://evil.example", "null", "http://127.0.0.1", "https://127.0.0.1:1"] {
        let (status, head, resp) = raw(g.api, "POST", "/v3/session-blacklist", &[form, ("origin", origin)], body).await;
        assert_eq!(status, 403, "Origin {origin}: {resp}");
        assert!(is_json_error(&resp), "{resp}");
        assert!(!head.contains("access-control-allow-origin"), "no CORS on the internal port: {head}");
    }
    assert_eq!(raw(g.api, "GET", "/v3/session-blacklist/victim", &[], "").await.0, 404, "nothing was blacklisted");
    // A cross-site read (fetch with Origin) is refused too; same-origin and Origin-less callers are not.
    assert_eq!(raw(g.api, "GET", "/v3/users", &[("origin", "http://evil.example")], "").await.0, 403);
    let own = format!("http://{}", g.api);
    let (status, head, _) = raw(g.api, "POST", "/v3/session-blacklist", &[form, ("origin", &own)], body).await;
    assert_eq!(status, 201, "same origin");
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    assert_eq!(raw(g.api, "POST", "/v3/session-blacklist", &[form], body).await.0, 201, "no Origin: curl, scripts");
}

#[tokio::test]
async fn dns_rebinding_hosts_are_refused_on_loopback() {
    let g = Gateway::spawn(&[]);
    let port = g.api.port();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".into(),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
    ] {
        // A rebound page is same-origin with itself: its Origin matches its Host.
        for origin in [None, Some(format!("http://{host}"))] {
            let mut headers = vec![("host", host.as_str())];
            headers.extend(origin.as_deref().map(|o| ("origin", o)));
            let (status, _, body) = raw(g.api, "GET", "/v3/users", &headers, "").await;
            assert_eq!(status, 403, "Host {host}, Origin {origin:?}: {body}");
            assert!(is_json_error(&body), "{body}");
        }
    }
    let form = [("content-type", "application/x-www-form-urlencoded"), ("host", "evil.example")];
    assert_eq!(raw(g.api, "POST", "/v3/session-blacklist", &form, "sessionId=v&validityInSeconds=60").await.0, 403);
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), format!("app.localhost:{port}")] {
        assert_eq!(raw(g.api, "GET", "/v3/users", &[("host", host.as_str())], "").await.0, 200, "Host {host}");
    }
    // The public port is not the management API: names are fine there.
    let (status, _, _) = raw(g.inbound, "GET", "/_rig/health", &[("host", "evil.example")], "").await;
    assert_eq!(status, 200);

    // A local proxy that keeps its name in Host: listed, it passes; others still do not.
    let listed = Gateway::spawn(&[("RIG_API_ALLOWED_HOSTS", "rig-internal.example, other.example")]);
    let port = listed.api.port();
    assert_eq!(raw(listed.api, "GET", "/v3/users", &[("host", &format!("RIG-internal.example:{port}"))], "").await.0, 200);
    assert_eq!(raw(listed.api, "GET", "/v3/users", &[("host", &format!("evil.example:{port}"))], "").await.0, 403);
}

/// A cluster whose internal ports need the token: a proxy response posted to
/// node B for a request waiting on node A still arrives, because B forwards it
/// to A's internal port with the token; without the token B refuses it.
#[tokio::test]
async fn cluster_nodes_pass_the_internal_token_to_each_other() {
    const TOKEN: &str = "cluster-api-t0ken";
    let ips = ["127.0.0.21", "127.0.0.22"];
    let port = (20000..40000)
        .find(|p| ips.iter().all(|ip| std::net::TcpListener::bind((*ip, *p)).is_ok() && std::net::UdpSocket::bind((*ip, *p)).is_ok()))
        .expect("a free cluster port")
        .to_string();
    let peers = ips.map(|ip| format!("{ip}:{port}")).join(",");
    let node = |ip: &'static str| {
        Gateway::spawn(&[
            ("RIG_BIND_ADDRESS", ip),
            ("NODE_HOST", ip),
            ("NODE_COOKIE", "attack-cookie"),
            ("RIG_CLUSTER_PORT", &port),
            ("RIG_CLUSTER_PEERS", &peers),
            ("RIG_API_TOKEN", TOKEN),
            ("PROXY_HTTP_ASYNC_RESPONSE_TIMEOUT", "5000"),
        ])
    };
    let (a, b) = (node(ips[0]), node(ips[1]));
    let http = reqwest::Client::new();
    for g in [&a, &b] {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let v: Value = http.get(g.api_url("/v3/cluster")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
            if v["peers"].as_array().is_some_and(|p| p.len() == 1) {
                break;
            }
            assert!(Instant::now() < deadline, "the nodes never saw each other: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let b_responses = b.api_url("/v3/responses");
    let backend = Backend::start(move |seen| {
        let url = b_responses.clone();
        async move {
            let correlation = seen.params().into_iter().find(|(k, _)| k == "correlation").expect("a correlation parameter").1;
            let post = |token: Option<&str>| {
                let mut r = reqwest::Client::new()
                    .post(&url)
                    .header("rig-correlation", &correlation)
                    .header("rig-response-code", "201")
                    .body(r#"{"answered":"via B"}"#);
                if let Some(t) = token {
                    r = r.bearer_auth(t);
                }
                r.send()
            };
            assert_eq!(post(None).await.unwrap().status(), 401, "B's internal port needs the token");
            let r = post(Some(TOKEN)).await.unwrap();
            assert_eq!(r.status(), 202, "B hands the response to A: {}", r.text().await.unwrap());
            StatusCode::ACCEPTED
        }
    })
    .await;
    let def = json!({
        "id": "shared", "name": "shared",
        "proxy": {"target_url": "127.0.0.1", "port": backend.port()},
        "version_data": {"default": {"endpoints": [
            {"id": "async", "method": "GET", "path_regex": "/shared/async", "response_from": "http_async"}
        ]}}
    });
    let r = http.post(a.api_url("/v3/apis")).bearer_auth(TOKEN).json(&def).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http.get(a.url("/shared/async")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"answered": "via B"}));
}
