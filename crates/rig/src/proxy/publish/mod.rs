//! Targets `kafka`, `kinesis` and `nats` (rig-spec 6.10–6.12), the Kafka
//! response consumer (6.9) and the Kafka request log (6.7).
//!
//! Every target follows RIG's steps: `OPTIONS` answers the CORS preflight
//! (204); the body must be a JSON object with `specversion` ([`event`], else
//! 400 with RIG's text and usage help); its `rig` extension is replaced by what
//! RIG knows of the request, including a correlation id; then the event is
//! produced (`202 Accepted.`) or, with `response_from` `kafka` / `nats`, the
//! response is awaited. Every answer carries RIG's CORS headers
//! (`content-type,authorization` variant). Errors carry RIG's text, where it
//! had one, in the project's JSON error body `{"error": ...}` (400s, timeouts);
//! a target whose broker is not configured answers 500, one whose broker
//! cannot take the event 503.
//!
//! - [`event`]: body rules and enrichment (pure).
//! - `producer`: the shared Kafka producer (RIG's partitioner, Avro or JSON).
//! - `responses`: the Kafka response consumer and the cluster hook.
//! - `kafka`, `nats`, `kinesis`: one target each.
//! - [`metrics`]: produced / failed counts, response consumer counts.
//! - [`config`]: the settings.

// Builds without some broker features leave parts unused.
#![cfg_attr(not(all(feature = "kafka", feature = "nats", feature = "kinesis")), allow(dead_code, unused_variables, unused_mut))]

pub mod config;
pub mod event;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "kinesis")]
mod kinesis;
pub mod metrics;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "kafka")]
pub mod producer;
#[cfg(feature = "kafka")]
pub mod responses;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, HeaderValue, Method, StatusCode},
    response::Response,
};
use serde_json::{Map, Value};
use tokio::task::JoinHandle;

use self::metrics::{Produced, Responses};
use super::{
    answer,
    api::{Endpoint, Target},
    config::ProxyConfig,
    correlation::{AsyncResponse, Correlations},
    metrics::{Outcome, ProxyMetrics},
    owner::Owner,
    request::ProxyRequest,
};
use crate::{
    broker::{health::Health, kafka::config::KafkaConfig, nats::config::NatsConfig},
    support::response::json_error,
};

/// Producers and clients for the publish targets, built at start.
pub struct Publishers {
    config: config::PublishConfig,
    /// `rig_produced_events_total` / `rig_produced_events_failed_total`.
    pub produced: Arc<Produced>,
    /// What the Kafka response consumer did.
    pub responses: Arc<Responses>,
    #[cfg(feature = "kafka")]
    kafka: Option<(KafkaConfig, Arc<producer::KafkaProducer>)>,
    #[cfg(feature = "nats")]
    nats: Option<nats::NatsTarget>,
    #[cfg(feature = "kinesis")]
    kinesis: kinesis::KinesisTarget,
}

impl Publishers {
    /// `kafka` and `nats` are the brokers' settings (`KAFKA_BROKERS`, `NATS_SERVERS`), when set.
    pub fn new(p: &config::PublishConfig, kafka: Option<&KafkaConfig>, nats: Option<&NatsConfig>) -> Self {
        let produced = Arc::new(Produced::default());
        Publishers {
            config: p.clone(),
            produced: produced.clone(),
            responses: Arc::default(),
            #[cfg(feature = "kafka")]
            kafka: kafka.cloned().map(|k| {
                let producer = producer::KafkaProducer::new(k.clone(), p.avro, p.produce_timeout, produced.clone());
                (k, Arc::new(producer))
            }),
            #[cfg(feature = "nats")]
            nats: nats.map(|n| nats::NatsTarget::new(n.clone(), p.nats_response_timeout)),
            #[cfg(feature = "kinesis")]
            kinesis: kinesis::KinesisTarget::new(p.kinesis_region.clone(), p.kinesis_endpoint.clone(), produced),
        }
    }

    /// Starts the broker clients: the Kafka producer and response consumer
    /// (with `KAFKA_BROKERS`) and the NATS connection (with `NATS_SERVERS`).
    /// They reconnect by themselves and report into `/health`.
    /// Kafka responses for this node's requests are delivered to
    /// `correlations`; those for other nodes' go through `owner`.
    pub fn start(&self, health: Arc<Health>, correlations: &Arc<Correlations>, owner: &Arc<Owner>) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        #[cfg(feature = "kafka")]
        if let Some((kafka, producer)) = &self.kafka {
            tasks.push(producer.start(health.clone()));
            let group = crate::broker::kafka::group::Group {
                name: responses::HEALTH_NAME,
                topics: self.config.response_topics.clone(),
                group_id: self.config.response_group.clone(),
            };
            let handler = responses::Deliver { correlations: correlations.clone(), owner: owner.clone(), counts: self.responses.clone() };
            tasks.push(crate::broker::kafka::group::spawn_group(kafka.clone(), group, health.clone(), handler));
        }
        #[cfg(feature = "nats")]
        if let Some(n) = &self.nats {
            tasks.push(n.start(health.clone()));
        }
        let _ = (health, correlations, owner);
        tasks
    }

    /// The Kafka producer and settings for the request log (`None` without Kafka).
    #[cfg(feature = "kafka")]
    pub fn kafka_producer(&self) -> Option<&Arc<producer::KafkaProducer>> {
        self.kafka.as_ref().map(|(_, p)| p)
    }

    /// `KAFKA_LOG_TOPIC` and `KAFKA_LOG_SCHEMA`.
    pub fn log_topic(&self) -> (&str, Option<&str>) {
        (&self.config.log_topic, self.config.log_schema.as_deref())
    }

    /// Handles a matched endpoint whose target is kafka/nats/kinesis.
    /// `context` is what the answer needs of the proxy and the gateway.
    pub async fn handle(&self, context: Context<'_>, endpoint: &Endpoint, request: ProxyRequest) -> Response {
        let call = Call { context, endpoint, method: request.method.as_str().to_string(), path: request.request_path.clone() };
        if request.method == Method::OPTIONS {
            // RIG counts the kafka / kinesis preflight, not the NATS one.
            if endpoint.target != Target::Nats {
                call.count(Outcome::Ok);
            }
            return call.answer(StatusCode::NO_CONTENT, Body::empty());
        }
        let Some(topic) = endpoint.topic.clone() else {
            return call.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("endpoint {} has target {} but no topic", endpoint.id, endpoint.target),
            );
        };
        match endpoint.target {
            #[cfg(feature = "kafka")]
            Target::Kafka => match &self.kafka {
                Some((_, producer)) => kafka::handle(&call, producer, &topic, request).await,
                None => call.not_configured("KAFKA_BROKERS"),
            },
            #[cfg(feature = "nats")]
            Target::Nats => match &self.nats {
                Some(n) => n.handle(&call, &topic, request).await,
                None => call.not_configured("NATS_SERVERS"),
            },
            #[cfg(feature = "kinesis")]
            Target::Kinesis => self.kinesis.handle(&call, &topic, request).await,
            Target::Http => call.error(StatusCode::INTERNAL_SERVER_ERROR, "an http target is not a publish target"),
            #[allow(unreachable_patterns)]
            other => call.error(StatusCode::INTERNAL_SERVER_ERROR, &format!("target {other} is not available in this build")),
        }
    }
}

/// What a publish target's answer needs of the proxy and the gateway.
#[derive(Clone)]
pub struct Context<'a> {
    pub metrics: &'a ProxyMetrics,
    /// Where requests wait for their asynchronous response.
    pub correlations: &'a Correlations,
    pub settings: &'a ProxyConfig,
    /// `access-control-allow-origin` of every answer (`CORS`).
    pub cors: HeaderValue,
}

/// One request to a publish target: answers and metrics.
pub(crate) struct Call<'a> {
    pub context: Context<'a>,
    pub endpoint: &'a Endpoint,
    method: String,
    path: String,
}

impl Call<'_> {
    /// `rig_proxy_requests_total` for this request.
    pub fn count(&self, outcome: Outcome) {
        let e = self.endpoint;
        self.context.metrics.count(&self.method, &self.path, Some(e.target), Some(e.response_from), outcome);
    }

    /// `status` and `body` with RIG's CORS headers.
    pub fn answer(&self, status: StatusCode, body: impl Into<Body>) -> Response {
        let mut r = Response::new(body.into());
        *r.status_mut() = status;
        self.cors(&mut r);
        r
    }

    fn cors(&self, r: &mut Response) {
        answer::cors(&self.context.cors, r, "content-type,authorization");
    }

    /// A text answer (RIG's `Accepted.`).
    pub fn text(&self, status: StatusCode, text: impl Into<String>) -> Response {
        let mut r = self.answer(status, text.into());
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    }

    pub fn accepted(&self) -> Response {
        self.count(Outcome::Ok);
        self.text(StatusCode::ACCEPTED, "Accepted.")
    }

    /// A JSON `{"error": ...}` answer with the CORS headers.
    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        let mut r = json_error(status, message);
        self.cors(&mut r);
        r
    }

    fn not_configured(&self, variable: &str) -> Response {
        let target = self.endpoint.target;
        self.error(StatusCode::INTERNAL_SERVER_ERROR, &format!("target {target} is not available: {variable} is not set"))
    }

    /// The body as an event, or a 400 with RIG's text (counted `bad_request`).
    pub fn parse(&self, request: &ProxyRequest) -> Result<Map<String, Value>, Response> {
        event::parse(&request.body, self.endpoint.target).map_err(|text| {
            self.count(Outcome::BadRequest);
            self.error(StatusCode::BAD_REQUEST, &text)
        })
    }

    /// A waited-for response: its status, headers and body, plus CORS.
    pub fn relay(&self, response: AsyncResponse) -> Response {
        self.count(Outcome::Ok);
        let mut r = self.answer(response.status, response.body);
        for (name, value) in response.headers {
            r.headers_mut().append(name, value);
        }
        r
    }

    /// No response in time: 504 with `message`.
    pub fn timed_out(&self, message: &str) -> Response {
        self.count(Outcome::ResponseTimeout);
        self.error(StatusCode::GATEWAY_TIMEOUT, message)
    }
}

/// The event with RIG's `rig` extension (and, when `trace`, the trace context).
pub(crate) fn enrich(event: &mut Map<String, Value>, request: &ProxyRequest, correlation: &str, trace: bool) {
    let info = event::RequestInfo {
        correlation,
        remote_ip: request.remote_ip,
        host: &request.host,
        port: request.port,
        scheme: request.scheme,
        headers: &request.headers,
        method: request.method.as_str(),
        path: &request.path,
        query: request.query.as_deref().unwrap_or(""),
    };
    let context = trace.then(|| match &request.trace {
        Some(traceparent) => (traceparent.clone(), request.headers.get("tracestate").and_then(|v| v.to_str().ok()).map(str::to_string)),
        None => {
            let parent = crate::telemetry::from_headers(&request.headers);
            let c = parent.map_or_else(|| crate::telemetry::TraceContext::root(false), |p| p.child());
            (c.traceparent(), c.tracestate)
        }
    });
    event::enrich(event, &info, context.as_ref().map(|(p, s)| (p.as_str(), s.as_deref())));
}
