//! Events exactly as the official CloudEvents SDKs send them (PyPI
//! `cloudevents` 2.2, npm `cloudevents` 10): HTTP binary and structured mode
//! for spec 0.3 and 1.0 on both ports, Kafka binary and structured through a
//! real broker, and batched mode. Each is received by the SSE subscriber whose
//! subscription matches and not by the one whose does not.

mod common;

use std::{collections::BTreeSet, path::Path, process::Command};

use common::{brokers::*, *};
use serde_json::{json, Value};

const TOPIC: &str = "rig-sdk";
const MATCH: &str = "sdk.match";
const OTHER: &str = "sdk.other";

/// Runs a sender script (off the runtime, which serves the gateway); the event ids it printed.
async fn ids_from(mut cmd: Command) -> Vec<String> {
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("the SDK sender runs");
    assert!(out.status.success(), "sender failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// The JavaScript SDK's directory, its locked dependencies installed.
fn js_sdk() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk");
    if !dir.join("node_modules/cloudevents").exists() {
        let ok = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status().expect("npm runs").success();
        assert!(ok, "npm ci in {}", dir.display());
    }
    dir
}

/// Reads `sse` until the `sentinel` event; the ids of the `MATCH` events before it.
async fn ids_until(sse: &mut SseClient, sentinel: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    loop {
        let e = next_real(sse).await;
        let v = e.json();
        if v["id"] == sentinel {
            return ids;
        }
        if v["type"] == MATCH {
            assert!(ids.insert(v["id"].as_str().unwrap().to_string()), "delivered twice: {v}");
        }
    }
}

/// A batched-mode publish of `body` to `url`.
async fn post_batch(rig: &TestRig, url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    rig.http.post(url).header("content-type", "application/cloudevents-batch+json").body(body).send().await.unwrap()
}

async fn sentinel(rig: &TestRig, id: &str) {
    rig.publish(&json!({"specversion": "1.0", "type": OTHER, "source": "/test", "id": id})).await;
}

#[tokio::test]
async fn every_sdk_mode_is_delivered_by_subscription() {
    require_python_modules("cloudevents.core, confluent_kafka", "cloudevents, confluent-kafka");
    let (_broker, bootstrap, mut producer) = broker_with_topic(TOPIC).await;
    let rig = TestRig::start(&[
        ("KAFKA_BROKERS", bootstrap.as_str()),
        ("KAFKA_SOURCE_TOPICS", TOPIC),
        ("RIG_KAFKA_CONFIG", FAST_GROUP_JOIN),
        ("RIG_SOURCE_BACKOFF_MAX_MS", "500"),
    ])
    .await;
    let mut matching = SseClient::connect(&sse_subscribed(&rig, &[MATCH, OTHER])).await;
    matching.greeted().await;
    let mut other = SseClient::connect(&sse_subscribed(&rig, &[OTHER])).await;
    other.greeted().await;
    let warm = |n: u32| json!({"op": "produce", "topic": TOPIC, "value": warmup_event(n).to_string(), "headers": []});
    warm_up(&mut producer, &mut matching, warm).await;
    wait_ready(&rig).await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/cloudevents_sdk.py");
    let mut sent: BTreeSet<String> = BTreeSet::new();
    // Python over HTTP to the public port and Kafka; then only HTTP, to the internal port.
    let py = |url: String, bootstrap: &str, prefix: &str| {
        let mut c = Command::new(python());
        c.arg(&script).args([url.as_str(), bootstrap, TOPIC, MATCH, prefix]);
        ids_from(c)
    };
    sent.extend(py(rig.url("/_rig/v1/events"), &bootstrap, "public").await);
    sent.extend(py(rig.api_url("/v3/messages"), "-", "internal").await);
    // JavaScript over HTTP, both ports.
    let dir = js_sdk();
    for (url, prefix) in [(rig.url("/_rig/v1/events"), "public"), (rig.api_url("/v3/messages"), "internal")] {
        let mut node = Command::new("node");
        node.arg(dir.join("send.mjs")).args([url.as_str(), MATCH, prefix]).current_dir(&dir);
        sent.extend(ids_from(node).await);
    }
    // Python: 8 HTTP (0.3/1.0 x binary/structured x two APIs) per port, 8 Kafka; JavaScript: 4 per port.
    let expected = sent;
    assert_eq!(expected.len(), 8 + 8 + 8 + 4 + 4, "{expected:?}");
    // Kafka is read asynchronously: the sentinel goes through Kafka too, so it comes after them.
    let end = json!({"specversion": "1.0", "type": OTHER, "source": "/test", "id": "end"});
    producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": end.to_string(), "headers": []})).await;
    let got = ids_until(&mut matching, "end").await;
    assert_eq!(got, expected, "missing: {:?}", expected.difference(&got).collect::<Vec<_>>());
    // The non-matching subscriber saw the sentinel and nothing before it.
    let e = next_real(&mut other).await;
    assert_eq!(e.json()["id"], "end", "a non-matching subscriber got {e:?}");
    // Spec 0.3's attributes reach clients verbatim.
    rig.publish(&json!({"specversion": "0.3", "type": MATCH, "source": "/s", "id": "verbatim", "schemaurl": "https://example.com/s.json",
        "subject": "x", "datacontentencoding": "base64", "data": "aGk="}))
        .await;
    let e = next_real(&mut matching).await.json();
    assert_eq!(
        (&e["schemaurl"], &e["datacontentencoding"], &e["data"]),
        (&json!("https://example.com/s.json"), &json!("base64"), &json!("aGk="))
    );
}

#[tokio::test]
async fn batches_are_dispatched_in_order_and_say_which_event_was_refused() {
    let rig = TestRig::start(&[("RIG_MAX_BATCH_EVENTS", "3")]).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &[MATCH, OTHER])).await;
    sse.greeted().await;
    let event = |id: &str| json!({"specversion": "1.0", "type": MATCH, "source": "/b", "id": id});
    let bad = json!({"specversion": "0.3", "type": MATCH, "id": "no-source"});
    let batch = json!([event("b1"), bad, event("b2")]);
    for url in [rig.url("/_rig/v1/events"), rig.api_url("/v3/messages")] {
        let r = post_batch(&rig, &url, batch.to_string()).await;
        assert_eq!(r.status(), 207, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["accepted"].as_u64(), body["refused"].as_u64()), (Some(2), Some(1)), "{body}");
        assert_eq!(body["results"][1]["status"], 400, "{body}");
        assert!(body["results"][1]["error"].as_str().unwrap().contains("source"), "{body}");
        assert_eq!(body["results"][2]["id"], "b2");
        let ids: Vec<String> =
            [next_real(&mut sse).await, next_real(&mut sse).await].iter().map(|e| e.json()["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids, ["b1", "b2"], "in order, the bad one left out");
    }
    let all_good = json!([event("c1"), event("c2")]).to_string();
    let r = post_batch(&rig, &rig.url("/_rig/v1/events"), all_good).await;
    assert_eq!(r.status(), 202);
    let too_many = json!([event("d1"), event("d2"), event("d3"), event("d4")]).to_string();
    let r = post_batch(&rig, &rig.url("/_rig/v1/events"), too_many).await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("RIG_MAX_BATCH_EVENTS"));
    for (body, what) in [("[]", "empty"), ("{\"not\":\"a list\"}", "not an array")] {
        let r = post_batch(&rig, &rig.url("/_rig/v1/events"), body).await;
        assert_eq!(r.status(), 400, "{what}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string(), "{what}");
    }
    // Nothing of the refused batches was dispatched: the next event is the sentinel.
    sentinel(&rig, "after").await;
    let next: Vec<String> = [next_real(&mut sse).await, next_real(&mut sse).await, next_real(&mut sse).await]
        .iter()
        .map(|e| e.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(next, ["c1", "c2", "after"]);
}

#[tokio::test]
async fn a_request_hyper_would_refuse_gets_a_json_reason() {
    let rig = TestRig::start(&[]).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(rig.app.inbound_addr).await.unwrap();
    s.write_all(b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut answer)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("content-type: application/json"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("malformed HTTP request"), "{body}");
}
