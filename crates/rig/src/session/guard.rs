//! Registering an accepted connection with the hub (RIG's greeting, replay
//! when resuming) and removing it when its writer ends, however it ends.

use std::sync::Arc;

use super::{connect::Accepted, Sessions};
use crate::hub::{self, ConnId, Frame, Hub, Opening, Outbox, Sink, Transport};

impl Sessions {
    /// Registers an accepted streaming (SSE/WS) connection: greeting, replay of
    /// missed events when resuming, then live events. Returns the outbox and the
    /// guard that unregisters the connection.
    pub fn open_stream(&self, transport: Transport, accepted: Accepted) -> (Arc<Outbox>, ConnGuard) {
        let outbox = Arc::new(Outbox::new(self.settings.outbox_capacity, self.settings.slow_client_policy));
        let id = self.hub.new_id();
        self.open(id, transport, Sink::Stream(outbox.clone()), accepted);
        (outbox, ConnGuard { hub: self.hub.clone(), id })
    }

    /// Opens connection `id` on `sink` with RIG's greeting.
    pub fn open(&self, id: ConnId, transport: Transport, sink: Sink, accepted: Accepted) {
        let token = self.seal_token(id);
        let subs = accepted.subscriptions;
        let greet = |head: Option<&str>| vec![hub::connection_create_frame(&token), hub::subscriptions_set_frame_with_cursor(&subs, head)];
        let opening = Opening { greet: &greet, resume_from: accepted.resume_from.as_deref() };
        self.hub.open(id, transport, sink, subs.clone(), accepted.info, opening);
    }

    /// The task that ends long-polling sessions nobody polled for `timeout`.
    pub fn expire_longpoll(&self, timeout: std::time::Duration) -> impl std::future::Future<Output = ()> + Send + 'static {
        let hub = self.hub.clone();
        async move {
            let period = timeout.min(std::time::Duration::from_secs(60)).max(std::time::Duration::from_millis(100));
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let n = hub.expire_lp_sessions(timeout);
                if n > 0 {
                    tracing::debug!(expired = n, "Long-polling sessions expired.");
                }
            }
        }
    }

    /// Records the delivery latency of event frames a writer has just taken.
    pub fn handed_over<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>) {
        handed_over(&self.hub, frames);
    }
}

/// Removes a connection from the hub when its writer ends, however it ends.
pub struct ConnGuard {
    hub: Arc<Hub>,
    id: ConnId,
}

impl ConnGuard {
    pub(super) fn new(hub: Arc<Hub>, id: ConnId) -> Self {
        ConnGuard { hub, id }
    }

    /// The connection this guard removes.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Records the delivery latency of frames handed to the writer at `now`.
    pub fn handed_over<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>) {
        handed_over(&self.hub, frames);
    }
}

fn handed_over<'a>(hub: &Hub, frames: impl IntoIterator<Item = &'a Frame>) {
    let mut now = None;
    for f in frames {
        if let Some(published) = f.published {
            let now = *now.get_or_insert_with(std::time::Instant::now);
            hub.stats.delivery_latency.observe(now.saturating_duration_since(published));
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}
