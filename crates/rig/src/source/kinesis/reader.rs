//! Reads every shard of the stream with `GetShardIterator` + `GetRecords`.
//!
//! Positions (the last sequence number per shard) survive reconnections, so a
//! Kinesis outage loses nothing that is still in the stream. Shards present at
//! the first listing start at the latest record; shards that appear later
//! (resharding) and every shard of a stream that was re-created while we were
//! away start at their beginning, since all of their records are new to us.

use std::collections::{HashMap, HashSet};

use aws_sdk_kinesis::{primitives::DateTime, types::ShardIteratorType, Client};
use rig_core::CloudEvent;
use tokio::task::JoinHandle;

use super::config::KinesisConfig;
use crate::{
    broker::kinesis::{client, error_text},
    source::{Dispatcher, Source},
    support::backoff::Backoff,
    telemetry::{self, Kind, TraceContext},
};

type Error = Box<dyn std::error::Error + Send + Sync>;

pub fn start(config: KinesisConfig, dispatcher: Dispatcher) -> JoinHandle<()> {
    dispatcher.health().register(Source::Kinesis);
    tokio::spawn(run(config, dispatcher))
}

/// Where to resume each shard.
#[derive(Default)]
struct Positions {
    /// Creation time of the stream the positions belong to.
    stream_created: Option<DateTime>,
    started: bool,
    last: HashMap<String, String>,
    closed: HashSet<String>,
}

async fn run(config: KinesisConfig, dispatcher: Dispatcher) {
    tracing::info!(stream = %config.stream, app = %config.app_name, region = %config.region, endpoint = ?config.endpoint, "Starting the Kinesis consumer.");
    let client = client(&config.region, config.endpoint.as_deref()).await;
    let mut positions = Positions::default();
    let mut backoff = Backoff::new(std::time::Duration::from_millis(100), config.backoff_max);
    loop {
        let error = read(&client, &config, &dispatcher, &mut positions, &mut backoff).await;
        dispatcher.health().down(Source::Kinesis, error_text(&*error));
        backoff.wait().await;
    }
}

/// Reads until an error; returns it.
async fn read(client: &Client, config: &KinesisConfig, dispatcher: &Dispatcher, positions: &mut Positions, backoff: &mut Backoff) -> Error {
    let summary = match client.describe_stream_summary().stream_name(&config.stream).send().await {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let created = summary.stream_description_summary().map(|d| *d.stream_creation_timestamp());
    if positions.stream_created.is_some() && positions.stream_created != created {
        tracing::info!(stream = %config.stream, "Kinesis stream was re-created; reading it from the start.");
        positions.last.clear();
        positions.closed.clear();
    }
    positions.stream_created = created;
    let mut iterators: Vec<(String, String)> = Vec::new();
    match shard_ids(client, &config.stream).await {
        Ok(ids) => {
            for shard in ids.into_iter().filter(|s| !positions.closed.contains(s)) {
                match iterator(client, config, positions, &shard).await {
                    Ok(it) => iterators.push((shard, it)),
                    Err(e) => return e,
                }
            }
        }
        Err(e) => return e,
    }
    positions.started = true;
    dispatcher.health().up(Source::Kinesis);
    backoff.reset();
    loop {
        let mut next = Vec::with_capacity(iterators.len());
        for (shard, it) in iterators.drain(..) {
            let out = match client.get_records().shard_iterator(it).limit(1000).send().await {
                Ok(o) => o,
                Err(e) => return e.into(),
            };
            for record in out.records() {
                handle(record.data().as_ref(), dispatcher);
                positions.last.insert(shard.clone(), record.sequence_number().to_string());
            }
            match out.next_shard_iterator() {
                Some(n) => next.push((shard, n.to_string())),
                None => {
                    tracing::info!(%shard, "Kinesis shard closed; looking for its children.");
                    positions.closed.insert(shard);
                    return "a shard closed".into();
                }
            }
        }
        iterators = next;
        tokio::time::sleep(config.poll_interval).await;
    }
}

async fn shard_ids(client: &Client, stream: &str) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        // ListShards takes either the stream name or a continuation token.
        let request = match &token {
            Some(t) => client.list_shards().next_token(t),
            None => client.list_shards().stream_name(stream),
        };
        let out = request.send().await?;
        ids.extend(out.shards().iter().map(|s| s.shard_id().to_string()));
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(ids),
        }
    }
}

async fn iterator(client: &Client, config: &KinesisConfig, positions: &Positions, shard: &str) -> Result<String, Error> {
    let request = client.get_shard_iterator().stream_name(&config.stream).shard_id(shard);
    let request = match positions.last.get(shard) {
        Some(seq) => request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq),
        None if positions.started => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        None => request.shard_iterator_type(ShardIteratorType::Latest),
    };
    let out = request.send().await?;
    out.shard_iterator().map(str::to_string).ok_or_else(|| "GetShardIterator returned no iterator".into())
}

fn handle(data: &[u8], dispatcher: &Dispatcher) {
    let event = match CloudEvent::parse(bytes::Bytes::copy_from_slice(data)) {
        Ok(e) => e,
        Err(error) => {
            tracing::warn!(%error, "Kinesis record is not a CloudEvent; dropped.");
            dispatcher.reject(Source::Kinesis);
            return;
        }
    };
    let parent = telemetry::from_event(event.value());
    let span = dispatcher.tracer().start("kinesis receive", Kind::Consumer, parent.as_ref());
    match with_traceparent(&event, span.context()) {
        Ok(event) => {
            dispatcher.dispatch_in(Source::Kinesis, event, Some(span.context()));
        }
        Err(error) => {
            tracing::warn!(%error, "Kinesis record is not a CloudEvent; dropped.");
            dispatcher.reject(Source::Kinesis);
        }
    }
}

/// RIG re-serialises Kinesis events with sorted keys, its own `traceparent`
/// (the span that received the event, in the event's trace if it had one) and
/// no `tracestate`.
fn with_traceparent(event: &CloudEvent, span: &TraceContext) -> Result<CloudEvent, rig_core::EventError> {
    let mut value = event.value().clone();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("traceparent".into(), span.traceparent().into());
        obj.remove("tracestate");
    }
    // serde_json's Map is ordered by key (no `preserve_order`), which sorts them.
    CloudEvent::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_continues_the_trace_and_keys_are_sorted() {
        let e = CloudEvent::parse(bytes::Bytes::from_static(
            br#"{"type":"t","specversion":"0.2","id":"1","source":"s","tracestate":"x=1",
                "traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#,
        ))
        .unwrap();
        let parent = telemetry::from_event(e.value()).unwrap();
        let out = with_traceparent(&e, &parent.child()).unwrap();
        let text = std::str::from_utf8(out.json()).unwrap();
        assert!(
            text.starts_with(r#"{"id":"1","source":"s","specversion":"0.2","traceparent":"00-0af7651916cd43dd8448eb211c80319c-"#),
            "{text}"
        );
        assert!(!text.contains("tracestate"));
    }
}
