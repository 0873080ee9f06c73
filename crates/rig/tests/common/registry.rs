//! A small Confluent-compatible schema registry for the Avro tests (nothing
//! Confluent-compatible is packaged for this machine): it serves real Avro
//! schemas by id at `GET /schemas/ids/{id}` as `{"schema": "<text>"}` and the
//! latest version of a subject at `GET /subjects/{subject}/versions/latest`,
//! and answers unknown ids and subjects like the real one (404, error codes
//! 40403 and 40401).

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use axum::{extract::Path, http::StatusCode, response::IntoResponse, routing::get, Router};
use serde_json::{json, Value};

/// Serves `schemas` (id -> schema JSON) until the test ends; returns its address.
pub async fn start(schemas: &[(u32, Value)]) -> SocketAddr {
    start_with_subjects(schemas, &[]).await
}

/// Also serves `subjects` (name -> id of its latest schema).
pub async fn start_with_subjects(schemas: &[(u32, Value)], subjects: &[(&str, u32)]) -> SocketAddr {
    let map: Arc<HashMap<u32, String>> = Arc::new(schemas.iter().map(|(id, s)| (*id, s.to_string())).collect());
    let latest: Arc<HashMap<String, u32>> = Arc::new(subjects.iter().map(|(s, id)| (s.to_string(), *id)).collect());
    let by_id = map.clone();
    let app = Router::new()
        .route(
            "/schemas/ids/{id}",
            get(move |Path(id): Path<u32>| {
                let map = by_id.clone();
                async move {
                    match map.get(&id) {
                        Some(s) => answer(StatusCode::OK, json!({"schema": s})),
                        None => answer(StatusCode::NOT_FOUND, json!({"error_code": 40403, "message": "Schema not found"})),
                    }
                }
            }),
        )
        .route(
            "/subjects/{subject}/versions/latest",
            get(move |Path(subject): Path<String>| {
                let (map, latest) = (map.clone(), latest.clone());
                async move {
                    match latest.get(&subject).and_then(|id| Some((*id, map.get(id)?))) {
                        Some((id, s)) => answer(StatusCode::OK, json!({"subject": subject, "version": 1, "id": id, "schema": s})),
                        None => answer(StatusCode::NOT_FOUND, json!({"error_code": 40401, "message": "Subject not found"})),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn answer(status: StatusCode, body: Value) -> axum::response::Response {
    (status, [("content-type", "application/vnd.schemaregistry.v1+json")], body.to_string()).into_response()
}
