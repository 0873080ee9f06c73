//! The composition root: shared state, both listeners, background tasks.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use axum::http::HeaderValue;
use tokio::{
    net::{TcpListener, TcpSocket},
    task::JoinHandle,
};

use crate::{
    accept::Acceptor,
    auth::Auth,
    cluster::{self, Cluster, LocalNode},
    config::Config,
    http::{inbound, internal},
    hub::{ConnId, Hub, Window},
    limit::{ConnectionLimit, PerAddress},
    proxy::Proxy,
    server,
    source::{self, Dispatcher},
    support::ids::random_u64,
    telemetry::Tracer,
    token::{TokenCodec, TokenIds},
};

/// State shared by every handler.
pub struct AppState {
    pub config: Config,
    pub hub: Arc<Hub>,
    pub auth: Auth,
    /// Where every source (HTTP, Kafka, NATS, Kinesis) hands its events.
    pub dispatcher: Dispatcher,
    pub limit: ConnectionLimit,
    /// What every listener bounds per client (connections per address, body read time).
    pub server_limits: server::Limits,
    /// Long-polling sessions per client address.
    pub longpoll_sessions: PerAddress,
    pub tracer: Tracer,
    /// Taken (and spawned) by [`App::start`].
    export_task: std::sync::Mutex<Option<crate::telemetry::ExportTask>>,
    /// The reverse proxy: API definitions, waiting requests, publish targets.
    pub proxy: Proxy,
    /// The other nodes, when this one is part of a cluster.
    pub cluster: Option<Arc<Cluster>>,
    tokens: TokenCodec,
    node_id: u64,
}

/// Where a connection token points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTarget {
    /// One of this node's connections (it may be gone).
    Here(ConnId),
    /// A connection held by the node with this id (maybe no longer alive).
    Node(u64),
    /// Not a genuine token.
    Invalid,
}

/// Cheap-to-clone handle on [`AppState`].
pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(config: Config) -> Result<Self, String> {
        let window = Window::new(config.hub.resume_window, config.hub.resume_window_bytes, config.hub.resume_max_age);
        let hub = Arc::new(Hub::with_window(config.extractors.clone(), window));
        let (tracer, export_task) = crate::telemetry::start(&config.tracing);
        let node_id = random_u64();
        Ok(AppState {
            proxy: Proxy::new(&config, node_id),
            auth: Auth::new(&config.auth),
            dispatcher: Dispatcher::new(hub.clone(), tracer.clone()),
            tracer,
            export_task: std::sync::Mutex::new(export_task),
            hub,
            limit: ConnectionLimit::new(config.max_connections_per_minute),
            server_limits: server::Limits {
                body_read_timeout: config.body_read_timeout,
                per_ip: server::PerIp::new(config.max_connections_per_ip),
                write_timeout: config.write_timeout,
            },
            longpoll_sessions: PerAddress::new(config.max_longpoll_sessions_per_ip),
            cluster: None,
            tokens: TokenCodec::new(config.node_cookie.as_deref()),
            node_id,
            config,
        })
    }

    /// The token a client uses to address connection `id`.
    pub fn seal_token(&self, id: ConnId) -> String {
        self.tokens.seal(TokenIds { node: self.node_id, connection: id })
    }

    /// The connection a token names, if it is genuine and names one of ours.
    pub fn open_token(&self, token: &str) -> Option<ConnId> {
        match self.locate_token(token) {
            TokenTarget::Here(id) => Some(id),
            _ => None,
        }
    }

    /// Which node holds the connection a token names.
    pub fn locate_token(&self, token: &str) -> TokenTarget {
        match self.tokens.open(token) {
            Ok(ids) if ids.node == self.node_id => TokenTarget::Here(ids.connection),
            Ok(ids) => TokenTarget::Node(ids.node),
            Err(_) => TokenTarget::Invalid,
        }
    }

    /// The live peer holding the connection `token` names, when the request
    /// should go there (not when it already was forwarded once).
    pub fn holder_elsewhere(&self, token: &str, headers: &axum::http::HeaderMap) -> Option<u64> {
        let cluster = self.cluster.as_ref()?;
        match self.locate_token(token) {
            TokenTarget::Node(node) if !cluster::forward::was_forwarded(headers) => cluster.node(node).map(|n| n.id),
            _ => None,
        }
    }

    /// The id this node puts in its connection tokens.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// Blacklists `session` on every node: refuses its tokens and closes its
    /// connections here now, elsewhere as soon as the entry arrives. Returns
    /// how many connections were closed here.
    pub fn blacklist_session(&self, session: &str, ttl: Duration) -> usize {
        let until = self.auth.blacklist.add(session, ttl);
        let killed = self.hub.kill_session(session);
        if let Some(c) = &self.cluster {
            c.replicate(cluster::BLACKLIST, session, serde_json::Value::Null, Some(until));
        }
        killed
    }

    /// Closes `session`'s connections on every node, without blacklisting it.
    /// Returns how many were closed here.
    pub fn end_session(&self, session: &str) -> usize {
        if let Some(c) = &self.cluster {
            c.kill_session(session);
        }
        self.hub.kill_session(session)
    }

    /// `access-control-allow-origin` value (`CORS`).
    pub fn cors_header(&self) -> HeaderValue {
        self.config.cors.own()
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
        let mut state = AppState::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let c = &state.config;
        let inbound = listen(SocketAddr::new(c.bind_address, c.inbound_port))?;
        let api = listen(SocketAddr::new(c.api_bind_address, c.api_port))?;
        let (inbound_addr, api_addr) = (inbound.local_addr()?, api.local_addr()?);
        if !c.api_bind_address.is_loopback() && !c.api_access.has_token() {
            tracing::warn!(
                %api_addr,
                "The internal API (management, blacklisting, publishing) listens beyond loopback without authentication: \
                 set RIG_API_TOKEN, or RIG_API_BIND_ADDRESS=127.0.0.1, or keep the port firewalled."
            );
        }
        if let Some(cc) = c.cluster.clone() {
            let local =
                LocalNode { id: state.node_id, bind: c.bind_address, inbound: inbound_addr, api: api_addr, longpoll_wait: c.longpoll_wait };
            let cluster =
                Cluster::start(&cc, local, state.hub.clone()).await.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let peers = cluster.clone();
            state.dispatcher.forward_with(Arc::new(move |event| peers.forward_event(event)));
            state.cluster = Some(cluster);
        }
        let state: Shared = Arc::new(state);
        let c = &state.config;
        let mut tasks = vec![
            serve(inbound, "public", inbound::router(state.clone()), None, &state),
            serve(api, "internal", internal::router(state.clone()), None, &state),
            tokio::spawn(expire_longpoll_sessions(state.clone())),
            tokio::spawn({
                let state = state.clone();
                async move { state.hub.heartbeat_sweep(state.config.hub.heartbeat_interval).await }
            }),
            tokio::spawn({
                let state = state.clone();
                async move { state.auth.maintain(state.config.auth.jwks_refresh).await }
            }),
        ];
        let mut https = None;
        if let Some(tls) = &state.config.tls {
            let inbound = listen(SocketAddr::new(c.bind_address, c.inbound_https_port))?;
            let api = listen(SocketAddr::new(c.api_bind_address, c.api_https_port))?;
            https = Some((inbound.local_addr()?, api.local_addr()?));
            // Kept right after the plain listeners: shutdown stops the first four tasks.
            tasks.insert(2, serve(inbound, "public https", inbound::router(state.clone()), Some(tls.clone()), &state));
            tasks.insert(3, serve(api, "internal https", internal::router(state.clone()), Some(tls.clone()), &state));
        }
        if let Some(cluster) = &state.cluster {
            tasks.push(tokio::spawn(follow_blacklist(state.clone(), cluster.clone())));
            tasks.push(tokio::spawn(replicate_apis(state.clone(), cluster.clone())));
            state.proxy.publish.set_foreign_responses(Arc::new(ResponsesToOwner(Arc::downgrade(&state))));
        }
        tasks.extend(source::start(
            state.config.kafka.as_ref(),
            state.config.nats.as_ref(),
            state.config.kinesis.as_ref(),
            &state.dispatcher,
        ));
        if let Some(export) = crate::support::sync::lock(&state.export_task).take() {
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

fn serve(
    listener: TcpListener,
    name: &'static str,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: &Shared,
) -> JoinHandle<()> {
    tokio::spawn(server::serve(Acceptor::new(listener, name), router, tls, state.server_limits.clone()))
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

/// Applies blacklist entries learned from peers: their tokens are refused
/// and their connections here closed.
async fn follow_blacklist(state: Shared, cluster: Arc<Cluster>) {
    use tokio::sync::broadcast::error::RecvError;
    let apply = |e: &cluster::Entry| {
        let Some(until) = e.expires_at else { return };
        state.auth.blacklist.add_until(&e.key, cluster::replicated::from_ms(until));
        let killed = state.hub.kill_session(&e.key);
        if killed > 0 {
            tracing::info!(session_connections = killed, origin = %e.origin, "Session blacklisted on another node.");
        }
    };
    let (current, mut updates) = cluster.watch(cluster::BLACKLIST);
    current.iter().for_each(apply);
    loop {
        match updates.recv().await {
            Ok(e) => apply(&e),
            Err(RecvError::Lagged(_)) => cluster.entries(cluster::BLACKLIST).iter().for_each(apply),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Kafka proxy responses consumed here for a request waiting on another node
/// go to that node.
struct ResponsesToOwner(std::sync::Weak<AppState>);

impl crate::proxy::publish::ForeignResponses for ResponsesToOwner {
    fn forward(&self, node: u64, correlation: &str, response: crate::proxy::correlation::AsyncResponse) {
        let Some(app) = self.0.upgrade() else { return };
        let id = correlation.to_string();
        tokio::spawn(async move {
            if crate::http::responses::forward_to_owner(&app, node, &id, &response).await.is_none() {
                tracing::warn!(node = format!("{node:x}"), "A Kafka proxy response could not be handed to the node waiting for it.");
            }
        });
    }
}

/// Keeps the proxy's API definitions the same on every node: local changes
/// (file config at start, `/v3/apis` calls) go out, peers' come in. Of two
/// versions the higher `ref_number` wins, then the later write, so a restarted
/// node's file config (ref 0) never undoes a runtime change (rig-spec 10.2).
async fn replicate_apis(state: Shared, cluster: Arc<Cluster>) {
    use tokio::sync::broadcast::error::RecvError;
    let store = &state.proxy.store;
    let publish = |def: serde_json::Value| {
        let Some(id) = def.get("id").and_then(|v| v.as_str()).map(str::to_string) else { return };
        let version = def.get("ref_number").and_then(|v| v.as_u64()).unwrap_or(0);
        cluster.replicate_versioned(cluster::APIS, &id, def, version);
    };
    let mut local = store.subscribe();
    let (current, mut remote) = cluster.watch(cluster::APIS);
    for e in current {
        store.apply_remote(e.value);
    }
    store.all().into_iter().for_each(publish);
    loop {
        tokio::select! {
            change = local.recv() => match change {
                Ok(def) => publish(def),
                Err(RecvError::Lagged(_)) => store.all().into_iter().for_each(publish),
                Err(RecvError::Closed) => return,
            },
            entry = remote.recv() => match entry {
                Ok(e) => {
                    store.apply_remote(e.value);
                }
                Err(RecvError::Lagged(_)) => cluster.entries(cluster::APIS).into_iter().for_each(|e| {
                    store.apply_remote(e.value);
                }),
                Err(RecvError::Closed) => return,
            },
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
