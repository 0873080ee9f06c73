//! RIG 1.x's session endpoints (`RigWeb.Presence.Controller`), each behind
//! 1.x's `JwtPlug`: the `Authorization` token must be valid and list the
//! action under `scopes.rg.actions`, else 403.
//!
//! - `GET /rg/sessions` (`getSessions`): the users present in channel
//!   `role:<SESSION_ROLE>`, as a list of names.
//! - `GET /rg/sessions/{id}` (`getSessionConnections`): the metas of every
//!   device present in channel `user:<id>`.
//! - `DELETE /rg/connections/{jti}` (`deleteConnection`): blacklists a token
//!   id until the caller's token expires (1.x: its own default without one),
//!   which closes that session's sockets on every transport and node.
//!
//! Presence is cluster-wide, so both listings cover every node.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use crate::{
    auth::jwt::bearer_tokens,
    state::Shared,
    support::response::{json_error, json_response},
};

/// Blacklisting lasts this long when the caller's token has no `exp`.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// 1.x's `JwtPlug`: the claims of a valid token granting `action`. 1.x read
/// the first `Authorization` value as the token itself; `Bearer <token>` is
/// taken too. Unlike 1.x, a refused request has no effect (1.x ran the
/// action, then replaced its answer with the 403).
async fn authorized(app: &Shared, headers: &HeaderMap, action: &str) -> Result<Value, Response> {
    let refused = || json_error(StatusCode::FORBIDDEN, "Unauthorized").into_response();
    let first = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(refused)?;
    let token = bearer_tokens([first]).into_iter().next().unwrap_or(first.trim());
    let claims = app.auth.verify(token).await.map_err(|_| refused())?;
    let granted = claims
        .pointer("/scopes/rg/actions")
        .and_then(Value::as_array)
        .is_some_and(|actions| actions.iter().any(|a| a.as_str() == Some(action)));
    if granted {
        Ok(claims)
    } else {
        Err(refused())
    }
}

/// `GET /rg/sessions`.
pub async fn sessions(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorized(&app, &headers, "getSessions").await {
        return refused;
    }
    let users = app.sessions.presence.keys(&format!("role:{}", app.config.session_role));
    json_response(StatusCode::OK, Value::from(users).to_string())
}

/// `GET /rg/sessions/{id}`.
pub async fn session_connections(State(app): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorized(&app, &headers, "getSessionConnections").await {
        return refused;
    }
    let metas = app.sessions.presence.metas(&format!("user:{id}"));
    json_response(StatusCode::OK, Value::from(metas).to_string())
}

/// `DELETE /rg/connections/{jti}`.
pub async fn disconnect(State(app): State<Shared>, Path(jti): Path<String>, headers: HeaderMap) -> Response {
    let claims = match authorized(&app, &headers, "deleteConnection").await {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let ttl = claims.get("exp").and_then(Value::as_u64).map(|exp| Duration::from_secs(exp.saturating_sub(now).max(1)));
    let closed = app.sessions.blacklist(&jti, ttl.unwrap_or(DEFAULT_TTL));
    tracing::info!(connections = closed, "Token id blacklisted (DELETE /rg/connections).");
    (StatusCode::NO_CONTENT, [(header::CONTENT_TYPE, "application/json")]).into_response()
}
