//! Requests waiting for an asynchronous response (rig-spec 6.9, 5.4).
//!
//! A waiting request gets a correlation id: `base64url(node id ‖ request id ‖
//! HMAC tag)`, signed like connection tokens ([`crate::token`]) but with a key
//! of its own, so ids are unguessable, cannot be forged without `NODE_COOKIE`,
//! and say which node holds the waiter (for routing in a cluster).
//!
//! The waiter registers *before* the request is forwarded, so a response that
//! arrives before the backend's `202` is kept (in the waiter's one-slot channel)
//! until the waiter waits, and dropped with it when it gives up. Memory is
//! bounded by the requests in flight: one map entry and at most one response
//! each, and nothing for ids nobody waits for.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::{
    support::{ids::random_u64, sync::lock},
    token::{TokenCodec, TokenIds},
};

/// A response for a waiting request.
#[derive(Debug, Clone)]
pub struct AsyncResponse {
    pub status: http::StatusCode,
    /// Copied to the waiting client.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub body: Bytes,
}

/// Why a correlation id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CorrelationError {
    #[error("the correlation id is not a well-formed id")]
    Malformed,
    #[error("the correlation id has an invalid signature")]
    Forged,
    /// Genuine, but the waiter lives on another node (its id).
    #[error("the correlation id belongs to node {0:x}")]
    WrongNode(u64),
}

type Slots = Arc<Mutex<HashMap<u64, oneshot::Sender<AsyncResponse>>>>;

/// The waiting requests of this node.
pub struct Correlations {
    codec: TokenCodec,
    node_id: u64,
    slots: Slots,
}

/// A registered waiter; dropping it unregisters it.
pub struct Pending {
    /// The correlation id to hand to the backend.
    pub id: String,
    key: u64,
    rx: oneshot::Receiver<AsyncResponse>,
    slots: Slots,
}

impl Correlations {
    /// Keyed by `NODE_COOKIE` (random when unset); ids name `node_id`.
    pub fn new(node_cookie: Option<&str>, node_id: u64) -> Self {
        Correlations { codec: TokenCodec::for_purpose(node_cookie, "correlation"), node_id, slots: Slots::default() }
    }

    /// Registers a waiting request.
    pub fn begin(&self) -> Pending {
        let (tx, rx) = oneshot::channel();
        let mut slots = lock(&self.slots);
        let key = loop {
            let k = random_u64();
            if !slots.contains_key(&k) {
                break k;
            }
        };
        slots.insert(key, tx);
        drop(slots);
        let id = self.codec.seal(TokenIds { node: self.node_id, connection: key });
        Pending { id, key, rx, slots: self.slots.clone() }
    }

    /// Checks an id: which node's waiter it names (this one's: `Ok(request key)`).
    pub fn open(&self, id: &str) -> Result<u64, CorrelationError> {
        let ids = self.codec.open(id.trim()).map_err(|_| {
            let raw = id.trim().trim_end_matches('=');
            let well_formed = raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if well_formed {
                CorrelationError::Forged
            } else {
                CorrelationError::Malformed
            }
        })?;
        if ids.node != self.node_id {
            return Err(CorrelationError::WrongNode(ids.node));
        }
        Ok(ids.connection)
    }

    /// Hands a response to its waiter. A genuine id whose waiter is gone (timed
    /// out, or the backend did not answer 202) is accepted and the response dropped.
    pub fn deliver(&self, id: &str, response: AsyncResponse) -> Result<(), CorrelationError> {
        let key = self.open(id)?;
        let waiter = lock(&self.slots).remove(&key);
        match waiter {
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => tracing::debug!("Asynchronous response for a request that no longer waits; dropped."),
        }
        Ok(())
    }

    /// Requests waiting right now.
    pub fn waiting(&self) -> usize {
        lock(&self.slots).len()
    }
}

impl Pending {
    /// The response, or `None` after `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Option<AsyncResponse> {
        tokio::time::timeout(timeout, &mut self.rx).await.ok().and_then(Result::ok)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.slots).remove(&self.key);
    }
}

/// Headers of a `/v3/responses` request (or Kafka response message) that are
/// not copied to the waiting client: the two `rig-*` ones, hop-by-hop ones and
/// those that only make sense on a request (credentials among them).
const NOT_COPIED: [&str; 30] = [
    "rig-correlation",
    "rig-response-code",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "te",
    "trailer",
    "host",
    "content-length",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-charset",
    "authorization",
    "proxy-authorization",
    "cookie",
    "expect",
    "origin",
    "referer",
    "from",
    "max-forwards",
    "forwarded",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
];

/// Reads a response in RIG's binary form: header `rig-correlation` (the id),
/// `rig-response-code` (the status), other end-to-end headers copied to the
/// client, body as is. Errors are the reason RIG's 400 text names.
pub fn binary_response<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>, body: Bytes) -> Result<(String, AsyncResponse), String> {
    let (mut id, mut code, mut copied) = (None, None, Vec::new());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "rig-correlation" => id = Some(String::from_utf8_lossy(value).trim().to_string()),
            "rig-response-code" => code = Some(String::from_utf8_lossy(value).trim().to_string()),
            n if NOT_COPIED.contains(&n) || n.starts_with("if-") => {}
            _ => {
                if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(lower.as_bytes()), http::HeaderValue::from_bytes(value)) {
                    copied.push((n, v));
                }
            }
        }
    }
    let id = id.ok_or("missing header rig-correlation")?;
    let code = code.ok_or("missing header rig-response-code")?;
    let number: i64 = code.parse().map_err(|_| format!("{{:error, {{:not_an_integer, {code:?}}}}}"))?;
    let status = u16::try_from(number)
        .ok()
        .and_then(|n| http::StatusCode::from_u16(n).ok())
        .ok_or(format!("rig-response-code {number} is not an HTTP status code"))?;
    Ok((id, AsyncResponse { status, headers: copied, body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &'static str) -> AsyncResponse {
        AsyncResponse { status: http::StatusCode::CREATED, headers: vec![], body: Bytes::from_static(body.as_bytes()) }
    }

    #[tokio::test]
    async fn a_response_before_the_wait_is_kept_and_one_after_the_timeout_dropped() {
        let c = Correlations::new(Some("cookie"), 7);
        let early = c.begin();
        c.deliver(&early.id, response("early")).unwrap();
        assert_eq!(early.wait(Duration::from_millis(10)).await.unwrap().body, "early");
        let late = c.begin();
        let id = late.id.clone();
        assert!(late.wait(Duration::from_millis(10)).await.is_none());
        assert_eq!(c.deliver(&id, response("late")), Ok(()));
        assert_eq!(c.waiting(), 0, "nothing is kept for a waiter that left");
    }

    #[tokio::test]
    async fn a_response_while_waiting_arrives() {
        let c = Arc::new(Correlations::new(None, 1));
        let p = c.begin();
        let id = p.id.clone();
        let c2 = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c2.deliver(&id, response("hi")).unwrap();
        });
        assert_eq!(p.wait(Duration::from_secs(5)).await.unwrap().status, 201);
    }

    #[test]
    fn binary_responses_as_rig_reads_them() {
        let h = |pairs: &[(&'static str, &'static str)]| pairs.iter().map(|(k, v)| (*k, v.as_bytes())).collect::<Vec<_>>();
        let (id, r) = binary_response(
            h(&[
                ("rig-correlation", "abc"),
                ("Rig-Response-Code", "201"),
                ("content-type", "application/json"),
                ("authorization", "x"),
                ("host", "h"),
            ]),
            Bytes::from_static(b"{}"),
        )
        .unwrap();
        assert_eq!((id.as_str(), r.status.as_u16(), r.body.as_ref()), ("abc", 201, &b"{}"[..]));
        assert_eq!(r.headers.len(), 1, "only end-to-end response headers are copied: {:?}", r.headers);
        let err = |pairs| binary_response(h(pairs), Bytes::new()).unwrap_err();
        assert_eq!(err(&[("rig-correlation", "abc"), ("rig-response-code", "abc201")]), "{:error, {:not_an_integer, \"abc201\"}}");
        assert_eq!(err(&[("rig-response-code", "200")]), "missing header rig-correlation");
        assert_eq!(err(&[("rig-correlation", "abc")]), "missing header rig-response-code");
        assert_eq!(err(&[("rig-correlation", "abc"), ("rig-response-code", "1000")]), "rig-response-code 1000 is not an HTTP status code");
    }

    #[test]
    fn forged_malformed_and_foreign_ids_are_told_apart() {
        let here = Correlations::new(Some("cookie"), 1);
        let there = Correlations::new(Some("cookie"), 2);
        let p = there.begin();
        assert_eq!(here.deliver(&p.id, response("")), Err(CorrelationError::WrongNode(2)));
        assert_eq!(Correlations::new(Some("other"), 2).deliver(&p.id, response("")), Err(CorrelationError::Forged));
        assert_eq!(here.deliver("abc", response("")), Err(CorrelationError::Malformed));
        // A connection token signed with the same cookie is no correlation id.
        let conn = TokenCodec::new(Some("cookie")).seal(TokenIds { node: 1, connection: 5 });
        assert_eq!(here.deliver(&conn, response("")), Err(CorrelationError::Forged));
        assert!(p.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
