//! The reverse proxy / API gateway (rig-spec section 6): requests on the public
//! port that no `/_rig` route takes are matched against API definitions and
//! forwarded to an HTTP backend or published to Kafka / NATS / Kinesis.
//!
//! - [`api`]: the API definition model (endpoints, targets, `response_from`).
//! - [`correlation`]: signed correlation ids and requests waiting for an asynchronous response.
//! - [`publish`]: the `kafka`, `nats` and `kinesis` targets.
//! - [`request_log`]: `REQUEST_LOG` sinks.
//! - [`validate`], [`store`], [`route`]: definitions checked, kept, compiled into the route table.
//! - [`path`]: the request path normalised before matching (dot-segments, encodings).
//! - [`forward`]: the `http` target's upstream request and pooled client.
//! - [`metrics`] keeps `rig_proxy_requests_total`.
//! - [`config`]: the `PROXY_*` settings.
//!
//! The HTTP handlers are in `crate::http::{proxy, apis, responses}`.

pub mod api;
pub mod config;
pub mod correlation;
pub mod forward;
pub mod metrics;
pub mod path;
pub mod publish;
pub mod request_log;
pub mod route;
pub mod store;
pub mod validate;

use std::net::IpAddr;

use crate::config::Config;

use self::{
    correlation::Correlations, forward::Upstreams, metrics::ProxyMetrics, publish::Publishers, request_log::RequestLog, store::ApiStore,
};

/// What a publish target needs to know about the frontend request (after matching & auth).
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub method: http::Method,
    /// The (rewritten) request path.
    pub path: String,
    /// The path as requested (normalised, [`path::normalize`]), before rewriting (RIG's `path` metric label).
    pub request_path: String,
    /// Raw query string.
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub remote_ip: IpAddr,
    /// Request host (without port).
    pub host: String,
    /// Request port.
    pub port: u16,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// Fully buffered (`RIG_MAX_BODY_BYTES` applies; larger is refused with 413).
    pub body: bytes::Bytes,
    /// `traceparent` to propagate (`None` without a tracing context).
    pub trace: Option<String>,
}

/// The proxy's shared state, part of [`crate::app::AppState`].
pub struct Proxy {
    /// API definitions and the routes compiled from them.
    pub store: ApiStore,
    pub correlations: Correlations,
    pub publish: Publishers,
    pub request_log: RequestLog,
    pub metrics: ProxyMetrics,
    /// The pooled client for `http` targets.
    pub upstreams: Upstreams,
}

impl Proxy {
    /// `node_id` is this node's id, named by every correlation id it issues.
    pub fn new(config: &Config, node_id: u64) -> Self {
        let publish = Publishers::new(config);
        Proxy {
            store: ApiStore::new(&config.node_name, &config.proxy.apis),
            correlations: Correlations::new(config.node_cookie.as_deref(), node_id),
            request_log: RequestLog::new(&config.proxy.request_log, &publish),
            publish,
            metrics: ProxyMetrics::default(),
            upstreams: Upstreams::default(),
        }
    }
}
