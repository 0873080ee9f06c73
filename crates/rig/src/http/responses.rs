//! Asynchronous proxy responses on the internal port (rig-spec 5.4):
//! `POST /v3/responses` (binary form: `rig-correlation`, `rig-response-code`
//! headers, the body as is) and the legacy `POST /v2/responses` (a CloudEvent
//! naming the correlation id in `rig.correlation`; the waiting client gets 200
//! with the event).

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use rig_core::CloudEvent;

use super::{body, error::json_error};
use crate::{
    app::Shared,
    proxy::correlation::{binary_response, AsyncResponse, CorrelationError},
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
            match forward_to_owner(app, node, id, &response).await {
                Some(answer) => answer,
                None => refuse(&format!("the correlation id belongs to node {node:x}, which is not reachable")),
            }
        }
        Err(CorrelationError::WrongNode(node)) => refuse(&format!("the correlation id belongs to another node ({node:x})")),
        Err(e) => refuse(&e.to_string()),
    }
}

/// Re-posts a response, in the binary form of `POST /v3/responses`, to the
/// node whose request waits for it (a response may reach any node: rig-spec 10.3).
pub async fn forward_to_owner(app: &Shared, node: u64, id: &str, response: &AsyncResponse) -> Option<Response> {
    let cluster = app.cluster.as_ref()?;
    let mut headers = HeaderMap::new();
    for (name, value) in &response.headers {
        headers.append(name.clone(), value.clone());
    }
    headers.insert("rig-correlation", HeaderValue::from_str(id).ok()?);
    headers.insert("rig-response-code", HeaderValue::from(response.status.as_u16()));
    if let Some(token) = app.config.api_access.authorization() {
        headers.insert(axum::http::header::AUTHORIZATION, token);
    }
    cluster.forward_api(node, "/v3/responses", &headers, response.body.clone()).await
}

/// RIG's 400 text, in our JSON error body.
fn refuse(reason: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, &format!("Failed to parse request body: {reason}"))
}
