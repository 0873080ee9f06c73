//! The Reactive Interaction Gateway.
//!
//! - [`config`]: every environment variable, parsed once, documented once.
//! - [`hub`]: live connections, subscriptions, sessions, fan-out.
//! - [`transport`]: SSE, WebSocket and long-polling protocol code.
//! - [`session`]: a connection's life: tokens, set-up checks, registration, updates, kills.
//! - [`state`]: the parts every handler shares.
//! - [`http`]: the public (inbound) and internal (API) HTTP surfaces.
//! - [`auth`]: JWT verification and subscription/submission checks.
//! - [`tls`]: HTTPS settings (certificates, encrypted keys, ALPN).
//! - [`token`]: signed, routable connection tokens.
//! - [`limit`]: the per-minute connection limit.
//! - [`per_ip`]: concurrent connections per client address.
//! - [`accept`]: accepting TCP connections without spinning when descriptors run out.
//! - [`server`]: the accept loop and HTTP/1.1 connection limits.
//! - [`proxy`]: the reverse proxy / API gateway (API definitions, forwarding, publish targets).
//! - [`source`]: event sources (HTTP, Kafka, NATS, Kinesis) and the one dispatcher they feed.
//! - [`telemetry`]: distributed tracing (W3C trace context, OTLP / Zipkin export).
//! - [`cluster`]: several nodes as one gateway (membership, replicated state, forwarding).
//! - [`broker`]: broker clients (Kafka, NATS, Kinesis) shared by the event sources and the publish targets.
//! - [`support`]: the ground floor: env parsing toolkit and variable table, lock policy, ids, time, back-off.
//! - [`app`]: wires it together, binds, serves, shuts down.

// No unwrap outside tests: an invariant is stated with `expect`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod accept;
pub mod app;
pub mod auth;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod cors;
pub mod http;
pub mod hub;
pub mod lifecycle;
pub mod limit;
pub mod per_ip;
pub mod proxy;
pub mod server;
pub mod session;
pub mod source;
pub mod state;
pub mod support;
pub mod telemetry;
pub mod tls;
pub mod token;
pub mod transport;

pub use app::{App, RunningApp};
pub use config::Config;
