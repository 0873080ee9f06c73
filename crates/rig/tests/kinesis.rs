//! The Kinesis consumer against a local Kinesis (moto in server mode, PyPI)
//! and a real producer (boto3): events reach SSE and WebSocket clients
//! re-serialised with a traceparent; a service restart (the stream is lost and
//! re-created) is survived.

mod common;

use common::{brokers::*, *};
use serde_json::{json, Value};

const STREAM: &str = "rig-test";

struct Kinesis {
    server: Broker,
    producer: Producer,
    endpoint: String,
}

async fn kinesis() -> Kinesis {
    require_python_modules("boto3", "boto3");
    let (server, endpoint) = Broker::moto().await;
    let mut producer = Producer::spawn("kinesis_producer.py", &endpoint).await;
    producer.ok(&json!({"op": "create_stream", "stream": STREAM})).await;
    Kinesis { server, producer, endpoint }
}

async fn gateway(k: &Kinesis) -> TestRig {
    require_aws_credentials();
    TestRig::start(&[
        ("KINESIS_ENABLED", "true"),
        ("KINESIS_STREAM", STREAM),
        ("KINESIS_ENDPOINT", &k.endpoint),
        ("RIG_KINESIS_POLL_INTERVAL_MS", "200"),
        ("RIG_SOURCE_BACKOFF_MAX_MS", "500"),
    ])
    .await
}

fn put(event: &str) -> Value {
    json!({"op": "put", "stream": STREAM, "data": event})
}

fn warmup(n: u32) -> Value {
    put(&warmup_event(n).to_string())
}

#[tokio::test]
async fn events_reach_sse_and_websocket_with_a_traceparent() {
    let mut k = kinesis().await;
    let rig = gateway(&k).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    let mut ws = ws_connect(&ws_subscribed(&rig, &["greeting"])).await;
    ws_greeted(&mut ws).await;
    warm_up(&mut k.producer, &mut sse, warmup).await;
    wait_ready(&rig).await;

    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    k.producer
        .ok(&put(&json!({"type": "greeting", "specversion": "0.2", "source": "/k", "id": "1",
        "traceparent": parent, "tracestate": "a=b", "data": {"name": "alice"}})
        .to_string()))
        .await;
    k.producer.ok(&put("not an event")).await;
    k.producer.ok(&put(r#"{"cloudEventsVersion":"0.1","eventType":"greeting","source":"/k","eventID":"2"}"#)).await;

    let first = next_real(&mut sse).await;
    assert!(
        first.data.starts_with(
            r#"{"data":{"name":"alice"},"id":"1","source":"/k","specversion":"0.2","traceparent":"00-0af7651916cd43dd8448eb211c80319c-"#
        ),
        "sorted keys, same trace: {}",
        first.data
    );
    assert!(!first.data.contains("tracestate"));
    let second = next_real(&mut sse).await.json();
    assert_eq!(second["eventID"], "2");
    assert!(second["traceparent"].as_str().unwrap().starts_with("00-"), "{second}");
    assert_eq!(ws_next_real(&mut ws).await["id"], "1");
    assert_eq!(ws_next_real(&mut ws).await["eventID"], "2");
}

#[tokio::test]
async fn a_service_restart_is_reported_on_health_and_delivery_resumes() {
    let mut k = kinesis().await;
    let rig = gateway(&k).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    warm_up(&mut k.producer, &mut sse, warmup).await;
    wait_ready(&rig).await;

    k.server.stop().await;
    let report = wait_down(&rig, "kinesis").await;
    assert_eq!(report["sources"]["kinesis"]["status"], "down", "{report}");
    assert_eq!(rig.http.get(rig.url("/_rig/health")).send().await.unwrap().status(), 200);

    k.server.restart().await;
    k.producer.ok(&json!({"op": "create_stream", "stream": STREAM})).await;
    warm_up(&mut k.producer, &mut sse, warmup).await;
    wait_ready(&rig).await;
    k.producer.ok(&put(&greeting("after", json!({})).to_string())).await;
    assert_eq!(next_real(&mut sse).await.json()["id"], "after");
}
