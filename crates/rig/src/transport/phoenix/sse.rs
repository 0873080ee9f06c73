//! `GET /socket/sse?users[]=<name>&roles[]=<role>&token=<jwt>`: RIG 1.x's
//! one-way SSE transport of the Phoenix socket. Each channel is joined at
//! once and its `phx_reply` sent as an event, followed by the topic's
//! `presence_state`; then every channel message (`presence_diff` too) is
//! an event named after it (`message`) with the payload as data, and
//! `event: heartbeat` keeps the stream alive.

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};

use super::message::{Message, Vsn};
use crate::{
    hub::{Item, Outbox},
    session::{channel::JoinRefused, guard::ConnGuard, presence::Tracked},
    state::Shared,
    transport::user_agent,
};

const BAD_REQUEST: &str = "Bad request. Make sure you supply the right parameters, and that you're authorized to access the user's channel.\n\nExample: ?users[]=some.user&users[]=other.user&roles[]=support&token=my-jwt\n";

pub async fn handler(State(app): State<Shared>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let mut token = None;
    let mut topics: Vec<String> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        let topic = match &*k {
            "token" => {
                token = Some(v.into_owned());
                continue;
            }
            "users[]" => format!("user:{v}"),
            "roles[]" => format!("role:{v}"),
            _ => continue,
        };
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    let Some(token) = token else { return (StatusCode::BAD_REQUEST, BAD_REQUEST).into_response() };
    if topics.is_empty() {
        return (StatusCode::NOT_FOUND, "no channels selected\n").into_response();
    }
    let user = match app.sessions.channel_connect(Some(&token), user_agent(&headers)).await {
        Ok(user) => user,
        Err(_) => return (StatusCode::UNAUTHORIZED, "event: unauthorized\n\n").into_response(),
    };
    let mut replies = Vec::new();
    for topic in &topics {
        let join =
            Message { join_ref: Value::Null, msg_ref: Value::Null, topic: topic.clone(), event: "phx_join".into(), payload: json!({}) };
        if let Err(refused) = app.sessions.may_join(&user, topic) {
            let response = match refused {
                JoinRefused::Unauthorized(text) => json!(text),
                _ => json!({"reason": "unmatched topic"}),
            };
            return (StatusCode::INTERNAL_SERVER_ERROR, event(&join.reply("error", response))).into_response();
        }
        replies.push(join);
    }
    let (outbox, guard) = app.sessions.open_channels(&user);
    if let Err(e) = app.sessions.set_channels(guard.id(), &topics) {
        return (StatusCode::BAD_REQUEST, format!("{e:?}\n")).into_response();
    }
    // Each join answered, then its presence state; the devices' own arrivals follow as diffs.
    let mut greeting = BytesMut::new();
    let mut presences = Vec::new();
    for join in replies {
        greeting.extend_from_slice(&event(&join.reply("ok", json!({}))));
        let state = app.sessions.presence_state(&join.topic);
        greeting.extend_from_slice(format!("event: presence_state\ndata: {state}\n\n").as_bytes());
        match app.sessions.track_join(&user, &join.topic) {
            Ok(p) => presences.extend(p),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("{e:?}\n")).into_response(),
        }
    }
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header()),
    ];
    (headers, Body::from_stream(stream(greeting.freeze(), outbox, guard, presences))).into_response()
}

/// A reply as 1.x's encoder wrote it: the event name, the whole message as data.
fn event(msg: &Message) -> Bytes {
    Bytes::from(format!("event: {}\ndata: {}\n\n", msg.event, msg.encode(Vsn::V1)))
}

struct Writer {
    first: Option<Bytes>,
    outbox: Arc<Outbox>,
    items: Vec<Item>,
    closing: bool,
    guard: ConnGuard,
    /// The stream's devices, present while it lasts.
    _presences: Vec<Tracked>,
}

fn stream(
    greeting: Bytes,
    outbox: Arc<Outbox>,
    guard: ConnGuard,
    presences: Vec<Tracked>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let writer = Writer { first: Some(greeting), outbox, items: Vec::new(), closing: false, guard, _presences: presences };
    futures_util::stream::unfold(writer, |mut w| async move {
        if let Some(first) = w.first.take() {
            return Some((Ok(first), w));
        }
        if w.closing {
            return None;
        }
        let outbox = w.outbox.clone();
        outbox.recv(&mut w.items).await;
        let mut out = BytesMut::new();
        for item in w.items.drain(..) {
            match item {
                Item::Frame(f) => {
                    w.guard.handed_over([&*f]);
                    if let Some(p) = &f.phoenix {
                        out.extend_from_slice(&p.sse);
                    }
                }
                Item::Heartbeat => out.extend_from_slice(b"event: heartbeat\n\n"),
                Item::Missed(_) => {}
                Item::Close(_) => {
                    out.extend_from_slice(b"event: closing connection\n\n");
                    w.closing = true;
                    break;
                }
            }
        }
        Some((Ok(out.freeze()), w))
    })
}
