//! Several `rig` processes on 127.0.0.x as one cluster: a cluster port free
//! on every address, the static peer list, and waiting until they meet.

use std::time::Instant;

use serde_json::Value;

use super::{process::Gateway, PATIENCE};

/// A port free for TCP and UDP on every address (the cluster port is the same on every node).
pub fn free_cluster_port(ips: &[&str]) -> u16 {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let free = ips.iter().all(|ip| {
            let tcp = std::net::TcpListener::bind((*ip, port));
            let udp = std::net::UdpSocket::bind((*ip, port));
            tcp.is_ok() && udp.is_ok()
        });
        if free {
            return port;
        }
    }
    panic!("no free cluster port");
}

pub fn peers_list(ips: &[&str], port: u16) -> String {
    ips.iter().map(|ip| format!("{ip}:{port}")).collect::<Vec<_>>().join(",")
}

/// One gateway per address, all in one cluster (static peers, `cookie`),
/// node `i` with `vars[i]` too (if given); returns once every node sees all the others.
pub async fn spawn_cluster(ips: &[&str], cookie: &str, vars: &[&[(&str, &str)]]) -> Vec<Gateway> {
    let port = free_cluster_port(ips).to_string();
    let peers = peers_list(ips, port.parse().unwrap());
    let nodes: Vec<Gateway> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let mut all = vec![
                ("NODE_HOST", *ip),
                ("RIG_BIND_ADDRESS", *ip),
                ("NODE_COOKIE", cookie),
                ("RIG_CLUSTER_PORT", port.as_str()),
                ("RIG_CLUSTER_PEERS", peers.as_str()),
            ];
            all.extend_from_slice(vars.get(i).copied().unwrap_or_default());
            Gateway::spawn(&all)
        })
        .collect();
    wait_peers(&nodes, ips.len() - 1).await;
    nodes
}

/// Waits (bounded) until every node in `nodes` has `n` live peers and is ready.
pub async fn wait_peers(nodes: &[Gateway], n: usize) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE * 3;
    for g in nodes {
        loop {
            let v: Value = http.get(g.api_url("/v3/cluster")).send().await.unwrap().json().await.unwrap_or(Value::Null);
            // Ready too: a node takes publishes once its peer links are up.
            let ready = || async { http.get(g.api_url("/readyz")).send().await.is_ok_and(|r| r.status() == 200) };
            if v["peers"].as_array().is_some_and(|p| p.len() == n) && ready().await {
                break;
            }
            assert!(Instant::now() < deadline, "the nodes did not meet");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
