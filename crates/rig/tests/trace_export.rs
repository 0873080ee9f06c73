//! Tracing: the spans of one event, from the HTTP publish to its delivery,
//! reach a real OTLP/HTTP receiver (spans decoded against the OTLP schema by
//! opentelemetry-proto) and a Zipkin endpoint, inside the caller's trace.

mod common;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use common::{brokers::*, *};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// The receiver process and its base URL.
struct Receiver {
    _child: Child,
    url: String,
}

impl Receiver {
    async fn start() -> Receiver {
        require_python_modules("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "opentelemetry-proto");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/otlp_receiver.py");
        let mut child = Command::new(python()).arg(script).stdout(Stdio::piped()).kill_on_drop(true).spawn().expect("python3 runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
        Receiver { _child: child, url: format!("http://127.0.0.1:{}", port.trim()) }
    }

    /// Waits until spans of `trace` satisfying `done` have arrived; returns (otlp, zipkin) spans of that trace.
    async fn spans_of(&self, trace: &str, done: impl Fn(&[Value], &[Value]) -> bool) -> (Vec<Value>, Vec<Value>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let all: Value = reqwest::get(format!("{}/spans", self.url)).await.unwrap().json().await.unwrap();
            let pick =
                |key: &str| -> Vec<Value> { all[key].as_array().unwrap().iter().filter(|s| s["traceId"] == trace).cloned().collect() };
            let (otlp, zipkin) = (pick("otlp"), pick("zipkin"));
            if done(&otlp, &zipkin) {
                return (otlp, zipkin);
            }
            assert!(Instant::now() < deadline, "spans of trace {trace} did not arrive: {all}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no span {name} in {spans:?}"))
}

fn attr(span: &Value, key: &str) -> Value {
    let a = span["attributes"].as_array().unwrap().iter().find(|a| a["key"] == key);
    a.map(|a| a["value"].clone()).unwrap_or(Value::Null)
}

async fn gateway(receiver: &Receiver) -> TestRig {
    TestRig::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=rig-test"),
        ("OTEL_SERVICE_NAME", "rig-under-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("ZIPKIN_ADDR", &format!("{}/api/v2/spans", receiver.url)),
    ])
    .await
}

async fn subscriber(rig: &TestRig) -> SseClient {
    let subs = enc(&json!([{ "eventType": "greeting" }]).to_string());
    let mut sse = SseClient::connect(&rig.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
    sse.greeted().await;
    sse
}

#[tokio::test]
async fn one_published_event_is_one_trace_from_request_to_delivery() {
    let receiver = Receiver::start().await;
    let rig = gateway(&receiver).await;
    let mut sse = subscriber(&rig).await;

    let r = rig
        .http
        .post(rig.url("/_rig/v1/events"))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .header("tracestate", "vendor=1")
        .body(greeting("traced", json!({"n": 1})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "traced");

    let (otlp, zipkin) = receiver.spans_of(TRACE, |o, z| o.len() >= 2 && z.len() >= 2).await;
    let server = named(&otlp, "POST /_rig/v1/events");
    let dispatch = named(&otlp, "rig.dispatch");
    assert_eq!(server["kind"], "SPAN_KIND_SERVER");
    assert_eq!(server["parentSpanId"], PARENT, "the server span continues the caller's span");
    assert_eq!(server["traceState"], "vendor=1");
    assert_eq!(dispatch["parentSpanId"], server["spanId"], "delivery happens inside the request's span");
    assert_eq!(attr(dispatch, "rig.recipients")["intValue"], "1");
    assert_eq!(attr(dispatch, "cloudevents.event_id")["stringValue"], "traced");
    assert_eq!(attr(dispatch, "cloudevents.event_type")["stringValue"], "greeting");
    assert_eq!(server["service"], "rig-under-test");
    assert_eq!(server["headers"]["x-tenant"], "rig-test", "OTEL_EXPORTER_OTLP_HEADERS are sent");
    let start: u64 = dispatch["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u64 = dispatch["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(end >= start && start > 0);

    let z = zipkin.iter().find(|s| s["name"] == "rig.dispatch").expect("Zipkin gets the same spans");
    assert_eq!(z["parentId"], server["spanId"]);
    assert_eq!(z["localEndpoint"]["serviceName"], "rig-under-test");
}

#[tokio::test]
async fn an_event_carrying_a_traceparent_is_traced_in_its_own_trace() {
    let receiver = Receiver::start().await;
    let rig = gateway(&receiver).await;
    let mut sse = subscriber(&rig).await;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let unsampled = "11111111111111111111111111111111";

    // Unsampled first: nothing of it may be exported.
    let mut quiet = greeting("quiet", json!({}));
    quiet["traceparent"] = format!("00-{unsampled}-b7ad6b7169203331-00").into();
    rig.publish(&quiet).await;
    let mut event = greeting("extension", json!({}));
    event["traceparent"] = format!("00-{trace}-b7ad6b7169203331-01").into();
    let r =
        rig.http.post(rig.api_url("/v3/messages")).header("content-type", "application/json").body(event.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "quiet");
    let delivered = sse.next_event().await.unwrap().json();
    assert_eq!(delivered["traceparent"], event["traceparent"], "the event reaches the frontend unchanged");

    let (otlp, _) = receiver.spans_of(trace, |o, _| o.len() >= 2).await;
    let server = named(&otlp, "POST /v3/messages");
    assert_eq!(server["parentSpanId"], "b7ad6b7169203331");
    assert_eq!(named(&otlp, "rig.dispatch")["parentSpanId"], server["spanId"]);
    let all: Value = reqwest::get(format!("{}/spans", receiver.url)).await.unwrap().json().await.unwrap();
    assert!(!all["otlp"].as_array().unwrap().iter().any(|s| s["traceId"] == unsampled), "an unsampled trace must not be exported");
}

#[tokio::test]
async fn without_an_exporter_nothing_is_traced_and_metrics_say_so() {
    let rig = TestRig::start(&[]).await;
    assert!(!rig.app.state.tracer.enabled());
    let metrics = rig.http.get(rig.api_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("rig_spans_exported_total"), "no tracing metrics without an exporter");
}
