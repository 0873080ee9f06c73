//! The consumer-group loop: joins the group, hands each message to a
//! [`MessageHandler`], then stores its offset (committed in the background), so
//! a message counts as consumed once it was handled. Shared by the event source
//! (`crate::source::kafka::consumer`) and the proxy's response consumer.
//!
//! librdkafka reconnects to a broker that went away by itself, but when *all*
//! brokers are gone the client is dropped and re-created after a back-off of
//! at most `KAFKA_RESTART_DELAY_MS` (as RIG restarts its client): a cluster that
//! comes back with re-created topics (new topic ids, e.g. a memory-backed
//! broker) crashes librdkafka 2.12's metadata cache in a client that knew the
//! old ids. Nothing here ends the process.

use std::{future::Future, sync::Arc, time::Duration};

use rdkafka::{
    config::ClientConfig,
    consumer::{Consumer, StreamConsumer},
    message::BorrowedMessage,
};
use tokio::task::JoinHandle;

use super::{config::KafkaConfig, context::Context};
use crate::{broker::health::Health, support::backoff::Backoff};

/// What a consumer group does with each message.
pub trait MessageHandler: Send + Sync + 'static {
    fn handle(&self, message: &BorrowedMessage<'_>) -> impl Future<Output = ()> + Send;
}

/// One consumer group: who it is in `/health`, what it reads.
#[derive(Debug, Clone)]
pub struct Group {
    /// Name in `/health` and the logs.
    pub name: &'static str,
    pub topics: Vec<String>,
    pub group_id: String,
}

/// Runs `group` until the task is aborted, re-creating the client when it fails.
pub fn spawn_group<H: MessageHandler>(config: KafkaConfig, group: Group, health: Arc<Health>, handler: H) -> JoinHandle<()> {
    health.register(group.name);
    tokio::spawn(async move {
        tracing::info!(brokers = ?config.brokers, topics = ?group.topics, group = %group.group_id, "Starting the Kafka consumer {}.", group.name);
        let mut backoff = Backoff::new(Duration::from_millis(100), config.restart_delay);
        loop {
            let error = consume(&config, &group, &health, &handler).await;
            health.down(group.name, &error);
            tracing::warn!(%error, "Kafka consumer {} stopped; re-creating it.", group.name);
            backoff.wait().await;
        }
    })
}

/// Why a Kafka client was given up.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error(transparent)]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("all Kafka brokers are down")]
    AllBrokersDown,
}

/// Runs until the consumer cannot go on; returns why.
async fn consume<H: MessageHandler>(config: &KafkaConfig, group: &Group, health: &Arc<Health>, handler: &H) -> Stopped {
    let all_down = Arc::new(tokio::sync::Notify::new());
    let context = Context { health: health.clone(), name: group.name, all_brokers_down: all_down.clone() };
    let consumer = match client_config(config, &group.group_id).create_with_context(context) {
        Ok(c) => ClosedOffThread(Some(c)),
        Err(e) => return e.into(),
    };
    let topics: Vec<&str> = group.topics.iter().map(String::as_str).collect();
    if let Err(e) = consumer.subscribe(&topics) {
        return e.into();
    }
    loop {
        tokio::select! {
            received = consumer.recv() => match received {
                Ok(message) => {
                    handler.handle(&message).await;
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

fn client_config(c: &KafkaConfig, group_id: &str) -> ClientConfig {
    c.client_config(&[
        ("group.id", group_id),
        // New groups start at the latest offset, as in RIG.
        ("auto.offset.reset", "latest"),
        ("enable.auto.commit", "true"),
        ("enable.auto.offset.store", "false"),
    ])
}
