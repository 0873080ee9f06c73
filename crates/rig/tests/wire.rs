//! Streams the server writes to the socket itself (plain HTTP/1.x SSE and
//! WebSocket), driven by raw TCP clients: WebSocket control frames, protocol
//! violations, clients that stall or vanish, HTTP/1.0, and a refused stream
//! followed by another request on the same connection.

mod common;

use common::*;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const WS_PATH: &str = "/_rig/v1/connection/ws";
const SSE_PATH: &str = "/_rig/v1/connection/sse";

/// A raw TCP client of the inbound port; what it has read and not consumed is in `buf`.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and sends `request` as it is.
    async fn open(rig: &TestRig, request: &[u8]) -> Raw {
        let mut stream = TcpStream::connect(rig.app.inbound_addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        Raw { stream, buf: Vec::new() }
    }

    /// A WebSocket client: sends the handshake (and `early` right behind it,
    /// in the same write) and reads the 101 head.
    async fn connect(rig: &TestRig, query: &str, early: &[u8]) -> Raw {
        let mut req = format!(
            "GET {WS_PATH}{query} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .into_bytes();
        req.extend_from_slice(early);
        let mut ws = Raw::open(rig, &req).await;
        let head = ws.read_until_blank_line().await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(head.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
        ws
    }

    async fn read_until_blank_line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8(head).unwrap();
            }
            self.fill().await;
        }
    }

    /// Reads until `done` holds for what is buffered.
    async fn fill_until(&mut self, done: impl Fn(&[u8]) -> bool) {
        while !done(&self.buf) {
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut tmp = [0u8; 16 * 1024];
        let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut tmp)).await.expect("server stalled").unwrap();
        assert!(n > 0, "connection ended");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    /// The next server frame: opcode and payload (server frames are never masked).
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        loop {
            if let Some((opcode, payload, len)) = parse_server_frame(&self.buf) {
                self.buf.drain(..len);
                return (opcode, payload);
            }
            self.fill().await;
        }
    }

    /// The next frame that is not a heartbeat ping.
    async fn frame_no_ping(&mut self) -> (u8, Vec<u8>) {
        loop {
            let f = self.frame().await;
            if f.0 != 0x9 {
                return f;
            }
        }
    }

    async fn greeted(&mut self) {
        for expected in ["rig.connection.create", "rig.subscriptions_set"] {
            let (opcode, payload) = self.frame_no_ping().await;
            assert_eq!(opcode, 0x1);
            assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap()["type"], expected);
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Expects a close frame with `code`, then the end of the connection.
    async fn expect_close(&mut self, code: u16) -> String {
        let (opcode, payload) = self.frame_no_ping().await;
        assert_eq!(opcode, 0x8, "a close frame, got {:?}", String::from_utf8_lossy(&payload));
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code);
        let reason = String::from_utf8(payload[2..].to_vec()).unwrap();
        self.expect_end().await;
        reason
    }

    async fn expect_end(&mut self) {
        let mut tmp = [0u8; 1024];
        loop {
            match tokio::time::timeout(PATIENCE, self.stream.read(&mut tmp)).await.expect("server did not end the connection") {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

fn parse_server_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let [b0, b1, ..] = *buf else { return None };
    assert_eq!(b0 & 0x80, 0x80, "server frames are final");
    assert_eq!(b1 & 0x80, 0, "server frames are not masked");
    let (len, at) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (usize::from(n), 2),
    };
    (buf.len() >= at + len).then(|| (b0 & 0x0f, buf[at..at + len].to_vec(), at + len))
}

/// A masked client frame.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![first, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[tokio::test]
async fn pings_get_pongs_and_a_client_close_is_echoed() {
    let rig = TestRig::start(&[]).await;
    let mut ws = Raw::connect(&rig, "", &[]).await;
    ws.greeted().await;
    ws.send(&masked(0x89, b"are you there")).await;
    assert_eq!(ws.frame_no_ping().await, (0xA, b"are you there".to_vec()));
    rig.wait_for_connections(1).await;
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    ws.send(&masked(0x88, &close)).await;
    let (opcode, payload) = ws.frame_no_ping().await;
    assert_eq!((opcode, payload), (0x8, 1000u16.to_be_bytes().to_vec()));
    ws.expect_end().await;
    rig.wait_for_connections(0).await;
}

#[tokio::test]
async fn frames_sent_with_the_handshake_are_answered() {
    let rig = TestRig::start(&[]).await;
    let mut ws = Raw::connect(&rig, "", &masked(0x89, b"early")).await;
    // The pong may come before or after the greeting; both must arrive intact.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let (opcode, payload) = ws.frame().await;
        match opcode {
            0xA => assert_eq!(payload, b"early"),
            0x1 => assert!(serde_json::from_slice::<Value>(&payload).is_ok()),
            0x9 => continue,
            other => panic!("opcode {other}"),
        }
        seen.push(opcode);
    }
    assert!(seen.contains(&0xA));
}

#[tokio::test]
async fn protocol_violations_close_with_1002() {
    let rig = TestRig::start(&[]).await;
    let mut unmasked = vec![0x81, 2];
    unmasked.extend_from_slice(b"hi");
    let cases: [(&str, Vec<u8>); 5] = [
        ("unmasked frame", unmasked),
        ("fragmented ping", masked(0x09, b"x")),
        ("continuation of nothing", masked(0x80, b"x")),
        ("reserved opcode", masked(0x83, b"x")),
        ("reserved bits", masked(0xC1, b"x")),
    ];
    for (what, bytes) in cases {
        let mut ws = Raw::connect(&rig, "", &[]).await;
        ws.greeted().await;
        ws.send(&bytes).await;
        assert_eq!(ws.expect_close(1002).await, "Protocol error.", "{what}");
    }
    rig.wait_for_connections(0).await;
}

#[tokio::test]
async fn oversized_client_frames_close_with_1009_and_data_frames_with_1000() {
    let rig = TestRig::start(&[]).await;
    let mut ws = Raw::connect(&rig, "", &[]).await;
    ws.greeted().await;
    // A binary frame that says it is 1 MiB long; only its head is sent.
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(1u64 << 20).to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]);
    ws.send(&head).await;
    assert_eq!(ws.expect_close(1009).await, "Message too big.");

    // The first fragment of a text message: RIG's one-way notice.
    let mut ws = Raw::connect(&rig, "", &[]).await;
    ws.greeted().await;
    ws.send(&masked(0x01, b"hel")).await;
    assert_eq!(ws.expect_close(1000).await, "This WebSocket endpoint cannot be used for two-way communication.");
}

#[tokio::test]
async fn clients_that_vanish_are_forgotten() {
    let rig = TestRig::start(&[]).await;
    let mut ws = Raw::connect(&rig, "", &[]).await;
    ws.greeted().await;
    let mut sse = TcpStream::connect(rig.app.inbound_addr).await.unwrap();
    sse.write_all(format!("GET {SSE_PATH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut tmp = [0u8; 1024];
    assert!(sse.read(&mut tmp).await.unwrap() > 0);
    rig.wait_for_connections(2).await;
    drop(ws);
    drop(sse);
    rig.wait_for_connections(0).await;
    // A half-open client (sent its request, then shut its side) is gone too.
    let mut sse = TcpStream::connect(rig.app.inbound_addr).await.unwrap();
    sse.write_all(format!("GET {SSE_PATH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    sse.shutdown().await.unwrap();
    assert!(sse.read(&mut tmp).await.unwrap() > 0);
    rig.wait_for_connections(0).await;
}

/// Publishes `n` padded greetings, then a marker; returns the marker's id.
async fn flood(rig: &TestRig, n: usize, pad: usize) -> String {
    let padding = "x".repeat(pad);
    for i in 0..n {
        rig.publish(&greeting(&format!("f{i}"), json!({"pad": padding}))).await;
    }
    rig.publish(&greeting("marker", json!({}))).await;
    "marker".into()
}

#[tokio::test]
async fn a_stalled_websocket_reader_resumes_with_whole_frames_and_a_missed_notice() {
    let rig = TestRig::start(&[("RIG_OUTBOX_CAPACITY", "4")]).await;
    let subs = enc(r#"[{"eventType":"greeting"}]"#);
    let mut ws = Raw::connect(&rig, &format!("?subscriptions={subs}"), &[]).await;
    ws.greeted().await;
    // Far more than the socket buffers hold: some frames are written in part
    // by a direct write and finished later, the rest queue and overflow.
    let marker = flood(&rig, 400, 30_000).await;
    let (mut last, mut missed) = (None::<usize>, 0u64);
    loop {
        let (opcode, payload) = ws.frame_no_ping().await;
        assert_eq!(opcode, 0x1);
        let event: Value = serde_json::from_slice(&payload).expect("a whole JSON frame");
        match (event["type"].as_str().unwrap(), event["id"].as_str().unwrap()) {
            ("rig.events_missed", _) => missed += event["data"]["count"].as_u64().unwrap(),
            (_, id) if id == marker => break,
            (_, id) => {
                let i: usize = id[1..].parse().unwrap();
                assert!(last.is_none_or(|l| i > l), "in order: {i} after {last:?}");
                last = Some(i);
            }
        }
    }
    assert!(missed > 0, "the outbox overflowed and said so");
}

#[tokio::test]
async fn a_stalled_sse_reader_resumes_with_whole_events() {
    let rig = TestRig::start(&[("RIG_OUTBOX_CAPACITY", "4")]).await;
    let url = rig.url(&format!("{SSE_PATH}?subscriptions={}", enc(r#"[{"eventType":"greeting"}]"#)));
    let mut sse = SseClient::connect(&url).await;
    sse.greeted().await;
    let marker = flood(&rig, 400, 30_000).await;
    let mut missed = 0;
    loop {
        let e = sse.next_event().await.expect("stream continues");
        let event = e.json();
        if e.name == "rig.events_missed" {
            missed += event["data"]["count"].as_u64().unwrap();
        } else if event["id"] == marker.as_str() {
            break;
        } else {
            assert_eq!(event["data"]["pad"].as_str().unwrap().len(), 30_000);
        }
    }
    assert!(missed > 0);
}

#[tokio::test]
async fn http_1_0_clients_get_a_raw_stream_that_ends_with_the_connection() {
    let rig = TestRig::start(&[]).await;
    let mut c = Raw::open(&rig, format!("GET {SSE_PATH} HTTP/1.0\r\n\r\n").as_bytes()).await;
    c.fill_until(|got| String::from_utf8_lossy(got).contains("event: rig.subscriptions_set")).await;
    let text = String::from_utf8(c.buf).unwrap().to_ascii_lowercase();
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert!(!text.contains("transfer-encoding"), "{text}");
    assert!(text.contains("\r\n\r\nevent: rig.connection.create\n"), "{text}");
}

#[tokio::test]
async fn a_refused_stream_leaves_the_connection_usable() {
    let rig = TestRig::start(&[]).await;
    let mut c = Raw::open(&rig, format!("GET {SSE_PATH}?jwt=nonsense HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await;
    let head = c.read_until_blank_line().await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 4"), "{head}");
    let length: usize = head.split("content-length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
    c.fill_until(|got| got.len() >= length).await;
    let body: Value = serde_json::from_slice(&c.buf).expect("a JSON reason");
    assert!(body.is_object(), "{body}");
    // The same connection, now hyper's: a health check.
    c.send(b"GET /_rig/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, c.stream.read_to_end(&mut rest)).await.unwrap().unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
}

#[tokio::test]
async fn garbage_instead_of_a_request_gets_400() {
    let rig = TestRig::start(&[]).await;
    let mut s = TcpStream::connect(rig.app.inbound_addr).await.unwrap();
    s.write_all(b"\x16\x03\x01 this is not HTTP\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 400"), "{}", String::from_utf8_lossy(&rest));
}
