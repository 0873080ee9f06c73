//! A long-polling session's buffer: the most recent frames (RIG keeps 200) and
//! a cursor-based "events since" read that waits a while for new frames.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::frame::Frame;
use crate::support::sync::lock;

/// A long-polling session's ring buffer of recent frames (RIG keeps 200).
#[derive(Debug)]
pub struct LpBuffer {
    inner: Mutex<LpInner>,
    notify: Notify,
    capacity: usize,
    /// Polls currently parked waiting for frames (observability, tests).
    waiting: AtomicUsize,
    /// The session's slot of its client address (`RIG_MAX_LONGPOLL_SESSIONS_PER_IP`),
    /// given back when the session's last reference goes.
    _slot: Option<crate::limit::Held>,
}

#[derive(Debug)]
struct LpInner {
    frames: VecDeque<Arc<Frame>>,
    last_poll: Instant,
    closed: bool,
}

/// The answer to one poll.
#[derive(Debug)]
pub struct PollResult {
    pub frames: Vec<Arc<Frame>>,
    /// Id of the newest buffered frame: the client's next cursor.
    pub last_event_id: String,
}

impl LpBuffer {
    pub fn new(capacity: usize) -> Self {
        LpBuffer::holding(capacity, None)
    }

    /// A buffer that keeps `slot` for as long as the session lives.
    pub fn holding(capacity: usize, slot: Option<crate::limit::Held>) -> Self {
        LpBuffer {
            inner: Mutex::new(LpInner { frames: VecDeque::new(), last_poll: Instant::now(), closed: false }),
            notify: Notify::new(),
            capacity,
            waiting: AtomicUsize::new(0),
            _slot: slot,
        }
    }

    pub fn push(&self, frame: Arc<Frame>) {
        let mut inner = lock(&self.inner);
        if inner.frames.len() == self.capacity {
            inner.frames.pop_front();
        }
        inner.frames.push_back(frame);
        drop(inner);
        self.notify.notify_waiters();
    }

    pub fn close(&self) {
        lock(&self.inner).closed = true;
        self.notify.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.inner).closed
    }

    /// Time since the last poll started or ended.
    pub fn idle_for(&self) -> Duration {
        lock(&self.inner).last_poll.elapsed()
    }

    /// RIG's "events since": the frames after the newest one with id `cursor`.
    /// If `cursor` is not buffered: everything while the buffer has never
    /// overflowed, nothing (events were lost) once it has. `None` when there is
    /// nothing new yet and the poll should wait.
    fn since(&self, cursor: &str) -> Option<PollResult> {
        let mut inner = lock(&self.inner);
        inner.last_poll = Instant::now();
        let last_event_id = inner.frames.back().map(|f| f.id.to_string()).unwrap_or_else(|| "first_event".into());
        let newer = inner.frames.iter().rev().take_while(|f| &*f.id != cursor).count();
        if newer == self.capacity {
            return Some(PollResult { frames: Vec::new(), last_event_id });
        }
        if newer == 0 && !inner.closed {
            return None;
        }
        let start = inner.frames.len() - newer;
        Some(PollResult { frames: inner.frames.range(start..).cloned().collect(), last_event_id })
    }

    /// Number of polls parked right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits up to `wait` for frames after `cursor`.
    pub async fn poll(&self, cursor: &str, wait: Duration) -> PollResult {
        struct Parked<'a>(&'a AtomicUsize);
        impl Drop for Parked<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _parked = Parked(&self.waiting);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.since(cursor) {
                return r;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let inner = lock(&self.inner);
                let last_event_id = inner.frames.back().map(|f| f.id.to_string()).unwrap_or_else(|| "first_event".into());
                return PollResult { frames: Vec::new(), last_event_id };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rig_core::CloudEvent;

    fn frame(id: &str) -> Arc<Frame> {
        let json = format!(r#"{{"specversion":"0.2","type":"t","id":"{id}"}}"#);
        Arc::new(Frame::from_event(&CloudEvent::parse(Bytes::from(json)).unwrap()))
    }

    fn ids(r: &PollResult) -> Vec<&str> {
        r.frames.iter().map(|f| &*f.id).collect()
    }

    #[test]
    fn since_follows_rig_ring_buffer_semantics() {
        let b = LpBuffer::new(2);
        b.push(frame("a"));
        let r = b.since("first_event").unwrap();
        assert_eq!((ids(&r), r.last_event_id.as_str()), (vec!["a"], "a"));
        assert!(b.since("a").is_none(), "nothing new: wait");
        b.push(frame("b"));
        b.push(frame("c"));
        assert_eq!(ids(&b.since("b").unwrap()), vec!["c"]);
        let lost = b.since("a").unwrap();
        assert_eq!((ids(&lost), lost.last_event_id.as_str()), (vec![], "c"));
    }

    #[tokio::test]
    async fn poll_wakes_on_push_and_times_out_empty() {
        let b = Arc::new(LpBuffer::new(10));
        b.push(frame("a"));
        let r = b.poll("a", Duration::from_millis(20)).await;
        assert!(r.frames.is_empty());
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.poll("a", Duration::from_secs(10)).await });
        tokio::task::yield_now().await;
        b.push(frame("b"));
        let r = waiter.await.unwrap();
        assert_eq!(ids(&r), vec!["b"]);
    }
}
