//! `REQUEST_LOG` (rig-spec 6.7): one record per proxied request, after
//! authentication and before forwarding.
//!
//! `console` prints RIG's line to stdout. `kafka` produces a CloudEvent 0.2
//! `com.rig.proxy.api.call` to `KAFKA_LOG_TOPIC` (key `partition`, as RIG) with
//! the publish targets' producer, in the background: logging never delays or
//! fails the request (a failed produce is logged and counted).

use std::net::IpAddr;

use super::{api::Endpoint, config::RequestLogConfig, publish::Publishers};

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
    #[cfg(feature = "kafka")]
    kafka: Option<kafka::KafkaLog>,
}

impl RequestLog {
    /// The `kafka` sink uses the publish targets' producer (`REQUEST_LOG=kafka`
    /// without `KAFKA_BROKERS` is refused at start).
    pub fn new(config: &RequestLogConfig, publish: &Publishers) -> Self {
        #[cfg(feature = "kafka")]
        let kafka = config.kafka.then(|| kafka::KafkaLog::new(publish)).flatten();
        #[cfg(not(feature = "kafka"))]
        let _ = publish;
        RequestLog {
            config: *config,
            #[cfg(feature = "kafka")]
            kafka,
        }
    }

    /// True when any sink is on (callers skip building the entry otherwise).
    pub fn enabled(&self) -> bool {
        self.config.console || self.config.kafka
    }

    pub fn record(&self, entry: &LogEntry<'_>) {
        if self.config.console {
            println!("{}", console_line(entry));
        }
        #[cfg(feature = "kafka")]
        if let Some(kafka) = &self.kafka {
            kafka.record(entry);
        }
    }
}

#[cfg(feature = "kafka")]
mod kafka {
    use std::{sync::Arc, time::SystemTime};

    use serde_json::{json, Map, Value};

    use super::LogEntry;
    use crate::{
        proxy::publish::{producer::KafkaProducer, Publishers},
        support::{
            ids::uuid_v4,
            time::{rfc3339_micros, Utc},
        },
    };

    pub struct KafkaLog {
        producer: Arc<KafkaProducer>,
        topic: String,
        schema: Option<String>,
    }

    impl KafkaLog {
        pub fn new(publish: &Publishers) -> Option<KafkaLog> {
            let (topic, schema) = publish.log_topic();
            let producer = publish.kafka_producer()?.clone();
            Some(KafkaLog { producer, topic: topic.to_string(), schema: schema.map(str::to_string) })
        }

        pub fn record(&self, entry: &LogEntry<'_>) {
            let avro = self.schema.is_some() && self.producer.avro();
            let event = event(entry, if avro { "avro/binary" } else { "application/json" });
            let (producer, topic, schema) = (self.producer.clone(), self.topic.clone(), self.schema.clone());
            tokio::spawn(async move {
                // Failures are logged and counted by the producer.
                let _ = producer.produce_event(&topic, schema.as_deref(), Some(b"partition"), &event).await;
            });
        }
    }

    /// RIG's request-log CloudEvent (rig-spec 6.7).
    pub fn event(entry: &LogEntry<'_>, contenttype: &str) -> Map<String, Value> {
        let mut event = json!({
            "id": uuid_v4(),
            "time": rfc3339_micros(SystemTime::now(), Utc::Offset),
            "source": "/rig",
            "type": "com.rig.proxy.api.call",
            "specversion": "0.2",
            "contenttype": contenttype,
            "data": {
                "endpoint": entry.endpoint_json,
                "request_path": entry.request_path,
                "remote_ip": entry.remote_ip.to_string(),
            },
        });
        if let Some(tp) = entry.traceparent {
            event["traceparent"] = Value::String(tp.to_string());
        }
        match event {
            Value::Object(m) => m,
            _ => unreachable!("built as an object"),
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
