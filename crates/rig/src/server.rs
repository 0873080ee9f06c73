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
//!
//! Every listener also bounds what one client can hold: connections per client
//! address ([`crate::per_ip`]) and the time a request body may take ([`deadline`]).

mod deadline;
mod head;
mod response;
mod rewind;
mod write_deadline;

pub use self::deadline::{timed_out, BodyTimedOut};

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
    Router,
};
use bytes::Bytes;
use http_body::Body as _;
use hyper::service::Service as _;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_rustls::TlsAcceptor;

use self::{
    deadline::Deadline,
    head::Endpoint,
    rewind::Rewind,
    write_deadline::{KillWatch, WriteDeadline},
};
use crate::{
    accept::Acceptor,
    lifecycle::Lifecycle,
    per_ip::{Counted, PerIp, Slot},
    support::response::json_error,
    transport::{
        render::Kind,
        takeover::{Direct, StreamOutbox, Takeover},
        wire, Peer,
    },
};

/// A request head must arrive within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on a request head (hyper answers 431 beyond it).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Unsent bytes the kernel holds per connection before a write waits. Without
/// it the send buffer grows to megabytes: a client that stops reading pins
/// that much kernel memory, and a slow one frees room (and so lets a write make
/// progress, see `RIG_WRITE_TIMEOUT_MS`) only in steps of a third of it.
const NOTSENT_LOWAT: u32 = 128 * 1024;
/// RIG's limit on one header value.
pub const MAX_HEADER_VALUE_BYTES: usize = 16 * 1024;

/// How long a refused connection may take to get its 429.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Bounds on what one client can hold, shared by every listener.
#[derive(Clone)]
pub struct Limits {
    /// `RIG_BODY_READ_TIMEOUT_MS`: a request body must be in within this of its head.
    pub body_read_timeout: Duration,
    /// `RIG_MAX_CONNECTIONS_PER_IP`.
    pub per_ip: Arc<PerIp>,
    /// `RIG_WRITE_TIMEOUT_MS`: a write that makes no progress this long ends its connection.
    pub write_timeout: Duration,
    /// Counts the requests being answered, so shutdown can wait for them.
    pub lifecycle: Arc<Lifecycle>,
}

/// Serves `router` on `listener` until the task is dropped; with `tls`, every
/// connection is TLS and may speak HTTP/2 (ALPN), WebSockets included (RFC 8441).
/// A write that makes no progress for `limits.write_timeout` ends its connection.
pub async fn serve(mut listener: Acceptor, router: Router, tls: Option<Arc<rustls::ServerConfig>>, limits: Limits) {
    let router = router
        .layer(axum::middleware::from_fn(limit_header_values))
        .layer(axum::middleware::from_fn_with_state(limits.lifecycle.clone(), count_request));
    let acceptor = tls.map(TlsAcceptor::from);
    let local = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let (stream, remote) = listener.accept().await;
        let Some(slot) = limits.per_ip.try_acquire(remote.ip()) else {
            // A TLS handshake is not worth an answer; plain HTTP gets a 429 when cheap.
            if let (None, Some(permit)) = (&acceptor, limits.per_ip.answer_permit()) {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REFUSAL_LINGER, refuse(stream)).await;
                    drop(permit);
                });
            }
            continue;
        };
        // Events are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(NOTSENT_LOWAT);
        let peer = Peer { remote, local, tls: acceptor.is_some() };
        let body_timeout = limits.body_read_timeout;
        match &acceptor {
            None => {
                tokio::spawn(serve_plain(stream, slot, router.clone(), peer, body_timeout, limits.write_timeout));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watch = Arc::new(KillWatch::default());
                let service = with_peer(router.clone(), peer, body_timeout, watch.clone());
                let write_timeout = limits.write_timeout;
                tokio::spawn(async move {
                    let stream = WriteDeadline::new(Counted::new(stream, slot), write_timeout, Some(watch));
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

/// A connection over the per-address limit: 429, then the rest of what the
/// client sends is read and dropped, so closing does not reset the answer away.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":"too many connections from this address"}"#;
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// One plain-HTTP connection. A stream gets a task of its own, so what lives
/// on for hours is only the small stream writer (and the connection's slot).
async fn serve_plain(stream: TcpStream, slot: Slot, router: Router, peer: Peer, body_timeout: Duration, write_timeout: Duration) {
    match first_request(&stream, &router, peer).await {
        Next1::Stream { kind, head, takeover, early } => {
            tokio::spawn(async move {
                wire::serve(stream, kind, head, takeover, early).await;
                drop(slot);
            });
        }
        Next1::Hyper(pre) => {
            let watch = Arc::new(KillWatch::default());
            let io = WriteDeadline::new(Counted::new(Rewind::new(pre, stream), slot), write_timeout, Some(watch.clone()));
            serve_hyper(io, router, peer, body_timeout, watch).await
        }
        Next1::Close => {}
    }
}

async fn first_request(stream: &TcpStream, router: &Router, peer: Peer) -> Next1 {
    let mut buf = match tokio::time::timeout(HEADER_READ_TIMEOUT, head::read(stream)).await {
        Ok(Ok(buf)) => buf,
        _ => return Next1::Close,
    };
    let Some(own) = head::own(&buf) else {
        // Not a stream request (those parsed): hyper's, unless hyper would only
        // answer with an empty 400; every other refusal has a JSON reason.
        if let Some(reason) = head::malformed(&buf) {
            let (parts, body) = json_error(StatusCode::BAD_REQUEST, &reason).into_parts();
            let _ = response::write_full(stream, parts, body, false).await;
            return Next1::Close;
        }
        return Next1::Hyper(buf.freeze());
    };
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

/// The router as a hyper service that tells every request its [`Peer`] and
/// gives its body (if any) the read deadline, and tells `watch` which stream
/// an HTTP/1 response is; that connection closes when the stream ends. (An
/// HTTP/2 connection carries other streams too: a kill does not end it, and
/// there the write timeout is the bound.)
fn with_peer(
    router: Router,
    peer: Peer,
    body_timeout: Duration,
    watch: Arc<KillWatch>,
) -> impl hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = Response, Error = Infallible, Future: Send> + Clone {
    let inner = TowerToHyperService::new(router);
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(peer);
        let watch = (parts.version < axum::http::Version::HTTP_2).then(|| watch.clone());
        let body =
            if body.is_end_stream() { axum::body::Body::new(body) } else { axum::body::Body::new(Deadline::new(body, body_timeout)) };
        let response = inner.call(hyper::Request::from_parts(parts, body));
        async move {
            let mut response = response.await?;
            if let Some(watch) = watch {
                let stream = response.extensions_mut().remove::<StreamOutbox>().map(|s| s.0);
                if stream.is_some() {
                    // The connection ends with the stream (a kill closes the socket).
                    response.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                watch.set(stream);
            }
            Ok(response)
        }
    })
}

async fn serve_hyper(io: WriteDeadline<Counted<Rewind>>, router: Router, peer: Peer, body_timeout: Duration, watch: Arc<KillWatch>) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(TokioIo::new(io), with_peer(router, peer, body_timeout, watch)).with_upgrades();
    if let Err(error) = conn.await {
        tracing::debug!(%error, "Connection ended with an error.");
    }
}

/// Holds a request in the in-flight count until its handler has answered.
async fn count_request(State(lifecycle): State<Arc<Lifecycle>>, req: Request, next: Next) -> Response {
    let _in_flight = lifecycle.request();
    next.run(req).await
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
