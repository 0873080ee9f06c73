//! Tracing settings: the OpenTelemetry standard variables (`OTEL_*`) for OTLP
//! export and sampling, and RIG's Zipkin variables.

use std::time::Duration;

use super::context::TraceContext;
use crate::support::env::{Reader, Strings};

/// Where and how spans are exported; `None` fields mean "not configured".
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// Full OTLP/HTTP traces URL (`…/v1/traces`).
    pub otlp_url: Option<String>,
    pub otlp_headers: Vec<(String, String)>,
    /// RIG's `ZIPKIN_ADDR`: the Zipkin v2 spans URL.
    pub zipkin_url: Option<String>,
    pub service_name: String,
    pub sampler: Sampler,
    pub schedule_delay: Duration,
    pub max_queue: usize,
    pub max_batch: usize,
}

impl TraceConfig {
    pub fn enabled(&self) -> bool {
        self.otlp_url.is_some() || self.zipkin_url.is_some()
    }
}

/// OpenTelemetry's samplers (`OTEL_TRACES_SAMPLER`).
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// Keeps this fraction of new traces, decided from the trace id so every
    /// service makes the same choice.
    Ratio(f64),
    /// Follows the parent's sampled flag; the inner sampler decides roots.
    ParentBased(Box<Sampler>),
}

impl Sampler {
    pub(super) fn sample_root(&self) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            // Decided in `sample_child`-free form: a random draw is as good as
            // the trace id for a root whose id is itself random.
            Sampler::Ratio(r) => (crate::support::ids::random_u64() as f64 / u64::MAX as f64) < *r,
            Sampler::ParentBased(root) => root.sample_root(),
        }
    }

    pub(super) fn sample_child(&self, parent: &TraceContext) -> bool {
        match self {
            Sampler::ParentBased(_) => parent.sampled,
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::Ratio(r) => {
                let low = u64::from_be_bytes(parent.trace_id[8..].try_into().expect("8 bytes"));
                (low as f64 / u64::MAX as f64) < *r
            }
        }
    }

    fn parse(name: &str, arg: &str) -> Result<Sampler, String> {
        let ratio = || -> Result<f64, String> {
            match arg.trim() {
                "" => Ok(1.0),
                a => a
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("OTEL_TRACES_SAMPLER_ARG={a:?} is not a ratio in [0, 1]")),
            }
        };
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::Ratio(ratio()?),
            "" | "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::Ratio(ratio()?))),
            other => return Err(format!("unknown sampler {other:?}; expected always_on, always_off, traceidratio or parentbased_*")),
        })
    }
}

pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>) -> TraceConfig {
    let url = |s: &str| -> Result<Option<String>, String> {
        match s {
            "" => Ok(None),
            u => reqwest::Url::parse(u).map(|_| Some(u.to_string())).map_err(|e| format!("not a valid URL: {e}")),
        }
    };
    let base = r.parse("OTEL_EXPORTER_OTLP_ENDPOINT", url);
    let traces = r.parse("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url);
    let otlp_url = traces.or_else(|| base.map(|b| format!("{}/v1/traces", b.trim_end_matches('/'))));
    let otlp_headers = r.parse("OTEL_EXPORTER_OTLP_HEADERS", |s| {
        crate::support::env::list(s)
            .into_iter()
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
                _ => Err(format!("{pair:?} is not key=value")),
            })
            .collect()
    });
    let sampler_arg = r.raw("OTEL_TRACES_SAMPLER_ARG");
    let sampler = r.parse("OTEL_TRACES_SAMPLER", |s| Sampler::parse(s, &sampler_arg));
    let zipkin_url = r.parse("ZIPKIN_ADDR", url);
    let zipkin_name = r.raw("ZIPKIN_SERVICE_NAME");
    let service_name = match r.raw("OTEL_SERVICE_NAME").trim() {
        "" => zipkin_name.trim().to_string(),
        name => name.to_string(),
    };
    if !r.raw("JAEGER_HOST").trim().is_empty() {
        tracing::warn!(
            "JAEGER_HOST is set, but the Jaeger agent (UDP) exporter is not supported: Jaeger itself retired the agent. \
             Point OTEL_EXPORTER_OTLP_ENDPOINT at Jaeger's OTLP/HTTP port (4318) instead."
        );
    }
    TraceConfig {
        otlp_url,
        otlp_headers,
        zipkin_url,
        service_name: if service_name.is_empty() { "rig".into() } else { service_name },
        sampler,
        schedule_delay: Duration::from_millis(r.parse("OTEL_BSP_SCHEDULE_DELAY", |s| {
            s.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| "expected a positive integer (ms)".to_string())
        })),
        max_queue: r.parse("OTEL_BSP_MAX_QUEUE_SIZE", positive_usize),
        max_batch: r.parse("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", positive_usize),
    }
}

fn positive_usize(s: &str) -> Result<usize, String> {
    s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| "expected a positive integer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_parse_as_opentelemetry_names_them() {
        assert_eq!(Sampler::parse("", "").unwrap(), Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
        assert_eq!(Sampler::parse("traceidratio", "0.25").unwrap(), Sampler::Ratio(0.25));
        assert_eq!(Sampler::parse("parentbased_traceidratio", "").unwrap(), Sampler::ParentBased(Box::new(Sampler::Ratio(1.0))));
        assert!(Sampler::parse("traceidratio", "2").is_err());
        assert!(Sampler::parse("sometimes", "").is_err());
    }

    #[test]
    fn a_ratio_decides_the_same_way_for_the_same_trace() {
        let ctx = TraceContext::root(true);
        let s = Sampler::Ratio(0.5);
        let first = s.sample_child(&ctx);
        assert!((0..10).all(|_| s.sample_child(&ctx) == first));
        assert!(Sampler::Ratio(1.0).sample_child(&ctx));
        assert!(!Sampler::Ratio(0.0).sample_child(&ctx));
    }
}
