//! Finding peers: `DNS_NAME` (every address it resolves to, on the cluster
//! port; a Kubernetes headless service lists every ready pod) and the static
//! `RIG_CLUSTER_PEERS` list, re-resolved every few seconds. Any address that
//! is not a known live node gets a gossip round, which is all joining takes.

use std::{collections::HashSet, net::SocketAddr, sync::Arc, time::Duration};

use chitchat::ChitchatHandle;

use super::{config::ClusterConfig, membership::Directory};

/// How often names are resolved again (RIG: 5 s).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Every seed address now, without ourselves; only addresses of our own family
/// (an IPv4 socket cannot reach an IPv6 peer).
pub async fn resolve(config: &ClusterConfig, me: SocketAddr) -> HashSet<SocketAddr> {
    resolve_all(config, me).await.0
}

/// [`resolve`], plus what `DNS_NAME` alone answered (`None` without DNS
/// discovery, with static peers beside it, or when the lookup failed).
async fn resolve_all(config: &ClusterConfig, me: SocketAddr) -> (HashSet<SocketAddr>, Option<HashSet<SocketAddr>>) {
    let mut out = HashSet::new();
    let mut dns = None;
    if let Some(name) = config.dns_name() {
        let mut found = HashSet::new();
        // With static peers too, a name missing from DNS may still be a peer.
        if lookup(&format!("{name}:{}", config.port), &mut found).await && config.static_peers().is_empty() {
            dns = Some(found.clone());
        }
        out.extend(found);
    }
    for peer in config.static_peers() {
        let with_port = if peer.parse::<SocketAddr>().is_ok() || has_port(peer) { peer.clone() } else { format!("{peer}:{}", config.port) };
        lookup(&with_port, &mut out).await;
    }
    out.retain(|a| *a != me && a.is_ipv4() == me.is_ipv4());
    (out, dns)
}

/// True when `host:port` ends in a port (an IPv6 literal needs brackets to have one).
fn has_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
        None => false,
    }
}

/// Adds what `target` resolves to; false when it does not resolve.
async fn lookup(target: &str, out: &mut HashSet<SocketAddr>) -> bool {
    match tokio::net::lookup_host(target).await {
        Ok(addrs) => {
            out.extend(addrs);
            true
        }
        Err(error) => {
            tracing::debug!(%target, %error, "Peer name does not resolve (yet).");
            false
        }
    }
}

/// Gossips with every seed that is not a known live node, every [`INTERVAL`].
pub async fn run(config: ClusterConfig, me: SocketAddr, handle: Arc<ChitchatHandle>, directory: Arc<Directory>) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        let known = directory.gossip_addrs();
        let (seeds, dns) = resolve_all(&config, me).await;
        if let Some(listed) = dns {
            directory.set_listed(listed);
        }
        for addr in seeds {
            if !known.contains(&addr) {
                let _ = handle.gossip(addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_ports() {
        assert!(has_port("rig-0.rig:4020"));
        assert!(has_port("[::1]:4020"));
        assert!(!has_port("rig-0.rig"));
        assert!(!has_port("::1"));
    }
}
