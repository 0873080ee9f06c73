//! RIG 1.x frontends against the gateway: the official phoenix.js clients
//! (npm `phoenix` 1.2.1, RIG 1.x's, and the latest 1.8, see common::phoenix);
//! backends publish plain JSON to Kafka (tansu, produced by confluent-kafka)
//! naming the user.

mod common;

use common::{brokers::*, phoenix::*, *};
use serde_json::{json, Value};

const TOPIC: &str = "rig-phx";

#[tokio::test]
async fn phoenix_js_frontends_get_plain_kafka_messages_for_their_user() {
    require_python_modules("confluent_kafka", "confluent-kafka");
    let (_broker, bootstrap, mut producer) = broker_with_topic(TOPIC).await;
    let rig = TestRig::start(&[
        ("KAFKA_BROKERS", bootstrap.as_str()),
        ("KAFKA_SOURCE_TOPICS", TOPIC),
        ("RIG_KAFKA_CONFIG", FAST_GROUP_JOIN),
        ("RIG_SOURCE_BACKOFF_MAX_MS", "500"),
        ("PRIVILEGED_ROLES", "support"),
    ])
    .await;
    // CloudEvents keep reaching 3.0 frontends; the warm-up also waits for the group assignment.
    let mut sse = SseClient::connect(&sse_subscribed(&rig, &["greeting"])).await;
    sse.greeted().await;
    let warmup = |n: u32| json!({"op": "produce", "topic": TOPIC, "value": warmup_event(n).to_string()});
    warm_up(&mut producer, &mut sse, warmup).await;

    let url = socket_url(&rig.ws_url(""));
    let alice = token("alice", &[], "alice-1");
    let mut d = Driver::start().await;
    // Serializer 2.0.0 (phoenix.js 1.8) and 1.0.0 (phoenix.js 1.2, as RIG 1.x's example).
    d.connect("new", "phoenix", &url, &alice, json!({"heartbeatMs": 200})).await;
    d.connect("old", "phoenix12", &url, &alice, json!({})).await;
    d.connect("v1", "phoenix", &url, &alice, json!({"vsn": "1.0.0"})).await;
    d.connect("lp", "phoenix", &url, &alice, json!({"transport": "longpoll"})).await;
    for id in ["new", "old", "lp"] {
        assert_eq!(d.join(id, "user:alice").await["status"], "ok", "{id} joins its own channel");
    }
    // Unprivileged: another user's channel and role channels are refused, with 1.x's text.
    let refused = d.join("new", "user:bob").await;
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["response"], r#"unauthorized user with id "alice" tried to join "user:bob"!"#);
    assert_eq!(d.join("old", "role:support").await["status"], "error");
    assert_eq!(d.join("new", "room:lobby").await["response"]["reason"], "unmatched topic");
    // A privileged user joins alice's channel and a role channel.
    d.connect("support", "phoenix", &url, &token("sam", &["support"], "sam-1"), json!({})).await;
    assert_eq!(d.join("support", "user:alice").await["status"], "ok");
    assert_eq!(d.join("support", "role:support").await["status"], "ok");
    // A refused socket: no token, a bad token.
    let refused = d.run(json!({"op": "connect", "id": "bad", "lib": "phoenix", "url": url, "token": "nope"})).await;
    assert_eq!(refused["ok"], false);

    // RIG 1.x's SSE transport: joins answered as events, refused ones with 500.
    let sse_url = |q: &str| rig.url(&format!("/socket/sse?{q}"));
    let mut sse1 = SseClient::connect(&sse_url(&format!("users[]=alice&token={alice}"))).await;
    let reply = sse1.next_event().await.unwrap();
    assert_eq!(reply.name, "phx_reply");
    assert_eq!(reply.json()["payload"]["status"], "ok");
    assert_eq!(SseClient::connect(&sse_url(&format!("users[]=bob&token={alice}"))).await.status, 500);
    assert_eq!(SseClient::connect(&sse_url(&format!("token={alice}"))).await.status, 404);
    assert_eq!(SseClient::connect(&sse_url("users[]=alice&token=bad")).await.status, 401);

    // Heartbeats on topic phoenix are answered.
    d.run(json!({"op": "heartbeats", "id": "new", "count": 3})).await;

    // A plain JSON message naming alice reaches every socket in her channel, once.
    let message = json!({"user": "alice", "text": "hello from kafka"});
    producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": message.to_string()})).await;
    for id in ["new", "old", "support", "lp"] {
        assert_eq!(d.next(id, "user:alice", "message").await, message, "{id}");
    }
    // Presence comes first (the state, the devices' arrivals), then the message.
    let pushed = loop {
        let e = sse1.next_event().await.expect("an SSE message");
        if !matches!(e.name.as_str(), "heartbeat" | "presence_state" | "presence_diff") {
            break e;
        }
    };
    assert_eq!((pushed.name.as_str(), pushed.json()), ("message", message.clone()));
    // Bob's message reaches nobody here; a CloudEvent still reaches SSE.
    producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": json!({"user": "bob", "text": "x"}).to_string()})).await;
    let ce = json!({"specversion": "1.0", "type": "greeting", "source": "/k", "id": "ce-1", "data": {}});
    producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": ce.to_string()})).await;
    assert_eq!(next_real(&mut sse).await.json()["id"], "ce-1");
    for id in ["new", "old", "support"] {
        assert_eq!(d.run(json!({"op": "none", "id": id, "topic": "user:alice", "event": "message"})).await["queued"], 0);
    }
    // The 1.0.0 serializer from phoenix.js 1.8 too.
    assert_eq!(d.join("v1", "user:alice").await["status"], "ok");
    producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": message.to_string()})).await;
    assert_eq!(d.next("v1", "user:alice", "message").await, message);

    // Blacklisting alice's token id (RIG 1.x's DELETE /rg/connections/:jti, a valid JWT
    // with the scope required; 1.x took it raw in the header) closes her sockets on every
    // transport; support's stays.
    let rg = rig.url("/rg/connections/alice-1");
    assert_eq!(rig.http.delete(&rg).send().await.unwrap().status(), 403);
    let r = rig.http.delete(&rg).bearer_auth(token("sam", &["support"], "sam-1")).send().await.unwrap();
    assert_eq!(r.status(), 403, "1.x's JwtPlug: a valid token without the rg.deleteConnection scope");
    let r = rig.http.delete(&rg).header("authorization", rg_token(&["deleteConnection"])).send().await.unwrap();
    assert_eq!(r.status(), 204);
    for id in ["new", "old", "v1", "lp"] {
        d.run(json!({"op": "closed", "id": id})).await;
    }
    let mut ended = false;
    for _ in 0..100 {
        match sse1.next_event().await {
            None => {
                ended = true;
                break;
            }
            Some(e) if e.name == "closing connection" => {}
            Some(e) => assert!(matches!(e.name.as_str(), "heartbeat" | "message" | "presence_diff"), "{}", e.name),
        }
    }
    assert!(ended, "the SSE stream of a blacklisted session ends");
    producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": message.to_string()})).await;
    assert_eq!(d.next("support", "user:alice", "message").await, message, "the privileged socket is still open");
}

#[tokio::test]
async fn long_poll_sessions_per_address_are_bounded() {
    let rig = TestRig::start(&[("RIG_MAX_LONGPOLL_SESSIONS_PER_IP", "2")]).await;
    let url = |jti: &str| rig.url(&format!("/socket/longpoll?vsn=2.0.0&token={}", token("alice", &[], jti)));
    for jti in ["lp-1", "lp-2"] {
        let r = rig.http.get(url(jti)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["status"] == 410 && body["token"].is_string(), "a new session: {body}");
    }
    let r = rig.http.get(url("lp-3")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("RIG_MAX_LONGPOLL_SESSIONS_PER_IP"), "{body}");
}

#[tokio::test]
async fn phoenix_js_reconnects_and_rejoins_after_a_gateway_restart() {
    // A real process, SIGTERMed and started again on the same port: an in-process
    // gateway's keep-alive connections would outlive its shutdown and keep
    // answering the long-poll client's pooled connections.
    let port = free_port().to_string();
    let vars = [("INBOUND_PORT", port.as_str())];
    let mut rig = process::Gateway::spawn(&vars);
    let url = socket_url(&rig.ws_url(""));
    let mut d = Driver::start().await;
    let t = token("alice", &[], "alice-2");
    d.connect("new", "phoenix", &url, &t, json!({})).await;
    d.connect("old", "phoenix12", &url, &t, json!({})).await;
    d.connect("lp", "phoenix", &url, &t, json!({"transport": "longpoll"})).await;
    for id in ["new", "old", "lp"] {
        assert_eq!(d.join(id, "user:alice").await["status"], "ok");
    }
    rig.sigterm();
    rig.wait_exit(PATIENCE).await;
    for id in ["new", "old", "lp"] {
        d.run(json!({"op": "closed", "id": id})).await;
    }
    let rig = process::Gateway::spawn(&vars);
    for id in ["new", "old", "lp"] {
        d.run(json!({"op": "joins", "id": id, "topic": "user:alice", "count": 2})).await;
    }
    // Wait for all three sockets to have joined on the new process (one channel each).
    eventually_json(&rig.api_url("/v3/users/alice/connections"), None, |v| {
        v["connections"].as_array().is_some_and(|c| c.len() == 3 && c.iter().all(|c| c["subscriptions"] == 1))
    })
    .await;
    // A channel event published over HTTP (the same path Kafka's user messages take).
    let event = json!({"specversion": "1.0", "type": "rig.phoenix/user:alice", "source": "/t", "id": "r-1", "data": {"n": 1}});
    publish_at(&reqwest::Client::new(), &rig.url("/_rig/v1/events"), &event).await;
    for id in ["new", "old", "lp"] {
        assert_eq!(d.next(id, "user:alice", "message").await, json!({"n": 1}), "{id} got it after rejoining");
    }
}

#[tokio::test]
async fn a_message_consumed_on_one_node_reaches_a_channel_on_another_exactly_once() {
    require_python_modules("confluent_kafka", "confluent-kafka");
    let (_broker, bootstrap, mut producer) = broker_with_topic(TOPIC).await;
    let kafka = [("KAFKA_BROKERS", bootstrap.as_str()), ("KAFKA_SOURCE_TOPICS", TOPIC), ("RIG_KAFKA_CONFIG", FAST_GROUP_JOIN)];
    let nodes = nodes::spawn_cluster(&["127.0.0.1", "127.0.0.2"], "phx-cookie", &[&kafka]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    // Node A consumes (warm-up events reach an SSE client there once its group is assigned).
    let subs = form_urlencoded::byte_serialize(json!([{"eventType": WARMUP}]).to_string().as_bytes()).collect::<String>();
    let mut sse = SseClient::connect(&a.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
    sse.greeted().await;
    let warmup = |n: u32| json!({"op": "produce", "topic": TOPIC, "value": warmup_event(n).to_string()});
    warm_up(&mut producer, &mut sse, warmup).await;

    let mut d = Driver::start().await;
    let url = format!("ws://{}/socket", b.inbound);
    d.connect("b", "phoenix", &url, &token("alice", &[], "alice-3"), json!({})).await;
    assert_eq!(d.join("b", "user:alice").await["status"], "ok");
    for n in 1..=2 {
        let message = json!({"user": "alice", "n": n});
        producer.ok(&json!({"op": "produce", "topic": TOPIC, "value": message.to_string()})).await;
        // In order and without a repeat of the one before.
        assert_eq!(d.next("b", "user:alice", "message").await, message);
    }
    assert_eq!(d.run(json!({"op": "none", "id": "b", "topic": "user:alice", "event": "message"})).await["queued"], 0);
}
