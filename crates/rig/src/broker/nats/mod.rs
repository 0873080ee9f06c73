//! NATS (async-nats): what the event source and the proxy's NATS target share.

pub mod config;
#[cfg(feature = "nats")]
pub(crate) mod connect;
