//! `REQUEST_LOG` (rig-spec 6.7): one record per proxied request, after
//! authentication and before forwarding.
//!
//! `console` prints RIG's line to stdout. The `kafka` sink (a CloudEvent to
//! `KAFKA_LOG_TOPIC`) belongs to the publish targets: it hooks in at
//! [`RequestLog::record`].

use std::net::IpAddr;

use super::{api::Endpoint, config::RequestLogConfig};

/// What a request-log record says.
pub struct LogEntry<'a> {
    pub endpoint: &'a Endpoint,
    /// The endpoint object as stored (the Kafka record carries it).
    pub endpoint_json: &'a serde_json::Value,
    /// The request path before rewriting.
    pub request_path: &'a str,
    pub remote_ip: IpAddr,
    /// Upstream base URL (HTTP targets) or the target name.
    pub target_url: &'a str,
    pub traceparent: Option<&'a str>,
}

pub struct RequestLog {
    config: RequestLogConfig,
}

impl RequestLog {
    pub fn new(config: &RequestLogConfig) -> Self {
        RequestLog { config: *config }
    }

    /// True when any sink is on (callers skip building the entry otherwise).
    pub fn enabled(&self) -> bool {
        self.config.console || self.config.kafka
    }

    pub fn record(&self, entry: &LogEntry<'_>) {
        if self.config.console {
            println!("{}", console_line(entry));
        }
        if self.config.kafka {
            // Hook for the Kafka request-log sink (proxy-publish).
        }
    }
}

/// `CALL: [<endpoint id>] <METHOD> <path_regex> => <target_url>` (RIG's text).
fn console_line(e: &LogEntry<'_>) -> String {
    format!("CALL: [{}] {} {} => {}", e.endpoint.id, e.endpoint.method, e.endpoint.path_regex, e.target_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::api::{ResponseFrom, Target};

    #[test]
    fn console_line_is_rigs() {
        let endpoint = Endpoint {
            id: "get-movies".into(),
            method: "GET".into(),
            path_regex: "/myapi/movies".into(),
            path_replacement: None,
            secured: false,
            transform_request_headers: false,
            target: Target::Http,
            topic: None,
            schema: None,
            response_from: ResponseFrom::Http,
        };
        let entry = LogEntry {
            endpoint: &endpoint,
            endpoint_json: &serde_json::Value::Null,
            request_path: "/myapi/movies",
            remote_ip: [127, 0, 0, 1].into(),
            target_url: "API_HOST",
            traceparent: None,
        };
        assert_eq!(console_line(&entry), "CALL: [get-movies] GET /myapi/movies => API_HOST");
    }
}
