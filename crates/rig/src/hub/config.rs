//! Hub settings (outbox size and slow-client policy, resume window, heartbeat,
//! long-polling buffer), parsed here with the support toolkit.

use std::time::Duration;

use super::SlowPolicy;
use crate::support::env::{positive, Reader, Strings};

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Frames queued per SSE/WS connection before the slow-client policy applies.
    pub outbox_capacity: usize,
    pub slow_client_policy: SlowPolicy,
    pub resume_window: usize,
    pub resume_window_bytes: usize,
    pub resume_max_age: Duration,
    pub heartbeat_interval: Duration,
    /// Events kept per long-polling session.
    pub longpoll_buffer: usize,
}

pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>) -> HubConfig {
    HubConfig {
        outbox_capacity: r.parse("RIG_OUTBOX_CAPACITY", positive),
        slow_client_policy: r.parse("RIG_SLOW_CLIENT_POLICY", SlowPolicy::parse),
        resume_window: r.num("RIG_RESUME_WINDOW"),
        resume_window_bytes: r.num("RIG_RESUME_WINDOW_BYTES"),
        resume_max_age: r.millis("RIG_RESUME_MAX_AGE_MS"),
        heartbeat_interval: Duration::from_millis(r.parse("RIG_HEARTBEAT_INTERVAL_MS", positive)),
        longpoll_buffer: r.parse("RIG_LONGPOLL_BUFFER", positive),
    }
}
