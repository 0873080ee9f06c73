//! Phoenix presence (RIG 1.x's `RigWeb.Presence`, a `Phoenix.Presence`):
//! which users' devices are in which channel topic, on every node.
//!
//! A tracked device is one entry: a key (the user name), the topics it is in
//! and its meta (with a `phx_ref` naming it). Each node keeps a view of every
//! node's entries; a change to the view becomes a `presence_diff` pushed to
//! this node's members of each topic it touches, so every member in the
//! cluster hears of it once, from its own node.
//!
//! In a cluster, entries travel in the replicated namespace [`NAMESPACE`]
//! (key: `phx_ref`) with an expiry this node extends while the device stays;
//! a leave is a tombstone (`null`, the same expiry, written later, so it
//! wins everywhere). Entries of a node that is not a live peer are hidden at
//! once (their devices leave), as Phoenix's tracker does on nodedown, so the
//! expiry is only a backstop and refreshes can be rare.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{
    cluster::{self, Cluster},
    hub::{channel, Hub},
    support::{ids::random_bytes, sync::lock},
};

/// Replicated namespace of the presence entries.
pub const NAMESPACE: &str = "presence";
/// How long an entry outlives its last refresh (a backstop: a dead node's
/// entries are hidden as soon as it is no longer a live peer). A tombstone
/// lives as long, and counts against `RIG_MAX_PRESENCES` meanwhile, so
/// joining and leaving in a loop cannot grow the replicated state unbounded.
const TTL: Duration = Duration::from_secs(120);
/// How often this node extends its own entries.
const REFRESH: Duration = Duration::from_secs(40);
/// How often peers' liveness is checked against the view.
const LIVENESS: Duration = Duration::from_secs(1);
/// The source of the `presence_diff` events.
const SOURCE: &str = "/rig/presence";

/// One tracked device, as replicated.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    #[serde(rename = "k")]
    key: String,
    #[serde(rename = "t")]
    topics: Vec<String>,
    /// Phoenix's meta, `phx_ref` included.
    #[serde(rename = "m")]
    meta: Value,
}

struct Known {
    item: Item,
    origin: String,
    /// Insertion order, so metas are listed oldest first.
    seq: u64,
}

/// Devices as `(key, meta)`.
type Devices = Vec<(String, Value)>;

/// Joins and leaves per topic: `topic -> (joins, leaves)`.
#[derive(Debug, Default, PartialEq)]
struct Diff(BTreeMap<String, (Devices, Devices)>);

impl Diff {
    fn add(&mut self, item: &Item, join: bool) {
        for topic in &item.topics {
            let (joins, leaves) = self.0.entry(topic.clone()).or_default();
            let side = if join { joins } else { leaves };
            side.push((item.key.clone(), item.meta.clone()));
        }
    }
}

/// Phoenix's presence map: `{key: {"metas": [meta, ...]}}`.
fn grouped<'a>(metas: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Value {
    let mut out = Map::new();
    for (key, meta) in metas {
        let entry = out.entry(key.to_string()).or_insert_with(|| json!({"metas": []}));
        entry["metas"].as_array_mut().expect("metas is an array").push(meta.clone());
    }
    Value::Object(out)
}

/// Every node's entries as this node knows them.
#[derive(Default)]
struct View {
    known: HashMap<String, Known>,
    by_topic: HashMap<String, HashSet<String>>,
    /// Origins that are not live peers: their entries are hidden.
    hidden: HashSet<String>,
    seq: u64,
}

impl View {
    fn visible(&self, k: &Known) -> bool {
        !self.hidden.contains(&k.origin)
    }

    fn insert(&mut self, phx_ref: &str, item: Item, origin: &str, diff: &mut Diff) {
        if self.known.contains_key(phx_ref) {
            return; // a refresh
        }
        for topic in &item.topics {
            self.by_topic.entry(topic.clone()).or_default().insert(phx_ref.to_string());
        }
        self.seq += 1;
        let known = Known { item, origin: origin.to_string(), seq: self.seq };
        if self.visible(&known) {
            diff.add(&known.item, true);
        }
        self.known.insert(phx_ref.to_string(), known);
    }

    fn remove(&mut self, phx_ref: &str, diff: &mut Diff) {
        let Some(known) = self.known.remove(phx_ref) else { return };
        for topic in &known.item.topics {
            if let Some(refs) = self.by_topic.get_mut(topic) {
                refs.remove(phx_ref);
                if refs.is_empty() {
                    self.by_topic.remove(topic);
                }
            }
        }
        if self.visible(&known) {
            diff.add(&known.item, false);
        }
    }

    /// Hides the entries of origins that are not `live`, shows those that are again.
    fn set_live(&mut self, live: &dyn Fn(&str) -> bool, diff: &mut Diff) {
        let hidden: HashSet<String> = self.known.values().map(|k| &k.origin).filter(|o| !live(o)).cloned().collect();
        for k in self.known.values() {
            let (was, is) = (self.hidden.contains(&k.origin), hidden.contains(&k.origin));
            if was != is {
                diff.add(&k.item, was);
            }
        }
        self.hidden = hidden;
    }

    /// The visible devices in `topic`, oldest first.
    fn list(&self, topic: &str) -> Vec<&Known> {
        let mut out: Vec<&Known> =
            self.by_topic.get(topic).into_iter().flatten().filter_map(|r| self.known.get(r)).filter(|k| self.visible(k)).collect();
        out.sort_by_key(|k| k.seq);
        out
    }
}

/// `RIG_MAX_PRESENCES` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// This node's own entries: `phx_ref -> (item, the latest expiry written)`,
/// its tombstones not yet expired (expiry, topics), and how many topic
/// presences both add up to.
#[derive(Default)]
struct Own {
    entries: HashMap<String, (Item, u64)>,
    tombstones: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>>,
    presences: usize,
}

impl Own {
    /// Forgets the tombstones that have expired everywhere by now.
    fn drop_expired_tombstones(&mut self, now_ms: u64) {
        while let Some(std::cmp::Reverse((expires, topics))) = self.tombstones.peek().copied() {
            if expires > now_ms {
                return;
            }
            self.tombstones.pop();
            self.presences -= topics;
        }
    }
}

/// The presence view and this node's tracking.
pub struct Presence {
    hub: Arc<Hub>,
    cluster: Option<Arc<Cluster>>,
    me: String,
    /// `RIG_MAX_PRESENCES`: topic presences this node tracks at most.
    max: usize,
    view: Mutex<View>,
    own: Mutex<Own>,
}

/// A tracked device; dropping it is the device's leave.
pub struct Tracked {
    presence: Arc<Presence>,
    phx_ref: String,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.presence.untrack(&self.phx_ref);
    }
}

impl Presence {
    pub fn new(hub: Arc<Hub>, cluster: Option<Arc<Cluster>>, max: usize) -> Arc<Presence> {
        let me = cluster.as_ref().map_or_else(|| "local".to_string(), |c| c.me().name.clone());
        Arc::new(Presence { hub, cluster, me, max, view: Mutex::default(), own: Mutex::default() })
    }

    /// Tracks a device of `key` in `topics` with `meta` (to which its
    /// `phx_ref` is added), and tells the topics' members.
    pub fn track(self: &Arc<Self>, key: &str, topics: Vec<String>, mut meta: Value) -> Result<Tracked, Full> {
        // Phoenix's refs are 8 random bytes in base64; URL-safe, as it is a replicated key too.
        let phx_ref = base64::engine::general_purpose::URL_SAFE.encode(random_bytes::<8>());
        if let Value::Object(m) = &mut meta {
            m.insert("phx_ref".into(), Value::String(phx_ref.clone()));
        }
        let item = Item { key: key.to_string(), topics, meta };
        let expires = cluster::replicated::to_ms(SystemTime::now() + TTL);
        {
            let mut own = lock(&self.own);
            own.drop_expired_tombstones(cluster::replicated::now_ms());
            if own.presences + item.topics.len() > self.max {
                return Err(Full);
            }
            own.presences += item.topics.len();
            own.entries.insert(phx_ref.clone(), (item.clone(), expires));
        }
        self.replicate(&phx_ref, &item, expires);
        let mut diff = Diff::default();
        lock(&self.view).insert(&phx_ref, item, &self.me, &mut diff);
        self.push(diff);
        Ok(Tracked { presence: self.clone(), phx_ref })
    }

    fn untrack(&self, phx_ref: &str) {
        {
            let mut own = lock(&self.own);
            let Some((item, expires)) = own.entries.remove(phx_ref) else { return };
            match &self.cluster {
                // Under the lock, so no refresh of this entry is written after its tombstone.
                Some(c) => {
                    c.replicate(NAMESPACE, phx_ref, Value::Null, Some(cluster::replicated::from_ms(expires)));
                    own.tombstones.push(std::cmp::Reverse((expires, item.topics.len())));
                }
                None => own.presences -= item.topics.len(),
            }
        }
        let mut diff = Diff::default();
        lock(&self.view).remove(phx_ref, &mut diff);
        self.push(diff);
    }

    fn replicate(&self, phx_ref: &str, item: &Item, expires: u64) {
        if let Some(c) = &self.cluster {
            let value = serde_json::to_value(item).expect("items serialise");
            c.replicate(NAMESPACE, phx_ref, value, Some(cluster::replicated::from_ms(expires)));
        }
    }

    /// `Phoenix.Presence.list/1`: `{key: {"metas": [...]}}` for `topic`.
    pub fn state(&self, topic: &str) -> Value {
        let view = lock(&self.view);
        grouped(view.list(topic).into_iter().map(|k| (k.item.key.as_str(), &k.item.meta)))
    }

    /// The keys present in `topic`, in order of their first device.
    pub fn keys(&self, topic: &str) -> Vec<String> {
        let view = lock(&self.view);
        let mut keys: Vec<String> = Vec::new();
        for k in view.list(topic) {
            if !keys.contains(&k.item.key) {
                keys.push(k.item.key.clone());
            }
        }
        keys
    }

    /// Every device's meta in `topic`, oldest first.
    pub fn metas(&self, topic: &str) -> Vec<Value> {
        lock(&self.view).list(topic).into_iter().map(|k| k.item.meta.clone()).collect()
    }

    /// Pushes `presence_diff` to this node's members of each topic in `diff`.
    fn push(&self, diff: Diff) {
        for (topic, (joins, leaves)) in diff.0 {
            let joins = grouped(joins.iter().map(|(k, m)| (k.as_str(), m)));
            let leaves = grouped(leaves.iter().map(|(k, m)| (k.as_str(), m)));
            let payload = json!({"joins": joins, "leaves": leaves});
            self.hub.publish(channel::broadcast_event(&topic, "presence_diff", payload, SOURCE));
        }
    }

    /// Applies one replicated entry learned from a peer.
    fn apply(&self, e: &cluster::Entry, diff: &mut Diff) {
        let mut view = lock(&self.view);
        match serde_json::from_value::<Item>(e.value.clone()) {
            Ok(item) if e.value.is_object() => view.insert(&e.key, item, &e.origin, diff),
            _ => view.remove(&e.key, diff),
        }
    }

    /// Replaces what the view knows of other nodes with `entries` (after the watch lagged).
    fn resync(&self, entries: &[cluster::Entry], diff: &mut Diff) {
        let live: HashSet<&str> = entries.iter().filter(|e| e.value.is_object()).map(|e| e.key.as_str()).collect();
        let stale: Vec<String> = {
            let view = lock(&self.view);
            view.known.iter().filter(|(r, k)| k.origin != self.me && !live.contains(r.as_str())).map(|(r, _)| r.clone()).collect()
        };
        let mut view = lock(&self.view);
        for r in stale {
            view.remove(&r, diff);
        }
        drop(view);
        for e in entries {
            self.apply(e, diff);
        }
    }

    /// Hides the entries of nodes that are no longer live peers.
    fn check_liveness(&self, cluster: &Cluster, diff: &mut Diff) {
        let live: HashSet<String> = cluster.peers().into_iter().map(|p| p.name).chain([self.me.clone()]).collect();
        lock(&self.view).set_live(&|origin| live.contains(origin), diff);
    }

    /// Extends this node's entries before they expire, one lock each so
    /// tracking goes on meanwhile.
    fn refresh(&self) {
        let expires = cluster::replicated::to_ms(SystemTime::now() + TTL);
        let refs: Vec<String> = lock(&self.own).entries.keys().cloned().collect();
        for r in refs {
            let mut own = lock(&self.own);
            if let Some((item, exp)) = own.entries.get_mut(&r) {
                *exp = expires;
                self.replicate(&r, item, expires);
            }
        }
    }

    /// In a cluster, the task that follows peers' entries and liveness and
    /// keeps this node's entries alive.
    pub fn follow(self: &Arc<Self>) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let cluster = self.cluster.clone()?;
        let presence = self.clone();
        Some(async move {
            use tokio::sync::broadcast::error::RecvError;
            let (current, mut updates) = cluster.watch(NAMESPACE);
            let mut diff = Diff::default();
            presence.check_liveness(&cluster, &mut diff);
            presence.resync(&current, &mut diff);
            presence.push(diff);
            let mut liveness = tokio::time::interval(LIVENESS);
            let mut refresh = tokio::time::interval(REFRESH);
            refresh.tick().await;
            loop {
                let mut diff = Diff::default();
                tokio::select! {
                    update = updates.recv() => match update {
                        Ok(e) => {
                            presence.check_liveness_of(&cluster, &e.origin, &mut diff);
                            presence.apply(&e, &mut diff);
                        }
                        Err(RecvError::Lagged(_)) => presence.resync(&cluster.entries(NAMESPACE), &mut diff),
                        Err(RecvError::Closed) => return,
                    },
                    _ = liveness.tick() => presence.check_liveness(&cluster, &mut diff),
                    _ = refresh.tick() => presence.refresh(),
                }
                presence.push(diff);
            }
        })
    }

    /// An entry from an origin the view hides may come from a peer that has
    /// just joined: check before it is hidden until the next liveness tick.
    fn check_liveness_of(&self, cluster: &Cluster, origin: &str, diff: &mut Diff) {
        if lock(&self.view).hidden.contains(origin) {
            self.check_liveness(cluster, diff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, topics: &[&str], r: &str) -> Item {
        Item { key: key.into(), topics: topics.iter().map(|t| t.to_string()).collect(), meta: json!({"phx_ref": r}) }
    }

    #[test]
    fn the_view_diffs_joins_leaves_and_dead_origins() {
        let mut v = View::default();
        let mut d = Diff::default();
        v.insert("r1", item("alice", &["user:alice", "role:a"], "r1"), "me", &mut d);
        v.insert("r2", item("alice", &["user:alice"], "r2"), "peer", &mut d);
        assert_eq!(d.0["user:alice"].0.len(), 2);
        assert_eq!(d.0["role:a"].0, vec![("alice".to_string(), json!({"phx_ref": "r1"}))]);
        let state = grouped(v.list("user:alice").into_iter().map(|k| (k.item.key.as_str(), &k.item.meta)));
        assert_eq!(state, json!({"alice": {"metas": [{"phx_ref": "r1"}, {"phx_ref": "r2"}]}}));

        let mut d = Diff::default();
        v.insert("r2", item("alice", &["user:alice"], "r2"), "peer", &mut d);
        assert_eq!(d, Diff::default(), "a refresh is no join");
        v.set_live(&|o| o == "me", &mut d);
        assert_eq!(d.0["user:alice"].1, vec![("alice".to_string(), json!({"phx_ref": "r2"}))], "a dead peer's devices leave");
        assert_eq!(v.list("user:alice").len(), 1);
        let mut d = Diff::default();
        v.set_live(&|_| true, &mut d);
        assert_eq!(d.0["user:alice"].0.len(), 1, "and come back with it");

        let mut d = Diff::default();
        v.remove("r1", &mut d);
        v.remove("r1", &mut d);
        assert_eq!((d.0["user:alice"].1.len(), d.0["role:a"].1.len()), (1, 1));
        assert!(v.list("role:a").is_empty() && !v.by_topic.contains_key("role:a"));
    }

    #[test]
    fn tracking_is_bounded_and_a_drop_leaves() {
        let hub = Arc::new(Hub::new(Default::default()));
        let p = Presence::new(hub, None, 3);
        let a = p.track("alice", vec!["user:alice".into(), "role:x".into()], json!({"n": 1})).unwrap();
        assert_eq!(p.track("bob", vec!["user:bob".into(), "role:x".into()], json!({})).err(), Some(Full));
        let b = p.track("bob", vec!["role:x".into()], json!({})).unwrap();
        assert_eq!(p.keys("role:x"), vec!["alice", "bob"]);
        let metas = p.metas("user:alice");
        assert_eq!(metas[0]["n"], 1);
        assert_eq!(metas[0]["phx_ref"].as_str().unwrap().len(), 12);
        drop(a);
        assert_eq!(p.state("role:x").as_object().unwrap().keys().collect::<Vec<_>>(), vec!["bob"]);
        drop(b);
        assert_eq!(p.state("role:x"), json!({}));
        assert!(p.track("carol", vec!["a".into(), "b".into(), "c".into()], json!({})).is_ok(), "room again");
    }

    #[test]
    fn tombstones_count_until_they_expire() {
        let mut own = Own { presences: 5, ..Own::default() };
        own.tombstones.push(std::cmp::Reverse((200, 2)));
        own.tombstones.push(std::cmp::Reverse((100, 1)));
        own.drop_expired_tombstones(150);
        assert_eq!((own.presences, own.tombstones.len()), (4, 1));
        own.drop_expired_tombstones(200);
        assert_eq!((own.presences, own.tombstones.len()), (2, 0));
    }
}
