//! Gateway processes as cluster nodes on 127.0.0.x (tests/cluster.rs,
//! tests/cluster_faults.rs): start, stop, address, wait.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{process::Gateway, PATIENCE};

pub const COOKIE: &str = "cluster-test-cookie";

/// One `rig` process as a cluster node on `ip`.
pub struct Node {
    pub ip: &'static str,
    gateway: Gateway,
}

impl std::ops::Deref for Node {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

impl Node {
    /// Starts `rig` on `ip` with the cluster port `port` (and `vars`) and waits until it listens.
    pub fn spawn(ip: &'static str, port: u16, vars: &[(&str, &str)]) -> Node {
        let port = port.to_string();
        let mut all = vec![("NODE_HOST", ip), ("RIG_BIND_ADDRESS", ip), ("NODE_COOKIE", COOKIE), ("RIG_CLUSTER_PORT", port.as_str())];
        all.extend_from_slice(vars);
        Node { ip, gateway: Gateway::spawn(&all) }
    }

    /// SIGTERM (graceful drain), then waits for the exit.
    pub fn terminate(&mut self) {
        self.gateway.sigterm();
        let deadline = Instant::now() + PATIENCE * 3;
        while self.gateway.alive() {
            assert!(Instant::now() < deadline, "node {} did not exit after SIGTERM", self.ip);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether any logged line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log().iter().any(|l| l.contains(text))
    }

    /// SIGKILL, then waits for the exit.
    pub fn kill(&mut self) {
        self.gateway.kill();
    }
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls `check` every 20 ms until it holds; fails after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Names of the live peers `node` sees.
pub async fn peer_names(node: &Node) -> Vec<String> {
    let (_, v) = get_json(&node.api_url("/v3/cluster")).await;
    v["peers"].as_array().map(|a| a.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

pub async fn wait_members(nodes: &[&Node], n: usize) {
    for node in nodes {
        eventually(&format!("{} sees {} peers", node.ip, n - 1), || async { peer_names(node).await.len() == n - 1 }).await;
        // Ready (links up both ways) is when a balancer would send it traffic.
        eventually(&format!("{} is ready", node.ip), || async {
            reqwest::get(node.api_url("/readyz")).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }
}
