//! Kafka client settings from RIG's variables (rig-spec 8.5), for every Kafka
//! client of the gateway (consumers and the producer).

use std::{path::PathBuf, time::Duration};

use crate::support::env::{list, Reader, Strings};

/// SASL mechanism and credentials from `KAFKA_SASL=<mechanism>:<user>:<password>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sasl {
    /// librdkafka's name: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: &'static str,
    pub username: String,
    pub password: String,
}

/// TLS files; `None` where the variable is empty (RIG: "empty path = omit that file").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub key_password: Option<String>,
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: Vec<String>,
    pub topics: Vec<String>,
    pub group_id: String,
    /// Upper bound of the reconnect back-off (librdkafka `reconnect.backoff.max.ms`).
    pub restart_delay: Duration,
    /// Base URL of a Confluent-compatible schema registry, for Avro values.
    pub schema_registry: Option<String>,
    /// `RIG_EXTRA_CA_CERTS`, for the schema registry (set by the whole configuration).
    pub trust: crate::tls::Trust,
    pub tls: Option<Tls>,
    pub sasl: Option<Sasl>,
    /// Extra librdkafka properties (`RIG_KAFKA_CONFIG`), applied last.
    pub extra: Vec<(String, String)>,
    /// `KAFKA_USER_FIELD`: the field of a plain JSON message naming the user
    /// whose Phoenix channel gets it (RIG 1.x); empty: off.
    pub user_field: String,
}

#[cfg(feature = "kafka")]
impl KafkaConfig {
    /// librdkafka settings every client shares (brokers, reconnects, broker
    /// statistics for `/health`, TLS, SASL), then `specific` ones, then
    /// `RIG_KAFKA_CONFIG`, which wins.
    pub fn client_config(&self, specific: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let mut cc = rdkafka::ClientConfig::new();
        cc.set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", "rig")
            .set("reconnect.backoff.ms", "100")
            .set("reconnect.backoff.max.ms", self.restart_delay.as_millis().to_string())
            // Broker states for the health report (see context.rs).
            .set("statistics.interval.ms", "1000");
        let protocol = match (&self.tls, &self.sasl) {
            (None, None) => "plaintext",
            (Some(_), None) => "ssl",
            (None, Some(_)) => "sasl_plaintext",
            (Some(_), Some(_)) => "sasl_ssl",
        };
        cc.set("security.protocol", protocol);
        if let Some(tls) = &self.tls {
            let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
            if let Some(p) = &tls.ca {
                cc.set("ssl.ca.location", path(p));
            }
            if let Some(p) = &tls.cert {
                cc.set("ssl.certificate.location", path(p));
            }
            if let Some(p) = &tls.key {
                cc.set("ssl.key.location", path(p));
            }
            if let Some(pass) = &tls.key_password {
                cc.set("ssl.key.password", pass);
            }
        }
        if let Some(sasl) = &self.sasl {
            cc.set("sasl.mechanism", sasl.mechanism).set("sasl.username", &sasl.username).set("sasl.password", &sasl.password);
        }
        for (k, v) in specific {
            cc.set(*k, *v);
        }
        for (k, v) in &self.extra {
            cc.set(k, v);
        }
        cc
    }
}

/// `None` when `KAFKA_BROKERS` is empty (Kafka disabled, as in RIG).
pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>, backoff_max: Duration) -> Option<KafkaConfig> {
    let brokers = list(&r.raw("KAFKA_BROKERS"));
    // Parsed even when Kafka is off, so a typo is reported either way.
    let restart_delay = r.parse("KAFKA_RESTART_DELAY_MS", |s| {
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse().map(|ms| Some(Duration::from_millis(ms))).map_err(|_| "expected milliseconds".into())
        }
    });
    let sasl = r.parse("KAFKA_SASL", parse_sasl);
    let ssl_enabled = r.parse("KAFKA_SSL_ENABLED", crate::support::env::boolean);
    let tls = if ssl_enabled {
        let mut file = |name: &'static str| {
            let value = r.raw(name).trim().to_string();
            if value.is_empty() {
                return None;
            }
            let path = PathBuf::from(&value);
            if path.is_file() {
                return Some(path);
            }
            let cwd = std::env::current_dir().unwrap_or_default();
            r.fail(name, value, format!("no such file (relative paths start at the working directory {cwd:?})"));
            None
        };
        let (ca, cert, key) = (file("KAFKA_SSL_CA_CERTFILE"), file("KAFKA_SSL_CERTFILE"), file("KAFKA_SSL_KEYFILE"));
        let key_password = Some(r.raw("KAFKA_SSL_KEYFILE_PASS")).filter(|p| !p.is_empty());
        Some(Tls { ca, cert, key, key_password })
    } else {
        None
    };
    let extra = r.parse("RIG_KAFKA_CONFIG", parse_properties);
    let schema_registry = Some(r.raw("KAFKA_SCHEMA_REGISTRY_HOST").trim().to_string()).filter(|h| !h.is_empty()).map(|h| {
        let h = h.trim_end_matches('/');
        if h.starts_with("http://") || h.starts_with("https://") {
            h.to_string()
        } else {
            format!("http://{h}")
        }
    });
    if brokers.is_empty() {
        return None;
    }
    if sasl.is_some() && tls.is_none() {
        tracing::warn!("KAFKA_SASL is set but KAFKA_SSL_ENABLED is not: credentials travel unencrypted.");
    }
    Some(KafkaConfig {
        brokers,
        topics: list(&r.raw("KAFKA_SOURCE_TOPICS")),
        group_id: r.raw("KAFKATOFILTER_KAFKA_GROUP_ID"),
        restart_delay: restart_delay.unwrap_or(backoff_max),
        schema_registry,
        trust: crate::tls::Trust::default(),
        tls,
        sasl,
        extra,
        user_field: r.raw("KAFKA_USER_FIELD").trim().to_string(),
    })
}

/// `plain:<user>:<password>`, `scram_sha_256:...` or `scram_sha_512:...`;
/// the password may contain colons.
fn parse_sasl(s: &str) -> Result<Option<Sasl>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let mut parts = s.splitn(3, ':');
    let mechanism = match parts.next().unwrap_or("").to_ascii_lowercase().as_str() {
        "plain" => "PLAIN",
        "scram_sha_256" | "scram-sha-256" => "SCRAM-SHA-256",
        "scram_sha_512" | "scram-sha-512" => "SCRAM-SHA-512",
        _ => return Err("expected plain:<user>:<password>, scram_sha_256:<user>:<password> or scram_sha_512:<user>:<password>".into()),
    };
    match (parts.next(), parts.next()) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Sasl { mechanism, username: u.into(), password: p.into() })),
        _ => Err("expected <mechanism>:<user>:<password>".into()),
    }
}

/// `key=value,key=value` (librdkafka property names).
fn parse_properties(s: &str) -> Result<Vec<(String, String)>, String> {
    list(s)
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => Err(format!("{kv:?} is not key=value")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Vec<crate::support::env::ConfigError>> {
        Config::from_pairs(pairs)
    }

    #[test]
    fn disabled_without_brokers_and_rig_defaults_otherwise() {
        assert!(config(&[]).unwrap().kafka.is_none());
        let k = config(&[("KAFKA_BROKERS", "a:9092, b:9092")]).unwrap().kafka.unwrap();
        assert_eq!(k.brokers, ["a:9092", "b:9092"]);
        assert_eq!(k.topics, ["rig"]);
        assert_eq!(k.group_id, "rig-kafka-to-filter");
        assert!(k.tls.is_none() && k.sasl.is_none() && k.schema_registry.is_none());
    }

    #[test]
    fn sasl_variants_and_registry_url() {
        let k = config(&[
            ("KAFKA_BROKERS", "a:1"),
            ("KAFKA_SASL", "scram_sha_512:me:pa:ss"),
            ("KAFKA_SCHEMA_REGISTRY_HOST", "reg:8081"),
            ("RIG_KAFKA_CONFIG", "session.timeout.ms=6000"),
        ])
        .unwrap()
        .kafka
        .unwrap();
        let sasl = k.sasl.unwrap();
        assert_eq!((sasl.mechanism, sasl.username.as_str(), sasl.password.as_str()), ("SCRAM-SHA-512", "me", "pa:ss"));
        assert_eq!(k.schema_registry.as_deref(), Some("http://reg:8081"));
        assert_eq!(k.extra, [("session.timeout.ms".to_string(), "6000".to_string())]);
    }

    #[test]
    fn bad_values_are_reported_by_name() {
        let errs = config(&[
            ("KAFKA_BROKERS", "a:1"),
            ("KAFKA_SASL", "gssapi:x:y"),
            ("KAFKA_SSL_ENABLED", "yes"),
            ("KAFKA_SSL_CA_CERTFILE", "/nonexistent/ca.pem"),
            ("KAFKA_SSL_CERTFILE", ""),
            ("KAFKA_SSL_KEYFILE", ""),
        ])
        .unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.name).collect();
        assert_eq!(names, ["KAFKA_SASL", "KAFKA_SSL_CA_CERTFILE"]);
    }
}
