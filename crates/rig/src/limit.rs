//! Admission limits: `MAX_CONNECTIONS_PER_MINUTE` (one per-node fixed-window
//! counter per wall-clock minute, shared by all transports, RIG's semantics)
//! and [`PerAddress`], what one client address may hold at once.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use crate::support::sync::lock;

/// Counts accepted connection attempts in the current minute.
pub struct ConnectionLimit {
    max: u64,
    /// `window << 32 | count`, so window roll-over and counting are one atomic step.
    state: AtomicU64,
}

impl ConnectionLimit {
    pub fn new(max_per_minute: u64) -> Self {
        ConnectionLimit { max: max_per_minute, state: AtomicU64::new(0) }
    }

    /// Takes one slot of this minute; `false` when the minute's slots are used up.
    pub fn try_acquire(&self) -> bool {
        let window = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() / 60).unwrap_or(0) & 0xFFFF_FFFF;
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let (w, n) = (current >> 32, current & 0xFFFF_FFFF);
            let n = if w == window { n } else { 0 };
            if n >= self.max {
                return false;
            }
            let next = (window << 32) | (n + 1);
            match self.state.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

/// Counts what each client address holds (connections, long-polling
/// sessions); a [`Held`] gives its slot back when dropped. Entries at zero are
/// removed, so the map is as large as the set of addresses holding something.
#[derive(Clone)]
pub struct PerAddress {
    max: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One slot of one address, released on drop.
pub struct Held {
    addr: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    /// At most `max` per address; 0 means no limit.
    pub fn new(max: usize) -> Self {
        PerAddress { max, held: Arc::default() }
    }

    /// A slot for `addr`, or `None` when it already holds `max`.
    pub fn try_hold(&self, addr: IpAddr) -> Option<Held> {
        let mut held = lock(&self.held);
        let n = held.entry(addr).or_insert(0);
        if self.max != 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Held { addr, held: self.held.clone() })
    }

    /// The most each address may hold (0: no limit).
    pub fn max(&self) -> usize {
        self.max
    }

    /// What `addr` holds now.
    pub fn held_by(&self, addr: IpAddr) -> usize {
        lock(&self.held).get(&addr).copied().unwrap_or(0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        if let Some(n) = held.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.addr);
            }
        }
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({})", self.addr)
    }
}

/// "At most once per `period`", shared between threads: what keeps a warning
/// that an attacker can trigger at will from flooding the log.
pub struct Every {
    period: Duration,
    started: Instant,
    /// Milliseconds after `started` of the last time it was due, plus one (0: never).
    last: AtomicU64,
}

impl Every {
    pub fn new(period: Duration) -> Self {
        Every { period, started: Instant::now(), last: AtomicU64::new(0) }
    }

    /// True the first time, then once `period` has passed since it last was.
    pub fn due(&self) -> bool {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= self.period.as_millis() as u64)
            && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_is_due_once_per_period() {
        let every = Every::new(Duration::from_secs(3600));
        assert!(every.due());
        assert!(!every.due());
        let always = Every::new(Duration::ZERO);
        assert!(always.due() && always.due());
    }

    #[test]
    fn per_address_holds_at_most_max_and_frees_on_drop() {
        let limit = PerAddress::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = limit.try_hold(a).unwrap();
        let _second = limit.try_hold(a).unwrap();
        assert!(limit.try_hold(a).is_none(), "a third slot for the same address");
        assert!(limit.try_hold(b).is_some(), "another address is not affected");
        drop(first);
        assert_eq!(limit.held_by(a), 1);
        assert!(limit.try_hold(a).is_some());
        assert!(PerAddress::new(0).try_hold(a).is_some(), "0 is no limit");
    }

    #[test]
    fn allows_max_then_refuses() {
        let l = ConnectionLimit::new(5);
        assert_eq!((0..6).map(|_| l.try_acquire()).filter(|ok| *ok).count(), 5);
        assert!(!ConnectionLimit::new(0).try_acquire());
    }
}
