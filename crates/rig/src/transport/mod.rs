//! Frontend transports: protocol adapters over [`crate::session`]. SSE,
//! WebSocket and long-polling requests are parsed and answered here; set-up
//! checks, registration and delivery belong to the session and the hub.
//!
//! - [`takeover`]: the contract between the accept loop and stream handlers.
//! - [`wire`]: streams the server took over, written straight to the socket.
//! - [`close`]: why a stream closes and how each protocol says it.

pub mod close;
pub mod cookie;
pub mod longpoll;
pub mod phoenix;
pub mod render;
pub mod sse;
pub mod takeover;
pub mod wire;
pub mod ws;
pub mod ws_frames;

/// The connection a request came in on (a request extension the server sets):
/// the reverse proxy needs the client address, the local port and whether TLS
/// was used; long-polling and the internal port's checks need the addresses.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub remote: std::net::SocketAddr,
    pub local: std::net::SocketAddr,
    pub tls: bool,
}

/// The request's `User-Agent`, for presence.
pub fn user_agent(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(256).collect())
}
