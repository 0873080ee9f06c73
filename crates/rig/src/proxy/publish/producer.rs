//! The gateway's Kafka producer (kafka target, request log): one librdkafka
//! producer shared by every request, partitioning as RIG did (a keyed message
//! goes to `murmur3_x86_32(key) mod partitions`, an unkeyed one to a random
//! partition; see `rig_core::binding::partition`).
//!
//! Like the consumers it is dropped and re-created when every broker is gone
//! (see `source/kafka/consumer.rs` for why); while there is none, producing
//! fails at once with [`ProduceError::NotConnected`]. It reports into
//! `/health` as `kafka-producer`.

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwapOption;
use rdkafka::{
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{BaseRecord, DeliveryResult, Partitioner, ProducerContext, ThreadedProducer},
    Message,
};
use rig_core::binding::{
    kafka_record::{self, KafkaRecord},
    partition::partition_for_key,
};
use serde_json::{Map, Value};
use tokio::{sync::oneshot, task::JoinHandle};

use super::metrics::Produced;
use crate::{
    broker::{
        health::Health,
        kafka::{config::KafkaConfig, context::Context, registry::SchemaRegistry},
    },
    support::backoff::Backoff,
};

/// Name in `/health`.
pub const HEALTH_NAME: &str = "kafka-producer";

/// RIG's partitioner (called by librdkafka with the topic's partition count).
pub struct RigPartitioner;

impl Partitioner for RigPartitioner {
    fn partition(&self, _topic: &str, key: Option<&[u8]>, partitions: i32, _available: impl Fn(i32) -> bool) -> i32 {
        let n = partitions.max(1) as u32;
        let p = match key {
            Some(k) if !k.is_empty() => partition_for_key(k, n),
            _ => (crate::support::ids::random_u64() % u64::from(n)) as u32,
        };
        p as i32
    }
}

/// Partition and offset of a delivered message, or why it was not delivered.
type Delivered = Result<(i32, i64), KafkaError>;

impl ProducerContext<RigPartitioner> for Context {
    type DeliveryOpaque = Box<oneshot::Sender<Delivered>>;

    fn delivery(&self, result: &DeliveryResult<'_>, tx: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.clone()),
        };
        let _ = tx.send(outcome);
    }

    fn get_custom_partitioner(&self) -> Option<&RigPartitioner> {
        Some(&RigPartitioner)
    }
}

type Client = ThreadedProducer<Context, RigPartitioner>;

/// Why a message was not produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("no Kafka broker is reachable")]
    NotConnected,
    #[error("Kafka did not take the message: {0}")]
    Kafka(#[from] KafkaError),
    #[error("Kafka did not acknowledge the message in time")]
    TimedOut,
    #[error("cannot encode the event with Avro: {0}")]
    Avro(String),
}

pub struct KafkaProducer {
    config: KafkaConfig,
    avro: bool,
    timeout: Duration,
    client: ArcSwapOption<Client>,
    registry: SchemaRegistry,
    produced: Arc<Produced>,
}

impl KafkaProducer {
    pub fn new(config: KafkaConfig, avro: bool, timeout: Duration, produced: Arc<Produced>) -> Self {
        let registry = SchemaRegistry::new(config.schema_registry.clone(), &config.trust);
        KafkaProducer { config, avro, timeout, client: ArcSwapOption::empty(), registry, produced }
    }

    /// Whether `KAFKA_SERIALIZER=avro` (Avro where a schema subject is given).
    pub fn avro(&self) -> bool {
        self.avro
    }

    /// Keeps a producer alive until the task is aborted.
    pub fn start(self: &Arc<Self>, health: Arc<Health>) -> JoinHandle<()> {
        health.register(HEALTH_NAME);
        let me = self.clone();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_millis(100), me.config.restart_delay);
            loop {
                let all_down = Arc::new(tokio::sync::Notify::new());
                let context = Context { health: health.clone(), name: HEALTH_NAME, all_brokers_down: all_down.clone() };
                let timeout = me.timeout.as_millis().to_string();
                let settings = [
                    ("message.timeout.ms", timeout.as_str()),
                    // Unkeyed messages reach the partitioner too (random, as RIG).
                    ("sticky.partitioning.linger.ms", "0"),
                    ("linger.ms", "0"),
                ];
                match me.config.client_config(&settings).create_with_context::<Context, Client>(context) {
                    Ok(client) => {
                        me.client.store(Some(Arc::new(client)));
                        all_down.notified().await;
                        health.down(HEALTH_NAME, "all Kafka brokers are down");
                        tracing::warn!("Kafka producer lost every broker; re-creating it.");
                        if let Some(old) = me.client.swap(None) {
                            close_off_thread(old);
                        }
                    }
                    Err(error) => {
                        health.down(HEALTH_NAME, &error);
                        tracing::warn!(%error, "Cannot create the Kafka producer.");
                    }
                }
                backoff.wait().await;
            }
        })
    }

    /// Produces `event` to `topic`: Avro binary mode when `KAFKA_SERIALIZER=avro`
    /// and a schema subject is given, else structured JSON. Counted in
    /// `rig_produced_events_total` / `rig_produced_events_failed_total`.
    pub async fn produce_event(
        &self,
        topic: &str,
        schema: Option<&str>,
        key: Option<&[u8]>,
        event: &Map<String, Value>,
    ) -> Result<(), ProduceError> {
        let record = match schema.filter(|_| self.avro) {
            Some(subject) => self.avro_record(subject, event).await,
            None => Ok(kafka_record::structured(event, serde_json::to_vec(event).expect("a JSON map always serialises"))),
        };
        let outcome = match record {
            Ok(record) => self.send(topic, key, record).await,
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(()) => self.produced.ok("kafka", topic),
            Err(error) => {
                self.produced.failed("kafka", topic);
                tracing::warn!(topic, %error, "Producing to Kafka failed.");
            }
        }
        outcome
    }

    async fn avro_record(&self, subject: &str, event: &Map<String, Value>) -> Result<KafkaRecord, ProduceError> {
        let (id, schema) = self.registry.latest(subject).await.map_err(|e| ProduceError::Avro(e.to_string()))?;
        kafka_record::avro_binary(event, &schema, id).map_err(|e| ProduceError::Avro(e.to_string()))
    }

    async fn send(&self, topic: &str, key: Option<&[u8]>, record: KafkaRecord) -> Result<(), ProduceError> {
        let client = self.client.load_full().ok_or(ProduceError::NotConnected)?;
        let (tx, rx) = oneshot::channel();
        let headers = record.headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| h.insert(Header { key: k, value: Some(v) }));
        let mut base = BaseRecord::with_opaque_to(topic, Box::new(tx)).payload(&record.value).headers(headers);
        if let Some(k) = key {
            base = base.key(k);
        }
        client.send(base).map_err(|(e, _)| ProduceError::Kafka(e))?;
        drop(client);
        // librdkafka reports every message by `message.timeout.ms`; the margin
        // only guards against a report that never comes.
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), rx).await {
            Ok(Ok(Ok((partition, offset)))) => {
                tracing::debug!(topic, partition, offset, "Produced to Kafka.");
                Ok(())
            }
            Ok(Ok(Err(e))) => Err(ProduceError::Kafka(e)),
            Ok(Err(_)) | Err(_) => Err(ProduceError::TimedOut),
        }
    }
}

/// Dropping a producer purges and flushes it, which waits for brokers that
/// may be gone: not on the runtime.
fn close_off_thread(client: Arc<Client>) {
    let spawned = std::thread::Builder::new().name("rig-kafka-close".into()).spawn(move || drop(client));
    if let Err(error) = spawned {
        tracing::warn!(%error, "Cannot close the Kafka producer on its own thread.");
    }
}

impl Drop for KafkaProducer {
    fn drop(&mut self) {
        if let Some(client) = self.client.swap(None) {
            close_off_thread(client);
        }
    }
}
