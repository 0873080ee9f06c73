//! Reverse-proxy settings from RIG's variables (rig-spec 8.4).

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::config::{list, Reader, Strings};

#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// API definitions from `PROXY_CONFIG_FILE` (a JSON array, each checked at start).
    pub apis: Vec<Value>,
    /// Upstream receive timeout (`PROXY_RECV_TIMEOUT`).
    pub recv_timeout: Duration,
    /// Wait for `POST /v3/responses` (`PROXY_HTTP_ASYNC_RESPONSE_TIMEOUT`).
    pub http_async_timeout: Duration,
    /// Wait for a Kafka response (`PROXY_KAFKA_RESPONSE_TIMEOUT`).
    pub kafka_response_timeout: Duration,
    /// Wait for a Kinesis response, which never comes (`PROXY_KINESIS_RESPONSE_TIMEOUT`).
    pub kinesis_response_timeout: Duration,
    pub request_log: RequestLogConfig,
}

/// `REQUEST_LOG`: which sinks get a line per proxied request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestLogConfig {
    pub console: bool,
    pub kafka: bool,
}

pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>) -> ProxyConfig {
    let kafka_configured = !list(&r.raw("KAFKA_BROKERS")).is_empty();
    ProxyConfig {
        apis: r.parse("PROXY_CONFIG_FILE", parse_config_file),
        recv_timeout: Duration::from_millis(r.num("PROXY_RECV_TIMEOUT")),
        http_async_timeout: Duration::from_millis(r.num("PROXY_HTTP_ASYNC_RESPONSE_TIMEOUT")),
        kafka_response_timeout: Duration::from_millis(r.num("PROXY_KAFKA_RESPONSE_TIMEOUT")),
        kinesis_response_timeout: Duration::from_millis(r.num("PROXY_KINESIS_RESPONSE_TIMEOUT")),
        request_log: r.parse("REQUEST_LOG", |s| parse_request_log(s, kafka_configured)),
    }
}

fn parse_request_log(s: &str, kafka_configured: bool) -> Result<RequestLogConfig, String> {
    let mut out = RequestLogConfig::default();
    for sink in list(s) {
        match sink.to_ascii_lowercase().as_str() {
            "console" => out.console = true,
            "kafka" if kafka_configured => out.kafka = true,
            "kafka" => return Err("kafka needs KAFKA_BROKERS".into()),
            other => return Err(format!("unknown sink {other:?}; expected console and/or kafka")),
        }
    }
    Ok(out)
}

/// `PROXY_CONFIG_FILE`: a file path (tried first) or the JSON text itself; it
/// must hold an array of API definitions, each of which must be valid.
fn parse_config_file(s: &str) -> Result<Vec<Value>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let text = if !s.starts_with(['[', '{']) && Path::new(s).is_file() {
        std::fs::read_to_string(s).map_err(|e| format!("cannot read file: {e}"))?
    } else {
        s.to_string()
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        if s.starts_with(['[', '{']) {
            format!("not valid JSON: {e}")
        } else {
            format!("neither a readable file nor valid JSON ({e})")
        }
    })?;
    let Value::Array(apis) = value else {
        return Err("expected a JSON array of API definitions".into());
    };
    Ok(apis)
}
