//! The rest of both HTTP surfaces: health, 404s, the CLI and its docs.

mod common;

use common::*;

#[tokio::test]
async fn health_on_both_ports() {
    let rig = TestRig::start(&[]).await;
    for url in [rig.url("/_rig/health"), rig.api_url("/health")] {
        let r = rig.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(r.text().await.unwrap(), "OK");
    }
}

#[tokio::test]
async fn unknown_routes_get_rig_404_bodies() {
    let rig = TestRig::start(&[]).await;
    for url in [rig.url("/apis/nothing"), rig.url("/_rig/v2/unknown")] {
        let r = rig.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.text().await.unwrap(), r#"{"message":"Not Found"}"#);
    }
    // A wrong method on a /_rig path falls through to the proxy too.
    let r = rig.http.delete(rig.url("/_rig/v1/events")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    for url in [rig.api_url("/v1/messages"), rig.api_url("/nope")] {
        let r = rig.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.text().await.unwrap(), r#"{"errors":{"detail":"Not found"}}"#);
    }
}

fn rig_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_rig"))
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let out = rig_bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for v in rig::support::vars::VARS {
        assert!(text.contains(v.name), "{} missing from --help", v.name);
    }
    assert!(text.contains("INBOUND_PORT") && text.contains("default 4000"));
}

#[test]
fn docs_configuration_md_is_generated_from_the_binary() {
    let out = rig_bin().arg("--config-markdown").output().unwrap();
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(on_disk == generated, "docs/configuration.md is stale: run `cargo run -q -p rig -- --config-markdown > docs/configuration.md`");
}

#[test]
fn bad_configuration_is_reported_by_name_before_binding() {
    let out = rig_bin().env("INBOUND_PORT", "not-a-port").env("EXTRACTORS", "{\"t\": {\"f\": {}}}").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("INBOUND_PORT") && err.contains("EXTRACTORS"), "{err}");
}

#[tokio::test]
async fn metrics_move_with_real_traffic() {
    let rig = TestRig::start(&[]).await;
    let subs = enc(r#"[{"eventType":"greeting"}]"#);
    let mut sse = SseClient::connect(&rig.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
    sse.greeted().await;
    rig.publish(&greeting("1", serde_json::json!({}))).await;
    rig.publish(&greeting("2", serde_json::json!({}))).await;
    rig.publish(&serde_json::json!({"specversion": "0.2", "type": "nobody", "id": "3"})).await;
    sse.next_event().await.unwrap();
    sse.next_event().await.unwrap();
    let r = rig
        .http
        .post(rig.api_url("/v3/session-blacklist"))
        .header("content-type", "application/json")
        .body(r#"{"sessionId":"s","validityInSeconds":60}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = rig.http.get(rig.api_url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    for line in [
        "rig_connections{transport=\"sse\"} 1",
        "rig_subscriptions_total 1",
        "rig_events_published_total 3",
        "rig_frames_queued_total 2",
        "rig_consumed_events_total{source=\"http\"} 3",
        "rig_consumed_events_forwarded_total{source=\"http\"} 2",
        "rig_distributed_set_items_total{name=\"Elixir.SessionBlacklist\"} 1",
        "rig_distributed_set_items_current{name=\"Elixir.SessionBlacklist\"} 1",
        "rig_events_by_type_total{type=\"greeting\"} 2",
        "rig_events_by_type_total{type=\"nobody\"} 1",
        "rig_deliveries_by_type_total{type=\"greeting\"} 2",
        "rig_deliveries_by_type_total{type=\"nobody\"} 0",
        "rig_delivery_latency_seconds_bucket{le=\"+Inf\"} 2",
        "rig_delivery_latency_seconds_count 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("process_resident_memory_bytes "));
    let off = TestRig::start(&[("PROMETHEUS_METRICS_ENABLED", "false")]).await;
    assert_eq!(off.http.get(off.api_url("/metrics")).send().await.unwrap().status(), 404);
}
