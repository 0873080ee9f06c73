//! The composition root: shared state, both listeners, background tasks.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{http::HeaderValue, serve::ListenerExt};
use tokio::{
    net::{TcpListener, TcpSocket},
    task::JoinHandle,
};

use crate::{
    auth::Auth,
    config::Config,
    http::{inbound, internal},
    hub::{ConnId, Hub, Window},
    limit::ConnectionLimit,
    token::{random_u64, TokenCodec, TokenIds},
};

/// State shared by every handler.
pub struct AppState {
    pub config: Config,
    pub hub: Hub,
    pub auth: Auth,
    pub limit: ConnectionLimit,
    tokens: TokenCodec,
    node_id: u64,
    cors: HeaderValue,
}

/// Cheap-to-clone handle on [`AppState`].
pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(config: Config) -> Result<Self, String> {
        let cors = HeaderValue::from_str(&config.cors).map_err(|_| format!("CORS={:?} is not a valid header value", config.cors))?;
        Ok(AppState {
            hub: Hub::with_window(config.extractors.clone(), Window::new(config.resume_window, config.resume_window_bytes, config.resume_max_age)),
            auth: Auth::new(&config),
            limit: ConnectionLimit::new(config.max_connections_per_minute),
            tokens: TokenCodec::new(config.node_cookie.as_deref()),
            node_id: random_u64(),
            cors,
            config,
        })
    }

    /// The token a client uses to address connection `id`.
    pub fn seal_token(&self, id: ConnId) -> String {
        self.tokens.seal(TokenIds { node: self.node_id, connection: id })
    }

    /// The connection a token names, if it is genuine and names one of ours.
    pub fn open_token(&self, token: &str) -> Option<ConnId> {
        self.tokens.open(token).ok().filter(|ids| ids.node == self.node_id).map(|ids| ids.connection)
    }

    /// `access-control-allow-origin` value (`CORS`).
    pub fn cors_header(&self) -> HeaderValue {
        self.cors.clone()
    }
}

/// Builds and starts the gateway.
pub struct App;

/// A started gateway: its bound addresses and its tasks (stopped on drop).
pub struct RunningApp {
    pub inbound_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub state: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl App {
    /// Binds both ports and starts serving. Port 0 picks a free port; the
    /// chosen addresses are in the result.
    pub async fn start(config: Config) -> io::Result<RunningApp> {
        let state: Shared = Arc::new(AppState::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?);
        let c = &state.config;
        let inbound = listen(SocketAddr::new(c.bind_address, c.inbound_port))?;
        let api = listen(SocketAddr::new(c.bind_address, c.api_port))?;
        let (inbound_addr, api_addr) = (inbound.local_addr()?, api.local_addr()?);
        let tasks = vec![
            serve(inbound, inbound::router(state.clone())),
            serve(api, internal::router(state.clone())),
            tokio::spawn(expire_longpoll_sessions(state.clone())),
            tokio::spawn({
                let state = state.clone();
                async move { state.auth.maintain(state.config.jwks_refresh).await }
            }),
        ];
        tracing::info!(%inbound_addr, %api_addr, "Gateway listening.");
        Ok(RunningApp { inbound_addr, api_addr, state, tasks })
    }
}

/// Accept-queue length. `TcpListener::bind` uses std's 128: a burst of new
/// connections (clients reconnecting after a restart) overflows it, the kernel
/// drops their SYNs and each costs the client a 1 s retransmit. The kernel caps
/// it at `net.core.somaxconn` (4096 by default).
const BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

fn serve(listener: TcpListener, router: axum::Router) -> JoinHandle<()> {
    let listener = listener.tap_io(|tcp| {
        // Events are small and latency matters more than packet count.
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "Listener failed.");
        }
    })
}

async fn expire_longpoll_sessions(state: Shared) {
    let timeout = state.config.longpoll_session_timeout;
    let mut tick = tokio::time::interval(timeout.min(Duration::from_secs(60)).max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let n = state.hub.expire_lp_sessions(timeout);
        if n > 0 {
            tracing::debug!(expired = n, "Long-polling sessions expired.");
        }
    }
}

impl RunningApp {
    /// Waits until a listener stops (it normally never does).
    pub async fn wait(mut self) {
        if let Some(first) = self.tasks.first_mut() {
            let _ = first.await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
