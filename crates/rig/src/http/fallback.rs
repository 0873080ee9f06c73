//! Everything on the public port that no `/_rig` route takes: RIG hands it to
//! the reverse proxy. No API definitions are loaded yet, so nothing matches and
//! the answer is the proxy's no-match response.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

/// RIG's proxy 404: `{"message":"Not Found"}`.
pub async fn not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}
