//! The two HTTP surfaces: [`inbound`] (frontends, default port 4000) and
//! [`internal`] (management, default port 4010), and the handlers they share.

pub mod access;
pub mod apis;
pub mod blacklist;
pub mod body;
pub mod cluster;
pub mod cors;
pub mod events;
pub mod inbound;
pub mod internal;
pub mod metrics;
pub mod openapi;
pub mod presence;
pub mod proxy;
pub mod ready;
pub mod responses;
pub mod rg;
pub mod status;
pub mod subscriptions;
