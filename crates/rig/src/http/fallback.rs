//! Everything on the public port that no `/_rig` route takes: RIG hands it to
//! the reverse proxy. No API definitions are loaded yet, so nothing matches and
//! the answer is the proxy's no-match response.

use super::error::json_response;
use axum::{http::StatusCode, response::Response};

/// RIG's proxy 404: `{"message":"Not Found"}`.
pub async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#)
}
