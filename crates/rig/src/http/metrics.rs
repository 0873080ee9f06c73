//! `GET /metrics` on the internal port: Prometheus text format 0.0.4, with
//! RIG's metric names where RIG had them and ours beside them. Rendered on
//! demand from the counters the components keep (no registry, no globals).

use std::{fmt::Write, sync::atomic::Ordering};

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{source::Source, state::Shared};

/// Serves the metrics, or 404 when `PROMETHEUS_METRICS_ENABLED` is false.
pub async fn metrics(State(app): State<Shared>) -> Response {
    if !app.config.metrics_enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut r = render(&app).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let body: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.0, "{{{}}}", body.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render(app: &Shared) -> String {
    let mut o = Out(String::with_capacity(4096));
    build_info(&mut o);
    let hub = &app.hub;
    let s = &hub.stats;
    let (sse, ws, lp) = hub.connection_counts();
    o.family("rig_connections", "gauge", "Live frontend connections on this node.");
    for (t, n) in [("sse", sse), ("ws", ws), ("longpolling", lp)] {
        o.sample("rig_connections", &[("transport", t)], n);
    }
    o.single(
        "rig_connections_refused_per_ip_total",
        "counter",
        "Connections refused at accept because their client address held RIG_MAX_CONNECTIONS_PER_IP.",
        app.per_ip.refused(),
    );
    o.single("rig_subscriptions_total", "gauge", "Subscription rows registered on this node (RIG).", hub.subscription_rows());
    o.single(
        "rig_events_published_total",
        "counter",
        "Events handed to the hub, from every source.",
        s.events_published.load(Ordering::Relaxed),
    );
    o.single("rig_frames_queued_total", "counter", "Event frames queued for a connection.", s.frames_queued.load(Ordering::Relaxed));
    o.single("rig_frames_dropped_total", "counter", "Frames a slow client did not get.", s.frames_dropped.load(Ordering::Relaxed));
    o.single(
        "rig_slow_client_disconnects_total",
        "counter",
        "Connections closed by the slow-client policy.",
        s.slow_disconnects.load(Ordering::Relaxed),
    );
    o.single("rig_frames_replayed_total", "counter", "Frames replayed to resuming clients.", s.frames_replayed.load(Ordering::Relaxed));
    o.single(
        "rig_resumes_outside_window_total",
        "counter",
        "Resumes whose cursor had left the window.",
        s.resumes_outside_window.load(Ordering::Relaxed),
    );
    sources(&mut o, app);
    event_types(&mut o, app);
    latency(&mut o, &s.delivery_latency);
    proxy(&mut o, app);
    let set = [("name", "Elixir.SessionBlacklist")];
    o.family("rig_distributed_set_items_total", "counter", "Session blacklist additions (RIG).");
    o.sample("rig_distributed_set_items_total", &set, app.auth.blacklist.added());
    o.family("rig_distributed_set_items_current", "gauge", "Session blacklist entries in force (RIG).");
    o.sample("rig_distributed_set_items_current", &set, app.auth.blacklist.current());
    if let Some(t) = app.tracer.stats() {
        let families: [(&str, &str, &std::sync::atomic::AtomicU64); 4] = [
            ("rig_spans_finished_total", "Sampled spans finished.", &t.finished),
            ("rig_spans_dropped_total", "Finished spans dropped because the export queue was full.", &t.dropped),
            ("rig_spans_exported_total", "Spans accepted by an exporter endpoint (OTLP or Zipkin).", &t.exported),
            ("rig_span_export_failures_total", "Export requests that failed (their batch is dropped).", &t.export_failures),
        ];
        for (name, help, v) in families {
            o.single(name, "counter", help, v.load(Ordering::Relaxed));
        }
    }
    cluster(&mut o, app);
    process(&mut o);
    o.0
}

fn event_types(o: &mut Out, app: &Shared) {
    let snap = app.dispatcher.types().snapshot();
    o.family("rig_events_by_type_total", "counter", "Events published per CloudEvent type (past 256 types: `other`).");
    for (t, events, _) in &snap {
        o.sample("rig_events_by_type_total", &[("type", t)], events);
    }
    o.family("rig_deliveries_by_type_total", "counter", "Frames queued for connections per CloudEvent type.");
    for (t, _, deliveries) in &snap {
        o.sample("rig_deliveries_by_type_total", &[("type", t)], deliveries);
    }
}

fn latency(o: &mut Out, h: &crate::hub::latency::LatencyHistogram) {
    let name = "rig_delivery_latency_seconds";
    o.family(name, "histogram", "Time from an event's publication to its hand-off to a connection's writer.");
    histogram(o, name, &[], h, 1.0);
}

/// The samples of one histogram series; `unit` is seconds per reported unit
/// (1.0 for seconds, 0.001 for milliseconds).
fn histogram(o: &mut Out, name: &str, labels: &[(&str, &str)], h: &crate::hub::latency::LatencyHistogram, unit: f64) {
    let snap = h.snapshot();
    let bucket = format!("{name}_bucket");
    for (bound, n) in crate::hub::latency::BOUNDS_US.iter().zip(&snap.cumulative) {
        let le = format!("{}", *bound as f64 / 1e6 / unit);
        o.sample(&bucket, &[labels, &[("le", le.as_str())]].concat(), n);
    }
    o.sample(&bucket, &[labels, &[("le", "+Inf")]].concat(), snap.count);
    o.sample(&format!("{name}_sum"), labels, snap.sum_seconds / unit);
    o.sample(&format!("{name}_count"), labels, snap.count);
}

fn cluster(o: &mut Out, app: &Shared) {
    let Some(c) = &app.cluster else {
        o.single("rig_cluster_nodes", "gauge", "Live cluster nodes, this one included (1: standalone).", 1);
        return;
    };
    let s = c.stats();
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    o.single("rig_cluster_nodes", "gauge", "Live cluster nodes, this one included (1: standalone).", get(&s.nodes));
    o.single("rig_cluster_membership_changes_total", "counter", "Nodes seen joining or leaving.", get(&s.membership_changes));
    o.single("rig_cluster_events_forwarded_total", "counter", "Events sent to peers (one per event per peer).", get(&s.events_forwarded));
    o.single(
        "rig_cluster_events_dropped_total",
        "counter",
        "Events a peer did not get: its queue was full or its link failed.",
        get(&s.events_dropped),
    );
    o.single("rig_cluster_events_received_total", "counter", "Events received from peers.", get(&s.events_received));
    o.family("rig_cluster_rejected_total", "counter", "Cluster traffic refused for lacking a valid NODE_COOKIE proof.");
    o.sample("rig_cluster_rejected_total", &[("channel", "gossip")], get(&s.gossip_rejected));
    o.sample("rig_cluster_rejected_total", &[("channel", "peer")], get(&s.peer_rejected));
}

fn sources(o: &mut Out, app: &Shared) {
    type Pick = fn(&crate::source::SourceCounters) -> &std::sync::atomic::AtomicU64;
    let families: [(&str, &str, Pick); 3] = [
        ("rig_consumed_events_total", "Messages consumed per source, good or bad (RIG).", |c| &c.consumed),
        ("rig_consumed_events_failed_total", "Consumed messages that were not a deliverable event (RIG).", |c| &c.failed),
        ("rig_consumed_events_forwarded_total", "Events queued for at least one connection.", |c| &c.forwarded),
    ];
    for (name, help, pick) in families {
        o.family(name, "counter", help);
        for src in Source::ALL {
            o.sample(name, &[("source", src.name())], pick(app.dispatcher.counters(src)).load(Ordering::Relaxed));
        }
    }
    let name = "rig_consumed_event_processing_duration_milliseconds";
    o.family(name, "histogram", "Time from taking an event in to queueing it for every matching local connection (RIG).");
    for src in Source::ALL {
        histogram(o, name, &[("source", src.name())], &app.dispatcher.counters(src).processing, 0.001);
    }
    o.family("rig_source_up", "gauge", "1 while a configured broker client (event source or proxy target) is connected.");
    for (name, state) in app.dispatcher.health().states() {
        o.sample("rig_source_up", &[("source", name)], u8::from(state.connected));
    }
}

fn proxy(o: &mut Out, app: &Shared) {
    let name = "rig_proxy_requests_total";
    o.family(name, "counter", "Proxied requests by method, request path, target, response_from and outcome (RIG).");
    for (l, n) in app.proxy.metrics.snapshot() {
        let labels = [
            ("method", l.method.as_str()),
            ("path", l.path.as_str()),
            ("target", l.target),
            ("response_from", l.response_from),
            ("status", l.status),
        ];
        o.sample(name, &labels, n);
    }
    o.single(
        "rig_proxy_waiting_requests",
        "gauge",
        "Proxied requests waiting for an asynchronous response.",
        app.proxy.correlations.waiting(),
    );
    produced(o, app);
}

/// The publish targets and the Kafka response consumer.
fn produced(o: &mut Out, app: &Shared) {
    let publish = &app.proxy.publish;
    let snapshot = publish.produced.snapshot();
    o.family("rig_produced_events_total", "counter", "Events produced by the kafka and kinesis targets and the request log (RIG).");
    for (target, topic, ok, _) in &snapshot {
        o.sample("rig_produced_events_total", &[("target", target), ("topic", topic)], ok);
    }
    o.family(
        "rig_produced_events_failed_total",
        "counter",
        "Events the kafka and kinesis targets and the request log failed to produce (RIG).",
    );
    for (target, topic, _, failed) in &snapshot {
        o.sample("rig_produced_events_failed_total", &[("target", target), ("topic", topic)], failed);
    }
    let r = &publish.responses;
    o.family("rig_proxy_kafka_responses_total", "counter", "Messages read by the Kafka response consumer, by what became of them.");
    for (result, n) in [("delivered", &r.delivered), ("forwarded", &r.forwarded), ("rejected", &r.rejected)] {
        o.sample("rig_proxy_kafka_responses_total", &[("result", result)], n.load(Ordering::Relaxed));
    }
}

/// `rig_build_info{version, commit, build_date} 1`: which binary each node runs.
fn build_info(o: &mut Out) {
    use crate::support::build::{BUILD_DATE, GIT_COMMIT, VERSION};
    o.family("rig_build_info", "gauge", "Version, git commit and build date of this binary (always 1).");
    o.sample("rig_build_info", &[("version", VERSION), ("commit", GIT_COMMIT), ("build_date", BUILD_DATE)], 1);
}

/// The standard process metrics, from /proc (Linux).
fn process(o: &mut Out) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok());
    // VmRSS is in KiB whatever the page size (statm counts pages).
    if let Some(rss) = kib("VmRSS:") {
        o.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss * 1024);
    }
    if let Some(vm) = kib("VmSize:") {
        o.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vm * 1024);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        o.single("process_open_fds", "gauge", "Number of open file descriptors.", fds.count());
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let max_fds = limits.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok());
    if let Some(max) = max_fds {
        o.single("process_max_fds", "gauge", "Maximum number of open file descriptors.", max);
    }
    // utime and stime (fields 14, 15) in clock ticks of 1/100 s (USER_HZ on Linux), start time (22) in ticks since boot.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    if let (Some(user), Some(system)) = (tick(11), tick(12)) {
        o.single(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (user + system) as f64 / 100.0,
        );
    }
    let boot = std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok());
    if let (Some(start), Some(boot)) = (tick(19), boot) {
        o.single(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch in seconds.",
            boot as f64 + start as f64 / 100.0,
        );
    }
}
