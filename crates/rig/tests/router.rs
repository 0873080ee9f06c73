//! Handler logic driven through the routers without sockets
//! (`tower::ServiceExt::oneshot`): status codes, RIG's texts and the JSON
//! error bodies, for requests that need no live connection.

mod common;

use axum::{
    body::{to_bytes, Body},
    http::{header, Method, Request, StatusCode},
    Router,
};
use common::SECRET;
use rig::{
    http::{inbound, internal},
    App, Config,
};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn routers(vars: &[(&str, &str)]) -> (Router, Router) {
    let mut all = vec![("JWT_SECRET_KEY", SECRET)];
    all.extend_from_slice(vars);
    let state = App::state(Config::for_test(&all)).await.expect("state builds");
    (inbound::router(state.clone()), internal::router(state))
}

/// Status, content type and body of one request.
async fn call(router: &Router, request: Request<Body>) -> (StatusCode, String, String) {
    let response = router.clone().oneshot(request).await.expect("routers are infallible");
    let status = response.status();
    let ct = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri).header(header::HOST, "localhost")
}

fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"].as_str().unwrap_or_else(|| panic!("no error field: {body}")).to_string()
}

#[tokio::test]
async fn public_health_and_unknown_paths() {
    let (public, _) = routers(&[]).await;
    let (status, ct, body) = call(&public, request(Method::GET, "/_rig/health").body(Body::empty()).unwrap()).await;
    assert_eq!((status, ct.as_str(), body.as_str()), (StatusCode::OK, "text/plain; charset=utf-8", "OK"));
    let (status, _, body) = call(&public, request(Method::GET, "/nothing/here").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#));
    // An encoded slash is refused before matching (never forwarded ambiguously).
    let (status, _, body) = call(&public, request(Method::GET, "/api/a%2Fb").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!error_of(&body).is_empty());
}

#[tokio::test]
async fn subscriptions_put_refuses_what_it_cannot_take() {
    let (public, _) = routers(&[]).await;
    let put = |uri: &str| request(Method::PUT, uri).header(header::CONTENT_TYPE, "application/json");
    let body = || Body::from(json!({"subscriptions": []}).to_string());

    let (status, _, text) = call(&public, put("/_rig/v1/connection/carrier-pigeon/x/subscriptions").body(body()).unwrap()).await;
    assert_eq!((status, text.as_str()), (StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#), "unknown transport");

    let (status, _, text) = call(&public, put("/_rig/v1/connection/sse/not-a-token/subscriptions").body(body()).unwrap()).await;
    assert_eq!((status, error_of(&text).as_str()), (StatusCode::BAD_REQUEST, "Invalid connection token."));

    let text_plain = request(Method::PUT, "/_rig/v1/connection/sse/x/subscriptions").header(header::CONTENT_TYPE, "text/plain");
    let (status, _, text) = call(&public, text_plain.body(body()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&text).starts_with("Expected JSON encoded body."), "{text}");

    let html = put("/_rig/v1/connection/ws/x/subscriptions").header(header::ACCEPT, "text/html");
    let (status, _, text) = call(&public, html.body(body()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(error_of(&text).contains("application/json"), "{text}");

    let missing = put("/_rig/v1/connection/longpolling/x/subscriptions").body(Body::from("{}")).unwrap();
    let (status, _, text) = call(&public, missing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&text).starts_with("Expected field \"subscriptions\" is not present."), "{text}");

    let preflight = request(Method::OPTIONS, "/_rig/v1/connection/sse/x/subscriptions").body(Body::empty()).unwrap();
    let response = public.clone().oneshot(preflight).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "PUT");
}

#[tokio::test]
async fn publishing_refuses_a_body_that_is_not_a_cloud_event() {
    let (public, internal) = routers(&[]).await;
    for (router, path) in [(&public, "/_rig/v1/events"), (&internal, "/v3/messages")] {
        let req = request(Method::POST, path).header(header::CONTENT_TYPE, "application/json").body(Body::from(r#"{"hello":1}"#));
        let (status, ct, text) = call(router, req.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        assert!(ct.starts_with("application/json"), "{ct}");
        assert!(!error_of(&text).is_empty());
    }
}

#[tokio::test]
async fn internal_port_guards_hosts_origins_and_its_token() {
    let (_, internal) = routers(&[("RIG_API_TOKEN", "s3cret")]).await;
    // As the server marks a connection that arrived on loopback.
    let loopback =
        rig::transport::Peer { remote: "127.0.0.1:50000".parse().unwrap(), local: "127.0.0.1:4010".parse().unwrap(), tls: false };
    let users = |host: &str| Request::builder().uri("/v3/users").header(header::HOST, host).extension(loopback);

    let (status, _, text) = call(&internal, users("localhost").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let (status, _, text) =
        call(&internal, users("localhost").header(header::AUTHORIZATION, "Bearer s3cret").body(Body::empty()).unwrap()).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, r#"{"users":[]}"#));
    // Probes need no token.
    let (status, _, _) =
        call(&internal, Request::builder().uri("/health").header(header::HOST, "localhost").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // On loopback, a DNS-rebinding name and a foreign page's origin are refused even with the token.
    let rebinding = users("evil.example").header(header::AUTHORIZATION, "Bearer s3cret");
    let (status, _, text) = call(&internal, rebinding.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let cross = users("localhost").header(header::AUTHORIZATION, "Bearer s3cret").header(header::ORIGIN, "http://evil.example");
    let (status, _, text) = call(&internal, cross.body(Body::empty()).unwrap()).await;
    assert_eq!((status, error_of(&text).as_str()), (StatusCode::FORBIDDEN, "cross-origin requests to the internal API are refused"));
}

#[tokio::test]
async fn async_responses_without_a_waiting_request_are_refused() {
    let (_, internal) = routers(&[]).await;
    let req = request(Method::POST, "/v3/responses").header("rig-correlation", "forged").header("rig-response-code", "200");
    let (status, _, text) = call(&internal, req.body(Body::from("hi")).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&text).starts_with("Failed to parse request body:"), "{text}");
}

#[tokio::test]
async fn rg_endpoints_need_their_scope_and_list_presence() {
    let (inbound, _) = routers(&[]).await;
    let token = |actions: &[&str]| common::jwt(json!({"jti": "ops", "scopes": {"rg": {"actions": actions}}}));
    let get = |uri: &str, auth: Option<String>| {
        let r = request(Method::GET, uri);
        match auth {
            Some(a) => r.header(header::AUTHORIZATION, a),
            None => r,
        }
        .body(Body::empty())
        .unwrap()
    };
    let (status, _, body) = call(&inbound, get("/rg/sessions", None)).await;
    assert_eq!((status, error_of(&body).as_str()), (StatusCode::FORBIDDEN, "Unauthorized"));
    assert_eq!(call(&inbound, get("/rg/sessions", Some("not-a-jwt".into()))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&inbound, get("/rg/sessions", Some(token(&["getSessionConnections"])))).await.0, StatusCode::FORBIDDEN);
    // 1.x read the header as the token itself; Bearer is taken too.
    let (status, ct, body) = call(&inbound, get("/rg/sessions", Some(token(&["getSessions"])))).await;
    assert_eq!((status, ct.starts_with("application/json"), body.as_str()), (StatusCode::OK, true, "[]"));
    let bearer = format!("Bearer {}", token(&["getSessionConnections"]));
    assert_eq!(call(&inbound, get("/rg/sessions/alice", Some(bearer))).await.2, "[]");
    let delete = request(Method::DELETE, "/rg/connections/x").header(header::AUTHORIZATION, token(&["getSessions"])).body(Body::empty());
    assert_eq!(call(&inbound, delete.unwrap()).await.0, StatusCode::FORBIDDEN, "each action its own scope");
}
