//! Peer links: one persistent, authenticated TCP connection from this node to
//! each live peer, carrying batches of events and control messages (see
//! [`super::wire`]). Publishing never waits for a peer: each link has a bounded
//! queue, and an event that finds it full is dropped for that peer (counted,
//! logged). A link reconnects with a back-off while its node is alive.
//! Incoming links are served by [`serve`]: events are delivered to this node's
//! connections only (never passed on), entries merged, sessions closed.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, Mutex},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use rig_core::CloudEvent;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
};

use super::{
    key::Key,
    node::NodeInfo,
    replicated::Replicated,
    stats::ClusterStats,
    wire::{self, Message, Opener, Sealer, CLIENT_HEAD, NONCE_LEN},
};
use crate::{
    accept::Acceptor,
    hub::Hub,
    support::{backoff::Backoff, ids::random_bytes, sync::lock},
};

/// Time allowed for connecting plus the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A batch is cut at this many events or bytes.
const BATCH_EVENTS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// Control messages (entries, session kills) queued per peer.
const CONTROL_QUEUE: usize = 4096;

/// Outgoing links, one per live peer.
pub struct Peers {
    key: Key,
    queue: usize,
    stats: Arc<ClusterStats>,
    links: Mutex<HashMap<String, Link>>,
}

struct Link {
    addr: SocketAddr,
    events: mpsc::Sender<Arc<CloudEvent>>,
    control: mpsc::Sender<Message>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peers {
    pub fn new(key: Key, queue: usize, stats: Arc<ClusterStats>) -> Peers {
        Peers { key, queue, stats, links: Mutex::new(HashMap::new()) }
    }

    /// Makes the links match the live peers: new ones get a link (which
    /// starts with `greeting`, e.g. every replicated entry), gone ones lose theirs.
    pub fn update(&self, live: &[NodeInfo], greeting: impl Fn() -> Vec<Message>) {
        let mut links = lock(&self.links);
        links.retain(|name, link| live.iter().any(|n| &n.name == name && n.peer == link.addr));
        for node in live {
            if links.contains_key(&node.name) {
                continue;
            }
            let (events, events_rx) = mpsc::channel(self.queue);
            let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
            for m in greeting() {
                let _ = control.try_send(m);
            }
            let task = tokio::spawn(run_link(node.clone(), self.key.clone(), events_rx, control_rx, self.stats.clone()));
            links.insert(node.name.clone(), Link { addr: node.peer, events, control, task });
        }
    }

    /// Queues an event for every peer, never waiting.
    pub fn forward(&self, event: &Arc<CloudEvent>) {
        for (name, link) in lock(&self.links).iter() {
            if link.events.try_send(event.clone()).is_err() {
                let n = self.stats.events_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(peer = %name, dropped_total = n, "Peer queue full or link down: event dropped for that node.");
                }
            }
        }
    }

    /// Queues a control message for every peer.
    pub fn broadcast(&self, msg: &Message) {
        for (name, link) in lock(&self.links).iter() {
            if link.control.try_send(msg.clone()).is_err() {
                tracing::warn!(peer = %name, "Peer control queue full: message left to gossip.");
            }
        }
    }
}

/// Keeps one link up while its node is alive (the task is aborted when it leaves).
async fn run_link(
    node: NodeInfo,
    key: Key,
    mut events: mpsc::Receiver<Arc<CloudEvent>>,
    mut control: mpsc::Receiver<Message>,
    stats: Arc<ClusterStats>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut failures = 0u32;
    loop {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect(&node, &key)).await {
            Ok(Ok((stream, sealer))) => {
                if failures > 0 {
                    tracing::info!(peer = %node.name, "Peer link re-established.");
                }
                failures = 0;
                backoff.reset();
                let (reader, writer) = stream.into_split();
                match pump(reader, writer, sealer, &mut events, &mut control, &stats).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(peer = %node.name, error = %e, "Peer link lost; reconnecting."),
                }
            }
            Ok(Err(e)) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(peer = %node.name, addr = %node.peer, error = %e, "Cannot reach peer; retrying.");
                }
            }
            Err(_) => failures += 1,
        }
        backoff.wait().await;
    }
}

async fn connect(node: &NodeInfo, key: &Key) -> std::io::Result<(TcpStream, Sealer)> {
    let mut stream = TcpStream::connect(node.peer).await?;
    stream.set_nodelay(true)?;
    let mut hello = [0u8; 8 + NONCE_LEN];
    stream.read_exact(&mut hello).await?;
    let nonce_s = wire::read_server_hello(&hello).ok_or_else(|| invalid("not a RIG peer port"))?;
    let nonce_c = random_bytes::<NONCE_LEN>();
    stream.write_all(&wire::client_hello(key, &nonce_s, &nonce_c, &node.name)).await?;
    Ok((stream, Sealer::new(wire::session_key(key, &nonce_s, &nonce_c))))
}

/// Writes batches until the channels close (`Ok`) or the connection fails.
async fn pump(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut sealer: Sealer,
    events: &mut mpsc::Receiver<Arc<CloudEvent>>,
    control: &mut mpsc::Receiver<Message>,
    stats: &ClusterStats,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut body = Vec::with_capacity(64 * 1024);
    let mut batch: Vec<Arc<CloudEvent>> = Vec::with_capacity(BATCH_EVENTS);
    let mut probe = [0u8; 1];
    loop {
        out.clear();
        batch.clear();
        tokio::select! {
            biased;
            // The server never writes: a readable socket means it closed the link.
            r = reader.read(&mut probe) => {
                return Err(match r { Ok(_) => invalid("peer closed the link"), Err(e) => e });
            }
            m = control.recv() => {
                let Some(m) = m else { return Ok(()) };
                sealer.seal_message(&m, &mut out);
                while let Ok(m) = control.try_recv() {
                    sealer.seal_message(&m, &mut out);
                }
            }
            e = events.recv() => {
                let Some(e) = e else { return Ok(()) };
                let mut bytes = e.json().len();
                batch.push(e);
                while batch.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
                    let Ok(e) = events.try_recv() else { break };
                    bytes += e.json().len();
                    batch.push(e);
                }
                body.clear();
                wire::encode_events(batch.iter().map(|e| &e.json()[..]), &mut body);
                sealer.seal(&body, &mut out);
            }
        }
        if let Err(e) = writer.write_all(&out).await {
            stats.events_dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            return Err(e);
        }
        stats.events_forwarded.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

/// What an incoming link acts on.
pub struct Inbound {
    pub me: String,
    pub key: Key,
    pub hub: Arc<Hub>,
    pub replicated: Arc<Replicated>,
    pub stats: Arc<ClusterStats>,
}

/// Accepts peer links for as long as the node runs.
pub async fn serve(listener: TcpListener, inbound: Arc<Inbound>) {
    let mut listener = Acceptor::new(listener, "cluster");
    loop {
        let (stream, from) = listener.accept().await;
        let inbound = inbound.clone();
        tokio::spawn(async move {
            if let Err(e) = receive(stream, &inbound).await {
                tracing::debug!(%from, error = %e, "Incoming peer link ended.");
            }
        });
    }
}

async fn receive(mut stream: TcpStream, inbound: &Inbound) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let nonce_s = random_bytes::<NONCE_LEN>();
    let handshake = async {
        stream.write_all(&wire::server_hello(&nonce_s)).await?;
        let mut head = [0u8; CLIENT_HEAD];
        stream.read_exact(&mut head).await?;
        let (nonce_c, name_len) = wire::read_client_head(&head).ok_or_else(|| invalid("not a RIG peer"))?;
        let mut tail = vec![0u8; name_len + super::key::TAG_LEN];
        stream.read_exact(&mut tail).await?;
        Ok::<_, std::io::Error>((nonce_c, wire::verify_client_tail(&inbound.key, &nonce_s, &nonce_c, &tail)))
    };
    let (nonce_c, target) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await.map_err(|_| invalid("handshake timed out"))??;
    match target {
        None => {
            inbound.stats.peer_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(from = ?stream.peer_addr().ok(), "Peer link without a valid NODE_COOKIE proof refused.");
            return Err(invalid("bad cookie proof"));
        }
        // A link meant for the node that held this address before us.
        Some(name) if name != inbound.me => return Err(invalid("link meant for another node")),
        Some(_) => {}
    }
    let mut opener = Opener::new(wire::session_key(&inbound.key, &nonce_s, &nonce_c));
    loop {
        let mut prefix = [0u8; 4];
        if stream.read_exact(&mut prefix).await.is_err() {
            return Ok(());
        }
        let len = Opener::frame_len(prefix).ok_or_else(|| invalid("frame too large"))?;
        let mut frame = BytesMut::zeroed(len);
        stream.read_exact(&mut frame).await?;
        let body = opener.open(frame).ok_or_else(|| {
            inbound.stats.peer_rejected.fetch_add(1, Ordering::Relaxed);
            invalid("frame with a bad tag")
        })?;
        match Message::decode(body) {
            Some(Message::Events(events)) => deliver(inbound, events),
            Some(Message::Entry(entry)) => {
                inbound.replicated.apply(entry);
            }
            Some(Message::KillSession(s)) => {
                inbound.hub.kill_session(&s);
            }
            None => return Err(invalid("malformed frame")),
        }
    }
}

/// Delivers forwarded events to this node's connections (and resume window).
fn deliver(inbound: &Inbound, events: Vec<Bytes>) {
    for json in events {
        match CloudEvent::parse(json) {
            Ok(event) => {
                inbound.stats.events_received.fetch_add(1, Ordering::Relaxed);
                inbound.hub.publish(event);
            }
            Err(e) => tracing::warn!(error = %e, "A peer forwarded an event that does not parse; dropped."),
        }
    }
}

fn invalid(msg: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}
