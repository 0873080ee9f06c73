//! The Kafka response consumer (rig-spec 6.9): responses for requests waiting
//! with `response_from: kafka` (kafka and http targets) arrive on
//! `PROXY_KAFKA_RESPONSE_TOPICS`, in one consumer group shared by every node
//! (`PROXY_KAFKA_RESPONSE_KAFKA_GROUP_ID`), in the binary format:
//! header `rig-correlation` (the id the request carried), header
//! `rig-response-code` (the HTTP status), any other headers (copied to the
//! client, e.g. `content-type`), value = the response body as is.
//!
//! A message that is not such a response is logged, counted and skipped.
//!
//! **Clusters:** the group hands each message to one node, which need not be
//! the node whose client waits. A genuine id of another node's request goes to
//! the [`super::ForeignResponses`] hook (`Publishers::set_foreign_responses`), which
//! the cluster layer implements by forwarding the response to that node (where
//! it calls `Correlations::deliver`). Until a hook is set such responses are
//! logged and dropped, and the waiting client times out (504).

use std::sync::{atomic::Ordering, Arc};

use rdkafka::message::{BorrowedMessage, Headers, Message};

use super::metrics::Responses;
use crate::{
    app::AppState,
    proxy::correlation::{AsyncResponse, CorrelationError},
    source::kafka::consumer::MessageHandler,
};

/// Name in `/health`.
pub const HEALTH_NAME: &str = "kafka-responses";

/// Why a message is not a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAResponse {
    #[error("header {0} is missing or not text")]
    MissingHeader(&'static str),
    #[error("rig-response-code {0:?} is not an HTTP status code")]
    BadStatus(String),
}

/// Headers that describe the Kafka message's framing, not the HTTP response.
const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "content-length"];

/// Reads a binary-format response: `(correlation id, response)`. Header names
/// are matched case-insensitively; of repeated headers the last one counts
/// (as RIG, which turned them into a map).
pub fn parse(headers: &[(&str, Option<&[u8]>)], value: Option<&[u8]>) -> Result<(String, AsyncResponse), NotAResponse> {
    let text = |name: &'static str| {
        headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8((*v)?).ok())
            .ok_or(NotAResponse::MissingHeader(name))
    };
    let correlation = text("rig-correlation")?.to_string();
    let code = text("rig-response-code")?;
    let status = code
        .trim()
        .parse::<u16>()
        .ok()
        .and_then(|c| http::StatusCode::from_u16(c).ok())
        .ok_or_else(|| NotAResponse::BadStatus(code.to_string()))?;
    let mut extra: Vec<(http::HeaderName, http::HeaderValue)> = Vec::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("rig-correlation") || name.eq_ignore_ascii_case("rig-response-code") {
            continue;
        }
        let parsed = (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(value.unwrap_or_default()));
        let (Ok(name), Ok(value)) = parsed else {
            tracing::debug!(header = name, "Kafka response header is not a valid HTTP header; skipped.");
            continue;
        };
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        extra.retain(|(n, _)| *n != name);
        extra.push((name, value));
    }
    let body = bytes::Bytes::copy_from_slice(value.unwrap_or_default());
    Ok((correlation, AsyncResponse { status, headers: extra, body }))
}

/// The consumer group's handler: parse, then deliver here or hand to the cluster hook.
pub struct Deliver {
    pub app: Arc<AppState>,
    pub counts: Arc<Responses>,
}

impl MessageHandler for Deliver {
    async fn handle(&self, message: &BorrowedMessage<'_>) {
        let headers: Vec<(&str, Option<&[u8]>)> =
            message.headers().map(|hs| hs.iter().map(|h| (h.key, h.value)).collect()).unwrap_or_default();
        let reject = |error: &dyn std::fmt::Display| {
            tracing::warn!(topic = message.topic(), partition = message.partition(), offset = message.offset(), %error,
                "Kafka message is not a proxy response; skipped.");
            self.counts.rejected.fetch_add(1, Ordering::Relaxed);
        };
        let (correlation, response) = match parse(&headers, message.payload()) {
            Ok(parsed) => parsed,
            Err(error) => return reject(&error),
        };
        match self.app.proxy.correlations.deliver(&correlation, response.clone()) {
            Ok(()) => {
                self.counts.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(CorrelationError::WrongNode(node)) => match self.app.proxy.publish.foreign_responses() {
                Some(hook) => {
                    hook.forward(node, &correlation, response);
                    self.counts.forwarded.fetch_add(1, Ordering::Relaxed);
                }
                None => reject(&format!("the request waits on node {node:x} and no cluster forwarding is set up")),
            },
            Err(error) => reject(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_format_responses() {
        let headers: Vec<(&str, Option<&[u8]>)> = vec![
            ("rig-correlation", Some(b"abc")),
            ("rig-response-code", Some(b"201")),
            ("Content-Type", Some(b"application/json;charset=utf-8")),
            ("x-dup", Some(b"1")),
            ("x-dup", Some(b"2")),
            ("content-length", Some(b"999")),
            ("bad header", Some(b"x")),
        ];
        let (id, r) = parse(&headers, Some(br#"{"a":1}"#)).unwrap();
        assert_eq!((id.as_str(), r.status.as_u16(), &r.body[..]), ("abc", 201, &br#"{"a":1}"#[..]));
        let names: Vec<(&str, &str)> = r.headers.iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(names, [("content-type", "application/json;charset=utf-8"), ("x-dup", "2")]);
        let (_, empty) = parse(&headers[..2], None).unwrap();
        assert!(empty.body.is_empty() && empty.headers.is_empty());
    }

    #[test]
    fn what_is_not_a_response() {
        let code = |c: &'static [u8]| vec![("rig-correlation", Some(&b"abc"[..])), ("rig-response-code", Some(c))];
        assert_eq!(parse(&code(b"abc201"), None).unwrap_err(), NotAResponse::BadStatus("abc201".into()));
        assert_eq!(parse(&code(b"42"), None).unwrap_err(), NotAResponse::BadStatus("42".into()));
        assert_eq!(parse(&code(b"201")[1..], None).unwrap_err(), NotAResponse::MissingHeader("rig-correlation"));
        assert_eq!(parse(&code(b"201")[..1], None).unwrap_err(), NotAResponse::MissingHeader("rig-response-code"));
        assert_eq!(
            parse(&[("rig-correlation", None), ("rig-response-code", Some(b"200"))], None).unwrap_err(),
            NotAResponse::MissingHeader("rig-correlation")
        );
    }
}
