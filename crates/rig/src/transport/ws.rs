//! WebSocket: one text frame per event, pings as heartbeats, server-only
//! (a client data frame closes the connection, as RIG).

use std::sync::Arc;

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        RawQuery, State,
    },
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use base64::Engine;
use bytes::Bytes;
use futures_util::SinkExt;

use super::{
    close::{close_code, notice_frame, NORMAL, TWO_WAY},
    takeover::{self, Direct, Takeover},
    user_agent,
    wire::KILL_WRITE_BOUND,
    ws_frames::{self, Budget},
};
use crate::{
    hub::{CloseReason, Item, Transport},
    session::{
        connect::{Accepted, ConnectParams, SetupError},
        guard::ConnGuard,
    },
    state::Shared,
    support::response::json_error,
};

/// The endpoint's path (the server takes over plain-HTTP upgrades of it).
pub const PATH: &str = "/_rig/v1/connection/ws";

/// Read buffer of each WebSocket served by tungstenite (TLS; see `handler`).
const WS_READ_BUFFER: usize = 1024;

/// `GET /_rig/v1/connection/ws`: the upgrade always succeeds; a refused
/// connection is then closed with a reason, as RIG does.
pub async fn handler(
    State(app): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    direct: Option<Extension<Direct>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if direct.is_some() {
        return direct_handler(&app, query.as_deref(), &headers).await;
    }
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("expected a WebSocket upgrade: {e}")).into_response(),
    };
    let params = ConnectParams::from_query(query.as_deref());
    let setup = app.sessions.set_up(&params, user_agent(&headers)).await;
    // tungstenite preallocates its read buffer per socket (128 KiB by default):
    // most of an idle WebSocket's memory. Frontends send little; 1 KiB is plenty
    // (longer messages still arrive, in more reads).
    let upgrade = upgrade.read_buffer_size(WS_READ_BUFFER);
    upgrade.on_upgrade(move |socket| async move {
        match setup {
            Ok(accepted) => run(socket, app, accepted).await,
            Err(e) => close(socket, &close_reason(&e)).await,
        }
    })
}

/// The upgrade on a connection the server takes over (the server validated the
/// handshake headers): 101 with the accept key, then `transport::wire` runs
/// the stream, or closes it with the refusal reason.
async fn direct_handler(app: &Shared, query: Option<&str>, headers: &HeaderMap) -> Response {
    let key = headers.get(header::SEC_WEBSOCKET_KEY).map(HeaderValue::as_bytes).unwrap_or_default();
    let accept = HeaderValue::from_str(&accept_key(key)).expect("base64 is a valid header value");
    let params = ConnectParams::from_query(query);
    let takeover = match app.sessions.set_up(&params, user_agent(headers)).await {
        Ok(accepted) => Takeover::Stream(takeover::open(app, Transport::Ws, accepted)),
        Err(e) => Takeover::Refused(close_reason(&e).into()),
    };
    let mut response = (
        StatusCode::SWITCHING_PROTOCOLS,
        [(header::UPGRADE, HeaderValue::from_static("websocket")), (header::CONNECTION, HeaderValue::from_static("upgrade"))],
    )
        .into_response();
    response.headers_mut().insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    response.extensions_mut().insert(takeover);
    response
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1.finish())
}

/// `Bad request.` for everything but an undecodable subscription list.
fn close_reason(e: &SetupError) -> String {
    match e {
        SetupError::Undecodable(m) => truncate(m, 123),
        _ => "Bad request.".into(),
    }
}

/// A close reason must fit in 123 bytes; cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

async fn close(socket: WebSocket, reason: &str) {
    close_code_reason(socket, NORMAL, reason).await
}

async fn close_code_reason(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn close_with(socket: WebSocket, reason: CloseReason) {
    let (code, text) = close_code(reason);
    close_code_reason(socket, code, text).await
}

/// What a batch of items did to the connection.
enum Sent {
    Open,
    Closed,
    Failed,
}

/// The tungstenite path (TLS). Its protocol layer answers pings (one pending
/// pong at most) and checks close frames; here pings and pongs are counted
/// against the control-frame budget, and a session kill ends the connection
/// within [`KILL_WRITE_BOUND`] even while a write waits for the client.
/// Writes that make no progress fail in the server's IO layer.
async fn run(mut socket: WebSocket, app: Shared, accepted: Accepted) {
    let (outbox, guard) = app.sessions.open_stream(Transport::Ws, accepted);
    let mut budget = Budget::new(app.config.ws_control_rate);
    let mut items = Vec::new();
    loop {
        tokio::select! {
            _ = outbox.recv(&mut items) => {
                let sent = tokio::select! {
                    sent = send(&mut socket, &mut items, &guard) => sent,
                    () = std::future::poll_fn(|cx| outbox.poll_killed(cx)) => Sent::Closed,
                };
                match sent {
                    Sent::Open => {}
                    Sent::Failed => return,
                    Sent::Closed => {
                        let _ = tokio::time::timeout(KILL_WRITE_BOUND, close_with(socket, CloseReason::SessionKilled)).await;
                        return;
                    }
                }
            },
            incoming = socket.recv() => match incoming {
                None => return,
                // The protocol layer queued its reply (the code back, or 1002 for a bad one).
                Some(Ok(Message::Close(_))) => {
                    let _ = tokio::time::timeout(KILL_WRITE_BOUND, socket.flush()).await;
                    return;
                }
                // A broken frame (fragmented or long control frame, a reason that is not UTF-8...).
                Some(Err(_)) => {
                    let reply = close_code_reason(socket, ws_frames::PROTOCOL_ERROR, "Protocol error.");
                    let _ = tokio::time::timeout(KILL_WRITE_BOUND, reply).await;
                    return;
                }
                Some(Ok(Message::Text(_) | Message::Binary(_))) => return close(socket, TWO_WAY).await,
                // Pings are answered by the protocol layer on the next write.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    if !budget.spend(1, std::time::Instant::now()) {
                        return close_code_reason(socket, ws_frames::POLICY_VIOLATION, ws_frames::FLOODED).await;
                    }
                }
            },
        }
    }
}

/// Writes the items taken from the outbox with one flush (one syscall for a
/// burst, as the SSE writer does with one chunk). A close item other than a
/// kill (those are [`Sent::Closed`] by the caller) is written and ends the stream.
async fn send(socket: &mut WebSocket, items: &mut Vec<Item>, guard: &ConnGuard) -> Sent {
    for item in items.drain(..) {
        let frame = match item {
            Item::Frame(f) => {
                guard.handed_over([&*f]);
                f
            }
            Item::Close(CloseReason::SessionKilled) => return Sent::Closed,
            Item::Close(reason) => {
                let (code, text) = close_code(reason);
                let frame = CloseFrame { code, reason: Utf8Bytes::from(text) };
                let _ = socket.send(Message::Close(Some(frame))).await;
                return Sent::Failed;
            }
            Item::Heartbeat => {
                if socket.feed(Message::Ping(Bytes::new())).await.is_err() {
                    return Sent::Failed;
                }
                continue;
            }
            missed => Arc::new(notice_frame(&missed).expect("a missed notice renders")),
        };
        if socket.feed(Message::Text(frame.ws.clone())).await.is_err() {
            return Sent::Failed;
        }
    }
    if socket.flush().await.is_err() {
        return Sent::Failed;
    }
    Sent::Open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_the_protocol_limit() {
        assert_eq!(close_reason(&SetupError::Denied), "Bad request.");
        let long = SetupError::Undecodable("é".repeat(100));
        assert!(close_reason(&long).len() <= 123);
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
