//! NATS: async-nats reconnects (and resubscribes) by itself; this loop only
//! turns messages into events and the client's connection state into health.

use std::time::Duration;

use async_nats::connection::State;
use futures_util::StreamExt;
use rig_core::CloudEvent;
use tokio::task::JoinHandle;

use crate::{
    broker::nats::{config::NatsConfig, connect::connect},
    source::{Dispatcher, Source},
    support::backoff::Backoff,
};

pub fn start(config: NatsConfig, dispatcher: Dispatcher) -> JoinHandle<()> {
    dispatcher.health().register(Source::Nats);
    tokio::spawn(run(config, dispatcher))
}

async fn run(config: NatsConfig, dispatcher: Dispatcher) {
    tracing::info!(servers = ?config.servers, topics = ?config.topics, queue_group = %config.queue_group, "Starting the NATS consumer.");
    let mut backoff = Backoff::new(Duration::from_millis(100), config.backoff_max);
    loop {
        let error = subscribe(&config, &dispatcher).await;
        dispatcher.health().down(Source::Nats, &error);
        backoff.wait().await;
    }
}

async fn subscribe(config: &NatsConfig, dispatcher: &Dispatcher) -> async_nats::Error {
    let client = match connect(config, "rig", dispatcher.shared_health(), Source::Nats).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut subs = Vec::new();
    for topic in &config.topics {
        match client.queue_subscribe(topic.clone(), config.queue_group.clone()).await {
            Ok(s) => subs.push(s),
            Err(e) => return e.into(),
        }
    }
    let mut messages = futures_util::stream::select_all(subs);
    // The connected/disconnected events can race the first connection, so the
    // state is also checked on a timer.
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(m) => handle(&m.subject, m.payload, dispatcher),
                None => return "the NATS subscriptions ended".into(),
            },
            _ = tick.tick() => {
                if client.connection_state() == State::Connected {
                    dispatcher.health().up(Source::Nats);
                }
            }
        }
    }
}

fn handle(subject: &str, payload: bytes::Bytes, dispatcher: &Dispatcher) {
    match CloudEvent::parse(payload) {
        Ok(event) => {
            dispatcher.dispatch(Source::Nats, event);
        }
        Err(error) => {
            tracing::warn!(subject, %error, "NATS message is not a CloudEvent; dropped.");
            dispatcher.reject(Source::Nats);
        }
    }
}
