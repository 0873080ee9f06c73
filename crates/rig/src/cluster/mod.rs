//! Several nodes as one gateway, with no external store (rig-spec 10).
//!
//! - [`config`]: `DISCOVERY_TYPE`, `DNS_NAME`, `NODE_HOST`, `NODE_COOKIE`, `RIG_CLUSTER_*`.
//! - [`membership`]: who is alive (chitchat's gossip and failure detector), how to reach them.
//! - [`gossip`]: chitchat's UDP transport with every datagram tagged with `NODE_COOKIE`.
//! - [`discovery`]: DNS and the static list, re-resolved every 5 s.
//! - [`replicated`]: namespaced entries with expiry, on every node (blacklist, API definitions).
//! - [`peer`], [`wire`]: authenticated TCP links carrying event batches and pushes.
//! - [`forward`]: HTTP requests about another node's connection, passed to that node.
//!
//! Events that enter a node once per cluster (HTTP publishing, a Kafka
//! consumer group, a NATS queue group) are delivered locally and forwarded to
//! every live peer once; peers deliver them to their own connections only. A
//! node that loses every peer keeps serving its own connections.

pub mod config;
pub mod discovery;
pub mod forward;
pub mod gossip;
pub mod key;
pub mod membership;
pub mod node;
pub mod peer;
pub mod replicated;
pub mod stats;
pub mod wire;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    http::{HeaderMap, Method},
    response::Response,
};
use bytes::Bytes;
use chitchat::{spawn_chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, ProtocolVersion};
use rig_core::CloudEvent;
use serde_json::Value;
use tokio::{net::TcpListener, sync::broadcast, task::JoinHandle};

pub use self::{
    config::ClusterConfig,
    replicated::{Entry, Replicated},
};
use self::{key::Key, membership::Directory, node::NodeInfo, peer::Peers, stats::ClusterStats, wire::Message};
use crate::hub::Hub;

/// Replicated namespace of the session blacklist (key: session id, no value).
pub const BLACKLIST: &str = "blacklist";
/// Namespace of the proxy's API definitions (key: API id, version: `ref_number`).
pub const APIS: &str = "apis";

/// What the cluster needs to know about this node.
pub struct LocalNode {
    /// The node id in this node's connection tokens.
    pub id: u64,
    pub bind: IpAddr,
    pub inbound: SocketAddr,
    pub api: SocketAddr,
    /// Long-polls wait this long; forwarded ones get a few seconds more.
    pub longpoll_wait: Duration,
    /// `RIG_API_TOKEN` as sent to a peer's internal port.
    pub api_authorization: Option<axum::http::HeaderValue>,
}

/// A running cluster member.
pub struct Cluster {
    me: NodeInfo,
    directory: Arc<Directory>,
    replicated: Arc<Replicated>,
    peers: Arc<Peers>,
    inbound: Arc<peer::Inbound>,
    stats: Arc<ClusterStats>,
    forwarder: Arc<forward::Forwarder>,
    handle: Arc<ChitchatHandle>,
    tasks: Vec<JoinHandle<()>>,
    /// When this node started, and whether it had anyone to join.
    started: Instant,
    had_seeds: bool,
    /// Set once the resume window holds a peer's (or there was no peer).
    warmed: Arc<std::sync::atomic::AtomicBool>,
    /// Set once the node was first ready: later a lost peer keeps its queue
    /// (see [`peer`]) instead of taking this node out of service.
    was_ready: std::sync::atomic::AtomicBool,
    gossip_interval: Duration,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.handle.abort();
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Cluster {
    /// Binds the cluster port (UDP gossip, TCP peer links), joins the seeds
    /// and starts following membership. Errors name the variable to fix.
    pub async fn start(config: &ClusterConfig, local: LocalNode, hub: Arc<Hub>) -> Result<Arc<Cluster>, String> {
        let host_ip = resolve_host(&config.node_host, config.port).await?;
        let name = format!("rig@{}/{:016x}", config.node_host, local.id);
        let advertised = SocketAddr::new(host_ip, config.port);
        let listen = SocketAddr::new(local.bind, config.port);
        let me = NodeInfo {
            name: name.clone(),
            id: local.id,
            gossip: advertised,
            inbound: with_ip(local.inbound, host_ip),
            api: with_ip(local.api, host_ip),
            peer: advertised,
        };
        let stats = Arc::new(ClusterStats::default());
        stats.nodes.store(1, std::sync::atomic::Ordering::Relaxed);
        let tcp =
            TcpListener::bind(listen).await.map_err(|e| format!("RIG_CLUSTER_PORT={}: cannot listen on TCP {listen}: {e}", config.port))?;
        let seeds = discovery::resolve(config, advertised).await;
        let had_seeds = seeds.iter().any(|s| *s != advertised);
        let generation = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let chitchat_config = ChitchatConfig {
            chitchat_id: ChitchatId::new(name.clone(), generation, advertised),
            cluster_id: "rig".into(),
            gossip_interval: config.gossip_interval,
            listen_addr: listen,
            seed_nodes: seeds.iter().map(SocketAddr::to_string).collect(),
            failure_detector_config: FailureDetectorConfig {
                // Heartbeats arrive every gossip interval or so; assume that before any is seen.
                initial_interval: config.gossip_interval * 2,
                // A dead node's key-values are forgotten after this (entries survive in ours).
                dead_node_grace_period: Duration::from_secs(600),
                ..FailureDetectorConfig::default()
            },
            marked_for_deletion_grace_period: Duration::from_secs(3600),
            catchup_callback: None,
            extra_liveness_predicate: None,
            protocol_version: ProtocolVersion::V1,
        };
        let transport = gossip::SignedUdp { keys: Arc::new(gossip::Keys::new(&config.cookie, config.encrypt)), stats: stats.clone() };
        let handle = spawn_chitchat(chitchat_config, me.key_values(), &transport)
            .await
            .map_err(|e| format!("RIG_CLUSTER_PORT={}: cannot start gossip on UDP {listen}: {e:#}", config.port))?;
        let handle = Arc::new(handle);
        let chitchat = handle.chitchat();

        let (replicated, to_publish) = Replicated::new(name.clone());
        let replicated = Arc::new(replicated);
        let (gossiped_tx, gossiped) = tokio::sync::mpsc::unbounded_channel();
        let me_name = name.clone();
        chitchat
            .lock()
            .await
            .subscribe_event(replicated::KEY_PREFIX, move |ev| {
                if *ev.node.node_id != *me_name {
                    let _ = gossiped_tx.send((format!("{}{}", replicated::KEY_PREFIX, ev.key), ev.value.to_string()));
                }
            })
            .forever();

        let peer_key = Key::derive(&config.cookie, "peer");
        let settings = peer::LinkSettings {
            key: peer_key.clone(),
            encrypt: config.encrypt,
            me: name.clone(),
            bind: host_ip,
            queue: config.peer_queue,
            grace: config.peer_grace,
        };
        let peers = Arc::new(Peers::new(settings, stats.clone()));
        let directory = Arc::new(Directory::default());
        let inbound = Arc::new(peer::Inbound {
            me: name.clone(),
            key: peer_key,
            encrypt: config.encrypt,
            hub,
            replicated: replicated.clone(),
            stats: stats.clone(),
            from: Default::default(),
        });
        let warmed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let forwarder = Arc::new(forward::Forwarder::new(name.clone(), host_ip, local.longpoll_wait + Duration::from_secs(10)));
        let tasks = vec![
            tokio::spawn(peer::serve(tcp, inbound.clone())),
            tokio::spawn(membership::follow(
                chitchat.clone(),
                name.clone(),
                directory.clone(),
                peers.clone(),
                replicated.clone(),
                stats.clone(),
            )),
            tokio::spawn(discovery::run(config.clone(), advertised, handle.clone(), directory.clone())),
            tokio::spawn(apply_gossiped(gossiped, replicated.clone())),
            tokio::spawn(store_entries(to_publish, chitchat, replicated.clone())),
            tokio::spawn(warm_window(
                directory.clone(),
                peers.clone(),
                inbound.clone(),
                forwarder.clone(),
                local.api_authorization.clone(),
                warmed.clone(),
            )),
        ];
        tracing::info!(node = %name, gossip = %advertised, seeds = seeds.len(), "Cluster member started.");
        Ok(Arc::new(Cluster {
            me,
            directory,
            replicated,
            peers,
            inbound,
            stats,
            forwarder,
            handle,
            tasks,
            started: Instant::now(),
            had_seeds,
            was_ready: Default::default(),
            warmed,
            gossip_interval: config.gossip_interval,
        }))
    }

    /// Whether this node can take traffic. At start, not before it has
    /// joined (it sees a live peer, or it had no one to join, or none of its
    /// seeds answered within a few gossip rounds: it is the first of its
    /// cluster), the live set has held for two gossip rounds, and it holds a
    /// link to and from every live peer: what is published here then reaches
    /// every node and what is published there the clients here. Once ready, a
    /// peer lost later does not make it unready (its queue waits for it).
    /// `None` when ready, else why not; with the details for `/readyz`.
    pub fn readiness(&self) -> (Option<String>, Value) {
        use std::sync::atomic::Ordering::Relaxed;
        let live = self.directory.peers();
        let settle = (self.gossip_interval * 6).max(Duration::from_secs(3));
        let waited = self.started.elapsed();
        let joined = !live.is_empty() || !self.had_seeds || waited >= settle;
        let settled = self.directory.stable_for().is_none_or(|d| d >= self.gossip_interval * 2);
        let (to, from) = links_down(&self.peers, &self.inbound, &live);
        let why = if self.was_ready.load(Relaxed) {
            None
        } else if !joined {
            Some("the cluster has not been joined yet".to_string())
        } else if !settled {
            Some("cluster membership is still changing".to_string())
        } else if !to.is_empty() || !from.is_empty() {
            Some(format!("peer links are not up yet (to: {to:?}, from: {from:?})"))
        } else if !live.is_empty() && !self.warmed.load(Relaxed) {
            Some("the resume window is being copied from a peer".to_string())
        } else {
            self.was_ready.store(true, Relaxed);
            None
        };
        let detail = serde_json::json!({
            "joined": joined,
            "live_peers": live.len(),
            "links_down_to": to,
            "links_down_from": from,
            "queued_events": self.peers.queued(),
            "links": self.peers.linked(),
            "seeds": self.had_seeds,
            "waited_ms": waited.as_millis() as u64,
        });
        (why, detail)
    }

    /// [`Cluster::readiness`]'s reason alone, at the cost of one atomic load
    /// once the node has been ready (every publish asks).
    pub fn not_ready(&self) -> Option<String> {
        if self.was_ready.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        self.readiness().0
    }

    /// Waits (at most `limit`) until what was forwarded so far is written to
    /// every connected peer's socket. False when the limit passed first.
    pub async fn handed_over(&self, limit: Duration) -> bool {
        let mark = self.peers.mark();
        self.peers.written(&mark, limit).await
    }

    /// This node.
    pub fn me(&self) -> &NodeInfo {
        &self.me
    }

    /// The live peers.
    pub fn peers(&self) -> Vec<NodeInfo> {
        self.directory.peers()
    }

    /// The live peer whose connection tokens carry `id`.
    pub fn node(&self, id: u64) -> Option<NodeInfo> {
        self.directory.by_id(id)
    }

    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    /// Hands an event that entered this node to every peer (never waits).
    pub fn forward_event(&self, event: &Arc<CloudEvent>) {
        self.peers.forward(event);
    }

    /// Writes `key` in `namespace` (no `/` in it) on every node. An entry with
    /// an expiry can only be extended; without one, the last write wins.
    pub fn replicate(&self, namespace: &str, key: &str, value: Value, expires_at: Option<SystemTime>) {
        self.write(namespace, key, value, expires_at.map(replicated::to_ms), 0);
    }

    /// Writes `key` in `namespace` on every node, never expiring; of two
    /// versions the higher `version` wins, then the later write (API
    /// definitions: `version` = `ref_number`).
    pub fn replicate_versioned(&self, namespace: &str, key: &str, value: Value, version: u64) {
        self.write(namespace, key, value, None, version);
    }

    fn write(&self, namespace: &str, key: &str, value: Value, expires_at: Option<u64>, version: u64) {
        if let Some(entry) = self.replicated.write(namespace, key, value, expires_at, version) {
            self.peers.broadcast(&Message::Entry(entry));
        }
    }

    /// The live entries of `namespace` and the stream of versions learned from
    /// peers from now on (see [`Replicated::watch`]).
    pub fn watch(&self, namespace: &str) -> (Vec<Entry>, broadcast::Receiver<Entry>) {
        self.replicated.watch(namespace)
    }

    /// The live entries of `namespace`.
    pub fn entries(&self, namespace: &str) -> Vec<Entry> {
        self.replicated.entries(namespace)
    }

    /// Closes `session`'s connections on every other node.
    pub fn kill_session(&self, session: &str) {
        self.peers.broadcast(&Message::KillSession(session.to_string()));
    }

    /// Passes a request to `node`'s internal port (asynchronous proxy
    /// responses for a request that waits there); `None` as for [`Cluster::forward_http`].
    pub async fn forward_api(&self, node: u64, path: &str, headers: &HeaderMap, body: Bytes) -> Option<Response> {
        let to = self.node(node)?;
        match self.forwarder.forward(to.api, Method::POST, path, headers, body).await {
            Ok(r) => Some(r),
            Err(error) => {
                tracing::warn!(node = %to.name, %error, "Forwarding a proxy response to the node holding the request failed.");
                None
            }
        }
    }

    /// Passes a request to `node`'s public port; `None` when that node is not a
    /// live peer or does not answer (its connections are gone then).
    pub async fn forward_http(
        &self,
        node: u64,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Option<Response> {
        let to = self.node(node)?;
        let mut headers = headers.clone();
        headers
            .insert(forward::FORWARDED_TO, axum::http::HeaderValue::from_str(&format!("{:016x}", to.id)).expect("hex is a header value"));
        match self.forwarder.forward(to.inbound, method, path_and_query, &headers, body).await {
            // Another process took the node's address: the connection is gone.
            Ok(r) if r.status() == forward::MISDIRECTED => None,
            Ok(r) => Some(r),
            Err(error) => {
                tracing::warn!(node = %to.name, %error, "Forwarding a request to the node holding the connection failed.");
                None
            }
        }
    }
}

/// Once the links to and from every live peer are up (events from then on
/// arrive live), copies one peer's resume window in front of ours: a client
/// that resumes here with a cursor from before this node started gets what
/// it missed. Bounded: after [`WARM_LIMIT`] the node goes on without it.
async fn warm_window(
    directory: Arc<Directory>,
    peers: Arc<Peers>,
    inbound: Arc<peer::Inbound>,
    forwarder: Arc<forward::Forwarder>,
    authorization: Option<axum::http::HeaderValue>,
    warmed: Arc<std::sync::atomic::AtomicBool>,
) {
    let deadline = Instant::now() + WARM_LIMIT;
    let mut headers = HeaderMap::new();
    if let Some(a) = authorization {
        headers.insert(axum::http::header::AUTHORIZATION, a);
    }
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let live = directory.peers();
        let Some(peer) = live.first() else { continue };
        let (to, from) = links_down(&peers, &inbound, &live);
        if !to.is_empty() || !from.is_empty() {
            continue;
        }
        let body = match forwarder.forward(peer.api, Method::GET, "/v3/cluster/window", &headers, Bytes::new()).await {
            Ok(r) if r.status().is_success() => axum::body::to_bytes(r.into_body(), usize::MAX).await.ok(),
            _ => None,
        };
        let Some(events) = body.and_then(|b| serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(&b).ok()) else { continue };
        let older: Vec<CloudEvent> =
            events.iter().filter_map(|raw| CloudEvent::parse(Bytes::copy_from_slice(raw.get().as_bytes())).ok()).collect();
        tracing::info!(peer = %peer.name, events = older.len(), "Resume window copied from a peer.");
        inbound.hub.warm_window(older);
        break;
    }
    warmed.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The live peers without a connected link from this node (first) or to it.
fn links_down(peers: &Peers, inbound: &peer::Inbound, live: &[NodeInfo]) -> (Vec<String>, Vec<String>) {
    let from = live.iter().filter(|n| !inbound.linked_from(&n.name)).map(|n| n.name.clone()).collect();
    (peers.not_linked(live), from)
}

/// How long a starting node tries to copy a peer's resume window.
const WARM_LIMIT: Duration = Duration::from_secs(10);

/// `NODE_HOST` as an address (a name is resolved once, at start).
async fn resolve_host(host: &str, port: u16) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host, port)).await.map_err(|e| format!("NODE_HOST={host:?}: cannot resolve: {e}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| format!("NODE_HOST={host:?}: resolves to no address"))
}

/// A bound port at the address peers reach us by.
fn with_ip(bound: SocketAddr, ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, bound.port())
}

/// Merges entries peers published in their chitchat key-values.
async fn apply_gossiped(mut rx: tokio::sync::mpsc::UnboundedReceiver<(String, String)>, replicated: Arc<Replicated>) {
    while let Some((key, value)) = rx.recv().await {
        if let Some(entry) = Entry::from_key_value(&key, &value) {
            replicated.apply(entry);
        }
    }
}

/// Keeps our chitchat key-values equal to the view: every winning entry is
/// (re-)published under our name; expired ones are deleted.
async fn store_entries(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Entry>,
    chitchat: Arc<tokio::sync::Mutex<chitchat::Chitchat>>,
    replicated: Arc<Replicated>,
) {
    let mut purge = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            entry = rx.recv() => {
                let Some(entry) = entry else { return };
                let value = serde_json::to_string(&entry).expect("entries serialise");
                let mut c = chitchat.lock().await;
                c.self_node_state().set(entry.chitchat_key(), value);
                // Take what else is queued under the same lock.
                while let Ok(entry) = rx.try_recv() {
                    let value = serde_json::to_string(&entry).expect("entries serialise");
                    c.self_node_state().set(entry.chitchat_key(), value);
                }
            }
            _ = purge.tick() => {
                let gone = replicated.purge();
                if !gone.is_empty() {
                    let mut c = chitchat.lock().await;
                    let state = c.self_node_state();
                    for e in gone {
                        let key = e.chitchat_key();
                        if state.get(&key).is_some() {
                            state.delete(&key);
                        }
                    }
                }
            }
        }
    }
}
