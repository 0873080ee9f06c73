//! Matching cost: one event against an index of up to 1M constrained
//! subscriptions (one user each, as JWT-inferred subscriptions look), plus
//! CloudEvent parsing.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rig_core::{CloudEvent, ExtractorConfig, Subscription, SubscriptionIndex};
use serde_json::{json, Map};

fn extractors() -> ExtractorConfig {
    ExtractorConfig::parse(
        r#"{"message": {
            "user": {"stable_field_index": 0, "event": {"json_pointer": "/data/user"}, "jwt": {"json_pointer": "/sub"}},
            "room": {"stable_field_index": 1, "event": {"json_pointer": "/data/room"}}
        }}"#,
    )
    .unwrap()
}

fn sub(user: u64, room: Option<u64>) -> Subscription {
    let mut c = Map::new();
    c.insert("user".into(), json!(format!("user-{user}")));
    if let Some(r) = room {
        c.insert("room".into(), json!(r));
    }
    Subscription { event_type: "message".into(), one_of: vec![c] }
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    for n in [10_000u64, 1_000_000] {
        let mut index = SubscriptionIndex::new(extractors());
        for conn in 0..n {
            index.set(conn, &[sub(conn, (conn % 3 == 0).then_some(conn % 10))]);
        }
        let event = json!({"specversion": "0.2", "type": "message", "id": "1", "data": {"user": "user-4242", "room": 2}});
        let mut out = Vec::with_capacity(16);
        group.bench_with_input(BenchmarkId::new("constrained_subscriptions", n), &n, |b, _| {
            b.iter(|| {
                out.clear();
                index.matches(black_box("message"), black_box(&event), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let text = Bytes::from_static(
        br#"{"specversion":"0.2","type":"message","source":"bench","id":"42","time":"2026-01-01T00:00:00Z","data":{"user":"user-1","room":2,"text":"hello there"}}"#,
    );
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("structured_0_2", |b| b.iter(|| CloudEvent::parse(black_box(text.clone())).unwrap()));
    group.finish();
}

criterion_group!(benches, matching, parsing);
criterion_main!(benches);
