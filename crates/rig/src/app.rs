//! The composition root: builds the shared state, binds both listeners and
//! starts the background tasks; stops them on shutdown. Wiring only.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    net::{TcpListener, TcpSocket},
    task::JoinHandle,
};

use crate::{
    accept::Acceptor,
    auth::Auth,
    cluster::{Cluster, LocalNode},
    config::Config,
    http::{inbound, internal},
    hub::{CloseReason, Hub, Window},
    lifecycle::Lifecycle,
    limit::PerAddress,
    per_ip::PerIp,
    proxy::{self, Proxy},
    server,
    session::Sessions,
    source::{self, Dispatcher},
    state::{AppState, Shared},
    support::ids::random_u64,
    telemetry,
};

/// Builds and starts the gateway.
pub struct App;

/// A started gateway: its bound addresses and its tasks (stopped on drop).
pub struct RunningApp {
    pub inbound_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// (public, internal) HTTPS addresses when HTTPS is on.
    pub https_addrs: Option<(SocketAddr, SocketAddr)>,
    pub state: Shared,
    /// The public accept loops: stopped first on shutdown.
    listeners: Vec<JoinHandle<()>>,
    /// The internal ones: they keep answering (probes see `/readyz` 503,
    /// metrics stay readable) until the drain is over.
    internal: Vec<JoinHandle<()>>,
    /// Sweeps, broker clients, replication, trace export: stopped last.
    background: Vec<JoinHandle<()>>,
}

impl App {
    /// Binds both ports and starts serving. Port 0 picks a free port; the
    /// chosen addresses are in the result.
    pub async fn start(config: Config) -> io::Result<RunningApp> {
        let inbound = listen(SocketAddr::new(config.bind_address, config.inbound_port))?;
        let api = listen(SocketAddr::new(config.api_bind_address, config.api_port))?;
        let (inbound_addr, api_addr) = (inbound.local_addr()?, api.local_addr()?);
        if !config.api_bind_address.is_loopback() && !config.api_access.has_token() {
            tracing::warn!(
                %api_addr,
                "The internal API (management, blacklisting, publishing) listens beyond loopback without authentication: \
                 set RIG_API_TOKEN, or RIG_API_BIND_ADDRESS=127.0.0.1, or keep the port firewalled."
            );
        }
        let node_id = random_u64();
        let (state, export) = build(config, node_id, inbound_addr, api_addr).await?;
        let c = &state.config;
        let limits = server::Limits {
            body_read_timeout: c.body_read_timeout,
            per_ip: state.per_ip.clone(),
            write_timeout: c.write_timeout,
            lifecycle: state.lifecycle.clone(),
        };
        let serve = |listener, name, router, tls| tokio::spawn(server::serve(Acceptor::new(listener, name), router, tls, limits.clone()));
        let mut listeners = vec![serve(inbound, "public", inbound::router(state.clone()), None)];
        let mut internal = vec![serve(api, "internal", internal::router(state.clone()), None)];
        let mut https = None;
        if let Some(tls) = &c.tls {
            let inbound = listen(SocketAddr::new(c.bind_address, c.inbound_https_port))?;
            let api = listen(SocketAddr::new(c.api_bind_address, c.api_https_port))?;
            https = Some((inbound.local_addr()?, api.local_addr()?));
            listeners.push(serve(inbound, "public https", inbound::router(state.clone()), Some(tls.clone())));
            internal.push(serve(api, "internal https", internal::router(state.clone()), Some(tls.clone())));
        }
        let background = background(&state, export);
        state.lifecycle.set_listening();
        tracing::info!(%inbound_addr, %api_addr, ?https, "Gateway listening.");
        Ok(RunningApp { inbound_addr, api_addr, https_addrs: https, state, listeners, internal, background })
    }
}

impl App {
    /// The shared state alone, for driving the routers without sockets
    /// (`tower::ServiceExt::oneshot`). No listeners, no background tasks, no cluster.
    pub async fn state(config: Config) -> io::Result<Shared> {
        if config.cluster.is_some() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a cluster needs App::start"));
        }
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(build(config, random_u64(), unbound, unbound).await?.0)
    }
}

/// The shared state, with the cluster (when configured) already joined.
async fn build(config: Config, node_id: u64, inbound: SocketAddr, api: SocketAddr) -> io::Result<(Shared, Option<telemetry::ExportTask>)> {
    let window = Window::new(config.hub.resume_window, config.hub.resume_window_bytes, config.hub.resume_max_age);
    let hub = Arc::new(Hub::with_window(config.extractors.clone(), window));
    let (tracer, export) = telemetry::start(&config.tracing, &config.trust);
    let cluster = match config.cluster.clone() {
        Some(cc) => {
            let local = LocalNode {
                id: node_id,
                bind: config.bind_address,
                inbound,
                api,
                longpoll_wait: config.longpoll_wait,
                api_authorization: config.api_access.authorization(),
            };
            let cluster = Cluster::start(&cc, local, hub.clone()).await.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Some(cluster)
        }
        None => None,
    };
    let mut dispatcher = Dispatcher::new(hub.clone(), tracer.clone());
    if let Some(peers) = cluster.clone() {
        dispatcher.forward_with(Arc::new(move |event| peers.forward_event(event)));
    }
    let auth = Arc::new(Auth::new(&config.auth, &config.trust));
    let state = AppState {
        sessions: Sessions::new(&config, hub.clone(), auth.clone(), cluster.clone(), node_id),
        proxy: Proxy::new(
            proxy::Settings {
                proxy: &config.proxy,
                publish: &config.publish,
                kafka: config.kafka.as_ref(),
                nats: config.nats.as_ref(),
                node_name: &config.node_name,
                node_cookie: config.node_cookie.as_deref(),
                api_authorization: config.api_access.authorization(),
                trust: &config.trust,
            },
            node_id,
            cluster.clone(),
        ),
        per_ip: PerIp::new(config.max_connections_per_ip),
        longpoll_sessions: PerAddress::new(config.max_longpoll_sessions_per_ip),
        dispatcher,
        tracer,
        auth,
        hub,
        cluster,
        lifecycle: Arc::new(Lifecycle::default()),
        config,
    };
    Ok((Arc::new(state), export))
}

/// Everything that runs beside the listeners.
fn background(state: &Shared, export: Option<telemetry::ExportTask>) -> Vec<JoinHandle<()>> {
    let c = &state.config;
    let mut tasks = vec![
        tokio::spawn(state.sessions.expire_longpoll(c.longpoll_session_timeout)),
        tokio::spawn({
            let state = state.clone();
            async move { state.hub.heartbeat_sweep(state.config.hub.heartbeat_interval).await }
        }),
        tokio::spawn({
            let state = state.clone();
            async move { state.auth.maintain(state.config.auth.jwks_refresh).await }
        }),
    ];
    if let Some(follow) = state.sessions.follow_blacklist() {
        tasks.push(tokio::spawn(follow));
    }
    if let Some(follow) = state.sessions.presence.follow() {
        tasks.push(tokio::spawn(follow));
    }
    if let Some(cluster) = state.cluster.clone() {
        let state = state.clone();
        tasks.push(tokio::spawn(async move { proxy::replicate::apis(&state.proxy.store, &cluster).await }));
    }
    tasks.extend(source::start(c.kafka.as_ref(), c.nats.as_ref(), c.kinesis.as_ref(), &state.dispatcher));
    tasks.extend(export.map(tokio::spawn));
    tasks.extend(state.proxy.start(state.dispatcher.shared_health()));
    tasks
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

/// What was still open when shutdown returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    pub connections: usize,
    pub requests: usize,
}

impl RunningApp {
    /// Graceful shutdown: not ready any more, stop accepting, tell every
    /// client to reconnect elsewhere (`rig.connection_closed` with reason
    /// `shutdown`, WebSocket close 1001), then wait up to `grace` for the
    /// connections to go and for the requests being answered (proxied
    /// requests, publishes, asynchronous waits) to finish.
    pub async fn shutdown(mut self, grace: Duration) -> Left {
        self.state.lifecycle.drain();
        for accept_loop in self.listeners.drain(..) {
            accept_loop.abort();
        }
        let closing = self.state.hub.close_all(CloseReason::Shutdown);
        tracing::info!(connections = closing, "Shutting down; clients told to reconnect elsewhere.");
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let (sse, ws, lp) = self.state.hub.connection_counts();
            let left = Left { connections: sse + ws + lp, requests: self.state.lifecycle.in_flight() };
            if left.connections + left.requests == 0 || tokio::time::Instant::now() >= deadline {
                // Events forwarded so far leave for the peers before we exit.
                if let Some(cluster) = &self.state.cluster {
                    let _ = cluster.handed_over(Duration::from_secs(2)).await;
                }
                for accept_loop in self.internal.drain(..) {
                    accept_loop.abort();
                }
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a listener stops (it normally never does).
    pub async fn wait(mut self) {
        if !self.listeners.is_empty() {
            let _ = futures_util::future::select_all(self.listeners.iter_mut().chain(self.internal.iter_mut())).await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        for t in self.listeners.iter().chain(&self.internal).chain(&self.background) {
            t.abort();
        }
    }
}
