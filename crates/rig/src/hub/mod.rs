//! The connection hub: a sharded registry of live connections, the subscription
//! index, sessions, and fan-out.
//!
//! Lock order, where two are held: a registry shard, then the index. Publishing
//! holds the index (read) and a shard never at the same time.

pub mod frame;
pub mod outbox;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError, RwLock,
    },
    time::SystemTime,
};

use rig_core::{CloudEvent, ExtractorConfig, Subscription, SubscriptionIndex};
use serde_json::Value;

pub use self::{
    frame::Frame,
    outbox::{CloseReason, Delivery, LpBuffer, Outgoing, Sink},
};

/// Identifies a connection on this node (random, so ids do not leak counts).
pub type ConnId = u64;

const SHARDS: usize = 64;

/// How a frontend is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Sse,
    Ws,
    LongPolling,
}

/// The subscriptions PUT hit a connection that is gone (410).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Connection no longer exists.")]
pub struct Gone;

/// Who is behind a connection (from its JWT and request), for presence.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub session: Option<String>,
    pub user: Option<String>,
    pub user_agent: Option<String>,
}

struct Conn {
    sink: Sink,
    transport: Transport,
    subscriptions: Vec<Subscription>,
    sessions: Vec<Box<str>>,
    user: Option<Box<str>>,
    user_agent: Option<Box<str>>,
    connected_at: SystemTime,
}

/// A connection as the presence API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnView {
    pub transport: &'static str,
    pub user: Option<String>,
    pub sessions: Vec<String>,
    pub connected_since: String,
    pub user_agent: Option<String>,
    pub subscriptions: usize,
}

/// Counters the hub keeps for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct HubStats {
    pub events_published: AtomicU64,
    pub frames_queued: AtomicU64,
    pub frames_dropped: AtomicU64,
}

/// The registry of this node's connections.
pub struct Hub {
    extractors: ExtractorConfig,
    shards: Box<[Mutex<HashMap<ConnId, Conn>>]>,
    index: RwLock<SubscriptionIndex<ConnId>>,
    sessions: Mutex<HashMap<Box<str>, Vec<ConnId>>>,
    pub stats: HubStats,
}

/// Locks a mutex; a panic elsewhere must not take the whole hub down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn shard_of(id: ConnId) -> usize {
    (id % SHARDS as u64) as usize
}

impl Hub {
    pub fn new(extractors: ExtractorConfig) -> Self {
        Hub {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            index: RwLock::new(SubscriptionIndex::new(extractors.clone())),
            extractors,
            sessions: Mutex::new(HashMap::new()),
            stats: HubStats::default(),
        }
    }

    pub fn extractors(&self) -> &ExtractorConfig {
        &self.extractors
    }

    /// JWT-inferred subscriptions for `claims` under this hub's extractor config.
    pub fn infer_subscriptions(&self, claims: &Value) -> Vec<Subscription> {
        self.extractors.infer_from_claims(claims)
    }

    /// A fresh connection id that is not in use.
    pub fn new_id(&self) -> ConnId {
        loop {
            let id = crate::token::random_u64();
            if !lock(&self.shards[shard_of(id)]).contains_key(&id) {
                return id;
            }
        }
    }

    /// Adds a connection whose outbox already holds its greeting frames.
    pub fn register(&self, id: ConnId, transport: Transport, sink: Sink, subs: Vec<Subscription>, info: ConnInfo) {
        let sessions: Vec<Box<str>> = info.session.map(Into::into).into_iter().collect();
        self.add_to_sessions(id, &sessions);
        let conn = Conn {
            sink,
            transport,
            sessions,
            user: info.user.map(Into::into),
            user_agent: info.user_agent.map(Into::into),
            connected_at: SystemTime::now(),
            subscriptions: Vec::new(),
        };
        let mut shard = lock(&self.shards[shard_of(id)]);
        self.write_index().set(id, &subs);
        shard.insert(id, Conn { subscriptions: subs, ..conn });
    }

    /// Removes a connection and all its subscriptions.
    pub fn unregister(&self, id: ConnId) {
        let removed = {
            let mut shard = lock(&self.shards[shard_of(id)]);
            let removed = shard.remove(&id);
            self.write_index().remove(id);
            removed
        };
        if let Some(conn) = removed {
            let mut sessions = lock(&self.sessions);
            for s in &conn.sessions {
                if let Some(ids) = sessions.get_mut(s) {
                    ids.retain(|c| *c != id);
                    if ids.is_empty() {
                        sessions.remove(s);
                    }
                }
            }
        }
    }

    /// Replaces a connection's subscriptions, then emits `rig.subscriptions_set`
    /// to it, so events sent after the client sees that event are matched.
    pub fn set_subscriptions(&self, id: ConnId, subs: Vec<Subscription>) -> Result<(), Gone> {
        let frame = Arc::new(subscriptions_set_frame(&subs));
        let sink = {
            let mut shard = lock(&self.shards[shard_of(id)]);
            let conn = shard.get_mut(&id).ok_or(Gone)?;
            self.write_index().set(id, &subs);
            conn.subscriptions = subs;
            conn.sink.clone()
        };
        self.count(sink.deliver(&frame));
        Ok(())
    }

    /// Associates a live connection with more sessions (bearer tokens on a PUT).
    pub fn add_sessions(&self, id: ConnId, sessions: &[&str]) -> Result<(), Gone> {
        let added: Vec<Box<str>> = {
            let mut shard = lock(&self.shards[shard_of(id)]);
            let conn = shard.get_mut(&id).ok_or(Gone)?;
            let new: Vec<Box<str>> =
                sessions.iter().filter(|s| !conn.sessions.iter().any(|c| &**c == **s)).map(|s| (*s).into()).collect();
            conn.sessions.extend(new.iter().cloned());
            new
        };
        self.add_to_sessions(id, &added);
        Ok(())
    }

    fn add_to_sessions(&self, id: ConnId, sessions: &[Box<str>]) {
        let mut map = lock(&self.sessions);
        for s in sessions {
            map.entry(s.clone()).or_default().push(id);
        }
    }

    /// Tells every connection of `session` to close; returns how many.
    pub fn kill_session(&self, session: &str) -> usize {
        let ids = lock(&self.sessions).get(session).cloned().unwrap_or_default();
        let mut killed = 0;
        for id in ids {
            let sink = lock(&self.shards[shard_of(id)]).get(&id).map(|c| c.sink.clone());
            if let Some(sink) = sink {
                sink.close(CloseReason::SessionKilled);
                if let Sink::Poll(_) = sink {
                    // A long-polling session has no writer that would remove it.
                    self.unregister(id);
                }
                killed += 1;
            }
        }
        killed
    }

    /// Fans an event out to every matching connection, each at most once.
    /// Returns the number of connections it was queued for.
    pub fn publish(&self, event: &CloudEvent) -> usize {
        self.stats.events_published.fetch_add(1, Ordering::Relaxed);
        let mut targets = Vec::new();
        self.index.read().unwrap_or_else(PoisonError::into_inner).matches(event.event_type(), event.value(), &mut targets);
        if targets.is_empty() {
            return 0;
        }
        let frame = Arc::new(Frame::from_event(event));
        self.deliver(&mut targets, &frame)
    }

    /// Queues `frame` for `targets`, taking each registry shard's lock once.
    fn deliver(&self, targets: &mut [ConnId], frame: &Arc<Frame>) -> usize {
        targets.sort_unstable_by_key(|id| shard_of(*id));
        let mut queued = 0;
        for group in targets.chunk_by(|a, b| shard_of(*a) == shard_of(*b)) {
            let shard = lock(&self.shards[shard_of(group[0])]);
            for id in group {
                if let Some(conn) = shard.get(id) {
                    if self.count(conn.sink.deliver(frame)) {
                        queued += 1;
                    }
                }
            }
        }
        queued
    }

    fn count(&self, d: Delivery) -> bool {
        match d {
            Delivery::Queued => {
                self.stats.frames_queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Delivery::Dropped => {
                self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Delivery::Gone => false,
        }
    }

    /// The long-polling buffer of connection `id`, if it is a live LP session.
    pub fn lp_buffer(&self, id: ConnId) -> Option<Arc<LpBuffer>> {
        match lock(&self.shards[shard_of(id)]).get(&id).map(|c| &c.sink) {
            Some(Sink::Poll(buf)) => Some(buf.clone()),
            _ => None,
        }
    }

    /// Drops long-polling sessions idle for longer than `timeout`.
    pub fn expire_lp_sessions(&self, timeout: std::time::Duration) -> usize {
        let mut expired = Vec::new();
        for shard in self.shards.iter() {
            for (id, conn) in lock(shard).iter() {
                if let Sink::Poll(buf) = &conn.sink {
                    if buf.idle_for() > timeout {
                        expired.push(*id);
                    }
                }
            }
        }
        for id in &expired {
            self.unregister(*id);
        }
        expired.len()
    }

    /// Online users: (user, sessions, connections), sorted by user.
    pub fn users(&self) -> Vec<(String, usize, usize)> {
        let mut by_user: HashMap<String, (std::collections::HashSet<Box<str>>, usize)> = HashMap::new();
        for shard in self.shards.iter() {
            for conn in lock(shard).values() {
                if let Some(u) = &conn.user {
                    let e = by_user.entry(u.to_string()).or_default();
                    e.0.extend(conn.sessions.iter().cloned());
                    e.1 += 1;
                }
            }
        }
        let mut out: Vec<_> = by_user.into_iter().map(|(u, (s, n))| (u, s.len(), n)).collect();
        out.sort();
        out
    }

    /// The connections for which `filter` holds, oldest first.
    pub fn connections_where(&self, filter: impl Fn(Option<&str>, &[Box<str>]) -> bool) -> Vec<ConnView> {
        let mut out: Vec<(SystemTime, ConnView)> = Vec::new();
        for shard in self.shards.iter() {
            for conn in lock(shard).values().filter(|c| filter(c.user.as_deref(), &c.sessions)) {
                out.push((conn.connected_at, conn.view()));
            }
        }
        out.sort_by_key(|(t, _)| *t);
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// Live connections per transport: (sse, ws, long-polling).
    pub fn connection_counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for shard in self.shards.iter() {
            for conn in lock(shard).values() {
                match conn.transport {
                    Transport::Sse => n.0 += 1,
                    Transport::Ws => n.1 += 1,
                    Transport::LongPolling => n.2 += 1,
                }
            }
        }
        n
    }

    /// Stored subscription rows (RIG's `rig_subscriptions_total`).
    pub fn subscription_rows(&self) -> usize {
        self.index.read().unwrap_or_else(PoisonError::into_inner).rows()
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, SubscriptionIndex<ConnId>> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Conn {
    fn view(&self) -> ConnView {
        ConnView {
            transport: match self.transport {
                Transport::Sse => "sse",
                Transport::Ws => "ws",
                Transport::LongPolling => "longpolling",
            },
            user: self.user.as_deref().map(str::to_string),
            sessions: self.sessions.iter().map(|s| s.to_string()).collect(),
            connected_since: frame::rfc3339_micros(self.connected_at),
            user_agent: self.user_agent.as_deref().map(str::to_string),
            subscriptions: self.subscriptions.len(),
        }
    }
}

/// `rig.connection.create` carrying the connection token.
pub fn connection_create_frame(token: &str) -> Frame {
    Frame::system("rig.connection.create", Some(serde_json::json!({ "connection_token": token })))
}

/// `rig.subscriptions_set` echoing the subscriptions in list order.
pub fn subscriptions_set_frame(subs: &[Subscription]) -> Frame {
    Frame::system("rig.subscriptions_set", Some(Value::Array(subs.iter().map(Subscription::to_json).collect())))
}

#[cfg(test)]
mod tests;
