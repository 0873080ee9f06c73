//! WebSocket connections against the real server.

mod common;

use common::*;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

fn ws_path(query: &str) -> String {
    format!("/_rig/v1/connection/ws{query}")
}

#[tokio::test]
async fn greets_then_delivers_matching_events_as_text_frames() {
    let rig = TestRig::start(&[]).await;
    let subs = json!([{"eventType": "greeting", "oneOf": [{"name": "alice"}]}]);
    let mut ws = ws_connect(&rig.ws_url(&ws_path(&format!("?subscriptions={}", enc(&subs.to_string()))))).await;
    let (token, echo) = ws_greeted(&mut ws).await;
    assert!(!token.is_empty());
    assert_eq!(echo, json!([{"eventType": "greeting", "oneOf": [{"name": "alice"}]}]));
    rig.publish(&greeting("1", json!({"name": "bob"}))).await;
    rig.publish(&greeting("2", json!({"name": "alice"}))).await;
    assert_eq!(ws_next(&mut ws).await["id"], "2");
}

#[tokio::test]
async fn put_on_a_websocket_token_replaces_its_subscriptions() {
    let rig = TestRig::start(&[]).await;
    let mut ws = ws_connect(&rig.ws_url(&ws_path(""))).await;
    let (token, _) = ws_greeted(&mut ws).await;
    let r = rig.put_subscriptions("ws", &token, &json!({"subscriptions": [{"eventType": "greeting"}]}), None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(ws_next(&mut ws).await["type"], "rig.subscriptions_set");
    rig.publish(&greeting("7", json!({}))).await;
    assert_eq!(ws_next(&mut ws).await["id"], "7");
}

#[tokio::test]
async fn refused_connections_are_upgraded_then_closed_with_a_reason() {
    let rig = TestRig::start(&[]).await;
    let mut ws = ws_connect(&rig.ws_url(&ws_path("?jwt=foobar"))).await;
    assert_eq!(ws_closed(&mut ws).await, (1000, "Bad request.".to_string()));
    let mut ws = ws_connect(&rig.ws_url(&ws_path("?subscriptions=can't%20%7B%20be%20%5B%20parsed."))).await;
    let (code, reason) = ws_closed(&mut ws).await;
    assert_eq!(code, 1000);
    assert!(reason.starts_with("Failed to decode subscription list: "), "{reason}");
}

#[tokio::test]
async fn client_data_frames_close_the_connection() {
    let rig = TestRig::start(&[]).await;
    let mut ws = ws_connect(&rig.ws_url(&ws_path(""))).await;
    ws_greeted(&mut ws).await;
    ws_send_text(&mut ws, "hello?").await;
    assert_eq!(ws_closed(&mut ws).await, (1000, "This WebSocket endpoint cannot be used for two-way communication.".into()));
}

#[tokio::test]
async fn heartbeat_pings_and_client_pings_get_pongs() {
    let rig = TestRig::start(&[("RIG_HEARTBEAT_INTERVAL_MS", "100")]).await;
    let mut ws = ws_connect(&rig.ws_url(&ws_path(""))).await;
    ws_greeted(&mut ws).await;
    use futures_util::SinkExt;
    ws.send(Message::Ping("are you there".into())).await.unwrap();
    let (mut saw_ping, mut saw_pong) = (false, false);
    while !(saw_ping && saw_pong) {
        match ws_next_message(&mut ws).await {
            Message::Ping(p) => saw_ping |= p.is_empty(),
            Message::Pong(p) => saw_pong |= &p[..] == b"are you there",
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn killed_session_closes_with_session_killed() {
    let rig = TestRig::start(&[]).await;
    let mut ws = ws_connect(&rig.ws_url(&ws_path(&format!("?jwt={}", jwt(json!({"jti": "w-1"})))))).await;
    ws_greeted(&mut ws).await;
    assert_eq!(rig.app.state.hub.kill_session("w-1"), 1);
    assert_eq!(ws_closed(&mut ws).await, (1000, "Session killed.".into()));
}

#[tokio::test]
async fn connection_limit_closes_the_sixth_connection() {
    let rig = TestRig::start(&[("MAX_CONNECTIONS_PER_MINUTE", "5")]).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let mut ws = ws_connect(&rig.ws_url(&ws_path(""))).await;
        ws_greeted(&mut ws).await;
        open.push(ws);
    }
    let mut sixth = ws_connect(&rig.ws_url(&ws_path(""))).await;
    assert_eq!(ws_closed(&mut sixth).await, (1000, "Bad request.".into()));
}

#[tokio::test]
async fn plain_get_without_upgrade_is_a_clear_400() {
    let rig = TestRig::start(&[]).await;
    let r = rig.http.get(rig.url(&ws_path(""))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("WebSocket"));
}
