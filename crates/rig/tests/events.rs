//! Publishing: CloudEvents 0.1/0.2/1.0, structured and binary mode, both
//! ports, error statuses, fan-out to many connections exactly once.

mod common;

use common::*;
use serde_json::{json, Value};

async fn subscriber(rig: &TestRig, event_type: &str) -> SseClient {
    let subs = enc(&json!([{ "eventType": event_type }]).to_string());
    let mut sse = SseClient::connect(&rig.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
    sse.greeted().await;
    sse
}

async fn post(rig: &TestRig, url: String, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut r = rig.http.post(url).body(body.to_string());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn error_text(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn structured_events_of_every_version_reach_subscribers_verbatim() {
    let rig = TestRig::start(&[]).await;
    let mut sse = subscriber(&rig, "greeting").await;
    let bodies = [
        r#"{"cloudEventsVersion":"0.1","eventType":"greeting","eventID":"a","source":"s","contentType":"text/plain","data":{"x":1},"extra":true}"#,
        r#"{"specversion":"0.2","type":"greeting","id":"b","source":"s","rig":{"custom":1}}"#,
        r#"{"specversion":"1.0","type":"greeting","id":"c","source":"s","datacontenttype":"application/json","data":{"y":2}}"#,
    ];
    for (i, body) in bodies.iter().enumerate() {
        let ct = if i == 0 { "application/json" } else { "application/cloudevents+json; charset=utf-8" };
        let (status, resp) = post(&rig, rig.url("/_rig/v1/events"), &[("content-type", ct)], body).await;
        assert_eq!(status, 202, "{resp}");
        let echoed: String = serde_json::from_str(&resp).expect("the 202 body is the event as a JSON string");
        assert_eq!(echoed, *body);
        let got = sse.next_event().await.unwrap();
        assert_eq!((got.name.as_str(), got.data.as_str()), ("greeting", *body));
    }
}

#[tokio::test]
async fn binary_mode_builds_the_event_from_headers_and_body() {
    let rig = TestRig::start(&[]).await;
    let mut sse = subscriber(&rig, "greeting").await;
    let base = [("ce-specversion", "0.2"), ("ce-type", "greeting"), ("ce-id", "1"), ("ce-source", "test"), ("ce-ext", "{\"k\":1}")];
    let mut h = base.to_vec();
    h.push(("content-type", "application/json"));
    let (status, _) = post(&rig, rig.api_url("/v3/messages"), &h, r#"{"name":"alice"}"#).await;
    assert_eq!(status, 202);
    let e = sse.next_event().await.unwrap().json();
    assert_eq!(e["data"], json!({"name": "alice"}));
    assert_eq!(e["ext"], json!({"k": 1}));
    assert!(e.get("contenttype").is_none());
    let mut h = base.to_vec();
    h.push(("content-type", "text/plain"));
    let text = "The name is »Alice«.";
    assert_eq!(post(&rig, rig.url("/_rig/v1/events"), &h, text).await.0, 202);
    let e = sse.next_event().await.unwrap().json();
    assert_eq!((e["data"].as_str(), e["contenttype"].as_str()), (Some(text), Some("text/plain")));
    let h = [("ce-specversion", "1.0"), ("ce-type", "greeting"), ("ce-id", "2"), ("ce-source", "s"), ("content-type", "text/plain")];
    assert_eq!(post(&rig, rig.api_url("/v2/messages"), &h, "v1").await.0, 202);
    assert_eq!(sse.next_event().await.unwrap().json()["datacontenttype"], "text/plain");
}

#[tokio::test]
async fn binary_mode_constraints_match_on_the_decoded_data() {
    let rig = TestRig::start(&[]).await;
    let subs = enc(r#"[{"eventType":"greeting","oneOf":[{"name":"alice"}]}]"#);
    let mut sse = SseClient::connect(&rig.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
    sse.greeted().await;
    for (id, name) in [("1", "bob"), ("2", "alice")] {
        let h =
            [("ce-specversion", "0.2"), ("ce-type", "greeting"), ("ce-id", id), ("ce-source", "s"), ("content-type", "application/json")];
        assert_eq!(post(&rig, rig.url("/_rig/v1/events"), &h, &json!({"name": name}).to_string()).await.0, 202);
    }
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "2");
}

#[tokio::test]
async fn bad_events_get_clear_errors_and_nothing_is_delivered() {
    let rig = TestRig::start(&[("RIG_MAX_BODY_BYTES", "2048")]).await;
    let mut sse = subscriber(&rig, "greeting").await;
    let url = rig.url("/_rig/v1/events");
    type Case<'a> = (Vec<(&'a str, &'a str)>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("content-type", "application/json")],
            r#"{"specversion":"0.2","type":"greeting"}"#.into(),
            400,
            "does not look like a CloudEvent",
        ),
        (
            vec![("content-type", "application/json")],
            r#"{"cloudEventsVersion":"0.1","eventType":"greeting"}"#.into(),
            400,
            "does not look like a CloudEvent",
        ),
        (vec![("content-type", "application/json")], r#"{"type":"greeting","id":"1"}"#.into(), 400, "does not look like a CloudEvent"),
        (vec![("content-type", "application/json")], r#"[1,2,3]"#.into(), 400, "does not look like a CloudEvent"),
        (vec![("content-type", "application/json")], r#"{"specversion":"0.2","#.into(), 400, "does not look like a CloudEvent"),
        (
            vec![("content-type", "application/cloudevents+json")],
            r#"{"specversion":"1.0","type":"greeting","id":"1"}"#.into(),
            400,
            "source",
        ),
        (vec![("content-type", "application/cloudevents-batch+json")], "[]".into(), 400, "The batch is empty"),
        (vec![("content-type", "application/cloudevents-batch+xml")], "<x/>".into(), 415, "Batched mode takes"),
        (vec![("content-type", "application/cloudevents+xml")], "<x/>".into(), 415, "not supported for structured mode"),
        (vec![], r#"{"specversion":"0.2","type":"greeting","id":"1"}"#.into(), 415, "content-type header is required"),
        (
            vec![("content-type", "text/plain"), ("ce-specversion", "illegal")],
            "x".into(),
            400,
            "binary content mode, but the ce-specversion header is [\"illegal\"]",
        ),
        (vec![("content-type", "text/plain")], "x".into(), 400, "ce-specversion header is []"),
        (
            vec![("content-type", "application/json"), ("ce-specversion", "0.2"), ("ce-type", "greeting"), ("ce-id", "1")],
            "{broken".into(),
            400,
            "can't be parsed",
        ),
        (
            vec![("content-type", "application/json")],
            format!(r#"{{"specversion":"0.2","type":"greeting","id":"1","pad":"{}"}}"#, "x".repeat(4096)),
            413,
            "larger than 2048 bytes",
        ),
    ];
    for (headers, body, status, text) in cases {
        let (got, resp) = post(&rig, url.clone(), &headers, &body).await;
        assert_eq!(got, status, "{headers:?} {resp}");
        assert!(error_text(&resp).contains(text), "{headers:?}: {resp}");
    }
    // Structured mode ignores ce-* headers; and the server kept the subscriber.
    let h = [("content-type", "application/cloudevents+json"), ("ce-specversion", "illegal")];
    assert_eq!(post(&rig, url, &h, r#"{"specversion":"0.2","type":"greeting","id":"ok"}"#).await.0, 202);
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "ok");
}

#[tokio::test]
async fn public_endpoint_has_cors_and_preflight_internal_has_neither() {
    let rig = TestRig::start(&[("CORS", "https://app.example")]).await;
    let r = rig.http.request(reqwest::Method::OPTIONS, rig.url("/_rig/v1/events")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example");
    assert_eq!(r.headers()["access-control-allow-methods"], "POST");
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type");
    let body = r#"{"specversion":"0.2","type":"t","id":"1"}"#;
    let r = rig.http.post(rig.url("/_rig/v1/events")).header("content-type", "application/json").body(body).send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example");
    let r = rig.http.post(rig.url("/_rig/v1/events")).body("x").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example", "errors too");
    let r = rig.http.post(rig.api_url("/v3/messages")).header("content-type", "application/json").body(body).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn submission_check_jwt_validation_guards_the_public_endpoint_only() {
    let rig = TestRig::start(&[("SUBMISSION_CHECK", "JWT_VALIDATION")]).await;
    let body = r#"{"specversion":"0.2","type":"t","id":"1"}"#;
    let ct = ("content-type", "application/json");
    let (status, resp) = post(&rig, rig.url("/_rig/v1/events"), &[ct], body).await;
    assert_eq!((status, error_text(&resp).as_str()), (403, "Submission denied."));
    let bad = ("authorization", "Bearer nope");
    assert_eq!(post(&rig, rig.url("/_rig/v1/events"), &[ct, bad], body).await.0, 403);
    let good = format!("Bearer {}", jwt(json!({"sub": "publisher"})));
    assert_eq!(post(&rig, rig.url("/_rig/v1/events"), &[ct, ("authorization", &good)], body).await.0, 202);
    assert_eq!(post(&rig, rig.api_url("/v3/messages"), &[ct], body).await.0, 202, "the internal port is not checked");
}

#[tokio::test]
async fn fan_out_reaches_every_matching_connection_exactly_once() {
    let rig = TestRig::start(&[]).await;
    // Each client subscribes twice over (two rows that both match) to prove de-duplication.
    let subs = enc(r#"[{"eventType":"greeting","oneOf":[{"name":"n"},{"age":1}]},{"eventType":"greeting"}]"#);
    let mut clients = Vec::new();
    for _ in 0..50 {
        let mut sse = SseClient::connect(&rig.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
        sse.greeted().await;
        clients.push(sse);
    }
    let mut ws = ws_connect(&rig.ws_url(&format!("/_rig/v1/connection/ws?subscriptions={subs}"))).await;
    ws_greeted(&mut ws).await;
    for i in 0..5 {
        rig.publish(&greeting(&format!("e{i}"), json!({"name": "n", "age": 1}))).await;
    }
    rig.publish(&json!({"specversion": "0.2", "type": "end", "id": "end"})).await;
    for sse in &mut clients {
        for i in 0..5 {
            assert_eq!(sse.next_event().await.unwrap().json()["id"], format!("e{i}"));
        }
    }
    for i in 0..5 {
        assert_eq!(ws_next(&mut ws).await["id"], format!("e{i}"));
    }
    // No duplicates queued behind them: the next thing each SSE client sees is silence.
    clients[0].assert_silent(std::time::Duration::from_millis(100)).await;
}
