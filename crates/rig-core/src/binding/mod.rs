//! Protocol bindings: how a broker message carries a CloudEvent.
//!
//! - [`avro`]: the Confluent wire format (magic byte, schema id, Avro body).
//! - [`attributes`]: version detection (1.0, then 0.2, then 0.1) and the
//!   attribute rules cloudevents-ex applies to events built from parts.
//! - [`kafka`]: the Kafka protocol binding, structured and binary (`ce_` headers).
//! - [`kafka_record`]: the other direction, events as RIG produces them to Kafka.
//! - [`partition`]: RIG's murmur3 partitioner for keyed Kafka messages.

pub mod attributes;
pub mod avro;
pub mod kafka;
pub mod kafka_record;
pub mod partition;
