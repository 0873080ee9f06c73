//! The contract between the accept loop and the stream handlers: a plain-HTTP
//! request is marked [`Direct`]; its handler answers with a [`Takeover`] (the
//! registered stream, or a WebSocket refusal), and the server then runs it on
//! the socket itself ([`super::wire`]). Streams hyper keeps (TLS) carry a
//! [`StreamOutbox`] instead, so the server can watch them for a kill.

use std::{sync::Arc, time::Duration};

use crate::{
    hub::{Outbox, Transport},
    session::{connect::Accepted, guard::ConnGuard},
    state::AppState,
};

/// Marks a request whose connection the server may take over after the
/// response head (plain HTTP/1.x; absent on TLS, where hyper stays in charge).
#[derive(Debug, Clone, Copy)]
pub struct Direct;

/// What a handler answers a [`Direct`] request with, as a response extension:
/// the stream to run on the socket, or (WebSocket) the reason to close it with.
#[derive(Clone)]
pub enum Takeover {
    Stream(Arc<Opened>),
    Refused(Arc<str>),
}

/// A registered streaming connection: its outbox, the guard that removes it,
/// and the limits its writer applies.
pub struct Opened {
    pub outbox: Arc<Outbox>,
    pub guard: ConnGuard,
    pub(super) write_timeout: Duration,
    pub(super) control_rate: u32,
}

impl Opened {
    /// A registered connection (see [`open`]) for [`super::wire`] to run.
    pub fn new(outbox: Arc<Outbox>, guard: ConnGuard, write_timeout: Duration, control_rate: u32) -> Arc<Opened> {
        Arc::new(Opened { outbox, guard, write_timeout, control_rate })
    }
}

/// A response extension naming the outbox of the stream a response carries,
/// for the server to watch for a kill (see `server::write_deadline`).
#[derive(Clone)]
pub struct StreamOutbox(pub Arc<Outbox>);

/// Registers an accepted connection whose socket the server takes over, with
/// the limits its writer applies.
pub fn open(app: &AppState, transport: Transport, accepted: Accepted) -> Arc<Opened> {
    let (outbox, guard) = app.sessions.open_stream(transport, accepted);
    Opened::new(outbox, guard, app.config.write_timeout, app.config.ws_control_rate)
}
