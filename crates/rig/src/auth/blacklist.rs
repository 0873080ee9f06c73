//! The session blacklist: session ids with an expiry. Grow-only with TTL, so
//! re-adding only ever extends an entry and replicas merge by max expiry.
//! Expiries are wall-clock times, as they travel between nodes.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, SystemTime},
};

use crate::support::sync::lock;

/// Blacklisted session ids and when each entry expires.
#[derive(Debug, Default)]
pub struct Blacklist {
    entries: Mutex<HashMap<String, SystemTime>>,
    /// Additions ever made (RIG: `rig_distributed_set_items_total`).
    added: AtomicU64,
}

impl Blacklist {
    /// Adds `session` for `ttl`; an existing longer entry is kept. Returns
    /// when the entry now expires.
    pub fn add(&self, session: &str, ttl: Duration) -> SystemTime {
        self.add_until(session, SystemTime::now() + ttl)
    }

    /// Adds `session` until `until` (or keeps a later expiry); returns the expiry in force.
    pub fn add_until(&self, session: &str, until: SystemTime) -> SystemTime {
        self.added.fetch_add(1, Ordering::Relaxed);
        let mut entries = lock(&self.entries);
        let e = entries.entry(session.to_string()).or_insert(until);
        *e = (*e).max(until);
        *e
    }

    /// True while `session` is blacklisted and not expired.
    pub fn contains(&self, session: &str) -> bool {
        lock(&self.entries).get(session).is_some_and(|until| *until > SystemTime::now())
    }

    /// Additions ever made.
    pub fn added(&self) -> u64 {
        self.added.load(Ordering::Relaxed)
    }

    /// Entries not yet expired.
    pub fn current(&self) -> usize {
        let now = SystemTime::now();
        lock(&self.entries).values().filter(|until| **until > now).count()
    }

    /// Drops expired entries; returns how many remain.
    pub fn purge(&self) -> usize {
        let now = SystemTime::now();
        let mut entries = lock(&self.entries);
        entries.retain(|_, until| *until > now);
        entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_re_adding_extends() {
        let b = Blacklist::default();
        b.add("a", Duration::from_millis(0));
        assert!(!b.contains("a"));
        b.add("a", Duration::from_secs(60));
        b.add("a", Duration::from_millis(0));
        assert!(b.contains("a"), "a shorter re-add does not shorten");
        assert!(!b.contains("b"));
        assert_eq!(b.purge(), 1);
    }
}
