//! The internal (management) port. Access rules (`Host`, `Origin`, optional
//! token) are in [`super::access`]; without a token, keep the port private.

use crate::support::response::json_response;
use axum::{
    http::StatusCode,
    response::Response,
    routing::{delete, get, post},
    Router,
};

use super::{access, apis, blacklist, cluster, events, inbound, metrics, openapi, presence, ready, responses, status};
use crate::state::Shared;

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/health", get(inbound::health))
        .route("/readyz", get(ready::readyz))
        .route("/v3/apis", get(apis::list).post(apis::create))
        .route("/v2/apis", get(apis::list).post(apis::create))
        .route("/v3/apis/{id}", get(apis::get).put(apis::update).delete(apis::delete))
        .route("/v2/apis/{id}", get(apis::get).put(apis::update).delete(apis::delete))
        .route("/v3/responses", post(responses::v3))
        .route("/v2/responses", post(responses::v2))
        .route("/v3/messages", post(events::internal))
        .route("/v2/messages", post(events::internal))
        .route("/v3/session-blacklist", post(blacklist::add))
        .route("/v2/session-blacklist", post(blacklist::add))
        .route("/v3/session-blacklist/{session}", get(blacklist::status))
        .route("/v2/session-blacklist/{session}", get(blacklist::status))
        // POST: a peer gathering a cluster-wide listing (see `presence`).
        .route("/v3/users", get(presence::users).post(presence::users))
        .route("/v3/users/{user}/connections", get(presence::user_connections).post(presence::user_connections))
        .route("/v3/sessions/{session}/connections", get(presence::session_connections).post(presence::session_connections))
        .route("/v3/sessions/{session}", delete(presence::end_session))
        .route("/v3/cluster", get(cluster::members))
        .route("/v3/cluster/state/{namespace}", get(cluster::state))
        .route("/v3/cluster/window", get(cluster::window))
        .route("/metrics", get(metrics::metrics))
        .route("/status", get(status::page))
        .route("/status.json", get(status::data))
        .route("/openapi.json", get(openapi::document))
        .route("/swagger-ui/rig_api_swagger.json", get(openapi::document))
        .method_not_allowed_fallback(not_found)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.config.api_access.clone(), access::guard))
        .with_state(app)
}

/// RIG's API 404: `{"errors":{"detail":"Not found"}}`.
async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, r#"{"errors":{"detail":"Not found"}}"#)
}
