//! Authentication and authorization against the real server: RS256 and HS256
//! tokens signed here, refused algorithms, the session blacklist on every
//! transport (timed), external check services, privileged users, presence, JWKS.

mod common;

use std::time::{Duration, Instant};

use common::{http_server::TestServer, keys::*, *};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

fn sse_path(query: &str) -> String {
    format!("/_rig/v1/connection/sse{query}")
}

async fn post_json(rig: &TestRig, url: String, body: Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = rig.http.post(url).header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
    (r.status().as_u16(), r.headers().clone(), r.text().await.unwrap())
}

async fn sse_status(rig: &TestRig, token: &str) -> u16 {
    SseClient::connect(&rig.url(&sse_path(&format!("?jwt={token}")))).await.status
}

#[tokio::test]
async fn rs256_with_public_key_or_certificate_and_refused_algorithms() {
    let keys = RsaKeys::generate();
    for pem in [&keys.public_pem, &keys.cert_pem] {
        let rig = TestRig::start(&[("JWT_ALG", "RS256"), ("JWT_SECRET_KEY", pem)]).await;
        assert_eq!(sse_status(&rig, &keys.sign(json!({"sub": "a"}), None)).await, 200);
        // Algorithm confusion: HS256 "signed" with the public key as the secret.
        let confused = sign_hs(with_exp(json!({"sub": "a"}), 60), keys.public_pem.as_bytes(), Algorithm::HS256);
        assert_eq!(sse_status(&rig, &confused).await, 400);
        assert_eq!(sse_status(&rig, &unsigned(json!({"sub": "a"}))).await, 400, "alg none");
        let other = RsaKeys::generate();
        assert_eq!(sse_status(&rig, &other.sign(json!({"sub": "a"}), None)).await, 400, "another key");
    }
}

#[tokio::test]
async fn hs_tokens_need_exp_in_the_future_and_nbf_in_the_past() {
    let rig = TestRig::start(&[("JWT_ALG", "HS384")]).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ok = sign_hs(with_exp(json!({}), 60), SECRET.as_bytes(), Algorithm::HS384);
    let expired = sign_hs(with_exp(json!({}), -10), SECRET.as_bytes(), Algorithm::HS384);
    let early = sign_hs(with_exp(json!({"nbf": now + 600}), 900), SECRET.as_bytes(), Algorithm::HS384);
    let no_exp = sign_hs(json!({"sub": "x"}), SECRET.as_bytes(), Algorithm::HS384);
    let hs256 = sign_hs(with_exp(json!({}), 60), SECRET.as_bytes(), Algorithm::HS256);
    assert_eq!(sse_status(&rig, &ok).await, 200);
    for (bad, reason) in [(expired, "token expired"), (early, "not yet valid"), (no_exp, "token expired"), (hs256, "Could not verify")] {
        let c = SseClient::connect(&rig.url(&sse_path(&format!("?jwt={bad}")))).await;
        assert_eq!(c.status, 400);
        assert!(c.body.contains(reason), "{reason}: {}", c.body);
    }
}

#[tokio::test]
async fn blacklist_api_follows_rig() {
    let rig = TestRig::start(&[]).await;
    let (status, headers, body) =
        post_json(&rig, rig.api_url("/v3/session-blacklist"), json!({"sessionId": "abc", "validityInSeconds": 60})).await;
    assert_eq!((status, body.as_str()), (201, "{}"));
    assert_eq!(headers["location"], "/v3/session-blacklist/abc");
    assert!(headers.get("access-control-allow-origin").is_none(), "no CORS on the internal port");
    let r = rig.http.get(rig.api_url("/v3/session-blacklist/abc")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(rig.http.get(rig.api_url("/v2/session-blacklist/other")).send().await.unwrap().status(), 404);
    let form = rig
        .http
        .post(rig.api_url("/v2/session-blacklist"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("sessionId=f&validityInSeconds=30")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201);
    assert_eq!(form.headers()["location"], "/v2/session-blacklist/f");
    let cases = [
        (json!({"validityInSeconds": 1}), "Missing value for \"sessionId\""),
        (json!({"sessionId": "", "validityInSeconds": 1}), "Expected non-empty string, got \"\""),
        (json!({"sessionId": "x"}), "Missing value for \"validityInSeconds\""),
        (json!({"sessionId": "x", "validityInSeconds": "soon"}), "Expected a number, got \"soon\""),
        (json!({"sessionId": "x", "validityInSeconds": 0}), "Expected a positive number, got 0"),
    ];
    for (body, text) in cases {
        let (status, _, resp) = post_json(&rig, rig.api_url("/v3/session-blacklist"), body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&resp).unwrap()["error"], text);
    }
    let r = rig.http.post(rig.api_url("/v3/session-blacklist")).send().await.unwrap();
    assert_eq!(r.status(), 400, "no body at all is an empty object");
    let r =
        rig.http.post(rig.api_url("/v3/session-blacklist")).header("content-type", "application/json").body("{oops").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap().as_str()), (400, r#"{"errors":{"detail":"Bad request"}}"#));
}

#[tokio::test]
async fn blacklisting_closes_sse_ws_and_a_pending_long_poll_at_once_and_refuses_the_token() {
    let rig = TestRig::start(&[("JWT_SESSION_FIELD", "/sessionId"), ("RIG_LONGPOLL_WAIT_MS", "20000")]).await;
    let token = jwt(json!({"sessionId": "victim", "jti": "j-1"}));
    let bystander_token = jwt(json!({"sessionId": "other"}));
    let mut sse = SseClient::connect(&rig.url(&sse_path(&format!("?jwt={token}")))).await;
    sse.greeted().await;
    let mut ws = ws_connect(&rig.ws_url(&format!("/_rig/v1/connection/ws?jwt={token}"))).await;
    ws_greeted(&mut ws).await;
    let lp = LpClient::new(rig.url(&format!("/_rig/v1/connection/longpolling?jwt={token}")));
    lp.get().await;
    let lp_token = lp.poll().await[0]["data"]["connection_token"].as_str().unwrap().to_string();
    let lp_buffer = rig.app.state.hub.lp_buffer(rig.app.state.sessions.open_token(&lp_token).unwrap()).unwrap();
    let pending = tokio::spawn(async move {
        let events = lp.poll().await;
        (events, Instant::now())
    });
    let mut bystander = SseClient::connect(&rig.url(&sse_path(&format!("?jwt={bystander_token}")))).await;
    bystander.greeted().await;
    // Wait until the long-poll is parked on the server.
    let deadline = Instant::now() + PATIENCE;
    while lp_buffer.waiting() == 0 {
        assert!(Instant::now() < deadline, "the poll never reached the server");
        tokio::task::yield_now().await;
    }

    let started = Instant::now();
    let (status, _, _) =
        post_json(&rig, rig.api_url("/v3/session-blacklist"), json!({"sessionId": "victim", "validityInSeconds": 60})).await;
    assert_eq!(status, 201);
    assert_eq!(sse.next_event().await.unwrap().name, "rig.session_killed");
    assert!(sse.next().await.is_none());
    let sse_closed = started.elapsed();
    assert_eq!(ws_closed(&mut ws).await, (1000, "Session killed.".into()));
    let ws_closed_after = started.elapsed();
    let (events, lp_done) = pending.await.unwrap();
    assert_eq!(events.last().unwrap()["type"], "rig.session_killed");
    let lp_closed = lp_done - started;
    eprintln!("blacklist -> closed: sse {sse_closed:?}, ws {ws_closed_after:?}, long-poll {lp_closed:?}");
    assert!(lp_closed < Duration::from_secs(2));
    bystander.assert_silent(Duration::from_millis(100)).await;

    // The token is refused everywhere now.
    assert_eq!(sse_status(&rig, &token).await, 400);
    let mut ws = ws_connect(&rig.ws_url(&format!("/_rig/v1/connection/ws?jwt={token}"))).await;
    assert_eq!(ws_closed(&mut ws).await.1, "Bad request.");
    let lp = LpClient::new(rig.url(&format!("/_rig/v1/connection/longpolling?jwt={token}")));
    assert_eq!(lp.get().await.status(), 400);
    let mut fresh = SseClient::connect(&rig.url(&sse_path(""))).await;
    let (conn, _) = fresh.greeted().await;
    let r = rig.put_subscriptions("sse", &conn, &json!({"subscriptions": []}), Some(&token)).await;
    assert_eq!(r.status(), 400);
    let by_jti = jwt(json!({"jti": "victim"}));
    assert_eq!(sse_status(&rig, &by_jti).await, 400, "a jti equal to a blacklisted id is refused too (RIG)");
}

#[tokio::test]
async fn blacklisted_tokens_cannot_publish_under_jwt_validation() {
    let rig = TestRig::start(&[("SUBMISSION_CHECK", "jwt_validation")]).await;
    let token = jwt(json!({"jti": "pub-1"}));
    let publish = || {
        rig.http
            .post(rig.url("/_rig/v1/events"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(r#"{"specversion":"0.2","type":"t","id":"1"}"#)
            .send()
    };
    assert_eq!(publish().await.unwrap().status(), 202);
    post_json(&rig, rig.api_url("/v3/session-blacklist"), json!({"sessionId": "pub-1", "validityInSeconds": 60})).await;
    assert_eq!(publish().await.unwrap().status(), 403);
}

#[tokio::test]
async fn external_subscription_check_gets_the_request_and_decides() {
    let checker = TestServer::start().await;
    let subs = json!([{"eventType": "greeting"}]);
    let token = jwt(json!({"sub": "x"}));
    for (path, expect) in [("/status/200", 200), ("/status/403", 400), ("/status/401", 400), ("/status/500", 400)] {
        let rig = TestRig::start(&[("SUBSCRIPTION_CHECK", &checker.url(path))]).await;
        let url = rig.url(&sse_path(&format!("?jwt={token}&subscriptions={}", enc(&subs.to_string()))));
        let c = SseClient::connect(&url).await;
        assert_eq!(c.status, expect, "{path}");
        if expect == 400 {
            assert!(c.body.contains("Subscription denied (not authorized)."));
        }
    }
    let seen = checker.seen();
    assert_eq!(seen[0].authorization.as_deref(), Some(format!("Bearer {token}").as_str()));
    assert_eq!(serde_json::from_str::<Value>(&seen[0].body).unwrap(), json!({"subscriptions": subs}));
    // Connecting without subscriptions asks nobody.
    let rig = TestRig::start(&[("SUBSCRIPTION_CHECK", &checker.url("/status/403"))]).await;
    let before = checker.seen().len();
    assert_eq!(SseClient::connect(&rig.url(&sse_path(""))).await.status, 200);
    assert_eq!(checker.seen().len(), before);
    // A PUT is denied with the checker's 401/403.
    let mut sse = SseClient::connect(&rig.url(&sse_path(""))).await;
    let (conn, _) = sse.greeted().await;
    let r = rig.put_subscriptions("sse", &conn, &json!({"subscriptions": subs}), Some(&token)).await;
    assert_eq!(r.status(), 403);
    let rig401 = TestRig::start(&[("SUBSCRIPTION_CHECK", &checker.url("/status/401"))]).await;
    let mut sse = SseClient::connect(&rig401.url(&sse_path(""))).await;
    let (conn, _) = sse.greeted().await;
    assert_eq!(rig401.put_subscriptions("sse", &conn, &json!({"subscriptions": subs}), None).await.status(), 401);
    let last = checker.seen().last().cloned().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&last.body).unwrap(), json!({"subscriptions": subs}));
    assert_eq!(last.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn external_submission_check_and_a_slow_checker_times_out_into_deny() {
    let checker = TestServer::start().await;
    let event = r#"{"specversion":"0.2","type":"t","id":"1"}"#;
    for (path, expect) in [("/status/204", 202), ("/status/401", 401), ("/status/403", 403), ("/slow", 403)] {
        let rig = TestRig::start(&[("SUBMISSION_CHECK", &checker.url(path)), ("RIG_CHECK_TIMEOUT_MS", "300")]).await;
        let started = Instant::now();
        let r = rig
            .http
            .post(rig.url("/_rig/v1/events"))
            .header("content-type", "application/cloudevents+json")
            .header("authorization", "Bearer abc")
            .body(event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expect, "{path}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path} took {:?}", started.elapsed());
    }
    let seen = checker.seen();
    assert_eq!(seen[0].body, event);
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer abc"));
}

#[tokio::test]
async fn privileged_users_may_subscribe_to_others_regular_users_only_to_themselves() {
    let rig = TestRig::start(&[("JWT_USER_FIELD", "username"), ("PRIVILEGED_ROLES", "admin,support")]).await;
    let alice = jwt(json!({"username": "alice", "roles": ["user"]}));
    let admin = jwt(json!({"username": "root", "roles": "support"}));
    let subs = |name: &str| enc(&json!([{"eventType": "greeting", "oneOf": [{"name": name}]}]).to_string());
    let connect = |t: &str, s: String| rig.url(&sse_path(&format!("?jwt={t}&subscriptions={s}")));
    assert_eq!(SseClient::connect(&connect(&alice, subs("alice"))).await.status, 200);
    assert_eq!(SseClient::connect(&connect(&alice, subs("bob"))).await.status, 400);
    let all = enc(r#"[{"eventType":"greeting"}]"#);
    assert_eq!(SseClient::connect(&rig.url(&sse_path(&format!("?subscriptions={all}")))).await.status, 400, "anonymous, unconstrained");
    let mut spy = SseClient::connect(&connect(&admin, subs("bob"))).await;
    assert_eq!(spy.status, 200);
    spy.greeted().await;
    rig.publish(&greeting("b1", json!({"name": "bob"}))).await;
    assert_eq!(spy.next_event().await.unwrap().json()["id"], "b1");
    // Same rule on a PUT.
    let mut own = SseClient::connect(&connect(&alice, subs("alice"))).await;
    let (conn, _) = own.greeted().await;
    let r = rig
        .put_subscriptions("sse", &conn, &json!({"subscriptions": [{"eventType": "greeting", "oneOf": [{"name": "bob"}]}]}), Some(&alice))
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn presence_lists_users_sessions_and_devices_and_ends_sessions() {
    let rig = TestRig::start(&[("NODE_HOST", "10.1.2.3")]).await;
    let token = jwt(json!({"sub": "alice", "jti": "sess-a"}));
    let sse = rig.http.get(rig.url(&sse_path(&format!("?jwt={token}")))).header("user-agent", "phone/1.0").send().await.unwrap();
    assert_eq!(sse.status(), 200);
    let mut ws = ws_connect(&rig.ws_url(&format!("/_rig/v1/connection/ws?jwt={token}"))).await;
    ws_greeted(&mut ws).await;
    let users: Value = rig.http.get(rig.api_url("/v3/users")).send().await.unwrap().json().await.unwrap();
    assert_eq!(users, json!({"users": [{"user": "alice", "sessions": 1, "connections": 2}]}));
    let conns: Value = rig.http.get(rig.api_url("/v3/users/alice/connections")).send().await.unwrap().json().await.unwrap();
    let list = conns["connections"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["transport"], "sse");
    assert_eq!(list[0]["user_agent"], "phone/1.0");
    assert_eq!(list[0]["node"], "rig@10.1.2.3");
    assert_eq!(list[1]["transport"], "ws");
    assert!(list[0]["connected_since"].as_str().unwrap().ends_with("+00:00"));
    let by_session: Value = rig.http.get(rig.api_url("/v3/sessions/sess-a/connections")).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_session["connections"].as_array().unwrap().len(), 2);
    let ended: Value = rig.http.delete(rig.api_url("/v3/sessions/sess-a")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ended["closed"], 2);
    assert_eq!(ws_closed(&mut ws).await.1, "Session killed.");
    drop(sse);
    let mut users = json!(null);
    for _ in 0..100 {
        users = rig.http.get(rig.api_url("/v3/users")).send().await.unwrap().json().await.unwrap();
        if users["users"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(users, json!({"users": []}));
    let doc: Value = rig.http.get(rig.api_url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/v3/users"].is_object());
}

#[tokio::test]
async fn jwks_keys_rotate_without_a_restart() {
    let jwks = TestServer::start().await;
    let (k1, k2) = (RsaKeys::generate(), RsaKeys::generate());
    jwks.set_jwks(json!({"keys": [k1.jwk("k1")]}));
    let rig = TestRig::start(&[
        ("JWT_ALG", "RS256"),
        ("JWT_SECRET_KEY", ""),
        ("JWT_JWKS_URL", &jwks.url("/jwks")),
        ("JWT_JWKS_MIN_REFETCH_MS", "0"),
    ])
    .await;
    assert_eq!(sse_status(&rig, &k1.sign(json!({"sub": "a"}), Some("k1"))).await, 200);
    assert_eq!(sse_status(&rig, &k2.sign(json!({"sub": "a"}), Some("k2"))).await, 400, "not published yet");
    jwks.set_jwks(json!({"keys": [k2.jwk("k2")]}));
    assert_eq!(sse_status(&rig, &k2.sign(json!({"sub": "a"}), Some("k2"))).await, 200, "picked up on first sight of k2");
    assert_eq!(sse_status(&rig, &k1.sign(json!({"sub": "a"}), Some("k1"))).await, 400, "k1 retired");
    let forged = k1.sign(json!({"sub": "a"}), Some("k2"));
    assert_eq!(sse_status(&rig, &forged).await, 400, "right kid, wrong key");
}
