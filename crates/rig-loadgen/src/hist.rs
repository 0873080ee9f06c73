//! Latency histogram (microseconds) and its plain-text exchange format, so a
//! parent process can merge the histograms of its subscriber processes.

use hdrhistogram::Histogram;

/// Highest latency recorded, in µs (values above are clamped): 60 s.
const MAX_US: u64 = 60_000_000;

pub struct Latency {
    h: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        Latency { h: Histogram::new_with_bounds(1, MAX_US, 3).expect("valid bounds") }
    }

    /// Records one delivery's latency; 0 (clock granularity) counts as 1 µs.
    pub fn record_us(&mut self, us: u64) {
        self.h.saturating_record(us.clamp(1, MAX_US));
    }

    pub fn add(&mut self, other: &Latency) {
        self.h.add(&other.h).expect("same bounds");
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// Value at quantile `q` (0..=1) in µs; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.value_at_quantile(q)
        }
    }

    pub fn max_us(&self) -> u64 {
        self.h.max()
    }

    /// `value count` per recorded bucket, one per line.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for v in self.h.iter_recorded() {
            s.push_str(&format!("{} {}\n", v.value_iterated_to(), v.count_at_value()));
        }
        s
    }

    pub fn from_text(text: &str) -> Result<Latency, String> {
        let mut l = Latency::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut it = line.split_whitespace();
            let (Some(v), Some(c), None) = (it.next(), it.next(), it.next()) else {
                return Err(format!("bad histogram line {line:?}"));
            };
            let v: u64 = v.parse().map_err(|_| format!("bad value in {line:?}"))?;
            let c: u64 = c.parse().map_err(|_| format!("bad count in {line:?}"))?;
            l.h.record_n(v.clamp(1, MAX_US), c).map_err(|e| e.to_string())?;
        }
        Ok(l)
    }

    /// Summary as JSON fields (µs).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count(),
            "p50_us": self.quantile_us(0.5),
            "p99_us": self.quantile_us(0.99),
            "p999_us": self.quantile_us(0.999),
            "max_us": self.max_us(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_uniform_values() {
        let mut l = Latency::new();
        for v in 1..=1000 {
            l.record_us(v);
        }
        assert_eq!(l.count(), 1000);
        assert_eq!(l.quantile_us(0.5), 500);
        assert_eq!(l.quantile_us(0.99), 990);
        assert_eq!(l.quantile_us(0.999), 999);
        assert_eq!(l.max_us(), 1000);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let l = Latency::new();
        assert_eq!(l.quantile_us(0.99), 0);
        assert_eq!(l.summary()["count"], 0);
    }

    #[test]
    fn zero_and_huge_values_are_clamped_not_lost() {
        let mut l = Latency::new();
        l.record_us(0);
        l.record_us(u64::MAX);
        assert_eq!(l.count(), 2);
        assert_eq!(l.quantile_us(0.0), 1);
        assert!(l.max_us() >= MAX_US);
    }

    #[test]
    fn text_round_trip_and_merge_keep_percentiles() {
        let (mut a, mut b, mut all) = (Latency::new(), Latency::new(), Latency::new());
        for v in 1..=5000u64 {
            let x = v * 37 % 20_000 + 1;
            if v % 2 == 0 {
                a.record_us(x)
            } else {
                b.record_us(x)
            }
            all.record_us(x);
        }
        let mut merged = Latency::from_text(&a.to_text()).unwrap();
        merged.add(&Latency::from_text(&b.to_text()).unwrap());
        assert_eq!(merged.count(), all.count());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(merged.quantile_us(q), all.quantile_us(q), "q={q}");
        }
    }

    #[test]
    fn bad_text_is_an_error() {
        assert!(Latency::from_text("12").is_err());
        assert!(Latency::from_text("x 1").is_err());
        assert!(Latency::from_text("1 2 3").is_err());
    }
}
