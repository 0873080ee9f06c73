//! A minimal SSE client on a raw TcpStream bound to a chosen source address.

use std::{net::IpAddr, sync::Arc};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::{
    scan::{parse_head, Chunked, Head, Scanner},
    tally::Tally,
    url::Url,
};

pub async fn connect(src: IpAddr, url: &Url) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind((src, 0).into())?;
    let s = sock.connect(url.addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Opens one SSE stream and reads it until it ends or `stop` fires. Calls
/// `ready` once the response head (status 200) arrived. After the head the
/// read buffer is cut to `read_buf` bytes: it is held for the connection's
/// whole life, so it is most of what an idle connection costs the load
/// generator (the million-connection run uses a small one).
pub async fn run(conn: usize, src: IpAddr, url: &Url, path: &str, read_buf: usize, tally: Arc<Tally>, ready: impl FnOnce(bool)) {
    // A refused or 5xx attempt is retried (a peer under a connect burst may
    // answer 502); only the last failure counts.
    let mut attempt = 0;
    let (mut s, head, buf, filled) = loop {
        match open(src, url, path).await {
            Ok(opened) => break opened,
            Err(e) if attempt < 3 => {
                attempt += 1;
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            Err(e) => {
                tally.fail(e);
                return ready(false);
            }
        }
    };
    tally.connect(conn);
    ready(true);

    let mut scanner = Scanner::default();
    let mut chunked = head.chunked.then(Chunked::default);
    let mut stamps = Vec::new();
    // What came with the head is read in place first, then the buffer is cut down.
    let mut buf = buf;
    let mut piece = head.len..filled;
    loop {
        stamps.clear();
        match chunked.as_mut() {
            Some(c) => {
                let r = c.feed(&buf[piece.clone()], |b| scanner.feed(b, |t| stamps.push(t)));
                if let Err(e) = r {
                    tally.fail(e);
                    break;
                }
            }
            None => scanner.feed(&buf[piece.clone()], |t| stamps.push(t)),
        }
        tally.record(conn, &stamps);
        if buf.len() != read_buf.max(64) {
            buf = vec![0u8; read_buf.max(64)];
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => piece = 0..n,
        }
    }
    tally.closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Connects and reads the response head (status 200): the stream, the head,
/// the read buffer and how much of it is filled.
async fn open(src: IpAddr, url: &Url, path: &str) -> Result<(TcpStream, Head, Vec<u8>, usize), String> {
    let mut s = connect(src, url).await.map_err(|e| format!("connect from {src}: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nUser-Agent: rig-loadgen\r\n\r\n", url.addr);
    s.write_all(req.as_bytes()).await.map_err(|e| format!("write request: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    loop {
        match s.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return Err("closed before response head".into()),
            Ok(n) => filled += n,
        }
        match parse_head(&buf[..filled]) {
            Some(Ok(h)) if h.status == 200 => return Ok((s, h, buf, filled)),
            Some(Ok(h)) => return Err(format!("status {}", h.status)),
            Some(Err(e)) => return Err(e),
            None if filled == buf.len() => return Err("response head too large".into()),
            None => {}
        }
    }
}
