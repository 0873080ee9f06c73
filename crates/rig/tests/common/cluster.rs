//! Gateway processes as cluster nodes on 127.0.0.x (tests/cluster.rs,
//! tests/cluster_faults.rs): start, stop, address, wait.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{PATIENCE, SECRET};

pub const COOKIE: &str = "cluster-test-cookie";

/// One `rig` process.
pub struct Node {
    pub ip: &'static str,
    pub child: Child,
    pub inbound: SocketAddr,
    pub api: SocketAddr,
    /// Every line the node logged.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts `rig` on `ip` and waits until it listens.
    pub fn spawn(ip: &'static str, port: u16, vars: &[(&str, &str)]) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rig"));
        cmd.envs([
            ("NODE_HOST", ip),
            ("RIG_BIND_ADDRESS", ip),
            ("INBOUND_PORT", "0"),
            ("API_HTTP_PORT", "0"),
            ("NODE_COOKIE", COOKIE),
            ("RIG_CLUSTER_PORT", &port.to_string()),
            ("JWT_SECRET_KEY", SECRET),
            ("LOG_LEVEL", "warn"),
        ]);
        cmd.envs(vars.iter().copied()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("rig starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            // RIG_TEST_LOG=1 shows every node's log.
            let show = std::env::var("RIG_TEST_LOG").is_ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if show {
                    eprintln!("[{ip}] {line}");
                }
                if line.starts_with("rig: ") {
                    let _ = tx.send(line.clone());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let line = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("node {ip} did not start (RIG_TEST_LOG=1 shows its log)"));
        let addrs: Vec<SocketAddr> =
            line.split_whitespace().filter_map(|w| w.parse().ok()).collect::<Vec<_>>().into_iter().take(2).collect();
        assert_eq!(addrs.len(), 2, "unexpected start line: {line}");
        Node { ip, child, inbound: addrs[0], api: addrs[1], log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.inbound, path)
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    /// SIGTERM (graceful drain), then waits for the exit.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + PATIENCE * 3;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "node {} did not exit after SIGTERM", self.ip);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether any logged line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    pub fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
