//! The API definition model (rig-spec 6.2): what the router and the targets
//! need from a definition, parsed from the stored JSON.

use std::fmt;

use serde_json::{Map, Value};

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

/// How a `secured` endpoint of an API finds tokens (rig-spec 6.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSpec {
    /// `auth_type` is `jwt`: `secured` endpoints check tokens.
    pub jwt: bool,
    /// Lower-cased header name when `use_header` is on.
    pub header: Option<String>,
    /// Query parameter name when `use_query` is on.
    pub query: Option<String>,
}

/// The backend of an API (`proxy`): `<scheme>://<host>:<port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `http` or `https` (or whatever `target_url` named; others fail when used).
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Upstream {
    /// From `proxy` as RIG reads it: with `use_env`, `target_url` names an
    /// environment variable (unset: `localhost`); a scheme in the URL is kept
    /// (default `http`), any path or port in it is dropped.
    pub(crate) fn from_proxy(proxy: &Map<String, Value>) -> Result<Upstream, String> {
        let raw = proxy.get("target_url").and_then(Value::as_str).ok_or("proxy.target_url is not a string")?;
        let target = if proxy.get("use_env") == Some(&Value::Bool(true)) {
            std::env::var(raw).unwrap_or_else(|_| "localhost".to_string())
        } else {
            raw.to_string()
        };
        let (scheme, rest) = match target.split_once("://") {
            Some((s, rest)) => (s.to_ascii_lowercase(), rest),
            None => ("http".to_string(), target.as_str()),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host_port.strip_prefix('[') {
            Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or_default()),
            None => host_port.split(':').next().unwrap_or_default().to_string(),
        };
        if host.is_empty() || host == "[]" {
            return Err(format!("must name a host, e.g. http://backend (got {target:?})"));
        }
        let port =
            proxy.get("port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()).ok_or("proxy.port is not a port number")?;
        Ok(Upstream { scheme, host, port })
    }

    /// `host:port`, the `host` header sent upstream.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What routing needs of one API definition.
#[derive(Debug, Clone)]
pub struct Api {
    pub id: String,
    pub auth: AuthSpec,
    pub upstream: Upstream,
    /// `proxy.target_url` as written (the console request log prints it).
    pub target_url: String,
    /// `version_data.default.transform_request_headers.add_headers`.
    pub add_headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

fn flag(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key) == Some(&Value::Bool(true))
}

fn opt_string(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

impl Endpoint {
    /// From a validated endpoint object.
    pub fn from_json(e: &Map<String, Value>) -> Result<Endpoint, String> {
        let text = |key: &str| e.get(key).and_then(Value::as_str).map(str::to_string).ok_or(format!("endpoint {key} is not a string"));
        let target = match e.get("target").and_then(Value::as_str) {
            None => Target::Http,
            Some(t) => Target::parse(t).ok_or(format!("unknown target {t:?}"))?,
        };
        let response_from = match e.get("response_from").and_then(Value::as_str) {
            None => ResponseFrom::Http,
            Some(r) => ResponseFrom::parse(r).ok_or(format!("unknown response_from {r:?}"))?,
        };
        Ok(Endpoint {
            id: text("id")?,
            method: text("method")?,
            path_regex: text("path_regex")?,
            path_replacement: opt_string(e, "path_replacement"),
            secured: flag(e, "secured"),
            transform_request_headers: flag(e, "transform_request_headers"),
            target,
            topic: opt_string(e, "topic"),
            schema: opt_string(e, "schema"),
            response_from,
        })
    }
}

/// Whether the router uses a stored definition: `active` is true and `versioned`
/// is not set (RIG ignores versioned APIs).
pub fn routable(def: &Map<String, Value>) -> bool {
    flag(def, "active") && matches!(def.get("versioned"), None | Some(Value::Null) | Some(Value::Bool(false)))
}

/// A stored (validated, defaulted) definition's API and its endpoints in
/// order, each with its JSON; an endpoint is parsed when it is taken, so the
/// caller meets the first bad one in order (`route::routes`).
#[allow(clippy::type_complexity)]
pub fn endpoints(
    def: &Map<String, Value>,
) -> Result<(std::sync::Arc<Api>, impl Iterator<Item = Result<(Endpoint, &Value), String>> + '_), String> {
    let id = def.get("id").and_then(Value::as_str).ok_or("id is not a string")?.to_string();
    let auth = def.get("auth").and_then(Value::as_object);
    let auth = AuthSpec {
        jwt: def.get("auth_type").and_then(Value::as_str) == Some("jwt"),
        header: auth.filter(|a| flag(a, "use_header")).and_then(|a| opt_string(a, "header_name")).map(|h| h.to_ascii_lowercase()),
        query: auth.filter(|a| flag(a, "use_query")).and_then(|a| opt_string(a, "query_name")),
    };
    let proxy = def.get("proxy").and_then(Value::as_object).ok_or("proxy is not an object")?;
    let default = def.get("version_data").and_then(|v| v.get("default"));
    let add_headers = default
        .and_then(|d| d.pointer("/transform_request_headers/add_headers"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some((http::HeaderName::from_bytes(k.as_bytes()).ok()?, http::HeaderValue::from_str(v.as_str()?).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let api = std::sync::Arc::new(Api {
        id,
        auth,
        upstream: Upstream::from_proxy(proxy)?,
        target_url: proxy.get("target_url").and_then(Value::as_str).unwrap_or_default().to_string(),
        add_headers,
    });
    let endpoints = default.and_then(|d| d.get("endpoints")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Ok((
        api,
        endpoints.iter().map(|e| {
            let obj = e.as_object().ok_or("endpoint is not an object")?;
            Ok((Endpoint::from_json(obj)?, e))
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upstream(proxy: Value) -> Result<Upstream, String> {
        Upstream::from_proxy(proxy.as_object().unwrap())
    }

    #[test]
    fn upstream_as_rig_builds_it() {
        let u = upstream(json!({"target_url": "https://example.com/ignored", "port": 81})).unwrap();
        assert_eq!((u.scheme.as_str(), u.authority()), ("https", "example.com:81".to_string()));
        let u = upstream(json!({"use_env": true, "target_url": "RIG_TEST_SURELY_UNSET_HOST", "port": 8080})).unwrap();
        assert_eq!((u.scheme.as_str(), u.authority()), ("http", "localhost:8080".to_string()));
        let u = upstream(json!({"target_url": "backend", "port": 3000})).unwrap();
        assert_eq!(u.authority(), "backend:3000");
        let u = upstream(json!({"target_url": "http://user@[::1]:9/x", "port": 3000})).unwrap();
        assert_eq!(u.authority(), "[::1]:3000");
        assert!(upstream(json!({"target_url": "http://", "port": 3000})).is_err());
        assert!(upstream(json!({"target_url": "x", "port": 70000})).is_err());
    }
}
