//! The reverse proxy / API gateway (rig-spec section 6): requests on the public
//! port that no `/_rig` route takes are matched against API definitions and
//! forwarded to an HTTP backend or published to Kafka / NATS / Kinesis.
//!
//! - [`api`]: the API definition model (endpoints, targets, `response_from`).
//! - [`correlation`]: signed correlation ids and requests waiting for an asynchronous response.
//! - [`publish`]: the `kafka`, `nats` and `kinesis` targets.
//! - [`request_log`]: `REQUEST_LOG` sinks.
//! - [`validate`], [`store`], [`route`]: definitions checked, kept, compiled into the route table.
//! - [`answer`]: the CORS headers of the proxy's own answers.
//! - [`path`]: the request path normalised before matching (dot-segments, encodings).
//! - [`forward`]: the `http` target's upstream request and pooled client.
//! - [`metrics`] keeps `rig_proxy_requests_total`.
//! - [`config`]: the `PROXY_*` settings.
//! - [`pipeline`]: token checks and the `http` target (forward, relay, await the asynchronous response).
//! - [`owner`]: responses for requests waiting on another node.
//! - [`replicate`]: API definitions kept the same on every node.
//!
//! The HTTP handlers are in `crate::http::{proxy, apis, responses}`.

pub mod answer;
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

use axum::http::HeaderValue;

use crate::{
    broker::{health::Health, kafka::config::KafkaConfig, nats::config::NatsConfig},
    cluster::Cluster,
};

use self::{
    config::ProxyConfig, correlation::Correlations, forward::Upstreams, metrics::ProxyMetrics, owner::Owner, publish::Publishers,
    request_log::RequestLog, store::ApiStore,
};

/// What the proxy is built from: its own settings and those of the gateway it reads.
pub struct Settings<'a> {
    pub proxy: &'a ProxyConfig,
    pub publish: &'a publish::config::PublishConfig,
    /// `KAFKA_BROKERS` and the rest, when set: the kafka target and `REQUEST_LOG=kafka`.
    pub kafka: Option<&'a KafkaConfig>,
    /// `NATS_SERVERS`, when set: the nats target.
    pub nats: Option<&'a NatsConfig>,
    /// `NODE_NAME`, recorded in API definitions.
    pub node_name: &'a str,
    /// `NODE_COOKIE`, which keys correlation ids.
    pub node_cookie: Option<&'a str>,
    /// What requests to a peer's internal port carry (`RIG_API_TOKEN`).
    pub api_authorization: Option<HeaderValue>,
    /// `RIG_EXTRA_CA_CERTS`, for HTTPS backends.
    pub trust: &'a crate::tls::Trust,
}

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
    pub fn new(settings: Settings<'_>, node_id: u64, cluster: Option<Arc<Cluster>>) -> Self {
        let publish = Publishers::new(settings.publish, settings.kafka, settings.nats);
        Proxy {
            store: ApiStore::new(settings.node_name, &settings.proxy.apis),
            correlations: Arc::new(Correlations::new(settings.node_cookie, node_id)),
            owner: Arc::new(Owner::new(cluster, settings.api_authorization)),
            settings: settings.proxy.clone(),
            request_log: RequestLog::new(&settings.proxy.request_log, &publish),
            publish,
            metrics: ProxyMetrics::default(),
            upstreams: Upstreams::new(settings.trust.clone()),
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
