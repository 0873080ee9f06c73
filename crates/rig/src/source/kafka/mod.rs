//! The Kafka consumer (rig-spec 4.2): a consumer group on `KAFKA_SOURCE_TOPICS`
//! whose messages are decoded with the CloudEvents Kafka binding
//! (`rig_core::binding::kafka`) and dispatched like any other event.
//!
//! Its settings, the group loop, the client context and the schema registry
//! are shared with the proxy's Kafka producer and response consumer, so they
//! live in `crate::broker::kafka`.

#[cfg(feature = "kafka")]
pub(crate) mod consumer;
pub mod user_message;

use tokio::task::JoinHandle;

use super::Dispatcher;
use crate::broker::kafka::config::KafkaConfig;

/// Starts the consumer task (or warns that this build cannot).
pub fn start(config: KafkaConfig, dispatcher: Dispatcher) -> Vec<JoinHandle<()>> {
    #[cfg(feature = "kafka")]
    {
        vec![consumer::start(config, dispatcher)]
    }
    #[cfg(not(feature = "kafka"))]
    {
        let _ = (config, dispatcher);
        tracing::error!("KAFKA_BROKERS is set but this build has no Kafka support (cargo feature `kafka`).");
        Vec::new()
    }
}
