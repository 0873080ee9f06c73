//! Responses on connections the server serves itself: the head of a streamed
//! response, and complete (error) responses.

use std::{fmt::Write as _, io, time::SystemTime};

use axum::{
    body::Body,
    http::{header, response::Parts},
};
use bytes::Bytes;
use tokio::net::TcpStream;

use crate::transport::wire::write_all;

/// Error bodies are small; anything larger is not answered by this path.
const MAX_BODY: usize = 1 << 20;

/// Status line, the handler's headers (minus framing, which is ours), `Date`,
/// then `extra` header lines and the blank line.
pub fn head(parts: &Parts, extra: &[&str]) -> Bytes {
    let mut out = String::with_capacity(256);
    let status = parts.status;
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    let mut bytes = out.into_bytes();
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::DATE {
            continue;
        }
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("date: {}\r\n", httpdate::fmt_http_date(SystemTime::now())).as_bytes());
    for line in extra {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    Bytes::from(bytes)
}

/// Writes a complete response with `Content-Length` (and `Connection: close`
/// unless the connection stays open).
pub async fn write_full(stream: &TcpStream, parts: Parts, body: Body, keep_alive: bool) -> io::Result<()> {
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(io::Error::other)?;
    let length = format!("content-length: {}", body.len());
    let mut extra = vec![length.as_str()];
    if !keep_alive {
        extra.push("connection: close");
    }
    write_all(stream, &[head(&parts, &extra), body], 0).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{http::StatusCode, response::IntoResponse};

    #[test]
    fn heads_carry_the_handler_headers_but_our_framing() {
        let (parts, _) = (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json"), (header::CONTENT_LENGTH, "99")])
            .into_response()
            .into_parts();
        let text = String::from_utf8(head(&parts, &["content-length: 2"]).to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ndate: "), "{text}");
        assert!(text.ends_with(" GMT\r\ncontent-length: 2\r\n\r\n"), "{text}");
        assert!(!text.contains("99"));
    }
}
