//! Spans: what one unit of work records (name, kind, ids, times, attributes)
//! and the [`Tracer`] that starts them and hands finished ones to the exporter.
//!
//! A span always has a [`TraceContext`], sampled or not, because the context is
//! propagated (proxy headers, produced events) even when nothing is exported.
//! Unsampled spans allocate nothing else.

use std::{
    borrow::Cow,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use tokio::sync::mpsc;

use super::{config::Sampler, context::TraceContext};

/// OTLP's span kinds (the numbers are OTLP's enum values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}
impl From<i64> for AttrValue {
    fn from(n: i64) -> Self {
        AttrValue::Int(n)
    }
}
impl From<usize> for AttrValue {
    fn from(n: usize) -> Self {
        AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<u16> for AttrValue {
    fn from(n: u16) -> Self {
        AttrValue::Int(n.into())
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

/// A finished span, as exporters see it.
#[derive(Debug, Clone)]
pub struct SpanData {
    pub name: Cow<'static, str>,
    pub kind: Kind,
    pub context: TraceContext,
    pub parent_span_id: Option<[u8; 8]>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// Set when the work failed; the text says why.
    pub error: Option<String>,
}

/// Starts spans; cheap to clone. Disabled (no exporter configured), it still
/// makes contexts so that trace ids propagate through the gateway.
#[derive(Clone, Default)]
pub struct Tracer {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tx: mpsc::Sender<SpanData>,
    sampler: Sampler,
    stats: Arc<TraceStats>,
}

/// Exporter counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct TraceStats {
    pub finished: AtomicU64,
    /// Finished spans the exporter queue had no room for.
    pub dropped: AtomicU64,
    pub exported: AtomicU64,
    pub export_failures: AtomicU64,
}

impl Tracer {
    pub(super) fn new(tx: mpsc::Sender<SpanData>, sampler: Sampler, stats: Arc<TraceStats>) -> Self {
        Tracer { inner: Some(Arc::new(Inner { tx, sampler, stats })) }
    }

    /// A tracer that records nothing (tracing not configured).
    pub fn disabled() -> Self {
        Tracer { inner: None }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    pub fn stats(&self) -> Option<&TraceStats> {
        self.inner.as_deref().map(|i| &*i.stats)
    }

    /// Starts a span under `parent` (a new trace when `None`).
    pub fn start(&self, name: impl Into<Cow<'static, str>>, kind: Kind, parent: Option<&TraceContext>) -> Span {
        let (context, parent_span_id) = match parent {
            Some(p) => (p.child(), Some(p.span_id)),
            None => (TraceContext::root(self.inner.as_ref().is_some_and(|i| i.sampler.sample_root())), None),
        };
        // Without an exporter the caller's decision is passed on unchanged (W3C).
        let sampled = match (&self.inner, parent) {
            (None, Some(p)) => p.sampled,
            (None, None) => false,
            (Some(i), Some(p)) => i.sampler.sample_child(p),
            (Some(_), None) => context.sampled,
        };
        let context = TraceContext { sampled, ..context };
        let recording = sampled && self.inner.is_some();
        let data = recording.then(|| {
            Box::new(SpanData {
                name: name.into(),
                kind,
                context: context.clone(),
                parent_span_id,
                start_ns: now_ns(),
                end_ns: 0,
                attributes: Vec::new(),
                error: None,
            })
        });
        Span { context, data, sink: if recording { self.inner.clone() } else { None } }
    }
}

/// A span in progress; recorded when dropped (or [`Span::end`]).
pub struct Span {
    context: TraceContext,
    data: Option<Box<SpanData>>,
    sink: Option<Arc<Inner>>,
}

impl Span {
    /// The context to propagate to whatever this span causes.
    pub fn context(&self) -> &TraceContext {
        &self.context
    }

    pub fn is_recording(&self) -> bool {
        self.data.is_some()
    }

    /// Adds an attribute (ignored when the span is not sampled).
    pub fn set(&mut self, key: &'static str, value: impl Into<AttrValue>) {
        if let Some(d) = &mut self.data {
            d.attributes.push((key, value.into()));
        }
    }

    /// Marks the span failed.
    pub fn fail(&mut self, why: impl Into<String>) {
        if let Some(d) = &mut self.data {
            d.error = Some(why.into());
        }
    }

    pub fn end(self) {}
}

impl Drop for Span {
    fn drop(&mut self) {
        let (Some(mut data), Some(sink)) = (self.data.take(), self.sink.take()) else { return };
        data.end_ns = now_ns().max(data.start_ns);
        sink.stats.finished.fetch_add(1, Ordering::Relaxed);
        if sink.tx.try_send(*data).is_err() {
            sink.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_spans_reach_the_queue_with_their_parent() {
        let (tx, mut rx) = mpsc::channel(8);
        let tracer = Tracer::new(tx, Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), Default::default());
        let parent = TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None).unwrap();
        let mut span = tracer.start("work", Kind::Internal, Some(&parent));
        span.set("n", 3usize);
        let ctx = span.context().clone();
        span.end();
        let data = rx.try_recv().unwrap();
        assert_eq!(data.context, ctx);
        assert_eq!(data.context.trace_id, parent.trace_id);
        assert_eq!(data.parent_span_id, Some(parent.span_id));
        assert_eq!(data.attributes, vec![("n", AttrValue::Int(3))]);
        assert!(data.end_ns >= data.start_ns);
    }

    #[test]
    fn an_unsampled_parent_or_a_disabled_tracer_records_nothing_but_propagates() {
        let (tx, mut rx) = mpsc::channel(8);
        let tracer = Tracer::new(tx, Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), Default::default());
        let parent = TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", None).unwrap();
        let span = tracer.start("work", Kind::Internal, Some(&parent));
        assert!(!span.is_recording());
        assert_eq!(span.context().trace_id, parent.trace_id);
        drop(span);
        assert!(rx.try_recv().is_err());

        let off = Tracer::disabled().start("x", Kind::Server, Some(&parent));
        assert_eq!(off.context().trace_id, parent.trace_id);
        assert!(!off.is_recording());
        let sampled_parent = TraceContext { sampled: true, ..parent };
        let off = Tracer::disabled().start("x", Kind::Server, Some(&sampled_parent));
        assert!(off.context().sampled && !off.is_recording(), "the caller's sampling decision is passed on");
    }

    #[test]
    fn a_full_queue_counts_drops_instead_of_blocking() {
        let (tx, _rx) = mpsc::channel(1);
        let stats = Arc::new(TraceStats::default());
        let tracer = Tracer::new(tx, Sampler::AlwaysOn, stats.clone());
        for _ in 0..3 {
            tracer.start("x", Kind::Internal, None).end();
        }
        assert_eq!(stats.finished.load(Ordering::Relaxed), 3);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
    }
}
