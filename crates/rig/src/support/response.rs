//! Error responses: a status and a JSON body `{"error": "<what is wrong>"}`.
//! The texts are RIG's where RIG had one, so clients matching on them still match.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

/// A JSON error body with `status`.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({ "error": message }).to_string())
}

/// `body` (already JSON text) with `status` and a JSON content type.
pub fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}
