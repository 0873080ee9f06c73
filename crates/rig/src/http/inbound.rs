//! The public port: `/_rig` routes for frontends; everything else falls through
//! to the reverse proxy (including wrong methods on `/_rig` paths, as RIG).

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::{any, delete, get, post, put},
    Router,
};

use super::{cors, events, proxy, rg, subscriptions};
use crate::{
    state::Shared,
    transport::{longpoll, phoenix, sse, ws},
};

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/_rig/v1/connection/sse", any(sse::handler))
        .route("/_rig/v1/connection/ws", get(ws::handler))
        .route("/_rig/health", get(health))
        .route("/_rig/readyz", get(super::ready::readyz))
        .route("/_rig/v1/connection/longpolling", get(longpoll::handler).options(longpoll::options))
        .route("/_rig/v1/connection/{transport}/{token}/subscriptions", put(subscriptions::put).options(subscriptions::options))
        .route("/_rig/v1/events", post(events::public).options(events::options))
        // RIG 1.x's Phoenix socket (phoenix.js).
        .route("/socket/websocket", get(phoenix::ws::handler))
        .route("/socket/sse", get(phoenix::sse::handler))
        .route("/rg/connections/{jti}", delete(rg::disconnect))
        .route("/rg/sessions", get(rg::sessions))
        .route("/rg/sessions/{id}", get(rg::session_connections))
        .route(
            "/socket/longpoll",
            get(phoenix::longpoll::get)
                .post(phoenix::longpoll::post)
                .layer(axum::Extension(std::sync::Arc::new(phoenix::longpoll::Polls::default()))),
        )
        .method_not_allowed_fallback(proxy::handle)
        .fallback(proxy::handle)
        .layer(axum::middleware::from_fn_with_state(std::sync::Arc::new(app.config.cors.clone()), cors::apply))
        .with_state(app)
}

/// `GET /_rig/health` (and `/health` on the internal port): 200 `OK` while the
/// process serves, whatever its brokers do (liveness; readiness is `/readyz`).
pub async fn health() -> Response {
    let mut r = "OK".into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}
