//! Frontend transports. Protocol code only: validation and registration are
//! shared in [`connect`], delivery is the hub's.

pub mod connect;
pub mod cookie;
pub mod longpoll;
pub mod sse;
pub mod ws;

use std::sync::Arc;

use tokio::sync::mpsc;

use self::connect::Accepted;
use crate::{
    app::Shared,
    hub::{self, ConnId, Outgoing, Sink, Transport},
};

/// Registers an accepted streaming (SSE/WS) connection and returns its outbox
/// and the guard that unregisters it. The greeting frames are queued before
/// registration, so no event can overtake them.
pub fn open_stream(app: &Shared, transport: Transport, accepted: Accepted) -> (mpsc::Receiver<Outgoing>, ConnGuard) {
    let (tx, rx) = mpsc::channel(app.config.outbox_capacity);
    let id = app.hub.new_id();
    let token = app.seal_token(id);
    for frame in [hub::connection_create_frame(&token), hub::subscriptions_set_frame(&accepted.subscriptions)] {
        let _ = tx.try_send(Outgoing::Frame(Arc::new(frame)));
    }
    app.hub.register(id, transport, Sink::Stream(tx), accepted.subscriptions, accepted.info);
    (rx, ConnGuard::new(app, id))
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
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.app.hub.unregister(self.id);
    }
}
