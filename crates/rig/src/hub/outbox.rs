//! A streaming connection's outbox: a bounded queue of shared frames that the
//! SSE or WebSocket writer drains, plus a close request that is never lost.
//!
//! Slow clients (`RIG_SLOW_CLIENT_POLICY`): with `drop_oldest` a full outbox
//! drops its oldest frame, counts it, and the writer tells the client how many
//! it missed (`rig.events_missed`) so it can reconnect with its last event id
//! and get them from the resume window; with `disconnect` the queue is cleared
//! and the connection is closed with `SlowConsumer`. Memory per connection is
//! bounded either way, and an idle outbox holds no allocation at all.
//!
//! Direct writes: a connection whose socket the gateway owns (see
//! `transport::wire`) registers a [`DirectWrite`]. While nothing is queued and
//! its writer holds nothing, a delivered frame is written to the socket right
//! away by the delivering thread, so fan-out costs one non-blocking write per
//! connection and no task wake-up. What the socket does not take is queued,
//! in order, for the writer task, which finishes it when the socket drains.

use std::{
    collections::VecDeque,
    io,
    sync::{Arc, Mutex, MutexGuard, OnceLock},
    task::{Context, Poll, Waker},
};

use bytes::Bytes;

use super::{frame::Frame, lp_buffer::LpBuffer};
use crate::support::sync::lock;

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
    /// Written to the client's socket at once (direct write).
    Written,
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
    /// The heartbeat sweep came by and nothing was queued: send a keep-alive.
    Heartbeat,
}

/// A connection's socket, written without waiting by whoever delivers a frame.
pub trait DirectWrite: Send + Sync + std::fmt::Debug {
    /// The bytes `frame` is on this connection's wire.
    fn wire<'a>(&self, frame: &'a Frame) -> &'a Bytes;
    /// One non-blocking write; `WouldBlock` when the socket buffer is full.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

/// The queue between the hub and one SSE or WebSocket writer.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    capacity: usize,
    policy: SlowPolicy,
    direct: OnceLock<Arc<dyn DirectWrite>>,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Arc<Frame>>,
    /// Bytes of the first queued frame a direct write already sent.
    sent: usize,
    /// Replayed frames still queued: they do not count against the capacity.
    replayed: usize,
    missed: u64,
    close: Option<CloseReason>,
    writer_gone: bool,
    heartbeat: bool,
    /// The writer holds frames it has not finished writing: no direct writes.
    busy: bool,
    /// The writer waiting for something to send (there is only one writer;
    /// a waker, not a `Notify`, keeps an idle connection's task small).
    waker: Option<Waker>,
}

/// Releases the lock, then wakes the writer if it is waiting.
fn wake(mut s: MutexGuard<'_, State>) {
    let waker = s.waker.take();
    drop(s);
    if let Some(w) = waker {
        w.wake();
    }
}

impl Outbox {
    pub fn new(capacity: usize, policy: SlowPolicy) -> Self {
        Outbox { state: Mutex::new(State::default()), capacity: capacity.max(1), policy, direct: OnceLock::new() }
    }

    /// Lets deliveries write to the socket themselves from now on; called by
    /// the writer once the response head is out (queued frames still go first).
    pub fn set_direct(&self, direct: Arc<dyn DirectWrite>) {
        let _ = self.direct.set(direct);
    }

    /// Queues `frame`, or with `write_now` writes it to the socket right away
    /// if the connection has a [`DirectWrite`] and nothing is ahead of it.
    pub fn push(&self, frame: &Arc<Frame>, write_now: bool) -> Delivery {
        let mut s = lock(&self.state);
        if s.writer_gone || s.close.is_some() {
            return Delivery::Gone;
        }
        if let Some(direct) = self.direct.get().filter(|_| write_now && s.frames.is_empty() && !s.busy && s.missed == 0) {
            let bytes = direct.wire(frame);
            match direct.try_write(bytes) {
                Ok(n) if n == bytes.len() => return Delivery::Written,
                // The writer finishes the frame (and sees any error itself).
                Ok(n) => s.sent = n,
                Err(_) => {}
            }
            s.frames.push_back(frame.clone());
            wake(s);
            return Delivery::Queued;
        }
        let delivery = if s.frames.len() < self.capacity + s.replayed {
            Delivery::Queued
        } else if s.sent > 0 && s.frames.len() == 1 {
            // Capacity 1 and half a frame on the wire: it cannot be dropped.
            Delivery::Queued
        } else if self.policy == SlowPolicy::DropOldest {
            // Never the frame a direct write started: the client has part of it.
            let at = usize::from(s.sent > 0);
            s.frames.remove(at);
            s.replayed = s.replayed.saturating_sub(1);
            s.missed += 1;
            Delivery::DroppedOldest
        } else {
            s.frames.clear();
            s.sent = 0;
            s.replayed = 0;
            s.close = Some(CloseReason::SlowConsumer);
            wake(s);
            return Delivery::Disconnected;
        };
        s.frames.push_back(frame.clone());
        wake(s);
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
        wake(s);
    }

    /// Asks the writer to close after what is queued (a session kill is
    /// delivered promptly: the queue is cleared first).
    pub fn close(&self, reason: CloseReason) {
        let mut s = lock(&self.state);
        if reason == CloseReason::SessionKilled {
            // A half-written frame stays, so the client's stream stays well-formed.
            let keep = usize::from(s.sent > 0);
            s.frames.truncate(keep);
        }
        s.close.get_or_insert(reason);
        wake(s);
    }

    /// Whether the connection's session was killed.
    pub fn killed(&self) -> bool {
        lock(&self.state).close == Some(CloseReason::SessionKilled)
    }

    /// Ready once the session is killed; registers the writer's waker like
    /// [`Outbox::poll_recv`], so a writer waiting for a full socket can stop
    /// waiting (a kill must not depend on the client reading).
    pub fn poll_killed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.state);
        if s.close == Some(CloseReason::SessionKilled) {
            return Poll::Ready(());
        }
        if !s.waker.as_ref().is_some_and(|old| old.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Marks the writer as gone, so later pushes report [`Delivery::Gone`].
    pub fn writer_gone(&self) {
        let mut s = lock(&self.state);
        s.writer_gone = true;
        s.frames.clear();
        s.sent = 0;
    }

    /// Asks for a keep-alive unless something is queued anyway (heartbeat sweep).
    pub fn heartbeat(&self) {
        let mut s = lock(&self.state);
        if s.frames.is_empty() && !s.heartbeat {
            s.heartbeat = true;
            wake(s);
        }
    }

    /// Waits until there is something to send, then moves all of it into `out`.
    /// Returns how many bytes of the first frame a direct write already sent.
    /// The writer owns what it took until it calls [`Outbox::done`].
    pub async fn recv(&self, out: &mut Vec<Item>) -> usize {
        std::future::poll_fn(|cx| self.poll_recv(cx, out)).await
    }

    /// [`Outbox::recv`] as a poll function (for writers that wait on several things).
    pub fn poll_recv(&self, cx: &mut Context<'_>, out: &mut Vec<Item>) -> Poll<usize> {
        let sent = self.take_inner(out, false, Some(cx.waker()));
        if out.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(sent)
        }
    }

    /// Moves whatever is there into `out` without waiting, and stops direct
    /// writes until [`Outbox::done`] even if there was nothing (so the writer
    /// may write something of its own, in order).
    pub fn take(&self, out: &mut Vec<Item>) -> usize {
        self.take_inner(out, true, None)
    }

    /// Takes what is queued; with nothing there, registers `waker` (under the
    /// same lock as every push, so no wake-up is lost).
    fn take_inner(&self, out: &mut Vec<Item>, claim: bool, waker: Option<&Waker>) -> usize {
        let mut s = lock(&self.state);
        let sent = std::mem::take(&mut s.sent);
        if s.missed > 0 && !s.frames.is_empty() {
            // After a half-written frame, which must be finished first.
            let at = usize::from(sent > 0);
            out.extend(s.frames.drain(..at).map(Item::Frame));
            out.push(Item::Missed(std::mem::take(&mut s.missed)));
        }
        out.extend(s.frames.drain(..).map(Item::Frame));
        s.replayed = 0;
        if std::mem::take(&mut s.heartbeat) && out.is_empty() {
            out.push(Item::Heartbeat);
        }
        if let Some(reason) = s.close {
            out.push(Item::Close(reason));
        }
        if s.frames.capacity() > 4 * self.capacity.min(64) {
            s.frames.shrink_to_fit();
        }
        s.busy = claim || !out.is_empty();
        if let (Some(w), true) = (waker, out.is_empty()) {
            if !s.waker.as_ref().is_some_and(|old| old.will_wake(w)) {
                s.waker = Some(w.clone());
            }
        }
        sent
    }

    /// The writer wrote everything it took. Returns false when more is queued
    /// (take it first); otherwise direct writes may resume.
    pub fn done(&self) -> bool {
        let mut s = lock(&self.state);
        if !s.frames.is_empty() || s.missed > 0 {
            return false;
        }
        s.busy = false;
        true
    }
}

/// A connection's outbox, by transport family.
#[derive(Debug, Clone)]
pub enum Sink {
    Stream(Arc<Outbox>),
    Poll(Arc<LpBuffer>),
}

impl Sink {
    /// Queues `frame`; with `write_now`, a stream may write it to its socket at once.
    pub fn deliver(&self, frame: &Arc<Frame>, write_now: bool) -> Delivery {
        match self {
            Sink::Stream(outbox) => outbox.push(frame, write_now),
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
        assert_eq!(o.push(&frame(1), true), Delivery::Queued);
        assert_eq!(o.push(&frame(2), true), Delivery::Queued);
        assert_eq!(o.push(&frame(3), true), Delivery::DroppedOldest);
        let items = drain(&o);
        assert!(matches!(items[0], Item::Missed(1)));
        assert!(matches!(&items[1], Item::Frame(f) if f.sse.starts_with(b"event: t2")));
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn disconnect_policy_clears_and_closes() {
        let o = Outbox::new(1, SlowPolicy::Disconnect);
        o.push(&frame(1), true);
        assert_eq!(o.push(&frame(2), true), Delivery::Disconnected);
        let items = drain(&o);
        assert!(matches!(items[..], [Item::Close(CloseReason::SlowConsumer)]));
        assert_eq!(o.push(&frame(3), true), Delivery::Gone);
    }

    #[test]
    fn session_kill_jumps_the_queue_and_gone_writers_refuse_frames() {
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        o.push(&frame(1), true);
        o.close(CloseReason::SessionKilled);
        assert!(matches!(drain(&o)[..], [Item::Close(CloseReason::SessionKilled)]));
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        o.writer_gone();
        assert_eq!(o.push(&frame(1), true), Delivery::Gone);
    }

    /// A socket that takes `budget` more bytes, then would block.
    #[derive(Debug, Default)]
    struct FakeSocket {
        budget: Mutex<usize>,
        written: Mutex<Vec<u8>>,
    }

    impl DirectWrite for FakeSocket {
        fn wire<'a>(&self, frame: &'a Frame) -> &'a Bytes {
            &frame.sse
        }

        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            let mut budget = lock(&self.budget);
            let n = buf.len().min(*budget);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *budget -= n;
            lock(&self.written).extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    fn direct(o: &Outbox, budget: usize) -> Arc<FakeSocket> {
        let socket = Arc::new(FakeSocket { budget: Mutex::new(budget), ..Default::default() });
        o.set_direct(socket.clone());
        socket
    }

    #[test]
    fn direct_writes_only_when_asked_and_nothing_is_ahead() {
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        assert_eq!(o.push(&frame(1), true), Delivery::Queued, "no socket yet");
        let socket = direct(&o, 1 << 20);
        assert_eq!(o.push(&frame(2), true), Delivery::Queued, "frame 1 is still queued");
        assert_eq!(drain(&o).len(), 2);
        assert!(o.done());
        assert_eq!(o.push(&frame(3), false), Delivery::Queued, "a large fan-out queues");
        assert_eq!(drain(&o).len(), 1);
        assert!(o.done());
        assert_eq!(o.push(&frame(4), true), Delivery::Written);
        assert!(lock(&socket.written).starts_with(b"event: t4\n"));
        // The writer holds something: no direct write may overtake it.
        o.take(&mut Vec::new());
        assert_eq!(o.push(&frame(5), true), Delivery::Queued);
    }

    #[test]
    fn a_half_written_frame_is_finished_first_and_never_dropped() {
        let o = Outbox::new(1, SlowPolicy::DropOldest);
        let socket = direct(&o, 5);
        assert_eq!(o.push(&frame(1), true), Delivery::Queued);
        assert_eq!(&lock(&socket.written)[..], b"event");
        // Capacity 1, yet the half-written frame stays; then the next one is dropped for a newer one.
        assert_eq!(o.push(&frame(2), true), Delivery::Queued);
        assert_eq!(o.push(&frame(3), true), Delivery::DroppedOldest);
        let mut items = Vec::new();
        let sent = o.take(&mut items);
        assert_eq!(sent, 5, "the writer skips what the client already has");
        assert!(matches!(&items[0], Item::Frame(f) if f.sse.starts_with(b"event: t1")));
        assert!(matches!(items[1], Item::Missed(1)));
        assert!(matches!(&items[2], Item::Frame(f) if f.sse.starts_with(b"event: t3")));

        // A session kill drops what is queued, except a frame already begun.
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        direct(&o, 3);
        o.push(&frame(1), true);
        o.push(&frame(2), true);
        o.close(CloseReason::SessionKilled);
        let mut items = Vec::new();
        assert_eq!(o.take(&mut items), 3);
        assert!(matches!(&items[..], [Item::Frame(_), Item::Close(CloseReason::SessionKilled)]));
    }

    #[test]
    fn a_kill_wakes_a_writer_that_waits_for_it() {
        let o = Arc::new(Outbox::new(8, SlowPolicy::DropOldest));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(o.poll_killed(&mut cx).is_pending());
        assert!(!o.killed());
        o.close(CloseReason::Shutdown);
        assert!(o.poll_killed(&mut cx).is_pending(), "only a kill");
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        o.close(CloseReason::SessionKilled);
        assert!(o.killed() && o.poll_killed(&mut cx).is_ready());
    }

    #[test]
    fn heartbeats_are_asked_for_only_when_idle() {
        let o = Outbox::new(8, SlowPolicy::DropOldest);
        o.heartbeat();
        assert!(matches!(drain(&o)[..], [Item::Heartbeat]));
        o.push(&frame(1), true);
        o.heartbeat();
        assert!(matches!(drain(&o)[..], [Item::Frame(_)]));
        assert!(drain(&o).is_empty());
    }
}
