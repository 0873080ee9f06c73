//! Kafka (rdkafka with its bundled librdkafka): what the event source, the
//! proxy's producer and its response consumer share.

pub mod config;
#[cfg(feature = "kafka")]
pub(crate) mod context;
#[cfg(feature = "kafka")]
pub(crate) mod group;
#[cfg(feature = "kafka")]
pub mod registry;
