//! WebSocket client (tokio-tungstenite over a TcpStream bound to a chosen source address).

use std::{net::IpAddr, sync::Arc};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::{protocol::WebSocketConfig, Message};

use crate::{scan::Scanner, sse::connect, tally::Tally, url::Url};

pub async fn run(conn: usize, src: IpAddr, url: &Url, path: &str, tally: Arc<Tally>, ready: impl FnOnce(bool)) {
    let stream = match connect(src, url).await {
        Ok(s) => s,
        Err(e) => {
            tally.fail(format!("connect from {src}: {e}"));
            return ready(false);
        }
    };
    let uri = format!("ws://{}{}", url.addr, path);
    // Small buffers: the default 128 KiB read buffer per socket would make the
    // load generator, not the gateway, run out of memory.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let mut ws = match tokio_tungstenite::client_async_with_config(uri, stream, Some(config)).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            tally.fail(format!("ws handshake: {e}"));
            return ready(false);
        }
    };
    tally.connect(conn);
    ready(true);
    let mut stamps = Vec::new();
    while let Some(msg) = ws.next().await {
        let Ok(msg) = msg else { break };
        if let Message::Text(t) = msg {
            stamps.clear();
            Scanner::default().feed(t.as_bytes(), |ts| stamps.push(ts));
            tally.record(conn, &stamps);
        } else if let Message::Close(_) = msg {
            break;
        }
    }
    tally.closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
