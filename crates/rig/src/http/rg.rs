//! RIG 1.x's `DELETE /rg/connections/{jti}` (`RigWeb.Presence.Controller`):
//! a caller with a valid JWT in `Authorization` (1.x's `JwtPlug`) blacklists a
//! token id until the caller's token expires (1.x: its own default without
//! one), which closes that session's sockets on every transport and node.
//! `GET /rg/sessions` and `/rg/sessions/{id}` need presence, which is not built.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{auth::jwt::bearer_tokens, state::Shared, support::response::json_error};

/// Blacklisting lasts this long when the caller's token has no `exp`.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

pub async fn disconnect(State(app): State<Shared>, Path(jti): Path<String>, headers: HeaderMap) -> Response {
    let values: Vec<&str> = headers.get_all(header::AUTHORIZATION).iter().filter_map(|v| v.to_str().ok()).collect();
    let Some(token) = bearer_tokens(values.iter().copied()).into_iter().next() else {
        return json_error(StatusCode::FORBIDDEN, "Forbidden").into_response();
    };
    let Ok(claims) = app.auth.verify(token).await else {
        return json_error(StatusCode::FORBIDDEN, "Forbidden").into_response();
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let ttl = claims.get("exp").and_then(serde_json::Value::as_u64).map(|exp| Duration::from_secs(exp.saturating_sub(now).max(1)));
    let closed = app.sessions.blacklist(&jti, ttl.unwrap_or(DEFAULT_TTL));
    tracing::info!(connections = closed, "Token id blacklisted (DELETE /rg/connections).");
    (StatusCode::NO_CONTENT, [(header::CONTENT_TYPE, "application/json")]).into_response()
}
