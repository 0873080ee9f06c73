//! Target `kafka` (rig-spec 6.10): the enriched event goes to the endpoint's
//! topic, keyed by `rig.target_partition`; with `response_from: kafka` the
//! request then waits for its response from the response consumer
//! (`PROXY_KAFKA_RESPONSE_TIMEOUT`, then 504; RIG's body was empty, ours says
//! why, as for the http target).

use axum::{http::StatusCode, response::Response};

use super::{
    event::partition_key,
    producer::{KafkaProducer, ProduceError},
    Call,
};
use crate::proxy::{api::ResponseFrom, metrics::Outcome, request::ProxyRequest};

pub async fn handle(call: &Call<'_>, producer: &KafkaProducer, topic: &str, request: ProxyRequest) -> Response {
    let mut event = match call.parse(&request) {
        Ok(e) => e,
        Err(bad_request) => return bad_request,
    };
    let key = partition_key(&event);
    // Registered before producing: a response may come back before we wait.
    let pending = call.context.correlations.begin();
    super::enrich(&mut event, &request, &pending.id, true);
    let schema = call.endpoint.schema.as_deref();
    if let Err(error) = producer.produce_event(topic, schema, key.as_deref().map(str::as_bytes), &event).await {
        call.count(Outcome::Unreachable);
        let status = match error {
            ProduceError::Avro(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        return call.error(status, &format!("could not produce to Kafka topic {topic}: {error}"));
    }
    if call.endpoint.response_from != ResponseFrom::Kafka {
        return call.accepted();
    }
    let wait = call.context.settings.kafka_response_timeout;
    match pending.wait(wait).await {
        Some(response) => call.relay(response),
        None => call.timed_out(&format!("Gateway timeout: no asynchronous response within {} ms.", wait.as_millis())),
    }
}
