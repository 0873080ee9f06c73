//! WebSocket: one text frame per event, pings as heartbeats, server-only
//! (a client data frame closes the connection, as RIG).

use std::sync::Arc;

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        RawQuery, State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::SinkExt;
use tokio::time::MissedTickBehavior;

use super::{
    connect::{self, Accepted, ConnectParams, SetupError},
    notice_frame, open_stream,
};
use crate::{
    app::Shared,
    http::error::json_error,
    hub::{CloseReason, Item, Transport},
};

/// Read buffer of each WebSocket (see `handler`).
const WS_READ_BUFFER: usize = 4 * 1024;

/// Close code for every server-side close (RIG uses 1000 throughout).
const NORMAL: u16 = 1000;
const TWO_WAY: &str = "This WebSocket endpoint cannot be used for two-way communication.";

/// `GET /_rig/v1/connection/ws`: the upgrade always succeeds; a refused
/// connection is then closed with a reason, as RIG does.
pub async fn handler(
    State(app): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("expected a WebSocket upgrade: {e}")).into_response(),
    };
    let params = ConnectParams::from_query(query.as_deref());
    let setup = connect::set_up(&app, &params, connect::user_agent(&headers)).await;
    // tungstenite preallocates its read buffer per socket (128 KiB by default):
    // most of an idle WebSocket's memory. Frontends send little; 4 KiB is plenty
    // (longer messages still arrive, in more reads).
    let upgrade = upgrade.read_buffer_size(WS_READ_BUFFER);
    upgrade.on_upgrade(move |socket| async move {
        match setup {
            Ok(accepted) => run(socket, app, accepted).await,
            Err(e) => close(socket, &close_reason(&e)).await,
        }
    })
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
    close_code(socket, NORMAL, reason).await
}

async fn close_code(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Close codes and reasons for server-initiated closes.
async fn close_with(socket: WebSocket, reason: CloseReason) {
    match reason {
        CloseReason::SessionKilled => close(socket, "Session killed.").await,
        // 1013 "try again later": the client should reconnect and resume.
        CloseReason::SlowConsumer => close_code(socket, 1013, "Slow consumer.").await,
        // 1001 "going away": reconnect to another node.
        CloseReason::Shutdown => close_code(socket, 1001, "Server shutting down.").await,
    }
}

async fn run(mut socket: WebSocket, app: Shared, accepted: Accepted) {
    let (outbox, guard) = open_stream(&app, Transport::Ws, accepted);
    let mut items = Vec::new();
    let every = app.config.heartbeat_interval;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = outbox.recv(&mut items) => {
                for item in items.drain(..) {
                    let frame = match item {
                        Item::Frame(f) => {
                            guard.handed_over([&*f]);
                            f
                        }
                        Item::Close(reason) => return close_with(socket, reason).await,
                        missed => Arc::new(notice_frame(&missed).expect("a missed notice renders")),
                    };
                    // Queue everything that is waiting, then write it with one flush
                    // (one syscall for a burst, as the SSE writer does with one chunk).
                    if socket.feed(Message::Text(frame.ws.clone())).await.is_err() {
                        return;
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(_) | Message::Binary(_))) => return close(socket, TWO_WAY).await,
                // Pongs are ignored; pings are answered by the protocol layer on the next write.
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
        }
    }
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
}
