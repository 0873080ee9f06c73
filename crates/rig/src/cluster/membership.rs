//! Membership: who is alive, from chitchat's failure detector. Each node
//! advertises in its key-values how to reach it; joins and departures are
//! logged, counted, and handed to the peer links (checked every second too,
//! so lost peers' links expire on time).

use std::{
    collections::{BTreeMap, HashSet},
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, RwLock},
    time::Duration,
};

use chitchat::{Chitchat, ChitchatId, NodeState};
use tokio::sync::Mutex;

use super::{node::NodeInfo, peer::Peers, replicated::Replicated, stats::ClusterStats, wire::Message};
use crate::support::sync::{read, write};

/// The live peers (not this node), as last seen.
#[derive(Default)]
pub struct Directory {
    peers: RwLock<Vec<NodeInfo>>,
    /// The addresses DNS discovery last found (`None` without DNS, or before
    /// its first answer): a lost peer no longer listed is gone for good.
    listed: RwLock<Option<HashSet<SocketAddr>>>,
    /// When the live set last changed (readiness waits for it to settle).
    changed: RwLock<Option<std::time::Instant>>,
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

    pub fn set_listed(&self, addrs: HashSet<SocketAddr>) {
        *write(&self.listed) = Some(addrs);
    }

    fn listed(&self) -> Option<HashSet<SocketAddr>> {
        read(&self.listed).clone()
    }

    /// How long the live set has stayed as it is (`None`: never changed).
    pub fn stable_for(&self) -> Option<Duration> {
        read(&self.changed).map(|t| t.elapsed())
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
        if live != known {
            *write(&directory.changed) = Some(std::time::Instant::now());
        }
        *write(&directory.peers) = live.clone();
        // A new peer is handed every entry we know at once, ahead of gossip.
        let update = |live: &[NodeInfo]| {
            peers.update(live, directory.listed().as_ref(), || replicated.all().into_iter().map(Message::Entry).collect())
        };
        update(&live);
        known = live;
        loop {
            tokio::select! {
                changed = watcher.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => update(&known),
            }
        }
    }
}
