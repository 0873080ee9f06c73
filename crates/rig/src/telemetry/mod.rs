//! Distributed tracing (W3C Trace Context), exported as OTLP/HTTP JSON or to
//! Zipkin.
//!
//! - [`context`]: `traceparent` / `tracestate` values.
//! - [`span`]: spans and the [`Tracer`] that starts them.
//! - [`config`]: the `OTEL_*` and RIG's `ZIPKIN_*` variables.
//! - [`export`]: the batching exporter task.
//! - [`logs`]: log line formats (`LOG_FMT`), with the trace id of a request span.
//!
//! Where spans come from: the HTTP publish endpoints (server span, parented by
//! the request's `traceparent`), the dispatcher (one span per event, parented by
//! that or by the event's own `traceparent` attribute: the CloudEvents
//! distributed-tracing extension) and the reverse proxy.

pub mod config;
pub mod context;
pub mod export;
pub mod logs;
pub mod span;

use std::{future::Future, pin::Pin, sync::Arc};

use axum::http::HeaderMap;
use tokio::sync::mpsc;

pub use self::{
    config::TraceConfig,
    context::TraceContext,
    span::{Kind, Span, Tracer},
};

/// The export task, spawned with the other background tasks.
pub type ExportTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Builds the tracer and, when an exporter is configured, its export task.
pub fn start(config: &TraceConfig, trust: &crate::tls::Trust) -> (Tracer, Option<ExportTask>) {
    if !config.enabled() {
        return (Tracer::disabled(), None);
    }
    let (tx, rx) = mpsc::channel(config.max_queue);
    let stats = Arc::new(span::TraceStats::default());
    let tracer = Tracer::new(tx, config.sampler.clone(), stats.clone());
    let http =
        trust.reqwest(reqwest::Client::builder().timeout(std::time::Duration::from_secs(10))).build().expect("an HTTP client builds");
    (tracer, Some(Box::pin(export::run(config.clone(), rx, stats, http))))
}

/// The trace context of an HTTP request (`traceparent` / `tracestate` headers).
pub fn from_headers(headers: &HeaderMap) -> Option<TraceContext> {
    let parent = headers.get("traceparent")?.to_str().ok()?;
    let state = headers.get("tracestate").and_then(|v| v.to_str().ok());
    TraceContext::parse(parent, state)
}

/// The trace context a CloudEvent carries (distributed-tracing extension).
pub fn from_event(event: &serde_json::Value) -> Option<TraceContext> {
    let parent = event.get("traceparent")?.as_str()?;
    TraceContext::parse(parent, event.get("tracestate").and_then(|v| v.as_str()))
}
