//! Taken-over connections: once the server has written the response head of a
//! plain-HTTP SSE stream or WebSocket, this module owns the socket. Frames go
//! out as their pre-encoded wire bytes (see [`Frame`]), usually written by the
//! delivering thread itself ([`DirectWrite`]); this connection's task only
//! finishes what the socket did not take, sends keep-alives and notices, and
//! watches the client side (end of stream; WebSocket pings and closes).
//!
//! No per-connection buffers are kept while idle: that and the absence of a
//! per-connection timer are what make an idle connection cost ~2 KiB instead
//! of the ~12 KiB a hyper connection with its read and write buffers costs.
//! A timer exists only while a write waits for a full socket: a client that
//! takes nothing for `RIG_WRITE_TIMEOUT_MS` is reset, and a killed session
//! gets [`KILL_WRITE_BOUND`] to take its close notice, whatever the client does.

use std::{
    future::Future,
    io::{self, IoSlice},
    net::Shutdown,
    pin::Pin,
    sync::Arc,
    task::Poll,
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::{net::TcpStream, time::Sleep};

use super::{
    close::NORMAL,
    render::{self, Kind},
    takeover::{Opened, Takeover},
    ws_frames::{self, ClientFrames, Reply},
};
use crate::hub::{CloseReason, DirectWrite, Frame, Item, Outbox};

/// How long a closing WebSocket waits for the client's close reply, and how
/// much it reads meanwhile at most.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
const LINGER_MAX_BYTES: usize = 64 * 1024;
/// How long a killed session's connection may take to write its close notice
/// (and the frame in progress) before it is reset.
pub const KILL_WRITE_BOUND: Duration = Duration::from_secs(1);
/// Progress bound of writes with no configured timeout (refusals, see `write_all`).
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Client bytes read per wake-up at most, so a flooding client shares the thread.
const MAX_CLIENT_READ: usize = 64 * 1024;

#[derive(Debug)]
struct Socket {
    stream: TcpStream,
    kind: Kind,
}

impl DirectWrite for Socket {
    fn wire<'a>(&self, frame: &'a Frame) -> &'a Bytes {
        render::wire(frame, self.kind)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.stream.try_write(buf)
    }
}

/// Runs a taken-over connection: writes `head` (the response head), then the
/// stream until it closes or the client goes. `early` are bytes the client sent
/// after its request head (a WebSocket client may already send frames).
///
/// Spawned as its own task, so the task holds only this future (a few hundred
/// bytes: waits are poll functions on the socket and the outbox, not futures
/// with intrusive wait-list nodes).
pub async fn serve(stream: TcpStream, kind: Kind, head: Bytes, takeover: Takeover, early: Vec<u8>) {
    let socket = Arc::new(Socket { stream, kind });
    let opened = match takeover {
        Takeover::Stream(opened) => opened,
        Takeover::Refused(reason) => {
            let bufs = [head, ws_frames::close(NORMAL, &reason)];
            if write_all(&socket.stream, &bufs, 0).await.is_ok() {
                Box::pin(linger(&socket.stream)).await;
            }
            return;
        }
    };
    let outbox = opened.outbox.clone();
    let client = ClientFrames::new(opened.control_rate);
    let mut writer = Writer { socket: socket.clone(), opened, client };
    let end = writer.run(head, early).await;
    // Unregistered before lingering: the connection is over for the hub.
    outbox.writer_gone();
    drop((writer, outbox));
    match end {
        End::Linger => Box::pin(linger(&socket.stream)).await,
        // A client that takes nothing is reset: closing normally would leave the
        // unsent bytes (and the socket) to the kernel for minutes.
        End::Reset => {
            let _ = socket2::SockRef::from(&socket.stream).set_linger(Some(Duration::ZERO));
        }
        End::Gone => {}
    }
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// We sent the last bytes (close notice, close reply): let the client close.
    Linger,
    /// The client went, or the socket failed.
    Gone,
    /// The client took nothing for too long.
    Reset,
}

struct Writer {
    socket: Arc<Socket>,
    opened: Arc<Opened>,
    /// The WebSocket client's side (unused for SSE).
    client: ClientFrames,
}

/// What woke an idle writer.
enum Wake {
    /// Items to write; the first `usize` bytes of the first were sent already.
    Outbox(usize),
    /// The client sent something, or closed.
    Client,
}

/// Why a write stopped short.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Failed,
    /// No progress for the write timeout, or past the kill bound.
    Stalled,
    /// The session was killed; `skip` bytes of `bufs[at]` are on the wire.
    Killed {
        at: usize,
        skip: usize,
    },
}

impl Writer {
    async fn run(&mut self, head: Bytes, early: Vec<u8>) -> End {
        let outbox = self.opened.outbox.clone();
        let socket = self.socket.clone();
        let stream = &socket.stream;
        // The head and the greeting the handler queued go out in one write.
        let mut items = Vec::new();
        let sent = outbox.take(&mut items);
        let mut out = vec![head];
        let mut closing = self.render(&mut items, &mut out);
        if let Err(stop) = self.write(&out, sent, closing).await {
            return self.stopped(stop, &out).await;
        }
        drop(out);
        outbox.set_direct(socket.clone());
        let mut reply = None;
        if !early.is_empty() {
            match self.client.feed(&early, Instant::now()) {
                Reply::Nothing => {}
                Reply::End => return End::Gone,
                r => reply = Some(r),
            }
        }
        drop(early);
        loop {
            if closing {
                return End::Linger;
            }
            let mut sent = 0;
            if reply.is_none() && outbox.done() {
                let wake = std::future::poll_fn(|cx| {
                    if stream.poll_read_ready(cx).is_ready() {
                        return Poll::Ready(Wake::Client);
                    }
                    outbox.poll_recv(cx, &mut items).map(Wake::Outbox)
                })
                .await;
                match wake {
                    Wake::Outbox(s) => sent = s,
                    Wake::Client => match self.read_client() {
                        Reply::Nothing => continue,
                        Reply::End => return End::Gone,
                        r => reply = Some(r),
                    },
                }
            }
            if items.is_empty() {
                // More was queued, or a reply must go out after what is queued.
                sent = outbox.take(&mut items);
            }
            let mut out = Vec::with_capacity(items.len() + 1);
            closing = self.render(&mut items, &mut out);
            let mut ending = false;
            if !closing {
                match reply.take() {
                    Some(Reply::Pong(pong)) => out.push(pong),
                    Some(Reply::Close(close)) => {
                        out.push(close);
                        ending = true;
                    }
                    _ => {}
                }
            }
            if let Err(stop) = self.write(&out, sent, closing).await {
                return self.stopped(stop, &out).await;
            }
            if ending {
                return End::Linger;
            }
        }
    }

    /// Writes `bufs` (see [`write_bounded`]): with the write timeout, watching
    /// for a session kill, or, for a batch that ends with a close notice, within
    /// the kill bound.
    async fn write(&self, bufs: &[Bytes], skip: usize, closing: bool) -> Result<(), Stop> {
        let (stream, outbox) = (&self.socket.stream, &*self.opened.outbox);
        let until = (closing && outbox.killed()).then(|| Instant::now() + KILL_WRITE_BOUND);
        let watch = (!closing).then_some(outbox);
        write_bounded(stream, bufs, skip, self.opened.write_timeout, until, watch).await
    }

    /// Ends a stream whose write stopped: a kill still writes the rest of the
    /// frame in progress and the close notice, within the kill bound.
    async fn stopped(&self, stop: Stop, bufs: &[Bytes]) -> End {
        let (at, skip) = match stop {
            Stop::Failed => return End::Gone,
            Stop::Stalled => return End::Reset,
            Stop::Killed { at, skip } => (at, skip),
        };
        let mut out = Vec::with_capacity(2);
        if skip > 0 {
            out.push(bufs[at].slice(skip..));
        }
        self.render(&mut vec![Item::Close(CloseReason::SessionKilled)], &mut out);
        let until = Some(Instant::now() + KILL_WRITE_BOUND);
        match write_bounded(&self.socket.stream, &out, 0, KILL_WRITE_BOUND, until, None).await {
            Ok(()) => End::Linger,
            Err(Stop::Stalled) => End::Reset,
            Err(_) => End::Gone,
        }
    }

    /// Wire bytes for the items taken from the outbox; true after a close,
    /// whose notice (SSE event or WebSocket close frame) is the last thing rendered.
    fn render(&self, items: &mut Vec<Item>, out: &mut Vec<Bytes>) -> bool {
        render::render(items, self.socket.kind, &self.opened.guard, out)
    }

    /// Reads what the client sent, every complete WebSocket frame of it (pings
    /// coalesced into one pong), up to [`MAX_CLIENT_READ`] bytes. An SSE client
    /// has nothing to say: its bytes are dropped and only the end of its stream matters.
    fn read_client(&mut self) -> Reply {
        let mut tmp = [0u8; 4096];
        let mut pong = None;
        let mut read = 0;
        while read < MAX_CLIENT_READ {
            match self.socket.stream.try_read(&mut tmp) {
                Ok(0) => return Reply::End,
                Ok(n) if self.socket.kind == Kind::Ws => {
                    read += n;
                    match self.client.feed(&tmp[..n], Instant::now()) {
                        Reply::Nothing => {}
                        Reply::Pong(p) => pong = Some(p),
                        end => return end,
                    }
                }
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Reply::End,
            }
        }
        pong.map_or(Reply::Nothing, Reply::Pong)
    }
}

/// Ends our side (FIN) and waits, bounded, for the client to close its side,
/// so our last bytes are not lost to a reset caused by unread client data.
/// A client that keeps sending instead (a flood) is not read for long.
async fn linger(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Write);
    let mut budget = LINGER_MAX_BYTES;
    let drain = std::future::poll_fn(|cx| loop {
        if stream.poll_read_ready(cx).is_pending() {
            return Poll::Pending;
        }
        let mut tmp = [0u8; 4096];
        match stream.try_read(&mut tmp) {
            Ok(0) => return Poll::Ready(()),
            Ok(n) if n >= budget => return Poll::Ready(()),
            Ok(n) => budget -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(()),
        }
    });
    let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
}

/// Writes `bufs`, the first `skip` bytes of the first already sent, waiting
/// for the socket when it is full, but for at most [`DEFAULT_WRITE_TIMEOUT`]
/// without progress (small complete responses).
pub async fn write_all(stream: &TcpStream, bufs: &[Bytes], skip: usize) -> io::Result<()> {
    write_bounded(stream, bufs, skip, DEFAULT_WRITE_TIMEOUT, None, None).await.map_err(|stop| match stop {
        Stop::Stalled => io::ErrorKind::TimedOut.into(),
        _ => io::ErrorKind::BrokenPipe.into(),
    })
}

/// Writes `bufs`, the first `skip` bytes of the first already sent, waiting
/// for the socket when it is full: for at most `timeout` without progress,
/// never past `until`, and, with `kill`, only until that session is killed.
/// The timer is created only if the socket is full.
async fn write_bounded(
    stream: &TcpStream,
    bufs: &[Bytes],
    mut skip: usize,
    timeout: Duration,
    until: Option<Instant>,
    kill: Option<&Outbox>,
) -> Result<(), Stop> {
    let mut first = 0;
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    let mut progress = true;
    while first < bufs.len() {
        if skip >= bufs[first].len() {
            skip -= bufs[first].len();
            first += 1;
            continue;
        }
        match write_some(stream, &bufs[first..], skip) {
            Ok(0) => return Err(Stop::Failed),
            Ok(n) => {
                skip += n;
                progress = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut deadline = Instant::now() + timeout;
                if let Some(until) = until {
                    deadline = deadline.min(until);
                }
                let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
                if std::mem::take(&mut progress) {
                    timer.as_mut().reset(deadline.into());
                }
                let woke = std::future::poll_fn(|cx| {
                    if let Poll::Ready(r) = stream.poll_write_ready(cx) {
                        return Poll::Ready(r.map_err(|_| Stop::Failed));
                    }
                    if kill.is_some_and(|o| o.poll_killed(cx).is_ready()) {
                        return Poll::Ready(Err(Stop::Killed { at: first, skip }));
                    }
                    timer.as_mut().poll(cx).map(|()| Err(Stop::Stalled))
                })
                .await;
                woke?;
            }
            Err(_) => return Err(Stop::Failed),
        }
    }
    Ok(())
}

/// One vectored write of up to 64 buffers (kept out of the async state machine).
fn write_some(stream: &TcpStream, bufs: &[Bytes], skip: usize) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); 64];
    let n = bufs.len().min(slices.len());
    for (i, b) in bufs[..n].iter().enumerate() {
        slices[i] = IoSlice::new(if i == 0 { &b[skip..] } else { b });
    }
    stream.try_write_vectored(&slices[..n])
}
