//! The reverse proxy against real backends (rig-spec 6.4–6.9): matching and
//! rewriting, what the backend receives, secured endpoints, errors of dead,
//! slow and broken backends, streaming, and asynchronous responses.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{
    backend::{self, dead_port, raw_backend, Backend},
    *,
};
use futures_util::StreamExt;
use serde_json::{json, Value};

fn ep(id: &str, method: &str, path_regex: &str) -> Value {
    json!({"id": id, "method": method, "path_regex": path_regex})
}

async fn metrics(rig: &TestRig) -> String {
    rig.http.get(rig.api_url("/metrics")).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn forwards_with_rewritten_path_query_and_rig_headers() {
    let rig = TestRig::start(&[]).await;
    let backend = Backend::start(|_| async {
        (StatusCode::CREATED, [("x-backend", "yes"), ("connection", "x-backend-private"), ("x-backend-private", "1")], "created")
    })
    .await;
    let mut rewrite = ep("rewrite", "GET", "/foo/([^/]+)/bar/([^/]+)");
    rewrite["path_replacement"] = "/bar/\\1/foo/\\2".into();
    let endpoints = json!([rewrite, ep("detail", "GET", "/myapi/detail/.+"), ep("post", "POST", "/myapi/books")]);
    rig.add_api(&api_def("svc", backend.port(), endpoints)).await;

    let r = rig.http.get(rig.url("/FOO/1/bar/2?page[offset]=0&page[limit]=10&a=%20b")).header("host", "rig.local").send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-backend"], "yes");
    assert!(r.headers().get("x-backend-private").is_none(), "headers the backend named in connection stay on its hop");
    assert_eq!(r.text().await.unwrap(), "created");
    let seen = backend.last();
    assert_eq!(seen.path, "/bar/1/foo/2", "rewritten with the case-insensitive match's captures");
    assert_eq!(seen.params(), [("page[offset]", "0"), ("page[limit]", "10"), ("a", " b")].map(|(k, v)| (k.to_string(), v.to_string())));
    assert_eq!(seen.header("host"), Some(format!("127.0.0.1:{}", backend.port()).as_str()));

    // IDs with dots and UUIDs match `.+`; a trailing extra segment does not match an anchored regex.
    for id in ["first.user", "95258830-28c6-11e7-a7ed-a1b56e729040"] {
        assert_eq!(rig.http.get(rig.url(&format!("/myapi/detail/{id}"))).send().await.unwrap().status(), 201);
    }
    assert_eq!(rig.http.get(rig.url("/x/myapi/detail/1")).send().await.unwrap().status(), 404);

    // Headers: hop-by-hop dropped, forwarded and traceparent replaced, others kept.
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = rig
        .http
        .post(rig.url("/myapi/books"))
        .header("forwarded", "for=spoofed")
        .header("traceparent", parent)
        .header("tracestate", "vendor=1")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "private")
        .header("keep-alive", "timeout=5")
        .header("x-custom", "kept")
        .body("the body")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let seen = backend.last();
    assert_eq!(seen.body, "the body");
    assert_eq!(seen.header("forwarded"), Some("for=127.0.0.1;by=127.0.0.1"));
    assert_eq!(seen.header("x-custom"), Some("kept"));
    assert_eq!(seen.header("tracestate"), Some("vendor=1"));
    for gone in ["x-hop", "keep-alive"] {
        assert!(seen.header(gone).is_none(), "{gone} was forwarded");
    }
    let tp: Vec<&str> = seen.header("traceparent").unwrap().split('-').collect();
    assert_eq!((tp[0], tp[1], tp[3]), ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01"), "same trace");
    assert_ne!(tp[2], "00f067aa0ba902b7", "a new span");
    // Without a trace context a new trace starts.
    rig.http.post(rig.url("/myapi/books")).send().await.unwrap();
    let fresh = backend.last();
    assert_eq!(fresh.header("traceparent").map(|t| t.len()), Some(55));
    assert!(fresh.header("tracestate").is_none());

    let m = metrics(&rig).await;
    assert!(
        m.contains(r#"rig_proxy_requests_total{method="POST",path="/myapi/books",target="http",response_from="http",status="ok"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"rig_proxy_requests_total{method="GET",path="/x/myapi/detail/1",target="N/A",response_from="N/A",status="not_found"} 1"#
        ),
        "{m}"
    );
}

#[tokio::test]
async fn every_rig_method_is_forwarded_and_others_get_405() {
    let rig = TestRig::start(&[]).await;
    let backend = Backend::start(|s| async move { format!("{{\"msg\":\"{}\"}}", s.method) }).await;
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BADMETHOD"];
    let endpoints: Vec<Value> = methods.iter().map(|m| ep(&m.to_lowercase(), m, "/api")).collect();
    rig.add_api(&api_def("methods", backend.port(), json!(endpoints))).await;
    for m in &methods[..6] {
        let r = rig.http.request(m.parse().unwrap(), rig.url("/api")).body("b").send().await.unwrap();
        assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, format!("{{\"msg\":\"{m}\"}}")), "{m}");
        let seen = backend.last();
        // RIG sends a body only with POST, PUT and PATCH.
        assert_eq!(seen.body.is_empty(), !matches!(*m, "POST" | "PUT" | "PATCH"), "{m}");
    }
    // HEAD is routed (and forwarded) as GET; the client gets the head only.
    let r = rig.http.head(rig.url("/api")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(backend.last().method, "GET");
    assert_eq!(r.text().await.unwrap(), "");
    let r = rig.http.request("BADMETHOD".parse().unwrap(), rig.url("/api")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (405, r#"{"error":"Method not allowed."}"#.to_string()));
}

#[tokio::test]
async fn header_transformation_adds_and_overrides_headers() {
    let rig = TestRig::start(&[]).await;
    let backend = Backend::ok().await;
    let mut def = api_def(
        "transform",
        backend.port(),
        json!([
            {"id": "t", "method": "POST", "path_regex": "/myapi/transform-headers", "transform_request_headers": true},
            {"id": "n", "method": "POST", "path_regex": "/myapi/no-transform-headers"}
        ]),
    );
    def["version_data"]["default"]["transform_request_headers"] =
        json!({"add_headers": {"john": "doe", "x-replace": "new", "host": "different"}});
    rig.add_api(&def).await;
    rig.http.post(rig.url("/myapi/transform-headers")).header("x-replace", "old").send().await.unwrap();
    let seen = backend.last();
    assert_eq!((seen.header("john"), seen.header("x-replace")), (Some("doe"), Some("new")));
    assert_eq!(seen.header("host"), Some(format!("127.0.0.1:{}", backend.port()).as_str()), "host is replaced anyway");
    rig.http.post(rig.url("/myapi/no-transform-headers")).header("x-replace", "old").send().await.unwrap();
    let seen = backend.last();
    assert_eq!((seen.header("john"), seen.header("x-replace")), (None, Some("old")));

    // RIG answered 500 when the flag was set without add_headers.
    rig.add_api(&api_def(
        "bare",
        backend.port(),
        json!([{"id": "t", "method": "GET", "path_regex": "/bare", "transform_request_headers": true}]),
    ))
    .await;
    assert_eq!(rig.http.get(rig.url("/bare")).send().await.unwrap().status(), 200);
}

fn expired_jwt(claims: Value) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 60;
    let mut c = json!({"exp": exp});
    c.as_object_mut().unwrap().extend(claims.as_object().unwrap().clone());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &c, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap()).unwrap()
}

#[tokio::test]
async fn secured_endpoints_need_one_valid_token() {
    let rig = TestRig::start(&[]).await;
    let backend = Backend::ok().await;
    let secured = |id: &str, path: &str| json!({"id": id, "method": "GET", "path_regex": path, "secured": true});
    let mut def = api_def("secure", backend.port(), json!([secured("books", "/myapi/books"), ep("free", "GET", "/myapi/free")]));
    def["auth_type"] = "jwt".into();
    def["auth"] = json!({"use_query": true, "query_name": "token"});
    rig.add_api(&def).await;
    let get = |path: &str, auth: Option<String>| {
        let mut req = rig.http.get(rig.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    let valid = jwt(json!({"jti": "s1"}));
    let r = get("/myapi/books", None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["access-control-allow-methods"], "*");
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type");
    assert_eq!(r.text().await.unwrap(), r#"{"error":"Authentication failed."}"#);
    assert_eq!(get("/myapi/free", None).await.unwrap().status(), 200);
    assert_eq!(get("/myapi/books", Some(format!("Bearer {valid}"))).await.unwrap().status(), 200);
    assert_eq!(get("/myapi/books", Some(format!("Bearer garbage, Bearer {valid}"))).await.unwrap().status(), 200, "one valid is enough");
    assert_eq!(get("/myapi/books", Some(valid.clone())).await.unwrap().status(), 401, "Bearer is required");
    assert_eq!(get("/myapi/books", Some(format!("Bearer {}", expired_jwt(json!({}))))).await.unwrap().status(), 401);
    // Query tokens, as documented (RIG 3.0 never read them).
    assert_eq!(get(&format!("/myapi/books?token=x,{valid}"), None).await.unwrap().status(), 200);
    assert_eq!(get("/myapi/books?token=x", None).await.unwrap().status(), 401);
    // A blacklisted session's token is refused from then on.
    let r = rig
        .http
        .post(rig.api_url("/v3/session-blacklist"))
        .json(&json!({"sessionId": "s1", "validityInSeconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(get("/myapi/books", Some(format!("Bearer {valid}"))).await.unwrap().status(), 401);
    assert_eq!(get("/myapi/free", None).await.unwrap().status(), 200, "unsecured endpoints are unaffected");
    let m = metrics(&rig).await;
    let books: Vec<&str> = m.lines().filter(|l| l.contains(r#"path="/myapi/books""#)).collect();
    assert_eq!(
        books,
        [r#"rig_proxy_requests_total{method="GET",path="/myapi/books",target="http",response_from="http",status="ok"} 3"#],
        "401s are not counted"
    );

    // A custom x- header carries raw tokens (set with PUT; create forces Authorization).
    def["auth"] = json!({"use_header": true, "header_name": "X-Token", "use_query": false, "query_name": ""});
    let r = rig.http.put(rig.api_url("/v3/apis/secure")).json(&def).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let other = jwt(json!({"jti": "s2"}));
    let r = rig.http.get(rig.url("/myapi/books")).header("x-token", other.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get("/myapi/books", Some(format!("Bearer {other}"))).await.unwrap().status(), 401);
}

#[tokio::test]
async fn broken_backends_get_clean_errors() {
    let rig = TestRig::start(&[("PROXY_RECV_TIMEOUT", "300"), ("RIG_MAX_BODY_BYTES", "1000")]).await;
    let slow = Backend::start(|_| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    })
    .await;
    let (cut, _cut_task) = raw_backend(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b").await;
    let (garbage, _garbage_task) = raw_backend(b"\x00\x01 this is not HTTP\r\n\r\n").await;
    let (closed, _closed_task) = raw_backend(b"").await;
    for (id, port) in
        [("dead", dead_port()), ("slow", slow.port()), ("cut", cut.port()), ("garbage", garbage.port()), ("closed", closed.port())]
    {
        rig.add_api(&api_def(id, port, json!([ep(id, "POST", &format!("/{id}"))]))).await;
    }
    let post = |path: &str| rig.http.post(rig.url(path)).body("x").send();
    for path in ["/dead", "/garbage", "/closed"] {
        let r = post(path).await.unwrap();
        assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (502, r#"{"error":"Bad gateway."}"#.to_string()), "{path}");
    }
    let started = Instant::now();
    let r = post("/slow").await.unwrap();
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(3), "PROXY_RECV_TIMEOUT applies: {:?}", started.elapsed());
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("300 ms"), "{body}");
    // A backend that closes mid-body: the head was already relayed, so the client's response breaks off.
    let r = post("/cut").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "a truncated body is not passed off as complete");
    // Bodies over RIG_MAX_BODY_BYTES are refused before forwarding.
    let r = rig.http.post(rig.url("/slow")).body(vec![b'a'; 5000]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(slow.seen().len(), 1);
    let m = metrics(&rig).await;
    for line in [
        r#"path="/dead",target="http",response_from="http",status="unreachable"} 1"#,
        r#"path="/slow",target="http",response_from="http",status="request_timeout"} 1"#,
    ] {
        assert!(m.contains(line), "{line} missing:\n{m}");
    }
    // The gateway is fine afterwards.
    assert_eq!(rig.http.get(rig.url("/_rig/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn responses_are_streamed_not_buffered() {
    let rig = TestRig::start(&[]).await;
    let (release, wait) = tokio::sync::watch::channel(false);
    let backend = Backend::start(move |_| {
        let mut wait = wait.clone();
        async move {
            let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"first;")) });
            let second = futures_util::stream::once(async move {
                let _ = wait.wait_for(|go| *go).await;
                Ok(bytes::Bytes::from(vec![b'x'; 4 << 20]))
            });
            axum::body::Body::from_stream(first.chain(second))
        }
    })
    .await;
    rig.add_api(&api_def("stream", backend.port(), json!([ep("s", "GET", "/stream")]))).await;
    let r = rig.http.get(rig.url("/stream")).send().await.unwrap();
    let mut body = r.bytes_stream();
    let first = tokio::time::timeout(PATIENCE, body.next()).await.expect("the first chunk arrives while the backend still holds the rest");
    assert_eq!(first.unwrap().unwrap(), "first;");
    release.send(true).unwrap();
    let mut rest = 0;
    while let Some(chunk) = body.next().await {
        rest += chunk.unwrap().len();
    }
    assert_eq!(rest, 4 << 20);
}

#[tokio::test]
async fn a_backend_stalling_mid_body_is_cut_off_after_the_receive_timeout() {
    let rig = TestRig::start(&[("PROXY_RECV_TIMEOUT", "300")]).await;
    let backend = Backend::start(|_| async {
        let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"first;")) });
        axum::body::Body::from_stream(first.chain(futures_util::stream::pending()))
    })
    .await;
    rig.add_api(&api_def("stall", backend.port(), json!([ep("s", "GET", "/stall")]))).await;
    let started = Instant::now();
    let r = rig.http.get(rig.url("/stall")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let result = tokio::time::timeout(PATIENCE, r.bytes()).await.expect("the response ends instead of hanging");
    assert!(result.is_err(), "a stalled body is not passed off as complete");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

/// An endpoint with `response_from` on a backend that behaves as `reply` says.
async fn async_api(rig: &TestRig, backend: &Backend, response_from: &str) {
    let mut e = ep("async", "GET", "/async");
    e["response_from"] = response_from.into();
    rig.add_api(&api_def(&format!("async-{response_from}"), backend.port(), json!([e]))).await;
}

fn correlation(seen: &backend::Seen) -> String {
    seen.params().into_iter().find(|(k, _)| k == "correlation").expect("a correlation parameter").1
}

async fn post_response(api: &str, correlation: &str, code: &str, body: &'static str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{api}/v3/responses"))
        .header("rig-correlation", correlation)
        .header("rig-response-code", code)
        .header("content-type", "application/json;charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn http_async_takes_the_response_from_v3_responses() {
    let rig = TestRig::start(&[("PROXY_HTTP_ASYNC_RESPONSE_TIMEOUT", "500")]).await;
    let api = format!("http://{}", rig.app.api_addr);
    // The backend posts the real response before it answers 202 (RIG's own test does this).
    let early = {
        let api = api.clone();
        Backend::start(move |seen| {
            let api = api.clone();
            async move {
                let c = correlation(&seen);
                if seen.query.as_deref().unwrap_or("").contains("late=1") {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        assert_eq!(post_response(&api, &c, "201", r#"{"message":"late"}"#).await.status(), 202);
                    });
                } else {
                    let r = post_response(&api, &c, "201", r#"{"message":"async"}"#).await;
                    assert_eq!(r.status(), 202);
                    assert_eq!(r.text().await.unwrap(), "message sent to correlated reverse proxy request");
                }
                (StatusCode::ACCEPTED, r#"{"this response":"the client never sees"}"#)
            }
        })
        .await
    };
    async_api(&rig, &early, "http_async").await;
    for (query, message) in [("", "async"), ("?late=1&correlation=spoofed", "late")] {
        let r = rig.http.get(rig.url(&format!("/async{query}"))).send().await.unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["content-type"], "application/json;charset=utf-8");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"message": message}));
    }
    assert_eq!(
        early.seen().iter().filter(|s| s.params().iter().filter(|(k, _)| k == "correlation").count() == 1).count(),
        2,
        "one correlation parameter each"
    );
    assert!(metrics(&rig).await.contains(r#"path="/async",target="http",response_from="http_async",status="ok"} 2"#));
}

#[tokio::test]
async fn http_async_failures_time_out_with_504() {
    let rig = TestRig::start(&[("PROXY_HTTP_ASYNC_RESPONSE_TIMEOUT", "400")]).await;
    let api = format!("http://{}", rig.app.api_addr);
    let backend = {
        let api = api.clone();
        Backend::start(move |seen| {
            let api = api.clone();
            async move {
                let c = correlation(&seen);
                let r = post_response(&api, &c, "abc201", "{}").await;
                assert_eq!(r.status(), 400);
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["error"], "Failed to parse request body: {:error, {:not_an_integer, \"abc201\"}}");
                StatusCode::ACCEPTED
            }
        })
        .await
    };
    async_api(&rig, &backend, "http_async").await;
    let started = Instant::now();
    let r = rig.http.get(rig.url("/async")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(metrics(&rig).await.contains(r#"response_from="http_async",status="response_timeout"} 1"#));

    // Forged, malformed and missing correlation ids are refused.
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (id, reason) in [(forged, "invalid signature"), ("abc", "not a well-formed id")] {
        let r = post_response(&api, id, "200", "{}").await;
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains(reason), "{id}");
    }
    let r = rig.http.post(rig.api_url("/v3/responses")).header("rig-response-code", "200").send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "Failed to parse request body: missing header rig-correlation");
}

#[tokio::test]
async fn non_202_answers_are_forwarded_directly() {
    let rig = TestRig::start(&[]).await;
    let backend = Backend::start(|seen| async move {
        assert!(seen.query.unwrap().starts_with("correlation="));
        (StatusCode::BAD_REQUEST, "Bad request from the test endpoint")
    })
    .await;
    async_api(&rig, &backend, "http_async").await;
    let r = rig.http.get(rig.url("/async")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (400, "Bad request from the test endpoint".to_string()));
}

#[tokio::test]
async fn kinesis_and_kafka_responses_wait_their_own_timeouts() {
    let rig = TestRig::start(&[("PROXY_KINESIS_RESPONSE_TIMEOUT", "200"), ("PROXY_KAFKA_RESPONSE_TIMEOUT", "300")]).await;
    let backend = Backend::start(|_| async { StatusCode::ACCEPTED }).await;
    let mut kinesis = ep("k", "GET", "/kinesis");
    kinesis["response_from"] = "kinesis".into();
    let mut kafka = ep("f", "GET", "/kafka");
    kafka["response_from"] = "kafka".into();
    rig.add_api(&api_def("waits", backend.port(), json!([kinesis, kafka]))).await;
    for (path, least) in [("/kinesis", 200), ("/kafka", 300)] {
        let started = Instant::now();
        let r = rig.http.get(rig.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 504, "{path}");
        assert!(
            started.elapsed() >= Duration::from_millis(least) && started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn legacy_v2_responses_deliver_the_cloud_event() {
    let rig = TestRig::start(&[]).await;
    let api = format!("http://{}", rig.app.api_addr);
    let backend = Backend::start(move |seen| {
        let api = api.clone();
        async move {
            let event = json!({"specversion": "0.2", "type": "rig.async-response", "source": "fake-service", "id": "1",
                "rig": {"correlation": correlation(&seen)}, "data": {"answer": 42}});
            let r = reqwest::Client::new().post(format!("{api}/v2/responses")).json(&event).send().await.unwrap();
            assert_eq!(r.status(), 202);
            StatusCode::ACCEPTED
        }
    })
    .await;
    async_api(&rig, &backend, "http_async").await;
    let r = rig.http.get(rig.url("/async")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let event: Value = r.json().await.unwrap();
    assert_eq!((event["id"].clone(), event["data"]["answer"].clone()), (json!("1"), json!(42)));
    let r = rig
        .http
        .post(rig.api_url("/v2/responses"))
        .json(&json!({"specversion": "0.2", "type": "t", "id": "1", "source": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
