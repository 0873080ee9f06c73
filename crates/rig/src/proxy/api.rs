//! The API definition model (rig-spec 6.2): what the router and the targets
//! need from a definition, parsed from the stored JSON.

use std::fmt;

/// Where a matched request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Http,
    Kafka,
    Kinesis,
    Nats,
}

/// Where the response to a matched request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseFrom {
    Http,
    Kafka,
    HttpAsync,
    Kinesis,
    Nats,
}

impl Target {
    /// RIG lower-cases the value before dispatching on it.
    pub fn parse(s: &str) -> Option<Target> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(Target::Http),
            "kafka" => Some(Target::Kafka),
            "kinesis" => Some(Target::Kinesis),
            "nats" => Some(Target::Nats),
            _ => None,
        }
    }

    /// The name used in the definition and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Target::Http => "http",
            Target::Kafka => "kafka",
            Target::Kinesis => "kinesis",
            Target::Nats => "nats",
        }
    }
}

impl ResponseFrom {
    pub fn parse(s: &str) -> Option<ResponseFrom> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(ResponseFrom::Http),
            "kafka" => Some(ResponseFrom::Kafka),
            "http_async" => Some(ResponseFrom::HttpAsync),
            "kinesis" => Some(ResponseFrom::Kinesis),
            "nats" => Some(ResponseFrom::Nats),
            _ => None,
        }
    }

    /// The name used in the definition and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            ResponseFrom::Http => "http",
            ResponseFrom::Kafka => "kafka",
            ResponseFrom::HttpAsync => "http_async",
            ResponseFrom::Kinesis => "kinesis",
            ResponseFrom::Nats => "nats",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ResponseFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One endpoint of an API definition (`version_data.default.endpoints[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    /// Compared exactly with the request method.
    pub method: String,
    pub path_regex: String,
    /// Rewrite template with `\1`, `\2`… capture references.
    pub path_replacement: Option<String>,
    pub secured: bool,
    pub transform_request_headers: bool,
    pub target: Target,
    /// Kafka topic, Kinesis stream or NATS subject.
    pub topic: Option<String>,
    /// Avro subject for Kafka producing.
    pub schema: Option<String>,
    pub response_from: ResponseFrom,
}
