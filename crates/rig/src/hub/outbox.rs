//! A streaming connection's outbox: a bounded queue of shared frames that the
//! SSE or WebSocket writer drains, plus a close request that is never lost.
//!
//! Slow clients (`RIG_SLOW_CLIENT_POLICY`): with `drop_oldest` a full outbox
//! drops its oldest frame, counts it, and the writer tells the client how many
//! it missed (`rig.events_missed`) so it can reconnect with its last event id
//! and get them from the resume window; with `disconnect` the queue is cleared
//! and the connection is closed with `SlowConsumer`. Memory per connection is
//! bounded either way, and an idle outbox holds no allocation at all.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use super::{frame::Frame, lock, lp_buffer::LpBuffer};

/// Why the server ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The connection's session was blacklisted or ended.
    SessionKilled,
    /// The client did not keep up (policy `disconnect`).
    SlowConsumer,
    /// The gateway is shutting down; reconnect elsewhere.
    Shutdown,
}

impl CloseReason {
    /// The RIG event that tells a client why it is being closed.
    pub fn frame(self) -> Frame {
        let closed = |reason: &str| Frame::system("rig.connection_closed", Some(serde_json::json!({ "reason": reason })));
        match self {
            CloseReason::SessionKilled => Frame::system("rig.session_killed", None),
            CloseReason::SlowConsumer => closed("slow_consumer"),
            CloseReason::Shutdown => closed("shutdown"),
        }
    }
}

/// What to do when a client's outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowPolicy {
    DropOldest,
    Disconnect,
}

impl SlowPolicy {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "drop_oldest" => Ok(SlowPolicy::DropOldest),
            "disconnect" => Ok(SlowPolicy::Disconnect),
            _ => Err("expected drop_oldest or disconnect".into()),
        }
    }
}

/// Outcome of handing a frame to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    /// Queued, but the outbox was full: the oldest frame was dropped (counted).
    DroppedOldest,
    /// Not queued: the client is too slow and is being disconnected.
    Disconnected,
    /// The writer is gone; the connection is being removed.
    Gone,
}

/// One thing for a writer to send.
#[derive(Debug)]
pub enum Item {
    Frame(Arc<Frame>),
    /// This many frames were dropped before the next one (slow client).
    Missed(u64),
    /// Close after everything before it.
    Close(CloseReason),
}

/// The queue between the hub and one SSE or WebSocket writer.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
    policy: SlowPolicy,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Arc<Frame>>,
    /// Replayed frames still queued: they do not count against the capacity.
    replayed: usize,
    missed: u64,
    close: Option<CloseReason>,
    writer_gone: bool,
}

impl Outbox {
    pub fn new(capacity: usize, policy: SlowPolicy) -> Self {
        Outbox { state: Mutex::new(State::default()), notify: Notify::new(), capacity: capacity.max(1), policy }
    }

    pub fn push(&self, frame: &Arc<Frame>) -> Delivery {
        let mut s = lock(&self.state);
        if s.writer_gone || s.close.is_some() {
            return Delivery::Gone;
        }
        let delivery = if s.frames.len() < self.capacity + s.replayed {
            Delivery::Queued
        } else if self.policy == SlowPolicy::DropOldest {
            s.frames.pop_front();
            s.replayed = s.replayed.saturating_sub(1);
            s.missed += 1;
            Delivery::DroppedOldest
        } else {
            s.frames.clear();
            s.replayed = 0;
            s.close = Some(CloseReason::SlowConsumer);
            drop(s);
            self.notify.notify_one();
            return Delivery::Disconnected;
        };
        s.frames.push_back(frame.clone());
        drop(s);
        self.notify.notify_one();
        delivery
    }

    /// Queues a replayed frame; replay is bounded by the resume window, not by
    /// the outbox capacity, so nothing the client asked for is dropped.
    pub fn push_unbounded(&self, frame: &Arc<Frame>) {
        let mut s = lock(&self.state);
        if !s.writer_gone && s.close.is_none() {
            s.frames.push_back(frame.clone());
            s.replayed += 1;
        }
        drop(s);
        self.notify.notify_one();
    }

    /// Asks the writer to close after what is queued (a session kill is
    /// delivered promptly: the queue is cleared first).
    pub fn close(&self, reason: CloseReason) {
        let mut s = lock(&self.state);
        if reason == CloseReason::SessionKilled {
            s.frames.clear();
        }
        s.close.get_or_insert(reason);
        drop(s);
        self.notify.notify_one();
    }

    /// Marks the writer as gone, so later pushes report [`Delivery::Gone`].
    pub fn writer_gone(&self) {
        let mut s = lock(&self.state);
        s.writer_gone = true;
        s.frames.clear();
    }

    /// Waits until there is something to send, then moves all of it into `out`.
    pub async fn recv(&self, out: &mut Vec<Item>) {
        loop {
            {
                let mut s = lock(&self.state);
                if s.missed > 0 && !s.frames.is_empty() {
                    out.push(Item::Missed(std::mem::take(&mut s.missed)));
                }
                out.extend(s.frames.drain(..).map(Item::Frame));
                s.replayed = 0;
                if let Some(reason) = s.close {
                    out.push(Item::Close(reason));
                }
                if s.frames.capacity() > 4 * self.capacity.min(64) {
                    s.frames.shrink_to_fit();
                }
            }
            if !out.is_empty() {
                return;
            }
            self.notify.notified().await;
        }
    }
}

/// A connection's outbox, by transport family.
#[derive(Debug, Clone)]
pub enum Sink {
    Stream(Arc<Outbox>),
    Poll(Arc<LpBuffer>),
}

impl Sink {
    pub fn deliver(&self, frame: &Arc<Frame>) -> Delivery {
        match self {
            Sink::Stream(outbox) => outbox.push(frame),
            Sink::Poll(buf) => {
                buf.push(frame.clone());
                Delivery::Queued
            }
        }
    }

    /// Queues a replayed frame (see [`Outbox::push_unbounded`]).
    pub fn deliver_unbounded(&self, frame: &Arc<Frame>) {
        match self {
            Sink::Stream(outbox) => outbox.push_unbounded(frame),
            Sink::Poll(buf) => buf.push(frame.clone()),
        }
    }

    /// Tells the writer to close; never lost to a full outbox.
    pub fn close(&self, reason: CloseReason) {
        match self {
            Sink::Stream(outbox) => outbox.close(reason),
            Sink::Poll(buf) => {
                // A pending poll answers with this event, as an SSE client would see it.
                buf.push(Arc::new(reason.frame()));
                buf.close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: usize) -> Arc<Frame> {
        Arc::new(Frame::system(&format!("t{i}"), None))
    }

    fn drain(o: &Outbox) -> Vec<Item> {
        let mut out = Vec::new();
        futures_util::FutureExt::now_or_never(o.recv(&mut out));
        out
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_reports_the_gap() {
        let o = Outbox::new(2, SlowPolicy::DropOldest);
        assert_eq!(o.push(&frame(1)), Delivery::Queued);
        assert_eq!(o.push(&frame(2)), Delivery::Queued);
        assert_eq!(o.push(&frame(3)), Delivery::DroppedOldest);
        let items = drain(&o);
        assert!(matches!(items[0], Item::Missed(1)));
        assert!(matches!(&items[1], Item::Frame(f) if f.sse.starts_with(b"event: t2")));
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn disconnect_policy_clears_and_closes() {
        let o = Outbox::new(1, SlowPolicy::Disconnect);
        o.push(&frame(1));
        assert_eq!(o.push(&frame(2)), Delivery::Disconnected);
        let items = drain(&o);
        assert!(matches!(items[..], [Item::Close(CloseReason::SlowConsumer)]));
        assert_eq!(o.push(&frame(3)), Delivery::Gone);
    }

    #[test]
    fn session_kill_jumps_the_queue_and_gone_writers_refuse_frames() {
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        o.push(&frame(1));
        o.close(CloseReason::SessionKilled);
        assert!(matches!(drain(&o)[..], [Item::Close(CloseReason::SessionKilled)]));
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        o.writer_gone();
        assert_eq!(o.push(&frame(1)), Delivery::Gone);
    }
}
