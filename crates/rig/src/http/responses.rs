//! Asynchronous proxy responses on the internal port (rig-spec 5.4):
//! `POST /v3/responses` (binary form: `rig-correlation`, `rig-response-code`
//! headers, the body as is) and the legacy `POST /v2/responses` (a CloudEvent
//! naming the correlation id in `rig.correlation`; the waiting client gets 200
//! with the event).

use crate::support::response::json_error;
use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use rig_core::CloudEvent;

use super::body;
use crate::{
    proxy::correlation::{binary_response, AsyncResponse, CorrelationError},
    state::Shared,
};

/// `POST /v3/responses`.
pub async fn v3(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let body = match body::read(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let pairs = headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes()));
    match binary_response(pairs, body) {
        Ok((id, response)) => deliver(&app, &id, response, &headers).await,
        Err(reason) => refuse(&reason),
    }
}

/// `POST /v2/responses`.
pub async fn v2(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let body = match body::read(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let event = match CloudEvent::parse(body.clone()) {
        Ok(e) => e,
        Err(e) => return refuse(&format!("not a CloudEvent: {e}")),
    };
    let value: serde_json::Value = serde_json::from_slice(event.json()).unwrap_or_default();
    let Some(id) = value.pointer("/rig/correlation").and_then(serde_json::Value::as_str) else {
        return refuse("the event has no rig.correlation");
    };
    let response = AsyncResponse {
        status: StatusCode::OK,
        headers: vec![(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))],
        body: Bytes::copy_from_slice(event.json()),
    };
    deliver(&app, id, response, &headers).await
}

async fn deliver(app: &Shared, id: &str, response: AsyncResponse, headers: &HeaderMap) -> Response {
    match app.proxy.correlations.deliver(id, response.clone()) {
        Ok(()) => (StatusCode::ACCEPTED, "message sent to correlated reverse proxy request").into_response(),
        // The request waits on another node of the cluster: hand it over (once).
        Err(CorrelationError::WrongNode(node)) if !crate::cluster::forward::was_forwarded(headers) => {
            match app.proxy.owner.forward(node, id, &response).await {
                Some(answer) => answer,
                None => refuse(&format!("the correlation id belongs to node {node:x}, which is not reachable")),
            }
        }
        Err(CorrelationError::WrongNode(node)) => refuse(&format!("the correlation id belongs to another node ({node:x})")),
        Err(e) => refuse(&e.to_string()),
    }
}

/// RIG's 400 text, in our JSON error body.
fn refuse(reason: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, &format!("Failed to parse request body: {reason}"))
}
