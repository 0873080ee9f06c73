//! The resume window: the most recent published events (bounded by count and
//! age), so a client that reconnects with the id of the last event it got can
//! be sent exactly the matching events it missed, in order.
//!
//! Entries keep only the encoded frame (shared with live delivery); replay
//! re-parses the few events it matches, which is rare, instead of keeping every
//! parsed event alive. The window is bounded by count, bytes and age.
//!
//! Cursors are the events' own CloudEvents ids (what SSE sends as `id:` and what
//! WebSocket and long-polling clients see in every event). If a publisher reuses
//! an id, its latest occurrence counts.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use rig_core::CloudEvent;

use super::frame::Frame;

/// Sequence numbers start here, leaving room below for [`Window::prepend`].
const FIRST_SEQ: u64 = 1 << 40;

/// One remembered event.
#[derive(Debug)]
pub struct Entry {
    pub seq: u64,
    pub event_type: Box<str>,
    pub frame: Arc<Frame>,
    at: Instant,
}

impl Entry {
    /// The event, parsed again (for matching on replay).
    pub fn event(&self) -> Option<CloudEvent> {
        CloudEvent::parse(self.frame.json.clone()).ok()
    }

    fn bytes(&self) -> usize {
        self.frame.size() + 128
    }
}

/// Recent events, oldest first.
#[derive(Debug)]
pub struct Window {
    entries: VecDeque<Entry>,
    by_id: HashMap<Box<str>, u64>,
    next_seq: u64,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl Window {
    /// `max_events == 0` disables the window.
    pub fn new(max_events: usize, max_bytes: usize, max_age: Duration) -> Self {
        Window { entries: VecDeque::new(), by_id: HashMap::new(), next_seq: FIRST_SEQ, bytes: 0, max_events, max_bytes, max_age }
    }

    pub fn enabled(&self) -> bool {
        self.max_events > 0
    }

    /// Puts `older` (oldest first: what a peer's window held when this node
    /// started) in front of the entries, skipping ids already here: a client
    /// resuming on a node that just started, with a cursor from before, gets
    /// what it missed. They age from now.
    pub fn prepend(&mut self, older: Vec<(CloudEvent, Arc<Frame>)>) {
        if !self.enabled() {
            return;
        }
        let fresh: Vec<_> = older.into_iter().filter(|(e, _)| !self.by_id.contains_key(e.id())).collect();
        let first = self.entries.front().map_or(self.next_seq, |e| e.seq);
        let Some(mut seq) = first.checked_sub(fresh.len() as u64) else { return };
        let now = Instant::now();
        let mut front = Vec::with_capacity(fresh.len());
        for (event, frame) in fresh {
            self.by_id.insert(event.id().into(), seq);
            let entry = Entry { seq, event_type: event.event_type().into(), frame, at: now };
            self.bytes += entry.bytes();
            front.push(entry);
            seq += 1;
        }
        for entry in front.into_iter().rev() {
            self.entries.push_front(entry);
        }
        self.evict();
    }

    /// The remembered events' JSON, oldest first (what a starting peer copies).
    pub fn events(&self) -> Vec<bytes::Bytes> {
        self.entries.iter().map(|e| e.frame.json.clone()).collect()
    }

    pub fn push(&mut self, event: &CloudEvent, frame: Arc<Frame>) {
        if !self.enabled() {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(event.id().into(), seq);
        let entry = Entry { seq, event_type: event.event_type().into(), frame, at: Instant::now() };
        self.bytes += entry.bytes();
        self.entries.push_back(entry);
        self.evict();
    }

    fn evict(&mut self) {
        let now = Instant::now();
        while let Some(front) = self.entries.front() {
            let over = self.entries.len() > self.max_events || self.bytes > self.max_bytes;
            if !over && now.duration_since(front.at) <= self.max_age {
                break;
            }
            let e = self.entries.pop_front().expect("front exists");
            self.bytes -= e.bytes();
            if self.by_id.get(&*e.frame.id) == Some(&e.seq) {
                self.by_id.remove(&*e.frame.id);
            }
        }
    }

    /// The entries after the event with id `cursor`, or `None` when that event
    /// is not (or no longer) in the window.
    pub fn since(&mut self, cursor: &str) -> Option<impl Iterator<Item = &Entry>> {
        self.evict();
        let seq = *self.by_id.get(cursor)?;
        let start = self.entries.partition_point(|e| e.seq <= seq);
        Some(self.entries.range(start..))
    }

    /// Id of the newest event, a cursor meaning "nothing missed so far".
    pub fn head_id(&self) -> Option<&str> {
        self.entries.back().map(|e| &*e.frame.id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn push(w: &mut Window, id: &str) {
        let e = CloudEvent::parse(Bytes::from(format!(r#"{{"specversion":"0.2","type":"t","id":"{id}"}}"#))).unwrap();
        let f = Arc::new(Frame::from_event(&e));
        w.push(&e, f);
    }

    fn ids(w: &mut Window, cursor: &str) -> Option<Vec<String>> {
        w.since(cursor).map(|it| it.map(|e| e.frame.id.to_string()).collect())
    }

    #[test]
    fn replays_after_the_cursor_and_forgets_evicted_events() {
        let mut w = Window::new(3, 1 << 20, Duration::from_secs(60));
        for id in ["a", "b", "c", "d"] {
            push(&mut w, id);
        }
        assert_eq!(ids(&mut w, "b"), Some(vec!["c".into(), "d".into()]));
        assert_eq!(ids(&mut w, "d"), Some(vec![]));
        assert_eq!(ids(&mut w, "a"), None, "evicted");
        assert_eq!(ids(&mut w, "zzz"), None);
        assert_eq!(w.head_id(), Some("d"));
        push(&mut w, "b");
        assert_eq!(ids(&mut w, "b"), Some(vec![]), "latest occurrence of a reused id");
    }

    #[test]
    fn a_peers_older_events_go_in_front_once() {
        let mut w = Window::new(10, 1 << 20, Duration::from_secs(60));
        for id in ["c", "d"] {
            push(&mut w, id);
        }
        let older = ["a", "b", "c"]
            .iter()
            .map(|id| {
                let e = CloudEvent::parse(Bytes::from(format!(r#"{{"specversion":"0.2","type":"t","id":"{id}"}}"#))).unwrap();
                let f = Arc::new(Frame::from_event(&e));
                (e, f)
            })
            .collect();
        w.prepend(older);
        assert_eq!(ids(&mut w, "a"), Some(vec!["b".into(), "c".into(), "d".into()]), "c is not there twice");
        assert_eq!(w.events().len(), 4);
        push(&mut w, "e");
        assert_eq!(ids(&mut w, "d"), Some(vec!["e".into()]));
    }

    #[test]
    fn old_events_age_out_and_zero_disables() {
        let mut w = Window::new(10, 1 << 20, Duration::ZERO);
        push(&mut w, "a");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(ids(&mut w, "a"), None);
        let mut off = Window::new(0, 1 << 20, Duration::from_secs(1));
        push(&mut off, "a");
        assert!(off.is_empty());
        let mut small = Window::new(100, 300, Duration::from_secs(60));
        for id in ["a", "b", "c"] {
            push(&mut small, id);
        }
        assert_eq!(small.len(), 1, "bounded by bytes too");
    }
}
