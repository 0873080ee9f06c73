//! What operators and their tooling meet: `--version`, `--check-config`,
//! readiness, JSON log lines, and a SIGTERM that lets requests finish.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{api_def, backend::dead_port, backend::Backend, process::Gateway, PATIENCE};
use serde_json::{json, Value};

fn rig() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rig"));
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

#[test]
fn version_names_the_crate_version_commit_and_build_date() {
    let out = rig().arg("--version").output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    // rig 0.1.0 (commit 32465ad097d7, built 2026-12-03)
    assert_eq!((words[0], words[1]), ("rig", env!("CARGO_PKG_VERSION")), "{line}");
    assert_eq!(words[2], "(commit", "{line}");
    assert!(words[3].trim_end_matches(',').chars().all(|c| c.is_ascii_alphanumeric()) && words[3].len() > 2, "{line}");
    let date = words[5].trim_end_matches(')');
    assert!(date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-', "{line}");
}

#[test]
fn check_config_validates_without_binding() {
    // The port is taken: a check that tried to bind it would fail.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let out = rig()
        .arg("--check-config")
        .envs([("RIG_BIND_ADDRESS", "127.0.0.1"), ("INBOUND_PORT", port.as_str()), ("KAFKA_HOSTS", "kafka:9092")])
        .envs([("PROXY_KAFKA_REQUEST_TOPIC", "requests"), ("RIG_NO_SUCH_SETTING", "1")])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(stderr.contains("KAFKA_HOSTS") && stderr.contains("KAFKA_BROKERS"), "renamed variable named: {stderr}");
    assert!(stderr.contains("PROXY_KAFKA_REQUEST_TOPIC is no longer read"), "{stderr}");
    assert!(stderr.contains("RIG_NO_SUCH_SETTING is not a variable"), "{stderr}");

    let out = rig()
        .arg("--check-config")
        .envs([("INBOUND_PORT", "four"), ("RIG_EXTRA_CA_CERTS", "/nonexistent/ca.pem"), ("HTTPS_CERTFILE", "/nonexistent/c.pem")])
        .env("HTTPS_KEYFILE", "/nonexistent/k.pem")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    for name in ["INBOUND_PORT", "RIG_EXTRA_CA_CERTS", "HTTPS_CERTFILE"] {
        assert!(stderr.contains(name), "{name} named: {stderr}");
    }
}

/// Starts rig with `vars` and its whole stderr collected; waits for `/readyz`.
fn spawn_logging(vars: &[(&str, &str)]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = rig()
        .envs([("RIG_BIND_ADDRESS", "127.0.0.1"), ("INBOUND_PORT", "0"), ("API_HTTP_PORT", "0")])
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Log lines until one satisfies `done` (bounded by PATIENCE); all of them.
fn lines_until(rx: &std::sync::mpsc::Receiver<String>, seen: &mut Vec<String>, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("log line not seen; got {seen:#?}"));
        seen.push(line.clone());
        if done(&line) {
            return line;
        }
    }
}

fn addresses(line: &str) -> Vec<std::net::SocketAddr> {
    line.split([' ', '"', ';']).filter_map(|w| w.parse().ok()).collect()
}

async fn json_log_run(format: &str, level_key: &str) -> Vec<Value> {
    let api = api_def("gone", dead_port(), json!([{"id": "x", "method": "GET", "path_regex": "/gone"}]));
    let config = json!([api]).to_string();
    let (mut child, rx) = spawn_logging(&[("LOG_FMT", format), ("LOG_LEVEL", "info"), ("PROXY_CONFIG_FILE", config.as_str())]);
    let mut seen = Vec::new();
    let start = lines_until(&rx, &mut seen, |l| l.contains("rig: listening on"));
    let addrs = addresses(&start);
    assert_eq!(addrs.len(), 2, "{start}");
    // A proxied request with a trace: the backend is down, and that warning carries the trace id.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = reqwest::Client::new()
        .get(format!("http://{}/gone", addrs[0]))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let warned = lines_until(&rx, &mut seen, |l| l.contains("Backend unreachable"));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    lines_until(&rx, &mut seen, |l| l.contains("rig: stopped"));
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "{exit:?}");
    let parsed: Vec<Value> = seen
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}")))
        .collect();
    for (line, v) in seen.iter().zip(&parsed) {
        assert!(v["message"].is_string() && v[level_key].is_string() && v["time"].is_string(), "{line}");
    }
    let warned: Value = serde_json::from_str(&warned).unwrap();
    assert_eq!(warned["trace_id"], trace, "{warned}");
    parsed
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_trace_id() {
    let lines = json_log_run("json", "level").await;
    assert!(lines.iter().any(|l| l["level"] == "WARN" && l["message"] == "Backend unreachable."), "{lines:#?}");
}

#[tokio::test]
async fn gcl_logs_carry_cloud_loggings_fields() {
    let lines = json_log_run("gcl", "severity").await;
    let warned = lines.iter().find(|l| l["message"] == "Backend unreachable.").expect("the warning");
    assert_eq!(warned["severity"], "WARNING");
    assert_eq!(warned["logging.googleapis.com/trace"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[tokio::test]
async fn readiness_is_a_json_report_and_liveness_is_ok() {
    let g = Gateway::spawn(&[]);
    let http = reqwest::Client::new();
    for url in [g.api_url("/readyz"), g.url("/_rig/readyz")] {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["status"].as_str(), body["listening"].as_bool(), body["draining"].as_bool()),
            (Some("ready"), Some(true), Some(false))
        );
        assert_eq!(body["not_ready"], json!([]));
    }
    let r = http.get(g.api_url("/health")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap().as_str()), (200, "OK"));
}

#[tokio::test]
async fn sigterm_lets_a_slow_proxied_request_finish() {
    let backend = Backend::start(|_| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        "slow but complete"
    })
    .await;
    let api = api_def("slow", backend.port(), json!([{"id": "s", "method": "GET", "path_regex": "/slow"}]));
    let mut g = Gateway::spawn(&[("PROXY_CONFIG_FILE", &json!([api]).to_string()), ("RIG_SHUTDOWN_GRACE_MS", "8000")]);
    let url = g.url("/slow");
    let request = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    let deadline = Instant::now() + PATIENCE;
    while backend.seen().is_empty() {
        assert!(Instant::now() < deadline, "the backend never got the request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    g.sigterm();
    // Draining: the internal port still answers, and says not ready.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    let report: Value = loop {
        let r = http.get(g.api_url("/readyz")).send().await.expect("internal port open while draining");
        if r.status() == 503 {
            break r.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "/readyz never went 503 after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(report["draining"], true, "{report}");
    assert_eq!(http.get(g.api_url("/health")).send().await.unwrap().status(), 200, "alive while draining");
    let status = request.await.unwrap().expect("the in-flight request is answered, not cut");
    assert_eq!(status, 200);
    let exit = g.wait_exit(Duration::from_secs(8)).await;
    assert!(exit.success(), "{exit:?}");
}
