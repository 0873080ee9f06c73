//! Broker clients shared by the event sources (`crate::source`) and the
//! proxy's publish targets (`crate::proxy::publish`): their settings, how they
//! connect, and the health registry they report into.
//!
//! - [`health`]: connection state of every broker client, behind the internal `/health`.
//! - [`kafka`]: settings, client context, consumer-group loop, schema registry.
//! - [`nats`]: settings and the one connect.
//! - `kinesis`: the SDK client (cargo feature `kinesis`).
//!
//! Settings are always compiled, so the variables parse and document the same
//! with any feature set; the clients only with their cargo feature.

pub mod health;
pub mod kafka;
#[cfg(feature = "kinesis")]
pub(crate) mod kinesis;
pub mod nats;
