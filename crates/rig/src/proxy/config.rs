//! Reverse-proxy settings from RIG's variables (rig-spec 8.4).

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::support::env::{boolean, list, Reader, Strings};

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
    /// `forwarded: by=` value: the address `HOST` resolves to (or `HOST` itself).
    pub forwarded_by: String,
    /// Answer `GET /apis` on the public port (`RIG_PUBLIC_APIS_ENDPOINT`).
    pub public_apis_endpoint: bool,
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
        forwarded_by: resolve(r.raw("HOST").trim()),
        public_apis_endpoint: r.parse("RIG_PUBLIC_APIS_ENDPOINT", boolean),
    }
}

/// RIG resolves `HOST` to an IP address for `forwarded: by=`; a name that does
/// not resolve is used as it is.
fn resolve(host: &str) -> String {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.to_string();
    }
    let first = (host, 0).to_socket_addrs().ok().and_then(|mut addrs| {
        let all: Vec<_> = addrs.by_ref().collect();
        all.iter().find(|a| a.is_ipv4()).or(all.first()).map(|a| a.ip())
    });
    match first {
        Some(ip) => ip.to_string(),
        None => {
            tracing::warn!(host, "HOST does not resolve; proxied requests say forwarded: by=<HOST>.");
            host.to_string()
        }
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
    let Value::Array(mut apis) = value else {
        return Err("expected a JSON array of API definitions".into());
    };
    for (i, api) in apis.iter_mut().enumerate() {
        let errors = super::validate::validate(api);
        if !errors.is_empty() {
            return Err(format!("API definition #{} is invalid: {}", i + 1, errors.summary()));
        }
        upper_case_methods(api);
    }
    Ok(apis)
}

/// File-configured endpoint methods are upper-cased on load (RIG).
fn upper_case_methods(api: &mut Value) {
    let Some(Value::Object(versions)) = api.get_mut("version_data") else { return };
    for version in versions.values_mut() {
        let Some(Value::Array(endpoints)) = version.get_mut("endpoints") else { continue };
        for e in endpoints {
            if let Some(Value::String(m)) = e.get_mut("method") {
                *m = m.to_ascii_uppercase();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_is_a_path_or_json_and_every_definition_is_checked() {
        let api = r#"[{"id":"a","name":"a","proxy":{"target_url":"h","port":1},"version_data":{"default":{"endpoints":[{"id":"e","method":"get","path_regex":"/x"}]}}}]"#;
        let apis = parse_config_file(api).unwrap();
        assert_eq!(apis[0]["version_data"]["default"]["endpoints"][0]["method"], "GET");
        let path = std::env::temp_dir().join(format!("rig-proxy-config-{}.json", std::process::id()));
        std::fs::write(&path, api).unwrap();
        assert_eq!(parse_config_file(path.to_str().unwrap()).unwrap().len(), 1);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(parse_config_file("{}").unwrap_err(), "expected a JSON array of API definitions");
        assert!(parse_config_file("/no/such/file.json").unwrap_err().starts_with("neither a readable file nor valid JSON"));
        let err = parse_config_file(r#"[{}]"#).unwrap_err();
        assert!(err.starts_with("API definition #1 is invalid: {\"api\":[{\"id\":\"must be string\"}"), "{err}");
        assert!(parse_request_log("kafka", false).is_err());
        assert_eq!(parse_request_log("console, kafka", true), Ok(RequestLogConfig { console: true, kafka: true }));
        assert!(parse_request_log("syslog", true).is_err());
    }
}
