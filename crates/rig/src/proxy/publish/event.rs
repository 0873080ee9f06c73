//! The request body of a publish target (rig-spec 6.10–6.12): a JSON object
//! with a `specversion` key (any value), turned into the event that is sent,
//! with the `rig` extension replaced by what RIG knows of the request.
//!
//! Pure code: the 400 texts (RIG's, with the usage help appended), the
//! partition key, the enrichment.

use std::net::IpAddr;

use http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::proxy::api::Target;

const KAFKA_HELP: &str = "Produce the request to a Kafka topic and optionally wait for the (correlated) response.\n\n\
Expects a JSON encoded CloudEvent in the HTTP body.\n\n\
Optionally set a partition key via this field:\n\n\
`rig`: {\"target_partition\":\"the-partition-key\"}\n";

const KINESIS_HELP: &str = "Produce the request to a Kinesis topic and optionally wait for the (correlated) response.\n\n\
Expects a JSON encoded CloudEvent in the HTTP body.\n\n\
Optionally set a partition key via this field:\n\n\
`rig`: {\"target_partition\":\"the-partition-key\"}\n";

const NATS_HELP: &str = "Produce the request to a NATS topic and optionally wait for the response.\n\n\
Expects a JSON encoded CloudEvent in the HTTP body.\n";

/// Parses the body as RIG's publish targets accept it; `Err` is the full 400 text.
pub fn parse(body: &[u8], target: Target) -> Result<Map<String, Value>, String> {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    match parsed {
        Ok(Value::Object(event)) if event.contains_key("specversion") => Ok(event),
        Ok(_) => Err(bad_request(target, None)),
        Err(e) => Err(bad_request(target, Some(&e))),
    }
}

/// RIG's 400 text: what is wrong, then `# Usage` and the target's help.
fn bad_request(target: Target, json_error: Option<&serde_json::Error>) -> String {
    match target {
        Target::Nats => {
            let what = match json_error {
                Some(e) => format!("The body is not JSON encoded ({e})."),
                None => "The body is a valid JSON object but does not look like a CloudEvent.".to_string(),
            };
            format!("Bad request: {what}\n\n# Usage\n\n{NATS_HELP}\n")
        }
        _ => {
            let what = match json_error {
                Some(_) => "expected a JSON encoded request body",
                None => "the body does not look like a CloudEvent",
            };
            let help = if target == Target::Kinesis { KINESIS_HELP } else { KAFKA_HELP };
            format!("Bad request: {what}.\n\n# Usage\n\n{help}\n")
        }
    }
}

/// `rig.target_partition` (a string as it is, other values as JSON text);
/// `None` when absent or empty.
pub fn partition_key(event: &Map<String, Value>) -> Option<String> {
    let key = match event.get("rig")?.get("target_partition")? {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    };
    (!key.is_empty()).then_some(key)
}

/// What RIG records of the frontend request in the `rig` extension.
pub struct RequestInfo<'a> {
    pub correlation: &'a str,
    pub remote_ip: IpAddr,
    pub host: &'a str,
    pub port: u16,
    pub scheme: &'a str,
    pub headers: &'a HeaderMap,
    pub method: &'a str,
    /// The (rewritten) request path.
    pub path: &'a str,
    /// Raw query string (empty without one).
    pub query: &'a str,
}

/// Replaces the `rig` extension; with `trace` (kafka, kinesis) also sets the
/// top-level `traceparent` and `tracestate` (removed when there is none).
pub fn enrich(event: &mut Map<String, Value>, request: &RequestInfo<'_>, trace: Option<(&str, Option<&str>)>) {
    let headers: Vec<Value> =
        request.headers.iter().map(|(name, value)| json!([name.as_str(), String::from_utf8_lossy(value.as_bytes())])).collect();
    event.insert(
        "rig".into(),
        json!({
            "correlation": request.correlation,
            "remoteip": request.remote_ip.to_string(),
            "host": request.host,
            "port": request.port,
            "scheme": request.scheme,
            "headers": headers,
            "method": request.method,
            "path": request.path,
            "query": request.query,
        }),
    );
    if let Some((traceparent, tracestate)) = trace {
        event.insert("traceparent".into(), traceparent.into());
        match tracestate {
            Some(state) => event.insert("tracestate".into(), state.into()),
            None => event.remove("tracestate"),
        };
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn body_rules_and_rig_texts() {
        assert!(parse(br#"{"specversion":"0.2","id":"1"}"#, Target::Kafka).is_ok());
        assert!(parse(br#"{"specversion":null}"#, Target::Kafka).is_ok(), "any value");
        let no_version = parse(br#"{"cloudEventsVersion":"0.1"}"#, Target::Kafka).unwrap_err();
        assert_eq!(
            no_version,
            "Bad request: the body does not look like a CloudEvent.\n\n# Usage\n\n\
             Produce the request to a Kafka topic and optionally wait for the (correlated) response.\n\n\
             Expects a JSON encoded CloudEvent in the HTTP body.\n\n\
             Optionally set a partition key via this field:\n\n\
             `rig`: {\"target_partition\":\"the-partition-key\"}\n\n"
        );
        let not_json = parse(b"{nope", Target::Kinesis).unwrap_err();
        assert!(
            not_json.starts_with("Bad request: expected a JSON encoded request body.\n\n# Usage\n\nProduce the request to a Kinesis topic")
        );
        assert!(parse(b"[1]", Target::Kafka).unwrap_err().starts_with("Bad request: the body does not look like a CloudEvent."));
        let nats = parse(b"", Target::Nats).unwrap_err();
        assert!(
            nats.starts_with("Bad request: The body is not JSON encoded (EOF while parsing a value at line 1 column 0).\n\n# Usage\n\n")
        );
        assert!(nats.ends_with("Expects a JSON encoded CloudEvent in the HTTP body.\n\n"));
        assert!(parse(b"{}", Target::Nats)
            .unwrap_err()
            .starts_with("Bad request: The body is a valid JSON object but does not look like a CloudEvent.\n\n# Usage\n\nProduce the request to a NATS topic"));
    }

    #[test]
    fn partition_key_from_the_rig_extension() {
        let e = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(partition_key(&e(json!({"rig": {"target_partition": "k"}}))).as_deref(), Some("k"));
        assert_eq!(partition_key(&e(json!({"rig": {"target_partition": 42}}))).as_deref(), Some("42"));
        assert_eq!(partition_key(&e(json!({"rig": {"target_partition": ""}}))), None);
        assert_eq!(partition_key(&e(json!({"rig": "x"}))), None);
        assert_eq!(partition_key(&e(json!({}))), None);
    }

    #[test]
    fn the_rig_extension_is_replaced_and_the_trace_set() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("localhost:4000"));
        headers.append("x-many", HeaderValue::from_static("a"));
        headers.append("x-many", HeaderValue::from_static("b"));
        let info = RequestInfo {
            correlation: "c0rr",
            remote_ip: IpAddr::from([127, 0, 0, 1]),
            host: "localhost",
            port: 4000,
            scheme: "http",
            headers: &headers,
            method: "POST",
            path: "/p",
            query: "a=1",
        };
        let mut event =
            json!({"specversion": "0.2", "rig": {"target_partition": "k", "old": 1}, "tracestate": "stale=1"}).as_object().unwrap().clone();
        enrich(&mut event, &info, Some(("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None)));
        assert_eq!(
            event["rig"],
            json!({"correlation": "c0rr", "remoteip": "127.0.0.1", "host": "localhost", "port": 4000, "scheme": "http",
                   "headers": [["host", "localhost:4000"], ["x-many", "a"], ["x-many", "b"]],
                   "method": "POST", "path": "/p", "query": "a=1"})
        );
        assert_eq!(event["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        assert!(!event.contains_key("tracestate"));
        let mut nats = json!({"specversion": "0.2"}).as_object().unwrap().clone();
        enrich(&mut nats, &info, None);
        assert!(!nats.contains_key("traceparent"), "NATS events carry no trace context");
    }
}
