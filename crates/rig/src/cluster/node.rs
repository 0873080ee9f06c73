//! How to reach one node, as it advertises itself in gossip; its own file so
//! the membership and the peer links can both use it without importing each other.

use std::net::SocketAddr;

use chitchat::{ChitchatId, NodeState};
use serde::Serialize;

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
    pub(super) fn from_state(id: &ChitchatId, state: &NodeState) -> Option<NodeInfo> {
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
