//! The real `rig` binary as a child process, for tests that attack it from
//! outside: its addresses, its RSS and CPU time read from `/proc`, its log,
//! and a [`Canary`] (a healthy subscriber, a publisher and a health poller)
//! that measures what an attack does to everyone else.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{sync::watch, task::JoinHandle};

use super::{enc, SseClient, EXTRACTORS, PATIENCE, SECRET};

/// One `rig` process on 127.0.0.1 with ephemeral ports.
pub struct Gateway {
    child: Child,
    pub inbound: SocketAddr,
    pub api: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// Starts `rig` with the test defaults and `vars` (which override them).
    pub fn spawn(vars: &[(&str, &str)]) -> Gateway {
        Gateway::spawn_cmd(&[], vars)
    }

    /// Starts `rig` under `prefix` (e.g. `["prlimit", "--nofile=2048", "--"]`).
    pub fn spawn_cmd(prefix: &[&str], vars: &[(&str, &str)]) -> Gateway {
        let bin = env!("CARGO_BIN_EXE_rig");
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.envs([
            ("RIG_BIND_ADDRESS", "127.0.0.1"),
            ("INBOUND_PORT", "0"),
            ("API_HTTP_PORT", "0"),
            ("JWT_SECRET_KEY", SECRET),
            ("EXTRACTORS", EXTRACTORS),
            ("LOG_LEVEL", "warn"),
        ]);
        cmd.envs(vars.iter().copied()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("rig starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            // RIG_TEST_LOG=1 shows the gateway's log.
            let show = std::env::var("RIG_TEST_LOG").is_ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if show {
                    eprintln!("[rig] {line}");
                }
                if line.starts_with("rig: ") {
                    let _ = tx.send(line.clone());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let line = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("rig did not start: {:?}", log.lock().unwrap()));
        let addrs: Vec<SocketAddr> = line.split_whitespace().filter_map(|w| w.parse().ok()).take(2).collect();
        assert_eq!(addrs.len(), 2, "unexpected start line: {line}");
        Gateway { child, inbound: addrs[0], api: addrs[1], log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.inbound, path)
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.inbound, path)
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// User plus system CPU time used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// The stderr lines logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM (the drain), as Kubernetes does before stopping a pod.
    pub fn sigterm(&self) {
        let ok = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("kill runs").success();
        assert!(ok, "kill -TERM {}", self.pid());
    }

    /// Waits (bounded by `within`) for the process to exit; its status.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "rig did not exit within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, then waits for the exit.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// Whether the process is still running (a crash fails the attack tests).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
    ticks as f64 / 100.0 // USER_HZ is 100 on Linux
}

/// What the canary saw while an attack ran.
#[derive(Debug, Clone, Default)]
pub struct CanaryReport {
    pub published: u64,
    pub delivered: u64,
    /// Longest publish → receipt time of a canary event.
    pub max_delivery_ms: u64,
    /// Longest `GET /_rig/health`.
    pub max_health_ms: u64,
    pub peak_rss_kib: u64,
    /// Gateway CPU seconds used while the canary ran.
    pub cpu_seconds: f64,
}

impl CanaryReport {
    /// Every published canary event arrived, none took longer than `max_ms`,
    /// and health never did either.
    pub fn assert_healthy(&self, what: &str, max_ms: u64) {
        eprintln!("{what}: {self:?}");
        assert!(self.published > 0, "{what}: the canary published nothing");
        assert_eq!(self.delivered, self.published, "{what}: canary events were lost: {self:?}");
        assert!(self.max_delivery_ms <= max_ms, "{what}: canary delivery took {} ms: {self:?}", self.max_delivery_ms);
        assert!(self.max_health_ms <= max_ms, "{what}: /_rig/health took {} ms: {self:?}", self.max_health_ms);
    }
}

/// A healthy client beside an attack: an SSE subscriber to `canary` events, a
/// publisher sending one every 20 ms with its send time inside, and a poller of
/// `/_rig/health`, all recording the worst they saw.
pub struct Canary {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    report: Arc<Mutex<CanaryReport>>,
    pid: u32,
    cpu_start: f64,
}

const CANARY_EVERY: Duration = Duration::from_millis(20);

impl Canary {
    /// Subscribes, waits until the subscription is live, then starts publishing.
    pub async fn start(g: &Gateway) -> Canary {
        let subs = enc(&json!([{"eventType": "canary"}]).to_string());
        let mut sse = SseClient::connect(&g.url(&format!("/_rig/v1/connection/sse?subscriptions={subs}"))).await;
        assert_eq!(sse.status, 200, "canary subscriber refused: {}", sse.body);
        let mut ready = false;
        while let Some(e) = sse.next().await {
            if e.name == "rig.subscriptions_set" {
                ready = true;
                break;
            }
        }
        assert!(ready, "canary subscriber never got rig.subscriptions_set");

        let report = Arc::new(Mutex::new(CanaryReport { peak_rss_kib: g.rss_kib(), ..Default::default() }));
        let (stop, stopped) = watch::channel(false);
        let epoch = Instant::now();
        let mut tasks = Vec::new();

        let r = report.clone();
        tasks.push(tokio::spawn(async move {
            // Runs until `report` aborts it, after the last event has landed.
            while let Some(e) = sse.next_event().await {
                let sent = e.json()["data"]["sent_us"].as_u64().unwrap_or(0);
                let ms = (epoch.elapsed().as_micros() as u64).saturating_sub(sent) / 1000;
                let mut r = r.lock().unwrap();
                r.delivered += 1;
                r.max_delivery_ms = r.max_delivery_ms.max(ms);
            }
        }));

        let (r, s, url) = (report.clone(), stopped.clone(), g.url("/_rig/v1/events"));
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0u64;
            while !*s.borrow() {
                n += 1;
                let sent_us = epoch.elapsed().as_micros() as u64;
                let event = json!({"specversion": "1.0", "type": "canary", "source": "canary", "id": format!("c{n}"), "data": {"sent_us": sent_us}});
                let req = http.post(&url).header("content-type", "application/cloudevents+json").body(event.to_string());
                if let Ok(Ok(resp)) = tokio::time::timeout(PATIENCE, req.send()).await {
                    if resp.status() == 202 {
                        r.lock().unwrap().published += 1;
                    }
                }
                tokio::time::sleep(CANARY_EVERY).await;
            }
        }));

        let (r, s, url, pid) = (report.clone(), stopped.clone(), g.url("/_rig/health"), g.pid());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !*s.borrow() {
                let t = Instant::now();
                let ok = matches!(tokio::time::timeout(PATIENCE, http.get(&url).send()).await, Ok(Ok(r)) if r.status() == 200);
                let ms = if ok { t.elapsed().as_millis() as u64 } else { u64::MAX };
                {
                    let mut r = r.lock().unwrap();
                    r.max_health_ms = r.max_health_ms.max(ms);
                    r.peak_rss_kib = r.peak_rss_kib.max(rss_kib(pid));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
        Canary { stop, tasks, report, pid: g.pid(), cpu_start: g.cpu_seconds() }
    }

    /// Stops publishing, waits for the last events to land, and reports.
    pub async fn report(self) -> CanaryReport {
        let _ = self.stop.send(true);
        let mut tasks = self.tasks.into_iter();
        let subscriber = tasks.next().expect("subscriber task");
        for t in tasks {
            let _ = t.await;
        }
        // Let in-flight canary events arrive before the subscriber stops.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let r = self.report.lock().unwrap().clone();
            if r.delivered >= r.published || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        subscriber.abort();
        let mut r = self.report.lock().unwrap().clone();
        r.cpu_seconds = cpu_seconds(self.pid) - self.cpu_start;
        r
    }
}
