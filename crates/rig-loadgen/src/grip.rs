//! `rig-loadgen grip --port P --channel C`: the tiny backend Pushpin proxies
//! to; it answers every request with a GRIP stream hold on channel C, so
//! Pushpin keeps the client connection open as an SSE subscriber.

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::cli::Args;

pub async fn main(a: Args) -> Result<(), String> {
    let port: u16 = a.get("port", 0)?;
    let channel = a.str("channel").unwrap_or_else(|| "bench".into());
    let l = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    eprintln!("grip backend on {}", l.local_addr().map_err(|e| e.to_string())?);
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nGrip-Hold: stream\r\nGrip-Channel: {channel}\r\nContent-Length: 3\r\n\r\n:\n\n"
    );
    loop {
        let (mut s, _) = l.accept().await.map_err(|e| e.to_string())?;
        let resp = resp.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut filled = 0;
            loop {
                match s.read(&mut buf[filled..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => filled += n,
                }
                // Answer each complete request head (GETs have no body).
                while let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    buf.copy_within(end + 4..filled, 0);
                    filled -= end + 4;
                }
                if filled == buf.len() {
                    return;
                }
            }
        });
    }
}
