//! Bounded logging: a warning that every bad message would trigger (a topic
//! full of foreign messages, a peer cut off) is written at most once per
//! period, with the number of repeats it stands for.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

#[derive(Debug)]
pub struct Throttle {
    epoch: Instant,
    every_ms: u64,
    /// Milliseconds since `epoch` before which nothing is written.
    next_ms: AtomicU64,
    held: AtomicU64,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Throttle { epoch: Instant::now(), every_ms: every.as_millis() as u64, next_ms: AtomicU64::new(0), held: AtomicU64::new(0) }
    }

    /// `Some(held back since the last line)` when a line may be written now.
    pub fn allow(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next && self.next_ms.compare_exchange(next, now + self.every_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_counting_the_rest() {
        let t = Throttle::new(Duration::from_secs(3600));
        assert_eq!(t.allow(), Some(0));
        assert_eq!((t.allow(), t.allow()), (None, None));
        let t = Throttle::new(Duration::ZERO);
        assert_eq!((t.allow(), t.allow()), (Some(0), Some(0)));
    }
}
