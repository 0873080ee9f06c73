//! What every handler shares: the gateway's parts, built once by `app` and
//! read by the transports and both HTTP surfaces. Data only; the logic lives
//! with each part.

use std::sync::Arc;

use axum::http::HeaderValue;

use crate::{
    auth::Auth, cluster::Cluster, config::Config, hub::Hub, lifecycle::Lifecycle, limit::PerAddress, per_ip::PerIp, proxy::Proxy,
    session::Sessions, source::Dispatcher, telemetry::Tracer,
};

/// State shared by every handler.
pub struct AppState {
    pub config: Config,
    pub hub: Arc<Hub>,
    pub auth: Arc<Auth>,
    /// Where every source (HTTP, Kafka, NATS, Kinesis) hands its events.
    pub dispatcher: Dispatcher,
    /// Connection tokens, set-up, subscription updates and session kills.
    pub sessions: Sessions,
    /// Connections per client address, counted by every listener.
    pub per_ip: Arc<PerIp>,
    /// Long-polling sessions per client address.
    pub longpoll_sessions: PerAddress,
    pub tracer: Tracer,
    /// The reverse proxy: API definitions, waiting requests, publish targets.
    pub proxy: Proxy,
    /// Listening, draining, requests in flight (readiness and shutdown).
    pub lifecycle: Arc<Lifecycle>,
    /// The other nodes, when this one is part of a cluster.
    pub cluster: Option<Arc<Cluster>>,
}

/// Cheap-to-clone handle on [`AppState`].
pub type Shared = Arc<AppState>;

impl AppState {
    /// `access-control-allow-origin` value (`CORS`).
    pub fn cors_header(&self) -> HeaderValue {
        self.config.cors.own()
    }
}
