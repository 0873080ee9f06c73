//! Connection state of each configured broker client, as readiness
//! (`/readyz`) reports it: ready while every registered one is connected.
//! Clients register before their first connection attempt, so a gateway whose
//! broker was never reachable is reported down, not healthy.
//!
//! The event sources report under their `Source` name; the proxy's broker
//! clients (Kafka producer, response consumer, NATS publisher) under names of
//! their own, through the same [`Component`] trait.

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::support::sync::lock;

/// Something with a connection state, named in the report.
pub trait Component: Copy {
    fn name(self) -> &'static str;
}

impl Component for &'static str {
    fn name(self) -> &'static str {
        self
    }
}

/// What a client last reported.
#[derive(Debug, Clone)]
pub struct SourceState {
    pub connected: bool,
    pub last_error: Option<String>,
    pub since: Instant,
}

/// The registry of connection states, by component name.
#[derive(Debug, Default)]
pub struct Health {
    states: Mutex<BTreeMap<&'static str, SourceState>>,
}

impl Health {
    /// Adds `source` in the not-yet-connected state.
    pub fn register(&self, source: impl Component) {
        lock(&self.states)
            .insert(source.name(), SourceState { connected: false, last_error: Some("connecting".into()), since: Instant::now() });
    }

    /// Marks `source` connected; logs the recovery once.
    pub fn up(&self, source: impl Component) {
        let mut states = lock(&self.states);
        let s = states.entry(source.name()).or_insert(SourceState { connected: false, last_error: None, since: Instant::now() });
        if !s.connected {
            tracing::info!(source = source.name(), "Broker connection up.");
            s.connected = true;
            s.since = Instant::now();
        }
    }

    /// Marks `source` down with `error`; logs only the transition, not every retry.
    pub fn down(&self, source: impl Component, error: impl std::fmt::Display) {
        let error = error.to_string();
        let mut states = lock(&self.states);
        let s = states.entry(source.name()).or_insert(SourceState { connected: true, last_error: None, since: Instant::now() });
        if s.connected {
            tracing::warn!(source = source.name(), %error, "Broker connection lost; reconnecting.");
            s.connected = false;
            s.since = Instant::now();
        }
        s.last_error = Some(error);
    }

    /// Every registered component: `{"kafka": {"status": "up", "since_seconds": 12}, ...}`.
    pub fn sources(&self) -> Value {
        let states = lock(&self.states);
        let sources: serde_json::Map<String, Value> = states
            .iter()
            .map(|(src, s)| {
                let secs = s.since.elapsed().as_secs();
                let v = if s.connected {
                    json!({"status": "up", "since_seconds": secs})
                } else {
                    json!({"status": "down", "since_seconds": secs, "last_error": s.last_error})
                };
                (src.to_string(), v)
            })
            .collect();
        Value::Object(sources)
    }

    /// Every registered component's state, by name.
    pub fn states(&self) -> Vec<(&'static str, SourceState)> {
        lock(&self.states).iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    pub fn state(&self, source: impl Component) -> Option<SourceState> {
        lock(&self.states).get(source.name()).cloned()
    }

    /// How long `source` has been in its current state (for tests and logs).
    pub fn age(&self, source: impl Component) -> Option<Duration> {
        self.state(source).map(|s| s.since.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    #[test]
    fn healthy_only_when_every_source_is_up() {
        let h = Health::default();
        let all_up = |h: &Health| h.states().iter().all(|(_, s)| s.connected);
        assert!(all_up(&h), "no sources: healthy");
        h.register(Source::Kafka);
        h.register(Source::Nats);
        assert!(!all_up(&h));
        assert_eq!(h.sources()["kafka"]["status"], "down");
        h.up(Source::Kafka);
        h.up(Source::Nats);
        assert!(all_up(&h));
        h.down(Source::Nats, "connection refused");
        assert!(!all_up(&h));
        let r = h.sources();
        assert_eq!(r["nats"]["last_error"], "connection refused");
        assert_eq!(r["kafka"]["status"], "up");
        h.up(Source::Nats);
        assert!(all_up(&h));
        h.register("kafka-producer");
        assert!(!all_up(&h));
        assert_eq!(h.sources()["kafka-producer"]["status"], "down");
    }
}
