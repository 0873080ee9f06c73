//! Publishes events at a set rate to every target, over keep-alive HTTP/1.1
//! connections, with the publish time inside each event.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    pacing::{worker_events, Pacer},
    scan::{parse_head, Chunked},
    tally::now_ns,
    url::Url,
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    /// A structured CloudEvent to `POST /_rig/v1/events`.
    Rig,
    /// The same JSON as the message body of an Nchan publisher location.
    Nchan,
    /// Pushpin's HTTP publish API, an `http-stream` item carrying the SSE frame.
    Pushpin,
    /// Pusher's signed trigger API (Sockudo): the event as the `data` string.
    Pusher,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "rig" => Ok(Format::Rig),
            "nchan" => Ok(Format::Nchan),
            "pushpin" => Ok(Format::Pushpin),
            "pusher" => Ok(Format::Pusher),
            _ => Err(format!("unknown format {s:?} (rig, nchan, pushpin, pusher)")),
        }
    }
}

/// The event every peer delivers: a ~150-byte CloudEvent with a ~60-byte `data`;
/// with `to`, addressed to the connections whose constraint (or tag filter)
/// names it (`data.to`).
pub fn event_json(seq: u64, ts_ns: u64, to: Option<&str>) -> String {
    let to = to.map(|c| format!(r#""to":"{c}","#)).unwrap_or_default();
    format!(
        r#"{{"specversion":"0.2","type":"bench","source":"lg","id":"{seq}","data":{{{to}"lgts":{ts_ns},"seq":{seq},"pad":"xxxxxxxxxxxxxxxxxxxxxxxx"}}}}"#
    )
}

/// Content type and body of one publish request (Pusher: tagged with `to`).
pub fn request_body(format: Format, seq: u64, ts_ns: u64, channel: &str, to: Option<&str>) -> (&'static str, String) {
    let ev = event_json(seq, ts_ns, to);
    match format {
        Format::Rig => ("application/cloudevents+json", ev),
        Format::Nchan => ("application/json", ev),
        Format::Pushpin => {
            let content = format!("event: bench\nid: {seq}\ndata: {ev}\n\n");
            let item = serde_json::json!({"items": [{"channel": channel, "formats": {"http-stream": {"content": content}}}]});
            ("application/json", item.to_string())
        }
        Format::Pusher => ("application/json", crate::pusher::trigger_body(&ev, channel, to)),
    }
}

#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    /// Events sent more than 1 ms after their due time.
    pub late: AtomicU64,
}

pub struct Plan {
    pub targets: Vec<Url>,
    pub format: Format,
    pub channel: String,
    pub rate: f64,
    pub count: u64,
    /// Connections (workers) per target.
    pub workers: u64,
    /// Event `i` goes to connection `i % n` only.
    pub targeted: Option<u64>,
    /// Every event carries `data.to` = this (the filter rows: `g0`).
    pub tag: Option<String>,
    /// Pusher format: the app whose key and secret sign each request.
    pub creds: Option<crate::pusher::Creds>,
}

/// Runs the plan: each target gets every event; returns the stats and how long it took.
pub async fn run(plan: Plan) -> Result<(Arc<Stats>, Duration), String> {
    let pacer = Pacer::new(plan.rate)?;
    let stats = Arc::new(Stats::default());
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for target in &plan.targets {
        for w in 0..plan.workers {
            let (target, stats, channel) = (target.clone(), stats.clone(), plan.channel.clone());
            let (tag, creds) = (plan.tag.clone(), plan.creds.clone());
            let (format, count, workers, targeted) = (plan.format, plan.count, plan.workers, plan.targeted);
            tasks.push(tokio::spawn(async move {
                let mut conn: Option<TcpStream> = None;
                for i in worker_events(count, workers, w) {
                    let elapsed = Instant::now().saturating_duration_since(start);
                    let wait = pacer.wait(i, elapsed);
                    if wait.is_zero() {
                        if elapsed > pacer.due(i) + Duration::from_millis(1) {
                            stats.late.fetch_add(1, Relaxed);
                        }
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                    let to = targeted.map(|n| format!("c{}", i % n)).or_else(|| tag.clone());
                    let (ctype, body) = request_body(format, i, now_ns(), &channel, to.as_deref());
                    let path = match &creds {
                        Some(c) => crate::pusher::signed_path(&target.path, c, &body, now_ns() / 1_000_000_000),
                        None => target.path.clone(),
                    };
                    let mut r = post(&mut conn, &target, &path, ctype, &body).await;
                    if r.is_err() {
                        // A kept-alive connection the server closed: once more on a fresh one.
                        conn = None;
                        r = post(&mut conn, &target, &path, ctype, &body).await;
                    }
                    match r {
                        Ok(()) => stats.sent.fetch_add(1, Relaxed),
                        Err(_) => {
                            conn = None;
                            stats.errors.fetch_add(1, Relaxed)
                        }
                    };
                }
            }));
        }
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    Ok((stats, start.elapsed()))
}

/// One POST of `path` on a kept-alive connection to `url` (opened on demand); Ok on a 2xx.
pub async fn post(conn: &mut Option<TcpStream>, url: &Url, path: &str, ctype: &str, body: &str) -> Result<(), String> {
    if conn.is_none() {
        let s = TcpStream::connect(url.addr).await.map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        *conn = Some(s);
    }
    let s = conn.as_mut().expect("just set");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        url.addr,
        body.len()
    );
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(1024);
    let mut tmp = [0u8; 2048];
    let head = loop {
        let n = s.read(&mut tmp).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(h) = parse_head(&buf) {
            break h?;
        }
    };
    let mut rest = buf[head.len..].to_vec();
    if head.chunked {
        let mut c = Chunked::default();
        loop {
            c.feed(&rest, |_| {})?;
            if c.done() {
                break;
            }
            let n = s.read(&mut tmp).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed in body".into());
            }
            rest = tmp[..n].to_vec();
        }
    } else {
        let want = head.content_length.unwrap_or(0);
        while rest.len() < want {
            let n = s.read(&mut tmp).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed in body".into());
            }
            rest.extend_from_slice(&tmp[..n]);
        }
    }
    if head.close {
        *conn = None;
    }
    if (200..300).contains(&head.status) {
        Ok(())
    } else {
        Err(format!("status {}", head.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_timestamp_once_and_are_valid_json() {
        for f in [Format::Rig, Format::Nchan, Format::Pushpin, Format::Pusher] {
            let (_, body) = request_body(f, 7, 1234567, "bench", None);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let mut stamps = vec![];
            let text = match f {
                Format::Pushpin => v["items"][0]["formats"]["http-stream"]["content"].as_str().unwrap().to_owned(),
                Format::Pusher => v["data"].as_str().unwrap().to_owned(),
                _ => body.clone(),
            };
            crate::scan::Scanner::default().feed(text.as_bytes(), |t| stamps.push(t));
            assert_eq!(stamps, vec![1234567], "{f:?}");
        }
        assert!(event_json(1, now_ns(), None).len() < 200);
        let v: serde_json::Value = serde_json::from_str(&event_json(1, 2, Some("c7"))).unwrap();
        assert_eq!(v["data"]["to"], "c7");
    }
}
