//! Membership: who is alive, from chitchat's failure detector. Each node
//! advertises in its key-values how to reach it; joins and departures are
//! logged, counted, and handed to the peer links.

use std::{
    collections::{BTreeMap, HashSet},
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, RwLock},
};

use chitchat::{Chitchat, ChitchatId, NodeState};
use tokio::sync::Mutex;

use super::{node::NodeInfo, peer::Peers, replicated::Replicated, stats::ClusterStats, wire::Message};
use crate::support::sync::{read, write};

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
