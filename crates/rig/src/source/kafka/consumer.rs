//! The consumer loop: joins the group, decodes each message, dispatches it,
//! then stores its offset (committed in the background), so a message counts
//! as consumed once it was handled.
//!
//! librdkafka reconnects to a broker that went away by itself, but when *all*
//! brokers are gone the client is dropped and re-created after a back-off of
//! at most `KAFKA_RESTART_DELAY_MS` (as RIG restarts its client): a cluster that
//! comes back with re-created topics (new topic ids, e.g. a memory-backed
//! broker) crashes librdkafka 2.12's metadata cache in a client that knew the
//! old ids. Nothing here ends the process.

use std::{sync::Arc, time::Duration};

use rdkafka::{
    config::ClientConfig,
    consumer::{Consumer, StreamConsumer},
    message::{BorrowedMessage, Headers, Message},
};
use rig_core::binding::kafka::{decode, KafkaError as DecodeError};
use tokio::task::JoinHandle;

use super::{config::KafkaConfig, context::Context, registry::SchemaRegistry};
use crate::source::{backoff::Backoff, Dispatcher, Source};

pub fn start(config: KafkaConfig, dispatcher: Dispatcher) -> JoinHandle<()> {
    dispatcher.health().register(Source::Kafka);
    tokio::spawn(run(config, dispatcher))
}

async fn run(config: KafkaConfig, dispatcher: Dispatcher) {
    tracing::info!(brokers = ?config.brokers, topics = ?config.topics, group = %config.group_id, "Starting the Kafka consumer.");
    let registry = SchemaRegistry::new(config.schema_registry.clone());
    let mut backoff = Backoff::new(Duration::from_millis(100), config.restart_delay);
    loop {
        let error = consume(&config, &dispatcher, &registry).await;
        dispatcher.health().down(Source::Kafka, &error);
        tracing::warn!(%error, "Kafka consumer stopped; re-creating it.");
        backoff.wait().await;
    }
}

/// Why the consumer was given up.
#[derive(Debug, thiserror::Error)]
enum Stopped {
    #[error(transparent)]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("all Kafka brokers are down")]
    AllBrokersDown,
}

/// Runs until the consumer cannot go on; returns why.
async fn consume(config: &KafkaConfig, dispatcher: &Dispatcher, registry: &SchemaRegistry) -> Stopped {
    let all_down = Arc::new(tokio::sync::Notify::new());
    let context = Context { dispatcher: dispatcher.clone(), all_brokers_down: all_down.clone() };
    let consumer = match client_config(config).create_with_context(context) {
        Ok(c) => ClosedOffThread(Some(c)),
        Err(e) => return e.into(),
    };
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    if let Err(e) = consumer.subscribe(&topics) {
        return e.into();
    }
    loop {
        tokio::select! {
            received = consumer.recv() => match received {
                Ok(message) => {
                    handle(&message, dispatcher, registry).await;
                    if let Err(error) = consumer.store_offset_from_message(&message) {
                        tracing::debug!(%error, "Could not store a Kafka offset.");
                    }
                }
                // Transient errors (a broker went away, a partition ended) are
                // reported through the context; the consumer recovers by itself.
                Err(error) => tracing::debug!(%error, "Kafka consumer error."),
            },
            _ = all_down.notified() => return Stopped::AllBrokersDown,
        }
    }
}

/// Owns the consumer and closes it on a thread of its own: closing leaves the
/// group and commits offsets, which waits for brokers that may be gone, and
/// must not block the runtime (also when the task is aborted at shutdown).
struct ClosedOffThread(Option<StreamConsumer<Context>>);

impl std::ops::Deref for ClosedOffThread {
    type Target = StreamConsumer<Context>;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for ClosedOffThread {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            let spawned = std::thread::Builder::new().name("rig-kafka-close".into()).spawn(move || drop(consumer));
            if let Err(error) = spawned {
                tracing::warn!(%error, "Cannot close the Kafka consumer on its own thread.");
            }
        }
    }
}

fn client_config(c: &KafkaConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", c.brokers.join(","))
        .set("group.id", &c.group_id)
        .set("client.id", "rig")
        // New groups start at the latest offset, as in RIG.
        .set("auto.offset.reset", "latest")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", c.restart_delay.as_millis().to_string())
        // Broker states for the health report (see context.rs).
        .set("statistics.interval.ms", "1000");
    let protocol = match (&c.tls, &c.sasl) {
        (None, None) => "plaintext",
        (Some(_), None) => "ssl",
        (None, Some(_)) => "sasl_plaintext",
        (Some(_), Some(_)) => "sasl_ssl",
    };
    cc.set("security.protocol", protocol);
    if let Some(tls) = &c.tls {
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        if let Some(p) = &tls.ca {
            cc.set("ssl.ca.location", path(p));
        }
        if let Some(p) = &tls.cert {
            cc.set("ssl.certificate.location", path(p));
        }
        if let Some(p) = &tls.key {
            cc.set("ssl.key.location", path(p));
        }
        if let Some(pass) = &tls.key_password {
            cc.set("ssl.key.password", pass);
        }
    }
    if let Some(sasl) = &c.sasl {
        cc.set("sasl.mechanism", sasl.mechanism).set("sasl.username", &sasl.username).set("sasl.password", &sasl.password);
    }
    for (k, v) in &c.extra {
        cc.set(k, v);
    }
    cc
}

/// Decodes and dispatches one message; a message that is not a deliverable
/// CloudEvent is logged and counted (`rig_consumed_events_failed_total`).
async fn handle(message: &BorrowedMessage<'_>, dispatcher: &Dispatcher, registry: &SchemaRegistry) {
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
                Err(error) => return reject(message, dispatcher, &error),
            },
            Err(error) => return reject(message, dispatcher, &error),
        }
    }
}

fn reject(message: &BorrowedMessage<'_>, dispatcher: &Dispatcher, error: &dyn std::fmt::Display) {
    tracing::warn!(
        topic = message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        %error,
        "Kafka message is not a deliverable CloudEvent; skipped."
    );
    dispatcher.reject(Source::Kafka);
}
