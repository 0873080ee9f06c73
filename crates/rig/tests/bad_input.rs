//! The bad-input catalogue: every malformed request we can think of, sent to
//! every endpoint of both ports. Each must get a clean 4xx (with a JSON body
//! where the gateway writes the body), and the server must serve normally after.

mod common;

use std::io::{Read, Write};

use common::*;
use serde_json::json;

struct Case {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn case(method: &'static str, path: impl Into<String>, headers: &[(&'static str, &str)], body: impl Into<Vec<u8>>) -> Case {
    Case { method, path: path.into(), headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(), body: body.into() }
}

const JSON: (&str, &str) = ("content-type", "application/json");
const CE: (&str, &str) = ("content-type", "application/cloudevents+json");

fn deep_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn public_cases(token: &str) -> Vec<Case> {
    let sub_put = |t: &str| format!("/_rig/v1/connection/sse/{t}/subscriptions");
    let big = "a".repeat(2 * 1024 * 1024);
    vec![
        // Connections
        case("GET", "/_rig/v1/connection/sse?jwt=%00%01", &[], ""),
        case("GET", "/_rig/v1/connection/sse?jwt=a.b.c", &[], ""),
        case("GET", "/_rig/v1/connection/sse?subscriptions=%5B%5B%5B", &[], ""),
        case("GET", format!("/_rig/v1/connection/sse?subscriptions={}", enc(&deep_json(5000))), &[], ""),
        case("GET", "/_rig/v1/connection/sse?subscriptions=%5B%7B%22eventType%22%3A7%7D%5D", &[], ""),
        case("GET", "/_rig/v1/connection/sse?subscriptions=%22just%20a%20string%22", &[], ""),
        case("GET", "/_rig/v1/connection/sse?subscriptions=%ff%fe", &[], ""),
        case("GET", "/_rig/v1/connection/ws", &[], ""),
        case("GET", "/_rig/v1/connection/longpolling?subscriptions=%7B%7D", &[], ""),
        case("GET", "/_rig/v1/connection/longpolling?jwt=nope", &[("cookie", "connection_token=%%%; last_event_id=\"")], ""),
        // Subscriptions
        case("PUT", sub_put(token), &[JSON], "{"),
        case("PUT", sub_put(token), &[JSON], "[]"),
        case("PUT", sub_put(token), &[JSON], r#"{"subscriptions":"all"}"#),
        case("PUT", sub_put(token), &[JSON], r#"{"subscriptions":[{"eventType":""}]}"#),
        case("PUT", sub_put(token), &[JSON], r#"{"subscriptions":[{"eventType":"a","oneOf":[[]]}]}"#),
        case("PUT", sub_put(token), &[JSON], deep_json(10_000)),
        case("PUT", sub_put(token), &[JSON], big.clone()),
        case("PUT", sub_put(token), &[("content-type", "text/plain")], "{}"),
        case("PUT", sub_put(token), &[], r#"{"subscriptions":[]}"#),
        case("PUT", sub_put(token), &[JSON, ("accept", "image/png")], r#"{"subscriptions":[]}"#),
        case("PUT", sub_put(token), &[JSON, ("authorization", "Bearer \u{e9}\u{e9}")], r#"{"subscriptions":[]}"#),
        case("PUT", sub_put("x".repeat(5000).as_str()), &[JSON], r#"{"subscriptions":[]}"#),
        case("PUT", sub_put("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), &[JSON], r#"{"subscriptions":[]}"#),
        // Events
        case("POST", "/_rig/v1/events", &[CE], ""),
        case("POST", "/_rig/v1/events", &[CE], vec![0xff, 0xfe, 0x00]),
        case("POST", "/_rig/v1/events", &[CE], "null"),
        case("POST", "/_rig/v1/events", &[CE], deep_json(10_000)),
        case("POST", "/_rig/v1/events", &[CE], r#"{"specversion":"0.2","type":{"a":1},"id":"1"}"#),
        case("POST", "/_rig/v1/events", &[CE], r#"{"specversion":"0.2","type":"t","id":1e999}"#),
        case("POST", "/_rig/v1/events", &[CE], big),
        case("POST", "/_rig/v1/events", &[("content-type", "application/json"), ("ce-specversion", "0.2")], "{}"),
        case(
            "POST",
            "/_rig/v1/events",
            &[("content-type", "text/plain"), ("ce-specversion", "0.2"), ("ce-type", "t"), ("ce-id", "1")],
            vec![0xc3, 0x28],
        ),
        case("POST", "/_rig/v1/events", &[("content-type", ";;;")], "{}"),
        case(
            "POST",
            "/_rig/v1/events",
            &[("content-type", "application/cloudevents+json"), ("authorization", "Bearer x")],
            "{\"specversion\":\"0.2\"}",
        ),
        // Unknown
        case("GET", "/_rig/v1/../../etc/passwd", &[], ""),
        case("DELETE", "/_rig/v1/events", &[], ""),
    ]
}

fn internal_cases() -> Vec<Case> {
    vec![
        case("POST", "/v3/messages", &[CE], "{]"),
        case("POST", "/v2/messages", &[], "{}"),
        case("POST", "/v3/session-blacklist", &[JSON], "{"),
        case("POST", "/v3/session-blacklist", &[JSON], "[1,2]"),
        case("POST", "/v3/session-blacklist", &[JSON], r#"{"sessionId":["a"],"validityInSeconds":1}"#),
        case("POST", "/v3/session-blacklist", &[JSON], r#"{"sessionId":"a","validityInSeconds":1e999}"#),
        case("POST", "/v3/session-blacklist", &[JSON], r#"{"sessionId":"a","validityInSeconds":-1}"#),
        case("POST", "/v3/session-blacklist", &[JSON], r#"{"sessionId":"a","validityInSeconds":"9999999999999999999999"}"#),
        case("POST", "/v3/session-blacklist", &[("content-type", "application/xml")], "<a/>"),
        case("POST", "/v3/session-blacklist", &[("content-type", "application/x-www-form-urlencoded")], "sessionId=&validityInSeconds=%ff"),
        case("GET", "/v3/session-blacklist/", &[], ""),
        // Proxy API definitions and asynchronous responses
        case("POST", "/v3/apis", &[JSON], "{"),
        case("POST", "/v3/apis", &[JSON], "[1,2]"),
        case("POST", "/v3/apis", &[JSON], r#"{"id":5,"name":[],"proxy":"x","version_data":"y"}"#),
        case("POST", "/v3/apis", &[JSON], r#"{"name":"no id"}"#),
        case(
            "POST",
            "/v3/apis",
            &[JSON],
            r#"{"id":"a","name":"a","proxy":{"target_url":"h","port":99999},"version_data":{"default":{"endpoints":[7,{"id":"e","method":"GET","path_regex":"(","target":"ftp"}]}}}"#,
        ),
        case("POST", "/v3/apis", &[JSON], deep_json(10_000)),
        case("POST", "/v3/apis", &[("content-type", "text/plain")], "id=a"),
        case("PUT", "/v3/apis/nope", &[JSON], "{}"),
        case("GET", "/v3/apis/nope", &[], ""),
        case("DELETE", "/v3/apis/nope", &[], ""),
        case("POST", "/v3/responses", &[JSON], "{}"),
        case("POST", "/v3/responses", &[("rig-correlation", "x"), ("rig-response-code", "200")], "{}"),
        case(
            "POST",
            "/v3/responses",
            &[("rig-correlation", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), ("rig-response-code", "20x")],
            "{}",
        ),
        case("POST", "/v2/responses", &[JSON], "not json"),
        case("PATCH", "/v3/users", &[], ""),
        case("GET", "/v1/apis", &[], ""),
    ]
}

/// Sends one request over a fresh connection; returns (status, content-type, body).
async fn send(rig: &TestRig, internal: bool, c: &Case) -> (u16, String, String) {
    let base = if internal { rig.api_url(&c.path) } else { rig.url(&c.path) };
    let mut req = rig.http.request(c.method.parse().unwrap(), base).body(c.body.clone());
    for (k, v) in &c.headers {
        req = req.header(*k, v.as_bytes());
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{} {}: {e}", c.method, c.path));
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (r.status().as_u16(), ct, r.text().await.unwrap_or_default())
}

async fn assert_alive(rig: &TestRig) {
    let subs = enc(r#"[{"eventType":"alive"}]"#);
    let mut sse = SseClient::connect(&rig.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
    sse.greeted().await;
    let r = rig
        .http
        .post(rig.api_url("/v3/messages"))
        .header("content-type", "application/json")
        .body(r#"{"specversion":"0.2","type":"alive","id":"ok"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "ok");
}

#[tokio::test]
async fn every_malformed_request_gets_a_clean_4xx_and_the_server_stays_up() {
    let rig = TestRig::start(&[("SUBMISSION_CHECK", "jwt_validation"), ("RIG_MAX_BODY_BYTES", "65536")]).await;
    let mut sse = SseClient::connect(&rig.url("/_rig/v1/connection/sse")).await;
    let (token, _) = sse.greeted().await;
    let mut checked = 0;
    for (internal, cases) in [(false, public_cases(&token)), (true, internal_cases())] {
        for c in cases {
            let (status, ct, body) = send(&rig, internal, &c).await;
            let what = format!("{} {} -> {status} {ct} {}", c.method, &c.path[..c.path.len().min(80)], &body[..body.len().min(200)]);
            assert!((400..500).contains(&status), "not a 4xx: {what}");
            assert!(ct.starts_with("application/json"), "no JSON body: {what}");
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {what}"));
            checked += 1;
        }
    }
    assert!(checked > 40);
    assert_alive(&rig).await;
    // The original connection is still fine too.
    let r = rig.put_subscriptions("sse", &token, &json!({"subscriptions": []}), None).await;
    assert_eq!(r.status(), 204);
}

// Multi-threaded: the raw socket reads below block their thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_and_oversized_headers_do_not_hurt_the_server() {
    let rig = TestRig::start(&[]).await;
    for garbage in [
        &b"\x00\x01\x02 not http at all\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /_rig/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(rig.app.inbound_addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.write_all(garbage).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let head = String::from_utf8_lossy(&out);
        assert!(out.is_empty() || head.starts_with("HTTP/1.1 4"), "{head}");
    }
    let huge = "x".repeat(200_000);
    let r = rig.http.get(rig.url("/_rig/health")).header("x-big", huge).send().await;
    if let Ok(r) = r {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    assert_alive(&rig).await;
}
