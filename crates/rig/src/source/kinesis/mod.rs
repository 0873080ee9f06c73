//! The Kinesis consumer (rig-spec 4.4), native: every shard of `KINESIS_STREAM`
//! is read with `GetRecords` from the latest record on; each record is a
//! structured CloudEvent, delivered re-serialised with a `traceparent`.
//! The SDK client is shared with the proxy's target (`crate::broker::kinesis`).

pub mod config;
#[cfg(feature = "kinesis")]
pub(crate) mod reader;

use tokio::task::JoinHandle;

use super::Dispatcher;

pub fn start(config: config::KinesisConfig, dispatcher: Dispatcher) -> Vec<JoinHandle<()>> {
    #[cfg(feature = "kinesis")]
    {
        vec![reader::start(config, dispatcher)]
    }
    #[cfg(not(feature = "kinesis"))]
    {
        let _ = (config, dispatcher);
        tracing::error!("KINESIS_ENABLED is set but this build has no Kinesis support (cargo feature `kinesis`).");
        Vec::new()
    }
}
