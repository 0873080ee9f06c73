//! `rig-loadgen bare`: the floor the gateway's fan-out is measured against.
//! It speaks just enough of the gateway's wire protocol for the load generator
//! (the SSE GET gets the same response head and the same two greeting frames;
//! `POST /_rig/v1/events` gets a 202) and on each publish writes one
//! pre-encoded frame to every socket, with nothing else in the way: no
//! subscription index, no outbox, no async runtime. Whatever latency it shows
//! is the kernel's (loopback TCP, the reader on the same cores), so the ratio
//! of our figures to its figures is what the gateway itself adds.
//!
//! ```text
//! rig-loadgen bare [--port 0] [--threads 1|2] [--mode write|writev]
//! ```
//! `write`: one `write(2)` per frame per socket. `writev`: every frame that
//! queued up meanwhile in one `writev(2)` per socket (what the gateway does).
//! `--threads 2`: the sockets are split between two writer threads.
//! io_uring is not offered: its submission API needs `unsafe`, which the
//! workspace forbids.

use std::{
    io::{self, IoSlice, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError, Sender},
        Arc,
    },
    time::Duration,
};

use crate::cli::Args;

/// How a writer hands frames to the kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Write,
    Writev,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "write" => Ok(Mode::Write),
            "writev" => Ok(Mode::Writev),
            _ => Err(format!("unknown mode {s:?} (write, writev)")),
        }
    }
}

/// The response head of the gateway's SSE endpoint (plain HTTP/1.1, chunked).
pub const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n\
access-control-allow-origin: *\r\ntransfer-encoding: chunked\r\n\r\n";

/// One HTTP/1.1 chunk holding one SSE frame, as the gateway puts it on the wire.
pub fn sse_chunk(event_type: &str, id: Option<&str>, data: &str) -> Vec<u8> {
    let id = id.map(|i| format!("id: {i}\n")).unwrap_or_default();
    let frame = format!("event: {event_type}\n{id}data: {data}\n\n");
    let mut out = format!("{:x}\r\n", frame.len()).into_bytes();
    out.extend_from_slice(frame.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// The head, `rig.connection.create` and `rig.subscriptions_set`, as the gateway greets a new SSE stream.
pub fn greeting(conn: u64) -> Vec<u8> {
    let mut out = SSE_HEAD.to_vec();
    let create = format!(
        r#"{{"data":{{"connection_token":"bare-{conn:040}"}},"id":"bare-{conn}-0","source":"rig","specversion":"0.2","type":"rig.connection.create"}}"#
    );
    let set = format!(
        r#"{{"data":[{{"eventType":"bench","oneOf":[]}}],"id":"bare-{conn}-1","source":"rig","specversion":"0.2","type":"rig.subscriptions_set"}}"#
    );
    out.extend(sse_chunk("rig.connection.create", None, &create));
    out.extend(sse_chunk("rig.subscriptions_set", None, &set));
    out
}

/// The frame for one published CloudEvent (its `type` and `id` name the SSE event).
pub fn frame_for(body: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let ty = v["type"].as_str().ok_or("event without a type")?;
    Ok(sse_chunk(ty, v["id"].as_str(), text))
}

/// A request read off a publish connection.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub body: Vec<u8>,
    /// Bytes of the buffer it took.
    pub used: usize,
}

/// One complete request at the start of `buf`, or None if more is needed.
pub fn parse_request(buf: &[u8]) -> Option<Result<Request, String>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let method = head.split_whitespace().next().unwrap_or("").to_owned();
    let mut len = 0usize;
    for l in head.split("\r\n").skip(1) {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                match v.trim().parse() {
                    Ok(n) => len = n,
                    Err(_) => return Some(Err(format!("bad content-length {v:?}"))),
                }
            }
        }
    }
    if buf.len() < end + len {
        return None;
    }
    Some(Ok(Request { method, body: buf[end..end + len].to_vec(), used: end + len }))
}

enum Msg {
    Add(TcpStream),
    Frame(Arc<[u8]>),
}

/// A subscriber socket and what the kernel did not take yet.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

/// What a write left: nothing, a remainder to keep, or a dead socket.
enum Left {
    Done,
    Keep,
    Dead,
}

impl Conn {
    /// Writes `bufs` (after whatever was pending), keeping what did not fit.
    fn send(&mut self, bufs: &[&[u8]], mode: Mode) -> Left {
        if !self.pending.is_empty() {
            bufs.iter().for_each(|b| self.pending.extend_from_slice(b));
            return self.flush();
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let r = match (mode, bufs) {
            (Mode::Write, [one]) => self.stream.write(one),
            (Mode::Write, _) => {
                // One write per frame: stop at the first the kernel did not take whole.
                let mut done = 0;
                for b in bufs {
                    match self.stream.write(b) {
                        Ok(n) => {
                            done += n;
                            if n < b.len() {
                                break;
                            }
                        }
                        Err(e) if done == 0 => return self.failed(e, bufs, 0),
                        Err(_) => break,
                    }
                }
                Ok(done)
            }
            (Mode::Writev, _) => {
                let slices: Vec<IoSlice> = bufs.iter().map(|b| IoSlice::new(b)).collect();
                self.stream.write_vectored(&slices)
            }
        };
        match r {
            Ok(n) if n == total => Left::Done,
            Ok(n) => self.keep(bufs, n),
            Err(e) => self.failed(e, bufs, 0),
        }
    }

    fn failed(&mut self, e: io::Error, bufs: &[&[u8]], skip: usize) -> Left {
        if e.kind() == io::ErrorKind::WouldBlock {
            self.keep(bufs, skip)
        } else {
            Left::Dead
        }
    }

    /// Keeps the bytes of `bufs` after the first `skip`.
    fn keep(&mut self, bufs: &[&[u8]], mut skip: usize) -> Left {
        for b in bufs {
            let from = skip.min(b.len());
            self.pending.extend_from_slice(&b[from..]);
            skip -= from;
        }
        Left::Keep
    }

    fn flush(&mut self) -> Left {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(0) => return Left::Dead,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Left::Keep,
                Err(_) => return Left::Dead,
            }
        }
        Left::Done
    }
}

/// One writer thread: its share of the sockets, every frame to each of them.
fn writer(rx: Receiver<Msg>, mode: Mode) {
    let mut conns: Vec<Conn> = Vec::new();
    let mut batch: Vec<Arc<[u8]>> = Vec::new();
    let mut backlog = false;
    loop {
        // With bytes left over, come back soon to push them; otherwise sleep until told.
        let first = if backlog {
            match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            }
        };
        batch.clear();
        let mut next = first;
        while let Some(m) = next {
            match m {
                Msg::Add(s) => conns.push(Conn { stream: s, pending: Vec::new() }),
                Msg::Frame(f) => batch.push(f),
            }
            next = rx.try_recv().ok();
        }
        let bufs: Vec<&[u8]> = batch.iter().map(|f| &f[..]).collect();
        backlog = false;
        let mut i = 0;
        while i < conns.len() {
            let c = &mut conns[i];
            let left = if !bufs.is_empty() {
                c.send(&bufs, mode)
            } else if !c.pending.is_empty() {
                c.flush()
            } else {
                Left::Done
            };
            match left {
                Left::Done => i += 1,
                Left::Keep => {
                    backlog = true;
                    i += 1;
                }
                Left::Dead => {
                    conns.swap_remove(i);
                }
            }
        }
    }
}

/// Serves the publish requests of one kept-alive connection.
fn publisher(mut s: TcpStream, mut buf: Vec<u8>, writers: Arc<Vec<Sender<Msg>>>) {
    let mut tmp = [0u8; 8192];
    loop {
        while let Some(r) = parse_request(&buf) {
            let Ok(req) = r else { return };
            buf.drain(..req.used);
            let reply: &[u8] = match (req.method.as_str(), frame_for(&req.body)) {
                ("POST", Ok(frame)) => {
                    let frame: Arc<[u8]> = frame.into();
                    for w in writers.iter() {
                        let _ = w.send(Msg::Frame(frame.clone()));
                    }
                    b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
                }
                _ => b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            };
            if s.write_all(reply).is_err() {
                return;
            }
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// A listener on 127.0.0.1 with a backlog as long as the kernel allows: with
/// std's 128, a burst of connects overflows it and each dropped SYN costs a
/// one-second retransmit, which would be measured as connect time.
fn listen(port: u16) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    s.listen(4096)?;
    Ok(s.into())
}

pub fn main(a: Args) -> Result<(), String> {
    let port: u16 = a.get("port", 0)?;
    let threads: usize = a.get("threads", 1)?;
    let mode: Mode = a.str("mode").unwrap_or_else(|| "writev".into()).parse()?;
    let l = listen(port).map_err(|e| e.to_string())?;
    // The same line the gateway logs, so the bench scripts find the port the same way.
    eprintln!("listening on {} (public)", l.local_addr().map_err(|e| e.to_string())?);
    let mut senders = Vec::new();
    for _ in 0..threads.max(1) {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || writer(rx, mode));
        senders.push(tx);
    }
    let writers = Arc::new(senders);
    let mut n: u64 = 0;
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        // Requests arrive with the connect; a silent client cannot hold up the loop for long.
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        let method = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break Some(String::from_utf8_lossy(&buf[..end]).split_whitespace().next().unwrap_or("").to_owned());
            }
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => break None,
                Ok(k) => buf.extend_from_slice(&tmp[..k]),
            }
        };
        match method.as_deref() {
            Some("GET") => {
                let _ = s.set_nodelay(true);
                if s.write_all(&greeting(n)).is_ok() && s.set_nonblocking(true).is_ok() {
                    let _ = writers[(n as usize) % writers.len()].send(Msg::Add(s));
                }
                n += 1;
            }
            Some(_) => {
                let _ = s.set_read_timeout(None);
                let _ = s.set_nodelay(true);
                let w = writers.clone();
                std::thread::spawn(move || publisher(s, buf, w));
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{parse_head, Chunked, Scanner};

    /// The greeting and a published frame read back through the load generator's own parsers.
    #[test]
    fn frames_decode_like_the_gateways() {
        let ev = crate::publish::event_json(7, 1234, None);
        let mut wire = greeting(3);
        wire.extend(frame_for(ev.as_bytes()).unwrap());
        let head = parse_head(&wire).unwrap().unwrap();
        assert_eq!((head.status, head.chunked), (200, true));
        let mut body = Vec::new();
        Chunked::default().feed(&wire[head.len..], |b| body.extend_from_slice(b)).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("event: rig.connection.create\ndata: {"));
        assert!(text.contains("event: rig.subscriptions_set\n"));
        assert!(text.ends_with(&format!("event: bench\nid: 7\ndata: {ev}\n\n")));
        let mut stamps = vec![];
        Scanner::default().feed(text.as_bytes(), |t| stamps.push(t));
        assert_eq!(stamps, vec![1234]);
        assert!(frame_for(b"{\"id\":\"1\"}").is_err());
    }

    #[test]
    fn requests_split_and_pipelined() {
        let one = b"POST /_rig/v1/events HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        let mut two = one.to_vec();
        two.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        for cut in 0..one.len() {
            assert!(parse_request(&one[..cut]).is_none(), "cut at {cut}");
        }
        let r = parse_request(&two).unwrap().unwrap();
        assert_eq!((r.method.as_str(), &r.body[..], r.used), ("POST", &b"hello"[..], one.len()));
        let r2 = parse_request(&two[r.used..]).unwrap().unwrap();
        assert_eq!((r2.method.as_str(), r2.body.len()), ("GET", 0));
        assert!(parse_request(b"POST / HTTP/1.1\r\ncontent-length: x\r\n\r\n").unwrap().is_err());
    }

    /// A reader that stops reading: the writer keeps the rest and pushes it once the reader drains.
    #[test]
    fn a_full_socket_keeps_its_remainder_in_order() {
        for mode in [Mode::Write, Mode::Writev] {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut reader = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            s.set_nonblocking(true).unwrap();
            let mut c = Conn { stream: s, pending: Vec::new() };
            let frame = vec![b'x'; 64 * 1024];
            let (mut sent, mut kept) = (0usize, false);
            for i in 0..64u8 {
                let mut f = frame.clone();
                f[0] = i;
                sent += f.len();
                kept |= matches!(c.send(&[&f, b"."], mode), Left::Keep);
                sent += 1;
            }
            assert!(kept, "{mode:?}: 4 MiB fit in a loopback socket");
            let t = std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = vec![0u8; 1 << 16];
                while got.len() < sent {
                    let n = reader.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                got
            });
            while matches!(c.flush(), Left::Keep) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let got = t.join().unwrap();
            for i in 0..64usize {
                let at = i * (frame.len() + 1);
                assert_eq!((got[at], got[at + frame.len()]), (i as u8, b'.'), "{mode:?} frame {i}");
            }
        }
    }
}
