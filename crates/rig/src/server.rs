//! The accept loop: HTTP/1.1 connections served by hyper with the limits a
//! public gateway needs and `axum::serve` does not expose: a header read
//! timeout (slow-loris clients cannot hold sockets), a bounded header buffer
//! (431), WebSocket upgrades, and TLS with HTTP/2.
//!
//! Plain connections whose first request is a GET of the SSE stream or the
//! WebSocket endpoint are served by the gateway itself: the request still goes
//! through the router (every check stays in the handlers), but the response
//! head and the stream are written straight to the socket
//! ([`crate::transport::wire`]), so a long-lived idle connection holds no
//! hyper buffers. Every other connection is hyper's, from its first byte.

mod head;
mod response;
mod rewind;

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
    Router,
};
use bytes::Bytes;
use hyper::service::Service as _;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use self::{head::Endpoint, rewind::Rewind};
use crate::{
    http::error::json_error,
    transport::wire::{self, Direct, Kind, Takeover},
};

/// A request head must arrive within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on a request head (hyper answers 431 beyond it).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// RIG's limit on one header value.
pub const MAX_HEADER_VALUE_BYTES: usize = 16 * 1024;

/// The connection a request came in on (a request extension): the reverse
/// proxy needs the client address, the local port and whether TLS was used.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub tls: bool,
}

/// Serves `router` on `listener` until the task is dropped; with `tls`, every
/// connection is TLS and may speak HTTP/2 (ALPN), WebSockets included (RFC 8441).
pub async fn serve(listener: TcpListener, router: Router, tls: Option<Arc<rustls::ServerConfig>>) {
    let router = router.layer(axum::middleware::from_fn(limit_header_values));
    let acceptor = tls.map(TlsAcceptor::from);
    let local = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "Accept failed.");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Events are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let peer = Peer { remote, local, tls: acceptor.is_some() };
        match &acceptor {
            None => {
                tokio::spawn(serve_plain(stream, router.clone(), peer));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let service = with_peer(router.clone(), peer);
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(error)) => return tracing::debug!(%error, "TLS handshake failed."),
                        Err(_) => return tracing::debug!("TLS handshake timed out."),
                    };
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
                    builder.http2().timer(TokioTimer::new()).enable_connect_protocol();
                    if let Err(error) = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).await {
                        tracing::debug!(%error, "TLS connection ended with an error.");
                    }
                });
            }
        }
    }
}

/// What follows the first request of a plain connection.
enum Next1 {
    /// Run this stream on the socket.
    Stream {
        kind: Kind,
        head: Bytes,
        takeover: Takeover,
        early: Vec<u8>,
    },
    /// Hyper serves the connection, these bytes first.
    Hyper(Bytes),
    Close,
}

/// One plain-HTTP connection. A stream gets a task of its own, so what lives
/// on for hours is only the small stream writer.
async fn serve_plain(stream: TcpStream, router: Router, peer: Peer) {
    match first_request(&stream, &router, peer).await {
        Next1::Stream { kind, head, takeover, early } => {
            tokio::spawn(wire::serve(stream, kind, head, takeover, early));
        }
        Next1::Hyper(pre) => serve_hyper(Rewind::new(pre, stream), router, peer).await,
        Next1::Close => {}
    }
}

async fn first_request(stream: &TcpStream, router: &Router, peer: Peer) -> Next1 {
    let mut buf = match tokio::time::timeout(HEADER_READ_TIMEOUT, head::read(stream)).await {
        Ok(Ok(buf)) => buf,
        _ => return Next1::Close,
    };
    let Some(own) = head::own(&buf) else { return Next1::Hyper(buf.freeze()) };
    let early = buf.split_off(own.len);
    drop(buf);
    let mut request = own.request;
    request.extensions_mut().insert(Direct);
    request.extensions_mut().insert(peer);
    let response = match TowerToHyperService::new(router.clone()).call(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (mut parts, body) = response.into_parts();
    match parts.extensions.remove::<Takeover>() {
        Some(takeover) => {
            let (kind, framing): (Kind, &[&str]) = match own.endpoint {
                Endpoint::Sse if own.http11 => (Kind::SseChunked, &["transfer-encoding: chunked"]),
                Endpoint::Sse => (Kind::SseRaw, &["connection: close"]),
                Endpoint::Ws => (Kind::Ws, &[]),
            };
            let early = if kind == Kind::Ws { early.to_vec() } else { Vec::new() };
            Next1::Stream { kind, head: response::head(&parts, framing), takeover, early }
        }
        // A refusal (4xx): answered here, then the connection is hyper's.
        None => match response::write_full(stream, parts, body, own.keep_alive).await {
            Ok(()) if own.keep_alive => Next1::Hyper(early.freeze()),
            _ => Next1::Close,
        },
    }
}

/// The router as a hyper service that tells every request its [`Peer`].
fn with_peer(
    router: Router,
    peer: Peer,
) -> impl hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = Response, Error = Infallible, Future: Send> + Clone {
    let inner = TowerToHyperService::new(router);
    hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer);
        inner.call(req)
    })
}

async fn serve_hyper(io: Rewind, router: Router, peer: Peer) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(TokioIo::new(io), with_peer(router, peer)).with_upgrades();
    if let Err(error) = conn.await {
        tracing::debug!(%error, "Connection ended with an error.");
    }
}

/// 431 with a JSON reason for a header value over RIG's 16 KiB limit.
async fn limit_header_values(req: Request, next: Next) -> Result<Response, Infallible> {
    let too_long = req.headers().iter().find(|(_, v): &(_, &HeaderValue)| v.len() > MAX_HEADER_VALUE_BYTES);
    if let Some((name, _)) = too_long {
        let msg = format!("header {name} is longer than {MAX_HEADER_VALUE_BYTES} bytes");
        return Ok(json_error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, &msg));
    }
    Ok(next.run(req).await)
}
