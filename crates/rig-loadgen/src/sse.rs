//! A minimal SSE client on a raw TcpStream bound to a chosen source address.

use std::{net::IpAddr, sync::Arc};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::{
    scan::{parse_head, Chunked, Scanner},
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
/// `ready` once the response head (status 200) arrived.
pub async fn run(
    conn: usize,
    src: IpAddr,
    url: &Url,
    path: &str,
    tally: Arc<Tally>,
    ready: impl FnOnce(bool),
) {
    let mut ready = Some(ready);
    let mut signal = |ok: bool| {
        if let Some(r) = ready.take() {
            r(ok)
        }
    };
    let mut s = match connect(src, url).await {
        Ok(s) => s,
        Err(e) => {
            tally.fail(format!("connect from {src}: {e}"));
            return signal(false);
        }
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nUser-Agent: rig-loadgen\r\n\r\n",
        url.addr
    );
    if let Err(e) = s.write_all(req.as_bytes()).await {
        tally.fail(format!("write request: {e}"));
        return signal(false);
    }
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let head = loop {
        match s.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => {
                tally.fail("closed before response head".into());
                return signal(false);
            }
            Ok(n) => filled += n,
        }
        match parse_head(&buf[..filled]) {
            Some(Ok(h)) if h.status == 200 => break h,
            Some(Ok(h)) => {
                tally.fail(format!("status {}", h.status));
                return signal(false);
            }
            Some(Err(e)) => {
                tally.fail(e);
                return signal(false);
            }
            None if filled == buf.len() => {
                tally.fail("response head too large".into());
                return signal(false);
            }
            None => {}
        }
    };
    tally.connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    signal(true);

    let mut scanner = Scanner::default();
    let mut chunked = head.chunked.then(Chunked::default);
    let mut stamps = Vec::new();
    let mut piece = buf[head.len..filled].to_vec();
    loop {
        stamps.clear();
        match chunked.as_mut() {
            Some(c) => {
                let r = c.feed(&piece, |b| scanner.feed(b, |t| stamps.push(t)));
                if let Err(e) = r {
                    tally.fail(e);
                    break;
                }
            }
            None => scanner.feed(&piece, |t| stamps.push(t)),
        }
        tally.record(conn, &stamps);
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                piece.clear();
                piece.extend_from_slice(&buf[..n]);
            }
        }
    }
    tally.closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
