//! Who may use the internal port. RIG left it open to whoever reaches it;
//! these rules keep a browser on an attacker's page from using it through the
//! operator's machine, and let operators require a token:
//!
//! 1. `Host` (DNS rebinding): on a connection that arrived on a loopback
//!    address, or on any connection once `RIG_API_ALLOWED_HOSTS` is set, the
//!    host must be an IP literal, `localhost` (or `*.localhost`) or a listed
//!    name; else 403. A rebound name (`evil.example` now resolving to
//!    127.0.0.1) fails here even though its requests look same-origin.
//! 2. `Origin`: present and not this port's own origin (a cross-site form
//!    POST, a `fetch` from another page) is 403. No CORS headers are sent.
//! 3. `RIG_API_TOKEN`: when set, every route but `GET /health` (probes) needs
//!    `Authorization: Bearer <token>`; else 401. `/metrics` included
//!    (Prometheus: `authorization: {credentials: <token>}`).

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
};

use crate::support::response::json_error;
use crate::{auth::api_access::ApiAccess, transport::Peer};

/// Paths reachable without the token: what liveness and readiness probes call.
pub const OPEN_PATHS: &[&str] = &["/health", "/readyz"];

/// The middleware applying rules 1-3 (see the module docs).
pub async fn guard(State(access): State<ApiAccess>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<Peer>().copied();
    // HTTP/2 carries the host in `:authority`.
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| req.uri().authority().map(|a| a.as_str()));
    let check_host = access.checks_every_host() || peer.is_some_and(|p| p.local.ip().is_loopback());
    if let Some(host) = host.filter(|_| check_host) {
        if !access.host_allowed(host) {
            return json_error(
                StatusCode::FORBIDDEN,
                "the internal API answers only to IP addresses, localhost and the names in RIG_API_ALLOWED_HOSTS",
            );
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let scheme = if peer.is_some_and(|p| p.tls) { "https" } else { "http" };
        let same = match (origin.to_str(), host) {
            (Ok(o), Some(h)) => o.eq_ignore_ascii_case(&format!("{scheme}://{h}")),
            _ => false,
        };
        if !same {
            return json_error(StatusCode::FORBIDDEN, "cross-origin requests to the internal API are refused");
        }
    }
    if !OPEN_PATHS.contains(&req.uri().path()) && !access.token_matches(req.headers()) {
        let mut r = json_error(StatusCode::UNAUTHORIZED, "the internal API needs Authorization: Bearer <RIG_API_TOKEN>");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    next.run(req).await
}
