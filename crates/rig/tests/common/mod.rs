//! Test harness: the whole gateway on ephemeral ports, and real clients for
//! each transport (an SSE reader over HTTP, a WebSocket client, a long-polling
//! client that keeps its cookies).
#![allow(dead_code)]

pub mod backend;
pub mod brokers;
pub mod cluster;
pub mod http_server;
pub mod keys;
pub mod nodes;
pub mod phoenix;
pub mod process;
pub mod registry;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rig::{App, Config, RunningApp};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub const SECRET: &str = "test-secret";

pub const EXTRACTORS: &str = r#"{
  "greeting": {
    "name": {"stable_field_index": 0, "event": {"json_pointer": "/data/name"}, "jwt": {"json_pointer": "/username"}},
    "age": {"stable_field_index": 1, "event": {"json_pointer": "/data/age"}}
  }
}"#;

/// A running gateway plus an HTTP client.
pub struct TestRig {
    pub app: RunningApp,
    pub http: reqwest::Client,
}

impl TestRig {
    /// Starts the gateway with test defaults and `overrides` (env var names).
    pub async fn start(overrides: &[(&str, &str)]) -> TestRig {
        if let Ok(level) = std::env::var("RIG_TEST_LOG") {
            // RIG_TEST_LOG=debug (or info, warn) shows the gateway's logs.
            let level = level.parse().unwrap_or(tracing::Level::DEBUG);
            let _ = tracing_subscriber::fmt().with_max_level(level).with_test_writer().try_init();
        }
        let mut vars = vec![("JWT_SECRET_KEY", SECRET), ("EXTRACTORS", EXTRACTORS)];
        vars.extend_from_slice(overrides);
        let app = App::start(Config::for_test(&vars)).await.expect("gateway starts");
        TestRig { app, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.app.inbound_addr, path)
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{}", self.app.api_addr, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.app.inbound_addr, path)
    }

    /// Publishes a structured-mode event on the public port; asserts 202.
    pub async fn publish(&self, event: &Value) {
        publish_at(&self.http, &self.url("/_rig/v1/events"), event).await;
    }

    /// PUT new subscriptions for a connection token.
    pub async fn put_subscriptions(&self, transport: &str, token: &str, body: &Value, bearer: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .put(self.url(&format!("/_rig/v1/connection/{transport}/{token}/subscriptions")))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send().await.unwrap()
    }

    /// Waits until the hub holds exactly `n` connections (all transports).
    pub async fn wait_for_connections(&self, n: usize) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let (sse, ws, lp) = self.app.state.hub.connection_counts();
            if sse + ws + lp == n {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "expected {n} connections, have {}", sse + ws + lp);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// POSTs a structured-mode event to a gateway's events `url`; asserts 202.
pub async fn publish_at(http: &reqwest::Client, url: &str, event: &Value) {
    let r = http.post(url).header("content-type", "application/cloudevents+json").body(event.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 202, "publish failed: {}", r.text().await.unwrap());
}

/// An API definition whose backend is 127.0.0.1:`port`.
pub fn api_def(id: &str, port: u16, endpoints: Value) -> Value {
    json!({"id": id, "name": id, "proxy": {"target_url": "127.0.0.1", "port": port}, "version_data": {"default": {"endpoints": endpoints}}})
}

impl TestRig {
    /// `POST /v3/apis`; asserts 201.
    pub async fn add_api(&self, def: &Value) {
        let r = self.http.post(self.api_url("/v3/apis")).json(def).send().await.unwrap();
        assert_eq!(r.status(), 201, "add API: {}", r.text().await.unwrap());
    }
}

/// A 0.2 greeting event with `data`.
pub fn greeting(id: &str, data: Value) -> Value {
    json!({"specversion": "0.2", "type": "greeting", "source": "test", "id": id, "data": data})
}

/// An HS256 token signed with [`SECRET`], valid for a minute, with `claims` added.
pub fn jwt(claims: Value) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 60;
    let mut c = json!({"exp": exp});
    c.as_object_mut().unwrap().extend(claims.as_object().unwrap().clone());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &c, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap()).unwrap()
}

/// URL-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One SSE message: its `event:` name (or `:comment`) and joined `data:` lines.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.data))
    }
}

/// A real SSE reader over HTTP.
pub struct SseClient {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    stream: Option<futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>>,
    buf: String,
    pub body: String,
}

impl SseClient {
    pub async fn connect(url: &str) -> SseClient {
        SseClient::connect_with(url, &[]).await
    }

    /// Connects with extra request headers (e.g. `Last-Event-ID`).
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> SseClient {
        SseClient::connect_using(&reqwest::Client::new(), url, headers).await
    }

    /// Connects with a given HTTP client (e.g. one that trusts a test CA).
    pub async fn connect_using(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> SseClient {
        let mut req = client.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        if status != 200 {
            let body = r.text().await.unwrap();
            return SseClient { status, headers, stream: None, buf: String::new(), body };
        }
        SseClient { status, headers, stream: Some(r.bytes_stream().boxed()), buf: String::new(), body: String::new() }
    }

    /// The next message (comments included), or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse_block(&block));
            }
            let stream = self.stream.as_mut()?;
            match tokio::time::timeout(PATIENCE, stream.next()).await.expect("SSE stream stalled") {
                Some(Ok(chunk)) => self.buf.push_str(std::str::from_utf8(&chunk).unwrap()),
                _ => return None,
            }
        }
    }

    /// The next message that is not a heartbeat comment.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let e = self.next().await?;
            if !e.name.starts_with(':') {
                return Some(e);
            }
        }
    }

    /// Reads past `rig.connection.create` and `rig.subscriptions_set`; returns
    /// the token and the subscription echo.
    pub async fn greeted(&mut self) -> (String, Value) {
        let create = self.next_event().await.expect("rig.connection.create");
        assert_eq!(create.name, "rig.connection.create");
        let token = create.json()["data"]["connection_token"].as_str().unwrap().to_string();
        let set = self.next_event().await.expect("rig.subscriptions_set");
        assert_eq!(set.name, "rig.subscriptions_set");
        (token, set.json()["data"].clone())
    }

    /// Asserts nothing but heartbeats arrive within `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        let got = tokio::time::timeout(wait, self.next_event()).await;
        if let Ok(Some(e)) = got {
            panic!("unexpected event {e:?}");
        }
    }
}

fn parse_block(block: &str) -> SseEvent {
    let mut name = String::new();
    let mut id = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            name = v.to_string();
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v);
        } else if line.starts_with(':') {
            name = line.to_string();
        }
    }
    SseEvent { name, id, data: data.join("\n") }
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A real WebSocket client.
pub async fn ws_connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.expect("upgrade").0
}

/// The next text frame as JSON, skipping pings; panics on close.
pub async fn ws_next(ws: &mut Ws) -> Value {
    loop {
        match ws_next_message(ws).await {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn ws_next_message(ws: &mut Ws) -> Message {
    tokio::time::timeout(PATIENCE, ws.next()).await.expect("WebSocket stalled").expect("WebSocket ended").expect("frame")
}

/// Reads past the two greeting frames; returns the token and subscription echo.
pub async fn ws_greeted(ws: &mut Ws) -> (String, Value) {
    let create = ws_next(ws).await;
    assert_eq!(create["type"], "rig.connection.create");
    let set = ws_next(ws).await;
    assert_eq!(set["type"], "rig.subscriptions_set");
    (create["data"]["connection_token"].as_str().unwrap().to_string(), set["data"].clone())
}

/// Waits for the server's close frame; returns (code, reason).
pub async fn ws_closed(ws: &mut Ws) -> (u16, String) {
    loop {
        match ws_next_message(ws).await {
            Message::Close(Some(f)) => return (u16::from(f.code), f.reason.to_string()),
            Message::Close(None) => return (1005, String::new()),
            _ => continue,
        }
    }
}

pub async fn ws_send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.unwrap();
}

/// A long-polling client: keeps its cookies like a browser.
pub struct LpClient {
    pub http: reqwest::Client,
    pub url: String,
}

impl LpClient {
    pub fn new(url: String) -> LpClient {
        LpClient { http: reqwest::Client::builder().cookie_store(true).build().unwrap(), url }
    }

    pub async fn get(&self) -> reqwest::Response {
        self.http.get(&self.url).send().await.unwrap()
    }

    /// One poll's events (asserting the 200 and the body shape).
    pub async fn poll(&self) -> Vec<Value> {
        let r = self.get().await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["last_event_id"].is_string(), "{body}");
        body["events"].as_array().unwrap().clone()
    }
}
