//! `GET /readyz` (internal port) and `GET /_rig/readyz` (public port; under
//! `/_rig` so it never hides a proxied path): whether this node should get traffic. 503
//! until the listeners are bound, every configured broker client is connected
//! and (in a cluster) the node has joined and its peer links are up; 503 again once SIGTERM starts the
//! drain. The body says what is not ready. Liveness is `/health` and
//! `/_rig/health`, which stay 200 while the process serves: a broker outage
//! makes the node unready, never restarted.

use axum::{extract::State, http::StatusCode, response::Response};
use serde_json::json;

use crate::{state::Shared, support::response::json_response};

pub async fn readyz(State(app): State<Shared>) -> Response {
    let mut waiting = Vec::new();
    let listening = app.lifecycle.listening();
    if !listening {
        waiting.push("listeners are not bound yet".to_string());
    }
    let draining = app.lifecycle.draining();
    if draining {
        waiting.push("shutting down (SIGTERM): draining connections".to_string());
    }
    let health = app.dispatcher.health();
    for (name, state) in health.states().into_iter().filter(|(_, s)| !s.connected) {
        waiting.push(format!("{name} is not connected: {}", state.last_error.unwrap_or_default()));
    }
    let cluster = app.cluster.as_ref().map(|c| {
        let (why, detail) = c.readiness();
        waiting.extend(why);
        detail
    });
    let ready = waiting.is_empty();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "not_ready": waiting,
        "listening": listening,
        "draining": draining,
        "sources": health.sources(),
        "cluster": cluster,
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(status, body.to_string())
}
