//! What the reverse proxy reads from outside: API definitions (management API,
//! PROXY_CONFIG_FILE), path rewrites, correlation ids and trace context. Any
//! input must be accepted or refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rig::{
    proxy::{
        correlation::{binary_response, AsyncResponse, Correlations},
        route::{compile_path_regex, Replacement},
        store::ApiStore,
        validate::validate,
    },
    telemetry::{self, TraceContext},
};

fuzz_target!(|data: &str| {
    if let Ok(def) = serde_json::from_str::<serde_json::Value>(data) {
        let errors = validate(&def);
        let store = ApiStore::new("rig@fuzz", &[]);
        // A definition that validates must be stored and routed without trouble.
        assert_eq!(store.create(&def).is_ok(), errors.is_empty(), "{data}");
        let _ = store.routes().find("GET", "/");
    }
    if let Ok(re) = compile_path_regex(data) {
        let _ = re.replace_all("/a/b/c", &Replacement::parse(data));
    }
    let correlations = Correlations::new(Some("cookie"), 1);
    let empty = AsyncResponse { status: http::StatusCode::OK, headers: vec![], body: bytes::Bytes::new() };
    let _ = correlations.deliver(data, empty);
    let _ = binary_response([("rig-correlation", data.as_bytes()), ("rig-response-code", data.as_bytes())], bytes::Bytes::new());
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(data) {
        headers.insert("traceparent", v);
    }
    if let Some(parent) = telemetry::from_headers(&headers) {
        // What parses must print back as a valid traceparent of the same trace.
        let child = parent.child();
        assert_eq!(TraceContext::parse(&child.traceparent(), None).map(|c| c.trace_id), Some(parent.trace_id));
    }
});
