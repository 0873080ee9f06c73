//! Per-event matching cost with 1M constrained subscriptions, as percentiles
//! (the criterion bench gives the mean): one JSON line for scripts/bench.sh.
//! Same index shape as benches/matching.rs; events hit users spread over the
//! whole index so caches do not flatter the figure.

use std::time::Instant;

use rig_core::{ExtractorConfig, Subscription, SubscriptionIndex};
use serde_json::{json, Map};

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let extractors = ExtractorConfig::parse(
        r#"{"message": {
            "user": {"stable_field_index": 0, "event": {"json_pointer": "/data/user"}, "jwt": {"json_pointer": "/sub"}},
            "room": {"stable_field_index": 1, "event": {"json_pointer": "/data/room"}}
        }}"#,
    )
    .expect("valid extractors");
    let mut index = SubscriptionIndex::new(extractors);
    let t0 = Instant::now();
    for conn in 0..n {
        let mut c = Map::new();
        c.insert("user".into(), json!(format!("user-{conn}")));
        if conn % 3 == 0 {
            c.insert("room".into(), json!(conn % 10));
        }
        index.set(conn, &[Subscription { event_type: "message".into(), one_of: vec![c] }]);
    }
    let build = t0.elapsed();
    let events: Vec<_> = (0..1000u64)
        .map(|i| {
            let user = i.wrapping_mul(2_654_435_761) % n;
            json!({"specversion": "0.2", "type": "message", "id": i.to_string(), "data": {"user": format!("user-{user}"), "room": user % 10}})
        })
        .collect();
    let mut out = Vec::with_capacity(16);
    let mut ns = Vec::with_capacity(200_000);
    let mut matched = 0usize;
    for round in 0..200 {
        for e in &events {
            out.clear();
            let t = Instant::now();
            index.matches("message", e, &mut out);
            let d = t.elapsed().as_nanos() as u64;
            if round > 0 {
                ns.push(d);
            }
            matched += out.len();
        }
    }
    ns.sort_unstable();
    let q = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "{}",
        json!({"label": "matching", "subscriptions": n, "events": ns.len(), "matched_per_event": matched as f64 / (200.0 * events.len() as f64),
               "build_secs": build.as_secs_f64(), "p50_us": q(0.5), "p99_us": q(0.99), "p999_us": q(0.999), "max_us": q(1.0)})
    );
}
