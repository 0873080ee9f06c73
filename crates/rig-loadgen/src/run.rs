//! `rig-loadgen run`: one scenario end to end. Spawns `--procs` subscriber
//! processes (each under the per-process open-file cap), waits until every
//! connection is up, measures the servers' RSS and CPU (`--pid`, with their
//! children), publishes at `--rate` for `--duration` seconds to every
//! `--pub-url`, merges the subscribers' latency histograms and prints one
//! JSON line. With `--require-complete` it fails unless every connection got every event.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::{
    cli::Args,
    hist::Latency,
    pacing::Pacer,
    procfs,
    publish::{self, Format, Plan},
    url::Url,
};

struct Sub {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
    hist: std::path::PathBuf,
}

async fn line_starting(out: &mut Lines<BufReader<ChildStdout>>, tag: &str, within: Duration) -> Result<String, String> {
    let read = async {
        while let Ok(Some(l)) = out.next_line().await {
            if let Some(rest) = l.strip_prefix(tag) {
                return Ok(rest.trim().to_owned());
            }
        }
        Err(format!("subscriber ended before {tag}"))
    };
    tokio::time::timeout(within, read).await.map_err(|_| format!("no {tag} within {within:?}"))?
}

pub async fn main(a: Args) -> Result<(), String> {
    let label = a.str("label").unwrap_or_else(|| "run".into());
    let sub_urls = a.all("sub-url");
    let pub_urls: Vec<Url> = a.all("pub-url").iter().map(|u| Url::parse(u)).collect::<Result<_, _>>()?;
    let format: Format = a.str("format").unwrap_or_else(|| "rig".into()).parse()?;
    let conns: usize = a.get("conns", 100)?;
    let procs: usize = a.get("procs", conns.div_ceil(18_000).max(1))?.max(1);
    let rate: f64 = a.get("rate", 0.0)?;
    let duration: f64 = a.get("duration", 5.0)?;
    let settle = Duration::from_millis(a.get("settle-ms", 1000)?);
    let pids: Vec<u32> = a.all("pid").iter().filter_map(|p| p.parse().ok()).collect();
    let grace = Duration::from_millis(a.get("grace-ms", 5000)?);
    let count = if rate > 0.0 { Pacer::new(rate)?.count_for(duration) } else { 0 };
    // Each event to one connection (`--targeted`), or to all of them.
    let targeted = a.flag("targeted").then_some(conns as u64);
    if sub_urls.is_empty() {
        return Err("--sub-url is required".into());
    }

    let rss0 = procfs::total_rss_kib(&pids);
    let cpu0 = procfs::total_cpu_secs(&pids);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let tmp = std::env::temp_dir();
    let mut subs = Vec::new();
    let mut first = 0;
    for p in 0..procs {
        let n = conns / procs + usize::from(p < conns % procs);
        let hist = tmp.join(format!("rig-loadgen-{}-{p}.hist", std::process::id()));
        let mut cmd = Command::new(&exe);
        cmd.arg("sub");
        for u in &sub_urls {
            cmd.args(["--url", u]);
        }
        cmd.args(["--conns", &n.to_string(), "--first", &first.to_string(), "--expect", &count.to_string()]);
        cmd.args(["--hist-out", &hist.to_string_lossy()]);
        if let Some(n) = targeted {
            cmd.args(["--targeted", &n.to_string()]);
        }
        for opt in ["transport", "sources", "jwt-secret", "connect-concurrency", "connect-timeout-ms", "connect-stall-ms", "match-every", "channel", "read-buf"] {
            if let Some(v) = a.str(opt) {
                cmd.args([format!("--{opt}"), v]);
            }
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", exe.display()))?;
        let out = BufReader::new(child.stdout.take().expect("piped")).lines();
        subs.push(Sub { child, out, hist });
        first += n;
    }

    let (mut connected, mut failed, mut connect_ms) = (0u64, 0u64, 0f64);
    for s in &mut subs {
        // No fixed window: the subscriber gives up itself when connecting stalls.
        let r = line_starting(&mut s.out, "READY", Duration::from_secs(3600)).await?;
        let f: Vec<f64> = r.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        connected += f.first().copied().unwrap_or(0.0) as u64;
        failed += f.get(1).copied().unwrap_or(0.0) as u64;
        connect_ms = connect_ms.max(f.get(2).copied().unwrap_or(0.0));
    }
    let cpu_connect = procfs::total_cpu_secs(&pids) - cpu0;
    // Scripts sample the kernel while the connections idle (bench-million.sh waits for this line).
    eprintln!("[{label}] {connected}/{conns} open after {connect_ms:.0} ms; idle for {} ms", settle.as_millis());
    tokio::time::sleep(settle).await;
    // What the open connections cost while nothing is published (heartbeat sweeps).
    let cpu_idle = procfs::total_cpu_secs(&pids) - cpu0 - cpu_connect;
    let rss1 = procfs::total_rss_kib(&pids);
    eprintln!("[{label}] {connected}/{conns} connected in {connect_ms:.0} ms; server RSS {rss0} -> {rss1} KiB");

    let cpu_pub0 = procfs::total_cpu_secs(&pids);
    let mut pub_stats = serde_json::Value::Null;
    let publish_start_ns = crate::tally::now_ns();
    if count > 0 {
        let wait_ms = (duration * 1000.0) as u128 + grace.as_millis();
        for s in &mut subs {
            let stdin = s.child.stdin.as_mut().expect("piped");
            stdin.write_all(format!("GO {wait_ms}\n").as_bytes()).await.map_err(|e| e.to_string())?;
            stdin.flush().await.map_err(|e| e.to_string())?;
        }
        let workers: u64 = a.get("publishers", ((rate / 500.0).ceil() as u64).clamp(4, 16))?;
        let channel = a.str("channel").unwrap_or_else(|| "bench".into());
        // `--match-every`: every event is for group g0 (a tenth of the connections at K = 10).
        let tag = a.str("match-every").map(|_| "g0".to_owned());
        let creds = (format == Format::Pusher)
            .then(|| Ok::<_, String>(crate::pusher::Creds { key: a.req("pusher-key")?, secret: a.req("pusher-secret")? }))
            .transpose()?;
        let plan = Plan { targets: pub_urls.clone(), format, channel, rate, count, workers, targeted, tag, creds };
        let (stats, took) = publish::run(plan).await?;
        use std::sync::atomic::Ordering::Relaxed;
        pub_stats = serde_json::json!({
            "events": count, "sent": stats.sent.load(Relaxed), "errors": stats.errors.load(Relaxed),
            "late": stats.late.load(Relaxed), "publish_secs": took.as_secs_f64(), "targets": pub_urls.len(),
        });
    } else {
        for s in &mut subs {
            let stdin = s.child.stdin.as_mut().expect("piped");
            let _ = stdin.write_all(b"STOP\n").await;
            let _ = stdin.flush().await;
        }
    }

    let mut lat = Latency::new();
    let (mut received, mut complete, mut last_ns, mut due, mut stray) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut first_error = serde_json::Value::Null;
    let wait = Duration::from_secs_f64(duration) + grace + Duration::from_secs(30);
    for s in &mut subs {
        let r = line_starting(&mut s.out, "DONE", wait).await?;
        let v: serde_json::Value = serde_json::from_str(&r).map_err(|e| e.to_string())?;
        received += v["received"].as_u64().unwrap_or(0);
        complete += v["complete"].as_u64().unwrap_or(0);
        due += v["expected"].as_u64().unwrap_or(0);
        stray += v["stray"].as_u64().unwrap_or(0);
        last_ns = last_ns.max(v["last_receipt_ns"].as_u64().unwrap_or(0));
        if first_error.is_null() && !v["first_error"].is_null() {
            first_error = v["first_error"].clone();
        }
        if count > 0 {
            let text = std::fs::read_to_string(&s.hist).map_err(|e| e.to_string())?;
            lat.add(&Latency::from_text(&text)?);
        }
        let _ = std::fs::remove_file(&s.hist);
        let _ = s.child.wait().await;
    }
    let cpu_pub = procfs::total_cpu_secs(&pids) - cpu_pub0;
    // Targeted: each event once in all (to a connection that may have failed);
    // otherwise what the subscribers were due (every event, or only group g0's).
    let expected = if targeted.is_some() { count } else { due };
    let span = last_ns.saturating_sub(publish_start_ns) as f64 / 1e9;
    let all_complete = failed == 0 && received >= expected && complete as usize == conns && stray == 0;
    let report = serde_json::json!({
        "label": label,
        "target": a.str("target").unwrap_or_else(|| format.name().into()),
        "transport": a.str("transport").unwrap_or_else(|| "sse".into()),
        "conns": conns, "procs": procs, "connected": connected, "failed": failed, "targeted": targeted.is_some(),
        "connect_secs": connect_ms / 1000.0,
        "conns_per_sec": if connect_ms > 0.0 { connected as f64 / (connect_ms / 1000.0) } else { 0.0 },
        "server_cpu_connect_secs": cpu_connect,
        "server_cpu_idle_secs": cpu_idle, "idle_secs": settle.as_secs_f64(),
        "rss_before_kib": rss0, "rss_after_kib": rss1,
        "kib_per_conn": if connected > 0 { (rss1 as f64 - rss0 as f64) / connected as f64 } else { 0.0 },
        "rate": rate, "publish": pub_stats,
        "deliveries_expected": expected, "deliveries": received, "complete_conns": complete, "stray_deliveries": stray,
        "all_complete": all_complete,
        "deliveries_per_sec": if span > 0.0 { received as f64 / span } else { 0.0 },
        "offered_deliveries_per_sec": if count > 0 { expected as f64 * rate / count as f64 } else { 0.0 },
        "match_every": a.str("match-every").and_then(|v| v.parse::<u64>().ok()),
        "server_cpu_publish_secs": cpu_pub,
        "latency": lat.summary(),
        "first_error": first_error,
    });
    println!("{report}");
    eprintln!(
        "[{label}] deliveries {received}/{expected}, p50 {} us, p99 {} us, p99.9 {} us",
        lat.quantile_us(0.5),
        lat.quantile_us(0.99),
        lat.quantile_us(0.999)
    );
    if a.flag("require-complete") && (!all_complete || connected == 0) {
        return Err(format!("[{label}] incomplete: {failed} connections failed, {received} of {expected} deliveries ({complete} of {conns} connections complete, {stray} to connections due none); first error: {first_error}"));
    }
    Ok(())
}

impl Format {
    pub fn name(&self) -> &'static str {
        match self {
            Format::Rig => "rig",
            Format::Nchan => "nchan",
            Format::Pushpin => "pushpin",
            Format::Pusher => "sockudo",
        }
    }
}
