//! `PUT /_rig/v1/connection/{sse|ws|longpolling}/{token}/subscriptions`:
//! replaces a live connection's subscriptions (RIG's processing order and texts).
//! In a cluster, a connection on another node is updated by that node.

use crate::support::response::json_error;
use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{body, proxy};
use crate::{session::update::UpdateRequest, state::Shared};

const TRANSPORTS: [&str; 3] = ["sse", "ws", "longpolling"];

/// The PUT handler. Any transport name works with any token, as in RIG. A
/// token of a connection on another live node sends the request there.
pub async fn put(
    State(app): State<Shared>,
    Path((transport, token)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !TRANSPORTS.contains(&transport.as_str()) {
        return proxy::not_found();
    }
    if app.sessions.misdirected(&headers) {
        return crate::cluster::forward::misdirected_answer();
    }
    let mut r = match app.sessions.holder_elsewhere(&token, &headers) {
        Some(node) => forward(&app, node, &uri, &headers, body).await,
        None => match replace(&app, &token, &headers, body).await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(r) => r,
        },
    };
    r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header());
    r
}

/// Passes the PUT to the node holding the connection; its answer is ours.
async fn forward(app: &Shared, node: u64, uri: &Uri, headers: &HeaderMap, body: Body) -> Response {
    let body = match body::read(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let cluster = app.cluster.as_ref().expect("a holder elsewhere implies a cluster");
    match cluster.forward_http(node, Method::PUT, path, headers, body).await {
        Some(r) => r,
        // The node went away with its connections.
        None => json_error(StatusCode::GONE, "Connection no longer exists."),
    }
}

/// CORS preflight for the PUT.
pub async fn options(State(app): State<Shared>, Path((transport, _)): Path<(String, String)>) -> Response {
    if !TRANSPORTS.contains(&transport.as_str()) {
        return proxy::not_found();
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header());
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("PUT"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type,authorization"));
    r
}

async fn replace(app: &Shared, token: &str, headers: &HeaderMap, body: Body) -> Result<(), Response> {
    accepts_json(headers)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let is_json = rig_core::event::is_json_media_type(content_type.as_deref());
    let body = body::read(body, app.config.max_body_bytes).await?;
    let bad = |m: String| json_error(StatusCode::BAD_REQUEST, &m);
    if !is_json {
        return Err(bad("Expected JSON encoded body. The content-type must be application/json.".into()));
    }
    app.config.subscription_limits.check_bytes(body.len()).map_err(bad)?;
    let request: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("Expected JSON encoded body. {e}")))?;
    let Some(given) = request.get("subscriptions") else {
        return Err(bad("Expected field \"subscriptions\" is not present. The body must be {\"subscriptions\": [...]}.".into()));
    };
    let raw_auth = headers.get_all(header::AUTHORIZATION);
    let auth: Vec<&str> = raw_auth.iter().filter_map(|v| v.to_str().ok()).collect();
    if auth.len() != raw_auth.iter().count() {
        return Err(bad("cannot accept subscription request: invalid authorization header: not ASCII text".into()));
    }
    let update = UpdateRequest { body: &body, content_type: content_type.as_deref(), authorization: &auth, subscriptions: given };
    app.sessions.update(token, update).await.map_err(|r| json_error(r.status, &r.message))
}

/// 406 unless `Accept` is absent or allows `application/json`.
fn accepts_json(headers: &HeaderMap) -> Result<(), Response> {
    let values: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
    let ok = values.is_empty()
        || values.iter().flat_map(|v| v.split(',')).any(|range| {
            let essence = range.split(';').next().unwrap_or("").trim();
            essence == "*/*" || essence.eq_ignore_ascii_case("application/json")
        });
    if ok {
        Ok(())
    } else {
        Err(json_error(
            StatusCode::NOT_ACCEPTABLE,
            &format!("no supported media type in accept header {values:?}; supported: [\"application/json\"]"),
        ))
    }
}
