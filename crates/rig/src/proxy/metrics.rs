//! `rig_proxy_requests_total{method,path,target,response_from,status}` (rig-spec 9.1).
//!
//! `path` is the request path, as RIG labels it, so the number of series is
//! capped: past [`MAX_SERIES`], new paths are counted under `path="_other"`.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        RwLock,
    },
};

use super::api::{ResponseFrom, Target};
use crate::support::sync::{read, write};

/// Most label sets kept before paths are folded into `_other`.
pub const MAX_SERIES: usize = 10_000;

/// The `status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    NotFound,
    BadRequest,
    Unreachable,
    RequestTimeout,
    ResponseTimeout,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotFound => "not_found",
            Outcome::BadRequest => "bad_request",
            Outcome::Unreachable => "unreachable",
            Outcome::RequestTimeout => "request_timeout",
            Outcome::ResponseTimeout => "response_timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Labels {
    pub method: String,
    pub path: String,
    pub target: &'static str,
    pub response_from: &'static str,
    pub status: &'static str,
}

#[derive(Default)]
pub struct ProxyMetrics {
    series: RwLock<HashMap<Labels, AtomicU64>>,
}

impl ProxyMetrics {
    /// Counts one proxied request; `None` target / `response_from` is RIG's `N/A`.
    pub fn count(&self, method: &str, path: &str, target: Option<Target>, response_from: Option<ResponseFrom>, outcome: Outcome) {
        let mut labels = Labels {
            method: method.to_string(),
            path: path.to_string(),
            target: target.map_or("N/A", Target::name),
            response_from: response_from.map_or("N/A", ResponseFrom::name),
            status: outcome.name(),
        };
        if let Some(n) = read(&self.series).get(&labels) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut series = write(&self.series);
        if series.len() >= MAX_SERIES && !series.contains_key(&labels) {
            labels.path = "_other".into();
        }
        series.entry(labels).or_default().fetch_add(1, Ordering::Relaxed);
    }

    /// Every series with its count, sorted for stable output.
    pub fn snapshot(&self) -> Vec<(Labels, u64)> {
        let series = read(&self.series);
        let mut out: Vec<_> = series.iter().map(|(l, n)| (l.clone(), n.load(Ordering::Relaxed))).collect();
        out.sort_by(|a, b| (&a.0.path, &a.0.method, a.0.status).cmp(&(&b.0.path, &b.0.method, b.0.status)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_label_set_and_caps_the_series() {
        let m = ProxyMetrics::default();
        m.count("GET", "/a", Some(Target::Http), Some(ResponseFrom::Http), Outcome::Ok);
        m.count("GET", "/a", Some(Target::Http), Some(ResponseFrom::Http), Outcome::Ok);
        m.count("GET", "/nope", None, None, Outcome::NotFound);
        let s = m.snapshot();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].0.path.as_str(), s[0].1), ("/a", 2));
        assert_eq!((s[1].0.target, s[1].0.response_from, s[1].0.status), ("N/A", "N/A", "not_found"));
        for i in 0..MAX_SERIES + 10 {
            m.count("GET", &format!("/{i}"), None, None, Outcome::NotFound);
        }
        let s = m.snapshot();
        assert_eq!(s.len(), MAX_SERIES + 1);
        assert!(s.iter().any(|(l, n)| l.path == "_other" && *n >= 10));
    }
}
