//! The reverse proxy on the public port (rig-spec 6.4–6.9): everything no
//! `/_rig` route takes. Match, authenticate, transform headers, log, then hand
//! the request to its target: an HTTP backend (`proxy::pipeline`), Kafka /
//! NATS / Kinesis (`proxy::publish`).

use std::net::IpAddr;

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    response::Response,
};

use super::body;
use crate::{
    proxy::{self, answer, api::Target, forward, metrics::Outcome, pipeline, request::ProxyRequest, request_log::LogEntry, route::Match},
    state::Shared,
    support::response::{json_error, json_response},
    telemetry::{self, logs, Kind},
    transport::Peer,
};

/// The fallback of the public port. Its log lines carry the request's trace id.
pub async fn handle(State(app): State<Shared>, request: Request) -> Response {
    use tracing::Instrument as _;
    proxied(app, request).instrument(logs::request_span()).await
}

async fn proxied(app: Shared, request: Request) -> Response {
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
    if api.auth.jwt && endpoint.secured && !pipeline::authenticated(&app.auth, &api, &parts.headers, query).await {
        let mut r = json_error(StatusCode::UNAUTHORIZED, "Authentication failed.");
        answer::cors(&app.cors_header(), &mut r, "content-type");
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
    tracing::Span::current().record("trace_id", trace.trace_id_hex());
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
        let (host, port) = pipeline::host_and_port(&parts.headers, &parts.uri, peer.map_or(0, |p| p.local.port()));
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
        let response = app.proxy.publish.handle(app.proxy.context(app.cors_header()), &endpoint, request).await;
        span.set("http.response.status_code", response.status().as_u16());
        return response;
    }
    if !forward::forwardable(&method) {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
    }
    let client = app.tracer.start("proxy upstream", Kind::Client, Some(&trace));
    let outgoing = pipeline::Outgoing { method, path: &rewritten, query, headers: &headers, body, remote_ip, trace: client.context() };
    let (response, outcome) = pipeline::forward_http(&app.proxy, &app.cors_header(), &api, endpoint.response_from, outgoing).await;
    drop(client);
    span.set("http.response.status_code", response.status().as_u16());
    count(outcome);
    response
}

/// RIG's no-match answer.
pub fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#)
}
