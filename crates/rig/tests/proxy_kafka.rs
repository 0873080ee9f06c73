//! The proxy's Kafka side against a real broker (tansu) and a real client
//! (confluent-kafka): the `kafka` target produces the enriched event (RIG's
//! partitioner, Avro through a schema registry), `response_from: kafka` takes
//! the response from the response topic (kafka and http targets), the request
//! log goes to Kafka, and a broker outage gives clean errors, then recovers.

mod common;

use std::{net::SocketAddr, time::Instant};

use axum::{extract::RawQuery, http::StatusCode, routing::get, Router};
use common::{brokers::*, *};
use serde_json::{json, Value};

/// librdkafka settings for quick group joins in tests (DESIGN.md). `earliest`:
/// a response produced before the gateway's response consumer joined its
/// group is still read (RIG and the default start new groups at `latest`).
const FAST: &str = "session.timeout.ms=6000,heartbeat.interval.ms=500,topic.metadata.refresh.interval.ms=1000,auto.offset.reset=earliest";
const TOPIC: &str = "rig-test";
const RESPONSES: &str = "rig-proxy-response";
const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

struct Kafka {
    broker: Broker,
    client: Producer,
    bootstrap: String,
}

async fn kafka(topics: &[(&str, u32)]) -> Kafka {
    require_python_modules("confluent_kafka, fastavro", "confluent-kafka, fastavro");
    let (broker, bootstrap) = Broker::tansu().await;
    let mut client = Producer::spawn("kafka_producer.py", &bootstrap).await;
    for (topic, partitions) in topics {
        client.ok(&json!({"op": "create_topic", "topic": topic, "partitions": partitions})).await;
    }
    Kafka { broker, client, bootstrap }
}

/// An API definition (the `proxy` part is required, even when unused).
fn api(id: &str, endpoints: Value) -> Value {
    json!({"id": id, "name": id, "proxy": {"target_url": "localhost", "port": 1}, "version_data": {"default": {"endpoints": endpoints}}})
}

async fn gateway(k: &Kafka, apis: &[Value], extra: &[(&str, &str)]) -> TestRig {
    let config = Value::Array(apis.to_vec()).to_string();
    let mut vars = vec![
        ("KAFKA_BROKERS", k.bootstrap.as_str()),
        ("KAFKA_SOURCE_TOPICS", "rig-unused"),
        ("RIG_KAFKA_CONFIG", FAST),
        ("RIG_SOURCE_BACKOFF_MAX_MS", "500"),
        ("PROXY_CONFIG_FILE", &config),
    ];
    vars.extend_from_slice(extra);
    TestRig::start(&vars).await
}

fn event(id: &str, extra: Value) -> Value {
    let mut e = json!({"specversion": "0.2", "type": "com.example.test", "source": "/rig-test", "id": id,
                       "time": "2018-04-05T17:31:00Z", "data": {"foo": "bar"}});
    e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    e
}

async fn read(k: &mut Kafka, topic: &str, count: usize) -> Vec<Value> {
    let got = k.client.query(&json!({"op": "consume", "topic": topic, "count": count, "timeout": 20})).await;
    let messages = got["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), count, "messages on {topic}: {messages:?}");
    messages
}

fn value(message: &Value) -> Value {
    serde_json::from_str(message["value"].as_str().unwrap()).unwrap()
}

async fn metrics(rig: &TestRig) -> String {
    rig.http.get(rig.api_url("/metrics")).send().await.unwrap().text().await.unwrap()
}

/// The value of the sample starting with `series` (0 when absent).
fn sample(metrics: &str, series: &str) -> u64 {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
}

/// Waits until the gateway's response consumer reads the response topic: it
/// skips (and counts) a message that is not a response.
async fn responses_ready(rig: &TestRig, k: &mut Kafka) {
    k.client.ok(&json!({"op": "produce", "topic": RESPONSES, "value": "not a response"})).await;
    let deadline = Instant::now() + BROKER_PATIENCE;
    while sample(&metrics(rig).await, r#"rig_proxy_kafka_responses_total{result="rejected"}"#) == 0 {
        assert!(Instant::now() < deadline, "the response consumer never read {RESPONSES}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn reply(correlation: &str, code: &str, body: &str) -> Value {
    json!({"op": "produce", "topic": RESPONSES, "value": body, "headers": [
        ["rig-correlation", correlation], ["rig-response-code", code], ["content-type", "application/json;charset=utf-8"]]})
}

fn cors_of(r: &reqwest::Response) -> [String; 3] {
    ["origin", "methods", "headers"]
        .map(|h| r.headers().get(format!("access-control-allow-{h}")).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default())
}

const CORS: [&str; 3] = ["*", "*", "content-type,authorization"];

/// The `error` of a JSON error body.
async fn error_of(r: reqwest::Response) -> String {
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn kafka_target_produces_the_enriched_event() {
    let mut k = kafka(&[(TOPIC, 1)]).await;
    let endpoints = json!([
        {"id": "publish", "method": "POST", "path_regex": "/publish/(.+)", "path_replacement": "/events/\\1", "target": "kafka", "topic": TOPIC},
        {"id": "preflight", "method": "OPTIONS", "path_regex": "/publish/(.+)", "target": "kafka", "topic": TOPIC}
    ]);
    let rig = gateway(&k, &[api("kafka-api", endpoints)], &[]).await;
    let url = rig.url("/publish/x?user=alice&x=1");

    // CORS preflight: 204, nothing produced.
    let r = rig.http.request(reqwest::Method::OPTIONS, &url).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(cors_of(&r), CORS);
    assert_eq!(r.text().await.unwrap(), "");

    // Not a CloudEvent: RIG's texts with the usage help, in the JSON error body.
    let r = rig.http.post(&url).body("{nope").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(cors_of(&r), CORS);
    let text = error_of(r).await;
    assert!(
        text.starts_with("Bad request: expected a JSON encoded request body.\n\n# Usage\n\nProduce the request to a Kafka topic"),
        "{text}"
    );
    let r = rig.http.post(&url).body(r#"{"cloudEventsVersion":"0.1"}"#).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(error_of(r).await.starts_with("Bad request: the body does not look like a CloudEvent.\n\n# Usage\n\n"));

    let sent = event("069711bf", json!({"rig": {"target_partition": "test_key", "stale": true}}));
    let r = rig.http.post(&url).header("traceparent", PARENT).header("x-custom", "yes").json(&sent).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(cors_of(&r), CORS);
    assert_eq!(r.text().await.unwrap(), "Accepted.");

    let messages = read(&mut k, TOPIC, 1).await;
    assert_eq!(messages[0]["key"], "test_key");
    assert!(messages[0]["headers"].as_array().unwrap().is_empty(), "structured mode: no headers");
    let e = value(&messages[0]);
    assert_eq!((&e["type"], &e["id"], &e["data"]), (&json!("com.example.test"), &json!("069711bf"), &json!({"foo": "bar"})));
    let rig_ext = &e["rig"];
    let port = rig.app.inbound_addr.port();
    assert_eq!(rig_ext["path"], "/events/x", "the rewritten path");
    assert_eq!(rig_ext["query"], "user=alice&x=1");
    assert_eq!(rig_ext["method"], "POST");
    assert_eq!(rig_ext["remoteip"], "127.0.0.1");
    assert_eq!((&rig_ext["host"], &rig_ext["port"], &rig_ext["scheme"]), (&json!("127.0.0.1"), &json!(port), &json!("http")));
    assert!(rig_ext["correlation"].as_str().unwrap().len() > 20, "{rig_ext}");
    assert!(rig_ext.get("stale").is_none() && rig_ext.get("target_partition").is_none(), "replaced, not merged");
    let headers = rig_ext["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["host", format!("127.0.0.1:{port}")])), "{headers:?}");
    assert!(headers.contains(&json!(["x-custom", "yes"])), "{headers:?}");
    let traceparent = e["traceparent"].as_str().unwrap();
    assert!(traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && !traceparent.contains("b7ad6b7169203331"), "{traceparent}");

    let m = metrics(&rig).await;
    assert_eq!(sample(&m, r#"rig_produced_events_total{target="kafka",topic="rig-test"}"#), 1, "{m}");
    assert_eq!(
        sample(&m, r#"rig_proxy_requests_total{method="POST",path="/publish/x",target="kafka",response_from="http",status="bad_request"}"#),
        2,
        "{m}"
    );
    wait_ready(&rig).await; // producer and response consumer report in
}

#[tokio::test]
async fn keyed_events_follow_rigs_partitioner_and_unkeyed_ones_spread() {
    let mut k = kafka(&[(TOPIC, 3)]).await;
    let endpoints = json!([{"id": "p", "method": "POST", "path_regex": "/p", "target": "kafka", "topic": TOPIC}]);
    let rig = gateway(&k, &[api("a", endpoints)], &[]).await;
    let keys = ["test_key", "alice", "bob", "carol", "dave", "erin", "frank", "42"];
    for key in keys {
        let r = rig.http.post(rig.url("/p")).json(&event(key, json!({"rig": {"target_partition": key}}))).send().await.unwrap();
        assert_eq!(r.status(), 202);
    }
    for i in 0..24 {
        let r = rig.http.post(rig.url("/p")).json(&event(&format!("u{i}"), json!({}))).send().await.unwrap();
        assert_eq!(r.status(), 202);
    }
    let messages = read(&mut k, TOPIC, keys.len() + 24).await;
    let mut unkeyed_partitions = std::collections::BTreeSet::new();
    for m in &messages {
        let id = value(m)["id"].as_str().unwrap().to_string();
        let partition = m["partition"].as_u64().unwrap() as u32;
        if id.starts_with('u') {
            assert!(m["key"].is_null());
            unkeyed_partitions.insert(partition);
        } else {
            // RIG: abs(murmur3_x86_32(key)) mod partitions.
            assert_eq!(partition, rig_core::binding::partition::murmur3_x86_32(id.as_bytes(), 0) % 3, "key {id}");
            assert_eq!(m["key"], id.as_str());
        }
    }
    assert!(unkeyed_partitions.len() > 1, "24 unkeyed events all on one partition: {unkeyed_partitions:?}");
}

/// An HTTP backend that answers 202 and passes on the correlation id it got.
async fn accepting_backend() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new().route(
        "/work",
        get(move |RawQuery(q): RawQuery| {
            let tx = tx.clone();
            async move {
                let q = q.unwrap_or_default();
                let id = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "correlation").map(|(_, v)| v.into_owned());
                let _ = tx.send(id.unwrap_or_default());
                (StatusCode::ACCEPTED, "the client never sees this")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, rx)
}

#[tokio::test]
async fn responses_come_from_the_response_topic() {
    let mut k = kafka(&[(TOPIC, 1), (RESPONSES, 1)]).await;
    let (backend, mut correlations) = accepting_backend().await;
    let http_api = json!({"id": "http-api", "name": "http-api", "proxy": {"target_url": "127.0.0.1", "port": backend.port()},
        "version_data": {"default": {"endpoints": [{"id": "w", "method": "GET", "path_regex": "/work", "response_from": "kafka"}]}}});
    let rig = gateway(&k, &[http_api], &[("PROXY_KAFKA_RESPONSE_TIMEOUT", "4000")]).await;
    // The kafka-target API is defined at runtime through the API port.
    let kafka_api = api(
        "kafka-api",
        json!([{"id": "k", "method": "POST", "path_regex": "/ask", "target": "kafka", "topic": TOPIC, "response_from": "kafka"}]),
    );
    let r = rig.http.post(rig.api_url("/v3/apis")).json(&kafka_api).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    responses_ready(&rig, &mut k).await;

    // kafka target -> a service reads the request and answers on the response topic.
    let ask = |body: Value| {
        let (http, url) = (rig.http.clone(), rig.url("/ask"));
        tokio::spawn(async move { http.post(url).json(&body).send().await.unwrap() })
    };
    let pending = ask(event("q1", json!({})));
    let request = value(&read(&mut k, TOPIC, 1).await[0]);
    let correlation = request["rig"]["correlation"].as_str().unwrap();
    k.client.ok(&reply(correlation, "201", r#"{"message":"async"}"#)).await;
    let r = pending.await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/json;charset=utf-8");
    assert_eq!(cors_of(&r), CORS);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"message": "async"}));

    // A bad status code: the message is skipped, the client times out (504).
    let pending = ask(event("q2", json!({})));
    let request = value(&read(&mut k, TOPIC, 1).await[0]);
    k.client.ok(&reply(request["rig"]["correlation"].as_str().unwrap(), "abc201", "never seen")).await;
    let r = pending.await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(cors_of(&r), CORS);
    assert_eq!(error_of(r).await, "Gateway timeout: no asynchronous response within 4000 ms.");
    let m = metrics(&rig).await;
    assert_eq!(sample(&m, r#"rig_proxy_kafka_responses_total{result="rejected"}"#), 2, "junk probe and abc201: {m}");
    assert_eq!(
        sample(&m, r#"rig_proxy_requests_total{method="POST",path="/ask",target="kafka",response_from="kafka",status="response_timeout"}"#),
        1
    );

    // http target: the backend's 202 is not the answer; the Kafka response is.
    let pending = {
        let (http, url) = (rig.http.clone(), rig.url("/work"));
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    let correlation = tokio::time::timeout(PATIENCE, correlations.recv()).await.unwrap().unwrap();
    assert!(!correlation.is_empty(), "the backend got a correlation id");
    k.client.ok(&reply(&correlation, "200", "from kafka")).await;
    let r = pending.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "from kafka");
    let m = metrics(&rig).await;
    assert_eq!(sample(&m, r#"rig_proxy_kafka_responses_total{result="delivered"}"#), 2, "{m}");
}

#[tokio::test]
async fn avro_with_the_endpoint_schema_when_kafka_serializer_is_avro() {
    let schema = json!({"type": "record", "name": "Foo", "fields": [{"name": "foo", "type": "string"}]});
    let registry = registry::start_with_subjects(&[(7, schema.clone())], &[("rig-avro-value", 7)]).await;
    let mut k = kafka(&[(TOPIC, 1)]).await;
    let endpoints = json!([
        {"id": "avro", "method": "POST", "path_regex": "/avro", "target": "kafka", "topic": TOPIC, "schema": "rig-avro-value"},
        {"id": "json", "method": "POST", "path_regex": "/json", "target": "kafka", "topic": TOPIC},
        {"id": "unknown", "method": "POST", "path_regex": "/unknown-subject", "target": "kafka", "topic": TOPIC, "schema": "nope"}
    ]);
    let registry = registry.to_string();
    let rig = gateway(&k, &[api("a", endpoints)], &[("KAFKA_SERIALIZER", "avro"), ("KAFKA_SCHEMA_REGISTRY_HOST", &registry)]).await;
    let r = rig.http.post(rig.url("/avro")).json(&event("a1", json!({"contenttype": "application/json"}))).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let r = rig.http.post(rig.url("/json")).json(&event("j1", json!({"contenttype": "application/json"}))).send().await.unwrap();
    assert_eq!(r.status(), 202, "no schema on the endpoint: structured JSON");
    let r = rig.http.post(rig.url("/unknown-subject")).json(&event("x", json!({}))).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let error = r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(error.contains("subject \"nope\"") && error.contains("404"), "{error}");

    let got = k.client.query(&json!({"op": "consume", "topic": TOPIC, "count": 2, "timeout": 20, "avro_schema": schema})).await;
    let (avro, plain) = (&got["messages"][0], &got["messages"][1]);
    assert_eq!(avro["avro"], json!({"foo": "bar"}), "data Avro-encoded with schema 7: {avro}");
    let headers: std::collections::HashMap<String, String> =
        avro["headers"].as_array().unwrap().iter().map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into())).collect();
    assert_eq!(headers["content-type"], "avro/binary");
    assert_eq!((headers["ce_id"].as_str(), headers["ce_specversion"].as_str()), ("a1", "0.2"));
    let rig_ext: Value = serde_json::from_str(&headers["ce_rig"]).unwrap();
    assert_eq!(rig_ext["path"], "/avro");
    assert!(!headers.contains_key("ce_data"));
    assert_eq!(plain["headers"], json!([["ce_contenttype", "application/json"]]), "structured: only ce_contenttype");
    assert_eq!(value(plain)["id"], "j1");
}

#[tokio::test]
async fn the_request_log_goes_to_kafka() {
    let mut k = kafka(&[("rig-request-log", 1)]).await;
    let backend = common::http_server::TestServer::start().await;
    let log_api = json!({"id": "logged", "name": "logged", "proxy": {"target_url": "127.0.0.1", "port": backend.addr.port()},
        "version_data": {"default": {"endpoints": [{"id": "status-endpoint", "method": "POST", "path_regex": "/status/(\\d+)"}]}}});
    let rig = gateway(&k, &[log_api], &[("REQUEST_LOG", "kafka"), ("PROXY_RECV_TIMEOUT", "2000")]).await;
    let r = rig.http.post(rig.url("/status/200")).header("traceparent", PARENT).body("").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let messages = read(&mut k, "rig-request-log", 1).await;
    assert_eq!(messages[0]["key"], "partition", "RIG's key");
    let e = value(&messages[0]);
    assert_eq!((&e["type"], &e["specversion"], &e["source"]), (&json!("com.rig.proxy.api.call"), &json!("0.2"), &json!("/rig")));
    assert_eq!(e["contenttype"], "application/json");
    assert_eq!(e["data"]["endpoint"], json!({"id": "status-endpoint", "method": "POST", "path_regex": "/status/(\\d+)"}));
    assert_eq!((&e["data"]["request_path"], &e["data"]["remote_ip"]), (&json!("/status/200"), &json!("127.0.0.1")));
    assert!(e["traceparent"].as_str().unwrap().contains("0af7651916cd43dd8448eb211c80319c"));
    assert_eq!(e["id"].as_str().unwrap().len(), 36);
    assert!(e["time"].as_str().unwrap().ends_with("+00:00"));
}

#[tokio::test]
async fn a_broker_outage_gives_503_then_producing_recovers() {
    let mut k = kafka(&[(TOPIC, 1)]).await;
    let endpoints = json!([{"id": "p", "method": "POST", "path_regex": "/p", "target": "kafka", "topic": TOPIC}]);
    let rig = gateway(&k, &[api("a", endpoints)], &[("RIG_KAFKA_PRODUCE_TIMEOUT_MS", "1500")]).await;
    assert_eq!(rig.http.post(rig.url("/p")).json(&event("before", json!({}))).send().await.unwrap().status(), 202);

    k.broker.stop().await;
    let started = Instant::now();
    let r = rig.http.post(rig.url("/p")).json(&event("during", json!({}))).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(started.elapsed().as_secs() < 5, "fails within the produce timeout, took {:?}", started.elapsed());
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    let error = r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(error.starts_with("could not produce to Kafka topic rig-test: "), "{error}");
    let report = wait_down(&rig, "kafka-producer").await;
    assert_eq!(report["sources"]["kafka-producer"]["status"], "down", "{report}");
    let m = metrics(&rig).await;
    assert!(sample(&m, r#"rig_produced_events_failed_total{target="kafka",topic="rig-test"}"#) >= 1, "{m}");

    k.broker.restart().await;
    k.client.ok(&json!({"op": "create_topic", "topic": TOPIC})).await;
    let deadline = Instant::now() + BROKER_PATIENCE;
    loop {
        let r = rig.http.post(rig.url("/p")).json(&event("after", json!({}))).send().await.unwrap();
        if r.status() == 202 {
            break;
        }
        assert_eq!(r.status(), 503, "only clean errors while recovering");
        assert!(Instant::now() < deadline, "producing never recovered");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(value(&read(&mut k, TOPIC, 1).await[0])["id"], "after");
    wait_ready(&rig).await;
}

#[tokio::test]
async fn kafka_target_without_kafka_is_a_clear_500() {
    let endpoints = json!([{"id": "p", "method": "POST", "path_regex": "/p", "target": "kafka", "topic": TOPIC}]);
    let config = Value::Array(vec![api("a", endpoints)]).to_string();
    let rig = TestRig::start(&[("PROXY_CONFIG_FILE", &config)]).await;
    let r = rig.http.post(rig.url("/p")).json(&event("1", json!({}))).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(cors_of(&r), CORS);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "target kafka is not available: KAFKA_BROKERS is not set"}));
}
