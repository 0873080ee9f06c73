//! `GET /socket/websocket`: Phoenix's WebSocket transport. A refused socket
//! gets 403 before the upgrade, as Phoenix answers a failed `connect/2`
//! (phoenix.js then retries with back-off). Channel messages arrive through the
//! connection's outbox as frames the hub encoded once per serializer.

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade},
        RawQuery, State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::SinkExt;

use super::{
    message::{Message, Vsn},
    socket::Socket,
    Params,
};
use crate::{
    hub::{CloseReason, Item},
    session::{channel::ChannelUser, connect::SetupError},
    state::Shared,
    support::response::json_error,
    transport::{
        close::close_code,
        user_agent,
        wire::KILL_WRITE_BOUND,
        ws_frames::{self, Budget},
    },
};

/// Read buffer per socket: clients send joins and heartbeats only.
const WS_READ_BUFFER: usize = 1024;
/// Largest client message: joins and heartbeats are small.
const MAX_MESSAGE: usize = 64 * 1024;

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
    let params = Params::from_query(query.as_deref());
    let user = match app.sessions.channel_connect(params.token.as_deref(), user_agent(&headers)).await {
        Ok(user) => user,
        Err(e) => return refused(&e),
    };
    let upgrade = upgrade.read_buffer_size(WS_READ_BUFFER).max_message_size(MAX_MESSAGE);
    upgrade.on_upgrade(move |socket| run(socket, app, user, params.vsn))
}

/// Phoenix answers a refused `connect/2` with 403; RIG's rate limit keeps its 429.
pub fn refused(e: &SetupError) -> Response {
    tracing::debug!(reason = e.message(), "Phoenix socket refused.");
    match e {
        SetupError::RateLimited => json_error(StatusCode::TOO_MANY_REQUESTS, e.message()).into_response(),
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

async fn run(mut ws: WebSocket, app: Shared, user: ChannelUser, vsn: Vsn) {
    let (outbox, guard) = app.sessions.open_channels(&user);
    let mut socket = Socket::new(guard.id(), user);
    let mut budget = Budget::new(app.config.ws_control_rate);
    let mut items = Vec::new();
    loop {
        tokio::select! {
            _ = outbox.recv(&mut items) => {
                let end = tokio::select! {
                    end = send(&mut ws, &mut items, vsn, &guard) => end,
                    () = std::future::poll_fn(|cx| outbox.poll_killed(cx)) => Some(CloseReason::SessionKilled),
                };
                match end {
                    None => {}
                    Some(reason) => {
                        let _ = tokio::time::timeout(KILL_WRITE_BOUND, close(ws, reason)).await;
                        return;
                    }
                }
            },
            incoming = ws.recv() => match incoming {
                None | Some(Err(_)) => return,
                Some(Ok(WsMessage::Close(_))) => {
                    let _ = tokio::time::timeout(KILL_WRITE_BOUND, ws.flush()).await;
                    return;
                }
                Some(Ok(WsMessage::Text(text))) => {
                    let Some(msg) = Message::decode(vsn, text.as_str()) else {
                        tracing::debug!("Undecodable Phoenix message; closing.");
                        return;
                    };
                    for reply in socket.handle(&app.sessions, msg) {
                        if ws.feed(WsMessage::Text(reply.encode(vsn).into())).await.is_err() {
                            return;
                        }
                    }
                    if ws.flush().await.is_err() {
                        return;
                    }
                }
                Some(Ok(WsMessage::Binary(_))) => return,
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                    if !budget.spend(1, std::time::Instant::now()) {
                        let frame = CloseFrame { code: ws_frames::POLICY_VIOLATION, reason: Utf8Bytes::from(ws_frames::FLOODED) };
                        let _ = ws.send(WsMessage::Close(Some(frame))).await;
                        return;
                    }
                }
            },
        }
    }
}

/// Writes what the outbox handed over; returns why to close, if it must.
async fn send(ws: &mut WebSocket, items: &mut Vec<Item>, vsn: Vsn, guard: &crate::session::guard::ConnGuard) -> Option<CloseReason> {
    for item in items.drain(..) {
        match item {
            Item::Frame(f) => {
                guard.handed_over([&*f]);
                // Only channel messages are subscribed; anything else is not for this protocol.
                let Some(p) = &f.phoenix else { continue };
                let text = match vsn {
                    Vsn::V1 => p.v1.clone(),
                    Vsn::V2 => p.v2.clone(),
                };
                if ws.feed(WsMessage::Text(text)).await.is_err() {
                    return Some(CloseReason::SlowConsumer);
                }
            }
            Item::Close(reason) => return Some(reason),
            Item::Heartbeat => {
                if ws.feed(WsMessage::Ping(Bytes::new())).await.is_err() {
                    return Some(CloseReason::SlowConsumer);
                }
            }
            // Phoenix has no notice for missed messages (RIG 1.x dropped nothing, and bounded nothing).
            Item::Missed(_) => {}
        }
    }
    if ws.flush().await.is_err() {
        return Some(CloseReason::SlowConsumer);
    }
    None
}

/// Session kills close with 1000 (phoenix.js 1.8 then stays closed), shutdown
/// with 1001 (it reconnects and rejoins, to this node or another).
async fn close(mut ws: WebSocket, reason: CloseReason) {
    let (code, text) = close_code(reason);
    let _ = ws.send(WsMessage::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(text) }))).await;
}
