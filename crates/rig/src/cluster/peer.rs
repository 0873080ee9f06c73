//! Peer links: one persistent, mutually authenticated TCP connection from this
//! node to each peer, carrying batches of events and control messages (see
//! [`super::wire`]), leaving from `NODE_HOST`'s address. Publishing never waits
//! on a slow peer: each link has a bounded queue, and an event that finds it
//! full is dropped for that peer (counted, logged at a bounded rate). A link
//! reconnects with a back-off. A peer the failure detector gives up on keeps
//! its link and queue for `RIG_CLUSTER_PEER_GRACE_MS`: a partition shorter
//! than that loses nothing, the queue drains when it heals. The link goes at
//! once when another node takes its address or discovery no longer lists it.
//! Incoming links are served by [`serve`]: events are delivered to this node's
//! connections only (never passed on), entries merged, sessions closed; which
//! peers hold one is kept for readiness.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use rig_core::CloudEvent;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{mpsc, Notify},
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
    support::{backoff::Backoff, ids::random_bytes, sync::lock, throttle::Throttle},
};

/// Time allowed for connecting plus the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A batch is cut at this many events or bytes.
const BATCH_EVENTS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// Control messages (entries, session kills) queued per peer.
const CONTROL_QUEUE: usize = 4096;

/// How this node speaks on its links.
#[derive(Clone)]
pub struct LinkSettings {
    pub key: Key,
    pub encrypt: bool,
    /// This node's name, told to the peers it links to.
    pub me: String,
    /// Outgoing links leave from this address (`NODE_HOST`).
    pub bind: IpAddr,
    /// Events queued per peer.
    pub queue: usize,
    /// How long a peer the failure detector dropped keeps its link and queue.
    pub grace: Duration,
}

/// Outgoing links, one per live (or recently lost) peer.
pub struct Peers {
    settings: LinkSettings,
    stats: Arc<ClusterStats>,
    links: Mutex<HashMap<String, Link>>,
    drops_logged: Throttle,
    /// Woken whenever a link has written events to its socket.
    written: Arc<Notify>,
}

/// Events a link took and wrote, for publishers that wait for the hand-over.
#[derive(Default)]
struct Progress {
    queued: AtomicU64,
    written: AtomicU64,
}

/// Where every link stood when an event was queued (see [`Peers::mark`]).
pub struct Mark(Vec<(Arc<Progress>, Arc<AtomicBool>, u64)>);

struct Link {
    addr: SocketAddr,
    events: mpsc::Sender<Arc<CloudEvent>>,
    control: mpsc::Sender<Message>,
    /// True while connected and past the handshake.
    up: Arc<AtomicBool>,
    progress: Arc<Progress>,
    /// When the failure detector stopped listing this peer.
    lost_since: Option<Instant>,
    task: JoinHandle<()>,
}

impl Link {
    /// Events waiting in this link's queue.
    fn queued(&self) -> usize {
        self.events.max_capacity() - self.events.capacity()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peers {
    pub fn new(settings: LinkSettings, stats: Arc<ClusterStats>) -> Peers {
        Peers {
            settings,
            stats,
            links: Mutex::new(HashMap::new()),
            drops_logged: Throttle::new(Duration::from_secs(5)),
            written: Arc::new(Notify::new()),
        }
    }

    /// Makes the links match the peers: new live ones get a link (which
    /// starts with `greeting`, e.g. every replicated entry); one no longer live
    /// keeps its link for the grace period, unless a live node took its
    /// address or `listed` (the addresses discovery finds) no longer has it.
    pub fn update(&self, live: &[NodeInfo], listed: Option<&HashSet<SocketAddr>>, greeting: impl Fn() -> Vec<Message>) {
        let now = Instant::now();
        let grace = self.settings.grace;
        let mut links = lock(&self.links);
        links.retain(|name, link| {
            if live.iter().any(|n| &n.name == name && n.peer == link.addr) {
                link.lost_since = None;
                return true;
            }
            let succeeded = live.iter().any(|n| n.peer == link.addr);
            let unlisted = listed.is_some_and(|l| !l.contains(&link.addr));
            let since = *link.lost_since.get_or_insert(now);
            let keep = !succeeded && !unlisted && now.duration_since(since) < grace;
            if !keep {
                tracing::info!(peer = %name, queued_events_dropped = link.queued(), "Peer link and its queue freed.");
            }
            keep
        });
        for node in live {
            if links.contains_key(&node.name) {
                continue;
            }
            let (events, events_rx) = mpsc::channel(self.settings.queue);
            let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
            for m in greeting() {
                let _ = control.try_send(m);
            }
            let up = Arc::new(AtomicBool::new(false));
            let progress = Arc::new(Progress::default());
            let io = LinkIo {
                events: events_rx,
                control: control_rx,
                up: up.clone(),
                progress: progress.clone(),
                written: self.written.clone(),
            };
            let task = tokio::spawn(run_link(node.clone(), self.settings.clone(), io, self.stats.clone()));
            links.insert(node.name.clone(), Link { addr: node.peer, events, control, up, progress, lost_since: None, task });
        }
    }

    /// Queues an event for every peer, never waiting.
    pub fn forward(&self, event: &Arc<CloudEvent>) {
        for (name, link) in lock(&self.links).iter() {
            if link.events.try_send(event.clone()).is_ok() {
                link.progress.queued.fetch_add(1, Ordering::Relaxed);
            } else {
                let n = self.stats.events_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(since) = self.drops_logged.allow() {
                    tracing::warn!(peer = %name, dropped_total = n, dropped_since_last_log = since, "Peer queue full: events dropped for that node.");
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

    /// Where every link's queue ends now: an event forwarded before this call
    /// is written once [`Peers::written`] says so.
    pub fn mark(&self) -> Mark {
        Mark(lock(&self.links).values().map(|l| (l.progress.clone(), l.up.clone(), l.progress.queued.load(Ordering::Relaxed))).collect())
    }

    /// Waits (at most `limit`) until every connected link has written what it
    /// held at `mark` to its socket, whence the kernel delivers it even if
    /// this process dies; a link that is down keeps its events queued. False
    /// when the limit passed first.
    pub async fn written(&self, mark: &Mark, limit: Duration) -> bool {
        let done = || mark.0.iter().all(|(p, up, at)| p.written.load(Ordering::Acquire) >= *at || !up.load(Ordering::Relaxed));
        tokio::time::timeout(limit, async {
            loop {
                let notified = self.written.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if done() {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }

    /// The live peers in `live` without a connected outgoing link.
    pub fn not_linked(&self, live: &[NodeInfo]) -> Vec<String> {
        let links = lock(&self.links);
        live.iter().filter(|n| !links.get(&n.name).is_some_and(|l| l.up.load(Ordering::Relaxed))).map(|n| n.name.clone()).collect()
    }

    /// Events queued for peers and not yet written to their sockets.
    pub fn queued(&self) -> usize {
        lock(&self.links).values().map(Link::queued).sum()
    }

    /// Peers holding a link (live or within their grace period).
    pub fn linked(&self) -> usize {
        lock(&self.links).len()
    }
}

/// A link task's queues and what it reports.
struct LinkIo {
    events: mpsc::Receiver<Arc<CloudEvent>>,
    control: mpsc::Receiver<Message>,
    up: Arc<AtomicBool>,
    progress: Arc<Progress>,
    written: Arc<Notify>,
}

/// Keeps one link up until the task is aborted (its peer is gone).
async fn run_link(node: NodeInfo, settings: LinkSettings, mut io: LinkIo, stats: Arc<ClusterStats>) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut failures = 0u32;
    loop {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect(&node, &settings, &stats)).await {
            Ok(Ok((stream, sealer))) => {
                if failures > 0 {
                    tracing::info!(peer = %node.name, "Peer link re-established.");
                }
                failures = 0;
                backoff.reset();
                io.up.store(true, Ordering::Relaxed);
                let (reader, writer) = stream.into_split();
                let r = pump(reader, writer, sealer, &mut io, &stats).await;
                io.up.store(false, Ordering::Relaxed);
                io.written.notify_waiters();
                match r {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(peer = %node.name, error = %e, "Peer link lost; reconnecting."),
                }
            }
            Ok(Err(e)) => {
                failures += 1;
                // The first failure, then one in 64 (a long outage stays quiet).
                if failures % 64 == 1 {
                    tracing::warn!(peer = %node.name, addr = %node.peer, error = %e, attempts = failures, "Cannot reach peer; retrying.");
                }
            }
            Err(_) => failures += 1,
        }
        backoff.wait().await;
    }
}

async fn connect(node: &NodeInfo, settings: &LinkSettings, stats: &ClusterStats) -> std::io::Result<(TcpStream, Sealer)> {
    let socket = if node.peer.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if settings.bind.is_ipv4() == node.peer.is_ipv4() && !settings.bind.is_unspecified() {
        socket.bind(SocketAddr::new(settings.bind, 0))?;
    }
    let mut stream = socket.connect(node.peer).await?;
    stream.set_nodelay(true)?;
    let mut hello = [0u8; 8 + NONCE_LEN];
    stream.read_exact(&mut hello).await?;
    let nonce_s = wire::read_server_hello(&hello).ok_or_else(|| invalid("not a RIG peer port (or an older RIG version)"))?;
    let nonce_c = random_bytes::<NONCE_LEN>();
    let key = &settings.key;
    stream.write_all(&wire::client_hello(key, &nonce_s, &nonce_c, settings.encrypt, &node.name, &settings.me)).await?;
    let mut proof = [0u8; super::key::TAG_LEN];
    if stream.read_exact(&mut proof).await.is_err() {
        return Err(invalid("the peer refused the handshake (different NODE_COOKIE or RIG_CLUSTER_ENCRYPT, or it restarted)"));
    }
    if !wire::verify_welcome(key, &nonce_s, &nonce_c, &proof) {
        stats.peer_rejected.fetch_add(1, Ordering::Relaxed);
        return Err(invalid("the peer could not prove NODE_COOKIE: nothing sent to it"));
    }
    Ok((stream, Sealer::new(wire::session(key, &nonce_s, &nonce_c, settings.encrypt))))
}

/// Writes batches until the channels close (`Ok`) or the connection fails.
async fn pump(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut sealer: Sealer,
    io: &mut LinkIo,
    stats: &ClusterStats,
) -> std::io::Result<()> {
    let (events, control) = (&mut io.events, &mut io.control);
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
        if !batch.is_empty() {
            io.progress.written.fetch_add(batch.len() as u64, Ordering::Release);
            io.written.notify_waiters();
        }
    }
}

/// What an incoming link acts on.
pub struct Inbound {
    pub me: String,
    pub key: Key,
    pub encrypt: bool,
    pub hub: Arc<Hub>,
    pub replicated: Arc<Replicated>,
    pub stats: Arc<ClusterStats>,
    /// Open incoming links per sending node.
    pub from: Mutex<HashMap<String, usize>>,
}

impl Inbound {
    /// Whether `node` holds a link to us.
    pub fn linked_from(&self, node: &str) -> bool {
        lock(&self.from).contains_key(node)
    }
}

/// Counts one open incoming link while alive.
struct Registered<'a> {
    inbound: &'a Inbound,
    name: String,
}

impl<'a> Registered<'a> {
    fn new(inbound: &'a Inbound, name: String) -> Self {
        *lock(&inbound.from).entry(name.clone()).or_default() += 1;
        Registered { inbound, name }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut from = lock(&self.inbound.from);
        if let Some(n) = from.get_mut(&self.name) {
            *n -= 1;
            if *n == 0 {
                from.remove(&self.name);
            }
        }
    }
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
        let head = wire::read_client_head(&head).ok_or_else(|| invalid("not a RIG peer (or an older RIG version)"))?;
        let mut tail = vec![0u8; head.tail_len];
        stream.read_exact(&mut tail).await?;
        let names = wire::verify_client_tail(&inbound.key, &nonce_s, &head, &tail);
        Ok::<_, std::io::Error>((head, names))
    };
    let (head, names) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await.map_err(|_| invalid("handshake timed out"))??;
    let sender = match names {
        None => {
            inbound.stats.peer_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(from = ?stream.peer_addr().ok(), "Peer link without a valid NODE_COOKIE proof refused.");
            return Err(invalid("bad cookie proof"));
        }
        // A link meant for the node that held this address before us.
        Some((target, _)) if target != inbound.me => return Err(invalid("link meant for another node")),
        Some((_, sender)) => sender,
    };
    if head.encrypt != inbound.encrypt {
        tracing::warn!(peer = %sender, "Peer link refused: RIG_CLUSTER_ENCRYPT differs between the nodes.");
        return Err(invalid("RIG_CLUSTER_ENCRYPT differs"));
    }
    stream.write_all(&wire::welcome(&inbound.key, &nonce_s, &head.nonce)).await?;
    let _registered = Registered::new(inbound, sender);
    let mut opener = Opener::new(wire::session(&inbound.key, &nonce_s, &head.nonce, inbound.encrypt));
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
