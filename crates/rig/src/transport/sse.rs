//! Server-Sent Events: `event:`/`data:` frames, `: heartbeat` comments, and
//! `rig.session_killed` before the stream ends on a blacklist.

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use bytes::{Bytes, BytesMut};

use super::{
    render::{self, Kind},
    takeover::{self, Direct, StreamOutbox, Takeover},
    user_agent,
};
use crate::{
    hub::{Item, Outbox, Transport},
    session::{
        connect::{ConnectParams, SetupError},
        guard::ConnGuard,
    },
    state::Shared,
    support::response::json_error,
};

/// The endpoint's path (the server takes over plain-HTTP GETs of it).
pub const PATH: &str = "/_rig/v1/connection/sse";

/// `/_rig/v1/connection/sse` (any method, as RIG).
pub async fn handler(
    State(app): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    direct: Option<Extension<Direct>>,
) -> Response {
    let mut params = ConnectParams::from_query(query.as_deref());
    // EventSource sends the id of the last event it got when it reconnects.
    if let Some(id) = headers.get("last-event-id").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
        params.last_event_id = Some(id.to_string());
    }
    let accepted = match app.sessions.set_up(&params, user_agent(&headers)).await {
        Ok(a) => a,
        Err(e) => {
            let status = if e == SetupError::RateLimited { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::BAD_REQUEST };
            return json_error(status, e.message()).into_response();
        }
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header()),
    ];
    if direct.is_some() {
        // The server writes the stream itself (see `transport::wire`).
        let mut response = headers.into_response();
        response.extensions_mut().insert(Takeover::Stream(takeover::open(&app, Transport::Sse, accepted)));
        return response;
    }
    let (outbox, guard) = app.sessions.open_stream(Transport::Sse, accepted);
    let mut response = (headers, Body::from_stream(frames(outbox.clone(), guard))).into_response();
    response.extensions_mut().insert(StreamOutbox(outbox));
    response
}

struct Writer {
    outbox: Arc<Outbox>,
    items: Vec<Item>,
    closing: bool,
    guard: ConnGuard,
}

/// The body stream hyper writes (TLS connections): queued frames batched into
/// one chunk, heartbeats from the hub's sweep, the end after a closing event.
fn frames(outbox: Arc<Outbox>, guard: ConnGuard) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let writer = Writer { outbox, items: Vec::new(), closing: false, guard };
    futures_util::stream::unfold(writer, |mut w| async move {
        if w.closing {
            return None;
        }
        let outbox = w.outbox.clone();
        outbox.recv(&mut w.items).await;
        let chunk = w.render();
        Some((Ok(chunk), w))
    })
}

impl Writer {
    /// Everything received as one chunk (hyper adds the chunked framing); a
    /// close item renders its RIG event and ends the stream after it.
    fn render(&mut self) -> Bytes {
        let mut chunks: Vec<Bytes> = Vec::with_capacity(self.items.len());
        self.closing = render::render(&mut self.items, Kind::SseRaw, &self.guard, &mut chunks);
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
