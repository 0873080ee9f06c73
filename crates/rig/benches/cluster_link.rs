//! Cost of protecting peer-link traffic: batches of events sealed by the
//! sending node and opened by the receiving one, HMAC-tagged (the default)
//! against ChaCha20-Poly1305-encrypted (`RIG_CLUSTER_ENCRYPT=true`). The
//! figure is events per second through seal + open on one core, which bounds
//! what a link can forward; the network and the fan-out come on top alike.
//!
//! `cargo bench -p rig --bench cluster_link`; `LINK_BENCH_EVENT_BYTES`
//! (default 300) and `LINK_BENCH_BATCH` (default 256 events per frame).

use std::time::{Duration, Instant};

use bytes::BytesMut;
use rig::cluster::{
    key::Key,
    wire::{self, Opener, Sealer},
};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seals and opens `body` for about `time`; events per second.
fn run(encrypt: bool, body: &[u8], events_per_frame: usize, time: Duration) -> f64 {
    let key = Key::derive("bench-cookie", "peer");
    let (ns, nc) = ([1u8; wire::NONCE_LEN], [2u8; wire::NONCE_LEN]);
    let mut sealer = Sealer::new(wire::session(&key, &ns, &nc, encrypt));
    let mut opener = Opener::new(wire::session(&key, &ns, &nc, encrypt));
    let mut out = Vec::with_capacity(body.len() + 64);
    let (start, mut frames) = (Instant::now(), 0u64);
    while start.elapsed() < time {
        for _ in 0..64 {
            out.clear();
            sealer.seal(body, &mut out);
            let opened = opener.open(BytesMut::from(&out[4..])).expect("opens");
            assert_eq!(opened.len(), body.len());
            frames += 1;
        }
    }
    (frames * events_per_frame as u64) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let size = env_or("LINK_BENCH_EVENT_BYTES", 300);
    let batch = env_or("LINK_BENCH_BATCH", 256);
    let event = vec![b'x'; size];
    let mut body = Vec::new();
    wire::encode_events((0..batch).map(|_| &event[..]), &mut body);
    let time = Duration::from_secs(2);
    let tagged = run(false, &body, batch, time);
    let encrypted = run(true, &body, batch, time);
    let mib = |eps: f64| eps * size as f64 / (1024.0 * 1024.0);
    println!("peer link, {batch} events of {size} B per frame, seal + open on one core:");
    println!("  tagged (HMAC-SHA256)       {:>12.0} events/s  {:>8.0} MiB/s", tagged, mib(tagged));
    println!("  encrypted (ChaCha20-Poly1305) {:>9.0} events/s  {:>8.0} MiB/s", encrypted, mib(encrypted));
    println!("  encrypted / tagged throughput: {:.2}x", encrypted / tagged);
}
