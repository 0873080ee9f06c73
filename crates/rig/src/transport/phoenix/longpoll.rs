//! `GET`/`POST /socket/longpoll`: Phoenix's long-poll transport, in its own
//! format. A GET without a session token opens a session (`{"status":410,
//! "token":..}`); a GET with one waits for messages (`200` with `messages`,
//! or `204` after `RIG_LONGPOLL_WAIT_MS`); a POST carries client messages
//! (one, or several as NDJSON). phoenix.js appends the session token as a
//! second `token` parameter after the socket's own (the JWT), so the last
//! `token` that opens as one of our connection tokens names the session.
//! Sessions nobody polls for [`IDLE`] are dropped.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use bytes::Bytes;

use super::{
    message::{Message, Vsn},
    socket::Socket,
};
use crate::{
    hub::{ConnId, Item, Outbox},
    limit::Held,
    session::guard::ConnGuard,
    state::Shared,
    support::response::json_error,
    support::sync::lock,
    transport::{user_agent, Peer},
};

/// A session not polled for this long is dropped (Phoenix's default window is 10 s).
const IDLE: Duration = Duration::from_secs(20);
/// Client messages one POST may carry.
const MAX_BATCH: usize = 256;
/// Replies waiting for the next GET; a client that posts and never polls loses the oldest.
const MAX_REPLIES: usize = 1024;

/// This gateway's long-poll sessions (one per router, kept in an `Extension`).
#[derive(Default)]
pub struct Polls {
    sessions: Mutex<HashMap<ConnId, Arc<PollSession>>>,
    sweeping: std::sync::atomic::AtomicBool,
}

struct PollSession {
    _guard: ConnGuard,
    /// Its place among the client address's `RIG_MAX_LONGPOLL_SESSIONS_PER_IP`.
    _slot: Option<Held>,
    outbox: Arc<Outbox>,
    socket: Mutex<Socket>,
    replies: Mutex<Vec<String>>,
    replied: tokio::sync::Notify,
    last_seen: Mutex<Instant>,
    /// One waiting GET at a time.
    polling: tokio::sync::Mutex<()>,
}

struct Query {
    tokens: Vec<String>,
    vsn: Vsn,
}

fn query(raw: Option<&str>) -> Query {
    let mut q = Query { tokens: Vec::new(), vsn: Vsn::V1 };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*k {
            "token" if !v.is_empty() => q.tokens.push(v.into_owned()),
            "vsn" => q.vsn = Vsn::parse(Some(&v)),
            _ => {}
        }
    }
    q
}

fn json(app: &Shared, body: String) -> Response {
    let headers =
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json")), (header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header())];
    (headers, body).into_response()
}

impl Polls {
    fn find(&self, app: &Shared, tokens: &[String]) -> Option<(ConnId, Arc<PollSession>)> {
        let id = tokens.iter().rev().find_map(|t| app.sessions.open_token(t))?;
        lock(&self.sessions).get(&id).map(|s| (id, s.clone()))
    }

    fn remove(&self, id: ConnId) {
        lock(&self.sessions).remove(&id);
    }

    /// Drops idle sessions every few seconds while any exist; ends with the router.
    fn sweep(self: &Arc<Self>) {
        if self.sweeping.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Polls> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(polls) = weak.upgrade() else { return };
                lock(&polls.sessions).retain(|_, s| lock(&s.last_seen).elapsed() < IDLE);
            }
        });
    }
}

pub async fn get(
    State(app): State<Shared>,
    Extension(polls): Extension<Arc<Polls>>,
    RawQuery(raw): RawQuery,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
) -> Response {
    let q = query(raw.as_deref());
    if let Some((id, session)) = polls.find(&app, &q.tokens) {
        return poll(&app, &polls, id, session, q.vsn).await;
    }
    // No session: one whose token we signed is gone; anything else is a new socket's JWT.
    if q.tokens.iter().any(|t| app.sessions.open_token(t).is_some()) {
        return json(&app, r#"{"status":410}"#.into());
    }
    // The same per-address bound as the 3.0 long-polling sessions.
    let slot = match peer.map(|Extension(p)| app.longpoll_sessions.try_hold(p.remote.ip())) {
        Some(None) => {
            let msg = "too many long-polling sessions from this address (RIG_MAX_LONGPOLL_SESSIONS_PER_IP)";
            let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, msg);
            r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header());
            return r;
        }
        Some(slot) => slot,
        None => None,
    };
    let user = match app.sessions.channel_connect(q.tokens.first().map(String::as_str), user_agent(&headers)).await {
        Ok(user) => user,
        Err(_) => return json(&app, r#"{"status":403}"#.into()),
    };
    let (outbox, guard) = app.sessions.open_channels(&user);
    let id = guard.id();
    let session = PollSession {
        socket: Mutex::new(Socket::new(id, user)),
        _guard: guard,
        _slot: slot,
        outbox,
        replies: Mutex::new(Vec::new()),
        replied: tokio::sync::Notify::new(),
        last_seen: Mutex::new(Instant::now()),
        polling: tokio::sync::Mutex::new(()),
    };
    lock(&polls.sessions).insert(id, Arc::new(session));
    polls.sweep();
    let token = app.sessions.seal_token(id);
    json(&app, serde_json::json!({"status": 410, "token": token}).to_string())
}

async fn poll(app: &Shared, polls: &Polls, id: ConnId, session: Arc<PollSession>, vsn: Vsn) -> Response {
    let token = app.sessions.seal_token(id);
    let Ok(_one) = session.polling.try_lock() else {
        return json(app, serde_json::json!({"status": 204, "token": token}).to_string());
    };
    *lock(&session.last_seen) = Instant::now();
    let mut items = Vec::new();
    let mut messages = std::mem::take(&mut *lock(&session.replies));
    if messages.is_empty() {
        tokio::select! {
            _ = session.outbox.recv(&mut items) => {},
            () = session.replied.notified() => {},
            () = tokio::time::sleep(app.config.longpoll_wait) => {},
        }
        messages.append(&mut lock(&session.replies));
    }
    let mut closed = false;
    for item in items {
        match item {
            Item::Frame(f) => {
                if let Some(p) = &f.phoenix {
                    messages.push(match vsn {
                        Vsn::V1 => p.v1.as_str().to_string(),
                        Vsn::V2 => p.v2.as_str().to_string(),
                    });
                }
            }
            Item::Close(_) => closed = true,
            Item::Heartbeat | Item::Missed(_) => {}
        }
    }
    *lock(&session.last_seen) = Instant::now();
    if closed {
        polls.remove(id);
        return json(app, r#"{"status":410}"#.into());
    }
    if messages.is_empty() {
        return json(app, serde_json::json!({"status": 204, "token": token}).to_string());
    }
    // Serializer 2.0.0 clients take each message as its encoded text; 1.0.0 (phoenix.js 1.2) as objects.
    let list: Vec<String> = match vsn {
        Vsn::V2 => messages.iter().map(|m| serde_json::to_string(m).expect("a string serialises")).collect(),
        Vsn::V1 => messages,
    };
    json(
        app,
        format!(
            r#"{{"status":200,"token":{},"messages":[{}]}}"#,
            serde_json::to_string(&token).expect("a string serialises"),
            list.join(",")
        ),
    )
}

pub async fn post(State(app): State<Shared>, Extension(polls): Extension<Arc<Polls>>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let q = query(raw.as_deref());
    let Some((_, session)) = polls.find(&app, &q.tokens) else {
        return json(&app, r#"{"status":410}"#.into());
    };
    let Ok(text) = std::str::from_utf8(&body) else { return json(&app, r#"{"status":400}"#.into()) };
    let mut replies = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(MAX_BATCH) {
        let Some(msg) = Message::decode(q.vsn, line) else { return json(&app, r#"{"status":400}"#.into()) };
        replies.extend(lock(&session.socket).handle(&app.sessions, msg).into_iter().map(|r| r.encode(q.vsn)));
    }
    {
        let mut pending = lock(&session.replies);
        pending.extend(replies);
        let excess = pending.len().saturating_sub(MAX_REPLIES);
        pending.drain(..excess);
    }
    session.replied.notify_one();
    json(&app, r#"{"status":200}"#.into())
}
