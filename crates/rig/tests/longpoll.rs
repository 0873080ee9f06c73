//! HTTP long-polling against the real server, with a cookie-keeping client.

mod common;

use common::*;
use serde_json::json;

fn lp_url(rig: &TestRig, query: &str) -> String {
    rig.url(&format!("/_rig/v1/connection/longpolling{query}"))
}

#[tokio::test]
async fn first_request_creates_a_session_and_sets_rig_cookies() {
    let rig = TestRig::start(&[("CORS", "http://localhost:54321")]).await;
    let lp = LpClient::new(lp_url(&rig, ""));
    let r = lp.get().await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/json; charset=utf-8");
    assert_eq!(h["access-control-allow-origin"], "http://localhost:54321");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let cookies: Vec<&str> = h.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("connection_token=") && c.ends_with("; path=/; HttpOnly")), "{cookies:?}");
    assert!(cookies.contains(&"last_event_id=\"first_event\"; path=/; HttpOnly"), "{cookies:?}");
    assert_eq!(r.text().await.unwrap(), "\"ok\"");
    let events = lp.poll().await;
    assert_eq!(events[0]["type"], "rig.connection.create");
    assert_eq!(events[1]["type"], "rig.subscriptions_set");
    assert_eq!(events[1]["data"], json!([]));
}

#[tokio::test]
async fn polls_return_new_matching_events_once_in_order() {
    let rig = TestRig::start(&[("RIG_LONGPOLL_WAIT_MS", "300")]).await;
    let subs = enc(r#"[{"eventType":"greeting","oneOf":[{"name":"alice"}]}]"#);
    let lp = LpClient::new(lp_url(&rig, &format!("?subscriptions={subs}")));
    lp.get().await;
    assert_eq!(lp.poll().await.len(), 2);
    rig.publish(&greeting("1", json!({"name": "alice", "extra": [1, 2]}))).await;
    rig.publish(&greeting("2", json!({"name": "bob"}))).await;
    rig.publish(&greeting("3", json!({"name": "alice"}))).await;
    let events = lp.poll().await;
    let ids: Vec<_> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "3"]);
    assert_eq!(events[0]["data"]["extra"], json!([1, 2]), "extra properties preserved");
    assert!(lp.poll().await.is_empty(), "nothing new: empty list after the wait");
}

#[tokio::test]
async fn a_waiting_poll_is_answered_as_soon_as_an_event_arrives() {
    let rig = TestRig::start(&[("RIG_LONGPOLL_WAIT_MS", "20000")]).await;
    let lp = LpClient::new(lp_url(&rig, &format!("?subscriptions={}", enc(r#"[{"eventType":"greeting"}]"#))));
    lp.get().await;
    let token = lp.poll().await[0]["data"]["connection_token"].as_str().unwrap().to_string();
    let buffer = rig.app.state.hub.lp_buffer(rig.app.state.sessions.open_token(&token).unwrap()).unwrap();
    let waiting = tokio::spawn(async move { lp.poll().await });
    let deadline = std::time::Instant::now() + PATIENCE;
    while buffer.waiting() == 0 {
        assert!(std::time::Instant::now() < deadline, "the poll never reached the server");
        tokio::task::yield_now().await;
    }
    let published = std::time::Instant::now();
    rig.publish(&greeting("now", json!({}))).await;
    let events = waiting.await.unwrap();
    assert_eq!(events[0]["id"], "now");
    assert!(published.elapsed() < std::time::Duration::from_secs(2), "answered on arrival, not at the 20 s timeout");
}

#[tokio::test]
async fn subscriptions_put_works_for_long_polling_tokens() {
    let rig = TestRig::start(&[("RIG_LONGPOLL_WAIT_MS", "300")]).await;
    let lp = LpClient::new(lp_url(&rig, ""));
    lp.get().await;
    let events = lp.poll().await;
    let token = events[0]["data"]["connection_token"].as_str().unwrap().to_string();
    let r = rig.put_subscriptions("longpolling", &token, &json!({"subscriptions": [{"eventType": "greeting"}]}), None).await;
    assert_eq!(r.status(), 204);
    rig.publish(&greeting("9", json!({}))).await;
    let events = lp.poll().await;
    assert_eq!(events[0]["type"], "rig.subscriptions_set");
    assert_eq!(events[1]["id"], "9");
}

#[tokio::test]
async fn bad_parameters_give_400_with_cors_and_limits_give_429() {
    let rig = TestRig::start(&[("MAX_CONNECTIONS_PER_MINUTE", "5")]).await;
    let r = LpClient::new(lp_url(&rig, "?subscriptions=can't%20%7B%20be%20%5B%20parsed.")).get().await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("could not parse subscriptions: could not decode subscriptions: invalid JSON encoding at position 0"));
    let r = LpClient::new(lp_url(&rig, "?jwt=foobar")).get().await;
    assert_eq!(r.status(), 400);
    for _ in 0..3 {
        assert_eq!(LpClient::new(lp_url(&rig, "")).get().await.status(), 200);
    }
    assert_eq!(LpClient::new(lp_url(&rig, "")).get().await.status(), 429);
}

#[tokio::test]
async fn unknown_or_forged_cookies_start_a_new_session() {
    let rig = TestRig::start(&[]).await;
    let r = rig.http.get(lp_url(&rig, "")).header("cookie", "connection_token=forged; last_event_id=%%%").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "\"ok\"");
}

#[tokio::test]
async fn preflight() {
    let rig = TestRig::start(&[]).await;
    let r = rig.http.request(reqwest::Method::OPTIONS, lp_url(&rig, "")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-methods"], "GET");
    assert_eq!(r.headers()["access-control-allow-headers"], "*");
    // With CORS=* no credentials: browsers refuse that pair (RIG sent both).
    assert!(r.headers().get("access-control-allow-credentials").is_none());
    let rig = TestRig::start(&[("CORS", "http://localhost:54321")]).await;
    let r = rig.http.request(reqwest::Method::OPTIONS, lp_url(&rig, "")).header("origin", "http://localhost:54321").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://localhost:54321");
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn killed_session_ends_and_the_next_poll_starts_over() {
    let rig = TestRig::start(&[("RIG_LONGPOLL_WAIT_MS", "300")]).await;
    let lp = LpClient::new(lp_url(&rig, &format!("?jwt={}", jwt(json!({"jti": "lp-1"})))));
    lp.get().await;
    lp.poll().await;
    assert_eq!(rig.app.state.hub.kill_session("lp-1"), 1);
    let r = lp.get().await;
    assert_eq!(r.text().await.unwrap(), "\"ok\"", "a fresh session");
}
