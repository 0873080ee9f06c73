//! The accept loop: HTTP/1.1 connections served by hyper with the limits a
//! public gateway needs and `axum::serve` does not expose: a header read
//! timeout (slow-loris clients cannot hold sockets), a bounded header buffer
//! (431), WebSocket upgrades, and TLS with HTTP/2.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
    Router,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::http::error::json_error;

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
        let inner = TowerToHyperService::new(router.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer);
            hyper::service::Service::call(&inner, req)
        });
        match &acceptor {
            None => {
                tokio::spawn(async move {
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
                    let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
                    if let Err(error) = conn.await {
                        tracing::debug!(%error, "Connection ended with an error.");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
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

/// 431 with a JSON reason for a header value over RIG's 16 KiB limit.
async fn limit_header_values(req: Request, next: Next) -> Result<Response, Infallible> {
    let too_long = req.headers().iter().find(|(_, v): &(_, &HeaderValue)| v.len() > MAX_HEADER_VALUE_BYTES);
    if let Some((name, _)) = too_long {
        let msg = format!("header {name} is longer than {MAX_HEADER_VALUE_BYTES} bytes");
        return Ok(json_error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, &msg));
    }
    Ok(next.run(req).await)
}
