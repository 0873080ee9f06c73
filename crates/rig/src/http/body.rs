//! Reading request bodies with a size cap (`RIG_MAX_BODY_BYTES`) and the
//! server's read deadline (`RIG_BODY_READ_TIMEOUT_MS`).

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::server;
use crate::support::response::{json_error, json_response};

/// The whole body; 413 when it is larger than `limit` bytes, 408 (closing the
/// connection, whose rest cannot be read) when it did not arrive in time.
pub async fn read(body: Body, limit: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if let Some(late) = server::timed_out(&e) {
            let mut r = json_error(StatusCode::REQUEST_TIMEOUT, &late.to_string());
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit exceeded"))
            || e.to_string().contains("length limit exceeded");
        if too_large {
            json_error(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body larger than {limit} bytes"))
        } else {
            json_error(StatusCode::BAD_REQUEST, &format!("could not read request body: {e}"))
        }
    })
}

/// Query parameters merged with a JSON or form body (body wins), as Phoenix does.
pub async fn params(query: Option<&str>, headers: &HeaderMap, body: Body, limit: usize) -> Result<Map<String, Value>, Response> {
    let mut out: Map<String, Value> =
        form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
    let body = read(body, limit).await?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let bad_request = |status| json_response(status, r#"{"errors":{"detail":"Bad request"}}"#);
    match essence.as_str() {
        _ if body.is_empty() => {}
        "application/json" => match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => out.extend(m),
            Ok(other) => {
                out.insert("_json".into(), other);
            }
            Err(_) => return Err(bad_request(StatusCode::BAD_REQUEST)),
        },
        "application/x-www-form-urlencoded" => {
            out.extend(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))));
        }
        _ => return Err(bad_request(StatusCode::UNSUPPORTED_MEDIA_TYPE)),
    }
    Ok(out)
}
