//! What the connections of one process have seen, shared by their tasks.

use std::sync::{
    atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
    Mutex,
};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::hist::Latency;

pub struct Tally {
    pub connected: AtomicU64,
    pub failed: AtomicU64,
    pub closed: AtomicU64,
    pub received: AtomicU64,
    /// Events received per connection.
    pub per_conn: Vec<AtomicU32>,
    /// Which connections are up.
    up: Vec<std::sync::atomic::AtomicBool>,
    /// Newest receipt time, ns since the epoch.
    pub last_receipt_ns: AtomicU64,
    pub latency: Mutex<Latency>,
    pub first_error: Mutex<Option<String>>,
}

pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

impl Tally {
    pub fn new(conns: usize) -> Tally {
        Tally {
            connected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            per_conn: (0..conns).map(|_| AtomicU32::new(0)).collect(),
            up: (0..conns).map(|_| std::sync::atomic::AtomicBool::new(false)).collect(),
            last_receipt_ns: AtomicU64::new(0),
            latency: Mutex::new(Latency::new()),
            first_error: Mutex::new(None),
        }
    }

    /// Records the publish timestamps found in one read of connection `conn`.
    pub fn record(&self, conn: usize, stamps: &[u64]) {
        if stamps.is_empty() {
            return;
        }
        let now = now_ns();
        {
            let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
            for &t in stamps {
                l.record_us(now.saturating_sub(t) / 1000);
            }
        }
        self.per_conn[conn].fetch_add(stamps.len() as u32, Relaxed);
        self.received.fetch_add(stamps.len() as u64, Relaxed);
        self.last_receipt_ns.fetch_max(now, Relaxed);
    }

    pub fn fail(&self, what: String) {
        self.failed.fetch_add(1, Relaxed);
        let mut e = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        e.get_or_insert(what);
    }

    /// Connection `conn` is up.
    pub fn connect(&self, conn: usize) {
        self.connected.fetch_add(1, Relaxed);
        self.up[conn].store(true, Relaxed);
    }

    pub fn per_conn_connected(&self, conn: usize) -> bool {
        self.up[conn].load(Relaxed)
    }

    /// Connections that got at least `expect(conn)` events.
    pub fn complete(&self, expect: impl Fn(usize) -> u32) -> usize {
        self.per_conn.iter().enumerate().filter(|(i, c)| c.load(Relaxed) >= expect(*i)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_connection_and_latency() {
        let t = Tally::new(3);
        let now = now_ns();
        t.record(0, &[now, now]);
        t.record(2, &[now]);
        assert_eq!(t.received.load(Relaxed), 3);
        assert_eq!(t.complete(|_| 1), 2);
        assert_eq!(t.complete(|_| 2), 1);
        assert_eq!(t.complete(|i| if i == 1 { 0 } else { 1 }), 3);
        assert_eq!(t.latency.lock().unwrap().count(), 3);
    }
}
