//! The Kafka event source: `KAFKA_SOURCE_TOPICS` read in the shared group loop
//! (`crate::broker::kafka::group`), each message decoded with the CloudEvents
//! Kafka binding and dispatched.

use rdkafka::message::{BorrowedMessage, Headers, Message};
use rig_core::binding::kafka::{decode, KafkaError as DecodeError};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::{
    broker::kafka::{
        config::KafkaConfig,
        group::{spawn_group, Group, MessageHandler},
        registry::SchemaRegistry,
    },
    source::{Dispatcher, Source},
    support::throttle::Throttle,
};

/// The event source: `KAFKA_SOURCE_TOPICS` in group `KAFKATOFILTER_KAFKA_GROUP_ID`.
pub fn start(config: KafkaConfig, dispatcher: Dispatcher) -> JoinHandle<()> {
    let group = Group { name: Source::Kafka.name(), topics: config.topics.clone(), group_id: config.group_id.clone() };
    let handler = Dispatch {
        registry: SchemaRegistry::new(config.schema_registry.clone(), &config.trust),
        dispatcher: dispatcher.clone(),
        warn: Throttle::new(Duration::from_secs(10)),
        user_field: config.user_field.clone(),
    };
    spawn_group(config, group, dispatcher.shared_health(), handler)
}

/// The event source's handler: decode, dispatch.
struct Dispatch {
    registry: SchemaRegistry,
    dispatcher: Dispatcher,
    /// Skipped messages are all counted, but logged once per 10 s.
    warn: Throttle,
    /// `KAFKA_USER_FIELD` (RIG 1.x plain messages to a user's channel).
    user_field: String,
}

impl MessageHandler for Dispatch {
    async fn handle(&self, message: &BorrowedMessage<'_>) {
        handle(message, self).await
    }
}

/// Decodes and dispatches one message; a message that is not a deliverable
/// CloudEvent is logged and counted (`rig_consumed_events_failed_total`).
async fn handle(message: &BorrowedMessage<'_>, to: &Dispatch) {
    let (dispatcher, registry) = (&to.dispatcher, &to.registry);
    let headers: Vec<(&str, &[u8])> =
        message.headers().map(|hs| hs.iter().filter_map(|h| Some((h.key, h.value?))).collect()).unwrap_or_default();
    let payload = message.payload().unwrap_or_default();
    let mut fetched = false;
    loop {
        match decode(&headers, payload, &|id| registry.cached(id)) {
            Ok(event) => {
                dispatcher.dispatch(Source::Kafka, event);
                return;
            }
            Err(DecodeError::MissingSchema(id)) if !fetched => match registry.fetch(id).await {
                Ok(_) => fetched = true,
                Err(error) => return reject(message, to, &error),
            },
            Err(error) => {
                // Not a CloudEvent: maybe RIG 1.x's plain JSON message for a user.
                if let Some(event) = super::user_message::to_event(payload, &to.user_field) {
                    dispatcher.dispatch(Source::Kafka, event);
                    return;
                }
                return reject(message, to, &error);
            }
        }
    }
}

fn reject(message: &BorrowedMessage<'_>, to: &Dispatch, error: &dyn std::fmt::Display) {
    if let Some(repeats) = to.warn.allow() {
        tracing::warn!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            %error,
            skipped_since_last_warning = repeats,
            "Kafka message is not a deliverable CloudEvent (neither ce_ headers nor a structured event as its value); skipped."
        );
    }
    to.dispatcher.reject(Source::Kafka);
}
