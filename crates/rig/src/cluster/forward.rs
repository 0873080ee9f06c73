//! Requests about a connection held by another node (a subscription update,
//! a long-poll) are passed to that node's public port as they came: method,
//! path, query, headers (`Authorization` matters), body; its answer is
//! passed back unchanged. A marker header stops a second hop.

use std::{net::SocketAddr, time::Duration};

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderName, HeaderValue, Method},
    response::Response,
};
use bytes::Bytes;

/// Set on a forwarded request (value: the forwarding node).
pub const FORWARDED_BY: &str = "x-rig-forwarded-by";

/// Set on a forwarded request (value: the id of the node it is meant for, hex):
/// a process that took over that node's address after a restart answers
/// [`MISDIRECTED`] instead of acting on a connection it never had.
pub const FORWARDED_TO: &str = "x-rig-forwarded-to";

/// The answer of a node a forwarded request was not meant for.
pub const MISDIRECTED: axum::http::StatusCode = axum::http::StatusCode::MISDIRECTED_REQUEST;

/// What a node answers a forwarded request meant for another.
pub fn misdirected_answer() -> Response {
    crate::support::response::json_error(MISDIRECTED, "This request was meant for the node that held this address before.")
}

/// True when the request was forwarded to a node other than `me`.
pub fn misdirected(headers: &HeaderMap, me: u64) -> bool {
    headers.get(FORWARDED_TO).and_then(|v| v.to_str().ok()).and_then(|v| u64::from_str_radix(v, 16).ok()).is_some_and(|to| to != me)
}

/// Headers that describe one hop, not the request.
const HOP: [HeaderName; 6] =
    [header::HOST, header::CONNECTION, header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::TE, header::UPGRADE];

/// True when the request was already forwarded once.
pub fn was_forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_BY)
}

/// Passes requests on, marked with the forwarding node's name.
pub struct Forwarder {
    client: reqwest::Client,
    me: String,
    timeout: Duration,
}

impl Forwarder {
    /// `timeout` bounds a whole exchange (long-polls wait on the other node);
    /// requests leave from `from` (`NODE_HOST`), as the peer links do.
    pub fn new(me: String, from: std::net::IpAddr, timeout: Duration) -> Forwarder {
        let from = (!from.is_unspecified()).then_some(from);
        let client =
            reqwest::Client::builder().no_proxy().local_address(from).build().expect("an HTTP client with default settings builds");
        Forwarder { client, me, timeout }
    }

    /// Sends the request to `to` and returns its answer.
    pub async fn forward(
        &self,
        to: SocketAddr,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response, reqwest::Error> {
        let mut out_headers = headers.clone();
        for h in &HOP {
            out_headers.remove(h);
        }
        if let Ok(v) = HeaderValue::from_str(&self.me) {
            out_headers.insert(FORWARDED_BY, v);
        }
        let url = format!("http://{to}{path_and_query}");
        let answer = self.client.request(method, url).headers(out_headers).body(body).timeout(self.timeout).send().await?;
        let status = answer.status();
        let mut back_headers = answer.headers().clone();
        for h in &HOP {
            back_headers.remove(h);
        }
        let body = answer.bytes().await?;
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        *r.headers_mut() = back_headers;
        Ok(r)
    }
}
