//! The NATS consumer (rig-spec 4.3): a queue subscription per subject in
//! `NATS_SOURCE_TOPICS`; message bodies are structured CloudEvents, forwarded
//! as their exact JSON text.

//!
//! Its settings and the connect are shared with the proxy's NATS target
//! (`crate::broker::nats`).

#[cfg(feature = "nats")]
pub(crate) mod subscriber;

use tokio::task::JoinHandle;

use super::Dispatcher;
use crate::broker::nats::config::NatsConfig;

pub fn start(config: NatsConfig, dispatcher: Dispatcher) -> Vec<JoinHandle<()>> {
    #[cfg(feature = "nats")]
    {
        vec![subscriber::start(config, dispatcher)]
    }
    #[cfg(not(feature = "nats"))]
    {
        let _ = (config, dispatcher);
        tracing::error!("NATS_SERVERS is set but this build has no NATS support (cargo feature `nats`).");
        Vec::new()
    }
}
