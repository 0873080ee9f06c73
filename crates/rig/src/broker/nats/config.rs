//! NATS settings from RIG's variables (rig-spec 8.6), for the consumer and the
//! proxy's NATS target.

use std::time::Duration;

use crate::support::env::{list, Reader, Strings};

#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// `host:port` entries (a `nats://` scheme is added when missing).
    pub servers: Vec<String>,
    pub topics: Vec<String>,
    pub queue_group: String,
    /// Longest wait between reconnection attempts (`RIG_SOURCE_BACKOFF_MAX_MS`).
    pub backoff_max: Duration,
}

/// `None` when `NATS_SERVERS` is empty (NATS disabled, as in RIG).
pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>, backoff_max: Duration) -> Option<NatsConfig> {
    let servers = list(&r.raw("NATS_SERVERS"));
    if servers.is_empty() {
        return None;
    }
    Some(NatsConfig { servers, topics: list(&r.raw("NATS_SOURCE_TOPICS")), queue_group: r.raw("NATSTOFILTER_QUEUE_GROUP"), backoff_max })
}
