//! Publishing over HTTP: `POST /_rig/v1/events` (public, with `SUBMISSION_CHECK`
//! and CORS) and `POST /v2|v3/messages` (internal, neither). CloudEvents
//! (0.1, 0.2, 0.3, 1.0) in structured mode (the body is the event), binary
//! mode (`ce-*` headers) or batched mode (`application/cloudevents-batch+json`:
//! a JSON array of structured events, at most `RIG_MAX_BATCH_EVENTS`).

use crate::support::response::{json_error, json_response};
use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use rig_core::CloudEvent;
use serde_json::{json, value::RawValue};
use std::sync::Arc;

use super::body;
use crate::{
    auth::{
        check::{CheckRequest, Decision},
        jwt::bearer_tokens,
    },
    source::Source,
    state::Shared,
    telemetry::{self, Kind},
};

/// Where the request came in, which decides the checks and headers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Public,
    Internal,
}

/// `POST /_rig/v1/events`.
pub async fn public(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let mut r = publish(&app, &headers, body, Entry::Public).await;
    r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header());
    r
}

/// `POST /v3/messages` and `/v2/messages`.
pub async fn internal(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    publish(&app, &headers, body, Entry::Internal).await
}

/// `OPTIONS /_rig/v1/events`: CORS preflight.
pub async fn options(State(app): State<Shared>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, app.cors_header());
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
    r
}

async fn publish(app: &Shared, headers: &HeaderMap, body: Body, entry: Entry) -> Response {
    let body = match body::read(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // A node that cannot reach the whole cluster refuses rather than
    // acknowledging events some clients would never get.
    if let Some(why) = app.cluster.as_ref().and_then(|c| c.not_ready()) {
        let msg = format!("This node cannot deliver to the whole cluster yet ({why}); retry, or publish to another node.");
        let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, &msg);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    let response = if is_batch(headers) {
        publish_batch(app, headers, &body, entry).await
    } else {
        let event = match parse(headers, body) {
            Ok(e) => e,
            Err((status, msg)) => return json_error(status, &msg),
        };
        match submit(app, headers, event, entry).await {
            Ok(event) => accepted(&event),
            Err((status, msg)) => return json_error(status, &msg),
        }
    };
    // The answer waits until the events are written to every peer's socket:
    // from then on the kernel delivers them even if this process is killed.
    if let Some(cluster) = &app.cluster {
        if !cluster.handed_over(HANDOVER_LIMIT).await {
            tracing::debug!("Publish answered before every peer link took the event (a slow or stalled peer).");
        }
    }
    response
}

/// A publish waits at most this long for the peer links (a stalled peer keeps its queue).
const HANDOVER_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `SUBMISSION_CHECK` (public port), then dispatch in the request's trace.
async fn submit(app: &Shared, headers: &HeaderMap, event: CloudEvent, entry: Entry) -> Result<Arc<CloudEvent>, Refusal> {
    if entry == Entry::Public {
        let auth: Vec<&str> = headers.get_all(header::AUTHORIZATION).iter().filter_map(|v| v.to_str().ok()).collect();
        let request = || CheckRequest {
            body: String::from_utf8_lossy(event.json()).into_owned(),
            content_type: "application/cloudevents+json; charset=utf-8".into(),
            authorization: (!auth.is_empty()).then(|| auth.join(", ")),
        };
        let tokens = bearer_tokens(auth.iter().copied());
        if let Decision::Deny(status) = app.auth.check(&app.config.auth.submission_check, &tokens, request).await {
            return Err((status, "Submission denied.".into()));
        }
    }
    let event = Arc::new(event);
    if app.tracer.enabled() {
        // The request's trace if it has one, else the event's own.
        let parent = telemetry::from_headers(headers).or_else(|| telemetry::from_event(event.value()));
        let name = if entry == Entry::Public { "POST /_rig/v1/events" } else { "POST /v3/messages" };
        let mut span = app.tracer.start(name, Kind::Server, parent.as_ref());
        app.dispatcher.dispatch_in(Source::Http, event.clone(), Some(span.context()));
        span.set("http.response.status_code", 202u16);
    } else {
        app.dispatcher.dispatch(Source::Http, event.clone());
    }
    Ok(event)
}

fn is_batch(headers: &HeaderMap) -> bool {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/cloudevents-batch+json")
}

/// Batched mode: a JSON array of structured events, each validated, checked
/// and dispatched in order. 202 when every one was accepted, 207 when some
/// were, else the first refusal's status; the body lists each event's fate.
async fn publish_batch(app: &Shared, headers: &HeaderMap, body: &[u8], entry: Entry) -> Response {
    let events: Vec<Box<RawValue>> = match serde_json::from_slice(body) {
        Ok(list) => list,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("A batch is a JSON array of CloudEvents: {e}")),
    };
    let cap = app.config.max_batch_events;
    if events.len() > cap {
        let msg = format!("The batch holds {} events; RIG_MAX_BATCH_EVENTS allows {cap}.", events.len());
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, &msg);
    }
    if events.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "The batch is empty.");
    }
    let mut results = Vec::with_capacity(events.len());
    let (mut accepted, mut first_refusal) = (0usize, None);
    for (index, raw) in events.iter().enumerate() {
        let parsed = CloudEvent::parse(Bytes::copy_from_slice(raw.get().as_bytes()))
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("not a CloudEvent: {e}")));
        let outcome = match parsed {
            Ok(event) => submit(app, headers, event, entry).await,
            Err(refusal) => Err(refusal),
        };
        results.push(match outcome {
            Ok(event) => {
                accepted += 1;
                json!({"index": index, "status": 202, "id": event.id()})
            }
            Err((status, error)) => {
                first_refusal.get_or_insert(status);
                json!({"index": index, "status": status.as_u16(), "error": error})
            }
        });
    }
    let status = match first_refusal {
        None => StatusCode::ACCEPTED,
        Some(_) if accepted > 0 => StatusCode::MULTI_STATUS,
        Some(status) => status,
    };
    let body = json!({"accepted": accepted, "refused": events.len() - accepted, "results": results});
    json_response(status, body.to_string())
}

/// 202 with the event JSON encoded as a JSON string (RIG 3.0 answers with the
/// string form, and clients `JSON.parse` what they get).
fn accepted(event: &CloudEvent) -> Response {
    let text = std::str::from_utf8(event.json()).expect("event JSON is UTF-8");
    let body = serde_json::to_string(text).expect("strings serialise");
    json_response(StatusCode::ACCEPTED, body)
}

type Refusal = (StatusCode, String);

/// Picks the content mode from `content-type` as RIG does and parses the event.
fn parse(headers: &HeaderMap, body: Bytes) -> Result<CloudEvent, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or((StatusCode::UNSUPPORTED_MEDIA_TYPE, "A content-type header is required: application/cloudevents+json or application/json for structured mode, the data's media type with ce-* headers for binary mode.".to_string()))?;
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence.starts_with("application/cloudevents-batch") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Batched mode takes application/cloudevents-batch+json; {essence} is not supported."),
        ));
    }
    let structured =
        essence.starts_with("application/cloudevents") || (essence == "application/json" && !headers.contains_key("ce-specversion"));
    if structured {
        if essence != "application/json" && essence != "application/cloudevents+json" {
            let (t, sub) = essence.split_once('/').unwrap_or((&essence, ""));
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("The given content-type {{\"{t}\", \"{sub}\"}} is currently not supported for structured mode."),
            ));
        }
        return CloudEvent::parse(body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("The request body does not look like a CloudEvent: {e}")));
    }
    parse_binary(headers, content_type, &body)
}

fn parse_binary(headers: &HeaderMap, content_type: &str, body: &[u8]) -> Result<CloudEvent, Refusal> {
    let versions: Vec<&str> = headers.get_all("ce-specversion").iter().filter_map(|v| v.to_str().ok()).collect();
    if !matches!(versions.as_slice(), ["0.2"] | ["0.3"] | ["1.0"]) {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "Your request looks like it's using the CloudEvents binary content mode, but the ce-specversion header is {} instead of [\"0.2\"] (or [\"0.3\"], [\"1.0\"]).",
                serde_json::to_string(&versions).expect("strings serialise")
            ),
        ));
    }
    let attributes: Vec<(String, &str)> = headers
        .iter()
        .filter_map(|(name, value)| {
            let attr = name.as_str().strip_prefix("ce-")?;
            Some((attr.to_string(), value.to_str().ok()?))
        })
        .collect();
    CloudEvent::from_binary(attributes.iter().map(|(k, v)| (k.as_str(), *v)), Some(content_type), body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("Your request looks like it's using the CloudEvents binary content mode but can't be parsed ({e})"),
        )
    })
}
