//! Server-Sent Events: `event:`/`data:` frames, `: heartbeat` comments, and
//! `rig.session_killed` before the stream ends on a blacklist.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use tokio::time::MissedTickBehavior;

use super::{
    connect::{self, ConnectParams, SetupError},
    notice_frame, open_stream, ConnGuard,
};
use crate::{
    app::Shared,
    http::error::json_error,
    hub::{Item, Outbox, Transport},
};

const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// `/_rig/v1/connection/sse` (any method, as RIG).
pub async fn handler(State(app): State<Shared>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let mut params = ConnectParams::from_query(query.as_deref());
    // EventSource sends the id of the last event it got when it reconnects.
    if let Some(id) = headers.get("last-event-id").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
        params.last_event_id = Some(id.to_string());
    }
    let accepted = match connect::set_up(&app, &params, connect::user_agent(&headers)).await {
        Ok(a) => a,
        Err(e) => {
            let status = if e == SetupError::RateLimited { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::BAD_REQUEST };
            return json_error(status, e.message()).into_response();
        }
    };
    let (outbox, guard) = open_stream(&app, Transport::Sse, accepted);
    let body = Body::from_stream(frames(outbox, guard, app.config.heartbeat_interval));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, app.config.cors.as_str()),
        ],
        body,
    )
        .into_response()
}

struct Writer {
    outbox: Arc<Outbox>,
    heartbeat: tokio::time::Interval,
    items: Vec<Item>,
    closing: bool,
    guard: ConnGuard,
}

/// The body stream: queued frames (batched into one chunk), heartbeats when
/// idle, and the end of the stream after a closing event.
fn frames(outbox: Arc<Outbox>, guard: ConnGuard, every: Duration) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let writer = Writer { outbox, heartbeat, items: Vec::new(), closing: false, guard };
    futures_util::stream::unfold(writer, |mut w| async move {
        if w.closing {
            return None;
        }
        let outbox = w.outbox.clone();
        tokio::select! {
            _ = outbox.recv(&mut w.items) => {}
            _ = w.heartbeat.tick() => return Some((Ok(Bytes::from_static(HEARTBEAT)), w)),
        }
        let chunk = w.render();
        Some((Ok(chunk), w))
    })
}

impl Writer {
    /// Everything received as one chunk; a close item renders its RIG event and
    /// ends the stream after it.
    fn render(&mut self) -> Bytes {
        let mut chunks: Vec<Bytes> = Vec::with_capacity(self.items.len());
        for item in self.items.drain(..) {
            if let Item::Close(_) = item {
                self.closing = true;
            }
            match (item, &mut chunks) {
                (Item::Frame(f), c) => {
                    self.guard.handed_over([&*f]);
                    c.push(f.sse.clone())
                }
                (other, c) => c.extend(notice_frame(&other).map(|f| f.sse)),
            }
            if self.closing {
                break;
            }
        }
        if chunks.len() == 1 {
            return chunks.pop().expect("one chunk");
        }
        let mut buf = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        for c in chunks {
            buf.extend_from_slice(&c);
        }
        buf.freeze()
    }
}
