//! The internal API's OpenAPI document (docs/openapi.json), served as-is.

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};

const DOCUMENT: &str = include_str!("../../../../docs/openapi.json");

/// `GET /openapi.json` (also at RIG's `/swagger-ui/rig_api_swagger.json`).
pub async fn document() -> Response {
    let mut r = DOCUMENT.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_is_valid_json_and_lists_every_internal_route() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/health",
            "/readyz",
            "/v3/messages",
            "/v3/apis",
            "/v3/apis/{id}",
            "/v3/responses",
            "/v2/responses",
            "/v3/session-blacklist",
            "/v3/session-blacklist/{sessionId}",
            "/v3/users",
            "/v3/users/{user}/connections",
            "/v3/sessions/{session}/connections",
            "/v3/sessions/{session}",
            "/v3/cluster",
            "/v3/cluster/state/{namespace}",
        ] {
            assert!(paths.contains_key(p), "{p} missing from docs/openapi.json");
        }
    }
}
