//! The frontend request as the proxy hands it on, after matching and authentication.

use std::net::IpAddr;

/// What a publish target needs to know about the frontend request (after matching & auth).
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub method: http::Method,
    /// The (rewritten) request path.
    pub path: String,
    /// The path as requested (normalised, [`path::normalize`]), before rewriting (RIG's `path` metric label).
    pub request_path: String,
    /// Raw query string.
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub remote_ip: IpAddr,
    /// Request host (without port).
    pub host: String,
    /// Request port.
    pub port: u16,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// Fully buffered (`RIG_MAX_BODY_BYTES` applies; larger is refused with 413).
    pub body: bytes::Bytes,
    /// `traceparent` to propagate (`None` without a tracing context).
    pub trace: Option<String>,
}
