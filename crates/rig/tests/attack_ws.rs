//! Attacks on the streaming transports from outside, against the real binary
//! (issue #13, items 5 and 9): WebSocket ping floods, broken close and control
//! frames, and clients that stop reading, killed by a blacklist or not.
//!
//! Figures are printed (`cargo test -p rig --test attack_ws -- --nocapture`).

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use common::{
    enc, jwt,
    process::{Canary, Gateway},
    PATIENCE,
};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpSocket, TcpStream,
    },
};

/// A masked client frame (RFC 6455 §5.2); `fin` false makes a fragment.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = vec![u8::from(fin) << 7 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    f
}

fn ping(payload: &[u8]) -> Vec<u8> {
    frame(true, 0x9, payload)
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame(true, 0x8, &p)
}

/// A TCP connection whose receive buffer is small, so a client that stops
/// reading fills the server's socket quickly.
async fn connect_small(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends a request head and reads the response head; returns it and what followed.
async fn request(stream: &mut TcpStream, head: &str) -> (String, Vec<u8>) {
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut tmp)).await.expect("response head in time").unwrap();
        assert!(n > 0, "closed before the response head: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&tmp[..n]);
    };
    let rest = buf.split_off(end);
    (String::from_utf8_lossy(&buf).into_owned(), rest)
}

fn ws_head(g: &Gateway, query: &str) -> String {
    format!(
        "GET /_rig/v1/connection/ws?{query} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        g.inbound
    )
}

fn subs_query(types: &[&str]) -> String {
    let subs: Vec<_> = types.iter().map(|t| json!({"eventType": t})).collect();
    format!("subscriptions={}", enc(&json!(subs).to_string()))
}

/// A raw WebSocket client: our own frames out, the server's frames parsed in.
struct RawWs {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    buf: Vec<u8>,
}

/// A server frame: opcode and payload.
type ServerFrame = (u8, Vec<u8>);

impl RawWs {
    async fn open(g: &Gateway, query: &str) -> RawWs {
        RawWs::on(TcpStream::connect(g.inbound).await.unwrap(), g, query).await
    }

    async fn on(mut stream: TcpStream, g: &Gateway, query: &str) -> RawWs {
        let (head, rest) = request(&mut stream, &ws_head(g, query)).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let (read, write) = stream.into_split();
        RawWs { read, write, buf: rest }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write.write_all(bytes).await
    }

    /// The next server frame, or None when the connection ends.
    async fn next(&mut self) -> Option<ServerFrame> {
        next_frame(&mut self.read, &mut self.buf).await
    }

    /// Frames until a close; its status code (None: no code, or no close at all).
    async fn close_code(&mut self) -> Option<u16> {
        while let Some((op, payload)) = self.next().await {
            if op == 0x8 {
                return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            }
        }
        None
    }
}

async fn next_frame(read: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> Option<ServerFrame> {
    let mut tmp = [0u8; 16384];
    loop {
        if buf.len() >= 2 {
            let (op, len) = (buf[0] & 0x0f, usize::from(buf[1] & 0x7f));
            assert_eq!(buf[1] & 0x80, 0, "server frames are unmasked");
            let (start, len) = match len {
                126 if buf.len() >= 4 => (4, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
                127 if buf.len() >= 10 => (10, u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize),
                126 | 127 => (usize::MAX, 0),
                n => (2, n),
            };
            if start != usize::MAX && buf.len() >= start + len {
                let payload = buf[start..start + len].to_vec();
                buf.drain(..start + len);
                return Some((op, payload));
            }
        }
        match tokio::time::timeout(PATIENCE, read.read(&mut tmp)).await.expect("a server frame in time") {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// `rig_connections{transport=...}` from the metrics on the internal port.
async fn connections(http: &reqwest::Client, g: &Gateway, transport: &str) -> u64 {
    let text = http.get(g.api_url("/metrics")).send().await.unwrap().text().await.unwrap();
    let key = format!("rig_connections{{transport=\"{transport}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Waits (bounded) until `transport` has `n` connections; returns how long it took.
async fn wait_connections(http: &reqwest::Client, g: &Gateway, transport: &str, n: u64, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let now = connections(http, g, transport).await;
        if now == n {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{transport} connections still {now} (want {n}) after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The gateway side of the connection from local port `client_port`, from
/// /proc/net/tcp: (state, bytes queued to send). None once the socket is gone.
fn server_socket(g: &Gateway, client_port: u16) -> Option<(u8, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let (local, remote) = (format!(":{:04X}", g.inbound.port()), format!(":{client_port:04X}"));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f[1].ends_with(&local) && f[2].ends_with(&remote)).then(|| {
            let state = u8::from_str_radix(f[3], 16).unwrap();
            let tx = u64::from_str_radix(f[4].split(':').next().unwrap(), 16).unwrap();
            (state, tx)
        })
    })
}

const ESTABLISHED: u8 = 1;

/// Waits until the gateway's socket to `client_port` is no longer open; returns how long it took.
async fn wait_socket_closed(g: &Gateway, client_port: u16, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match server_socket(g, client_port) {
            Some((ESTABLISHED, _)) | Some((0x08, _)) => {} // established, or close-wait (we have not closed)
            _ => return start.elapsed(),
        }
        assert!(start.elapsed() < within, "the gateway's socket is still open after {within:?}: {:?}", server_socket(g, client_port));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `busy` events of 16 KiB every few milliseconds until dropped.
fn busy_publisher(g: &Gateway) -> tokio::task::JoinHandle<()> {
    let url = g.url("/_rig/v1/events");
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let blob = "x".repeat(16 * 1024);
        for n in 0u64.. {
            let event = json!({"specversion": "1.0", "type": "busy", "source": "t", "id": format!("b{n}"), "data": {"blob": blob}});
            let _ = http.post(&url).header("content-type", "application/cloudevents+json").body(event.to_string()).send().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

/// Waits until the gateway's queue to the client at `client_port` is over
/// 64 KiB and has stopped growing while the publisher goes on: the client's
/// window and the gateway's send buffer are full, its writer waits.
async fn wait_blocked(g: &Gateway, client_port: u16) -> u64 {
    let start = Instant::now();
    let (mut last, mut same) = (0, 0);
    loop {
        if let Some((ESTABLISHED, tx)) = server_socket(g, client_port) {
            same = if tx == last { same + 1 } else { 0 };
            last = tx;
            if tx > 64 * 1024 && same >= 3 {
                return tx;
            }
        }
        assert!(start.elapsed() < PATIENCE, "the gateway never filled the socket: {:?}", server_socket(g, client_port));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn blacklist(http: &reqwest::Client, g: &Gateway, session: &str) {
    let body = json!({"sessionId": session, "validityInSeconds": 60});
    let r = http.post(g.api_url("/v3/session-blacklist")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "blacklist: {}", r.text().await.unwrap());
}

/// Reads whatever the client has until the connection ends (EOF or reset).
async fn read_to_end(stream: &mut OwnedReadHalf) -> bool {
    let mut tmp = vec![0u8; 1 << 16];
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match tokio::time::timeout(PATIENCE, stream.read(&mut tmp)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The ways a stream is served: taken over by the gateway (the stream is the
/// connection's first request) or by hyper (a request came first).
const PATHS: [&str; 4] = ["ws", "sse", "ws over hyper", "sse over hyper"];

/// Sends a keep-alive `GET /_rig/health` and reads its whole response, so hyper serves what follows.
async fn health_first(stream: &mut TcpStream, g: &Gateway) -> Vec<u8> {
    let (resp, mut rest) = request(stream, &format!("GET /_rig/health HTTP/1.1\r\nHost: {}\r\n\r\n", g.inbound)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let len: usize = resp.lines().find_map(|l| l.strip_prefix("content-length: ")).expect("a length").trim().parse().unwrap();
    let mut tmp = [0u8; 4096];
    while rest.len() < len {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut tmp)).await.unwrap().unwrap();
        assert!(n > 0);
        rest.extend_from_slice(&tmp[..n]);
    }
    rest.split_off(len)
}

/// Opens a stream subscribed per `query` on `path` (one of [`PATHS`]) over a
/// connection with a small receive buffer; returns its halves, what was read
/// after the response head, and the client's port.
async fn open_path(g: &Gateway, path: &str, query: &str) -> (RawWs, u16) {
    let mut stream = connect_small(g.inbound).await;
    let port = stream.local_addr().unwrap().port();
    if path.ends_with("over hyper") {
        assert!(health_first(&mut stream, g).await.is_empty());
    }
    let ws = if path.starts_with("ws") {
        RawWs::on(stream, g, query).await
    } else {
        let head = format!("GET /_rig/v1/connection/sse?{query} HTTP/1.1\r\nHost: {}\r\n\r\n", g.inbound);
        let (resp, rest) = request(&mut stream, &head).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        let (read, write) = stream.into_split();
        RawWs { read, write, buf: rest }
    };
    (ws, port)
}

fn transport_of(path: &str) -> &'static str {
    if path.starts_with("ws") {
        "ws"
    } else {
        "sse"
    }
}

// ---------------------------------------------------------------------------
// Item 5: ping floods.

/// Three clients send masked 4-byte pings back to back, reconnecting when
/// closed, while a canary measures: each flood is closed with 1008, everyone
/// else is served, and memory stays put.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ping_flood_is_closed_with_1008_and_the_canary_stays_healthy() {
    // Reconnecting floods pass 5000 connections a minute on a fast machine;
    // MAX_CONNECTIONS_PER_MINUTE would then refuse them (close 1000), which is
    // not what this test is about.
    let g = Gateway::spawn(&[("MAX_CONNECTIONS_PER_MINUTE", "1000000")]);
    let canary = Canary::start(&g).await;
    let rss_before = g.rss_kib();
    let flood_for = Duration::from_secs(8);
    let mut floods = Vec::new();
    for _ in 0..3 {
        let (inbound, head) = (g.inbound, ws_head(&g, ""));
        floods.push(tokio::spawn(async move {
            let (mut connections, mut closed_1008, mut bytes) = (0u32, 0u32, 0u64);
            let burst: Vec<u8> = (0..256u32).flat_map(|i| ping(&i.to_be_bytes())).collect();
            let start = Instant::now();
            while start.elapsed() < flood_for {
                let mut stream = TcpStream::connect(inbound).await.unwrap();
                let (resp, rest) = request(&mut stream, &head).await;
                if !resp.starts_with("HTTP/1.1 101") {
                    break;
                }
                connections += 1;
                let (mut read, mut write) = stream.into_split();
                let reader = tokio::spawn(async move {
                    let mut buf = rest;
                    while let Some((op, payload)) = next_frame(&mut read, &mut buf).await {
                        if op == 0x8 {
                            return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                        }
                    }
                    None
                });
                let mut flooded = false;
                while start.elapsed() < flood_for && write.write_all(&burst).await.is_ok() {
                    bytes += burst.len() as u64;
                    flooded = true;
                }
                drop(write);
                let code = reader.await.unwrap();
                if !flooded {
                    connections -= 1; // opened as time ran out
                } else if code == Some(1008) {
                    closed_1008 += 1;
                }
            }
            (connections, closed_1008, bytes)
        }));
    }
    let mut totals = (0, 0, 0);
    for f in floods {
        let (c, closed, b) = f.await.unwrap();
        totals = (totals.0 + c, totals.1 + closed, totals.2 + b);
    }
    let rss_after = g.rss_kib();
    let report = canary.report().await;
    eprintln!(
        "ping flood (3 clients, {flood_for:?}): {} connections, {} closed with 1008, {} MiB of pings sent; \
         RSS {rss_before} -> {rss_after} KiB (peak {} KiB); gateway CPU {:.2} s",
        totals.0,
        totals.1,
        totals.2 >> 20,
        report.peak_rss_kib,
        report.cpu_seconds
    );
    report.assert_healthy("ping flood", 3000);
    // A reset right after our close frame (the flood goes on, unread) can
    // discard it at the client before it is read; on a loaded machine a few may.
    assert!(totals.0 >= 3 && totals.1 * 100 >= totals.0 * 95, "flooded connections are closed with 1008: {totals:?}");
    let growth = report.peak_rss_kib.saturating_sub(rss_before);
    assert!(growth < 16 * 1024, "RSS grew by {growth} KiB during the flood (cap 16 MiB)");
}

/// With no rate limit, a connection flooded with pings (of every payload size
/// up to 125 bytes) still gets a pong for its newest ping, and memory stays put.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_no_limit_a_flooded_connection_gets_a_pong_for_its_newest_ping() {
    let g = Gateway::spawn(&[("RIG_WS_CONTROL_FRAME_RATE", "0")]);
    let canary = Canary::start(&g).await;
    let rss_before = g.rss_kib();
    let mut clients = Vec::new();
    for c in 0..3u8 {
        let mut ws = RawWs::open(&g, "").await;
        // Skip the greeting.
        assert_eq!(ws.next().await.unwrap().0, 0x1);
        assert_eq!(ws.next().await.unwrap().0, 0x1);
        clients.push(tokio::spawn(async move {
            let RawWs { mut read, mut write, mut buf } = ws;
            let last = format!("last ping of client {c}").into_bytes();
            let expect = last.clone();
            let reader = tokio::spawn(async move {
                let mut pongs = 0u64;
                while let Some((op, payload)) = next_frame(&mut read, &mut buf).await {
                    if op == 0xA {
                        pongs += 1;
                        if payload == expect {
                            return (true, pongs);
                        }
                    }
                    assert_ne!(op, 0x8, "closed although there is no limit: {payload:?}");
                }
                (false, pongs)
            });
            let burst: Vec<u8> = (0..=125usize).flat_map(|n| ping(&vec![c; n])).collect();
            let (start, mut sent) = (Instant::now(), 0u64);
            while start.elapsed() < Duration::from_secs(5) {
                write.write_all(&burst).await.unwrap();
                sent += 126;
            }
            write.write_all(&ping(&last)).await.unwrap();
            let (got_last, pongs) = reader.await.unwrap();
            (got_last, sent + 1, pongs)
        }));
    }
    for (c, client) in clients.into_iter().enumerate() {
        let (got_last, sent, pongs) = client.await.unwrap();
        eprintln!("unlimited flood, client {c}: {sent} pings sent, {pongs} pongs received");
        assert!(got_last, "client {c} never got a pong for its newest ping");
        assert!(pongs < sent, "pongs are coalesced");
    }
    let report = canary.report().await;
    eprintln!("unlimited flood: RSS {rss_before} KiB before, peak {} KiB; gateway CPU {:.2} s", report.peak_rss_kib, report.cpu_seconds);
    report.assert_healthy("unlimited ping flood", 3000);
    let growth = report.peak_rss_kib.saturating_sub(rss_before);
    assert!(growth < 16 * 1024, "RSS grew by {growth} KiB during the flood (cap 16 MiB)");
}

/// Pings of every size up to 125 bytes are answered with their payload; a ping
/// split over many writes is reassembled; a control frame over 125 bytes or a
/// fragmented one is a protocol error (1002).
#[tokio::test]
async fn control_frames_are_checked() {
    let g = Gateway::spawn(&[("RIG_WS_CONTROL_FRAME_RATE", "0")]);
    let mut ws = RawWs::open(&g, "").await;
    let (_, _) = (ws.next().await, ws.next().await);
    for n in [0usize, 1, 4, 124, 125] {
        let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
        ws.send(&ping(&payload)).await.unwrap();
        assert_eq!(ws.next().await, Some((0xA, payload)), "{n}-byte ping");
    }
    for byte in ping(b"one byte at a time") {
        ws.send(&[byte]).await.unwrap();
    }
    assert_eq!(ws.next().await, Some((0xA, b"one byte at a time".to_vec())));
    ws.send(&frame(true, 0xA, b"unsolicited pong")).await.unwrap();
    ws.send(&ping(b"still here")).await.unwrap();
    assert_eq!(ws.next().await, Some((0xA, b"still here".to_vec())), "pongs are ignored");

    let cases: [(&str, Vec<u8>); 5] = [
        ("126-byte ping", ping(&[0; 126])),
        ("fragmented ping", frame(false, 0x9, b"frag")),
        ("fragmented close", frame(false, 0x8, &1000u16.to_be_bytes())),
        ("fragmented pong", frame(false, 0xA, b"")),
        ("continuation of nothing", frame(true, 0x0, b"x")),
    ];
    for (what, bytes) in cases {
        let mut ws = RawWs::open(&g, "").await;
        ws.send(&bytes).await.unwrap();
        assert_eq!(ws.close_code().await, Some(1002), "{what}");
    }
}

/// RFC 6455 §7.4: a close code a client may not send, or a reason that is not
/// UTF-8, is answered with 1002, not echoed; valid codes are echoed.
#[tokio::test]
async fn invalid_close_frames_get_1002() {
    let g = Gateway::spawn(&[]);
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535] {
        let mut ws = RawWs::open(&g, "").await;
        ws.send(&close_frame(code, b"bye")).await.unwrap();
        assert_eq!(ws.close_code().await, Some(1002), "close code {code}");
    }
    for reason in [&[0xffu8, 0xfe][..], b"\xc3", b"ok\xed\xa0\x80"] {
        let mut ws = RawWs::open(&g, "").await;
        ws.send(&close_frame(1000, reason)).await.unwrap();
        assert_eq!(ws.close_code().await, Some(1002), "reason {reason:?}");
    }
    for code in [1000u16, 1001, 1003, 1007, 1011, 3000, 4999] {
        let mut ws = RawWs::open(&g, "").await;
        ws.send(&close_frame(code, "fin é".as_bytes())).await.unwrap();
        assert_eq!(ws.close_code().await, Some(code), "close code {code} is echoed");
    }
    // The invalid close sent before the server's greeting is out, in the upgrade's packet.
    let mut stream = TcpStream::connect(g.inbound).await.unwrap();
    let mut head = ws_head(&g, "").into_bytes();
    head.extend(close_frame(1005, b""));
    stream.write_all(&head).await.unwrap();
    let (resp, rest) = request(&mut stream, "").await;
    assert!(resp.starts_with("HTTP/1.1 101"), "{resp}");
    let (read, write) = stream.into_split();
    let mut ws = RawWs { read, write, buf: rest };
    assert_eq!(ws.close_code().await, Some(1002), "an early close");
}

/// The same checks where hyper and tungstenite serve the WebSocket (a request
/// came first on the connection; TLS connections take this path too).
#[tokio::test]
async fn the_tungstenite_path_checks_close_and_control_frames_too() {
    let g = Gateway::spawn(&[]);
    let cases: Vec<(String, Vec<u8>, u16)> = vec![
        ("close 1005".into(), close_frame(1005, b""), 1002),
        ("close 2999".into(), close_frame(2999, b""), 1002),
        ("close 5000".into(), close_frame(5000, b""), 1002),
        ("non-UTF-8 reason".into(), close_frame(1000, &[0xff, 0xfe]), 1002),
        ("fragmented ping".into(), frame(false, 0x9, b"frag"), 1002),
        ("126-byte ping".into(), ping(&[0; 126]), 1002),
        ("a flood".into(), (0..64).flat_map(|_| ping(b"ping")).collect(), 1008),
        ("close 4000".into(), close_frame(4000, b"bye"), 4000),
    ];
    for (what, bytes, code) in cases {
        let (mut ws, _) = open_path(&g, "ws over hyper", "").await;
        ws.send(&bytes).await.unwrap();
        assert_eq!(ws.close_code().await, Some(code), "{what}");
    }
    let (mut ws, _) = open_path(&g, "ws over hyper", "").await;
    ws.send(&ping(&[5; 125])).await.unwrap();
    loop {
        match ws.next().await {
            Some((0xA, payload)) => break assert_eq!(payload, vec![5; 125]),
            Some((0x1, _)) => {} // the greeting
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Item 9: clients that stop reading.

/// A client that stops reading on a busy stream, then is blacklisted: gone
/// from the registry and its socket closed within a short bound, well before
/// the write timeout, on every path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blacklisted_client_that_stopped_reading_is_released() {
    let g = Gateway::spawn(&[("RIG_WRITE_TIMEOUT_MS", "60000")]);
    let http = reqwest::Client::new();
    let publisher = busy_publisher(&g);
    for path in PATHS {
        let transport = transport_of(path);
        let session = format!("stalled-{}", path.replace(' ', "-"));
        let query = format!("{}&jwt={}", subs_query(&["busy"]), jwt(json!({"jti": session})));
        let (mut ws, port) = open_path(&g, path, &query).await;
        wait_connections(&http, &g, transport, 1, PATIENCE).await;
        let queued = wait_blocked(&g, port).await;
        let start = Instant::now();
        blacklist(&http, &g, &session).await;
        let deregistered = wait_connections(&http, &g, transport, 0, PATIENCE).await;
        let closed = wait_socket_closed(&g, port, PATIENCE).await;
        let elapsed = start.elapsed();
        eprintln!(
            "{path}: blacklisted with {} KiB queued to a client that does not read: \
             deregistered after {deregistered:?}, socket closed after {closed:?}",
            queued >> 10
        );
        assert!(elapsed < Duration::from_secs(5), "{path}: released after {elapsed:?} (bound: 1 s to write the notice)");
        assert!(read_to_end(&mut ws.read).await, "{path}: the client's connection ends");
    }
    publisher.abort();
}

/// A client that stops reading on a busy stream, with no kill: disconnected
/// once a write has made no progress for RIG_WRITE_TIMEOUT_MS, on every path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_stops_reading_is_disconnected_after_the_write_timeout() {
    let timeout = Duration::from_millis(1500);
    let g = Gateway::spawn(&[("RIG_WRITE_TIMEOUT_MS", "1500")]);
    let http = reqwest::Client::new();
    let publisher = busy_publisher(&g);
    for path in PATHS {
        let transport = transport_of(path);
        let (mut ws, port) = open_path(&g, path, &subs_query(&["busy"])).await;
        wait_connections(&http, &g, transport, 1, PATIENCE).await;
        let queued = wait_blocked(&g, port).await;
        let start = Instant::now();
        let deregistered = wait_connections(&http, &g, transport, 0, PATIENCE).await;
        let closed = wait_socket_closed(&g, port, PATIENCE).await;
        eprintln!(
            "{path}: {} KiB queued to a client that does not read; write timeout {timeout:?}: \
             deregistered {deregistered:?} and socket closed {closed:?} after the socket was seen full",
            queued >> 10
        );
        assert!(start.elapsed() < timeout + Duration::from_secs(4), "{path}: released after {:?}", start.elapsed());
        assert!(read_to_end(&mut ws.read).await, "{path}: the client's connection ends");
    }
    publisher.abort();
}

/// A slow client that keeps reading is not disconnected by the write timeout,
/// which is about progress, not about keeping up (the outbox policy is).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_client_that_keeps_reading_stays() {
    let g = Gateway::spawn(&[("RIG_WRITE_TIMEOUT_MS", "2000")]);
    let http = reqwest::Client::new();
    let publisher = busy_publisher(&g);
    for path in ["ws", "sse over hyper"] {
        let (ws, _) = open_path(&g, path, &subs_query(&["busy"])).await;
        let mut read = ws.read;
        wait_connections(&http, &g, transport_of(path), 1, PATIENCE).await;
        // What the small receive buffer holds every 10 ms: far slower than the
        // publisher, never 2 s without progress.
        let mut tmp = vec![0u8; 64 * 1024];
        let (mut total, start) = (0, Instant::now());
        while start.elapsed() < Duration::from_secs(4) {
            let n = tokio::time::timeout(PATIENCE, read.read(&mut tmp)).await.unwrap().unwrap();
            assert!(n > 0, "{path}: disconnected although reading");
            total += n;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("{path}: slow reader got {} KiB in {:?}", total >> 10, start.elapsed());
        assert_eq!(connections(&http, &g, transport_of(path)).await, 1, "{path}");
        drop(read);
        wait_connections(&http, &g, transport_of(path), 0, PATIENCE).await;
    }
    publisher.abort();
}
