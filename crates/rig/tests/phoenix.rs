//! RIG 1.x frontends against the gateway: the official phoenix.js clients
//! (npm `phoenix` 1.2.1, RIG 1.x's, and the latest 1.8) over npm `ws`, driven by
//! tests/phoenix/driver.mjs; backends publish plain JSON to Kafka (tansu,
//! produced by confluent-kafka) naming the user.

mod common;

use std::process::Stdio;

use common::{brokers::*, keys::sign_hs, *};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

const TOPIC: &str = "rig-phx";

/// tests/phoenix/run.sh: installs the locked clients, then one command per line.
struct Driver {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Driver {
    async fn start() -> Driver {
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/phoenix/run.sh");
        let mut child = Command::new("bash")
            .arg(&script)
            .env("PHX_WAIT_MS", "15000")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node and npm are needed for the phoenix.js clients");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Driver { _child: child, stdin, stdout }
    }

    async fn run(&mut self, cmd: Value) -> Value {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        // npm ci may run first; the driver bounds every wait itself.
        let line = tokio::time::timeout(std::time::Duration::from_secs(180), self.stdout.next_line())
            .await
            .expect("the phoenix.js driver did not answer")
            .unwrap()
            .expect("the phoenix.js driver exited (see its stderr)");
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert!(answer.get("error").is_none() && answer.get("timeout").is_none(), "{cmd} -> {answer}");
        answer
    }

    async fn connect(&mut self, id: &str, lib: &str, url: &str, token: &str, extra: Value) {
        let mut cmd = json!({"op": "connect", "id": id, "lib": lib, "url": url, "token": token});
        cmd.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        assert_eq!(self.run(cmd).await["ok"], true, "{id} ({lib}) connects");
    }

    async fn join(&mut self, id: &str, topic: &str) -> Value {
        self.run(json!({"op": "join", "id": id, "topic": topic})).await
    }

    async fn next(&mut self, id: &str, topic: &str, event: &str) -> Value {
        self.run(json!({"op": "next", "id": id, "topic": topic, "event": event})).await["payload"].clone()
    }
}

fn token(user: &str, roles: &[&str], jti: &str) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    sign_hs(json!({"user": user, "roles": roles, "jti": jti, "exp": exp}), SECRET.as_bytes(), Algorithm::HS256)
}

/// A token with RIG 1.x's `/rg` scopes (`scopes.rg.actions`).
fn rg_token(actions: &[&str]) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let claims = json!({"user": "ops", "jti": "ops-1", "exp": exp, "scopes": {"rg": {"actions": actions}}});
    sign_hs(claims, SECRET.as_bytes(), Algorithm::HS256)
}

impl Driver {
    /// Waits until `id`'s phoenix.js Presence for `topic` lists `expect` (key -> devices).
    async fn presence(&mut self, id: &str, topic: &str, expect: Value) {
        let got = self.run(json!({"op": "presence", "id": id, "topic": topic, "expect": expect})).await;
        assert_eq!(got["presence"], expect, "{id} on {topic}");
    }
}

/// `GET url` with `authorization`; its status and JSON body.
async fn get_as(url: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Polls `GET url` (bounded) until `check` holds for its JSON body; returns that body.
async fn eventually_json(url: &str, authorization: Option<&str>, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = get_as(url, authorization).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "GET {url}: {status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn socket_url(base: &str) -> String {
    format!("{base}/socket")
}

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
    let port = free_port().to_string();
    let vars = [("INBOUND_PORT", port.as_str())];
    let rig = TestRig::start(&vars).await;
    let url = socket_url(&rig.ws_url(""));
    let mut d = Driver::start().await;
    let t = token("alice", &[], "alice-2");
    d.connect("new", "phoenix", &url, &t, json!({})).await;
    d.connect("old", "phoenix12", &url, &t, json!({})).await;
    d.connect("lp", "phoenix", &url, &t, json!({"transport": "longpoll"})).await;
    for id in ["new", "old", "lp"] {
        assert_eq!(d.join(id, "user:alice").await["status"], "ok");
    }
    rig.app.shutdown(std::time::Duration::from_secs(2)).await;
    for id in ["new", "old", "lp"] {
        d.run(json!({"op": "closed", "id": id})).await;
    }
    let rig = TestRig::start(&vars).await;
    for id in ["new", "old", "lp"] {
        d.run(json!({"op": "joins", "id": id, "topic": "user:alice", "count": 2})).await;
    }
    // A long-poll client may first rejoin the old gateway while it drains: wait for
    // all three sockets to have joined on the new one (one subscription row each).
    rig.wait_for_connections(3).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while rig.app.state.hub.subscription_rows() < 3 {
        assert!(std::time::Instant::now() < deadline, "not every socket rejoined");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A channel event published over HTTP (the same path Kafka's user messages take).
    let event = json!({"specversion": "1.0", "type": "rig.phoenix/user:alice", "source": "/t", "id": "r-1", "data": {"n": 1}});
    rig.publish(&event).await;
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

#[tokio::test]
async fn phoenix_js_presence_follows_the_devices_of_one_user() {
    let rig = TestRig::start(&[("PRIVILEGED_ROLES", "support")]).await;
    let url = socket_url(&rig.ws_url(""));
    let alice = token("alice", &["user"], "alice-p");
    let mut d = Driver::start().await;
    // A privileged watcher of role:user, which alice's own joins are tracked in too.
    d.connect("watch", "phoenix", &url, &token("sam", &["support"], "sam-p"), json!({})).await;
    assert_eq!(d.join("watch", "role:user").await["status"], "ok");
    assert_eq!(d.next("watch", "role:user", "presence_state").await, json!({}));

    // phoenix.js 1.8 (serializer 2.0.0) and 1.2 (1.0.0), one user.
    d.connect("new", "phoenix", &url, &alice, json!({})).await;
    d.connect("old", "phoenix12", &url, &alice, json!({})).await;
    assert_eq!(d.join("new", "user:alice").await["status"], "ok");
    assert_eq!(d.next("new", "user:alice", "presence_state").await, json!({}), "nobody was there before");
    let diff = d.next("new", "user:alice", "presence_diff").await;
    assert_eq!(diff["leaves"], json!({}));
    let meta = &diff["joins"]["alice"]["metas"][0];
    let first_ref = meta["phx_ref"].as_str().expect("a phx_ref").to_string();
    assert_eq!(
        (&meta["user"], &meta["jti"], &meta["device"], &meta["browser"]),
        (&json!("alice"), &json!("alice-p"), &json!("desktop"), &json!("Chrome"))
    );
    assert!(meta["time"].is_u64(), "{meta}");
    d.presence("new", "user:alice", json!({"alice": 1})).await;

    assert_eq!(d.join("old", "user:alice").await["status"], "ok");
    let state = d.next("old", "user:alice", "presence_state").await;
    assert_eq!(state["alice"]["metas"][0]["phx_ref"], first_ref.as_str(), "the state holds the first device");
    for (id, topic) in [("new", "user:alice"), ("old", "user:alice"), ("watch", "role:user")] {
        d.presence(id, topic, json!({"alice": 2})).await;
    }

    // RIG 1.x's session endpoints, behind their scopes.
    let sessions = rig.url("/rg/sessions");
    assert_eq!(get_as(&sessions, None).await.0, 403);
    assert_eq!(get_as(&sessions, Some(&rg_token(&["getSessionConnections"]))).await.0, 403);
    assert_eq!(get_as(&sessions, Some(&format!("Bearer {}", rg_token(&["getSessions"])))).await, (200, json!(["alice"])));
    let (status, metas) = get_as(&rig.url("/rg/sessions/alice"), Some(&rg_token(&["getSessionConnections"]))).await;
    assert_eq!(status, 200);
    let metas = metas.as_array().unwrap().clone();
    assert_eq!(metas.len(), 2, "{metas:?}");
    assert!(metas.iter().all(|m| m["user"] == "alice" && m["phx_ref"].is_string()));

    // One device goes: everyone sees one left, with the ref it joined with.
    let joined = d.next("new", "user:alice", "presence_diff").await;
    let second_ref = joined["joins"]["alice"]["metas"][0]["phx_ref"].clone();
    assert_ne!(second_ref, json!(first_ref));
    d.run(json!({"op": "disconnect", "id": "old"})).await;
    let left = d.next("new", "user:alice", "presence_diff").await;
    assert_eq!((&left["joins"], &left["leaves"]["alice"]["metas"][0]["phx_ref"]), (&json!({}), &second_ref));
    d.presence("new", "user:alice", json!({"alice": 1})).await;
    d.presence("watch", "role:user", json!({"alice": 1})).await;
    // Leaving the channel is the last device's leave.
    assert_eq!(d.run(json!({"op": "leave", "id": "new", "topic": "user:alice"})).await["status"], "ok");
    d.presence("watch", "role:user", json!({})).await;
    eventually_json(&sessions, Some(&rg_token(&["getSessions"])), |v| *v == json!([])).await;

    // RIG 1.x's SSE transport: the join's reply, the state, then its own arrival.
    let mut sse = SseClient::connect(&rig.url(&format!("/socket/sse?users[]=alice&token={alice}"))).await;
    let names: Vec<(String, Value)> = {
        let mut out = Vec::new();
        while out.len() < 3 {
            let e = sse.next_event().await.expect("an SSE event");
            if e.name != "heartbeat" {
                out.push((e.name.clone(), e.json()));
            }
        }
        out
    };
    assert_eq!(names[0].0, "phx_reply");
    assert_eq!((names[1].0.as_str(), &names[1].1), ("presence_state", &json!({})));
    assert_eq!(names[2].0, "presence_diff");
    assert_eq!(names[2].1["joins"]["alice"]["metas"][0]["user"], "alice");
    d.presence("watch", "role:user", json!({"alice": 1})).await;
    drop(sse);
    d.presence("watch", "role:user", json!({})).await;
}

#[tokio::test]
async fn presence_and_the_listings_span_three_nodes() {
    let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let fast = [("RIG_CLUSTER_GOSSIP_INTERVAL_MS", "100")];
    let mut nodes = nodes::spawn_cluster(&ips, "presence-cookie", &[&fast, &fast, &fast]).await;
    let url = |g: &process::Gateway| format!("ws://{}/socket", g.inbound);
    let alice = token("alice", &["user"], "alice-c");
    let mut d = Driver::start().await;
    d.connect("a", "phoenix", &url(&nodes[0]), &alice, json!({})).await;
    d.connect("b", "phoenix12", &url(&nodes[1]), &alice, json!({})).await;
    d.connect("c", "phoenix", &url(&nodes[2]), &token("bob", &["user"], "bob-c"), json!({})).await;
    for (id, topic) in [("a", "user:alice"), ("b", "user:alice"), ("c", "user:bob")] {
        assert_eq!(d.join(id, topic).await["status"], "ok");
    }
    // A device on node B is present on node A and the other way round.
    d.presence("a", "user:alice", json!({"alice": 2})).await;
    d.presence("b", "user:alice", json!({"alice": 2})).await;

    // RIG 1.x's session endpoints on node C see devices of A and B.
    let sessions =
        eventually_json(&nodes[2].url("/rg/sessions"), Some(&rg_token(&["getSessions"])), |v| v.as_array().is_some_and(|a| a.len() == 2))
            .await;
    let mut names: Vec<&str> = sessions.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    eventually_json(&nodes[2].url("/rg/sessions/alice"), Some(&rg_token(&["getSessionConnections"])), |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;

    // The 3.0 listings gather every node's part.
    let everyone = json!({
        "users": [{"user": "alice", "sessions": 1, "connections": 2}, {"user": "bob", "sessions": 1, "connections": 1}],
        "unanswered": [],
    });
    eventually_json(&nodes[0].api_url("/v3/users"), None, |v| *v == everyone).await;
    let (_, mine) = get_as(&nodes[0].api_url("/v3/users?local=true"), None).await;
    assert_eq!(mine, json!({"users": [{"user": "alice", "sessions": 1, "connections": 1}]}), "local=true: this node only");
    let (_, conns) = get_as(&nodes[2].api_url("/v3/users/alice/connections"), None).await;
    let mut held_by: Vec<&str> = conns["connections"].as_array().unwrap().iter().filter_map(|c| c["node"].as_str()).collect();
    held_by.sort();
    assert_eq!((held_by, &conns["unanswered"]), (vec!["rig@127.0.0.1", "rig@127.0.0.2"], &json!([])));
    let (_, conns) = get_as(&nodes[0].api_url("/v3/sessions/bob-c/connections"), None).await;
    assert_eq!(
        conns["connections"].as_array().map(|c| c.iter().map(|c| c["node"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("rig@127.0.0.3")])
    );
    let posted = reqwest::Client::new().post(nodes[0].api_url("/v3/users")).send().await.unwrap();
    assert_eq!(posted.status(), 405, "POST is for peers gathering a listing");

    // A node that does not answer (stopped) is named; killed, its devices leave everywhere.
    let (_, me_b) = get_as(&nodes[1].api_url("/v3/cluster"), None).await;
    let b_name = me_b["me"]["name"].clone();
    assert!(std::process::Command::new("kill").args(["-STOP", &nodes[1].pid().to_string()]).status().unwrap().success());
    let (_, partial) = get_as(&nodes[0].api_url("/v3/users"), None).await;
    assert_eq!(partial["unanswered"], json!([b_name]), "{partial}");
    drop(nodes.remove(1));
    d.presence("a", "user:alice", json!({"alice": 1})).await;
    eventually_json(&nodes[1].url("/rg/sessions/alice"), Some(&rg_token(&["getSessionConnections"])), |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
}
