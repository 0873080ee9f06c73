//! librdkafka callbacks: its log lines go to `tracing` (at debug: librdkafka
//! repeats connection errors on every retry), transport errors and broker
//! states feed the client's health.

use rdkafka::{
    client::ClientContext,
    config::RDKafkaLogLevel,
    consumer::{ConsumerContext, Rebalance},
    error::KafkaError,
    statistics::Statistics,
    types::RDKafkaErrorCode,
};

use crate::broker::health::Health;

/// Shared by every Kafka client of the gateway (consumers and the producer).
pub struct Context {
    pub health: std::sync::Arc<Health>,
    /// The client's name in `/health`.
    pub name: &'static str,
    /// Signalled when every broker is unreachable: the owner then re-creates
    /// the client (see consumer.rs for why).
    pub all_brokers_down: std::sync::Arc<tokio::sync::Notify>,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(facility, "librdkafka: {message}")
            }
            _ => tracing::debug!(facility, "librdkafka: {message}"),
        }
    }

    /// Broker states, every `statistics.interval.ms`: connected while any
    /// broker connection is up.
    fn stats(&self, stats: Statistics) {
        let health = &self.health;
        let brokers: Vec<_> = stats.brokers.values().filter(|b| b.nodeid >= -1 && b.source != "internal").collect();
        if brokers.iter().any(|b| b.state == "UP") {
            health.up(self.name);
        } else if !brokers.is_empty() {
            let states: Vec<String> = brokers.iter().map(|b| format!("{} {}", b.name, b.state)).collect();
            health.down(self.name, format!("no Kafka broker connection is up ({})", states.join(", ")));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let transport = matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::AllBrokersDown
                    | RDKafkaErrorCode::BrokerTransportFailure
                    | RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
            )
        );
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.all_brokers_down.notify_one();
        }
        if transport {
            self.health.down(self.name, reason);
        } else {
            tracing::warn!(%error, "Kafka client error: {reason}");
        }
    }
}

impl ConsumerContext for Context {
    fn post_rebalance(&self, _consumer: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(parts) => tracing::info!(partitions = parts.count(), "Kafka partitions assigned."),
            Rebalance::Revoke(parts) => tracing::info!(partitions = parts.count(), "Kafka partitions revoked."),
            Rebalance::Error(e) => tracing::warn!(error = %e, "Kafka rebalance failed."),
        }
    }
}
