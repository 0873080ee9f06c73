//! Frontend transports. Protocol code only: validation and registration are
//! shared in [`connect`], delivery is the hub's.

pub mod connect;
pub mod cookie;
pub mod longpoll;
pub mod sse;
pub mod ws;

use std::sync::Arc;

use crate::{app::Shared, hub::ConnId};

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
