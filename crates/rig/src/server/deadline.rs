//! A request body that must arrive in full within `RIG_BODY_READ_TIMEOUT_MS`
//! of its head: a client that announces a body and stops sending cannot hold
//! a socket (and its handler) for longer. Only time spent waiting for the
//! client counts; a body already received is never refused for the time the
//! handler took before reading it.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a [`Deadline`] body fails with (the handlers answer 408).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimedOut(pub Duration);

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body not received within {} ms", self.0.as_millis())
    }
}

impl std::error::Error for BodyTimedOut {}

/// The `BodyTimedOut` in `error`'s source chain, if it has one.
pub fn timed_out<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimedOut> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(t) = e.downcast_ref::<BodyTimedOut>() {
            return Some(t);
        }
        current = e.source();
    }
    None
}

pub struct Deadline<B> {
    inner: B,
    limit: Duration,
    at: Instant,
    /// Created on the first wait, so a body that is there already costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    failed: bool,
}

impl<B> Deadline<B> {
    /// The deadline is `limit` from now.
    pub fn new(inner: B, limit: Duration) -> Self {
        Deadline { inner, limit, at: Instant::now() + limit, timer: None, failed: false }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let at = this.at;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.failed = true;
                Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    /// One frame, then nothing, ever.
    struct Stalled(bool);

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"abcdef")))))
            }
        }
    }

    #[tokio::test]
    async fn a_stalled_body_fails_at_the_deadline() {
        let limit = Duration::from_millis(50);
        let started = Instant::now();
        let mut body = Deadline::new(Stalled(false), limit);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "abcdef");
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(started.elapsed() >= limit);
        assert!(timed_out(err.as_ref()).is_some(), "{err}");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_body_that_is_there_is_read_however_late() {
        let mut body = Deadline::new(Full::new(Bytes::from_static(b"x")), Duration::from_millis(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "x");
    }
}
