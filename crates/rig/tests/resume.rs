//! Resuming after a lost connection (SSE `Last-Event-ID`, `last_event_id` for
//! WebSocket and long-polling) and slow clients, against the real server.

mod common;

use std::{
    io::Write,
    time::{Duration, Instant},
};

use common::*;
use serde_json::{json, Value};

const ALICE_ONLY: &str = r#"[{"eventType":"greeting","oneOf":[{"name":"alice"}]}]"#;

fn sse_url(rig: &TestRig, query: &str) -> String {
    rig.url(&format!("/_rig/v1/connection/sse?subscriptions={}{query}", enc(ALICE_ONLY)))
}

/// Publishes greetings for `names` with ids `prefix0..`.
async fn publish_all(rig: &TestRig, prefix: &str, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        rig.publish(&greeting(&format!("{prefix}{i}"), json!({"name": name}))).await;
    }
}

#[tokio::test]
async fn sse_reconnect_with_last_event_id_gets_exactly_the_missed_matching_events() {
    let rig = TestRig::start(&[]).await;
    let mut sse = SseClient::connect(&sse_url(&rig, "")).await;
    sse.greeted().await;
    publish_all(&rig, "a", &["alice", "alice"]).await;
    assert_eq!(sse.next_event().await.unwrap().id.as_deref(), Some("a0"));
    let last = sse.next_event().await.unwrap();
    assert_eq!(last.id.as_deref(), Some("a1"), "SSE frames carry the event id");
    drop(sse); // the TCP connection goes away mid-stream
    publish_all(&rig, "b", &["alice", "bob", "alice"]).await;
    let mut back = SseClient::connect_with(&sse_url(&rig, ""), &[("last-event-id", "a1")]).await;
    back.greeted().await;
    rig.publish(&greeting("live", json!({"name": "alice"}))).await;
    let ids: Vec<String> = [(); 3].iter().map(|_| String::new()).collect::<Vec<_>>();
    let mut got = Vec::new();
    for _ in &ids {
        got.push(back.next_event().await.unwrap().json()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(got, ["b0", "b2", "live"], "missed ones in order, once, then live");
    back.assert_silent(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_fresh_sse_connection_gets_a_cursor_so_its_first_reconnect_loses_nothing() {
    let rig = TestRig::start(&[]).await;
    publish_all(&rig, "old", &["alice"]).await;
    let mut sse = SseClient::connect(&sse_url(&rig, "")).await;
    sse.next_event().await.unwrap();
    let set = sse.next_event().await.unwrap();
    assert_eq!(set.id.as_deref(), Some("old0"), "rig.subscriptions_set carries the newest event id");
    drop(sse);
    publish_all(&rig, "new", &["alice"]).await;
    let mut back = SseClient::connect_with(&sse_url(&rig, ""), &[("last-event-id", "old0")]).await;
    back.greeted().await;
    assert_eq!(back.next_event().await.unwrap().json()["id"], "new0");
}

#[tokio::test]
async fn websocket_and_long_polling_resume_with_a_query_parameter() {
    let rig = TestRig::start(&[("RIG_LONGPOLL_WAIT_MS", "300")]).await;
    publish_all(&rig, "x", &["alice", "bob", "alice"]).await;
    let subs = enc(ALICE_ONLY);
    let mut ws = ws_connect(&rig.ws_url(&format!("/_rig/v1/connection/ws?subscriptions={subs}&last_event_id=x0"))).await;
    ws_greeted(&mut ws).await;
    assert_eq!(ws_next(&mut ws).await["id"], "x2");
    let lp = LpClient::new(rig.url(&format!("/_rig/v1/connection/longpolling?subscriptions={subs}&last_event_id=x0")));
    lp.get().await;
    let events = lp.poll().await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["rig.connection.create", "rig.subscriptions_set", "greeting"]);
    assert_eq!(events[2]["id"], "x2");
}

#[tokio::test]
async fn resuming_from_outside_the_window_says_events_were_missed() {
    let rig = TestRig::start(&[("RIG_RESUME_WINDOW", "2")]).await;
    publish_all(&rig, "e", &["alice", "alice", "alice", "alice"]).await;
    let mut sse = SseClient::connect_with(&sse_url(&rig, ""), &[("last-event-id", "e0")]).await;
    sse.greeted().await;
    let missed = sse.next_event().await.unwrap();
    assert_eq!(missed.name, "rig.events_missed");
    assert_eq!(missed.json()["data"], json!({"reason": "resume_window", "last_event_id": "e0"}));
    let rig = TestRig::start(&[("RIG_RESUME_WINDOW", "0")]).await;
    let mut sse = SseClient::connect_with(&sse_url(&rig, ""), &[("last-event-id", "e0")]).await;
    sse.greeted().await;
    assert_eq!(sse.next_event().await.unwrap().name, "rig.events_missed", "resuming disabled");
}

/// An SSE client that connects and then never reads (a stalled mobile phone).
fn stalled_client(rig: &TestRig) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(rig.app.inbound_addr).unwrap();
    let path = format!("/_rig/v1/connection/sse?subscriptions={}", enc(r#"[{"eventType":"greeting"}]"#));
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[tokio::test]
async fn a_stalled_client_neither_slows_others_nor_grows_memory() {
    // The resume window is off so that the measurement is about the outboxes.
    let rig = TestRig::start(&[("RIG_OUTBOX_CAPACITY", "16"), ("RIG_RESUME_WINDOW", "0")]).await;
    let _stalled = stalled_client(&rig);
    let mut healthy =
        SseClient::connect(&rig.url(&format!("/_rig/v1/connection/sse?subscriptions={}", enc(r#"[{"eventType":"greeting"}]"#)))).await;
    healthy.greeted().await;
    rig.wait_for_connections(2).await;
    let before = rss_bytes();
    let padding = "x".repeat(20_000);
    let mut worst = Duration::ZERO;
    for i in 0..1500 {
        let sent = Instant::now();
        rig.publish(&greeting(&format!("p{i}"), json!({"pad": padding}))).await;
        let got = healthy.next_event().await.unwrap();
        assert_eq!(got.json()["id"], format!("p{i}"));
        worst = worst.max(sent.elapsed());
    }
    let grown = rss_bytes().saturating_sub(before);
    let dropped = rig.app.state.hub.stats.frames_dropped.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "30 MB published past a stalled client: worst healthy latency {worst:?}, RSS growth {} KiB, frames dropped {dropped}",
        grown / 1024
    );
    assert!(dropped > 1000, "the stalled client's outbox stayed bounded ({dropped} dropped)");
    assert!(grown < 24 * 1024 * 1024, "RSS grew by {grown} bytes");
    assert!(worst < Duration::from_secs(1), "healthy client waited {worst:?}");
}

#[tokio::test]
async fn disconnect_policy_forgets_a_stalled_client() {
    let rig = TestRig::start(&[("RIG_OUTBOX_CAPACITY", "4"), ("RIG_SLOW_CLIENT_POLICY", "disconnect")]).await;
    let _stalled = stalled_client(&rig);
    rig.wait_for_connections(1).await;
    let padding = "x".repeat(50_000);
    let deadline = Instant::now() + PATIENCE;
    let mut i = 0;
    while rig.app.state.hub.stats.slow_disconnects.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "never disconnected");
        i += 1;
        rig.publish(&greeting(&format!("d{i}"), json!({"pad": padding}))).await;
    }
    rig.wait_for_connections(0).await;
    let _: Value = json!(null);
}
