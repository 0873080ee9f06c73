//! Variables of RIG 1.x and 2.x that are gone or renamed. A renamed one is
//! still read (when its current name is not set) so an old deployment keeps
//! working; each one set, and each unknown `RIG_*` variable, gets a start-up
//! warning naming what to use instead.

use super::vars::VARS;

/// How a variable is read (the environment, or a map in tests).
pub type Get<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What became of an old variable.
pub enum Fate {
    /// Read as this current variable when that one is not set.
    Renamed(&'static str),
    /// `KAFKA_ENABLED`: `false` turns off what the named variable turns on.
    Switch(&'static str),
    /// No longer read; the text says what replaced it.
    Gone(&'static str),
}

/// Old name, what became of it.
pub const LEGACY: &[(&str, Fate)] = &[
    ("KAFKA_HOSTS", Fate::Renamed("KAFKA_BROKERS")),
    ("PORT", Fate::Renamed("INBOUND_PORT")),
    ("KAFKA_CONSUMER_GROUP", Fate::Renamed("KAFKATOFILTER_KAFKA_GROUP_ID")),
    ("KAFKA_GROUP_ID", Fate::Renamed("KAFKATOFILTER_KAFKA_GROUP_ID")),
    ("KAFKA_ENABLED", Fate::Switch("KAFKA_BROKERS")),
    // RIG's Helm chart set this name, which RIG itself never read.
    ("PROMETHEUS_ENABLED", Fate::Renamed("PROMETHEUS_METRICS_ENABLED")),
    ("PROXY_KAFKA_REQUEST_TOPIC", Fate::Gone("the topic is set per endpoint in the API definition (target kafka, topic)")),
    ("PROXY_KAFKA_REQUEST_AVRO", Fate::Gone("the schema is set per endpoint in the API definition (schema)")),
    ("PROXY_KINESIS_REQUEST_STREAM", Fate::Gone("the stream is set per endpoint in the API definition (target kinesis, topic)")),
    ("JWT_BLACKLIST_DEFAULT_EXPIRY_HOURS", Fate::Gone("each blacklist call says how long (validityInSeconds)")),
    ("RATE_LIMIT_ENABLED", Fate::Gone("per-address bounds: RIG_MAX_CONNECTIONS_PER_IP, MAX_CONNECTIONS_PER_MINUTE")),
    ("RATE_LIMIT_AVG_RATE_PER_SEC", Fate::Gone("per-address bounds: RIG_MAX_CONNECTIONS_PER_IP, MAX_CONNECTIONS_PER_MINUTE")),
    ("RATE_LIMIT_BURST_SIZE", Fate::Gone("per-address bounds: RIG_MAX_CONNECTIONS_PER_IP, MAX_CONNECTIONS_PER_MINUTE")),
    ("RATE_LIMIT_PER_IP", Fate::Gone("per-address bounds: RIG_MAX_CONNECTIONS_PER_IP, MAX_CONNECTIONS_PER_MINUTE")),
    ("RATE_LIMIT_SWEEP_INTERVAL_MS", Fate::Gone("per-address bounds: RIG_MAX_CONNECTIONS_PER_IP, MAX_CONNECTIONS_PER_MINUTE")),
    ("FIREHOSE_KAFKA_SOURCE_TOPICS", Fate::Gone("RIG 3.0 removed the Kafka-to-HTTP firehose")),
    ("FIREHOSE_KAFKA_HTTP_TARGETS", Fate::Gone("RIG 3.0 removed the Kafka-to-HTTP firehose")),
    ("KAFKATOHTTP_KAFKA_GROUP_ID", Fate::Gone("RIG 3.0 removed the Kafka-to-HTTP firehose")),
    ("FIREHOSE_KINESIS_STREAM", Fate::Gone("RIG 3.0 removed the Kinesis-to-HTTP firehose")),
    ("FIREHOSE_KINESIS_APP_NAME", Fate::Gone("RIG 3.0 removed the Kinesis-to-HTTP firehose")),
    ("FIREHOSE_KINESIS_HTTP_TARGETS", Fate::Gone("RIG 3.0 removed the Kinesis-to-HTTP firehose")),
];

/// The value of `name`, falling back on an old name that was renamed to it,
/// and empty when an old switch turned it off. `None`: not set under any name.
pub fn lookup(get: Get, name: &str) -> Option<String> {
    for (old, fate) in LEGACY {
        if let Fate::Switch(target) = fate {
            if *target == name && get(old).is_some_and(|v| is_false(&v)) {
                return Some(String::new());
            }
        }
    }
    get(name).or_else(|| {
        LEGACY.iter().find_map(|(old, fate)| match fate {
            Fate::Renamed(new) if *new == name => get(old),
            _ => None,
        })
    })
}

fn is_false(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no")
}

/// One warning per old variable that is set and per unknown `RIG_*` variable
/// (`names`: every variable set).
pub fn warnings(get: Get, mut names: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for (old, fate) in LEGACY {
        let Some(value) = get(old) else { continue };
        out.push(match fate {
            Fate::Renamed(new) if get(new).is_some() => format!("{old} is set but ignored: {new} is set and replaces it"),
            Fate::Renamed(new) => format!("{old} is the RIG 1.x/2.x name of {new}: read as {new}; rename it"),
            Fate::Switch(target) if is_false(&value) => format!("{old}=false (RIG 1.x) is read as an empty {target}; unset both instead"),
            Fate::Switch(target) => format!("{old} is gone (RIG 1.x): setting {target} turns it on"),
            Fate::Gone(instead) => format!("{old} is no longer read: {instead}"),
        });
    }
    names.sort();
    for name in names.iter().filter(|n| n.starts_with("RIG_")) {
        if !VARS.iter().any(|v| v.name == name) {
            out.push(format!("{name} is not a variable of this gateway (see rig --help); ignored"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn look(pairs: &[(&str, &str)], name: &str) -> Option<String> {
        let e = env(pairs);
        lookup(&|n| e.get(n).cloned(), name)
    }

    #[test]
    fn renamed_is_read_unless_the_new_name_is_set() {
        assert_eq!(look(&[("KAFKA_HOSTS", "a:1")], "KAFKA_BROKERS").as_deref(), Some("a:1"));
        assert_eq!(look(&[("KAFKA_HOSTS", "a:1"), ("KAFKA_BROKERS", "b:1")], "KAFKA_BROKERS").as_deref(), Some("b:1"));
        assert_eq!(look(&[], "KAFKA_BROKERS"), None);
    }

    #[test]
    fn kafka_enabled_false_turns_kafka_off() {
        assert_eq!(look(&[("KAFKA_ENABLED", "false"), ("KAFKA_BROKERS", "b:1")], "KAFKA_BROKERS").as_deref(), Some(""));
        assert_eq!(look(&[("KAFKA_ENABLED", "true"), ("KAFKA_BROKERS", "b:1")], "KAFKA_BROKERS").as_deref(), Some("b:1"));
    }

    #[test]
    fn warns_about_old_and_unknown_names() {
        let e = env(&[("KAFKA_HOSTS", "a:1"), ("PROXY_KAFKA_REQUEST_TOPIC", "t"), ("RIG_NO_SUCH", "1"), ("RIG_MAX_SUBSCRIPTIONS", "3")]);
        let w = warnings(&|n| e.get(n).cloned(), e.keys().cloned().collect());
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("KAFKA_BROKERS") && w[1].contains("API definition") && w[2].starts_with("RIG_NO_SUCH"), "{w:?}");
    }
}
