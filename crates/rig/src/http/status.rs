//! The status page on the internal port: plain HTML (no build step) that
//! polls `status.json` and shows nodes, connections by transport, online
//! users, events per second, event sources and proxy APIs.

use std::sync::atomic::Ordering;

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::state::Shared;
use crate::support::response::json_response;

const PAGE: &str = include_str!("status.html");

/// `GET /status`.
pub async fn page() -> Response {
    let mut r = PAGE.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

/// `GET /status.json`: what the page shows (the events-per-second figure is
/// computed by the page from two readings of `events_published`).
pub async fn data(State(app): State<Shared>) -> Response {
    let (sse, ws, lp) = app.hub.connection_counts();
    let sources: Vec<_> = app
        .dispatcher
        .health()
        .states()
        .into_iter()
        .map(|(name, st)| json!({"source": name, "connected": st.connected, "last_error": st.last_error}))
        .collect();
    let cluster = app.cluster.as_ref().map(|c| json!({"me": c.me(), "peers": c.peers()}));
    let body = json!({
        "node": app.config.node_name,
        "cluster": cluster,
        "connections": {"sse": sse, "ws": ws, "longpolling": lp},
        "online_users": app.hub.users().len(),
        "subscriptions": app.hub.subscription_rows(),
        "events_published": app.hub.stats.events_published.load(Ordering::Relaxed),
        "blacklisted_sessions": app.auth.blacklist.current(),
        "sources": sources,
        "proxy_apis": app.proxy.store.list_active().iter().map(|a| json!({"id": a["id"], "name": a["name"]})).collect::<Vec<_>>(),
    });
    json_response(axum::http::StatusCode::OK, body.to_string())
}
