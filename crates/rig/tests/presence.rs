//! Presence as RIG 1.x's frontends see it (phoenix.js 1.2 and 1.8, their own
//! `Presence`): `presence_state` and `presence_diff` as devices come and go,
//! RIG 1.x's `/rg/sessions` endpoints, the bound on presences, and presence and
//! the 3.0 listings across three nodes. Apart from tests/phoenix.rs so the
//! cluster here does not run beside its restart test.

mod common;

use common::{phoenix::*, *};
use serde_json::{json, Value};

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
    let fast = [("RIG_CLUSTER_GOSSIP_INTERVAL_MS", "200")];
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
    // Bounded: a listing under way when the signal landed may still have had B's part.
    let mut partial = Value::Null;
    for _ in 0..5 {
        partial = get_as(&nodes[0].api_url("/v3/users"), None).await.1;
        if partial["unanswered"] == json!([b_name]) {
            break;
        }
    }
    assert_eq!(partial["unanswered"], json!([b_name]), "{partial}");
    assert_eq!(partial["users"].as_array().map(Vec::len), Some(2), "what A and C hold is still listed: {partial}");
    drop(nodes.remove(1));
    d.presence("a", "user:alice", json!({"alice": 1})).await;
    eventually_json(&nodes[1].url("/rg/sessions/alice"), Some(&rg_token(&["getSessionConnections"])), |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
}

#[tokio::test]
async fn presences_per_node_are_bounded() {
    let rig = TestRig::start(&[("RIG_MAX_PRESENCES", "2")]).await;
    let url = socket_url(&rig.ws_url(""));
    let alice = token("alice", &["user"], "alice-b");
    let mut d = Driver::start().await;
    d.connect("one", "phoenix", &url, &alice, json!({})).await;
    d.connect("two", "phoenix", &url, &alice, json!({})).await;
    // A join of one's own channel is tracked there and in role:user: two presences.
    assert_eq!(d.join("one", "user:alice").await["status"], "ok");
    let refused = d.join("two", "user:alice").await;
    assert_eq!(refused["status"], "error");
    assert!(refused["response"]["reason"].as_str().unwrap().contains("RIG_MAX_PRESENCES"), "{refused}");
    // The first device leaving makes room.
    assert_eq!(d.run(json!({"op": "leave", "id": "one", "topic": "user:alice"})).await["status"], "ok");
    assert_eq!(d.join("two", "user:alice").await["status"], "ok");
}
