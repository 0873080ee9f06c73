//! `/v3/apis` and `/v2/apis` on the internal port (rig-spec 5.2): list, read,
//! create, update and deactivate API definitions, with RIG's statuses, texts
//! and validation map. Request bodies are merged with query parameters; on
//! `/{id}` routes the path id wins.

use crate::support::response::json_response;
use axum::{
    body::Body,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};

use super::body;
use crate::{
    proxy::store::{CreateError, UpdateError},
    state::Shared,
};

fn json(status: StatusCode, body: &Value) -> Response {
    json_response(status, body.to_string())
}

fn message(status: StatusCode, text: &str) -> Response {
    json(status, &json!({ "message": text }))
}

fn missing(id: &str) -> Response {
    message(StatusCode::NOT_FOUND, &format!("API with id={id} doesn't exists."))
}

/// `GET .../apis`: the active definitions.
pub async fn list(State(app): State<Shared>) -> Response {
    json(StatusCode::OK, &Value::Array(app.proxy.store.list_active()))
}

/// `GET .../apis/{id}`.
pub async fn get(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    match app.proxy.store.get_active(&id) {
        Some(def) => json(StatusCode::OK, &def),
        None => missing(&id),
    }
}

/// `POST .../apis`.
pub async fn create(State(app): State<Shared>, RawQuery(query): RawQuery, headers: HeaderMap, body: Body) -> Response {
    let params = match body::params(query.as_deref(), &headers, body, app.config.max_body_bytes).await {
        Ok(p) => Value::Object(p),
        Err(r) => return r,
    };
    match app.proxy.store.create(&params) {
        Ok(()) => message(StatusCode::CREATED, "ok"),
        Err(CreateError::Invalid(errors)) => json(StatusCode::BAD_REQUEST, &errors.to_json()),
        Err(CreateError::Exists) => {
            let id = params.get("id").and_then(Value::as_str).unwrap_or_default();
            message(StatusCode::CONFLICT, &format!("API with id={id} already exists."))
        }
    }
}

/// `PUT .../apis/{id}`: validated first, then merged into the stored definition.
pub async fn update(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut params = match body::params(query.as_deref(), &headers, body, app.config.max_body_bytes).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    params.insert("id".into(), Value::String(id.clone()));
    match app.proxy.store.update(&id, &Value::Object(params)) {
        Ok(()) => message(StatusCode::OK, "ok"),
        Err(UpdateError::Invalid(errors)) => json(StatusCode::BAD_REQUEST, &errors.to_json()),
        Err(UpdateError::NotFound) => missing(&id),
    }
}

/// `DELETE .../apis/{id}`: deactivates (the definition is kept, hidden).
pub async fn delete(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    match app.proxy.store.deactivate(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => missing(&id),
    }
}
