//! Reading request bodies with a size cap (`RIG_MAX_BODY_BYTES`).

use axum::{body::Body, http::StatusCode, response::Response};
use bytes::Bytes;

use super::error::json_error;

/// The whole body, or 413 when it is larger than `limit` bytes.
pub async fn read(body: Body, limit: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit exceeded"))
            || e.to_string().contains("length limit exceeded");
        if too_large {
            json_error(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body larger than {limit} bytes"))
        } else {
            json_error(StatusCode::BAD_REQUEST, &format!("could not read request body: {e}"))
        }
    })
}
