//! Connection state of each configured broker source, as the internal
//! `/health` reports it: healthy while every registered source is connected.
//! Sources register before their first connection attempt, so a gateway whose
//! broker was never reachable is reported down, not healthy.

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::Source;
use crate::hub::lock;

/// What a source last reported.
#[derive(Debug, Clone)]
pub struct SourceState {
    pub connected: bool,
    pub last_error: Option<String>,
    pub since: Instant,
}

/// The registry of source states.
#[derive(Debug, Default)]
pub struct Health {
    states: Mutex<BTreeMap<Source, SourceState>>,
}

impl Health {
    /// Adds `source` in the not-yet-connected state.
    pub fn register(&self, source: Source) {
        lock(&self.states).insert(source, SourceState { connected: false, last_error: Some("connecting".into()), since: Instant::now() });
    }

    /// Marks `source` connected; logs the recovery once.
    pub fn up(&self, source: Source) {
        let mut states = lock(&self.states);
        let s = states.entry(source).or_insert(SourceState { connected: false, last_error: None, since: Instant::now() });
        if !s.connected {
            tracing::info!(source = source.name(), "Event source connected.");
            s.connected = true;
            s.since = Instant::now();
        }
    }

    /// Marks `source` down with `error`; logs only the transition, not every retry.
    pub fn down(&self, source: Source, error: impl std::fmt::Display) {
        let error = error.to_string();
        let mut states = lock(&self.states);
        let s = states.entry(source).or_insert(SourceState { connected: true, last_error: None, since: Instant::now() });
        if s.connected {
            tracing::warn!(source = source.name(), %error, "Event source disconnected; reconnecting.");
            s.connected = false;
            s.since = Instant::now();
        }
        s.last_error = Some(error);
    }

    /// `None` when every source is connected, else a JSON report of all of them.
    pub fn report(&self) -> Option<Value> {
        let states = lock(&self.states);
        if states.values().all(|s| s.connected) {
            return None;
        }
        let sources: serde_json::Map<String, Value> = states
            .iter()
            .map(|(src, s)| {
                let secs = s.since.elapsed().as_secs();
                let v = if s.connected {
                    json!({"status": "up", "since_seconds": secs})
                } else {
                    json!({"status": "down", "since_seconds": secs, "last_error": s.last_error})
                };
                (src.name().to_string(), v)
            })
            .collect();
        Some(json!({"status": "unavailable", "sources": sources}))
    }

    pub fn state(&self, source: Source) -> Option<SourceState> {
        lock(&self.states).get(&source).cloned()
    }

    /// How long `source` has been in its current state (for tests and logs).
    pub fn age(&self, source: Source) -> Option<Duration> {
        self.state(source).map(|s| s.since.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_only_when_every_source_is_up() {
        let h = Health::default();
        assert!(h.report().is_none(), "no sources: healthy");
        h.register(Source::Kafka);
        h.register(Source::Nats);
        let r = h.report().unwrap();
        assert_eq!(r["sources"]["kafka"]["status"], "down");
        h.up(Source::Kafka);
        h.up(Source::Nats);
        assert!(h.report().is_none());
        h.down(Source::Nats, "connection refused");
        let r = h.report().unwrap();
        assert_eq!(r["sources"]["nats"]["last_error"], "connection refused");
        assert_eq!(r["sources"]["kafka"]["status"], "up");
        h.up(Source::Nats);
        assert!(h.report().is_none());
    }
}
