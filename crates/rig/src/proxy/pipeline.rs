//! The steps of a proxied request that are not HTTP plumbing: token checks,
//! the client's host, and the `http` target (forward to the backend, relay
//! its answer, or wait for the asynchronous response it announced).

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body_util::Full;

use super::{
    answer::cors,
    api::{Api, ResponseFrom},
    correlation::{AsyncResponse, Pending},
    forward::{self, ForwardError, Hop, IdleTimeout},
    metrics::Outcome,
    Proxy,
};
use crate::{
    auth::{jwt::bearer_tokens, Auth},
    support::response::json_error,
    telemetry::TraceContext,
};

/// Most tokens of one request that are checked (each is a signature check).
const MAX_TOKENS: usize = 32;

/// At least one valid token (rig-spec 6.5): from the API's header (`Authorization`:
/// `Bearer` credentials; any other header: raw tokens) and its query parameter
/// (comma-separated tokens).
pub async fn authenticated(auth: &Auth, api: &Api, headers: &HeaderMap, query: Option<&str>) -> bool {
    let mut tokens: Vec<String> = Vec::new();
    if let Some(name) = &api.auth.header {
        let values = headers.get_all(name.as_str()).iter().filter_map(|v| v.to_str().ok());
        if name == "authorization" {
            tokens.extend(bearer_tokens(values).into_iter().map(str::to_string));
        } else {
            tokens.extend(values.map(|v| v.trim().to_string()).filter(|t| !t.is_empty()));
        }
    }
    if let (Some(name), Some(query)) = (&api.auth.query, query) {
        // The last occurrence wins, as in RIG's query decoding.
        let value = form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == name).map(|(_, v)| v.into_owned()).last();
        if let Some(value) = value {
            tokens.extend(value.split(',').filter(|t| !t.is_empty()).map(str::to_string));
        }
    }
    for token in tokens.iter().take(MAX_TOKENS) {
        if auth.verify(token).await.is_ok() {
            return true;
        }
    }
    false
}

/// The client's view of the request host and port (`host` header, else the URI
/// authority, else `default_port`, the listening port).
pub fn host_and_port(headers: &HeaderMap, uri: &axum::http::Uri, default_port: u16) -> (String, u16) {
    let authority = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
    match authority.and_then(|a| a.parse::<axum::http::uri::Authority>().ok()) {
        Some(a) => (a.host().trim_start_matches('[').trim_end_matches(']').to_string(), a.port_u16().unwrap_or(default_port)),
        None => (String::new(), default_port),
    }
}

/// The request as it goes to an `http` target's backend.
pub struct Outgoing<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub remote_ip: IpAddr,
    pub trace: &'a TraceContext,
}

/// Sends the request to the API's backend and answers with its response, or
/// (asynchronous `response_from` and a 202 from the backend) with the response
/// delivered for the request's correlation id.
pub async fn forward_http(
    proxy: &Proxy,
    origin: &HeaderValue,
    api: &Arc<Api>,
    response_from: ResponseFrom,
    out: Outgoing<'_>,
) -> (Response, Outcome) {
    let pending: Option<Pending> = (response_from != ResponseFrom::Http).then(|| proxy.correlations.begin());
    let uri = match forward::upstream_uri(&api.upstream, out.path, out.query, pending.as_ref().map(|p| p.id.as_str())) {
        Ok(u) => u,
        Err(reason) => {
            tracing::warn!(api = %api.id, %reason, "Cannot build the upstream URL.");
            return (bad_gateway(), Outcome::Unreachable);
        }
    };
    let hop = Hop { client_ip: out.remote_ip, by: &proxy.settings.forwarded_by, trace: out.trace };
    let mut request = axum::http::Request::new(Full::new(if sends_body(&out.method) { out.body } else { Bytes::new() }));
    *request.method_mut() = out.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = forward::upstream_headers(out.headers, &api.upstream, &hop);
    let recv_timeout = proxy.settings.recv_timeout;
    let response = match proxy.upstreams.send(request, recv_timeout).await {
        Ok(r) => r,
        Err(ForwardError::Timeout(after)) => {
            tracing::warn!(api = %api.id, ?after, "Backend did not answer in time.");
            let msg = format!("Gateway timeout: the backend did not answer within {} ms.", after.as_millis());
            return (json_error(StatusCode::GATEWAY_TIMEOUT, &msg), Outcome::RequestTimeout);
        }
        Err(ForwardError::Unreachable(reason)) => {
            tracing::warn!(api = %api.id, %reason, "Backend unreachable.");
            return (bad_gateway(), Outcome::Unreachable);
        }
    };
    match pending {
        Some(pending) if response.status() == StatusCode::ACCEPTED => {
            drop(response);
            let wait = match response_from {
                ResponseFrom::Kafka => proxy.settings.kafka_response_timeout,
                ResponseFrom::Kinesis => proxy.settings.kinesis_response_timeout,
                _ => proxy.settings.http_async_timeout,
            };
            await_response(origin, pending, wait).await
        }
        _ => (relay(response, recv_timeout), Outcome::Ok),
    }
}

fn sends_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

fn bad_gateway() -> Response {
    json_error(StatusCode::BAD_GATEWAY, "Bad gateway.")
}

/// The backend's response, streamed: status, end-to-end headers, body (cut
/// when the backend stalls for `idle`).
fn relay(response: axum::http::Response<hyper::body::Incoming>, idle: Duration) -> Response {
    let (parts, incoming) = response.into_parts();
    let mut r = Response::new(Body::new(IdleTimeout::new(incoming, idle)));
    *r.status_mut() = parts.status;
    *r.headers_mut() = forward::without_hop_by_hop(&parts.headers);
    r
}

/// Waits for the correlated response; 504 when none comes in time.
async fn await_response(origin: &HeaderValue, pending: Pending, wait: Duration) -> (Response, Outcome) {
    match pending.wait(wait).await {
        Some(AsyncResponse { status, headers, body }) => {
            let mut r = (status, body).into_response();
            r.headers_mut().remove(header::CONTENT_TYPE);
            cors(origin, &mut r, "content-type");
            for (name, value) in headers {
                r.headers_mut().append(name, value);
            }
            (r, Outcome::Ok)
        }
        None => {
            let msg = format!("Gateway timeout: no asynchronous response within {} ms.", wait.as_millis());
            let mut r = json_error(StatusCode::GATEWAY_TIMEOUT, &msg);
            cors(origin, &mut r, "content-type");
            (r, Outcome::ResponseTimeout)
        }
    }
}
