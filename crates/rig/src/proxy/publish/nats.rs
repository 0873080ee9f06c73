//! Target `nats` (rig-spec 6.12): the enriched event (no trace context) is
//! published to the endpoint's subject (`202 Accepted.`), or with
//! `response_from: nats` sent as a request whose reply is the response
//! (`200`, `application/json`; no reply within `PROXY_NATS_RESPONSE_TIMEOUT`:
//! 504 `Timed out while waiting for the response.`, also at once when nobody
//! listens on the subject).
//!
//! The gateway's NATS connection for targets is its own (the consumer has
//! another), reconnects by itself and reports into `/health` as `nats-target`.
//! While it is down, requests fail at once with 503 instead of being queued.

use std::{sync::OnceLock, time::Duration};

use async_nats::{client::RequestErrorKind, connection::State, Request};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::Response,
};
use tokio::task::JoinHandle;

use super::Call;
use crate::{
    broker::{
        health::Health,
        nats::{config::NatsConfig, connect::connect},
    },
    proxy::{api::ResponseFrom, metrics::Outcome, request::ProxyRequest},
};

/// Name in `/health`.
pub const HEALTH_NAME: &str = "nats-target";

const TIMED_OUT: &str = "Timed out while waiting for the response.";

pub struct NatsTarget {
    config: NatsConfig,
    timeout: Duration,
    client: std::sync::Arc<OnceLock<async_nats::Client>>,
}

impl NatsTarget {
    pub fn new(config: NatsConfig, timeout: Duration) -> Self {
        NatsTarget { config, timeout, client: Default::default() }
    }

    /// Connects (retrying until the server is there) and keeps the health current.
    pub fn start(&self, health: std::sync::Arc<Health>) -> JoinHandle<()> {
        health.register(HEALTH_NAME);
        let (config, slot) = (self.config.clone(), self.client.clone());
        tokio::spawn(async move {
            let client = match connect(&config, "rig-target", health.clone(), HEALTH_NAME).await {
                Ok(c) => c,
                Err(error) => return health.down(HEALTH_NAME, error),
            };
            let _ = slot.set(client.clone());
            // The connected event can race the first connection; check on a timer too.
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                if client.connection_state() == State::Connected {
                    health.up(HEALTH_NAME);
                }
            }
        })
    }

    pub async fn handle(&self, call: &Call<'_>, subject: &str, request: ProxyRequest) -> Response {
        let mut event = match call.parse(&request) {
            Ok(e) => e,
            Err(bad_request) => return bad_request,
        };
        let client = match self.client.get() {
            Some(c) if c.connection_state() == State::Connected => c,
            _ => {
                call.count(Outcome::Unreachable);
                return call.error(StatusCode::SERVICE_UNAVAILABLE, "the NATS server is not reachable");
            }
        };
        let pending = call.context.correlations.begin();
        super::enrich(&mut event, &request, &pending.id, false);
        drop(pending);
        let payload = bytes::Bytes::from(serde_json::to_vec(&event).expect("a JSON map always serialises"));
        if call.endpoint.response_from != ResponseFrom::Nats {
            let published = match client.publish(subject.to_string(), payload).await {
                Ok(()) => client.flush().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            return match published {
                Ok(()) => call.accepted(),
                Err(error) => {
                    call.count(Outcome::Unreachable);
                    call.error(StatusCode::SERVICE_UNAVAILABLE, &format!("could not publish to NATS subject {subject}: {error}"))
                }
            };
        }
        let asked = client.send_request(subject.to_string(), Request::new().payload(payload).timeout(Some(self.timeout))).await;
        match asked {
            Ok(reply) => {
                call.count(Outcome::Ok);
                let mut r = call.answer(StatusCode::OK, reply.payload);
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
                r
            }
            Err(e) if matches!(e.kind(), RequestErrorKind::TimedOut | RequestErrorKind::NoResponders) => call.timed_out(TIMED_OUT),
            Err(error) => {
                call.count(Outcome::Unreachable);
                call.error(StatusCode::SERVICE_UNAVAILABLE, &format!("NATS request on subject {subject} failed: {error}"))
            }
        }
    }
}
