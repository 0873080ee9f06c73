//! Presence: which user has which sessions and devices connected where.
//! New in this implementation (RIG 3.0 had no such API); see docs/openapi.json.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::Serialize;
use serde_json::json;

use crate::support::response::json_response;
use crate::{hub::ConnView, state::Shared};

/// A connection with the node that holds it.
#[derive(Serialize)]
struct Located<'a> {
    node: &'a str,
    #[serde(flatten)]
    conn: ConnView,
}

/// `GET /v3/users`: every user with at least one live connection.
pub async fn users(State(app): State<Shared>) -> Response {
    let users: Vec<_> = app
        .hub
        .users()
        .into_iter()
        .map(|(user, sessions, connections)| json!({"user": user, "sessions": sessions, "connections": connections}))
        .collect();
    json(StatusCode::OK, &json!({ "users": users }))
}

/// `GET /v3/users/{user}/connections`.
pub async fn user_connections(State(app): State<Shared>, Path(user): Path<String>) -> Response {
    let conns = app.hub.connections_where(|u, _| u == Some(user.as_str()));
    listing(&app, json!({ "user": user }), conns)
}

/// `GET /v3/sessions/{session}/connections`.
pub async fn session_connections(State(app): State<Shared>, Path(session): Path<String>) -> Response {
    let conns = app.hub.connections_where(|_, sessions| sessions.iter().any(|s| **s == *session));
    listing(&app, json!({ "session": session }), conns)
}

/// `DELETE /v3/sessions/{session}`: closes the session's connections now, on
/// every node, without blacklisting it (clients may reconnect with the same
/// token). `closed` counts this node's.
pub async fn end_session(State(app): State<Shared>, Path(session): Path<String>) -> Response {
    let closed = app.sessions.end(&session);
    json(StatusCode::OK, &json!({ "session": session, "closed": closed }))
}

fn listing(app: &Shared, mut head: serde_json::Value, conns: Vec<ConnView>) -> Response {
    let node = app.config.node_name.as_str();
    let located: Vec<Located> = conns.into_iter().map(|conn| Located { node, conn }).collect();
    head["connections"] = serde_json::to_value(located).expect("views serialise");
    json(StatusCode::OK, &head)
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    json_response(status, v.to_string())
}
