//! The Kafka response consumer (rig-spec 6.9): responses for requests waiting
//! with `response_from: kafka` (kafka and http targets) arrive on
//! `PROXY_KAFKA_RESPONSE_TOPICS`, in one consumer group shared by every node
//! (`PROXY_KAFKA_RESPONSE_KAFKA_GROUP_ID`), in the binary format:
//! header `rig-correlation` (the id the request carried), header
//! `rig-response-code` (the HTTP status), any other end-to-end headers (copied
//! to the client, e.g. `content-type`), value = the response body as is; read
//! by the same parser as `POST /v3/responses` (`correlation::binary_response`).
//!
//! A message that is not such a response is logged, counted and skipped.
//!
//! **Clusters:** the group hands each message to one node, which need not be
//! the node whose client waits. A genuine id of another node's request is
//! handed to that node ([`crate::proxy::owner`]), where it is delivered.
//! Outside a cluster such responses are logged and dropped, and the waiting
//! client times out (504).

use std::sync::{atomic::Ordering, Arc};

use rdkafka::message::{BorrowedMessage, Headers, Message};

use super::metrics::Responses;
use crate::{
    broker::kafka::group::MessageHandler,
    proxy::{
        correlation::{binary_response, CorrelationError, Correlations},
        owner::Owner,
    },
};

/// Name in `/health`.
pub const HEALTH_NAME: &str = "kafka-responses";

/// The consumer group's handler: parse, then deliver here or hand to the owning node.
pub struct Deliver {
    pub correlations: Arc<Correlations>,
    pub owner: Arc<Owner>,
    pub counts: Arc<Responses>,
}

impl MessageHandler for Deliver {
    async fn handle(&self, message: &BorrowedMessage<'_>) {
        let headers: Vec<(&str, &[u8])> =
            message.headers().map(|hs| hs.iter().map(|h| (h.key, h.value.unwrap_or_default())).collect()).unwrap_or_default();
        let reject = |error: &dyn std::fmt::Display| {
            tracing::warn!(topic = message.topic(), partition = message.partition(), offset = message.offset(), %error,
                "Kafka message is not a proxy response; skipped.");
            self.counts.rejected.fetch_add(1, Ordering::Relaxed);
        };
        let body = bytes::Bytes::copy_from_slice(message.payload().unwrap_or_default());
        let (correlation, response) = match binary_response(headers, body) {
            Ok(parsed) => parsed,
            Err(error) => return reject(&error),
        };
        match self.correlations.deliver(&correlation, response.clone()) {
            Ok(()) => {
                self.counts.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(CorrelationError::WrongNode(node)) if self.owner.clustered() => {
                let owner = self.owner.clone();
                tokio::spawn(async move {
                    if owner.forward(node, &correlation, &response).await.is_none() {
                        tracing::warn!(
                            node = format!("{node:x}"),
                            "A Kafka proxy response could not be handed to the node waiting for it."
                        );
                    }
                });
                self.counts.forwarded.fetch_add(1, Ordering::Relaxed);
            }
            Err(CorrelationError::WrongNode(node)) => {
                reject(&format!("the request waits on node {node:x} and no cluster forwarding is set up"))
            }
            Err(error) => reject(&error),
        }
    }
}
