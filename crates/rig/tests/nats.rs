//! The NATS consumer against a real nats-server (Debian) and a real publisher
//! (nats-py): events reach SSE and WebSocket clients as their exact JSON text,
//! non-events are dropped, and a server restart mid-stream is survived.

mod common;

use common::{brokers::*, *};
use serde_json::{json, Value};

struct Nats {
    server: Broker,
    publisher: Producer,
    url: String,
}

async fn nats() -> Nats {
    require_python_modules("nats", "nats-py");
    let (server, url) = Broker::nats_server().await;
    let publisher = Producer::spawn("nats_publisher.py", &format!("nats://{url}")).await;
    Nats { server, publisher, url }
}

async fn gateway(n: &Nats) -> TestRig {
    TestRig::start(&[("NATS_SERVERS", n.url.as_str()), ("NATS_SOURCE_TOPICS", "rig, rig-other"), ("RIG_SOURCE_BACKOFF_MAX_MS", "500")])
        .await
}

fn publish(subject: &str, body: &str) -> Value {
    json!({"subject": subject, "body": body})
}

fn warmup(n: u32) -> Value {
    publish("rig", &warmup_event(n).to_string())
}

#[tokio::test]
async fn events_reach_sse_and_websocket_verbatim_from_every_subject() {
    let mut n = nats().await;
    let rig = gateway(&n).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    let mut ws = ws_connect(&ws_subscribed(&rig, &["greeting"])).await;
    ws_greeted(&mut ws).await;
    warm_up(&mut n.publisher, &mut sse, warmup).await;
    wait_ready(&rig).await;

    let texts = [
        // 0.2 with odd spacing and an unknown property: delivered byte for byte.
        "{ \"specversion\": \"0.2\", \"type\": \"greeting\", \"source\": \"/n\", \"id\": \"1\", \"extra\": [1, 2],\n  \"data\": {\"name\": \"alice\"} }",
        r#"{"cloudEventsVersion":"0.1","eventType":"greeting","source":"/n","eventID":"2"}"#,
        r#"{"specversion":"1.0","type":"greeting","source":"/n","id":"3","data":{"name":"carol"}}"#,
    ];
    n.publisher.ok(&publish("rig", texts[0])).await;
    n.publisher.ok(&publish("rig-other", texts[1])).await;
    n.publisher.ok(&publish("rig", "not a cloud event")).await;
    n.publisher.ok(&publish("rig", r#"{"type":"greeting","id":"no-version"}"#)).await;
    n.publisher.ok(&publish("rig", texts[2])).await;
    n.publisher.ok(&publish("unrelated", &greeting("never", json!({})).to_string())).await;

    for text in texts {
        assert_eq!(next_real(&mut sse).await.data, text, "exact text (one data: line per line)");
        let got = ws_next_real(&mut ws).await;
        assert_eq!(got, serde_json::from_str::<Value>(text).unwrap());
    }
    sse.assert_silent(std::time::Duration::from_millis(300)).await;
    let c = rig.app.state.dispatcher.counters(rig::source::Source::Nats);
    assert_eq!(c.failed.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_server_restart_is_reported_on_health_and_delivery_resumes() {
    let mut n = nats().await;
    let rig = gateway(&n).await;
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    warm_up(&mut n.publisher, &mut sse, warmup).await;
    wait_ready(&rig).await;

    n.server.stop().await;
    let report = wait_down(&rig, "nats").await;
    assert_eq!(report["sources"]["nats"]["status"], "down", "{report}");
    assert_eq!(rig.http.get(rig.url("/_rig/health")).send().await.unwrap().status(), 200);

    n.server.restart().await;
    wait_ready(&rig).await;
    warm_up(&mut n.publisher, &mut sse, warmup).await;
    n.publisher.ok(&publish("rig", &greeting("after", json!({})).to_string())).await;
    assert_eq!(next_real(&mut sse).await.json()["id"], "after");
}
