//! `rig-loadgen startup --bin PATH`: start-up time (spawn until the
//! "listening" line) and idle RSS of the gateway, median of `--runs`.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use crate::{cli::Args, procfs};

pub async fn main(a: Args) -> Result<(), String> {
    let bin = a.req("bin")?;
    let runs: usize = a.get("runs", 5)?;
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let mut child = Command::new(&bin)
            .envs([("INBOUND_PORT", "0"), ("API_HTTP_PORT", "0"), ("RIG_BIND_ADDRESS", "127.0.0.1")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{bin}: {e}"))?;
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(l)) = lines.next_line().await {
                if l.contains("listening on") {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        let took = t0.elapsed();
        if !found {
            return Err(format!("{bin} did not report listening"));
        }
        times.push(took.as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        rss.push(child.id().map(procfs::rss_kib).unwrap_or(0));
        let _ = child.kill().await;
    }
    times.sort_by(f64::total_cmp);
    rss.sort();
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "label": "startup", "startup_ms_median": times[times.len() / 2], "startup_ms_max": times[times.len() - 1],
            "idle_rss_kib": rss[rss.len() / 2], "binary_bytes": size,
        })
    );
    Ok(())
}
