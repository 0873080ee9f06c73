//! Every series the Grafana dashboards query is exported by `/metrics` after
//! real traffic: ours (monitoring/grafana/rig.json) and those of RIG's own
//! dashboards, so a RIG user's Grafana keeps showing data.

mod common;

use std::collections::BTreeSet;

use common::{api_def, backend::Backend, brokers::Broker, process::Gateway, SseClient};
use serde_json::{json, Value};

/// The metric names RIG 3.0's dashboards query (Accenture/reactive-interaction-gateway,
/// monitoring/metrics/dashboards/events.json, proxy.json, subscriptions.json;
/// resources.json charts the Erlang VM and cAdvisor, which have no counterpart here).
const RIG_DASHBOARDS: &[&str] = &[
    "rig_consumed_events_total",
    "rig_consumed_events_failed_total",
    "rig_consumed_events_forwarded_total",
    "rig_produced_events_total",
    "rig_produced_events_failed_total",
    "rig_consumed_event_processing_duration_milliseconds_bucket",
    "rig_proxy_requests_total",
    "rig_subscriptions_total",
    "rig_distributed_set_items_total",
    "rig_distributed_set_items_current",
];

/// Metric names in a PromQL expression (functions, labels and keywords are not `rig_`/`process_`).
fn names_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        let starts = (rest.starts_with("rig_") || rest.starts_with("process_"))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts {
            let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            out.push(rest[..len].to_string());
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

fn dashboard_names() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../monitoring/grafana/rig.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            names.extend(names_in(target["expr"].as_str().unwrap()));
        }
    }
    names
}

#[test]
fn promql_names_are_found() {
    assert_eq!(names_in("sum by (le) (rate(rig_a_bucket[5m])) / process_max_fds"), ["rig_a_bucket", "process_max_fds"]);
    assert!(dashboard_names().len() > 10);
}

#[tokio::test]
async fn every_series_a_dashboard_queries_is_exported_after_traffic() {
    let dead_peer = common::backend::dead_port();
    let cluster_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    // A real broker: the Kafka source reports in (rig_source_up) and the request log produces to it.
    let (_broker, bootstrap) = Broker::tansu().await;
    let backend = Backend::ok().await;
    let api = api_def("b", backend.port(), json!([{"id": "x", "method": "GET", "path_regex": "/backend"}]));
    let g = Gateway::spawn(&[
        ("PROXY_CONFIG_FILE", &json!([api]).to_string()),
        ("REQUEST_LOG", "kafka"),
        ("KAFKA_BROKERS", &bootstrap),
        ("KAFKA_SOURCE_TOPICS", "rig-dash"),
        ("KAFKA_LOG_TOPIC", "rig-dash-log"),
        ("NODE_COOKIE", "dashboards"),
        ("NODE_HOST", "127.0.0.1"),
        ("RIG_CLUSTER_PORT", &cluster_port),
        ("RIG_CLUSTER_PEERS", &format!("127.0.0.1:{dead_peer}")),
    ]);
    let http = reqwest::Client::new();
    // A cluster node takes publishes once ready (its seed never answers: it waits a few gossip rounds).
    let deadline = std::time::Instant::now() + common::brokers::BROKER_PATIENCE;
    while http.get(g.api_url("/readyz")).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(std::time::Instant::now() < deadline, "the gateway did not become ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Traffic: a subscriber, a publish it receives, a proxied request, a blacklisting.
    let subs = common::enc(r#"[{"eventType":"dash"}]"#);
    let mut sse = SseClient::connect(&g.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
    sse.greeted().await;
    let event = json!({"specversion": "1.0", "type": "dash", "source": "/d", "id": "1"});
    assert_eq!(http.post(g.url("/_rig/v1/events")).json(&event).send().await.unwrap().status(), 202);
    assert_eq!(sse.next_event().await.unwrap().json()["id"], "1");
    assert_eq!(http.get(g.url("/backend")).send().await.unwrap().status(), 200);
    let r = http.post(g.api_url("/v3/session-blacklist")).json(&json!({"sessionId": "s", "validityInSeconds": 60})).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    // The request log's message is produced in the background: poll (bounded) until every series is there.
    let wanted: Vec<String> = dashboard_names().into_iter().chain(RIG_DASHBOARDS.iter().map(|s| s.to_string())).collect();
    let deadline = std::time::Instant::now() + common::brokers::BROKER_PATIENCE;
    loop {
        let text = http.get(g.api_url("/metrics")).send().await.unwrap().text().await.unwrap();
        let exported: BTreeSet<&str> =
            text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).filter_map(|l| l.split(['{', ' ']).next()).collect();
        let missing: Vec<&String> = wanted.iter().filter(|n| !exported.contains(n.as_str())).collect();
        if missing.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not exported after traffic: {missing:?}\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
