//! SIGTERM with live connections: clients are told to reconnect elsewhere and
//! the process exits once they are gone, well inside the grace period.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

#[tokio::test]
async fn sigterm_tells_live_clients_to_reconnect_and_exits() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rig"))
        .env("INBOUND_PORT", "0")
        .env("API_HTTP_PORT", "0")
        .env("RIG_BIND_ADDRESS", "127.0.0.1")
        .env("RIG_SHUTDOWN_GRACE_MS", "5000")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Warnings (say, about variables of the environment) may come first.
    let mut line = String::new();
    while !line.starts_with("rig: listening on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "rig exited before listening");
    }
    let public = line.split_whitespace().nth(3).expect("rig: listening on <addr> ...").to_string();

    let subs = enc(r#"[{"eventType":"greeting"}]"#);
    let mut sse = SseClient::connect(&format!("http://{public}/_rig/v1/connection/sse?subscriptions={subs}")).await;
    sse.greeted().await;
    let mut ws = ws_connect(&format!("ws://{public}/_rig/v1/connection/ws")).await;
    ws_greeted(&mut ws).await;

    let started = Instant::now();
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let bye = sse.next_event().await.unwrap();
    assert_eq!(bye.name, "rig.connection_closed");
    assert_eq!(bye.json()["data"]["reason"], "shutdown");
    assert!(sse.next().await.is_none(), "the stream ends");
    assert_eq!(ws_closed(&mut ws).await, (1001, "Server shutting down.".into()));
    drop(ws);
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "{exit:?}");
    let took = started.elapsed();
    eprintln!("SIGTERM -> clients told and process exited in {took:?}");
    assert!(took < Duration::from_secs(5), "drained before the grace period ran out ({took:?})");
}
