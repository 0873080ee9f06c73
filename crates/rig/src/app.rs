//! The composition root: shared state, both listeners, background tasks.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use axum::http::HeaderValue;
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
    proxy::Proxy,
    server,
    source::{self, Dispatcher},
    telemetry::Tracer,
    token::{random_u64, TokenCodec, TokenIds},
};

/// State shared by every handler.
pub struct AppState {
    pub config: Config,
    pub hub: Arc<Hub>,
    pub auth: Auth,
    /// Where every source (HTTP, Kafka, NATS, Kinesis) hands its events.
    pub dispatcher: Dispatcher,
    pub limit: ConnectionLimit,
    pub tracer: Tracer,
    /// Taken (and spawned) by [`App::start`].
    export_task: std::sync::Mutex<Option<crate::telemetry::ExportTask>>,
    /// The reverse proxy: API definitions, waiting requests, publish targets.
    pub proxy: Proxy,
    tokens: TokenCodec,
    node_id: u64,
    cors: HeaderValue,
}

/// Cheap-to-clone handle on [`AppState`].
pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(config: Config) -> Result<Self, String> {
        let cors = HeaderValue::from_str(&config.cors).map_err(|_| format!("CORS={:?} is not a valid header value", config.cors))?;
        let window = Window::new(config.resume_window, config.resume_window_bytes, config.resume_max_age);
        let hub = Arc::new(Hub::with_window(config.extractors.clone(), window));
        let (tracer, export_task) = crate::telemetry::start(&config.tracing);
        let node_id = random_u64();
        Ok(AppState {
            proxy: Proxy::new(&config, node_id),
            auth: Auth::new(&config),
            dispatcher: Dispatcher::new(hub.clone(), tracer.clone()),
            tracer,
            export_task: std::sync::Mutex::new(export_task),
            hub,
            limit: ConnectionLimit::new(config.max_connections_per_minute),
            tokens: TokenCodec::new(config.node_cookie.as_deref()),
            node_id,
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
    /// (public, internal) HTTPS addresses when HTTPS is on.
    pub https_addrs: Option<(SocketAddr, SocketAddr)>,
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
        let mut tasks = vec![
            serve(inbound, inbound::router(state.clone()), None),
            serve(api, internal::router(state.clone()), None),
            tokio::spawn(expire_longpoll_sessions(state.clone())),
            tokio::spawn({
                let state = state.clone();
                async move { state.auth.maintain(state.config.jwks_refresh).await }
            }),
        ];
        let mut https = None;
        if let Some(tls) = &state.config.tls {
            let inbound = listen(SocketAddr::new(c.bind_address, c.inbound_https_port))?;
            let api = listen(SocketAddr::new(c.bind_address, c.api_https_port))?;
            https = Some((inbound.local_addr()?, api.local_addr()?));
            // Kept right after the plain listeners: shutdown stops the first four tasks.
            tasks.insert(2, serve(inbound, inbound::router(state.clone()), Some(tls.clone())));
            tasks.insert(3, serve(api, internal::router(state.clone()), Some(tls.clone())));
        }
        tasks.extend(source::start(&state.config, &state.dispatcher));
        if let Some(export) = crate::hub::lock(&state.export_task).take() {
            tasks.push(tokio::spawn(export));
        }
        tasks.extend(state.proxy.publish.start(&state));
        tracing::info!(%inbound_addr, %api_addr, ?https, "Gateway listening.");
        Ok(RunningApp { inbound_addr, api_addr, https_addrs: https, state, tasks })
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

fn serve(listener: TcpListener, router: axum::Router, tls: Option<Arc<rustls::ServerConfig>>) -> JoinHandle<()> {
    tokio::spawn(server::serve(listener, router, tls))
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
    /// Graceful shutdown: stop accepting, tell every client to reconnect
    /// elsewhere (`rig.connection_closed` with reason `shutdown`, WebSocket close
    /// 1001), then wait up to `grace` for the connections to go.
    pub async fn shutdown(mut self, grace: Duration) -> usize {
        let listeners = if self.https_addrs.is_some() { 4 } else { 2 };
        for accept_loop in self.tasks.drain(..listeners) {
            accept_loop.abort();
        }
        let closing = self.state.hub.close_all(crate::hub::CloseReason::Shutdown);
        tracing::info!(connections = closing, "Shutting down; clients told to reconnect elsewhere.");
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let (sse, ws, lp) = self.state.hub.connection_counts();
            let left = sse + ws + lp;
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

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
