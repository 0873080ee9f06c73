//! `PUT /_rig/v1/connection/{sse|ws|longpolling}/{token}/subscriptions`:
//! replaces a live connection's subscriptions (RIG's processing order and texts).
//! In a cluster, a connection on another node is updated by that node.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use rig_core::subscription;
use serde_json::{Map, Value};

use super::{body, error::json_error, proxy};
use crate::{
    app::{Shared, TokenTarget},
    auth::{
        check::{CheckRequest, Decision},
        jwt::bearer_tokens,
    },
    hub::{Gone, SessionsRefused},
};

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
    let mut r = match app.holder_elsewhere(&token, &headers) {
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
    let limits = &app.config.subscription_limits;
    limits.check_bytes(body.len()).map_err(bad)?;
    let request: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("Expected JSON encoded body. {e}")))?;
    let Some(given) = request.get("subscriptions") else {
        return Err(bad("Expected field \"subscriptions\" is not present. The body must be {\"subscriptions\": [...]}.".into()));
    };
    let raw_auth = headers.get_all(header::AUTHORIZATION);
    let auth: Vec<&str> = raw_auth.iter().filter_map(|v| v.to_str().ok()).collect();
    if auth.len() != raw_auth.iter().count() {
        return Err(bad("cannot accept subscription request: invalid authorization header: not ASCII text".into()));
    }
    // For the check, a credential without a scheme counts as a bearer token (RIG).
    let check_tokens: Vec<&str> =
        auth.iter().flat_map(|h| h.split(',')).map(|c| c.trim()).map(|c| c.strip_prefix("Bearer ").unwrap_or(c).trim()).collect();
    let check_request = || CheckRequest {
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type: content_type.clone().unwrap_or_default(),
        authorization: (!auth.is_empty()).then(|| auth.join(", ")),
    };
    if let Decision::Deny(status) = app.auth.check(&app.config.auth.subscription_check, &check_tokens, check_request).await {
        return Err(json_error(status, "Subscription denied."));
    }
    let gone = |_: Gone| json_error(StatusCode::GONE, "Connection no longer exists.");
    let id = match app.locate_token(token) {
        TokenTarget::Here(id) => id,
        // Held by a node that is no longer a live peer.
        TokenTarget::Node(_) => return Err(gone(Gone)),
        TokenTarget::Invalid => return Err(bad("Invalid connection token.".into())),
    };
    let mut claims = Map::new();
    let mut sessions = Vec::new();
    let mut invalid = None;
    let tokens = bearer_tokens(auth.iter().copied());
    let max_sessions = app.config.max_sessions_per_connection;
    if tokens.len() > max_sessions {
        return Err(bad(format!(
            "cannot accept subscription request: more than {max_sessions} bearer tokens (RIG_MAX_SESSIONS_PER_CONNECTION)"
        )));
    }
    for t in tokens {
        match app.auth.verify(t).await {
            Ok(c) => {
                if let Some(s) = app.auth.jwt.session_of(&c) {
                    sessions.push(s.to_string());
                }
                // Claims of several tokens are merged; later keys win.
                if let Value::Object(m) = c {
                    claims.extend(m);
                }
            }
            Err(e) => invalid = invalid.or(Some(e)),
        }
    }
    let session_refs: Vec<&str> = sessions.iter().map(String::as_str).collect();
    app.hub.add_sessions(id, &session_refs, max_sessions).map_err(|e| match e {
        SessionsRefused::Gone => gone(Gone),
        SessionsRefused::TooMany => bad(format!(
            "cannot accept subscription request: a connection belongs to at most {max_sessions} sessions (RIG_MAX_SESSIONS_PER_CONNECTION)"
        )),
    })?;
    if let Some(e) = invalid {
        return Err(bad(format!("cannot accept subscription request: invalid authorization header: could not decode JWT: {e}")));
    }
    let parse_err = |e: String| bad(format!("cannot accept subscription request: could not parse given subscriptions: {e}"));
    let items = given.as_array().ok_or_else(|| parse_err("subscriptions is expected to be a list".into()))?;
    let given = subscription::parse_list(items).map_err(|e| parse_err(e.to_string()))?;
    let claims = (!claims.is_empty()).then_some(Value::Object(claims));
    if let Err(reason) = app.auth.privileges.check(&given, claims.as_ref(), app.hub.extractors()) {
        tracing::debug!(%reason, "Subscription refused.");
        return Err(json_error(StatusCode::FORBIDDEN, "Subscription denied."));
    }
    let mut subs = claims.as_ref().map(|c| app.hub.infer_subscriptions(c)).unwrap_or_default();
    subs.extend(given);
    limits.check(&subs).map_err(bad)?;
    app.hub.set_subscriptions(id, subs).map_err(gone)
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
