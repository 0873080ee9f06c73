//! Membership: who is alive, from chitchat's failure detector. Each node
//! advertises in its key-values how to reach it; joins and departures are
//! logged, counted, and handed to the peer links.

use std::{
    collections::{BTreeMap, HashSet},
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, RwLock},
};

use chitchat::{Chitchat, ChitchatId, NodeState};
use serde::Serialize;
use tokio::sync::Mutex;

use super::{peer::Peers, replicated::Replicated, wire::Message, ClusterStats};
use crate::support::sync::{read, write};

const ID: &str = "rig/id";
const INBOUND: &str = "rig/inbound";
const API: &str = "rig/api";
const PEER: &str = "rig/peer";

/// How to reach one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// Unique per process start: `rig@NODE_HOST/<node id>`.
    pub name: String,
    /// The node id inside its connection tokens.
    #[serde(serialize_with = "hex")]
    pub id: u64,
    pub gossip: SocketAddr,
    /// Public port (subscription updates and long-polls are forwarded here).
    pub inbound: SocketAddr,
    /// Internal port.
    pub api: SocketAddr,
    /// Peer-link (TCP) address.
    pub peer: SocketAddr,
}

fn hex<S: serde::Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{id:016x}"))
}

impl NodeInfo {
    /// What this node publishes about itself.
    pub fn key_values(&self) -> Vec<(String, String)> {
        vec![
            (ID.into(), format!("{:016x}", self.id)),
            (INBOUND.into(), self.inbound.to_string()),
            (API.into(), self.api.to_string()),
            (PEER.into(), self.peer.to_string()),
        ]
    }

    /// A peer's advertisement; `None` until all of it has arrived.
    fn from_state(id: &ChitchatId, state: &NodeState) -> Option<NodeInfo> {
        Some(NodeInfo {
            name: id.node_id.to_string(),
            id: u64::from_str_radix(state.get(ID)?, 16).ok()?,
            gossip: id.gossip_advertise_addr,
            inbound: state.get(INBOUND)?.parse().ok()?,
            api: state.get(API)?.parse().ok()?,
            peer: state.get(PEER)?.parse().ok()?,
        })
    }
}

/// The live peers (not this node), as last seen.
#[derive(Default)]
pub struct Directory {
    peers: RwLock<Vec<NodeInfo>>,
}

impl Directory {
    pub fn peers(&self) -> Vec<NodeInfo> {
        read(&self.peers).clone()
    }

    pub fn by_id(&self, id: u64) -> Option<NodeInfo> {
        read(&self.peers).iter().find(|n| n.id == id).cloned()
    }

    pub fn gossip_addrs(&self) -> HashSet<SocketAddr> {
        read(&self.peers).iter().map(|n| n.gossip).collect()
    }
}

/// Follows chitchat's live-node set for as long as the node runs.
pub async fn follow(
    chitchat: Arc<Mutex<Chitchat>>,
    me: String,
    directory: Arc<Directory>,
    peers: Arc<Peers>,
    replicated: Arc<Replicated>,
    stats: Arc<ClusterStats>,
) {
    let mut watcher = chitchat.lock().await.live_nodes_watcher();
    let mut known: Vec<NodeInfo> = Vec::new();
    loop {
        let live: Vec<NodeInfo> = {
            let nodes: BTreeMap<ChitchatId, NodeState> = watcher.borrow_and_update().clone();
            nodes.iter().filter(|(id, _)| *id.node_id != *me).filter_map(|(id, st)| NodeInfo::from_state(id, st)).collect()
        };
        for n in live.iter().filter(|n| !known.contains(n)) {
            stats.membership_changes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(node = %n.name, gossip = %n.gossip, nodes = live.len() + 1, "Cluster node joined.");
        }
        for n in known.iter().filter(|n| !live.contains(n)) {
            stats.membership_changes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(node = %n.name, nodes = live.len() + 1, "Cluster node left.");
        }
        stats.nodes.store(live.len() as u64 + 1, Ordering::Relaxed);
        *write(&directory.peers) = live.clone();
        // A new peer is handed every entry we know at once, ahead of gossip.
        peers.update(&live, || replicated.all().into_iter().map(Message::Entry).collect());
        known = live;
        if watcher.changed().await.is_err() {
            return;
        }
    }
}
