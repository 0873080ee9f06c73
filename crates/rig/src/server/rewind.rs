//! Hands hyper a connection whose first bytes the server already read: they
//! are replayed before reading on from the socket.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes};
use tokio::{
    io::{AsyncRead, ReadBuf},
    net::TcpStream,
};

pub struct Rewind {
    pre: Bytes,
    inner: TcpStream,
}

impl Rewind {
    pub fn new(pre: Bytes, inner: TcpStream) -> Self {
        Rewind { pre, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pre.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.pre.len().min(buf.remaining());
        buf.put_slice(&this.pre[..n]);
        this.pre.advance(n);
        if this.pre.is_empty() {
            // Frees the buffer the head was read into.
            this.pre = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

crate::support::io::write_through!(Rewind);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn replays_then_reads_on() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut io = Rewind::new(Bytes::from_static(b"hello"), server);
        let mut out = String::new();
        io.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }
}
