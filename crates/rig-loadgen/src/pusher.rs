//! The Pusher protocol, for Sockudo: a WebSocket subscriber that joins one
//! channel (optionally with a Sockudo tag filter, protocol V2), and the signed
//! HTTP publish (`POST /apps/{id}/events`, Pusher's HMAC-SHA256 auth with the
//! body's MD5 in the query).

use std::{net::IpAddr, sync::Arc};

use futures_util::{SinkExt, StreamExt};
use ring::hmac;
use tokio_tungstenite::tungstenite::{protocol::WebSocketConfig, Message};

use crate::{scan::Scanner, sse::connect, tally::Tally, url::Url};

/// App key and secret of the Pusher app the publisher signs for.
#[derive(Debug, Clone)]
pub struct Creds {
    pub key: String,
    pub secret: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Pusher's request signature: HMAC-SHA256 of `METHOD\nPATH\nQUERY` (the query
/// parameters sorted by name, without `auth_signature`), hex-encoded.
pub fn signature(secret: &str, method: &str, path: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = params.to_vec();
    sorted.sort();
    let query: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let text = format!("{method}\n{path}\n{}", query.join("&"));
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex(hmac::sign(&key, text.as_bytes()).as_ref())
}

/// The path and signed query of a POST of `body` to `path` at `unix_secs`.
pub fn signed_path(path: &str, creds: &Creds, body: &str, unix_secs: u64) -> String {
    let md5 = format!("{:x}", md5::compute(body.as_bytes()));
    let ts = unix_secs.to_string();
    let params = [("auth_key", creds.key.as_str()), ("auth_timestamp", ts.as_str()), ("auth_version", "1.0"), ("body_md5", md5.as_str())];
    let sig = signature(&creds.secret, "POST", path, &params);
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}&auth_signature={sig}", query.join("&"))
}

/// The trigger body: the bench event as the (string) `data` of event `bench`
/// on `channel`; with `tag`, tagged `to=<tag>` for Sockudo's tag filter.
pub fn trigger_body(event: &str, channel: &str, tag: Option<&str>) -> String {
    let mut v = serde_json::json!({ "name": "bench", "channel": channel, "data": event });
    if let Some(t) = tag {
        v["tags"] = serde_json::json!({ "to": t });
    }
    v.to_string()
}

/// The subscribe message; with `filter`, a Sockudo tag filter `to == filter`
/// (V2 names its events `sockudo:`, V1 `pusher:`).
pub fn subscribe(channel: &str, filter: Option<&str>) -> String {
    match filter {
        Some(f) => serde_json::json!({"event": "sockudo:subscribe", "data": {"channel": channel, "filter": {"key": "to", "cmp": "eq", "val": f}}}),
        None => serde_json::json!({"event": "pusher:subscribe", "data": {"channel": channel}}),
    }
    .to_string()
}

/// What the server said, as far as the benchmark cares.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Connected,
    Subscribed,
    Ping,
    /// A channel event: its `data` string (where the publish time is).
    Event(String),
    Error(String),
    Other,
}

/// Classifies one text message from the server (V1 `pusher:` or V2 `sockudo:` names).
pub fn parse(text: &str) -> Incoming {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else { return Incoming::Error(format!("not JSON: {text}")) };
    let event = v["event"].as_str().unwrap_or("");
    let name = ["pusher:", "pusher_internal:", "sockudo:", "sockudo_internal:"].iter().find_map(|p| event.strip_prefix(p));
    match name {
        Some("connection_established") => Incoming::Connected,
        Some("subscription_succeeded") => Incoming::Subscribed,
        Some("ping") => Incoming::Ping,
        Some("error") | Some("subscription_error") => Incoming::Error(text.to_owned()),
        Some(_) => Incoming::Other,
        None => match &v["data"] {
            serde_json::Value::String(s) => Incoming::Event(s.clone()),
            d if !d.is_null() => Incoming::Event(d.to_string()),
            _ => Incoming::Other,
        },
    }
}

/// One subscriber: connects, waits for `connection_established`, subscribes to
/// `channel`, calls `ready` once the subscription succeeded, then counts events.
pub async fn run(
    conn: usize,
    src: IpAddr,
    url: &Url,
    path: &str,
    (channel, filter): (&str, Option<&str>),
    tally: Arc<Tally>,
    ready: impl FnOnce(bool),
) {
    let stream = match connect(src, url).await {
        Ok(s) => s,
        Err(e) => {
            tally.fail(format!("connect from {src}: {e}"));
            return ready(false);
        }
    };
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let mut ws = match tokio_tungstenite::client_async_with_config(format!("ws://{}{}", url.addr, path), stream, Some(config)).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            tally.fail(format!("ws handshake: {e}"));
            return ready(false);
        }
    };
    let mut ready = Some(ready);
    let mut stamps = Vec::new();
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(t) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        match parse(t.as_str()) {
            Incoming::Connected => {
                if ws.send(Message::text(subscribe(channel, filter))).await.is_err() {
                    break;
                }
            }
            Incoming::Subscribed => {
                if let Some(r) = ready.take() {
                    tally.connect(conn);
                    r(true);
                }
            }
            Incoming::Ping => {
                let pong = if t.as_str().contains("sockudo:") { r#"{"event":"sockudo:pong","data":{}}"# } else { r#"{"event":"pusher:pong","data":{}}"# };
                if ws.send(Message::text(pong)).await.is_err() {
                    break;
                }
            }
            Incoming::Event(data) => {
                stamps.clear();
                Scanner::default().feed(data.as_bytes(), |ts| stamps.push(ts));
                tally.record(conn, &stamps);
            }
            Incoming::Error(e) => {
                if let Some(r) = ready.take() {
                    tally.fail(e);
                    return r(false);
                }
            }
            Incoming::Other => {}
        }
    }
    if let Some(r) = ready.take() {
        tally.fail("closed before subscription_succeeded".into());
        return r(false);
    }
    tally.closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Pusher's "Generating authentication signatures" page.
    #[test]
    fn signature_matches_pushers_worked_example() {
        let creds = Creds { key: "278d425bdf160c739803".into(), secret: "7ad3773142a6692b25b8".into() };
        let body = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        let p = signed_path("/apps/3/events", &creds, body, 1353088179);
        assert_eq!(
            p,
            "/apps/3/events?auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
             &body_md5=ec365a775a4cd0599faeb73354201b6f\
             &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
        // The parameters are signed in name order, whatever order they are given in.
        let a = signature("s", "POST", "/p", &[("b", "2"), ("a", "1")]);
        assert_eq!(a, signature("s", "POST", "/p", &[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn trigger_body_carries_the_event_as_a_string_and_the_tag() {
        let ev = crate::publish::event_json(3, 99, None);
        let v: serde_json::Value = serde_json::from_str(&trigger_body(&ev, "bench", Some("g0"))).unwrap();
        assert_eq!((v["name"].as_str(), v["channel"].as_str(), v["data"].as_str()), (Some("bench"), Some("bench"), Some(ev.as_str())));
        assert_eq!(v["tags"]["to"], "g0");
        let v: serde_json::Value = serde_json::from_str(&trigger_body(&ev, "bench", None)).unwrap();
        assert!(v.get("tags").is_none());
    }

    #[test]
    fn server_messages_are_classified() {
        let est = r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#;
        assert_eq!(parse(est), Incoming::Connected);
        assert_eq!(parse(r#"{"event":"sockudo_internal:subscription_succeeded","channel":"bench"}"#), Incoming::Subscribed);
        assert_eq!(parse(r#"{"event":"pusher_internal:subscription_succeeded","channel":"bench","data":"{}"}"#), Incoming::Subscribed);
        assert_eq!(parse(r#"{"event":"pusher:ping","data":{}}"#), Incoming::Ping);
        assert!(matches!(parse(r#"{"event":"pusher:error","data":{"code":4004}}"#), Incoming::Error(_)));
        assert!(matches!(parse("nope"), Incoming::Error(_)));
        let ev = crate::publish::event_json(1, 1234, None);
        let msg = serde_json::json!({"event": "bench", "channel": "bench", "data": ev}).to_string();
        let Incoming::Event(data) = parse(&msg) else { panic!("{msg}") };
        let mut stamps = vec![];
        Scanner::default().feed(data.as_bytes(), |t| stamps.push(t));
        assert_eq!(stamps, vec![1234]);
    }

    #[test]
    fn subscribe_messages() {
        let v: serde_json::Value = serde_json::from_str(&subscribe("bench", None)).unwrap();
        assert_eq!((v["event"].as_str(), v["data"]["channel"].as_str()), (Some("pusher:subscribe"), Some("bench")));
        let v: serde_json::Value = serde_json::from_str(&subscribe("bench", Some("g3"))).unwrap();
        assert_eq!(v["event"], "sockudo:subscribe");
        assert_eq!(v["data"]["filter"], serde_json::json!({"key": "to", "cmp": "eq", "val": "g3"}));
    }
}
