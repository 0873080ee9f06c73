//! Fan-out through the hub: one event to N connections, the clock stopping
//! only after every outbox has been drained (what a writer task would do).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rig::hub::{Hub, Item, Outbox, Sink, SlowPolicy, Transport};
use rig_core::{subscription::parse_param, CloudEvent, ExtractorConfig};

fn event(i: u64) -> CloudEvent {
    let json = format!(r#"{{"specversion":"0.2","type":"greeting","source":"bench","id":"{i}","data":{{"n":"{:0>40}"}}}}"#, i);
    CloudEvent::parse(Bytes::from(json)).unwrap()
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    for n in [1usize, 100, 10_000] {
        let hub = Arc::new(Hub::new(ExtractorConfig::default()));
        let subs = parse_param(r#"[{"eventType":"greeting"}]"#).unwrap();
        let mut receivers = Vec::with_capacity(n);
        for _ in 0..n {
            let outbox = Arc::new(Outbox::new(16, SlowPolicy::DropOldest));
            hub.open_plain(hub.new_id(), Transport::Sse, Sink::Stream(outbox.clone()), subs.clone());
            receivers.push(outbox);
        }
        let events: Vec<Arc<CloudEvent>> = (0..64).map(|i| Arc::new(event(i))).collect();
        let mut items = Vec::new();
        let mut i = 0;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("deliveries", n), &n, |b, _| {
            b.iter(|| {
                i = (i + 1) % events.len();
                let queued = hub.publish(events[i].clone());
                assert_eq!(queued, n);
                let mut bytes = 0;
                for outbox in &receivers {
                    futures_util::FutureExt::now_or_never(outbox.recv(&mut items));
                    for item in items.drain(..) {
                        if let Item::Frame(f) = item {
                            bytes += f.sse.len();
                        }
                    }
                }
                bytes
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
