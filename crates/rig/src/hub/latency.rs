//! The delivery-latency histogram: time from an event's publication (its frame
//! being encoded) to the frame being handed to a connection's writer (SSE
//! chunk, WebSocket message, long-poll response). Replayed frames count with
//! their real, late, delivery time. Lock-free: one relaxed add per bucket hit.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Upper bounds of the buckets, in microseconds (Prometheus `le`, +Inf implied).
pub const BOUNDS_US: [u64; 14] =
    [100, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000];

#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Non-cumulative counts; the last is +Inf.
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// A consistent-enough copy for rendering.
pub struct Snapshot {
    /// Cumulative counts per bound, then +Inf.
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl LatencyHistogram {
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.iter().position(|b| us <= *b).unwrap_or(BOUNDS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        Snapshot { cumulative, sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6, count: total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(80));
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.cumulative[0], 2, "<= 100 µs");
        assert_eq!(s.cumulative[BOUNDS_US.iter().position(|b| *b == 5_000).unwrap()], 3);
        assert_eq!(*s.cumulative.last().unwrap(), 4);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 60.00318).abs() < 1e-9);
    }
}
