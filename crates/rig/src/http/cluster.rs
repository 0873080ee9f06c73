//! `GET /v3/cluster` (this node and its live peers) and
//! `GET /v3/cluster/state/{namespace}` (the replicated entries of a namespace,
//! e.g. `blacklist`) on the internal port. Standalone: 404.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde_json::json;

use crate::state::Shared;
use crate::support::response::{json_error, json_response};

const STANDALONE: &str = "This node is not part of a cluster (set DISCOVERY_TYPE=dns or RIG_CLUSTER_PEERS).";

/// `GET /v3/cluster`.
pub async fn members(State(app): State<Shared>) -> Response {
    let Some(c) = &app.cluster else { return json_error(StatusCode::NOT_FOUND, STANDALONE) };
    json_response(StatusCode::OK, json!({"me": c.me(), "peers": c.peers()}).to_string())
}

/// `GET /v3/cluster/window`: the resume window's events, oldest first, as a
/// JSON array; a node that starts copies it from a peer.
pub async fn window(State(app): State<Shared>) -> Response {
    let events = app.hub.window_events();
    let mut body = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.push(b']');
    json_response(StatusCode::OK, String::from_utf8(body).expect("event JSON is UTF-8"))
}

/// `GET /v3/cluster/state/{namespace}`.
pub async fn state(State(app): State<Shared>, Path(namespace): Path<String>) -> Response {
    let Some(c) = &app.cluster else { return json_error(StatusCode::NOT_FOUND, STANDALONE) };
    let mut entries = c.entries(&namespace);
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let entries: Vec<_> = entries
        .into_iter()
        .map(|e| json!({"key": e.key, "value": e.value, "expires_at_ms": e.expires_at, "version": e.version, "written_at_ms": e.stamp, "origin": e.origin}))
        .collect();
    json_response(StatusCode::OK, json!({"namespace": namespace, "entries": entries}).to_string())
}
