//! A real HTTP server started inside a test (external check service, JWKS
//! endpoint): records what it receives and answers what the test says.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
    Router,
};
use serde_json::Value;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    jwks: Mutex<Value>,
}

/// Answers `POST /status/{code}` with that status, `POST /slow` after 10 s,
/// and `GET /jwks` with the current key set.
pub struct TestServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/status/{code}", post(status))
            .route("/slow", post(slow))
            .route("/jwks", get(jwks))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn set_jwks(&self, keys: Value) {
        *self.shared.jwks.lock().unwrap() = keys;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn record(shared: &Shared, path: String, headers: &HeaderMap, body: &Bytes) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    shared.seen.lock().unwrap().push(Seen {
        path,
        authorization: h("authorization"),
        content_type: h("content-type"),
        body: String::from_utf8_lossy(body).into_owned(),
    });
}

async fn status(State(s): State<Arc<Shared>>, Path(code): Path<u16>, headers: HeaderMap, body: Bytes) -> StatusCode {
    record(&s, format!("/status/{code}"), &headers, &body);
    StatusCode::from_u16(code).unwrap()
}

async fn slow(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    record(&s, "/slow".into(), &headers, &body);
    tokio::time::sleep(Duration::from_secs(10)).await;
    StatusCode::OK
}

async fn jwks(State(s): State<Arc<Shared>>) -> String {
    s.jwks.lock().unwrap().to_string()
}
