//! Span export: a background task batches finished spans and posts them as
//! OTLP/HTTP JSON (`OTEL_EXPORTER_OTLP_*`) and/or Zipkin v2 JSON (`ZIPKIN_ADDR`).
//! Both encodings are plain JSON over the HTTP client the gateway already has,
//! which keeps the OpenTelemetry SDK (and a second HTTP stack) out of the binary.

use std::{sync::atomic::Ordering, sync::Arc};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{
    config::TraceConfig,
    context::to_hex,
    span::{AttrValue, Kind, SpanData, TraceStats},
};

/// Runs until every [`super::Tracer`] is gone; each batch goes out when it is
/// full or `schedule_delay` after its first span.
pub async fn run(config: TraceConfig, mut rx: mpsc::Receiver<SpanData>, stats: Arc<TraceStats>, http: reqwest::Client) {
    let mut batch = Vec::with_capacity(config.max_batch);
    loop {
        let Some(first) = rx.recv().await else { return };
        batch.push(first);
        let deadline = tokio::time::sleep(config.schedule_delay);
        tokio::pin!(deadline);
        while batch.len() < config.max_batch {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(span) => batch.push(span),
                    None => break,
                },
                _ = &mut deadline => break,
            }
        }
        send(&config, &http, &batch, &stats).await;
        batch.clear();
    }
}

async fn send(config: &TraceConfig, http: &reqwest::Client, batch: &[SpanData], stats: &TraceStats) {
    let mut posts = Vec::new();
    if let Some(url) = &config.otlp_url {
        let mut req = http.post(url).header("content-type", "application/json").body(otlp_json(&config.service_name, batch).to_string());
        for (k, v) in &config.otlp_headers {
            req = req.header(k, v);
        }
        posts.push(("OTLP", req));
    }
    if let Some(url) = &config.zipkin_url {
        posts.push((
            "Zipkin",
            http.post(url).header("content-type", "application/json").body(zipkin_json(&config.service_name, batch).to_string()),
        ));
    }
    for (what, req) in posts {
        match req.send().await.and_then(|r| r.error_for_status()) {
            Ok(_) => {
                stats.exported.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(error) => {
                stats.export_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, spans = batch.len(), "{what} span export failed; the batch is dropped.");
            }
        }
    }
}

/// An OTLP `ExportTraceServiceRequest` in the OTLP/JSON encoding (ids as hex,
/// 64-bit numbers as strings, enums as numbers).
pub fn otlp_json(service: &str, spans: &[SpanData]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut v = json!({
                "traceId": to_hex(&s.context.trace_id),
                "spanId": to_hex(&s.context.span_id),
                "name": s.name,
                "kind": s.kind as u8,
                "startTimeUnixNano": s.start_ns.to_string(),
                "endTimeUnixNano": s.end_ns.to_string(),
                "attributes": s.attributes.iter().map(|(k, v)| json!({"key": k, "value": otlp_value(v)})).collect::<Vec<_>>(),
                "status": match &s.error {
                    None => json!({"code": 0}),
                    Some(msg) => json!({"code": 2, "message": msg}),
                },
            });
            if let Some(p) = &s.parent_span_id {
                v["parentSpanId"] = to_hex(p).into();
            }
            if let Some(state) = &s.context.tracestate {
                v["traceState"] = state.as_str().into();
            }
            v
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "rig", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}],
    }]})
}

fn otlp_value(v: &AttrValue) -> Value {
    match v {
        AttrValue::Str(s) => json!({"stringValue": s}),
        AttrValue::Int(n) => json!({"intValue": n.to_string()}),
        AttrValue::Bool(b) => json!({"boolValue": b}),
    }
}

/// Zipkin API v2 spans (microsecond times, string tags).
pub fn zipkin_json(service: &str, spans: &[SpanData]) -> Value {
    spans
        .iter()
        .map(|s| {
            let mut tags: serde_json::Map<String, Value> = s
                .attributes
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        AttrValue::Str(s) => s.clone(),
                        AttrValue::Int(n) => n.to_string(),
                        AttrValue::Bool(b) => b.to_string(),
                    };
                    (k.to_string(), Value::String(text))
                })
                .collect();
            if let Some(msg) = &s.error {
                tags.insert("error".into(), msg.as_str().into());
            }
            let mut v = json!({
                "traceId": to_hex(&s.context.trace_id),
                "id": to_hex(&s.context.span_id),
                "name": s.name,
                "timestamp": s.start_ns / 1000,
                "duration": ((s.end_ns - s.start_ns) / 1000).max(1),
                "localEndpoint": {"serviceName": service},
                "tags": tags,
            });
            if let Some(p) = &s.parent_span_id {
                v["parentId"] = to_hex(p).into();
            }
            let kind = match s.kind {
                Kind::Server => Some("SERVER"),
                Kind::Client => Some("CLIENT"),
                Kind::Producer => Some("PRODUCER"),
                Kind::Consumer => Some("CONSUMER"),
                Kind::Internal => None,
            };
            if let Some(k) = kind {
                v["kind"] = k.into();
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::context::TraceContext;

    fn span() -> SpanData {
        let parent = TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Some("a=b")).unwrap();
        SpanData {
            name: "rig.dispatch".into(),
            kind: Kind::Consumer,
            context: parent.child(),
            parent_span_id: Some(parent.span_id),
            start_ns: 1_700_000_000_000_000_000,
            end_ns: 1_700_000_000_000_500_000,
            attributes: vec![("rig.recipients", AttrValue::Int(3)), ("rig.source", "http".into())],
            error: None,
        }
    }

    #[test]
    fn otlp_json_uses_hex_ids_and_string_numbers() {
        let v = otlp_json("rig", &[span()]);
        let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(s["parentSpanId"], "b7ad6b7169203331");
        assert_eq!(s["kind"], 5);
        assert_eq!(s["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(s["attributes"][0]["value"]["intValue"], "3");
        assert_eq!(s["traceState"], "a=b");
        assert_eq!(v["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "rig");
    }

    #[test]
    fn zipkin_json_uses_microseconds() {
        let v = zipkin_json("rig", &[span()]);
        assert_eq!(v[0]["timestamp"], 1_700_000_000_000_000u64);
        assert_eq!(v[0]["duration"], 500);
        assert_eq!(v[0]["kind"], "CONSUMER");
        assert_eq!(v[0]["tags"]["rig.recipients"], "3");
        assert_eq!(v[0]["parentId"], "b7ad6b7169203331");
    }
}
