//! The CORS headers RIG sets on the proxy's own answers (publish targets,
//! refusals, asynchronous responses), in one place for every target.

use axum::{
    http::{header, HeaderValue},
    response::Response,
};

/// `access-control-allow-*` as RIG sets them: `origin` (`CORS`), any method,
/// and `allow_headers`.
pub fn cors(origin: &HeaderValue, r: &mut Response, allow_headers: &'static str) {
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(allow_headers));
}
