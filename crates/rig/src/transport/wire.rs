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

use std::{
    io::{self, IoSlice},
    net::Shutdown,
    sync::Arc,
    task::Poll,
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::net::TcpStream;

use super::{notice_frame, ws, ConnGuard};
use crate::hub::{frame::ws_header, DirectWrite, Frame, Item, Outbox};

/// Marks a request whose connection the server may take over after the
/// response head (plain HTTP/1.x; absent on TLS, where hyper stays in charge).
#[derive(Debug, Clone, Copy)]
pub struct Direct;

/// What a handler answers a [`Direct`] request with, as a response extension:
/// the stream to run on the socket, or (WebSocket) the reason to close it with.
#[derive(Clone)]
pub enum Takeover {
    Stream(Arc<Opened>),
    Refused(Arc<str>),
}

/// A registered streaming connection: its outbox and the guard that removes it.
pub struct Opened {
    pub outbox: Arc<Outbox>,
    pub guard: ConnGuard,
}

/// How frames are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SSE in HTTP/1.1 chunks.
    SseChunked,
    /// SSE to an HTTP/1.0 client: raw bytes, the end of the body is the end of the connection.
    SseRaw,
    Ws,
}

const HEARTBEAT_CHUNK: &[u8] = b"d\r\n: heartbeat\n\n\r\n";
const HEARTBEAT_RAW: &[u8] = b": heartbeat\n\n";
const PING: &[u8] = &[0x89, 0x00];
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// How long a closing WebSocket waits for the client's close reply.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// A client control frame is at most 2 + 4 + 125 bytes; buffer no more than this.
const MAX_CLIENT_BYTES: usize = 256;
/// Longest data frame answered with the one-way notice rather than 1009.
const MAX_CLIENT_MESSAGE: u64 = 64 * 1024;
/// Close codes for a client that breaks the protocol or sends too much (RFC 6455 §7.4.1).
const PROTOCOL_ERROR: u16 = 1002;
const TOO_BIG: u16 = 1009;

#[derive(Debug)]
struct Socket {
    stream: TcpStream,
    kind: Kind,
}

impl DirectWrite for Socket {
    fn wire<'a>(&self, frame: &'a Frame) -> &'a Bytes {
        match self.kind {
            Kind::SseChunked => &frame.sse_chunk,
            Kind::SseRaw => &frame.sse,
            Kind::Ws => &frame.ws_frame,
        }
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
            let bufs = [head, ws_close(ws::NORMAL, &reason)];
            if write_all(&socket.stream, &bufs, 0).await.is_ok() {
                Box::pin(linger(&socket.stream)).await;
            }
            return;
        }
    };
    let outbox = opened.outbox.clone();
    let mut writer = Writer { socket: socket.clone(), opened, client: early };
    let end = writer.run(head).await;
    // Unregistered before lingering: the connection is over for the hub.
    outbox.writer_gone();
    drop((writer, outbox));
    if end == End::Linger {
        Box::pin(linger(&socket.stream)).await;
    }
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// We sent the last bytes (close notice, close reply): let the client close.
    Linger,
    /// The client went, or the socket failed.
    Gone,
}

struct Writer {
    socket: Arc<Socket>,
    opened: Arc<Opened>,
    /// Unparsed client bytes (WebSocket); empty, unallocated, nearly always.
    client: Vec<u8>,
}

/// What the client side asks for.
enum FromClient {
    Nothing,
    /// Write these bytes (a pong), in order with the frames.
    Reply(Bytes),
    /// Write these bytes (a close frame), then end.
    ReplyAndEnd(Bytes),
    End,
}

/// What woke an idle writer.
enum Wake {
    /// Items to write; the first `usize` bytes of the first were sent already.
    Outbox(usize),
    /// The client sent something, or closed.
    Client,
}

impl Writer {
    async fn run(&mut self, head: Bytes) -> End {
        let outbox = self.opened.outbox.clone();
        let socket = self.socket.clone();
        let stream = &socket.stream;
        // The head and the greeting the handler queued go out in one write.
        let mut items = Vec::new();
        let sent = outbox.take(&mut items);
        let mut out = vec![head];
        let mut closing = self.render(&mut items, &mut out);
        if write_all(stream, &out, sent).await.is_err() {
            return End::Gone;
        }
        drop(out);
        outbox.set_direct(socket.clone());
        let mut reply = None;
        if !self.client.is_empty() {
            match self.parse_client() {
                FromClient::Nothing => {}
                FromClient::Reply(b) => reply = Some((b, false)),
                FromClient::ReplyAndEnd(b) => reply = Some((b, true)),
                FromClient::End => return End::Gone,
            }
        }
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
                        FromClient::Nothing => continue,
                        FromClient::Reply(b) => reply = Some((b, false)),
                        FromClient::ReplyAndEnd(b) => reply = Some((b, true)),
                        FromClient::End => return End::Gone,
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
                if let Some((bytes, end)) = reply.take() {
                    out.push(bytes);
                    ending = end;
                }
            }
            if write_all(stream, &out, sent).await.is_err() {
                return End::Gone;
            }
            if ending {
                return End::Linger;
            }
        }
    }

    /// Wire bytes for the items taken from the outbox; true after a close,
    /// whose notice (SSE event or WebSocket close frame) is the last thing rendered.
    fn render(&self, items: &mut Vec<Item>, out: &mut Vec<Bytes>) -> bool {
        let kind = self.socket.kind;
        for item in items.drain(..) {
            match item {
                Item::Frame(f) => {
                    self.opened.guard.handed_over([&*f]);
                    out.push(self.socket.wire(&f).clone());
                }
                Item::Heartbeat => out.push(Bytes::from_static(match kind {
                    Kind::SseChunked => HEARTBEAT_CHUNK,
                    Kind::SseRaw => HEARTBEAT_RAW,
                    Kind::Ws => PING,
                })),
                Item::Close(reason) if kind == Kind::Ws => {
                    let (code, text) = ws::close_code(reason);
                    out.push(ws_close(code, text));
                    return true;
                }
                other => {
                    let frame = notice_frame(&other).expect("missed and close items render");
                    out.push(self.socket.wire(&frame).clone());
                    if let Item::Close(_) = other {
                        if kind == Kind::SseChunked {
                            out.push(Bytes::from_static(LAST_CHUNK));
                        }
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Reads what the client sent. An SSE client has nothing to say: its bytes
    /// are dropped and only the end of its stream matters.
    fn read_client(&mut self) -> FromClient {
        let mut tmp = [0u8; MAX_CLIENT_BYTES];
        loop {
            match self.socket.stream.try_read(&mut tmp) {
                Ok(0) => return FromClient::End,
                Ok(n) if self.socket.kind == Kind::Ws => {
                    self.client.extend_from_slice(&tmp[..n]);
                    let parsed = self.parse_client();
                    if !matches!(parsed, FromClient::Nothing) {
                        return parsed;
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return FromClient::Nothing,
                Err(_) => return FromClient::End,
            }
        }
    }

    /// Handles complete client frames in `self.client` (RIG's WebSocket is
    /// one-way: data frames close the connection, pings get pongs).
    fn parse_client(&mut self) -> FromClient {
        let result = loop {
            match client_frame(&self.client) {
                Parsed::Incomplete if self.client.len() > MAX_CLIENT_BYTES => break FromClient::End,
                Parsed::Incomplete => return FromClient::Nothing,
                Parsed::Bad => break FromClient::ReplyAndEnd(ws_close(PROTOCOL_ERROR, "Protocol error.")),
                Parsed::TooBig => break FromClient::ReplyAndEnd(ws_close(TOO_BIG, "Message too big.")),
                Parsed::Data => break FromClient::ReplyAndEnd(ws_close(ws::NORMAL, ws::TWO_WAY)),
                Parsed::Control { opcode, payload, len } => {
                    self.client.drain(..len);
                    match opcode {
                        0x8 => {
                            let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                            break FromClient::ReplyAndEnd(ws_close_echo(code));
                        }
                        0x9 => break FromClient::Reply(ws_control(0xA, &payload)),
                        _ => {} // pong: ignored
                    }
                }
            }
        };
        if self.client.is_empty() {
            self.client = Vec::new();
        }
        result
    }
}

enum Parsed {
    Incomplete,
    /// A protocol violation (RFC 6455 §5.2, §5.5): unmasked, reserved bits or
    /// opcode, a fragmented or long control frame, a continuation of nothing.
    Bad,
    /// A data frame longer than [`MAX_CLIENT_MESSAGE`].
    TooBig,
    /// A text or binary frame (this endpoint is one-way).
    Data,
    Control {
        opcode: u8,
        payload: Vec<u8>,
        len: usize,
    },
}

/// The first client frame in `buf` (RFC 6455 §5.2: client frames are masked).
fn client_frame(buf: &[u8]) -> Parsed {
    let [b0, b1, ..] = *buf else { return Parsed::Incomplete };
    let (fin, rsv, opcode) = (b0 & 0x80 != 0, b0 & 0x70, b0 & 0x0f);
    let (masked, len) = (b1 & 0x80 != 0, usize::from(b1 & 0x7f));
    if rsv != 0 || !masked {
        return Parsed::Bad;
    }
    match opcode {
        // No message was ever started (any data frame ends the connection).
        0x0 => return Parsed::Bad,
        0x1 | 0x2 => {
            let declared = match len {
                126 if buf.len() >= 4 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
                127 if buf.len() >= 10 => u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")),
                126 | 127 => return Parsed::Incomplete,
                n => n as u64,
            };
            return if declared > MAX_CLIENT_MESSAGE { Parsed::TooBig } else { Parsed::Data };
        }
        // A close payload is empty or a code and a reason.
        0x8..=0xA if fin && len <= 125 && !(opcode == 0x8 && len == 1) => {}
        _ => return Parsed::Bad,
    }
    let total = 2 + 4 + len;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let mask = [buf[2], buf[3], buf[4], buf[5]];
    let payload = buf[6..total].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    Parsed::Control { opcode, payload, len: total }
}

fn ws_control(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + payload.len());
    ws_header(opcode, payload.len(), &mut out);
    out.put_slice(payload);
    out.freeze()
}

/// A close frame with a status code and reason (at most 123 bytes, cut by the caller).
fn ws_close(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    ws_control(0x8, &payload)
}

/// The reply to a client's close: its status code back, or no payload.
fn ws_close_echo(code: Option<u16>) -> Bytes {
    ws_control(0x8, &code.map(u16::to_be_bytes).unwrap_or_default()[..code.map_or(0, |_| 2)])
}

/// Ends our side (FIN) and waits, bounded, for the client to close its side,
/// so our last bytes are not lost to a reset caused by unread client data.
async fn linger(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Write);
    let drain = std::future::poll_fn(|cx| loop {
        if stream.poll_read_ready(cx).is_pending() {
            return Poll::Pending;
        }
        let mut tmp = [0u8; 256];
        match stream.try_read(&mut tmp) {
            Ok(0) => return Poll::Ready(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(()),
        }
    });
    let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
}

/// Writes `bufs`, the first `skip` bytes of the first already sent, waiting
/// for the socket when it is full.
pub async fn write_all(stream: &TcpStream, bufs: &[Bytes], mut skip: usize) -> io::Result<()> {
    let mut first = 0;
    while first < bufs.len() {
        if skip >= bufs[first].len() {
            skip -= bufs[first].len();
            first += 1;
            continue;
        }
        match write_some(stream, &bufs[first..], skip) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => skip += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::future::poll_fn(|cx| stream.poll_write_ready(cx)).await?,
            Err(e) => return Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    #[test]
    fn client_frames_are_unmasked_and_classified() {
        let ping = masked(0x9, b"hi");
        assert!(matches!(client_frame(&ping[..3]), Parsed::Incomplete));
        match client_frame(&ping) {
            Parsed::Control { opcode: 0x9, payload, len } => assert_eq!((payload.as_slice(), len), (&b"hi"[..], 8)),
            _ => panic!("a ping"),
        }
        assert!(matches!(client_frame(&masked(0x1, b"x")), Parsed::Data));
        assert!(matches!(client_frame(&[0x01, 0x81]), Parsed::Data), "first fragment of a text message");
        assert!(matches!(client_frame(&[0x82, 0xFE, 0xFF]), Parsed::Incomplete));
        assert!(matches!(client_frame(&[0x82, 0xFE, 0xFF, 0xFF]), Parsed::Data), "64 KiB - 1");
        assert!(matches!(client_frame(&[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 1]), Parsed::TooBig));
        assert!(matches!(client_frame(&masked(0x0, b"x")), Parsed::Bad), "continuation of nothing");
        assert!(matches!(client_frame(&masked(0x8, b"x")), Parsed::Bad), "one-byte close payload");
        assert!(matches!(client_frame(&[0x89, 0xFE, 0, 126]), Parsed::Bad), "control frame over 125 bytes");
        assert!(matches!(client_frame(&[0x89, 0x00]), Parsed::Bad), "unmasked");
        assert!(matches!(client_frame(&[0x09, 0x80, 0, 0, 0, 0]), Parsed::Bad), "fragmented control frame");
        assert!(matches!(client_frame(&[0x83, 0x80]), Parsed::Bad), "reserved opcode");
    }

    #[test]
    fn control_frames_are_encoded_unmasked() {
        assert_eq!(&ws_control(0xA, b"hi")[..], &[0x8A, 2, b'h', b'i']);
        assert_eq!(&ws_close(1000, "ok")[..], &[0x88, 4, 0x03, 0xe8, b'o', b'k']);
        assert_eq!(&ws_close_echo(Some(1001))[..], &[0x88, 2, 0x03, 0xe9]);
        assert_eq!(&ws_close_echo(None)[..], &[0x88, 0]);
    }
}
