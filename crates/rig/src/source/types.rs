//! Events in and deliveries out per event type, for `/metrics`. The number of
//! types is capped so a publisher inventing types cannot grow the label set
//! (and the process) without bound: types past the cap count as `other`.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        RwLock,
    },
};

use crate::support::sync::{read, write};

/// Distinct types tracked before the rest are folded into [`OTHER`].
pub const MAX_TYPES: usize = 256;
pub const OTHER: &str = "other";

#[derive(Debug, Default)]
struct Counts {
    events: AtomicU64,
    deliveries: AtomicU64,
}

#[derive(Debug, Default)]
pub struct TypeCounters {
    by_type: RwLock<HashMap<Box<str>, Counts>>,
}

impl TypeCounters {
    /// Counts one event of `event_type` queued for `delivered` connections.
    pub fn record(&self, event_type: &str, delivered: usize) {
        let add = |c: &Counts| {
            c.events.fetch_add(1, Ordering::Relaxed);
            c.deliveries.fetch_add(delivered as u64, Ordering::Relaxed);
        };
        if let Some(c) = read(&self.by_type).get(event_type) {
            return add(c);
        }
        let mut map = write(&self.by_type);
        let key = if map.len() < MAX_TYPES || map.contains_key(event_type) { event_type } else { OTHER };
        add(map.entry(key.into()).or_default());
    }

    /// (type, events, deliveries), sorted by type.
    pub fn snapshot(&self) -> Vec<(String, u64, u64)> {
        let map = read(&self.by_type);
        let mut v: Vec<_> =
            map.iter().map(|(t, c)| (t.to_string(), c.events.load(Ordering::Relaxed), c.deliveries.load(Ordering::Relaxed))).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_type_and_folds_types_past_the_cap() {
        let t = TypeCounters::default();
        t.record("a", 3);
        t.record("a", 0);
        for i in 0..MAX_TYPES + 10 {
            t.record(&format!("t{i}"), 1);
        }
        let snap = t.snapshot();
        assert_eq!(snap.len(), MAX_TYPES + 1, "the cap plus `other`");
        assert!(snap.contains(&("a".into(), 2, 3)));
        let other = snap.iter().find(|(ty, ..)| ty == OTHER).unwrap();
        assert_eq!((other.1, other.2), (11, 11));
    }
}
