//! `MAX_CONNECTIONS_PER_MINUTE`: one per-node fixed-window counter per
//! wall-clock minute, shared by all transports (RIG's semantics).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_then_refuses() {
        let l = ConnectionLimit::new(5);
        assert_eq!((0..6).map(|_| l.try_acquire()).filter(|ok| *ok).count(), 5);
        assert!(!ConnectionLimit::new(0).try_acquire());
    }
}
