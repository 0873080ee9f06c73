//! The proxy's `nats` target against a real nats-server and a real client
//! (nats-py): publish (202), request/reply (200 with the reply) and its
//! timeout (504), RIG's 400 texts (in the JSON error body), and a server outage (503, then recovery).

mod common;

use common::{brokers::*, *};
use serde_json::{json, Value};

struct Nats {
    server: Broker,
    client: Producer,
    url: String,
}

async fn nats() -> Nats {
    require_python_modules("nats", "nats-py");
    let (server, url) = Broker::nats_server().await;
    let client = Producer::spawn("nats_client.py", &format!("nats://{url}")).await;
    Nats { server, client, url }
}

fn endpoints() -> Value {
    json!([
        {"id": "pub", "method": "POST", "path_regex": "/pub", "target": "nats", "topic": "rig.requests"},
        {"id": "pub-options", "method": "OPTIONS", "path_regex": "/pub", "target": "nats", "topic": "rig.requests"},
        {"id": "ask", "method": "POST", "path_regex": "/ask/(\\w+)", "target": "nats", "topic": "rig.ask", "response_from": "nats"},
        {"id": "silent", "method": "POST", "path_regex": "/silent", "target": "nats", "topic": "rig.silent", "response_from": "nats"},
        {"id": "nobody", "method": "POST", "path_regex": "/nobody", "target": "nats", "topic": "rig.nobody", "response_from": "nats"}
    ])
}

async fn gateway(servers: Option<&str>) -> TestRig {
    let api = json!({"id": "nats-api", "name": "nats-api", "proxy": {"target_url": "localhost", "port": 1},
                     "version_data": {"default": {"endpoints": endpoints()}}});
    let config = json!([api]).to_string();
    let mut vars =
        vec![("PROXY_CONFIG_FILE", config.as_str()), ("PROXY_NATS_RESPONSE_TIMEOUT", "1000"), ("RIG_SOURCE_BACKOFF_MAX_MS", "500")];
    if let Some(s) = servers {
        vars.push(("NATS_SERVERS", s));
    }
    TestRig::start(&vars).await
}

fn event(id: &str) -> Value {
    json!({"specversion": "0.2", "type": "com.example", "source": "/t", "id": id, "data": {"n": 1},
           "rig": {"target_partition": "ignored"}})
}

fn cors_of(r: &reqwest::Response) -> [String; 3] {
    ["origin", "methods", "headers"]
        .map(|h| r.headers().get(format!("access-control-allow-{h}")).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default())
}

const CORS: [&str; 3] = ["*", "*", "content-type,authorization"];

#[tokio::test]
async fn publish_and_request_reply() {
    let mut n = nats().await;
    let rig = gateway(Some(&n.url)).await;
    n.client.ok(&json!({"op": "subscribe", "subject": "rig.requests"})).await;
    n.client.ok(&json!({"op": "respond", "subject": "rig.ask", "body": "{\"answer\":42}"})).await;
    n.client.ok(&json!({"op": "subscribe", "subject": "rig.silent"})).await;
    wait_ready(&rig).await; // the target's connection reports in

    let r = rig.http.request(reqwest::Method::OPTIONS, rig.url("/pub")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), cors_of(&r)), (204, CORS.map(String::from)));

    let r = rig
        .http
        .post(rig.url("/pub?q=1"))
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .json(&event("p1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(cors_of(&r), CORS);
    assert_eq!(r.text().await.unwrap(), "Accepted.");
    let got = n.client.query(&json!({"op": "next", "subject": "rig.requests"})).await;
    let e: Value = serde_json::from_str(got["body"].as_str().unwrap()).unwrap();
    assert_eq!((&e["id"], &e["data"]), (&json!("p1"), &json!({"n": 1})));
    assert_eq!((&e["rig"]["path"], &e["rig"]["query"], &e["rig"]["remoteip"]), (&json!("/pub"), &json!("q=1"), &json!("127.0.0.1")));
    assert!(e["rig"]["correlation"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(e.get("traceparent").is_none(), "NATS events carry no trace context");

    let r = rig.http.post(rig.url("/ask/x")).json(&event("a1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    assert_eq!(cors_of(&r), CORS);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"answer": 42}));
    let asked = n.client.query(&json!({"op": "next", "subject": "rig.ask"})).await;
    assert!(asked["reply"].is_string(), "sent as a request: {asked}");

    // A subscriber that never answers: the timeout. Nobody subscribed: the same answer, at once.
    for path in ["/silent", "/nobody"] {
        let started = std::time::Instant::now();
        let r = rig.http.post(rig.url(path)).json(&event("t")).send().await.unwrap();
        assert_eq!(r.status(), 504, "{path}");
        assert_eq!(cors_of(&r), CORS);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "Timed out while waiting for the response."}));
        if path == "/silent" {
            assert!(started.elapsed() >= std::time::Duration::from_millis(900), "waited PROXY_NATS_RESPONSE_TIMEOUT");
        }
    }
    let m = rig.http.get(rig.api_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        m.contains(
            r#"rig_proxy_requests_total{method="POST",path="/silent",target="nats",response_from="nats",status="response_timeout"} 1"#
        ),
        "{m}"
    );
}

#[tokio::test]
async fn bad_bodies_get_rigs_nats_texts() {
    let n = nats().await;
    let rig = gateway(Some(&n.url)).await;
    let r = rig.http.post(rig.url("/pub")).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(cors_of(&r), CORS);
    let text = r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(text.starts_with("Bad request: The body is not JSON encoded (expected ident at line 1 column 2).\n\n# Usage\n\n"), "{text}");
    assert!(text.ends_with("Produce the request to a NATS topic and optionally wait for the response.\n\nExpects a JSON encoded CloudEvent in the HTTP body.\n\n"));
    let r = rig.http.post(rig.url("/pub")).json(&json!({"id": 1})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let text = r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(text.starts_with("Bad request: The body is a valid JSON object but does not look like a CloudEvent.\n"), "{text}");
}

#[tokio::test]
async fn a_server_outage_gives_503_then_publishing_recovers() {
    let mut n = nats().await;
    let rig = gateway(Some(&n.url)).await;
    wait_ready(&rig).await;
    n.server.stop().await;
    let report = wait_down(&rig, "nats-target").await;
    assert_eq!(report["sources"]["nats-target"]["status"], "down", "{report}");
    let r = rig.http.post(rig.url("/pub")).json(&event("during")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "the NATS server is not reachable"}));

    n.server.restart().await;
    wait_ready(&rig).await;
    // A fresh subscriber: the test's first client reconnects at its own pace.
    let mut fresh = Producer::spawn("nats_client.py", &format!("nats://{}", n.url)).await;
    fresh.ok(&json!({"op": "subscribe", "subject": "rig.requests"})).await;
    let r = rig.http.post(rig.url("/pub")).json(&event("after")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let got = fresh.query(&json!({"op": "next", "subject": "rig.requests"})).await;
    assert!(got["body"].as_str().unwrap().contains("\"after\""));
}

#[tokio::test]
async fn nats_target_without_nats_is_a_clear_500() {
    let rig = gateway(None).await;
    let r = rig.http.post(rig.url("/pub")).json(&event("1")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "target nats is not available: NATS_SERVERS is not set"}));
}
