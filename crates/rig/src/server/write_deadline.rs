//! A write-progress deadline for the connections hyper serves (TLS, and plain
//! connections whose first request is not a stream): a write the socket has
//! not taken for `RIG_WRITE_TIMEOUT_MS` fails with `TimedOut`, so hyper, or a
//! WebSocket upgraded from the connection, drops a client that stopped
//! reading. Taken-over streams do the same in `transport::wire`.
//!
//! A session kill shortens the wait to `KILL_WRITE_BOUND` ([`KillWatch`]):
//! hyper does not poll a response body while its write buffer is full, so an
//! SSE body cannot notice the kill itself.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

use crate::{hub::Outbox, support::sync::lock, transport::wire::KILL_WRITE_BOUND};

/// The stream an HTTP/1 connection serves, if any (set per response).
#[derive(Debug, Default)]
pub struct KillWatch(Mutex<Option<Arc<Outbox>>>);

impl KillWatch {
    pub fn set(&self, outbox: Option<Arc<Outbox>>) {
        *lock(&self.0) = outbox;
    }

    /// Whether the stream's session was killed (else the task is woken when it is).
    fn poll_killed(&self, cx: &mut Context<'_>) -> bool {
        lock(&self.0).as_ref().is_some_and(|o| o.poll_killed(cx).is_ready())
    }
}

pub struct WriteDeadline<T> {
    io: T,
    timeout: Duration,
    /// Runs while a write waits for the socket; created the first time one does.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    kill: Option<Arc<KillWatch>>,
    /// Set once the stream's session is killed: no write waits past it.
    until: Option<Instant>,
}

impl<T> WriteDeadline<T> {
    pub fn new(io: T, timeout: Duration, kill: Option<Arc<KillWatch>>) -> Self {
        WriteDeadline { io, timeout, timer: None, waiting: false, kill, until: None }
    }

    /// Passes a finished write on; a pending one fails once it has waited
    /// `timeout`, or the kill bound after a kill.
    fn check<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.waiting = false;
            return poll;
        }
        let now = Instant::now();
        let mut reset = !std::mem::replace(&mut self.waiting, true);
        if self.until.is_none() && self.kill.as_ref().is_some_and(|k| k.poll_killed(cx)) {
            self.until = Some(now + KILL_WRITE_BOUND);
            reset = true;
        }
        let deadline = self.until.map_or(now + self.timeout, |u| u.min(now + self.timeout));
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if reset {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client took nothing for the write timeout"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.check(cx, poll)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.check(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.check(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_shutdown(cx);
        this.check(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_write_that_waits_too_long_fails_and_progress_resets_the_clock() {
        let (ours, mut theirs) = tokio::io::duplex(8);
        let mut io = WriteDeadline::new(ours, Duration::from_millis(400), None);
        // The peer reads 8 bytes every 200 ms: slow, but never 400 ms without progress.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                theirs.read_exact(&mut buf).await.unwrap();
            }
            theirs
        });
        io.write_all(&[1; 40]).await.unwrap();
        let _theirs = reader.await.unwrap();
        // Now nobody reads.
        let err = io.write_all(&[2; 16]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
