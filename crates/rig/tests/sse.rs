//! SSE connections against the real server: greeting, subscriptions, filtering,
//! JWT inference, replacement by PUT, heartbeats, errors, session kill.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn sse_path(query: &str) -> String {
    format!("/_rig/v1/connection/sse{query}")
}

#[tokio::test]
async fn connect_without_params_greets_with_token_and_empty_subscriptions() {
    let rig = TestRig::start(&[]).await;
    let mut sse = SseClient::connect(&rig.url(&sse_path(""))).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(sse.headers["cache-control"], "no-cache");
    assert_eq!(sse.headers["access-control-allow-origin"], "*");
    let create = sse.next_event().await.unwrap();
    let e = create.json();
    assert_eq!(e["type"], "rig.connection.create");
    assert_eq!(e["specversion"], "0.2");
    assert_eq!(e["source"], "rig");
    let token = e["data"]["connection_token"].as_str().unwrap();
    assert!(token.len() >= 32 && !token.contains(['#', '/', '?', '+']), "{token}");
    let set = sse.next_event().await.unwrap();
    assert_eq!(set.json()["data"], json!([]));
}

#[tokio::test]
async fn delivers_matching_events_only_with_and_within_and_or_across() {
    let rig = TestRig::start(&[]).await;
    let subs = json!([{"eventType": "greeting", "oneOf": [{"name": "alice", "age": 30}, {"name": "bob"}]}]);
    let mut sse = SseClient::connect(&rig.url(&sse_path(&format!("?subscriptions={}", enc(&subs.to_string()))))).await;
    let (_, echo) = sse.greeted().await;
    assert_eq!(echo, json!([{"eventType": "greeting", "oneOf": [{"age": 30, "name": "alice"}, {"name": "bob"}]}]));
    rig.publish(&greeting("1", json!({"name": "alice", "age": 31}))).await;
    rig.publish(&greeting("2", json!({"name": "bob"}))).await;
    rig.publish(&json!({"specversion": "0.2", "type": "other", "id": "3", "data": {"name": "bob"}})).await;
    rig.publish(&greeting("4", json!({"name": "alice", "age": 30.0}))).await;
    let e = sse.next_event().await.unwrap();
    assert_eq!((e.name.as_str(), e.json()["id"].as_str()), ("greeting", Some("2")));
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "4");
}

#[tokio::test]
async fn event_text_is_forwarded_verbatim_and_multiline_json_becomes_several_data_lines() {
    let rig = TestRig::start(&[]).await;
    let subs = enc(r#"[{"eventType":"greeting"}]"#);
    let mut sse = SseClient::connect(&rig.url(&sse_path(&format!("?subscriptions={subs}")))).await;
    sse.greeted().await;
    let text = "{\n  \"specversion\": \"0.2\",\n  \"type\": \"greeting\",\n  \"id\": \"x\",\n  \"extra\": {\"kept\": true}\n}";
    let r = rig.http.post(rig.url("/_rig/v1/events")).header("content-type", "application/json").body(text).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let e = sse.next_event().await.unwrap();
    assert_eq!(e.data, text, "same text, one data line per line");
}

#[tokio::test]
async fn jwt_inferred_subscriptions_merge_with_manual_ones_deduplicated() {
    let rig = TestRig::start(&[]).await;
    let token = jwt(json!({"username": "alice"}));
    let manual = json!([{"eventType": "greeting", "oneOf": [{"name": "alice"}]}, {"eventType": "other"}]);
    let url = rig.url(&sse_path(&format!("?jwt={token}&subscriptions={}", enc(&manual.to_string()))));
    let mut sse = SseClient::connect(&url).await;
    let (_, echo) = sse.greeted().await;
    assert_eq!(
        echo,
        json!([{"eventType": "greeting", "oneOf": [{"name": "alice"}]}, {"eventType": "other", "oneOf": []}]),
        "the inferred subscription equals the manual one and appears once"
    );
    rig.publish(&greeting("1", json!({"name": "bob"}))).await;
    rig.publish(&greeting("2", json!({"name": "alice"}))).await;
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "2");
}

#[tokio::test]
async fn invalid_jwt_or_subscriptions_are_refused_with_400_and_a_reason() {
    let rig = TestRig::start(&[]).await;
    let cases = [
        ("?jwt=foobar", "could not parse subscriptions: could not decode JWT: "),
        ("?subscriptions=can't%20%7B%20be%20%5B%20parsed.", "Failed to decode subscription list: "),
        ("?subscriptions=%7B%22a%22%3A1%7D", "subscriptions is expected to be a JSON encoded list"),
        ("?subscriptions=%5B%7B%22oneOf%22%3A%5B%5D%7D%5D", "event-type not found"),
    ];
    for (query, text) in cases {
        let sse = SseClient::connect(&rig.url(&sse_path(query))).await;
        assert_eq!(sse.status, 400, "{query}");
        let body: serde_json::Value = serde_json::from_str(&sse.body).unwrap();
        assert!(body["error"].as_str().unwrap().contains(text), "{query}: {}", sse.body);
    }
    // The server is still fine.
    assert_eq!(SseClient::connect(&rig.url(&sse_path(""))).await.status, 200);
}

#[tokio::test]
async fn put_replaces_subscriptions_and_drops_inferred_ones_unless_jwt_is_sent_again() {
    let rig = TestRig::start(&[]).await;
    let token = jwt(json!({"username": "alice"}));
    let mut sse = SseClient::connect(&rig.url(&sse_path(&format!("?jwt={token}")))).await;
    let (conn, echo) = sse.greeted().await;
    assert_eq!(echo, json!([{"eventType": "greeting", "oneOf": [{"name": "alice"}]}]));
    let r = rig.put_subscriptions("sse", &conn, &json!({"subscriptions": [{"eventType": "other"}]}), None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let set = sse.next_event().await.unwrap();
    assert_eq!((set.name.as_str(), set.json()["data"].clone()), ("rig.subscriptions_set", json!([{"eventType": "other", "oneOf": []}])));
    rig.publish(&greeting("1", json!({"name": "alice"}))).await;
    rig.publish(&json!({"specversion": "0.2", "type": "other", "id": "2"})).await;
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "2");
    // With the bearer token the inferred subscription comes back, first.
    let r = rig.put_subscriptions("ws", &conn, &json!({"subscriptions": []}), Some(&token)).await;
    assert_eq!(r.status(), 204, "an SSE token works on the ws path too");
    let set = sse.next_event().await.unwrap();
    assert_eq!(set.json()["data"], json!([{"eventType": "greeting", "oneOf": [{"name": "alice"}]}]));
}

#[tokio::test]
async fn put_errors_follow_rig_and_emit_no_subscriptions_set() {
    let rig = TestRig::start(&[]).await;
    let mut sse = SseClient::connect(&rig.url(&sse_path(""))).await;
    let (conn, _) = sse.greeted().await;
    let url = rig.url(&format!("/_rig/v1/connection/sse/{conn}/subscriptions"));
    let put = |accept: Option<&str>, ct: Option<&str>, body: &str, auth: Option<&str>| {
        let mut r = rig.http.put(&url).body(body.to_string());
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        if let Some(c) = ct {
            r = r.header("content-type", c);
        }
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let check = |r: reqwest::Response, status: u16, text: &'static str| async move {
        assert_eq!(r.status(), status);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(text), "{body}");
    };
    let json_ct = Some("application/json");
    check(put(Some("text/html"), json_ct, "{}", None).await.unwrap(), 406, "application/json").await;
    check(put(None, None, r#"{"subscriptions":[]}"#, None).await.unwrap(), 400, "Expected JSON encoded body.").await;
    check(put(None, json_ct, "{not json", None).await.unwrap(), 400, "Expected JSON encoded body.").await;
    check(
        put(None, json_ct, r#"{"this":"is not","a":"subscription"}"#, None).await.unwrap(),
        400,
        "Expected field \"subscriptions\" is not present.",
    )
    .await;
    check(put(None, json_ct, r#"{"subscriptions":{"a":1}}"#, None).await.unwrap(), 400, "could not parse given subscriptions").await;
    check(put(None, json_ct, r#"{"subscriptions":[{"oneOf":[]}]}"#, None).await.unwrap(), 400, "could not parse given subscriptions").await;
    check(
        put(None, json_ct, r#"{"subscriptions":[]}"#, Some("Bearer this is not a valid JWT")).await.unwrap(),
        400,
        "invalid authorization header",
    )
    .await;
    let bad_token = rig.put_subscriptions("sse", "bm90LWEtdG9rZW4", &json!({"subscriptions": []}), None).await;
    check(bad_token, 400, "Invalid connection token.").await;
    let garbage = rig.put_subscriptions("sse", "%%%", &json!({"subscriptions": []}), None).await;
    assert_eq!(garbage.status(), 400);
    // Nothing above changed the subscriptions.
    rig.put_subscriptions("sse", &conn, &json!({"subscriptions": [{"eventType": "x"}]}), None).await;
    let set = sse.next_event().await.unwrap();
    assert_eq!(set.json()["data"], json!([{"eventType": "x", "oneOf": []}]));
    drop(sse);
    // Once the client is gone the token names a dead connection: 410.
    let mut status = 0;
    for _ in 0..50 {
        status = rig.put_subscriptions("sse", &conn, &json!({"subscriptions": []}), None).await.status().as_u16();
        if status == 410 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 410);
}

#[tokio::test]
async fn put_preflight_and_unknown_transport() {
    let rig = TestRig::start(&[("CORS", "https://app.example")]).await;
    let r = rig.http.request(reqwest::Method::OPTIONS, rig.url("/_rig/v1/connection/sse/abc/subscriptions")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example");
    assert_eq!(r.headers()["access-control-allow-methods"], "PUT");
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type,authorization");
    let r = rig.put_subscriptions("carrier-pigeon", "abc", &json!({"subscriptions": []}), None).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn idle_connections_get_heartbeat_comments() {
    let rig = TestRig::start(&[("RIG_HEARTBEAT_INTERVAL_MS", "100")]).await;
    let mut sse = SseClient::connect(&rig.url(&sse_path(""))).await;
    sse.greeted().await;
    let hb = sse.next().await.unwrap();
    assert_eq!(hb.name, ": heartbeat");
}

#[tokio::test]
async fn killed_session_gets_session_killed_then_the_stream_ends() {
    let rig = TestRig::start(&[]).await;
    let mut victim = SseClient::connect(&rig.url(&sse_path(&format!("?jwt={}", jwt(json!({"jti": "s-1"})))))).await;
    let mut bystander = SseClient::connect(&rig.url(&sse_path(&format!("?jwt={}", jwt(json!({"jti": "s-2"})))))).await;
    victim.greeted().await;
    bystander.greeted().await;
    assert_eq!(rig.app.state.hub.kill_session("s-1"), 1);
    let killed = victim.next_event().await.unwrap();
    assert_eq!(killed.name, "rig.session_killed");
    assert!(killed.json().get("data").is_none());
    assert!(victim.next().await.is_none(), "stream ends");
    bystander.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn connection_limit_per_minute_refuses_the_sixth_with_429() {
    let rig = TestRig::start(&[("MAX_CONNECTIONS_PER_MINUTE", "5")]).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let c = SseClient::connect(&rig.url(&sse_path(""))).await;
        assert_eq!(c.status, 200);
        open.push(c);
    }
    let sixth = SseClient::connect(&rig.url(&sse_path(""))).await;
    assert_eq!(sixth.status, 429);
    assert!(sixth.body.contains("Reached maximum number of connections"));
}

#[tokio::test]
async fn subscription_check_jwt_validation_needs_a_valid_token_when_subscribing() {
    let rig = TestRig::start(&[("SUBSCRIPTION_CHECK", "jwt_validation")]).await;
    let subs = enc(r#"[{"eventType":"greeting"}]"#);
    let denied = SseClient::connect(&rig.url(&sse_path(&format!("?subscriptions={subs}")))).await;
    assert_eq!(denied.status, 400);
    assert!(denied.body.contains("Subscription denied (not authorized)."));
    assert_eq!(SseClient::connect(&rig.url(&sse_path(""))).await.status, 200, "no subscriptions, no check");
    let token = jwt(json!({"sub": "x"}));
    let ok = SseClient::connect(&rig.url(&sse_path(&format!("?subscriptions={subs}&jwt={token}")))).await;
    assert_eq!(ok.status, 200);
}
