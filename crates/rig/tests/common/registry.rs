//! A small Confluent-compatible schema registry for the Avro tests (nothing
//! Confluent-compatible is packaged for this machine): it serves real Avro
//! schemas by id at `GET /schemas/ids/{id}` as `{"schema": "<text>"}`, and
//! answers unknown ids like the real one (404, error code 40403).

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use axum::{extract::Path, http::StatusCode, response::IntoResponse, routing::get, Router};
use serde_json::{json, Value};

/// Serves `schemas` (id -> schema JSON) until the test ends; returns its address.
pub async fn start(schemas: &[(u32, Value)]) -> SocketAddr {
    let map: Arc<HashMap<u32, String>> = Arc::new(schemas.iter().map(|(id, s)| (*id, s.to_string())).collect());
    let app = Router::new().route(
        "/schemas/ids/{id}",
        get(move |Path(id): Path<u32>| {
            let map = map.clone();
            async move {
                let (status, body) = match map.get(&id) {
                    Some(s) => (StatusCode::OK, json!({"schema": s})),
                    None => (StatusCode::NOT_FOUND, json!({"error_code": 40403, "message": "Schema not found"})),
                };
                (status, [("content-type", "application/vnd.schemaregistry.v1+json")], body.to_string()).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
