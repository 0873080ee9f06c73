//! Cluster settings (rig-spec 8.8, 10.1): RIG's `DISCOVERY_TYPE`, `DNS_NAME`,
//! `NODE_HOST`, `NODE_COOKIE`, plus our static peer list and ports.

use std::time::Duration;

use crate::support::env::{boolean, list, Reader, Strings};

/// How peers are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `DISCOVERY_TYPE=dns`: every address `DNS_NAME` resolves to is a peer,
    /// reached on the cluster port; re-resolved every few seconds.
    Dns(String),
    /// `RIG_CLUSTER_PEERS`: `host:port` entries (hosts are resolved too).
    Static(Vec<String>),
    /// Both: DNS plus a fixed list.
    Both(String, Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub discovery: Discovery,
    /// `NODE_HOST`: the address peers use to reach this node.
    pub node_host: String,
    /// `NODE_COOKIE`: the shared secret authenticating all cluster traffic.
    pub cookie: String,
    /// UDP (gossip) and TCP (events, control) port, the same number on every node.
    pub port: u16,
    pub gossip_interval: Duration,
    /// Events queued per peer before new ones are dropped for it.
    pub peer_queue: usize,
    /// How long a lost peer keeps its link and queue (a partition heals without loss).
    pub peer_grace: Duration,
    /// `RIG_CLUSTER_ENCRYPT`: peer links and gossip encrypted, not only authenticated.
    pub encrypt: bool,
}

impl ClusterConfig {
    pub fn dns_name(&self) -> Option<&str> {
        match &self.discovery {
            Discovery::Dns(n) | Discovery::Both(n, _) => Some(n),
            Discovery::Static(_) => None,
        }
    }

    pub fn static_peers(&self) -> &[String] {
        match &self.discovery {
            Discovery::Static(p) | Discovery::Both(_, p) => p,
            Discovery::Dns(_) => &[],
        }
    }
}

/// `None` (standalone, as RIG without discovery) unless `DISCOVERY_TYPE=dns`
/// or `RIG_CLUSTER_PEERS` is set. A cluster without `NODE_COOKIE` is refused:
/// anyone could join it.
pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>) -> Option<ClusterConfig> {
    let dns = r.parse("DISCOVERY_TYPE", |s| match s.to_ascii_lowercase().as_str() {
        "" => Ok(false),
        "dns" => Ok(true),
        _ => Err("only dns is supported (or leave it empty)".into()),
    });
    let peers = list(&r.raw("RIG_CLUSTER_PEERS"));
    let dns_name = r.raw("DNS_NAME").trim().to_string();
    let discovery = match (dns, peers.is_empty()) {
        (false, true) => return None,
        (true, true) => Discovery::Dns(dns_name),
        (false, false) => Discovery::Static(peers),
        (true, false) => Discovery::Both(dns_name, peers),
    };
    let cookie = r.raw("NODE_COOKIE");
    if cookie.is_empty() {
        r.fail(
            "NODE_COOKIE",
            cookie.clone(),
            "required when the cluster is on (DISCOVERY_TYPE=dns or RIG_CLUSTER_PEERS): it authenticates cluster traffic".into(),
        );
    }
    Some(ClusterConfig {
        discovery,
        node_host: r.raw("NODE_HOST").trim().to_string(),
        cookie,
        port: r.num("RIG_CLUSTER_PORT"),
        gossip_interval: Duration::from_millis(r.parse("RIG_CLUSTER_GOSSIP_INTERVAL_MS", |s| match s.parse::<u64>() {
            Ok(v) if v >= 10 => Ok(v),
            _ => Err("expected an integer of at least 10".into()),
        })),
        peer_queue: r.parse("RIG_CLUSTER_PEER_QUEUE", |s| match s.parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err("expected a positive integer".into()),
        }),
        peer_grace: Duration::from_millis(r.num("RIG_CLUSTER_PEER_GRACE_MS")),
        encrypt: r.parse("RIG_CLUSTER_ENCRYPT", boolean),
    })
}
