//! The connection hub: a sharded registry of live connections, the subscription
//! index, sessions, and fan-out.
//!
//! Lock order, where several are held: the resume window, then a registry
//! shard, then the index. Publishing appends to the window and matches under
//! the window lock, then delivers shard by shard; registration happens under
//! the window lock too, so every event is either replayed to a resuming
//! connection or delivered to it live, never both and never neither.

pub mod channel;
pub mod config;
pub mod frame;
pub mod latency;
pub mod lp_buffer;
pub mod outbox;
pub mod window;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::SystemTime,
};

use rig_core::{CloudEvent, ExtractorConfig, Subscription, SubscriptionIndex};
use serde_json::Value;

use crate::support::{
    sync::{lock, read, write},
    time::{rfc3339_micros, Utc},
};

pub use self::{
    frame::Frame,
    lp_buffer::LpBuffer,
    outbox::{CloseReason, Delivery, DirectWrite, Item, Outbox, Sink, SlowPolicy},
    window::Window,
};

/// Identifies a connection on this node (random, so ids do not leak counts).
pub type ConnId = u64;

const SHARDS: usize = 64;
/// Fan-outs up to this size are written to the sockets by the publisher (see `Hub::deliver`).
const DIRECT_WRITE_MAX_TARGETS: usize = 64;

/// How a frontend is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Sse,
    Ws,
    LongPolling,
    /// A RIG 1.x Phoenix socket (any of its transports).
    Phoenix,
}

/// The subscriptions PUT hit a connection that is gone (410).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Connection no longer exists.")]
pub struct Gone;

/// Why sessions could not be added to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsRefused {
    Gone,
    TooMany,
}

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
    /// Frames a slow client did not get (dropped oldest, or cleared on disconnect).
    pub frames_dropped: AtomicU64,
    pub slow_disconnects: AtomicU64,
    pub frames_replayed: AtomicU64,
    pub resumes_outside_window: AtomicU64,
    /// Publication to hand-off to a connection's writer.
    pub delivery_latency: latency::LatencyHistogram,
}

/// The registry of this node's connections.
pub struct Hub {
    extractors: ExtractorConfig,
    shards: Box<[Mutex<HashMap<ConnId, Conn>>]>,
    index: RwLock<SubscriptionIndex<ConnId>>,
    sessions: Mutex<HashMap<Box<str>, Vec<ConnId>>>,
    window: Mutex<Window>,
    /// Whether the window keeps events (fixed at construction).
    resumable: bool,
    pub stats: HubStats,
}

/// What a new connection is sent before live events: its greeting, built once
/// the resume cursor of "now" is known, and where to resume from.
pub struct Opening<'a> {
    /// Builds the greeting frames; gets the id of the newest event (a cursor
    /// meaning "nothing missed yet"), which is `None` when resuming.
    pub greet: &'a dyn Fn(Option<&str>) -> Vec<Frame>,
    /// The id of the last event the client got (`Last-Event-ID`), if resuming.
    pub resume_from: Option<&'a str>,
}

fn shard_of(id: ConnId) -> usize {
    (id % SHARDS as u64) as usize
}

impl Hub {
    /// A hub without a resume window.
    pub fn new(extractors: ExtractorConfig) -> Self {
        Hub::with_window(extractors, Window::new(0, 0, std::time::Duration::ZERO))
    }

    pub fn with_window(extractors: ExtractorConfig, window: Window) -> Self {
        Hub {
            resumable: window.enabled(),
            window: Mutex::new(window),
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
            let id = crate::support::ids::random_u64();
            if !lock(&self.shards[shard_of(id)]).contains_key(&id) {
                return id;
            }
        }
    }

    /// Adds a connection: queues its greeting, replays what it missed when it
    /// resumes (or tells it that it missed some), then registers it for live events.
    pub fn open(&self, id: ConnId, transport: Transport, sink: Sink, subs: Vec<Subscription>, info: ConnInfo, opening: Opening) {
        let mut window = lock(&self.window);
        let head = if opening.resume_from.is_some() { None } else { window.head_id() };
        for frame in (opening.greet)(head) {
            sink.deliver(&Arc::new(frame), false);
        }
        if let Some(cursor) = opening.resume_from {
            self.replay(&mut window, cursor, &sink, &subs);
        }
        self.register(id, transport, sink, subs, info);
        drop(window);
    }

    /// Adds a connection with no greeting and no resume (benchmarks, tools).
    pub fn open_plain(&self, id: ConnId, transport: Transport, sink: Sink, subs: Vec<Subscription>) {
        let _window = lock(&self.window);
        self.register(id, transport, sink, subs, ConnInfo::default());
    }

    /// Queues the window's events after `cursor` that match `subs`, or a
    /// `rig.events_missed` notice when the cursor is outside the window.
    fn replay(&self, window: &mut Window, cursor: &str, sink: &Sink, subs: &[Subscription]) {
        let Some(entries) = window.since(cursor) else {
            self.stats.resumes_outside_window.fetch_add(1, Ordering::Relaxed);
            let data = serde_json::json!({ "reason": "resume_window", "last_event_id": cursor });
            sink.deliver(&Arc::new(Frame::system("rig.events_missed", Some(data))), false);
            return;
        };
        let mut own = SubscriptionIndex::new(self.extractors.clone());
        own.set(0u8, subs);
        let mut hit = Vec::with_capacity(1);
        for e in entries {
            hit.clear();
            if !own.has_type(&e.event_type) {
                continue;
            }
            let Some(event) = e.event() else { continue };
            own.matches(event.event_type(), event.value(), &mut hit);
            if !hit.is_empty() {
                sink.deliver_unbounded(&e.frame);
                self.stats.frames_replayed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds a connection whose outbox already holds its greeting frames.
    fn register(&self, id: ConnId, transport: Transport, sink: Sink, subs: Vec<Subscription>, info: ConnInfo) {
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
        self.count(sink.deliver(&frame, true));
        Ok(())
    }

    /// Replaces a connection's subscriptions without telling it (Phoenix
    /// channel joins, which answer with their own reply).
    pub fn replace_subscriptions(&self, id: ConnId, subs: Vec<Subscription>) -> Result<(), Gone> {
        let mut shard = lock(&self.shards[shard_of(id)]);
        let conn = shard.get_mut(&id).ok_or(Gone)?;
        self.write_index().set(id, &subs);
        conn.subscriptions = subs;
        Ok(())
    }

    /// Associates a live connection with more sessions (bearer tokens on a PUT).
    /// Refuses to let the connection belong to more than `max` sessions
    /// (`RIG_MAX_SESSIONS_PER_CONNECTION`): each PUT may add the sessions of its
    /// bearer tokens, and the scan for duplicates is linear in them.
    pub fn add_sessions(&self, id: ConnId, sessions: &[&str], max: usize) -> Result<(), SessionsRefused> {
        let added: Vec<Box<str>> = {
            let mut shard = lock(&self.shards[shard_of(id)]);
            let conn = shard.get_mut(&id).ok_or(SessionsRefused::Gone)?;
            let mut new: Vec<Box<str>> = Vec::new();
            for s in sessions {
                if !conn.sessions.iter().chain(&new).any(|c| &**c == *s) {
                    new.push((*s).into());
                }
            }
            // Refused rather than dropped: a session left out could not be blacklisted off this connection.
            if conn.sessions.len() + new.len() > max {
                return Err(SessionsRefused::TooMany);
            }
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

    /// Tells every connection to close (shutdown); returns how many.
    pub fn close_all(&self, reason: CloseReason) -> usize {
        let mut all: Vec<(ConnId, Sink)> = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).iter().map(|(id, c)| (*id, c.sink.clone())));
        }
        for (id, sink) in &all {
            self.close(*id, sink, reason);
        }
        all.len()
    }

    /// Closes one connection; a long-polling session has no writer that would
    /// remove it, so it is removed here.
    fn close(&self, id: ConnId, sink: &Sink, reason: CloseReason) {
        sink.close(reason);
        if let Sink::Poll(_) = sink {
            self.unregister(id);
        }
    }

    /// Tells every connection of `session` to close; returns how many.
    pub fn kill_session(&self, session: &str) -> usize {
        let ids = lock(&self.sessions).get(session).cloned().unwrap_or_default();
        let mut killed = 0;
        for id in ids {
            let sink = lock(&self.shards[shard_of(id)]).get(&id).map(|c| c.sink.clone());
            if let Some(sink) = sink {
                self.close(id, &sink, CloseReason::SessionKilled);
                killed += 1;
            }
        }
        killed
    }

    /// What the resume window holds (oldest first), for a peer that starts.
    pub fn window_events(&self) -> Vec<bytes::Bytes> {
        lock(&self.window).events()
    }

    /// Puts a peer's older window in front of ours (see [`Window::prepend`]).
    pub fn warm_window(&self, older: Vec<CloudEvent>) {
        let older = older
            .into_iter()
            .map(|e| {
                let frame = Arc::new(Frame::from_event(&e));
                (e, frame)
            })
            .collect();
        lock(&self.window).prepend(older);
    }

    /// Fans an event out to every matching connection, each at most once, and
    /// remembers it for resuming clients. Returns the number of connections it
    /// was queued for.
    pub fn publish(&self, event: impl Into<Arc<CloudEvent>>) -> usize {
        let event = event.into();
        self.stats.events_published.fetch_add(1, Ordering::Relaxed);
        let mut targets = Vec::new();
        // Encoded before taking the window lock, which serialises publishers.
        let frame = self.resumable.then(|| Arc::new(Frame::from_event(&event)));
        {
            let mut window = lock(&self.window);
            if let Some(frame) = &frame {
                window.push(&event, frame.clone());
            }
            let index = read(&self.index);
            index.matches(event.event_type(), event.value(), &mut targets);
        }
        if targets.is_empty() {
            return 0;
        }
        let frame = frame.unwrap_or_else(|| Arc::new(Frame::from_event(&event)));
        self.deliver(&mut targets, &frame)
    }

    /// Queues `frame` for `targets`, taking each registry shard's lock once.
    /// A small fan-out is written straight to the sockets (outside the locks:
    /// a write is a system call), saving each writer a wake-up; a large one is
    /// only queued, so the writers share the work across the runtime's threads
    /// and, when they fall behind, batch several frames into one write.
    /// Connections the slow-client policy disconnects are forgotten at once.
    fn deliver(&self, targets: &mut [ConnId], frame: &Arc<Frame>) -> usize {
        targets.sort_unstable_by_key(|id| shard_of(*id));
        let write_now = targets.len() <= DIRECT_WRITE_MAX_TARGETS;
        let mut sinks = Vec::new();
        let mut queued = 0;
        let mut too_slow = Vec::new();
        for group in targets.chunk_by(|a, b| shard_of(*a) == shard_of(*b)) {
            let shard = lock(&self.shards[shard_of(group[0])]);
            for id in group {
                let Some(conn) = shard.get(id) else { continue };
                if write_now {
                    sinks.push((*id, conn.sink.clone()));
                    continue;
                }
                match conn.sink.deliver(frame, false) {
                    Delivery::Disconnected => too_slow.push(*id),
                    d => queued += usize::from(self.count(d)),
                }
            }
        }
        for (id, sink) in sinks {
            match sink.deliver(frame, true) {
                Delivery::Disconnected => too_slow.push(id),
                Delivery::Written => {
                    if let Some(published) = frame.published {
                        self.stats.delivery_latency.observe(published.elapsed());
                    }
                    queued += usize::from(self.count(Delivery::Written));
                }
                d => queued += usize::from(self.count(d)),
            }
        }
        for id in too_slow {
            self.count(Delivery::Disconnected);
            self.unregister(id);
        }
        queued
    }

    fn count(&self, d: Delivery) -> bool {
        let s = &self.stats;
        match d {
            Delivery::Queued | Delivery::Written => {
                s.frames_queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Delivery::DroppedOldest => {
                s.frames_queued.fetch_add(1, Ordering::Relaxed);
                s.frames_dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Delivery::Disconnected => {
                s.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                s.frames_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Delivery::Gone => false,
        }
    }

    /// Asks every streaming connection in one registry shard for a keep-alive
    /// (see [`Hub::heartbeat_sweep`]).
    fn heartbeat_shard(&self, shard: usize) {
        for conn in lock(&self.shards[shard]).values() {
            if let Sink::Stream(outbox) = &conn.sink {
                outbox.heartbeat();
            }
        }
    }

    /// Sends keep-alives to every SSE and WebSocket connection every `every`,
    /// one registry shard at a time: one timer for the whole node instead of
    /// one per connection, and the wake-ups spread over the period.
    pub async fn heartbeat_sweep(&self, every: std::time::Duration) {
        let tick = (every / SHARDS as u32).max(std::time::Duration::from_millis(1));
        let per_tick = (SHARDS as u128 * tick.as_nanos()).div_ceil(every.as_nanos().max(1)).max(1) as usize;
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next = 0;
        loop {
            timer.tick().await;
            for _ in 0..per_tick {
                self.heartbeat_shard(next);
                next = (next + 1) % SHARDS;
            }
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

    /// Online users: (user, their session ids, connections), sorted by user.
    pub fn users(&self) -> Vec<(String, Vec<String>, usize)> {
        let mut by_user: HashMap<String, (std::collections::BTreeSet<Box<str>>, usize)> = HashMap::new();
        for shard in self.shards.iter() {
            for conn in lock(shard).values() {
                if let Some(u) = &conn.user {
                    let e = by_user.entry(u.to_string()).or_default();
                    e.0.extend(conn.sessions.iter().cloned());
                    e.1 += 1;
                }
            }
        }
        let mut out: Vec<_> = by_user.into_iter().map(|(u, (s, n))| (u, s.into_iter().map(String::from).collect(), n)).collect();
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
                    // Counted with WebSockets: the metric's labels are RIG 3.0's.
                    Transport::Ws | Transport::Phoenix => n.1 += 1,
                    Transport::LongPolling => n.2 += 1,
                }
            }
        }
        n
    }

    /// Stored subscription rows (RIG's `rig_subscriptions_total`).
    pub fn subscription_rows(&self) -> usize {
        read(&self.index).rows()
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, SubscriptionIndex<ConnId>> {
        write(&self.index)
    }
}

impl Conn {
    fn view(&self) -> ConnView {
        ConnView {
            transport: match self.transport {
                Transport::Sse => "sse",
                Transport::Ws => "ws",
                Transport::LongPolling => "longpolling",
                Transport::Phoenix => "phoenix",
            },
            user: self.user.as_deref().map(str::to_string),
            sessions: self.sessions.iter().map(|s| s.to_string()).collect(),
            connected_since: rfc3339_micros(self.connected_at, Utc::Offset),
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
    subscriptions_set_frame_with_cursor(subs, None)
}

/// The same, with an SSE resume cursor (the newest event when it was sent).
pub fn subscriptions_set_frame_with_cursor(subs: &[Subscription], cursor: Option<&str>) -> Frame {
    let data = Value::Array(subs.iter().map(Subscription::to_json).collect());
    Frame::system_with_cursor("rig.subscriptions_set", Some(data), cursor)
}

#[cfg(test)]
mod tests;
