//! Three gateway processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 as one
//! cluster: events cross nodes exactly once, a blacklisting on one node closes
//! connections on another (timed), subscription updates and long-polls reach
//! the node holding the connection, a node killed with SIGKILL and restarted
//! recovers the blacklist and replicated state from its peers while the
//! others' clients lose nothing, and a node with the wrong cookie gets nowhere.
//!
//! Nodes are found through `RIG_CLUSTER_PEERS`, except node C in the first
//! test, which uses `DISCOVERY_TYPE=dns` with `DNS_NAME=localhost` (127.0.0.1, node A).

mod common;

use std::{
    collections::HashSet,
    io::{Read, Write},
    process::Command,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{
    cluster::*,
    nodes::{free_cluster_port, peers_list},
    *,
};
use serde_json::{json, Value};

async fn publish(http: &reqwest::Client, node: &Node, event: &Value) {
    publish_at(http, &node.url("/_rig/v1/events"), event).await;
}

async fn blacklist(http: &reqwest::Client, node: &Node, session: &str) {
    let r = http
        .post(node.api_url("/v3/session-blacklist"))
        .header("content-type", "application/json")
        .body(json!({"sessionId": session, "validityInSeconds": 600}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

async fn blacklisted(node: &Node, session: &str) -> bool {
    reqwest::get(node.api_url(&format!("/v3/session-blacklist/{session}"))).await.unwrap().status() == 200
}

fn subscribed(types: &str) -> String {
    let subs: Vec<Value> = types.split(',').map(|t| json!({"eventType": t})).collect();
    format!("/_rig/v1/connection/sse?subscriptions={}", enc(&Value::Array(subs).to_string()))
}

fn ws_subscribed(node: &Node, types: &str) -> String {
    format!("ws://{}{}", node.inbound, subscribed(types).replace("/sse?", "/ws?"))
}

async fn sse_on(node: &Node, types: &str) -> (SseClient, String) {
    let mut c = SseClient::connect(&node.url(&subscribed(types))).await;
    assert_eq!(c.status, 200, "{}", c.body);
    let (token, _) = c.greeted().await;
    (c, token)
}

fn event(ty: &str, id: &str) -> Value {
    json!({"specversion": "0.2", "type": ty, "source": "cluster-test", "id": id, "data": {}})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::test]
async fn three_nodes_act_as_one_gateway() {
    let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let port = free_cluster_port(&ips);
    let peers = peers_list(&ips[..3], port);
    let static_peers = [("RIG_CLUSTER_PEERS", peers.as_str())];
    let dns = [("DISCOVERY_TYPE", "dns"), ("DNS_NAME", "localhost")];
    let a = Node::spawn("127.0.0.1", port, &static_peers);
    let b = Node::spawn("127.0.0.2", port, &static_peers);
    let mut c = Node::spawn("127.0.0.3", port, &dns);
    wait_members(&[&a, &b, &c], 3).await;
    let http = reqwest::Client::new();

    // (1) An event published on C reaches SSE and WebSocket clients on A (and B) exactly once.
    let (mut sse_a, _) = sse_on(&a, "cross").await;
    let mut ws_a = ws_connect(&ws_subscribed(&a, "cross")).await;
    ws_greeted(&mut ws_a).await;
    let (mut sse_b, _) = sse_on(&b, "cross").await;
    publish(&http, &c, &event("cross", "e1")).await;
    publish(&http, &c, &event("cross", "e2")).await;
    for id in ["e1", "e2"] {
        assert_eq!(sse_a.next_event().await.unwrap().id.as_deref(), Some(id));
        assert_eq!(ws_next(&mut ws_a).await["id"], id);
        assert_eq!(sse_b.next_event().await.unwrap().id.as_deref(), Some(id));
    }
    // Exactly once: the next thing each client sees is the next event, no repeat.
    publish(&http, &a, &event("cross", "e3")).await;
    assert_eq!(sse_a.next_event().await.unwrap().id.as_deref(), Some("e3"));
    assert_eq!(ws_next(&mut ws_a).await["id"], "e3");
    assert_eq!(sse_b.next_event().await.unwrap().id.as_deref(), Some("e3"));
    // Forwarded events enter the receiving node's resume window: a client
    // resuming on A after e1 (published on C) gets e2 and e3.
    let mut resumed = SseClient::connect_with(&a.url(&subscribed("cross")), &[("last-event-id", "e1")]).await;
    resumed.greeted().await;
    let replayed: Vec<_> = [resumed.next_event().await.unwrap(), resumed.next_event().await.unwrap()].map(|e| e.id).into();
    assert_eq!(replayed, [Some("e2".to_string()), Some("e3".to_string())]);

    // Cross-node overhead: publish → SSE receipt on A, published on A vs on C.
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for i in 0..40 {
        let (from, into) = if i % 2 == 0 { (&a, &mut local) } else { (&c, &mut remote) };
        let t = Instant::now();
        publish(&http, from, &event("cross", &format!("t{i}"))).await;
        assert_eq!(sse_a.next_event().await.unwrap().id, Some(format!("t{i}")));
        into.push(t.elapsed());
        ws_next(&mut ws_a).await;
        sse_b.next_event().await.unwrap();
    }
    local.sort();
    remote.sort();
    eprintln!(
        "publish → receipt on A (HTTP round trip included, 20 each): published on A p50 {:?} max {:?}; on C p50 {:?} max {:?}",
        percentile(&local, 0.5),
        local[local.len() - 1],
        percentile(&remote, 0.5),
        remote[remote.len() - 1]
    );

    // (2) A blacklisting on B closes a session's connection on A; timed.
    let mut times = Vec::new();
    for i in 0..20 {
        let session = format!("victim-{i}");
        let token = jwt(json!({"jti": session}));
        let mut victim = SseClient::connect(&a.url(&format!("/_rig/v1/connection/sse?jwt={token}"))).await;
        assert_eq!(victim.status, 200);
        victim.greeted().await;
        let t = Instant::now();
        blacklist(&http, &b, &session).await;
        assert_eq!(victim.next_event().await.unwrap().name, "rig.session_killed");
        times.push(t.elapsed());
        assert_eq!(victim.next().await.map(|e| e.name), None, "stream closed");
    }
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    eprintln!("blacklist POST on B → rig.session_killed on A (20 runs, POST round trip included): p50 {p50:?}, p99 {p99:?}");
    assert!(p99 <= Duration::from_millis(200), "blacklist → close p99 {p99:?} exceeds 200 ms");

    // Ending a session (without blacklisting) on C closes its connection on A.
    let token = jwt(json!({"jti": "ended"}));
    let mut ended = SseClient::connect(&a.url(&format!("/_rig/v1/connection/sse?jwt={token}"))).await;
    ended.greeted().await;
    let r = http.delete(c.api_url("/v3/sessions/ended")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ended.next_event().await.unwrap().name, "rig.session_killed");
    assert!(!blacklisted(&a, "ended").await);

    // (3) A subscription update sent to B for a connection on A takes effect.
    let (mut quiet, token) = sse_on(&a, "nothing").await;
    let r = http
        .put(b.url(&format!("/_rig/v1/connection/sse/{token}/subscriptions")))
        .header("content-type", "application/json")
        .body(json!({"subscriptions": [{"eventType": "moved"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    assert_eq!(quiet.next_event().await.unwrap().name, "rig.subscriptions_set");
    publish(&http, &b, &event("moved", "m1")).await;
    assert_eq!(quiet.next_event().await.unwrap().id.as_deref(), Some("m1"));
    // The owner's validation still applies (here: bad JSON → its 400).
    let r = http
        .put(c.url(&format!("/_rig/v1/connection/sse/{token}/subscriptions")))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A long-polling session made on A, polled through B.
    let lp = reqwest::Client::new();
    let start = lp.get(a.url("/_rig/v1/connection/longpolling")).send().await.unwrap();
    let cookies: Vec<String> =
        start.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string()).collect();
    let polled: Value =
        lp.get(b.url("/_rig/v1/connection/longpolling")).header("cookie", cookies.join("; ")).send().await.unwrap().json().await.unwrap();
    assert_eq!(polled["events"][0]["type"], "rig.connection.create", "{polled}");

    // (4) Replicated state: blacklist entries posted to C and to A, and a generic
    // namespace written by a fourth, in-process node that then leaves.
    blacklist(&http, &c, "posted-to-c").await;
    blacklist(&http, &a, "posted-to-a").await;
    let d_peers = peers_list(&ips, port);
    let d = TestRig::start(&[
        ("NODE_HOST", "127.0.0.4"),
        ("RIG_BIND_ADDRESS", "127.0.0.4"),
        ("NODE_COOKIE", COOKIE),
        ("RIG_CLUSTER_PORT", &port.to_string()),
        ("RIG_CLUSTER_PEERS", &d_peers),
    ])
    .await;
    let d_cluster = d.app.state.cluster.clone().expect("D is clustered");
    eventually("D joins", || async { d_cluster.peers().len() == 3 }).await;
    d_cluster.replicate_versioned("generic", "answer", json!({"is": 42}), 1);
    for n in [&a, &b, &c] {
        eventually("the generic entry everywhere", || async {
            get_json(&n.api_url("/v3/cluster/state/generic")).await.1["entries"][0]["value"] == json!({"is": 42})
        })
        .await;
        for s in ["posted-to-c", "posted-to-a"] {
            eventually("blacklist entries everywhere", || blacklisted(n, s)).await;
        }
    }
    drop(d_cluster);
    drop(d); // the writer is gone; its entry lives on in A, B and C.

    // Clients on A (SSE) and B (WebSocket) count every event published to A and B
    // while C is killed and restarted.
    let (mut count_a, _) = sse_on(&a, "during").await;
    let mut count_b = ws_connect(&ws_subscribed(&b, "during")).await;
    ws_greeted(&mut count_b).await;
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let publisher = tokio::spawn({
        let (stop, published, http) = (stop.clone(), published.clone(), http.clone());
        let targets = [a.url("/_rig/v1/events"), b.url("/_rig/v1/events")];
        async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(&targets[(i % 2) as usize])
                    .header("content-type", "application/cloudevents+json")
                    .body(event("during", &format!("d{i}")).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                i += 1;
                published.store(i, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let old_c_token = sse_on(&c, "x").await.1;
    c.kill();
    let restarted = Instant::now();
    c = Node::spawn("127.0.0.3", port, &dns);
    wait_members(&[&c], 3).await;
    for s in ["posted-to-c", "posted-to-a"] {
        eventually("the restarted node recovers the blacklist", || blacklisted(&c, s)).await;
    }
    eventually("the restarted node recovers the generic namespace", || async {
        get_json(&c.api_url("/v3/cluster/state/generic")).await.1["entries"][0]["value"] == json!({"is": 42})
    })
    .await;
    eprintln!("restarted node C recovered blacklist and generic entries {:?} after spawn", restarted.elapsed());
    // A token of the killed node's connection: gone (410), from any node.
    let r = http
        .put(a.url(&format!("/_rig/v1/connection/sse/{old_c_token}/subscriptions")))
        .header("content-type", "application/json")
        .body(json!({"subscriptions": []}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();
    let n = published.load(Ordering::Relaxed);
    publish(&http, &a, &event("during", "end")).await;
    let mut seen_a = Vec::new();
    loop {
        let id = count_a.next_event().await.unwrap().id.unwrap();
        if id == "end" {
            break;
        }
        seen_a.push(id);
    }
    let mut seen_b = Vec::new();
    loop {
        let id = ws_next(&mut count_b).await["id"].as_str().unwrap().to_string();
        if id == "end" {
            break;
        }
        seen_b.push(id);
    }
    let expected: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    eprintln!("events published to A and B during C's restart: {n}; received on A: {}, on B: {}", seen_a.len(), seen_b.len());
    assert_eq!(seen_a.iter().collect::<HashSet<_>>().len(), seen_a.len(), "no duplicates on A");
    let mut sorted_a = seen_a.clone();
    sorted_a.sort_by_key(|id| id[1..].parse::<u64>().unwrap());
    let mut sorted_b = seen_b.clone();
    sorted_b.sort_by_key(|id| id[1..].parse::<u64>().unwrap());
    assert_eq!(sorted_a, expected, "every event, once, on A");
    assert_eq!(sorted_b, expected, "every event, once, on B");
    assert!(n > 10, "the publisher ran during the restart");
}

/// Reads one metric sample (`name{labels} value`) from a node.
async fn metric(node: &Node, sample: &str) -> u64 {
    let text = reqwest::get(node.api_url("/metrics")).await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

#[tokio::test]
async fn a_node_with_the_wrong_cookie_neither_joins_nor_injects() {
    let ips = ["127.0.0.5", "127.0.0.6", "127.0.0.7"];
    let port = free_cluster_port(&ips);
    let peers = peers_list(&ips, port);
    let a = Node::spawn("127.0.0.5", port, &[("RIG_CLUSTER_PEERS", &peers)]);
    let b = Node::spawn("127.0.0.6", port, &[("RIG_CLUSTER_PEERS", &peers)]);
    let stranger = Node::spawn("127.0.0.7", port, &[("RIG_CLUSTER_PEERS", &peers), ("NODE_COOKIE", "guessed")]);
    wait_members(&[&a, &b], 2).await;
    eventually("the stranger's gossip is refused", || async { metric(&a, "rig_cluster_rejected_total{channel=\"gossip\"}").await > 0 })
        .await;
    let http = reqwest::Client::new();
    blacklist(&http, &stranger, "injected").await;
    // Something posted on a member afterwards arrives; the stranger's entry never does.
    blacklist(&http, &a, "legit").await;
    eventually("a member's entry reaches the other member", || blacklisted(&b, "legit")).await;
    for n in [&a, &b] {
        assert!(!blacklisted(n, "injected").await, "entry injected into {}", n.ip);
        assert_eq!(peer_names(n).await.len(), 1, "{} lists only the other member", n.ip);
    }
    assert!(peer_names(&stranger).await.is_empty(), "the stranger sees nobody");
    assert!(!blacklisted(&stranger, "legit").await, "nor does it learn the members' state");

    // A raw peer link with a made-up proof is refused, and counted.
    let peer_addr = format!("127.0.0.5:{port}");
    let before = metric(&a, "rig_cluster_rejected_total{channel=\"peer\"}").await;
    let mut s = std::net::TcpStream::connect(&peer_addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut hello = [0u8; 24];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello[..8], b"RIGPEER2");
    let name = b"anyone";
    let mut answer = Vec::from(&b"RIGPEER2"[..]);
    answer.extend_from_slice(&[7u8; 16]);
    answer.push(0); // not encrypted
    answer.extend_from_slice(&(name.len() as u16).to_be_bytes());
    answer.extend_from_slice(name);
    answer.extend_from_slice(&[0u8; 16]);
    s.write_all(&answer).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "the link is closed without a word");
    eventually("the refusal is counted", || async { metric(&a, "rig_cluster_rejected_total{channel=\"peer\"}").await > before }).await;
}

#[tokio::test]
async fn a_cluster_without_cookie_does_not_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_rig"))
        .envs([("RIG_CLUSTER_PEERS", "127.0.0.1:1"), ("NODE_COOKIE", ""), ("INBOUND_PORT", "0"), ("API_HTTP_PORT", "0")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NODE_COOKIE"), "{err}");
}

/// API definitions made on one node route requests on another, a deactivation
/// spreads the same way, and an asynchronous proxy response POSTed to a node
/// that does not hold the waiting request reaches the one that does.
#[tokio::test]
async fn api_definitions_and_async_responses_cross_nodes() {
    let ips = ["127.0.0.5", "127.0.0.6"];
    let port = free_cluster_port(&ips);
    let peers = peers_list(&ips, port);
    let a = Node::spawn("127.0.0.5", port, &[("RIG_CLUSTER_PEERS", &peers), ("PROXY_HTTP_ASYNC_RESPONSE_TIMEOUT", "5000")]);
    let b = Node::spawn("127.0.0.6", port, &[("RIG_CLUSTER_PEERS", &peers)]);
    wait_members(&[&a, &b], 2).await;
    let http = reqwest::Client::new();

    // The backend answers 202 and posts the real response to node B's internal port.
    let b_api = b.api_url("/v3/responses");
    let backend = backend::Backend::start(move |seen| {
        let url = b_api.clone();
        async move {
            let correlation = seen.params().into_iter().find(|(k, _)| k == "correlation").expect("a correlation parameter").1;
            let r = reqwest::Client::new()
                .post(url)
                .header("rig-correlation", correlation)
                .header("rig-response-code", "201")
                .header("content-type", "application/json")
                .body(r#"{"answered":"via B"}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "B hands the response to A: {}", r.text().await.unwrap());
            axum::http::StatusCode::ACCEPTED
        }
    })
    .await;
    let def = json!({
        "id": "shared", "name": "shared",
        "proxy": {"target_url": "127.0.0.1", "port": backend.port()},
        "version_data": {"default": {"endpoints": [
            {"id": "async", "method": "GET", "path_regex": "/shared/async", "response_from": "http_async"}
        ]}}
    });
    let r = http.post(b.api_url("/v3/apis")).json(&def).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    eventually("the definition made on B reaches A", || async { get_json(&a.api_url("/v3/apis/shared")).await.0 == 200 }).await;

    let r = http.get(a.url("/shared/async")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"answered": "via B"}));

    let r = http.delete(a.api_url("/v3/apis/shared")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    eventually("the deactivation made on A reaches B", || async { get_json(&b.api_url("/v3/apis/shared")).await.0 == 404 }).await;
    assert_eq!(http.get(b.url("/shared/async")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn encrypted_links_deliver_and_a_mismatched_node_is_refused() {
    let ips = ["127.0.0.7", "127.0.0.8", "127.0.0.9"];
    let port = free_cluster_port(&ips);
    let peers = peers_list(&ips, port);
    let encrypted = [("RIG_CLUSTER_PEERS", peers.as_str()), ("RIG_CLUSTER_ENCRYPT", "true")];
    let a = Node::spawn("127.0.0.7", port, &encrypted);
    let b = Node::spawn("127.0.0.8", port, &encrypted);
    wait_members(&[&a, &b], 2).await;
    let http = reqwest::Client::new();
    let (mut on_b, _) = sse_on(&b, "sealed").await;
    publish(&http, &a, &event("sealed", "s1")).await;
    assert_eq!(on_b.next_event().await.unwrap().id.as_deref(), Some("s1"), "the event crosses the encrypted link");

    // Same cookie, plaintext: neither side opens the other's gossip, so it
    // never joins, and the encrypted nodes send it nothing.
    let plain = Node::spawn("127.0.0.9", port, &[("RIG_CLUSTER_PEERS", &peers)]);
    let (mut on_plain, _) = sse_on(&plain, "sealed").await;
    for n in [&a, &plain] {
        eventually("the mismatch is counted", || async { metric(n, "rig_cluster_rejected_total{channel=\"gossip\"}").await > 0 }).await;
    }
    publish(&http, &a, &event("sealed", "s2")).await;
    assert_eq!(on_b.next_event().await.unwrap().id.as_deref(), Some("s2"));
    on_plain.assert_silent(Duration::from_millis(300)).await;
    assert!(peer_names(&plain).await.is_empty() && peer_names(&a).await.len() == 1, "the plaintext node stays out");
}
