//! Event sources: everything that brings events in (HTTP publishing, Kafka,
//! NATS, Kinesis) hands them to one [`Dispatcher`], so fan-out never depends
//! on where an event came from.
//!
//! - `kafka`, `nats`, `kinesis`: one module per broker (cargo feature of the
//!   same name), each with its loop; the broker clients and settings they share
//!   with the proxy's publish targets are in `crate::broker`.

pub mod kafka;
pub mod kinesis;
pub mod nats;
pub mod types;

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use rig_core::CloudEvent;
use tokio::task::JoinHandle;

use crate::{
    broker::{
        health::{Component, Health},
        kafka::config::KafkaConfig,
        nats::config::NatsConfig,
    },
    hub::Hub,
    telemetry::{self, Kind, TraceContext, Tracer},
};

/// Where an event entered the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Http,
    Kafka,
    Nats,
    Kinesis,
}

impl Source {
    pub const ALL: [Source; 4] = [Source::Http, Source::Kafka, Source::Nats, Source::Kinesis];

    /// The name used in logs, `/health` and RIG's metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Source::Http => "http",
            Source::Kafka => "kafka",
            Source::Nats => "nats",
            Source::Kinesis => "kinesis",
        }
    }
}

impl Component for Source {
    fn name(self) -> &'static str {
        Source::name(self)
    }
}

/// Per-source counters (plain atomics until a metrics endpoint exposes them).
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// RIG: `rig_consumed_events_total{source}`: every message read, good or bad.
    pub consumed: AtomicU64,
    /// RIG: `rig_consumed_events_failed_total{source}`: messages that were not a deliverable event.
    pub failed: AtomicU64,
    /// RIG: `rig_consumed_events_forwarded_total`: events queued for at least one connection.
    pub forwarded: AtomicU64,
    /// RIG: `rig_consumed_event_processing_duration_milliseconds{source}`: from
    /// dispatch to every local connection's frame being queued.
    pub processing: crate::hub::latency::LatencyHistogram,
}

/// Hands an event to the other nodes of a cluster (must not block).
pub type Forward = Arc<dyn Fn(&Arc<CloudEvent>) + Send + Sync>;

/// The single entry point for events; cheap to clone into every source task.
#[derive(Clone)]
pub struct Dispatcher {
    hub: Arc<Hub>,
    health: Arc<Health>,
    counters: Arc<[SourceCounters; 4]>,
    types: Arc<types::TypeCounters>,
    tracer: Tracer,
    forward: Option<Forward>,
}

impl Dispatcher {
    pub fn new(hub: Arc<Hub>, tracer: Tracer) -> Self {
        Dispatcher {
            hub,
            health: Arc::new(Health::default()),
            counters: Arc::new(Default::default()),
            types: Default::default(),
            tracer,
            forward: None,
        }
    }

    /// In a cluster: events read once per cluster also go to the other nodes.
    pub fn forward_with(&mut self, forward: Forward) {
        self.forward = Some(forward);
    }

    /// Fans `event` out to matching connections (and, in a cluster, to the
    /// other nodes); returns how many connections here got it. The span it
    /// records continues the event's own trace (its `traceparent`).
    pub fn dispatch(&self, source: Source, event: impl Into<Arc<CloudEvent>>) -> usize {
        self.dispatch_in(source, event, None)
    }

    /// As [`Dispatcher::dispatch`], inside the trace `parent` (e.g. the HTTP
    /// request that brought the event) instead of the event's own.
    pub fn dispatch_in(&self, source: Source, event: impl Into<Arc<CloudEvent>>, parent: Option<&TraceContext>) -> usize {
        let event = event.into();
        let started = std::time::Instant::now();
        let c = self.counters(source);
        c.consumed.fetch_add(1, Ordering::Relaxed);
        let mut span = self.tracer.enabled().then(|| {
            let own = parent.is_none().then(|| telemetry::from_event(event.value())).flatten();
            let kind = if source == Source::Http { Kind::Internal } else { Kind::Consumer };
            let mut span = self.tracer.start("rig.dispatch", kind, parent.or(own.as_ref()));
            if span.is_recording() {
                span.set("rig.source", source.name());
                span.set("cloudevents.event_id", event.id());
                span.set("cloudevents.event_type", event.event_type());
            }
            span
        });
        // Every node reads every Kinesis shard itself (no lease table), so
        // forwarding Kinesis events would deliver each of them once per node.
        if source != Source::Kinesis {
            if let Some(forward) = &self.forward {
                forward(&event);
            }
        }
        let n = self.hub.publish(event.clone());
        c.processing.observe(started.elapsed());
        self.types.record(event.event_type(), n);
        if n > 0 {
            c.forwarded.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(span) = &mut span {
            span.set("rig.recipients", n);
        }
        n
    }

    /// Starts spans for the sources (e.g. Kinesis, whose events carry RIG's span).
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Counts a message from `source` that could not be delivered (already logged by the caller).
    pub fn reject(&self, source: Source) {
        let c = self.counters(source);
        c.consumed.fetch_add(1, Ordering::Relaxed);
        c.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counters(&self, source: Source) -> &SourceCounters {
        &self.counters[source as usize]
    }

    /// Events and deliveries per event type.
    pub fn types(&self) -> &types::TypeCounters {
        &self.types
    }

    /// Connection state of the broker sources.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The same registry, for the proxy's broker clients to report into.
    pub fn shared_health(&self) -> Arc<Health> {
        self.health.clone()
    }
}

/// Starts a task per configured broker source. Each task reconnects by
/// itself; none of them ends the process.
pub fn start(
    kafka: Option<&KafkaConfig>,
    nats: Option<&NatsConfig>,
    kinesis: Option<&kinesis::config::KinesisConfig>,
    dispatcher: &Dispatcher,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(k) = kafka {
        tasks.extend(kafka::start(k.clone(), dispatcher.clone()));
    }
    if let Some(n) = nats {
        tasks.extend(nats::start(n.clone(), dispatcher.clone()));
    }
    if let Some(k) = kinesis {
        tasks.extend(kinesis::start(k.clone(), dispatcher.clone()));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_to_the_cluster_except_kinesis_ones() {
        let mut d = Dispatcher::new(Arc::new(Hub::new(Default::default())), Tracer::disabled());
        let forwarded = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = forwarded.clone();
        d.forward_with(Arc::new(move |e: &Arc<CloudEvent>| seen.lock().unwrap().push(e.id().to_string())));
        for (source, id) in [(Source::Http, "h"), (Source::Kafka, "k"), (Source::Nats, "n"), (Source::Kinesis, "x")] {
            let e = CloudEvent::parse(bytes::Bytes::from(format!(r#"{{"specversion":"0.2","type":"t","id":"{id}"}}"#))).unwrap();
            d.dispatch(source, e);
        }
        assert_eq!(*forwarded.lock().unwrap(), ["h", "k", "n"], "every node reads every Kinesis shard itself");
    }
}
