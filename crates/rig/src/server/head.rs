//! The first request head of a plain-HTTP connection, read with a small
//! buffer and parsed with httparse, to decide whether the server serves the
//! connection itself (a GET of the SSE stream or the WebSocket endpoint) or
//! hands it, bytes and all, to hyper. Anything unusual goes to hyper, which
//! answers it exactly as it always did.

use std::io;

use axum::{
    body::Body,
    http::{header, HeaderName, HeaderValue, Method, Request, Uri, Version},
};
use bytes::BytesMut;
use tokio::net::TcpStream;

use crate::transport::{sse, ws};

/// A head longer than this goes to hyper (which allows up to 64 KiB).
const MAX_OWN_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;
const FIRST_READ: usize = 1024;

/// Which stream endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Sse,
    Ws,
}

/// A request the server serves itself.
pub struct Own {
    pub request: Request<Body>,
    pub endpoint: Endpoint,
    /// Length of the head in the bytes read.
    pub len: usize,
    /// HTTP/1.1 (chunked responses, keep-alive by default) rather than 1.0.
    pub http11: bool,
    /// The client lets the connection stay open after the response.
    pub keep_alive: bool,
}

/// Reads until a complete head, the size limit, or the end of input (the
/// buffer is only allocated once the client has sent something).
pub async fn read(stream: &TcpStream) -> io::Result<BytesMut> {
    let mut buf = BytesMut::new();
    loop {
        stream.readable().await?;
        if buf.len() == buf.capacity() {
            buf.reserve(FIRST_READ.max(buf.len()));
        }
        match stream.try_read_buf(&mut buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) if buf.len() >= MAX_OWN_HEAD || !is_partial(&buf) => return Ok(buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

fn is_partial(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    matches!(httparse::Request::new(&mut headers).parse(buf), Ok(httparse::Status::Partial))
}

/// The request, if the server serves it itself: a body-less GET of a stream
/// endpoint whose head is complete and well-formed (WebSocket: a valid
/// version-13 handshake); `None` sends the connection to hyper.
pub fn own(buf: &[u8]) -> Option<Own> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = req.parse(buf).ok()? else { return None };
    if req.method != Some("GET") {
        return None;
    }
    let path = req.path?;
    let endpoint = match path.split('?').next() {
        Some(sse::PATH) => Endpoint::Sse,
        Some(ws::PATH) => Endpoint::Ws,
        _ => return None,
    };
    let http11 = match req.version? {
        1 => true,
        0 if endpoint == Endpoint::Sse => false,
        _ => return None,
    };
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(Uri::try_from(path).ok()?)
        .version(if http11 { Version::HTTP_11 } else { Version::HTTP_10 })
        .body(Body::empty())
        .ok()?;
    let map = request.headers_mut();
    map.reserve(req.headers.len());
    for h in req.headers.iter() {
        map.append(HeaderName::from_bytes(h.name.as_bytes()).ok()?, HeaderValue::from_bytes(h.value).ok()?);
    }
    let has_body = map.contains_key(header::TRANSFER_ENCODING) || map.get_all(header::CONTENT_LENGTH).iter().any(|v| v.as_bytes() != b"0");
    if has_body {
        return None;
    }
    let connection = |token: &str| has_token(map.get_all(header::CONNECTION).iter(), token);
    let keep_alive = if http11 { !connection("close") } else { connection("keep-alive") };
    if endpoint == Endpoint::Ws {
        let handshake = connection("upgrade")
            && has_token(map.get_all(header::UPGRADE).iter(), "websocket")
            && map.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v.as_bytes() == b"13")
            && map.get(header::SEC_WEBSOCKET_KEY).is_some_and(|v| !v.is_empty());
        if !handshake {
            return None;
        }
    }
    Some(Own { request, endpoint, len, http11, keep_alive })
}

/// Why the head is not HTTP (what hyper would answer with an empty 400), if it
/// is not: the server answers such a request itself, with a JSON reason.
pub fn malformed(buf: &[u8]) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Request::new(&mut headers).parse(buf) {
        Err(httparse::Error::TooManyHeaders) | Ok(_) => None,
        Err(error) => Some(format!("malformed HTTP request: {error}")),
    }
}

/// Whether a comma-separated header (all its lines) lists `token`.
fn has_token<'a>(values: impl Iterator<Item = &'a HeaderValue>, token: &str) -> bool {
    values.filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(rest: &str) -> String {
        format!("GET {}?jwt=x HTTP/1.1\r\nHost: a\r\n{rest}\r\n", sse::PATH)
    }

    #[test]
    fn stream_gets_are_ours_and_everything_else_is_hyper_s() {
        let own_sse = own(sse("").as_bytes()).expect("plain SSE GET");
        assert_eq!((own_sse.endpoint, own_sse.http11, own_sse.keep_alive), (Endpoint::Sse, true, true));
        assert_eq!(own_sse.request.uri().query(), Some("jwt=x"));
        assert_eq!(own_sse.len, sse("").len());
        assert!(!own(sse("Connection: close\r\n").as_bytes()).unwrap().keep_alive);
        let http10 = format!("GET {} HTTP/1.0\r\n\r\n", sse::PATH);
        assert!(!own(http10.as_bytes()).unwrap().http11);
        for other in [
            format!("POST {} HTTP/1.1\r\n\r\n", sse::PATH),
            format!("GET {}/x HTTP/1.1\r\n\r\n", sse::PATH),
            sse("Content-Length: 3\r\n"),
            sse("Transfer-Encoding: chunked\r\n"),
            sse("Bad Header: x\r\n"),
            "GET /_rig/health HTTP/1.1\r\n\r\n".into(),
            format!("GET {} HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", ws::PATH),
        ] {
            assert!(own(other.as_bytes()).is_none(), "{other}");
        }
        assert!(own(sse("").trim_end().as_bytes()).is_none(), "incomplete");
    }

    #[test]
    fn websocket_handshakes_must_be_complete() {
        let hs = |version: &str| {
            format!(
                "GET {} HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: {version}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                ws::PATH
            )
        };
        assert_eq!(own(hs("13").as_bytes()).unwrap().endpoint, Endpoint::Ws);
        assert!(own(hs("8").as_bytes()).is_none());
    }
}
