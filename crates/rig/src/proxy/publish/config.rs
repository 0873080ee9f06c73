//! Settings of the publish targets, the Kafka response consumer and the
//! Kafka request log (rig-spec 8.4, 8.5). Broker addresses, TLS and SASL come
//! from the event sources' settings (`KAFKA_*`, `NATS_SERVERS`), so the
//! gateway's clients of one broker are configured in one place.

use std::time::Duration;

use crate::support::env::{list, Reader, Strings};

#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// `KAFKA_SERIALIZER=avro`: produce binary-mode Avro where a schema subject is given.
    pub avro: bool,
    /// How long a Kafka produce may wait for the broker's acknowledgement.
    pub produce_timeout: Duration,
    /// Topics with responses for waiting requests (`PROXY_KAFKA_RESPONSE_TOPICS`).
    pub response_topics: Vec<String>,
    /// Their consumer group, the same on every node.
    pub response_group: String,
    /// Wait for a NATS reply (`PROXY_NATS_RESPONSE_TIMEOUT`).
    pub nats_response_timeout: Duration,
    /// AWS region of the `kinesis` target.
    pub kinesis_region: String,
    /// Custom Kinesis endpoint (`KINESIS_ENDPOINT`, shared with the consumer).
    pub kinesis_endpoint: Option<String>,
    /// Request-log topic and Avro subject (`KAFKA_LOG_TOPIC`, `KAFKA_LOG_SCHEMA`).
    pub log_topic: String,
    pub log_schema: Option<String>,
}

pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>) -> PublishConfig {
    let avro = r.parse("KAFKA_SERIALIZER", |s| match s.to_ascii_lowercase().as_str() {
        "" => Ok(false),
        "avro" => Ok(true),
        _ => Err("expected avro or nothing (structured JSON)".into()),
    });
    if avro && r.raw("KAFKA_SCHEMA_REGISTRY_HOST").trim().is_empty() && !list(&r.raw("KAFKA_BROKERS")).is_empty() {
        r.fail("KAFKA_SERIALIZER", "avro".into(), "Avro producing needs KAFKA_SCHEMA_REGISTRY_HOST".into());
    }
    let response_topics = list(&r.raw("PROXY_KAFKA_RESPONSE_TOPICS"));
    if response_topics.is_empty() {
        r.fail("PROXY_KAFKA_RESPONSE_TOPICS", String::new(), "needs at least one topic".into());
    }
    PublishConfig {
        avro,
        produce_timeout: Duration::from_millis(r.parse("RIG_KAFKA_PRODUCE_TIMEOUT_MS", positive_ms)),
        response_topics,
        response_group: r.raw("PROXY_KAFKA_RESPONSE_KAFKA_GROUP_ID").trim().to_string(),
        nats_response_timeout: Duration::from_millis(r.num("PROXY_NATS_RESPONSE_TIMEOUT")),
        kinesis_region: r.raw("PROXY_KINESIS_REQUEST_REGION").trim().to_string(),
        kinesis_endpoint: Some(r.raw("KINESIS_ENDPOINT").trim().to_string()).filter(|e| !e.is_empty()),
        log_topic: r.raw("KAFKA_LOG_TOPIC").trim().to_string(),
        log_schema: Some(r.raw("KAFKA_LOG_SCHEMA").trim().to_string()).filter(|s| !s.is_empty()),
    }
}

fn positive_ms(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err("expected a positive number of milliseconds".into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Vec<crate::support::env::ConfigError>> {
        Config::from_pairs(pairs)
    }

    #[test]
    fn rig_defaults() {
        let p = config(&[]).unwrap().publish;
        assert!(!p.avro);
        assert_eq!(p.response_topics, ["rig-proxy-response"]);
        assert_eq!(p.response_group, "rig-proxy-response");
        assert_eq!(p.nats_response_timeout.as_millis(), 60_000);
        assert_eq!(p.kinesis_region, "eu-west-1");
        assert_eq!((p.log_topic.as_str(), p.log_schema.as_deref()), ("rig-request-log", None));
    }

    #[test]
    fn bad_values_are_reported_by_name() {
        let names = |pairs: &[(&str, &str)]| config(pairs).unwrap_err().iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(names(&[("KAFKA_SERIALIZER", "protobuf")]), ["KAFKA_SERIALIZER"]);
        assert_eq!(names(&[("KAFKA_BROKERS", "k:9092"), ("KAFKA_SERIALIZER", "avro")]), ["KAFKA_SERIALIZER"]);
        assert_eq!(names(&[("PROXY_KAFKA_RESPONSE_TOPICS", " , ")]), ["PROXY_KAFKA_RESPONSE_TOPICS"]);
        assert_eq!(names(&[("RIG_KAFKA_PRODUCE_TIMEOUT_MS", "0")]), ["RIG_KAFKA_PRODUCE_TIMEOUT_MS"]);
        let ok = config(&[("KAFKA_BROKERS", "k:9092"), ("KAFKA_SERIALIZER", "AVRO"), ("KAFKA_SCHEMA_REGISTRY_HOST", "reg:8081")]);
        assert!(ok.unwrap().publish.avro);
    }
}
