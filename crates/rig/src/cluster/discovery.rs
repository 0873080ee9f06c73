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
    let mut out = HashSet::new();
    if let Some(name) = config.dns_name() {
        lookup(&format!("{name}:{}", config.port), &mut out).await;
    }
    for peer in config.static_peers() {
        let with_port = if peer.parse::<SocketAddr>().is_ok() || has_port(peer) { peer.clone() } else { format!("{peer}:{}", config.port) };
        lookup(&with_port, &mut out).await;
    }
    out.retain(|a| *a != me && a.is_ipv4() == me.is_ipv4());
    out
}

/// True when `host:port` ends in a port (an IPv6 literal needs brackets to have one).
fn has_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
        None => false,
    }
}

async fn lookup(target: &str, out: &mut HashSet<SocketAddr>) {
    match tokio::net::lookup_host(target).await {
        Ok(addrs) => out.extend(addrs),
        Err(error) => tracing::debug!(%target, %error, "Peer name does not resolve (yet)."),
    }
}

/// Gossips with every seed that is not a known live node, every [`INTERVAL`].
pub async fn run(config: ClusterConfig, me: SocketAddr, handle: Arc<ChitchatHandle>, directory: Arc<Directory>) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        let known = directory.gossip_addrs();
        for addr in resolve(&config, me).await {
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
