//! Attacks on subscriptions, from outside the real binary: lists and `oneOf`
//! clauses too large for the index, memory pinned by long-polling sessions, the
//! subscription check bypassed through long-polling, sessions per address, and
//! CORS with credentials. A canary (another client) measures the effect.

mod common;

use common::{process::*, *};
use serde_json::{json, Value};

/// The rig's JSON error text, after asserting the status.
async fn refused(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status(), status, "expected {status}");
    let body: Value = r.json().await.expect("a JSON error body");
    body["error"].as_str().expect("an error text").to_string()
}

async fn put(g: &Gateway, token: &str, body: String) -> reqwest::Response {
    let url = g.url(&format!("/_rig/v1/connection/sse/{token}/subscriptions"));
    reqwest::Client::new().put(url).header("content-type", "application/json").body(body).send().await.unwrap()
}

fn distinct_types(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"eventType": format!("type-{i:06}")})).collect())
}

fn clauses(n: usize) -> Value {
    json!([{"eventType": "greeting", "oneOf": (0..n).map(|i| json!({"name": format!("u{i}")})).collect::<Vec<_>>()}])
}

#[tokio::test]
async fn oversized_subscription_lists_are_refused_on_every_path_and_nobody_stalls() {
    let g = Gateway::spawn(&[]);
    let canary = Canary::start(&g).await;
    let mut sse = SseClient::connect(&g.url("/_rig/v1/connection/sse")).await;
    let (token, _) = sse.greeted().await;

    // The reported attacks: 43,000 distinct types (1.1 MiB, over the body
    // limit), then as many as fit under it, and 55,000 clauses (0.9 MiB).
    let huge_types = json!({"subscriptions": distinct_types(43_000)}).to_string();
    assert!(huge_types.len() > 1 << 20);
    refused(put(&g, &token, huge_types).await, 413).await;
    let huge_types = json!({"subscriptions": distinct_types(36_000)}).to_string();
    assert!(huge_types.len() < 1 << 20);
    assert!(refused(put(&g, &token, huge_types).await, 400).await.contains("RIG_MAX_SUBSCRIPTION_BYTES"));
    let huge_clauses = json!({"subscriptions": clauses(55_000)}).to_string();
    assert!(refused(put(&g, &token, huge_clauses).await, 400).await.contains("RIG_MAX_SUBSCRIPTION_BYTES"));
    // Under the byte bound, over the count bounds.
    let many = json!({"subscriptions": distinct_types(300)}).to_string();
    assert!(refused(put(&g, &token, many).await, 400).await.contains("RIG_MAX_SUBSCRIPTIONS"));
    let wide = json!({"subscriptions": clauses(300)}).to_string();
    assert!(refused(put(&g, &token, wide).await, 400).await.contains("RIG_MAX_SUBSCRIPTION_CLAUSES"));

    // The same lists when connecting (query parameter) on every transport.
    let param = |v: &Value| enc(&v.to_string());
    for list in [distinct_types(300), clauses(300)] {
        let url = g.url(&format!("/_rig/v1/connection/sse?subscriptions={}", param(&list)));
        let r = reqwest::get(url).await.unwrap();
        assert!(refused(r, 400).await.contains("RIG_MAX_SUBSCRIPTION"));
        let url = g.url(&format!("/_rig/v1/connection/longpolling?subscriptions={}", param(&list)));
        let r = reqwest::get(url).await.unwrap();
        assert!(refused(r, 400).await.contains("RIG_MAX_SUBSCRIPTION"));
        let ws = tokio_tungstenite::connect_async(g.ws_url(&format!("/_rig/v1/connection/ws?subscriptions={}", param(&list)))).await;
        match ws {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
            // RIG's refusal: upgraded, then closed before any greeting.
            Ok((mut ws, _)) => match ws_next_message(&mut ws).await {
                tokio_tungstenite::tungstenite::Message::Close(Some(f)) => assert!(f.reason.contains("Bad request"), "{f:?}"),
                other => panic!("an oversized WS subscription was accepted: {other:?}"),
            },
            Err(e) => panic!("unexpected WS outcome: {e}"),
        }
    }

    // Sessions a PUT may tie to the connection through bearer tokens.
    let url = g.url(&format!("/_rig/v1/connection/sse/{token}/subscriptions"));
    let put_with_sessions = |prefix: String, n: usize| {
        let bearer: Vec<String> = (0..n).map(|i| format!("Bearer {}", jwt(json!({"jti": format!("{prefix}{i}")})))).collect();
        reqwest::Client::new()
            .put(&url)
            .header("content-type", "application/json")
            .header("authorization", bearer.join(", "))
            .body(json!({"subscriptions": []}).to_string())
            .send()
    };
    let r = put_with_sessions("s".into(), 17).await.unwrap();
    assert!(refused(r, 400).await.contains("bearer tokens"));
    // Nor may PUTs pile sessions up: 9 and then 9 more is over 16.
    for (round, expected) in [(0, 204), (1, 400)] {
        let r = put_with_sessions(format!("r{round}-"), 9).await.unwrap();
        if expected == 204 {
            assert_eq!(r.status(), 204);
            assert_eq!(sse.next_event().await.unwrap().name, "rig.subscriptions_set");
        } else {
            assert!(refused(r, 400).await.contains("RIG_MAX_SESSIONS_PER_CONNECTION"));
        }
    }

    // Within every bound the update is taken and matched.
    let ok = json!({"subscriptions": [{"eventType": "greeting", "oneOf": [{"name": "u1"}]}]}).to_string();
    assert_eq!(put(&g, &token, ok).await.status(), 204);
    assert_eq!(sse.next_event().await.unwrap().name, "rig.subscriptions_set");
    canary.report().await.assert_healthy("oversized subscription lists", 3000);
}

#[tokio::test]
async fn connections_at_every_bound_cost_bounded_memory_and_keep_others_served() {
    // The most one anonymous client may make each connection hold, many times over.
    let g = Gateway::spawn(&[]);
    let canary = Canary::start(&g).await;
    let before = g.rss_kib();
    // 200 clauses of ~150 bytes: just under the 32 KiB bound.
    let at_bound: Vec<Value> = (0..200).map(|i| json!({"name": format!("{i:0>140}")})).collect();
    let list = json!({"subscriptions": [{"eventType": "greeting", "oneOf": at_bound}]}).to_string();
    assert!(list.len() < 32768, "{} bytes", list.len());
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut sse = SseClient::connect(&g.url("/_rig/v1/connection/sse")).await;
        let (token, _) = sse.greeted().await;
        assert_eq!(put(&g, &token, list.clone()).await.status(), 204);
        held.push(sse);
    }
    // Long-polling sessions hold theirs without a socket.
    for _ in 0..50 {
        let subs = json!([{"eventType": "greeting", "oneOf": (0..200).map(|i| json!({"name": format!("{i:0>140}")})).collect::<Vec<_>>()}]);
        let r = LpClient::new(g.url(&format!("/_rig/v1/connection/longpolling?subscriptions={}", enc(&subs.to_string())))).get().await;
        assert_eq!(r.status(), 200);
    }
    let grown_mib = g.rss_kib().saturating_sub(before) / 1024;
    let report = canary.report().await;
    eprintln!("150 connections at the subscription bounds: RSS +{grown_mib} MiB");
    report.assert_healthy("connections at every bound", 3000);
    // 150 × 32 KiB of subscription text; generous for index and allocator overhead.
    assert!(grown_mib < 200, "RSS grew {grown_mib} MiB");
    drop(held);
}

#[tokio::test]
async fn long_polling_cannot_read_what_the_subscription_check_denies() {
    let checker = http_server::TestServer::start().await;
    let deny_all = checker.url("/status/403");
    for check in ["jwt_validation", deny_all.as_str()] {
        let g = Gateway::spawn(&[("SUBSCRIPTION_CHECK", check), ("RIG_LONGPOLL_WAIT_MS", "300")]);
        let private = enc(&json!([{"eventType": "private"}]).to_string());
        // SSE is refused, and so is long-polling now, in both parameter forms.
        let r = reqwest::get(g.url(&format!("/_rig/v1/connection/sse?subscriptions={private}"))).await.unwrap();
        assert_eq!(r.status(), 400, "{check}: SSE");
        let r = LpClient::new(g.url(&format!("/_rig/v1/connection/longpolling?subscriptions={private}"))).get().await;
        assert!(refused(r, 400).await.contains("denied"), "{check}: long-polling");
        let wrapped = enc(&json!({"subscriptions": [{"eventType": "private"}]}).to_string());
        let r = LpClient::new(g.url(&format!("/_rig/v1/connection/longpolling?subscriptions={wrapped}"))).get().await;
        assert_eq!(r.status(), 400, "{check}: long-polling, object form");

        // A session opened without subscriptions cannot add them by PUT either.
        let lp = LpClient::new(g.url("/_rig/v1/connection/longpolling"));
        assert_eq!(lp.get().await.status(), 200);
        let events = lp.poll().await;
        let token = events[0]["data"]["connection_token"].as_str().unwrap().to_string();
        let url = g.url(&format!("/_rig/v1/connection/longpolling/{token}/subscriptions"));
        let body = json!({"subscriptions": [{"eventType": "private"}]}).to_string();
        let r = reqwest::Client::new().put(url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert!(matches!(r.status().as_u16(), 401 | 403), "{check}: PUT got {}", r.status());

        publish_at(
            &reqwest::Client::new(),
            &g.url("/_rig/v1/events"),
            &json!({"specversion": "1.0", "type": "private", "source": "s", "id": "p1"}),
        )
        .await;
        let seen = lp.poll().await;
        assert!(seen.iter().all(|e| e["type"] != "private"), "{check}: a private event reached long-polling: {seen:?}");
    }
}

#[tokio::test]
async fn long_polling_sessions_per_address_are_bounded_and_freed_when_they_end() {
    let g = Gateway::spawn(&[("RIG_MAX_LONGPOLL_SESSIONS_PER_IP", "5")]);
    let token = jwt(json!({"jti": "lp-hog"}));
    let url = g.url(&format!("/_rig/v1/connection/longpolling?jwt={token}"));
    for _ in 0..5 {
        assert_eq!(LpClient::new(url.clone()).get().await.status(), 200);
    }
    let msg = refused(LpClient::new(url.clone()).get().await, 429).await;
    assert!(msg.contains("RIG_MAX_LONGPOLL_SESSIONS_PER_IP"), "{msg}");

    // Ending the sessions gives their slots back.
    let r = reqwest::Client::new()
        .post(g.api_url("/v3/session-blacklist"))
        .json(&json!({"sessionId": "lp-hog", "validityInSeconds": 60}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "blacklist: {}", r.status());
    let fresh = g.url("/_rig/v1/connection/longpolling");
    let deadline = std::time::Instant::now() + PATIENCE;
    while LpClient::new(fresh.clone()).get().await.status() != 200 {
        assert!(std::time::Instant::now() < deadline, "slots were not given back after the sessions were killed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cors_echoes_only_listed_origins_and_never_pairs_star_with_credentials() {
    let lp = |g: &Gateway, origin: &str| {
        reqwest::Client::new().get(g.url("/_rig/v1/connection/longpolling")).header("origin", origin.to_string()).send()
    };
    let h = |r: &reqwest::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string());

    let g = Gateway::spawn(&[]);
    let r = lp(&g, "https://evil.example").await.unwrap();
    assert_eq!(h(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(h(&r, "access-control-allow-credentials"), None, "* with credentials is refused by browsers");

    let g = Gateway::spawn(&[("CORS", "https://app.example,https://admin.example")]);
    let r = lp(&g, "https://admin.example").await.unwrap();
    assert_eq!(h(&r, "access-control-allow-origin").as_deref(), Some("https://admin.example"));
    assert_eq!(h(&r, "access-control-allow-credentials").as_deref(), Some("true"));
    assert!(h(&r, "vary").unwrap_or_default().to_ascii_lowercase().contains("origin"));
    let r = lp(&g, "https://evil.example").await.unwrap();
    assert_eq!(h(&r, "access-control-allow-origin").as_deref(), Some("https://app.example"), "never the caller's own origin");
    // The same rule on SSE (its own write path) and on event publishing.
    let r = reqwest::Client::new().get(g.url("/_rig/v1/connection/sse")).header("origin", "https://admin.example").send().await.unwrap();
    assert_eq!(h(&r, "access-control-allow-origin").as_deref(), Some("https://admin.example"));
    let r = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, g.url("/_rig/v1/events"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(h(&r, "access-control-allow-origin").as_deref(), Some("https://app.example"));
}

#[tokio::test]
async fn subscription_updates_at_the_bound_in_a_loop_do_not_starve_publishers() {
    // What an attacker tries once sizes are bounded: the largest allowed PUT,
    // as fast as four clients can send it, each update replacing the last.
    let g = Gateway::spawn(&[]);
    let canary = Canary::start(&g).await;
    let clauses: Vec<Value> = (0..1500).map(|i| json!({"name": format!("{i:0>10}")})).collect();
    let list = json!({"subscriptions": [{"eventType": "greeting", "oneOf": clauses[..256].to_vec()}, {"eventType": "greeting", "oneOf": clauses[256..512].to_vec()}]}).to_string();
    assert!(list.len() < 32768);
    let mut loops = Vec::new();
    for _ in 0..4 {
        let mut sse = SseClient::connect(&g.url("/_rig/v1/connection/sse")).await;
        let (token, _) = sse.greeted().await;
        let (url, list) = (g.url(&format!("/_rig/v1/connection/sse/{token}/subscriptions")), list.clone());
        loops.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
            let mut n = 0;
            while std::time::Instant::now() < until {
                let r = http.put(&url).header("content-type", "application/json").body(list.clone()).send().await.unwrap();
                assert_eq!(r.status(), 204);
                n += 1;
            }
            drop(sse);
            n
        }));
    }
    let mut puts = 0;
    for l in loops {
        puts += l.await.unwrap();
    }
    let report = canary.report().await;
    eprintln!("{puts} subscription updates of {} bytes in 4 s", list.len());
    report.assert_healthy("subscription updates in a loop", 3000);
}

#[tokio::test]
async fn a_backends_own_cors_headers_pass_the_proxy_untouched() {
    // The CORS layer rewrites only the gateway's own answers: a proxied
    // backend that allows its origin with credentials keeps saying so.
    let backend = backend::Backend::start(|_| async {
        [("access-control-allow-origin", "https://shop.example"), ("access-control-allow-credentials", "true")]
    })
    .await;
    let api = api_def("shop", backend.port(), json!([{"id": "cart", "method": "GET", "path_regex": "/cart"}]));
    let g = Gateway::spawn(&[("PROXY_CONFIG_FILE", &json!([api]).to_string())]);
    let r = reqwest::Client::new().get(g.url("/cart")).header("origin", "https://shop.example").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
}
