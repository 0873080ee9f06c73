//! The proxy's `kinesis` target against a local Kinesis (moto in server mode)
//! read back with boto3: the enriched event with its trace context, partition
//! key from `rig.target_partition` or a random UUID, and RIG's unconditional
//! `202 Accepted.` (a failed put is only logged and counted).

mod common;

use common::{brokers::*, *};
use serde_json::{json, Value};

const STREAM: &str = "rig-requests";

#[tokio::test]
async fn events_are_put_to_the_stream() {
    require_python_modules("boto3", "boto3");
    let (_server, endpoint) = Broker::moto().await;
    let mut client = Producer::spawn("kinesis_producer.py", &endpoint).await;
    client.ok(&json!({"op": "create_stream", "stream": STREAM})).await;

    require_aws_credentials();
    let endpoints = json!([
        {"id": "put", "method": "POST", "path_regex": "/put", "target": "kinesis", "topic": STREAM},
        {"id": "put-options", "method": "OPTIONS", "path_regex": "/put", "target": "kinesis", "topic": STREAM},
        {"id": "missing", "method": "POST", "path_regex": "/missing", "target": "kinesis", "topic": "no-such-stream"}
    ]);
    let api = json!({"id": "k", "name": "k", "proxy": {"target_url": "localhost", "port": 1}, "version_data": {"default": {"endpoints": endpoints}}});
    let config = json!([api]).to_string();
    let rig = TestRig::start(&[("PROXY_CONFIG_FILE", &config), ("KINESIS_ENDPOINT", &endpoint)]).await;

    let r = rig.http.request(reqwest::Method::OPTIONS, rig.url("/put")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type,authorization");
    let r = rig.http.post(rig.url("/put")).body("[]").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let error = r.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(
        error.starts_with("Bad request: the body does not look like a CloudEvent.\n\n# Usage\n\nProduce the request to a Kinesis topic"),
        "{error}"
    );

    let keyed = json!({"specversion": "0.2", "type": "t", "source": "/s", "id": "k1", "rig": {"target_partition": "user-7"}});
    let r = rig
        .http
        .post(rig.url("/put"))
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .json(&keyed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.text().await.unwrap(), "Accepted.");
    let unkeyed = json!({"specversion": "0.2", "type": "t", "source": "/s", "id": "u1"});
    assert_eq!(rig.http.post(rig.url("/put")).json(&unkeyed).send().await.unwrap().status(), 202);

    let got = client.query(&json!({"op": "read", "stream": STREAM, "count": 2})).await;
    let records = got["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{got}");
    assert_eq!(records[0]["key"], "user-7");
    let e: Value = serde_json::from_str(records[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!((&e["id"], &e["rig"]["path"], &e["rig"]["remoteip"]), (&json!("k1"), &json!("/put"), &json!("127.0.0.1")));
    assert!(e["traceparent"].as_str().unwrap().starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
    let random_key = records[1]["key"].as_str().unwrap();
    assert_eq!((random_key.len(), random_key.as_bytes()[14]), (36, b'4'), "a random UUID: {random_key}");

    // RIG answers 202 even when the put fails; the failure is counted.
    assert_eq!(rig.http.post(rig.url("/missing")).json(&unkeyed).send().await.unwrap().status(), 202);
    let m = rig.http.get(rig.api_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains(r#"rig_produced_events_total{target="kinesis",topic="rig-requests"} 2"#), "{m}");
    assert!(m.contains(r#"rig_produced_events_failed_total{target="kinesis",topic="no-such-stream"} 1"#), "{m}");
}
