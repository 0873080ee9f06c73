//! Target `kinesis` (rig-spec 6.11): the enriched event (with trace context)
//! is put to the stream named by the endpoint's topic, partition key
//! `rig.target_partition` or a random UUID. Like RIG it always answers
//! `202 Accepted.`: a failed put is only logged and counted
//! (`rig_produced_events_failed_total{target="kinesis"}`). Nothing delivers
//! Kinesis responses, so `response_from` is not waited for.

use std::sync::Arc;

use aws_sdk_kinesis::{primitives::Blob, Client};
use axum::response::Response;
use tokio::sync::OnceCell;

use super::{event::partition_key, metrics::Produced, Call};
use crate::{broker::kinesis, proxy::request::ProxyRequest, support::ids::uuid_v4};

pub struct KinesisTarget {
    region: String,
    endpoint: Option<String>,
    client: OnceCell<Client>,
    produced: Arc<Produced>,
}

impl KinesisTarget {
    pub fn new(region: String, endpoint: Option<String>, produced: Arc<Produced>) -> Self {
        KinesisTarget { region, endpoint, client: OnceCell::new(), produced }
    }

    pub async fn handle(&self, call: &Call<'_>, stream: &str, request: ProxyRequest) -> Response {
        let mut event = match call.parse(&request) {
            Ok(e) => e,
            Err(bad_request) => return bad_request,
        };
        let key = partition_key(&event).unwrap_or_else(uuid_v4);
        let pending = call.context.correlations.begin();
        super::enrich(&mut event, &request, &pending.id, true);
        drop(pending);
        let data = serde_json::to_vec(&event).expect("a JSON map always serialises");
        let client = self.client.get_or_init(|| kinesis::client(&self.region, self.endpoint.as_deref())).await;
        match client.put_record().stream_name(stream).partition_key(key).data(Blob::new(data)).send().await {
            Ok(_) => self.produced.ok("kinesis", stream),
            Err(error) => {
                self.produced.failed("kinesis", stream);
                tracing::error!(stream, error = %kinesis::error_text(&error), "Producing to Kinesis failed.");
            }
        }
        call.accepted()
    }
}
