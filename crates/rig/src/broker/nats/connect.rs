//! The one NATS connect: options, reconnect back-off and health from the
//! client's connection events, for the event source and the proxy's target.

use std::{sync::Arc, time::Duration};

use async_nats::{Client, ConnectOptions, Event, ServerAddr};

use super::config::NatsConfig;
use crate::broker::health::{Component, Health};

fn server_addrs(servers: &[String]) -> Result<Vec<ServerAddr>, async_nats::Error> {
    servers
        .iter()
        .map(|s| if s.contains("://") { s.parse() } else { format!("nats://{s}").parse() })
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Connects to `config.servers` as `client_name`, retrying until a server is
/// there and reconnecting forever (backoff capped at `config.backoff_max`);
/// the client's connection events keep `component`'s health current. Shared
/// by the event source and the proxy's NATS target.
pub(crate) async fn connect(
    config: &NatsConfig,
    client_name: &str,
    health: Arc<Health>,
    component: impl Component + Send + Sync + 'static,
) -> Result<Client, async_nats::Error> {
    let addrs = server_addrs(&config.servers)?;
    let max_delay = config.backoff_max;
    let options = ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(move |attempts| Duration::from_millis(100u64 << attempts.min(8)).min(max_delay))
        .event_callback(move |event| {
            let h = health.clone();
            async move {
                match event {
                    Event::Connected => h.up(component),
                    Event::Disconnected => h.down(component, "disconnected from the NATS server"),
                    Event::ClientError(e) => h.down(component, e),
                    other => tracing::debug!(event = %other, client = component.name(), "NATS connection event."),
                }
            }
        });
    Ok(async_nats::connect_with_options(addrs, options).await?)
}
