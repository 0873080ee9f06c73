//! Frontend transports. Protocol code only: validation and registration are
//! shared in [`connect`], delivery is the hub's.

pub mod connect;
pub mod cookie;
pub mod longpoll;
pub mod sse;
pub mod wire;
pub mod ws;
pub mod ws_frames;

use std::sync::Arc;

use serde_json::json;

use self::connect::Accepted;
use crate::{
    app::Shared,
    hub::{self, ConnId, Frame, Item, Opening, Outbox, Sink, Transport},
};

/// The connection a request came in on (a request extension the server sets):
/// the reverse proxy needs the client address, the local port and whether TLS
/// was used; long-polling and the internal port's checks need the addresses.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub remote: std::net::SocketAddr,
    pub local: std::net::SocketAddr,
    pub tls: bool,
}

/// A response extension naming the outbox of the stream a response carries,
/// for the server to watch for a kill (see `server::write_deadline`).
#[derive(Clone)]
pub struct StreamOutbox(pub Arc<Outbox>);

/// Registers an accepted streaming (SSE/WS) connection: greeting, replay of
/// missed events when resuming, then live events. Returns the outbox and the
/// guard that unregisters the connection.
pub fn open_stream(app: &Shared, transport: Transport, accepted: Accepted) -> (Arc<Outbox>, ConnGuard) {
    let outbox = Arc::new(Outbox::new(app.config.hub.outbox_capacity, app.config.hub.slow_client_policy));
    let id = app.hub.new_id();
    open(app, id, transport, Sink::Stream(outbox.clone()), accepted);
    (outbox, ConnGuard::new(app, id))
}

/// Registers an accepted connection whose socket the server takes over
/// ([`wire`]), with the limits its writer applies.
pub fn open_takeover(app: &Shared, transport: Transport, accepted: Accepted) -> Arc<wire::Opened> {
    let (outbox, guard) = open_stream(app, transport, accepted);
    wire::Opened::new(outbox, guard, app.config.write_timeout, app.config.ws_control_rate)
}

/// Opens connection `id` on `sink` with RIG's greeting.
pub fn open(app: &Shared, id: ConnId, transport: Transport, sink: Sink, accepted: Accepted) {
    let token = app.seal_token(id);
    let subs = accepted.subscriptions;
    let greet = |head: Option<&str>| vec![hub::connection_create_frame(&token), hub::subscriptions_set_frame_with_cursor(&subs, head)];
    let opening = Opening { greet: &greet, resume_from: accepted.resume_from.as_deref() };
    app.hub.open(id, transport, sink, subs.clone(), accepted.info, opening);
}

/// The RIG event a writer sends for an item that is not a published event.
pub fn notice_frame(item: &Item) -> Option<Frame> {
    match item {
        Item::Frame(_) | Item::Heartbeat => None,
        Item::Missed(n) => Some(Frame::system("rig.events_missed", Some(json!({"reason": "outbox_full", "count": n})))),
        Item::Close(reason) => Some(reason.frame()),
    }
}

/// Removes a connection from the hub when its writer ends, however it ends.
pub struct ConnGuard {
    app: Shared,
    id: ConnId,
}

impl ConnGuard {
    pub fn new(app: &Shared, id: ConnId) -> Self {
        ConnGuard { app: Arc::clone(app), id }
    }

    /// Records the delivery latency of frames handed to the writer at `now`.
    pub fn handed_over<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>) {
        handed_over(&self.app, frames);
    }
}

/// Records the delivery latency of event frames a writer has just taken.
pub fn handed_over<'a>(app: &Shared, frames: impl IntoIterator<Item = &'a Frame>) {
    let mut now = None;
    for f in frames {
        if let Some(published) = f.published {
            let now = *now.get_or_insert_with(std::time::Instant::now);
            app.hub.stats.delivery_latency.observe(now.saturating_duration_since(published));
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.app.hub.unregister(self.id);
    }
}
