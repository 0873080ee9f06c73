//! Replicated state: namespaced keys with JSON values and an optional expiry,
//! eventually the same on every node, with no external store.
//!
//! Entries travel in chitchat key-values (`r/<namespace>/<key>`, value: the
//! entry as JSON) and, for speed, are also pushed to every peer at once over
//! the peer links. A chitchat key belongs to the node that wrote it and goes
//! when that node is forgotten, so every node re-publishes every entry it
//! learns under its own name: an entry lives as long as one node that knows
//! it does. Expired entries are dropped from the view and deleted from our
//! key-values, which keeps the state bounded by the expiries.
//!
//! Of two versions of one key, the one that expires last wins (no expiry
//! counts as never), then the one with the higher caller-given `version`
//! (e.g. an API definition's `ref_number`; 0 when unused), then the one
//! written last (`stamp`, milliseconds), then the greater origin name: every
//! node picks the same winner whatever the order it hears them in. An entry's
//! expiry can therefore only grow, which is the blacklist's rule (grow-only
//! with TTL, merge by max expiry); entries without expiry are ordered by
//! version, then last-writer-wins.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::support::sync::lock;

/// Prefix of replicated entries among a node's chitchat key-values.
pub const KEY_PREFIX: &str = "r/";

/// One version of one replicated key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "n")]
    pub namespace: String,
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "v")]
    pub value: Value,
    /// Unix time in milliseconds after which the entry no longer exists.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Caller's version number: a higher one wins over a later write.
    #[serde(rename = "r", default, skip_serializing_if = "is_zero")]
    pub version: u64,
    /// Unix time in milliseconds of the write (strictly increasing per node).
    #[serde(rename = "s")]
    pub stamp: u64,
    /// The node that wrote this version.
    #[serde(rename = "o")]
    pub origin: String,
}

impl Entry {
    fn rank(&self) -> (u64, u64, u64, &str) {
        (self.expires_at.unwrap_or(u64::MAX), self.version, self.stamp, &self.origin)
    }

    /// True when this version wins over `other`.
    pub fn supersedes(&self, other: &Entry) -> bool {
        self.rank() > other.rank()
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|e| e <= now_ms)
    }

    /// The chitchat key this entry is stored under.
    pub fn chitchat_key(&self) -> String {
        format!("{KEY_PREFIX}{}/{}", self.namespace, self.key)
    }

    /// Parses a chitchat key-value; `None` unless it is a well-formed entry stored under its own key.
    pub fn from_key_value(key: &str, value: &str) -> Option<Entry> {
        let e: Entry = serde_json::from_str(value).ok()?;
        (e.chitchat_key() == key).then_some(e)
    }
}

/// The merged view of every namespace, and who wants to hear about changes.
pub struct Replicated {
    me: String,
    view: Mutex<HashMap<(String, String), Entry>>,
    watchers: Mutex<HashMap<String, broadcast::Sender<Entry>>>,
    last_stamp: AtomicU64,
    /// Winning entries to (re-)publish under our own chitchat key-values.
    publish: mpsc::UnboundedSender<Entry>,
}

impl Replicated {
    /// The view for node `me`, and the stream of entries to store in our chitchat key-values.
    pub fn new(me: String) -> (Replicated, mpsc::UnboundedReceiver<Entry>) {
        let (publish, rx) = mpsc::unbounded_channel();
        let r = Replicated {
            me,
            view: Mutex::new(HashMap::new()),
            watchers: Mutex::new(HashMap::new()),
            last_stamp: AtomicU64::new(0),
            publish,
        };
        (r, rx)
    }

    /// Writes a key here. Returns the new version if it took effect (it does
    /// not when a version that expires later is already known).
    pub fn write(&self, namespace: &str, key: &str, value: Value, expires_at: Option<u64>, version: u64) -> Option<Entry> {
        debug_assert!(!namespace.contains('/'), "namespaces contain no '/'");
        let entry = Entry {
            namespace: namespace.to_string(),
            key: key.to_string(),
            value,
            expires_at,
            version,
            stamp: self.next_stamp(),
            origin: self.me.clone(),
        };
        if !self.merge(&entry) {
            return None;
        }
        let _ = self.publish.send(entry.clone());
        Some(entry)
    }

    /// Merges a version learned from a peer (gossip or push). Returns true
    /// when it is new here; watchers of its namespace then get it.
    pub fn apply(&self, entry: Entry) -> bool {
        if entry.expired(now_ms()) || !self.merge(&entry) {
            return false;
        }
        if let Some(tx) = lock(&self.watchers).get(&entry.namespace) {
            let _ = tx.send(entry.clone());
        }
        let _ = self.publish.send(entry);
        true
    }

    fn merge(&self, entry: &Entry) -> bool {
        let mut view = lock(&self.view);
        let slot = view.entry((entry.namespace.clone(), entry.key.clone()));
        match slot {
            std::collections::hash_map::Entry::Occupied(mut o) if entry.supersedes(o.get()) => {
                o.insert(entry.clone());
                true
            }
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(entry.clone());
                true
            }
        }
    }

    /// The live entries of `namespace` and, taken at the same moment, a
    /// stream of the versions learned from peers from now on. On
    /// `RecvError::Lagged`, read [`Replicated::entries`] again.
    pub fn watch(&self, namespace: &str) -> (Vec<Entry>, broadcast::Receiver<Entry>) {
        let mut watchers = lock(&self.watchers);
        let rx = watchers.entry(namespace.to_string()).or_insert_with(|| broadcast::channel(4096).0).subscribe();
        (self.entries(namespace), rx)
    }

    /// The live entries of `namespace`.
    pub fn entries(&self, namespace: &str) -> Vec<Entry> {
        let now = now_ms();
        lock(&self.view).values().filter(|e| e.namespace == namespace && !e.expired(now)).cloned().collect()
    }

    /// Every live entry (to hand a peer everything at once).
    pub fn all(&self) -> Vec<Entry> {
        let now = now_ms();
        lock(&self.view).values().filter(|e| !e.expired(now)).cloned().collect()
    }

    /// Drops expired entries; returns them (their chitchat keys are deleted by the caller).
    pub fn purge(&self) -> Vec<Entry> {
        let now = now_ms();
        let mut gone = Vec::new();
        lock(&self.view).retain(|_, e| {
            let keep = !e.expired(now);
            if !keep {
                gone.push(e.clone());
            }
            keep
        });
        gone
    }

    /// Milliseconds since the epoch, strictly increasing across our writes so
    /// two quick writes of one key are ordered.
    fn next_stamp(&self) -> u64 {
        let now = now_ms();
        let mut last = self.last_stamp.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_stamp.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    to_ms(SystemTime::now())
}

pub fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(key: &str, exp: Option<u64>, stamp: u64, origin: &str) -> Entry {
        Entry { namespace: "ns".into(), key: key.into(), value: json!(stamp), expires_at: exp, version: 0, stamp, origin: origin.into() }
    }

    #[test]
    fn the_later_expiry_then_the_later_write_wins_in_any_order() {
        let far = now_ms() + 60_000;
        let versions = [entry("k", Some(far), 5, "a"), entry("k", Some(far + 1), 1, "b"), entry("k", Some(far), 9, "c")];
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
            let (r, _rx) = Replicated::new("me".into());
            for i in order {
                r.apply(versions[i].clone());
            }
            assert_eq!(r.entries("ns"), vec![versions[1].clone()], "order {order:?}");
        }
        let (r, _rx) = Replicated::new("me".into());
        r.apply(entry("k", None, 1, "a"));
        r.apply(entry("k", None, 2, "b"));
        assert_eq!(r.entries("ns")[0].origin, "b", "no expiry: last writer wins");
        r.apply(Entry { version: 3, ..entry("k", None, 1, "c") });
        r.apply(Entry { version: 2, ..entry("k", None, 9, "d") });
        assert_eq!(r.entries("ns")[0].origin, "c", "a higher version wins over a later write");
    }

    #[test]
    fn local_writes_are_published_and_remote_ones_watched() {
        let (r, mut publish) = Replicated::new("me".into());
        let far = now_ms() + 60_000;
        let (_, mut watch) = r.watch("ns");
        let w = r.write("ns", "k", json!(1), Some(far), 0).expect("takes effect");
        assert_eq!(publish.try_recv().unwrap(), w);
        assert!(watch.try_recv().is_err(), "own writes are not echoed to watchers");
        assert!(r.write("ns", "k", json!(2), Some(far - 1), 0).is_none(), "a shorter expiry does not shorten");
        let remote = entry("k", Some(far + 5), 1, "peer");
        assert!(r.apply(remote.clone()));
        assert_eq!(watch.try_recv().unwrap(), remote);
        assert_eq!(publish.try_recv().unwrap(), remote, "learned entries are re-published under our name");
        assert!(!r.apply(remote.clone()), "a duplicate is not new");
        assert!(!r.apply(entry("x", Some(1), 1, "peer")), "expired on arrival");
    }

    #[test]
    fn expired_entries_are_purged_and_keys_round_trip() {
        let (r, _rx) = Replicated::new("me".into());
        r.write("ns", "old", json!(null), Some(now_ms() - 1), 0);
        r.write("ns", "new", json!(null), Some(now_ms() + 60_000), 0);
        let gone = r.purge();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].key, "old");
        let e = &r.entries("ns")[0];
        let text = serde_json::to_string(e).unwrap();
        assert_eq!(Entry::from_key_value(&e.chitchat_key(), &text).as_ref(), Some(e));
        assert_eq!(Entry::from_key_value("r/ns/other", &text), None, "stored under another key");
    }
}
