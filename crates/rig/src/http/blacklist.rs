//! `POST /v3/session-blacklist` and `GET /v3/session-blacklist/{sessionId}`
//! (also under `/v2`): RIG's validation order and texts, `location` header,
//! and the effect: every live connection of the session is closed at once and
//! tokens of it are refused from now on. Unlike RIG, no
//! `access-control-allow-origin: *`: browsers on other sites get no answer.

use crate::support::response::{json_error, json_response};
use std::time::Duration;

use axum::{
    body::Body,
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::Response,
};
use serde_json::{Map, Value};

use super::body;
use crate::state::Shared;

/// `POST .../session-blacklist`.
pub async fn add(State(app): State<Shared>, uri: Uri, RawQuery(query): RawQuery, headers: HeaderMap, body: Body) -> Response {
    match body::params(query.as_deref(), &headers, body, app.config.max_body_bytes).await {
        Err(r) => r,
        Ok(params) => match parse(&params) {
            Err(msg) => json_error(StatusCode::BAD_REQUEST, &msg),
            Ok((session, ttl)) => {
                let killed = app.sessions.blacklist(&session, ttl);
                tracing::info!(session_connections = killed, "Session blacklisted.");
                created(&format!("{}/{}", uri.path().trim_end_matches('/'), session))
            }
        },
    }
}

/// `GET .../session-blacklist/{sessionId}`: 200 `{}` while blacklisted, else 404.
pub async fn status(State(app): State<Shared>, Path(session): Path<String>) -> Response {
    if app.auth.blacklist.contains(&session) {
        json_ok(StatusCode::OK)
    } else {
        json_error(StatusCode::NOT_FOUND, "Not found.")
    }
}

fn created(location: &str) -> Response {
    let mut r = json_ok(StatusCode::CREATED);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn json_ok(status: StatusCode) -> Response {
    json_response(status, "{}")
}

/// `sessionId` first, then `validityInSeconds`, with RIG's messages.
fn parse(p: &Map<String, Value>) -> Result<(String, Duration), String> {
    let session = match p.get("sessionId") {
        None => return Err("Missing value for \"sessionId\"".into()),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => return Err(format!("Expected non-empty string, got {other}")),
    };
    let seconds: f64 = match p.get("validityInSeconds") {
        None => return Err("Missing value for \"validityInSeconds\"".into()),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) if s.is_empty() => return Err(format!("Expected a positive number, got {:?}", s)),
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(n) => n as f64,
            Err(_) => return Err(format!("Expected a number, got {s:?}")),
        },
        Some(other) => return Err(format!("Expected a number, got {other}")),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        let shown = p.get("validityInSeconds").map(Value::to_string).unwrap_or_default();
        return Err(format!("Expected a positive number, got {shown}"));
    }
    Ok((session, Duration::from_secs_f64(seconds.min(1e10))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Result<(String, Duration), String> {
        parse(v.as_object().unwrap())
    }

    #[test]
    fn validates_like_rig() {
        assert_eq!(p(json!({})).unwrap_err(), "Missing value for \"sessionId\"");
        assert_eq!(p(json!({"sessionId": ""})).unwrap_err(), "Expected non-empty string, got \"\"");
        assert_eq!(p(json!({"sessionId": 123})).unwrap_err(), "Expected non-empty string, got 123");
        assert_eq!(p(json!({"sessionId": "a"})).unwrap_err(), "Missing value for \"validityInSeconds\"");
        assert_eq!(p(json!({"sessionId": "a", "validityInSeconds": "abc"})).unwrap_err(), "Expected a number, got \"abc\"");
        assert_eq!(p(json!({"sessionId": "a", "validityInSeconds": 0})).unwrap_err(), "Expected a positive number, got 0");
        assert_eq!(p(json!({"sessionId": "a", "validityInSeconds": -5})).unwrap_err(), "Expected a positive number, got -5");
        assert_eq!(p(json!({"sessionId": "a", "validityInSeconds": "60"})).unwrap().1, Duration::from_secs(60));
        assert_eq!(p(json!({"sessionId": "a", "validityInSeconds": 1.5})).unwrap().1, Duration::from_millis(1500));
    }
}
