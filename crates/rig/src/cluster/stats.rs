//! The cluster's counters for `/metrics`, in a file of their own so every
//! cluster part can count without importing the cluster's `mod.rs`.

use std::sync::atomic::AtomicU64;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Live nodes, this one included.
    pub nodes: AtomicU64,
    pub membership_changes: AtomicU64,
    /// Event deliveries handed to peer links (one per event per peer).
    pub events_forwarded: AtomicU64,
    /// Events for a peer lost: its queue was full, or its link broke mid-batch.
    pub events_dropped: AtomicU64,
    /// Events received from peers.
    pub events_received: AtomicU64,
    /// Gossip datagrams without a valid cookie tag.
    pub gossip_rejected: AtomicU64,
    /// Peer links or frames without a valid cookie proof.
    pub peer_rejected: AtomicU64,
}
