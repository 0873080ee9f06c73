//! The reverse proxy on the public port (rig-spec 6.4–6.9): everything no
//! `/_rig` route takes. Match, authenticate, transform headers, log, then hand
//! the request to its target: an HTTP backend here, Kafka / NATS / Kinesis in
//! `proxy::publish`.

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body_util::Full;

use super::{
    body,
    error::{json_error, json_response},
};
use crate::{
    app::Shared,
    auth::jwt::bearer_tokens,
    proxy::{
        self,
        api::{Api, ResponseFrom, Target},
        correlation::{AsyncResponse, Pending},
        forward::{self, ForwardError, Hop, IdleTimeout},
        metrics::Outcome,
        request_log::LogEntry,
        route::Match,
        ProxyRequest,
    },
    telemetry::{self, Kind, TraceContext},
    transport::Peer,
};

/// Most tokens of one request that are checked (each is a signature check).
const MAX_TOKENS: usize = 32;

/// The fallback of the public port.
pub async fn handle(State(app): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // RIG's pipeline turns HEAD into GET before routing; the server drops the body.
    let method = if parts.method == Method::HEAD { Method::GET } else { parts.method.clone() };
    // What is matched is what is forwarded: the normalised path, never the raw one.
    let path = match proxy::path::normalize(parts.uri.path()) {
        Ok(p) => p,
        Err(reason) => return json_error(StatusCode::BAD_REQUEST, &reason.to_string()),
    };
    let path = path.as_str();
    let routes = app.proxy.store.routes();
    let Some(matched) = routes.find(method.as_str(), path) else {
        if app.config.proxy.public_apis_endpoint && method == Method::GET && path == "/apis" {
            return super::apis::list(State(app.clone())).await;
        }
        app.proxy.metrics.count(method.as_str(), path, None, None, Outcome::NotFound);
        return not_found();
    };
    let Match { route, path: rewritten } = matched;
    let (api, endpoint) = (route.api.clone(), route.endpoint.clone());
    let query = parts.uri.query();
    if api.auth.jwt && endpoint.secured && !authenticated(&app, &api, &parts.headers, query).await {
        let mut r = json_error(StatusCode::UNAUTHORIZED, "Authentication failed.");
        cors(&app, &mut r, "content-type");
        return r;
    }
    let mut headers = parts.headers.clone();
    if endpoint.transform_request_headers {
        for (name, value) in &api.add_headers {
            headers.insert(name.clone(), value.clone());
        }
    }
    let peer = parts.extensions.get::<Peer>().copied();
    let remote_ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.remote.ip());
    // The proxied request's server span; the backend or the produced event
    // continues it (RIG replaces the caller's traceparent with its own span's).
    let mut span = app.tracer.start(format!("proxy {}/{}", api.id, endpoint.id), Kind::Server, telemetry::from_headers(&headers).as_ref());
    if span.is_recording() {
        span.set("http.request.method", method.as_str());
        span.set("url.path", path.to_string());
        span.set("rig.proxy.target", endpoint.target.name());
    }
    let trace = span.context().clone();
    let traceparent = trace.traceparent();
    if app.proxy.request_log.enabled() {
        app.proxy.request_log.record(&LogEntry {
            endpoint: &endpoint,
            endpoint_json: &route.endpoint_json,
            request_path: path,
            remote_ip,
            target_url: &api.target_url,
            traceparent: Some(&traceparent),
        });
    }
    let body = match body::read(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let rewritten = rewritten.into_owned();
    let (method_label, request_path) = (method.as_str().to_string(), path.to_string());
    let count =
        |outcome| app.proxy.metrics.count(&method_label, &request_path, Some(endpoint.target), Some(endpoint.response_from), outcome);
    if endpoint.target != Target::Http {
        let (host, port) = host_and_port(&parts.headers, &parts.uri, peer);
        let request = ProxyRequest {
            method,
            path: rewritten,
            query: query.map(str::to_string),
            headers,
            remote_ip,
            host,
            port,
            scheme: if peer.is_some_and(|p| p.tls) { "https" } else { "http" },
            body,
            trace: Some(traceparent),
            request_path: request_path.clone(),
        };
        let response = app.proxy.publish.handle(&app, &endpoint, request).await;
        span.set("http.response.status_code", response.status().as_u16());
        return response;
    }
    if !forward::forwardable(&method) {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
    }
    let client = app.tracer.start("proxy upstream", Kind::Client, Some(&trace));
    let outgoing = Outgoing { method, path: &rewritten, query, headers: &headers, body, remote_ip, trace: client.context() };
    let (response, outcome) = forward_http(&app, &api, endpoint.response_from, outgoing).await;
    drop(client);
    span.set("http.response.status_code", response.status().as_u16());
    count(outcome);
    response
}

/// RIG's no-match answer.
pub fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#)
}

/// `access-control-allow-*` as RIG sets them on its own proxy answers.
pub fn cors(app: &Shared, r: &mut Response, allow_headers: &'static str) {
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header());
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(allow_headers));
}

/// At least one valid token (rig-spec 6.5): from the API's header (`Authorization`:
/// `Bearer` credentials; any other header: raw tokens) and its query parameter
/// (comma-separated tokens).
async fn authenticated(app: &Shared, api: &Api, headers: &HeaderMap, query: Option<&str>) -> bool {
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
        if app.auth.verify(token).await.is_ok() {
            return true;
        }
    }
    false
}

/// The client's view of the request host and port (`host` header, else the URI
/// authority, else the listening port).
fn host_and_port(headers: &HeaderMap, uri: &axum::http::Uri, peer: Option<Peer>) -> (String, u16) {
    let authority = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
    let default_port = peer.map_or(0, |p| p.local.port());
    match authority.and_then(|a| a.parse::<axum::http::uri::Authority>().ok()) {
        Some(a) => (a.host().trim_start_matches('[').trim_end_matches(']').to_string(), a.port_u16().unwrap_or(default_port)),
        None => (String::new(), default_port),
    }
}

struct Outgoing<'a> {
    method: Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: Bytes,
    remote_ip: IpAddr,
    trace: &'a TraceContext,
}

/// Sends the request to the API's backend and answers with its response, or
/// (asynchronous `response_from` and a 202 from the backend) with the response
/// delivered for the request's correlation id.
async fn forward_http(app: &Shared, api: &Arc<Api>, response_from: ResponseFrom, out: Outgoing<'_>) -> (Response, Outcome) {
    let pending: Option<Pending> = (response_from != ResponseFrom::Http).then(|| app.proxy.correlations.begin());
    let uri = match forward::upstream_uri(&api.upstream, out.path, out.query, pending.as_ref().map(|p| p.id.as_str())) {
        Ok(u) => u,
        Err(reason) => {
            tracing::warn!(api = %api.id, %reason, "Cannot build the upstream URL.");
            return (bad_gateway(), Outcome::Unreachable);
        }
    };
    let hop = Hop { client_ip: out.remote_ip, by: &app.config.proxy.forwarded_by, trace: out.trace };
    let mut request = axum::http::Request::new(Full::new(if sends_body(&out.method) { out.body } else { Bytes::new() }));
    *request.method_mut() = out.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = forward::upstream_headers(out.headers, &api.upstream, &hop);
    let recv_timeout = app.config.proxy.recv_timeout;
    let response = match app.proxy.upstreams.send(request, recv_timeout).await {
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
                ResponseFrom::Kafka => app.config.proxy.kafka_response_timeout,
                ResponseFrom::Kinesis => app.config.proxy.kinesis_response_timeout,
                _ => app.config.proxy.http_async_timeout,
            };
            await_response(app, pending, wait).await
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
async fn await_response(app: &Shared, pending: Pending, wait: Duration) -> (Response, Outcome) {
    match pending.wait(wait).await {
        Some(AsyncResponse { status, headers, body }) => {
            let mut r = (status, body).into_response();
            r.headers_mut().remove(header::CONTENT_TYPE);
            cors(app, &mut r, "content-type");
            for (name, value) in headers {
                r.headers_mut().append(name, value);
            }
            (r, Outcome::Ok)
        }
        None => {
            let msg = format!("Gateway timeout: no asynchronous response within {} ms.", wait.as_millis());
            let mut r = json_error(StatusCode::GATEWAY_TIMEOUT, &msg);
            cors(app, &mut r, "content-type");
            (r, Outcome::ResponseTimeout)
        }
    }
}
