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
pub mod owner;
pub mod path;
pub mod pipeline;
pub mod publish;
pub mod replicate;
pub mod request;
pub mod request_log;
pub mod route;
pub mod store;
pub mod validate;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::{cluster::Cluster, config::Config, source::Health};

use self::{
    config::ProxyConfig, correlation::Correlations, forward::Upstreams, metrics::ProxyMetrics, owner::Owner, publish::Publishers,
    request_log::RequestLog, store::ApiStore,
};

/// The proxy's shared state.
pub struct Proxy {
    /// API definitions and the routes compiled from them.
    pub store: ApiStore,
    pub correlations: Arc<Correlations>,
    /// Where responses for other nodes' requests go.
    pub owner: Arc<Owner>,
    /// The `PROXY_*` settings.
    pub settings: ProxyConfig,
    pub publish: Publishers,
    pub request_log: RequestLog,
    pub metrics: ProxyMetrics,
    /// The pooled client for `http` targets.
    pub upstreams: Upstreams,
}

impl Proxy {
    /// `node_id` is this node's id, named by every correlation id it issues;
    /// `cluster` the other nodes, whose requests may get responses here.
    pub fn new(config: &Config, node_id: u64, cluster: Option<Arc<Cluster>>) -> Self {
        let publish = Publishers::new(config);
        Proxy {
            store: ApiStore::new(&config.node_name, &config.proxy.apis),
            correlations: Arc::new(Correlations::new(config.node_cookie.as_deref(), node_id)),
            owner: Arc::new(Owner::new(cluster, config.api_access.authorization())),
            settings: config.proxy.clone(),
            request_log: RequestLog::new(&config.proxy.request_log, &publish),
            publish,
            metrics: ProxyMetrics::default(),
            upstreams: Upstreams::default(),
        }
    }

    /// Starts the publish targets' broker clients (they report into `health`).
    pub fn start(&self, health: Arc<Health>) -> Vec<JoinHandle<()>> {
        self.publish.start(health, &self.correlations, &self.owner)
    }

    /// What a publish target's answer needs; `cors` is `access-control-allow-origin`.
    pub fn context(&self, cors: axum::http::HeaderValue) -> publish::Context<'_> {
        publish::Context { metrics: &self.metrics, correlations: &self.correlations, settings: &self.settings, cors }
    }
}
