//! `rig_produced_events_total{target,topic}` and
//! `rig_produced_events_failed_total{target,topic}` (rig-spec 9.1), plus the
//! Kafka response consumer's counts.
//!
//! Topics come from API definitions, so their number is bounded by what the
//! operator configures; past [`MAX_SERIES`] new topics are folded into `_other`.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        RwLock,
    },
};

use crate::support::sync::{read, write};

pub const MAX_SERIES: usize = 1_000;

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Produced and failed events per (target, topic).
#[derive(Default)]
pub struct Produced {
    series: RwLock<BTreeMap<(&'static str, String), Counts>>,
}

impl Produced {
    pub fn ok(&self, target: &'static str, topic: &str) {
        self.with(target, topic, |c| c.ok.fetch_add(1, Ordering::Relaxed));
    }

    pub fn failed(&self, target: &'static str, topic: &str) {
        self.with(target, topic, |c| c.failed.fetch_add(1, Ordering::Relaxed));
    }

    fn with(&self, target: &'static str, topic: &str, f: impl Fn(&Counts) -> u64) {
        let key = (target, topic.to_string());
        if let Some(c) = read(&self.series).get(&key) {
            f(c);
            return;
        }
        let mut series = write(&self.series);
        let key = if series.len() >= MAX_SERIES && !series.contains_key(&key) { (target, "_other".to_string()) } else { key };
        f(series.entry(key).or_default());
    }

    /// `(target, topic, produced, failed)` for every series, sorted.
    pub fn snapshot(&self) -> Vec<(&'static str, String, u64, u64)> {
        let series = read(&self.series);
        series.iter().map(|((t, topic), c)| (*t, topic.clone(), c.ok.load(Ordering::Relaxed), c.failed.load(Ordering::Relaxed))).collect()
    }
}

/// What the Kafka response consumer did with the messages it read.
#[derive(Default, Debug)]
pub struct Responses {
    /// Handed to a waiting request on this node (or dropped: it no longer waited).
    pub delivered: AtomicU64,
    /// For a request waiting on another node: handed to the cluster hook.
    pub forwarded: AtomicU64,
    /// Not a response (a header missing, a bad status code, a forged id).
    pub rejected: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_target_and_topic() {
        let p = Produced::default();
        p.ok("kafka", "a");
        p.ok("kafka", "a");
        p.failed("kafka", "a");
        p.failed("kinesis", "s");
        assert_eq!(p.snapshot(), [("kafka", "a".to_string(), 2, 1), ("kinesis", "s".to_string(), 0, 1)]);
        for i in 0..MAX_SERIES + 5 {
            p.ok("kafka", &format!("t{i}"));
        }
        assert!(p.snapshot().iter().any(|(_, topic, n, _)| topic == "_other" && *n >= 5));
    }
}
