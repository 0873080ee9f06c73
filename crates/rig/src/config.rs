//! The whole configuration: every module's settings, parsed once at start with
//! the toolkit in [`crate::support::env`], and the operator reference
//! (`rig --help`, `docs/configuration.md`) rendered from the same table
//! ([`crate::support::vars::VARS`]), so it cannot drift from the parser.

use std::{collections::HashMap, net::IpAddr, path::Path, time::Duration};

use rig_core::ExtractorConfig;

use crate::{
    auth::config::AuthConfig,
    broker::{kafka::config::KafkaConfig, nats::config::NatsConfig},
    cluster::ClusterConfig,
    hub::config::HubConfig,
    proxy::{config::ProxyConfig, publish::config::PublishConfig},
    source::kinesis::config::KinesisConfig,
    support::{
        env::{boolean, list, positive, ConfigError, Reader, Strings},
        legacy::{Fate, LEGACY},
        vars::VARS,
    },
};

/// The parsed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind_address: IpAddr,
    /// Where the internal ports listen (`RIG_API_BIND_ADDRESS`, else `bind_address`).
    pub api_bind_address: IpAddr,
    /// The internal port's token and host names.
    pub api_access: crate::auth::api_access::ApiAccess,
    pub shutdown_grace: Duration,
    pub inbound_port: u16,
    pub api_port: u16,
    pub inbound_https_port: u16,
    pub api_https_port: u16,
    /// TLS settings when HTTPS is on (files read and checked at start).
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// `RIG_EXTRA_CA_CERTS`: what every outbound HTTPS client trusts besides the system roots.
    pub trust: crate::tls::Trust,
    pub cors: crate::cors::Cors,
    pub extractors: ExtractorConfig,
    pub max_connections_per_minute: u64,
    /// Bounds on one connection's subscriptions.
    pub subscription_limits: rig_core::Limits,
    /// Sessions one connection may belong to.
    pub max_sessions_per_connection: usize,
    /// Long-polling sessions per client address (0: unbounded).
    pub max_longpoll_sessions_per_ip: usize,
    /// `RIG_MAX_PRESENCES`: Phoenix channel presences this node tracks.
    pub max_presences: usize,
    /// `SESSION_ROLE`: the role channel whose users `GET /rg/sessions` lists (RIG 1.x).
    pub session_role: String,
    /// JWT, JWKS, privileged users, subscription and submission checks.
    pub auth: AuthConfig,
    pub node_name: String,
    pub node_cookie: Option<String>,
    pub log_level: tracing::Level,
    pub log_format: crate::telemetry::logs::LogFormat,
    pub metrics_enabled: bool,
    /// `RIG_MAX_BATCH_EVENTS`: events one batched-mode request may carry.
    pub max_batch_events: usize,
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    /// 0: no limit.
    pub max_connections_per_ip: usize,
    /// Outboxes, resume window, heartbeat, long-polling buffer.
    pub hub: HubConfig,
    /// Longest a stream write may wait without progress.
    pub write_timeout: Duration,
    /// WebSocket control frames a client may send per second (0: any).
    pub ws_control_rate: u32,
    pub longpoll_wait: Duration,
    pub longpoll_session_timeout: Duration,
    /// Longest wait between reconnection attempts to a broker.
    pub source_backoff_max: Duration,
    pub kafka: Option<KafkaConfig>,
    pub nats: Option<NatsConfig>,
    pub kinesis: Option<KinesisConfig>,
    /// Span export and sampling.
    pub tracing: crate::telemetry::TraceConfig,
    pub proxy: ProxyConfig,
    pub publish: PublishConfig,
    /// Set when this node is part of a cluster (DNS discovery or a peer list).
    pub cluster: Option<ClusterConfig>,
}

impl Config {
    /// Parses every variable; reports all bad ones at once.
    pub fn from_strings(strings: &impl Strings) -> Result<Config, Vec<ConfigError>> {
        let mut r = Reader::new(strings);
        let jwt = crate::auth::config::jwt(&mut r);
        let source_backoff_max = Duration::from_millis(r.parse("RIG_SOURCE_BACKOFF_MAX_MS", positive));
        let trust = {
            let paths = r.raw("RIG_EXTRA_CA_CERTS");
            crate::tls::Trust::load(&paths).unwrap_or_else(|reason| {
                r.fail("RIG_EXTRA_CA_CERTS", paths, reason);
                crate::tls::Trust::default()
            })
        };
        let kafka = crate::broker::kafka::config::parse(&mut r, source_backoff_max)
            .map(|k| crate::broker::kafka::config::KafkaConfig { trust: trust.clone(), ..k });
        let nats = crate::broker::nats::config::parse(&mut r, source_backoff_max);
        let kinesis = crate::source::kinesis::config::parse(&mut r, source_backoff_max);
        let tracing = crate::telemetry::config::parse(&mut r);
        let proxy = crate::proxy::config::parse(&mut r);
        let publish = crate::proxy::publish::config::parse(&mut r);
        let cluster = crate::cluster::config::parse(&mut r);
        let bind_address: IpAddr = r.parse("RIG_BIND_ADDRESS", |s| s.parse().map_err(|_| "expected an IP address".into()));
        let config = Config {
            bind_address,
            api_bind_address: r
                .parse("RIG_API_BIND_ADDRESS", |s| match s {
                    "" => Ok(None),
                    s => s.parse().map(Some).map_err(|_| "expected an IP address or nothing".into()),
                })
                .unwrap_or(bind_address),
            api_access: crate::auth::api_access::ApiAccess::new(r.raw("RIG_API_TOKEN").trim(), list(&r.raw("RIG_API_ALLOWED_HOSTS"))),
            shutdown_grace: r.millis("RIG_SHUTDOWN_GRACE_MS"),
            inbound_port: r.num("INBOUND_PORT"),
            api_port: r.num("API_HTTP_PORT"),
            inbound_https_port: r.num("INBOUND_HTTPS_PORT"),
            api_https_port: r.num("API_HTTPS_PORT"),
            tls: {
                let (cert, key, pass) = (r.raw("HTTPS_CERTFILE"), r.raw("HTTPS_KEYFILE"), r.raw("HTTPS_KEYFILE_PASS"));
                crate::tls::server_config(cert.trim(), key.trim(), &pass).unwrap_or_else(|reason| {
                    r.fail("HTTPS_CERTFILE", cert, reason);
                    None
                })
            },
            trust,
            cors: r.parse("CORS", crate::cors::Cors::parse),
            extractors: r.parse("EXTRACTORS", parse_extractors),
            max_connections_per_minute: r.num("MAX_CONNECTIONS_PER_MINUTE"),
            subscription_limits: rig_core::Limits {
                subscriptions: r.parse("RIG_MAX_SUBSCRIPTIONS", positive),
                clauses: r.parse("RIG_MAX_SUBSCRIPTION_CLAUSES", positive),
                bytes: r.parse("RIG_MAX_SUBSCRIPTION_BYTES", positive),
            },
            max_sessions_per_connection: r.parse("RIG_MAX_SESSIONS_PER_CONNECTION", positive),
            max_longpoll_sessions_per_ip: r.num("RIG_MAX_LONGPOLL_SESSIONS_PER_IP"),
            max_presences: r.parse("RIG_MAX_PRESENCES", positive),
            session_role: r.raw("SESSION_ROLE").trim().to_string(),
            auth: crate::auth::config::parse(&mut r, jwt),
            node_name: format!("rig@{}", r.raw("NODE_HOST").trim()),
            node_cookie: Some(r.raw("NODE_COOKIE")).filter(|c| !c.is_empty()),
            log_level: r.parse("LOG_LEVEL", |s| match s.to_ascii_lowercase().as_str() {
                "debug" => Ok(tracing::Level::DEBUG),
                "info" => Ok(tracing::Level::INFO),
                "warn" | "warning" => Ok(tracing::Level::WARN),
                "error" => Ok(tracing::Level::ERROR),
                _ => Err("expected debug, info, warn or error".into()),
            }),
            log_format: r.parse("LOG_FMT", crate::telemetry::logs::LogFormat::parse),
            metrics_enabled: r.parse("PROMETHEUS_METRICS_ENABLED", boolean),
            max_body_bytes: r.num("RIG_MAX_BODY_BYTES"),
            max_batch_events: r.parse("RIG_MAX_BATCH_EVENTS", positive),
            body_read_timeout: Duration::from_millis(r.parse("RIG_BODY_READ_TIMEOUT_MS", positive)),
            max_connections_per_ip: r.num("RIG_MAX_CONNECTIONS_PER_IP"),
            hub: crate::hub::config::parse(&mut r),
            write_timeout: Duration::from_millis(r.parse("RIG_WRITE_TIMEOUT_MS", positive)),
            ws_control_rate: r.num("RIG_WS_CONTROL_FRAME_RATE"),
            longpoll_wait: r.millis("RIG_LONGPOLL_WAIT_MS"),
            longpoll_session_timeout: r.millis("RIG_LONGPOLL_SESSION_TIMEOUT_MS"),
            source_backoff_max,
            kafka,
            nats,
            kinesis,
            tracing,
            proxy,
            publish,
            cluster,
        };
        r.finish(config)
    }

    /// Parses `pairs` as the whole environment (unit tests of each module's settings).
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Config, Vec<ConfigError>> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_strings(&env)
    }

    /// Defaults with both ports on 0 (any free port): the test starting point.
    pub fn for_test(overrides: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> =
            [("INBOUND_PORT", "0"), ("API_HTTP_PORT", "0"), ("RIG_BIND_ADDRESS", "127.0.0.1"), ("LOG_LEVEL", "error")]
                .iter()
                .chain(overrides)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        Config::from_strings(&env).unwrap_or_else(|e| panic!("bad test config: {e:?}"))
    }
}

/// `EXTRACTORS` is a file path or inline JSON; a path is tried first, as RIG does.
fn parse_extractors(s: &str) -> Result<ExtractorConfig, String> {
    if s.is_empty() {
        return Ok(ExtractorConfig::default());
    }
    let text = if !s.starts_with('{') && Path::new(s).is_file() {
        std::fs::read_to_string(s).map_err(|e| format!("cannot read file: {e}"))?
    } else {
        s.to_string()
    };
    ExtractorConfig::parse(&text).map_err(|e| e.to_string())
}

/// `rig --help`: every variable with its default.
pub fn help_text() -> String {
    let mut out = String::from(
        "rig: Reactive Interaction Gateway\n\nUSAGE: rig [--help | --version | --check-config | --config-markdown]\n\n\
         --check-config  validate every variable and file, bind nothing; exit 0 or 64\n\n\
         All configuration is by environment variable (RIG 3.0 names keep their meaning):\n\n",
    );
    for v in VARS {
        let default = if v.default.is_empty() { "(empty)" } else { v.default };
        out.push_str(&format!("  {:<34} default {}\n      {}\n", v.name, default, v.doc));
    }
    out.push_str("\nVariables of RIG 1.x/2.x (a warning at start names each one set):\n\n");
    for (old, fate) in LEGACY {
        out.push_str(&format!("  {:<34} {}\n", old, fate_text(fate)));
    }
    out
}

fn fate_text(fate: &Fate) -> String {
    match fate {
        Fate::Renamed(new) => format!("renamed: read as {new} when that is not set"),
        Fate::Switch(target) => format!("false empties {target}"),
        Fate::Gone(instead) => format!("gone: {instead}"),
    }
}

/// The operator reference in docs/configuration.md (kept equal by a test).
pub fn markdown_reference() -> String {
    let mut out = String::from(
        "# Configuration\n\nGenerated by `rig --config-markdown` from the same table as `rig --help`; \
         a test fails if this file and the binary disagree.\n\n\
         | Variable | Default | Origin | Meaning |\n|---|---|---|---|\n",
    );
    for v in VARS {
        out.push_str(&format!("| `{}` | `{}` | {} | {} |\n", v.name, v.default, v.origin, v.doc));
    }
    out.push_str("\n## Variables of RIG 1.x and 2.x\n\nEach one set gets a warning at start, as does every unknown `RIG_*` variable.\n\n| Variable | What became of it |\n|---|---|\n");
    for (old, fate) in LEGACY {
        out.push_str(&format!("| `{old}` | {} |\n", fate_text(fate)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_rig() {
        let c = Config::from_pairs(&[]).unwrap();
        assert_eq!((c.inbound_port, c.api_port, c.cors.own()), (4000, 4010, axum::http::HeaderValue::from_static("*")));
        assert_eq!(c.max_connections_per_minute, 5000);
        assert_eq!(c.hub.heartbeat_interval, Duration::from_secs(15));
    }

    #[test]
    fn every_bad_variable_is_reported_by_name() {
        let errs = Config::from_pairs(&[("INBOUND_PORT", "x"), ("EXTRACTORS", "{bad"), ("LOG_LEVEL", "loud")]).unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.name).collect();
        assert_eq!(names, ["INBOUND_PORT", "EXTRACTORS", "LOG_LEVEL"]);
    }

    #[test]
    fn every_default_parses() {
        for v in VARS {
            let c = Config::from_pairs(&[(v.name, v.default)]);
            assert!(c.is_ok(), "{}: {:?}", v.name, c.err());
        }
    }
}
