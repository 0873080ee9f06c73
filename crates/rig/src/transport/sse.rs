//! Server-Sent Events: `event:`/`data:` frames, `: heartbeat` comments, and
//! `rig.session_killed` before the stream ends on a blacklist.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use tokio::{sync::mpsc, time::MissedTickBehavior};

use super::{
    connect::{self, ConnectParams, SetupError},
    open_stream, ConnGuard,
};
use crate::{
    app::Shared,
    http::error::json_error,
    hub::{CloseReason, Frame, Outgoing, Transport},
};

const HEARTBEAT: &[u8] = b": heartbeat\n\n";
/// Frames already queued are written as one chunk, up to this many bytes.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// `/_rig/v1/connection/sse` (any method, as RIG).
pub async fn handler(State(app): State<Shared>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let params = ConnectParams::from_query(query.as_deref());
    let accepted = match connect::set_up(&app, &params, connect::user_agent(&headers)).await {
        Ok(a) => a,
        Err(e) => {
            let status = if e == SetupError::RateLimited { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::BAD_REQUEST };
            return json_error(status, e.message()).into_response();
        }
    };
    let (rx, guard) = open_stream(&app, Transport::Sse, accepted);
    let body = Body::from_stream(frames(rx, guard, app.config.heartbeat_interval));
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
    rx: mpsc::Receiver<Outgoing>,
    heartbeat: tokio::time::Interval,
    closing: bool,
    _guard: ConnGuard,
}

/// The body stream: queued frames (batched), heartbeats when idle, and the end
/// of the stream after `rig.session_killed`.
fn frames(
    rx: mpsc::Receiver<Outgoing>,
    guard: ConnGuard,
    every: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let writer = Writer { rx, heartbeat, closing: false, _guard: guard };
    futures_util::stream::unfold(writer, |mut w| async move {
        if w.closing {
            return None;
        }
        let first = tokio::select! {
            msg = w.rx.recv() => msg?,
            _ = w.heartbeat.tick() => return Some((Ok(Bytes::from_static(HEARTBEAT)), w)),
        };
        let chunk = w.batch(first);
        Some((Ok(chunk), w))
    })
}

impl Writer {
    /// Turns one message, plus whatever else is already queued, into one chunk.
    fn batch(&mut self, first: Outgoing) -> Bytes {
        let first = self.render(first);
        let mut buf: Option<BytesMut> = None;
        loop {
            let len = buf.as_ref().map_or(first.len(), BytesMut::len);
            if self.closing || len >= MAX_BATCH_BYTES {
                break;
            }
            let Ok(next) = self.rx.try_recv() else { break };
            let bytes = self.render(next);
            buf.get_or_insert_with(|| BytesMut::from(&first[..])).extend_from_slice(&bytes);
        }
        buf.map_or(first, BytesMut::freeze)
    }

    /// The bytes of one message; a close request renders `rig.session_killed`
    /// and ends the stream after it.
    fn render(&mut self, msg: Outgoing) -> Bytes {
        match msg {
            Outgoing::Frame(f) => f.sse.clone(),
            Outgoing::Close(CloseReason::SessionKilled) => {
                self.closing = true;
                Frame::system("rig.session_killed", None).sse
            }
        }
    }
}
