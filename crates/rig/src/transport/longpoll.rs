//! HTTP long-polling: a server-side session found by the `connection_token`
//! cookie, a ring buffer of recent events, and a `last_event_id` cursor cookie.

use std::{net::IpAddr, sync::Arc};

use bytes::Bytes;

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Extension,
};

use super::{cookie, user_agent, Peer};
use crate::{
    hub::{self, LpBuffer, Sink, Transport},
    session::connect::{ConnectParams, SetupError},
    state::Shared,
    support::response::json_error,
};

/// `GET /_rig/v1/connection/longpolling`. A session held by another live
/// node is polled there (its answer, cookies included, is ours).
pub async fn handler(
    State(app): State<Shared>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<Peer>>,
) -> Response {
    if app.sessions.misdirected(&headers) {
        return crate::cluster::forward::misdirected_answer();
    }
    let token = cookie::get(&headers, "connection_token");
    if let (Some(node), Some(cluster)) = (token.as_deref().and_then(|t| app.sessions.holder_elsewhere(t, &headers)), &app.cluster) {
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        if let Some(r) = cluster.forward_http(node, Method::GET, path, &headers, Bytes::new()).await {
            return r;
        }
    }
    let existing =
        token.and_then(|t| app.sessions.open_token(&t)).and_then(|id| app.hub.lp_buffer(id).filter(|b| !b.is_closed()).map(|b| (id, b)));
    match existing {
        Some((id, buffer)) => poll(&app, id, buffer, &headers).await,
        None => {
            let params = ConnectParams::from_query(query.as_deref());
            start(&app, &params, user_agent(&headers), peer.map(|Extension(p)| p.remote.ip())).await
        }
    }
}

/// `OPTIONS /_rig/v1/connection/longpolling`: CORS preflight.
pub async fn options(State(app): State<Shared>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    with_cors(&app, r.headers_mut());
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
    r
}

/// A new session: its buffer starts with `rig.connection.create` and
/// `rig.subscriptions_set`; the answer itself is just `"ok"` and the cookies.
async fn start(app: &Shared, params: &ConnectParams, user_agent: Option<String>, client: Option<IpAddr>) -> Response {
    let slot = match client.map(|ip| app.longpoll_sessions.try_hold(ip)) {
        Some(None) => {
            let msg = "too many long-polling sessions from this address (RIG_MAX_LONGPOLL_SESSIONS_PER_IP)";
            let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, msg);
            with_cors(app, r.headers_mut());
            return r;
        }
        Some(slot) => slot,
        None => None,
    };
    let accepted = match app.sessions.set_up_longpoll(params, user_agent).await {
        Ok(a) => a,
        Err(SetupError::RateLimited) => return json_error(StatusCode::TOO_MANY_REQUESTS, SetupError::RateLimited.message()),
        Err(e) => {
            let mut r = json_error(StatusCode::BAD_REQUEST, e.message());
            with_cors(app, r.headers_mut());
            return r;
        }
    };
    let id = app.hub.new_id();
    let buffer = Arc::new(LpBuffer::holding(app.config.hub.longpoll_buffer, slot));
    app.sessions.open(id, Transport::LongPolling, Sink::Poll(buffer), accepted);
    respond(app, &app.sessions.seal_token(id), "first_event", "\"ok\"".into())
}

/// An existing session: the events after the client's cursor, waiting a while
/// for some when there are none yet.
async fn poll(app: &Shared, id: hub::ConnId, buffer: Arc<LpBuffer>, headers: &HeaderMap) -> Response {
    let cursor = cookie::decode_event_id(cookie::get(headers, "last_event_id").as_deref());
    let result = buffer.poll(&cursor, app.config.longpoll_wait).await;
    app.sessions.handed_over(result.frames.iter().map(|f| &**f));
    let mut body = String::with_capacity(64 + result.frames.iter().map(|f| f.json.len() + 1).sum::<usize>());
    body.push_str("{\"last_event_id\":");
    body.push_str(&serde_json::to_string(&result.last_event_id).expect("strings serialise"));
    body.push_str(",\"events\":[");
    for (i, f) in result.frames.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(std::str::from_utf8(&f.json).expect("frames hold UTF-8 JSON"));
    }
    body.push_str("]}");
    respond(app, &app.sessions.seal_token(id), &result.last_event_id, body)
}

fn respond(app: &Shared, token: &str, last_event_id: &str, body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    with_cors(app, r.headers_mut());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    for c in [cookie::set("connection_token", token), cookie::set("last_event_id", &cookie::encode_event_id(last_event_id))] {
        h.append(header::SET_COOKIE, HeaderValue::from_str(&c).expect("cookie values are encoded to visible ASCII"));
    }
    r
}

fn with_cors(app: &Shared, h: &mut HeaderMap) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header());
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
}
