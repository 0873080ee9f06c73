//! Log output (`LOG_FMT`): readable console lines, or one JSON object per line
//! for log collectors: `json` (`time`, `level`, `message`, `target`, the
//! event's fields and `trace_id` while a request span is active) or `gcl`, the
//! same with the field names Google Cloud Logging reads (`severity`,
//! `message`, `time`, `logging.googleapis.com/trace`).
//!
//! The trace id comes from a `request` span (see [`request_span`]) whose
//! `trace_id` field is recorded once the request's trace is known.

use std::fmt;

use serde_json::{Map, Value};
use tracing::{field::Field, span, Event, Level, Subscriber};
use tracing_subscriber::{
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields},
    layer::{Context, SubscriberExt as _},
    registry::LookupSpan,
    util::SubscriberInitExt as _,
    Layer,
};

use crate::support::time::{rfc3339_micros, Utc};

/// `LOG_FMT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `erlang` (RIG's name for its console format): readable lines.
    Text,
    Json,
    /// Google Cloud Logging's structured JSON.
    Gcl,
}

impl LogFormat {
    pub fn parse(s: &str) -> Result<LogFormat, String> {
        match s.to_ascii_lowercase().as_str() {
            "erlang" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            "gcl" => Ok(LogFormat::Gcl),
            _ => Err("expected erlang, json or gcl".into()),
        }
    }
}

/// Installs the process-wide subscriber, writing to stderr.
pub fn init(level: Level, format: LogFormat) {
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).init(),
        LogFormat::Json | LogFormat::Gcl => registry
            .with(TraceIds)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).event_format(JsonLines { gcl: format == LogFormat::Gcl }))
            .init(),
    }
}

/// A start or stop line, whatever `LOG_LEVEL` says: plain on the console
/// (scripts wait for it), a JSON line (level `INFO`, Cloud Logging's `NOTICE`)
/// like every other one otherwise.
pub fn announce(format: LogFormat, line: &str) {
    let time = rfc3339_micros(std::time::SystemTime::now(), Utc::Z);
    let json = |key: &str, level: &str| serde_json::json!({"time": time, key: level, "message": line, "target": "rig"});
    match format {
        LogFormat::Text => eprintln!("{line}"),
        LogFormat::Json => eprintln!("{}", json("level", "INFO")),
        LogFormat::Gcl => eprintln!("{}", json("severity", "NOTICE")),
    }
}

/// The span a request's log lines run in; record its trace id with
/// `tracing::Span::current().record("trace_id", ...)` once known.
pub fn request_span() -> tracing::Span {
    // At error level so that it is on whenever logging is (LOG_LEVEL=warn
    // included): a span is filtered by its level like an event.
    tracing::error_span!("request", trace_id = tracing::field::Empty)
}

/// A span's trace id, kept in the span's extensions.
struct TraceId(String);

/// Remembers the `trace_id` field of every span that records one.
struct TraceIds;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TraceIds {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut found = FindTraceId(None);
        attrs.record(&mut found);
        if let (Some(trace), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(TraceId(trace));
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let mut found = FindTraceId(None);
        values.record(&mut found);
        if let (Some(trace), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().replace(TraceId(trace));
        }
    }
}

struct FindTraceId(Option<String>);

impl tracing::field::Visit for FindTraceId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "trace_id" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "trace_id" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

/// One JSON object per event.
struct JsonLines {
    gcl: bool,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert("time".into(), rfc3339_micros(std::time::SystemTime::now(), Utc::Z).into());
        let level = *event.metadata().level();
        if self.gcl {
            line.insert("severity".into(), severity(level).into());
        } else {
            line.insert("level".into(), level.as_str().into());
        }
        line.insert("message".into(), fields.0.remove("message").unwrap_or_else(|| "".into()));
        line.insert("target".into(), event.metadata().target().into());
        let trace = ctx.lookup_current().and_then(|span| span.scope().find_map(|s| s.extensions().get::<TraceId>().map(|t| t.0.clone())));
        if let Some(trace) = trace {
            if self.gcl {
                line.insert("logging.googleapis.com/trace".into(), trace.clone().into());
            }
            line.insert("trace_id".into(), trace.into());
        }
        for (k, v) in fields.0 {
            line.entry(k).or_insert(v);
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Cloud Logging's `LogSeverity` names.
fn severity(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

/// An event's fields as JSON values.
struct Fields(Map<String, Value>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_with_rig_names() {
        assert_eq!(LogFormat::parse("erlang"), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("gcl"), Ok(LogFormat::Gcl));
        assert!(LogFormat::parse("xml").is_err());
    }
}
