//! `rig-loadgen sub`: one process holding up to ~19k connections. Talks to
//! its parent over stdin/stdout: prints `READY <connected> <failed> <ms>`
//! once every connection is up (or failed); on `GO <timeout_ms>` waits until
//! every connection got its events (or the timeout) and prints `DONE <json>`;
//! on `STOP` or end of input prints `DONE` at once.
//!
//! Connecting has no fixed window: it goes on as long as connections keep
//! settling (`--connect-stall-ms` without progress ends it), so a saturated
//! machine makes a run slower, not smaller. `--connect-timeout-ms` caps it.
//! With `--targeted CONNS`, event `i` is for connection `i % CONNS` only (its
//! URL names it: `__CONN__` in a URL becomes the connection's number). With
//! `--match-every K`, connection g is in group `g<g % K>` (`__GROUP__` in a
//! URL, or the Pusher tag filter) and only group `g0` expects the events.
//! `--transport sse|ws|pusher`.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::Semaphore,
};

use crate::{
    cli::Args,
    jwt,
    tally::Tally,
    url::{source_addr, Url},
};

pub async fn main(a: Args) -> Result<(), String> {
    let urls: Vec<Url> = a.all("url").iter().map(|u| Url::parse(u)).collect::<Result<_, _>>()?;
    if urls.is_empty() {
        return Err("--url is required".into());
    }
    let transport = a.str("transport").unwrap_or_else(|| "sse".into());
    let channel = a.str("channel").unwrap_or_else(|| "bench".into());
    let conns: usize = a.get("conns", 100)?;
    let first: usize = a.get("first", 0)?;
    let sources: usize = a.get("sources", 8)?;
    let expect: u32 = a.get("expect", 0)?;
    let concurrency: usize = a.get("connect-concurrency", 256)?;
    let read_buf: usize = a.get("read-buf", 4096)?;
    let connect_timeout = Duration::from_millis(a.get("connect-timeout-ms", 1_800_000)?);
    let connect_stall = Duration::from_millis(a.get("connect-stall-ms", 30_000)?);
    let targeted: Option<u64> = a.str("targeted").map(|v| v.parse().map_err(|_| format!("--targeted: cannot parse {v:?}"))).transpose()?;
    // With `--match-every K`, connection g is in group `g<g % K>` and only group g0 gets the events.
    let match_every: Option<u64> = a.str("match-every").map(|v| v.parse().map_err(|_| format!("--match-every: cannot parse {v:?}"))).transpose()?;
    let group = move |g: usize| match_every.map(|k| format!("g{}", g as u64 % k.max(1)));
    // Events each connection should get: all of them, its share when targeted, none outside g0.
    let expected = move |g: usize| -> u32 {
        match (targeted, match_every) {
            (Some(n), _) => (u64::from(expect) / n + u64::from((g as u64) < u64::from(expect) % n)) as u32,
            (None, Some(k)) if !(g as u64).is_multiple_of(k.max(1)) => 0,
            (None, _) => expect,
        }
    };
    let hist_out = a.str("hist-out");
    let jwt_secret = a.str("jwt-secret");

    // Paths (with tokens) are made before the clock starts.
    let now_secs = crate::tally::now_ns() / 1_000_000_000;
    let paths: Vec<String> = (0..conns)
        .map(|i| {
            let g = first + i;
            let url = &urls[g % urls.len()];
            let path = match &jwt_secret {
                Some(s) => url.path_with("jwt", &jwt::hs256(s, &format!("user-{g}"), &format!("lg-{g}-{now_secs}"), now_secs)),
                None => url.path.clone(),
            };
            let path = path.replace("__CONN__", &g.to_string());
            match group(g) {
                Some(grp) => path.replace("__GROUP__", &grp),
                None => path,
            }
        })
        .collect();

    let tally = Arc::new(Tally::new(conns));
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let started = Instant::now();
    for (i, path) in paths.into_iter().enumerate() {
        let g = first + i;
        let url = urls[g % urls.len()].clone();
        let src = source_addr(g, sources);
        let tally = tally.clone();
        let gate = gate.clone();
        let done = done_tx.clone();
        let (transport, channel, filter) = (transport.clone(), channel.clone(), group(g));
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            let mut permit = Some(permit);
            let ready = move |_ok: bool| {
                permit.take();
                let _ = done.send(());
            };
            match transport.as_str() {
                "ws" => crate::ws::run(i, src, &url, &path, tally, ready).await,
                "pusher" => crate::pusher::run(i, src, &url, &path, (&channel, filter.as_deref()), tally, ready).await,
                _ => crate::sse::run(i, src, &url, &path, read_buf, tally, ready).await,
            }
        });
    }
    drop(done_tx);
    let mut settled = 0;
    let deadline = tokio::time::sleep(connect_timeout);
    tokio::pin!(deadline);
    while settled < conns {
        tokio::select! {
            r = tokio::time::timeout(connect_stall, done_rx.recv()) => match r {
                Ok(Some(())) => settled += 1,
                Ok(None) => break,
                Err(_) => {
                    eprintln!("rig-loadgen sub: no connection settled for {connect_stall:?}; {settled} of {conns} did");
                    break;
                }
            },
            _ = &mut deadline => break,
        }
    }
    let connect_ms = started.elapsed().as_secs_f64() * 1000.0;
    let connected = tally.connected.load(Relaxed);
    let failed = conns as u64 - connected;
    println!("READY {connected} {failed} {connect_ms:.1}");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut wait = Duration::ZERO;
    while let Ok(Some(line)) = lines.next_line().await {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("GO") => {
                wait = Duration::from_millis(w.next().and_then(|v| v.parse().ok()).unwrap_or(10_000));
                break;
            }
            Some("STOP") => break,
            _ => {}
        }
    }
    let until = Instant::now() + wait;
    let want: u64 = if targeted.is_some() || match_every.is_some() {
        (0..conns).filter(|&i| tally.per_conn_connected(i)).map(|i| u64::from(expected(first + i))).sum()
    } else {
        connected * u64::from(expect)
    };
    while Instant::now() < until && tally.received.load(Relaxed) < want {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lat = tally.latency.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = hist_out {
        std::fs::write(&p, lat.to_text()).map_err(|e| format!("{p}: {e}"))?;
    }
    let report = serde_json::json!({
        "connected": connected,
        "failed": failed,
        "connect_ms": connect_ms,
        "closed": tally.closed.load(Relaxed),
        "received": tally.received.load(Relaxed),
        "expected": want,
        // Events on connections that were due none (a filter that let them through).
        "stray": (0..conns).filter(|&i| expected(first + i) == 0).map(|i| u64::from(tally.per_conn[i].load(Relaxed))).sum::<u64>(),
        "complete": if expect == 0 { connected as usize } else { tally.complete(|i| expected(first + i)) },
        "last_receipt_ns": tally.last_receipt_ns.load(Relaxed),
        "first_error": tally.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    });
    println!("DONE {report}");
    // Closing thousands of sockets one by one is slow; the OS does it at exit.
    std::process::exit(0);
}
