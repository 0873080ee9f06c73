//! Open-loop pacing: event `i` of a run at `rate` per second is due at
//! `start + i / rate`, whatever happened to the ones before, so a slow
//! receiver cannot make the publisher back off and hide latency
//! (no coordinated omission). Events that are late are sent at once and counted.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    rate: f64,
}

impl Pacer {
    /// `rate` events per second; must be positive and finite.
    pub fn new(rate: f64) -> Result<Pacer, String> {
        if rate.is_finite() && rate > 0.0 {
            Ok(Pacer { rate })
        } else {
            Err(format!("rate must be a positive number, got {rate}"))
        }
    }

    /// When event `i` (0-based) is due, counted from the start of the run.
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How long to wait before sending event `i` when `elapsed` has passed;
    /// zero when it is already due (or late).
    pub fn wait(&self, i: u64, elapsed: Duration) -> Duration {
        self.due(i).saturating_sub(elapsed)
    }

    /// Events due in a run of `secs` seconds.
    pub fn count_for(&self, secs: f64) -> u64 {
        (self.rate * secs).round().max(0.0) as u64
    }
}

/// Splits `count` events among `workers` so that worker `w` sends events
/// `w, w + workers, ...`: the events each worker owns, in order.
pub fn worker_events(count: u64, workers: u64, w: u64) -> impl Iterator<Item = u64> {
    (w..count).step_by(workers.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_evenly_spaced() {
        let p = Pacer::new(1000.0).unwrap();
        assert_eq!(p.due(0), Duration::ZERO);
        assert_eq!(p.due(1), Duration::from_millis(1));
        assert_eq!(p.due(2500), Duration::from_millis(2500));
    }

    #[test]
    fn late_events_are_not_delayed_and_early_ones_wait() {
        let p = Pacer::new(10.0).unwrap();
        assert_eq!(p.wait(5, Duration::from_millis(100)), Duration::from_millis(400));
        assert_eq!(p.wait(5, Duration::from_millis(900)), Duration::ZERO);
    }

    #[test]
    fn schedule_does_not_drift_after_a_stall() {
        // A stall before event 3 does not shift the due time of event 10.
        let p = Pacer::new(100.0).unwrap();
        let stalled = p.wait(3, Duration::from_millis(80));
        assert_eq!(stalled, Duration::ZERO);
        assert_eq!(p.wait(10, Duration::from_millis(80)), Duration::from_millis(20));
    }

    #[test]
    fn invalid_rates_are_rejected() {
        assert!(Pacer::new(0.0).is_err());
        assert!(Pacer::new(-1.0).is_err());
        assert!(Pacer::new(f64::NAN).is_err());
    }

    #[test]
    fn count_for_duration() {
        assert_eq!(Pacer::new(25.0).unwrap().count_for(10.0), 250);
        assert_eq!(Pacer::new(0.5).unwrap().count_for(3.0), 2);
    }

    #[test]
    fn workers_partition_events_exactly_once() {
        let mut seen: Vec<u64> = (0..4).flat_map(|w| worker_events(10, 4, w)).collect();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(worker_events(10, 4, 1).collect::<Vec<_>>(), vec![1, 5, 9]);
    }
}
