//! The peer-link protocol (no I/O here): an authenticated handshake, then
//! length-prefixed frames, each tagged with a per-connection key and its
//! sequence number, so frames can be neither forged, altered, replayed nor
//! reordered by anyone without `NODE_COOKIE`.
//!
//! Handshake (the connecting node speaks second):
//! - server: `MAGIC | nonce_s(16)`
//! - client: `MAGIC | nonce_c(16) | name length(2) | name of the node it wants | tag`,
//!   the tag over `"hello" | nonce_s | nonce_c | name` with the cookie key.
//!   The server refuses a name that is not its own: a link to a node that
//!   restarted must not reach its successor (which gets a link of its own).
//! - session key: HMAC(cookie key, `"session" | nonce_s | nonce_c`).
//!
//! Frame: `length(4) | body | tag(16)`, tag over `seq(8) | body`; body is a
//! kind byte then the payload.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{
    key::{Key, TAG_LEN},
    replicated::Entry,
};

pub const MAGIC: &[u8; 8] = b"RIGPEER1";
pub const NONCE_LEN: usize = 16;
/// Largest frame accepted (a batch of events is cut well below this).
pub const MAX_FRAME: usize = 16 << 20;

const EVENTS: u8 = 1;
const ENTRY: u8 = 2;
const KILL_SESSION: u8 = 3;

/// What one node tells another.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// CloudEvents (their JSON text) to deliver to this node's connections only.
    Events(Vec<Bytes>),
    /// A replicated entry, pushed ahead of gossip.
    Entry(Entry),
    /// Close this session's connections (without blacklisting it).
    KillSession(String),
}

impl Message {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Events(events) => encode_events(events.iter().map(|e| &e[..]), out),
            Message::Entry(e) => {
                out.push(ENTRY);
                serde_json::to_writer(&mut *out, e).expect("entries serialise");
            }
            Message::KillSession(s) => {
                out.push(KILL_SESSION);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }

    /// Decodes a frame body; `None` if malformed.
    pub fn decode(body: Bytes) -> Option<Message> {
        let (&kind, _) = body.split_first()?;
        let mut rest = body.slice(1..);
        match kind {
            EVENTS => {
                if rest.len() < 4 {
                    return None;
                }
                let n = rest.get_u32() as usize;
                let mut events = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    if rest.len() < 4 {
                        return None;
                    }
                    let len = rest.get_u32() as usize;
                    if rest.len() < len {
                        return None;
                    }
                    events.push(rest.split_to(len));
                }
                rest.is_empty().then_some(Message::Events(events))
            }
            ENTRY => serde_json::from_slice(&rest).ok().map(Message::Entry),
            KILL_SESSION => String::from_utf8(rest.to_vec()).ok().map(Message::KillSession),
            _ => None,
        }
    }
}

/// Encodes a batch of events without collecting them first.
pub fn encode_events<'a>(events: impl ExactSizeIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    out.push(EVENTS);
    out.put_u32(events.len() as u32);
    for e in events {
        out.put_u32(e.len() as u32);
        out.extend_from_slice(e);
    }
}

/// The server's greeting.
pub fn server_hello(nonce_s: &[u8; NONCE_LEN]) -> Vec<u8> {
    [&MAGIC[..], nonce_s].concat()
}

/// Reads the server's nonce from its greeting.
pub fn read_server_hello(bytes: &[u8; 8 + NONCE_LEN]) -> Option<[u8; NONCE_LEN]> {
    (&bytes[..8] == MAGIC).then(|| bytes[8..].try_into().expect("16 bytes"))
}

/// The client's answer, naming the node it means to reach.
pub fn client_hello(key: &Key, nonce_s: &[u8; NONCE_LEN], nonce_c: &[u8; NONCE_LEN], target: &str) -> Vec<u8> {
    let name = target.as_bytes();
    let tag = key.sign(&[b"hello", nonce_s, nonce_c, name]);
    let mut out = Vec::with_capacity(8 + NONCE_LEN + 2 + name.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(nonce_c);
    out.put_u16(name.len() as u16);
    out.extend_from_slice(name);
    out.extend_from_slice(&tag);
    out
}

/// Length of the client hello's fixed head (magic, nonce, name length).
pub const CLIENT_HEAD: usize = 8 + NONCE_LEN + 2;

/// Parses the head of a client hello: its nonce and the name length that follows.
pub fn read_client_head(head: &[u8; CLIENT_HEAD]) -> Option<([u8; NONCE_LEN], usize)> {
    if &head[..8] != MAGIC {
        return None;
    }
    let nonce = head[8..8 + NONCE_LEN].try_into().expect("16 bytes");
    Some((nonce, u16::from_be_bytes([head[CLIENT_HEAD - 2], head[CLIENT_HEAD - 1]]) as usize))
}

/// Checks the rest of a client hello (`name | tag`); the named node on success.
pub fn verify_client_tail(key: &Key, nonce_s: &[u8; NONCE_LEN], nonce_c: &[u8; NONCE_LEN], tail: &[u8]) -> Option<String> {
    let (name, tag) = tail.split_at_checked(tail.len().checked_sub(TAG_LEN)?)?;
    key.verify(&[b"hello", nonce_s, nonce_c, name], tag).then(|| String::from_utf8(name.to_vec()).ok()).flatten()
}

/// The key tagging this connection's frames.
pub fn session_key(key: &Key, nonce_s: &[u8; NONCE_LEN], nonce_c: &[u8; NONCE_LEN]) -> Key {
    Key::from_bytes(&key.mac(&[b"session", nonce_s, nonce_c]))
}

/// Tags outgoing frames.
pub struct Sealer {
    key: Key,
    seq: u64,
}

impl Sealer {
    pub fn new(key: Key) -> Self {
        Sealer { key, seq: 0 }
    }

    /// Appends the frame for `body` to `out`.
    pub fn seal(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let tag = self.key.sign(&[&self.seq.to_be_bytes(), body]);
        self.seq += 1;
        out.put_u32((body.len() + TAG_LEN) as u32);
        out.extend_from_slice(body);
        out.extend_from_slice(&tag);
    }

    /// Builds one frame holding `msg`, appended to `out`.
    pub fn seal_message(&mut self, msg: &Message, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        msg.encode(&mut body);
        self.seal(&body, out);
    }
}

/// Checks incoming frames.
pub struct Opener {
    key: Key,
    seq: u64,
}

impl Opener {
    pub fn new(key: Key) -> Self {
        Opener { key, seq: 0 }
    }

    /// Length of the frame whose 4-byte prefix is `prefix`, if acceptable.
    pub fn frame_len(prefix: [u8; 4]) -> Option<usize> {
        let n = u32::from_be_bytes(prefix) as usize;
        (TAG_LEN..=MAX_FRAME).contains(&n).then_some(n)
    }

    /// The body of a frame (`body | tag`), if its tag is right for the next sequence number.
    pub fn open(&mut self, mut frame: BytesMut) -> Option<Bytes> {
        let tag = frame.split_off(frame.len().checked_sub(TAG_LEN)?);
        if !self.key.verify(&[&self.seq.to_be_bytes(), &frame], &tag) {
            return None;
        }
        self.seq += 1;
        Some(frame.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(bytes: &[u8]) -> Vec<BytesMut> {
        let mut rest = bytes;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let n = Opener::frame_len(rest[..4].try_into().unwrap()).unwrap();
            out.push(BytesMut::from(&rest[4..4 + n]));
            rest = &rest[4 + n..];
        }
        out
    }

    #[test]
    fn messages_round_trip_through_sealed_frames() {
        let key = Key::from_bytes(b"session");
        let msgs = vec![
            Message::Events(vec![Bytes::from_static(b"{\"a\":1}"), Bytes::new()]),
            Message::Entry(Entry {
                namespace: "ns".into(),
                key: "k".into(),
                value: json!({"x": 1}),
                expires_at: Some(5),
                version: 2,
                stamp: 3,
                origin: "n".into(),
            }),
            Message::KillSession("s1".into()),
        ];
        let mut wire = Vec::new();
        let mut sealer = Sealer::new(key.clone());
        for m in &msgs {
            sealer.seal_message(m, &mut wire);
        }
        let mut opener = Opener::new(key);
        let got: Vec<Message> = frames(&wire).into_iter().map(|f| Message::decode(opener.open(f).unwrap()).unwrap()).collect();
        assert_eq!(got, msgs);
    }

    #[test]
    fn forged_replayed_or_reordered_frames_are_refused() {
        let key = Key::from_bytes(b"session");
        let mut wire = Vec::new();
        let mut sealer = Sealer::new(key.clone());
        sealer.seal_message(&Message::KillSession("a".into()), &mut wire);
        sealer.seal_message(&Message::KillSession("b".into()), &mut wire);
        let f = frames(&wire);
        assert!(Opener::new(key.clone()).open(f[1].clone()).is_none(), "out of order");
        let mut o = Opener::new(key.clone());
        assert!(o.open(f[0].clone()).is_some());
        assert!(o.open(f[0].clone()).is_none(), "replayed");
        let mut altered = f[1].clone();
        altered[1] ^= 1;
        assert!(o.open(altered).is_none());
        assert!(Opener::new(Key::from_bytes(b"other")).open(f[0].clone()).is_none());
        assert!(Opener::frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_none());
        assert!(Message::decode(Bytes::from_static(&[EVENTS, 0, 0, 0, 2, 0, 0, 0, 9])).is_none(), "truncated batch");
    }

    #[test]
    fn handshake_names_the_target_and_needs_the_cookie() {
        let key = Key::derive("cookie", "peer");
        let (ns, nc) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        assert_eq!(read_server_hello(&server_hello(&ns).try_into().unwrap()), Some(ns));
        let hello = client_hello(&key, &ns, &nc, "rig@b");
        let (nonce, len) = read_client_head(hello[..CLIENT_HEAD].try_into().unwrap()).unwrap();
        assert_eq!((nonce, len), (nc, 5));
        let tail = &hello[CLIENT_HEAD..];
        assert_eq!(verify_client_tail(&key, &ns, &nc, tail).as_deref(), Some("rig@b"));
        assert_eq!(verify_client_tail(&Key::derive("wrong", "peer"), &ns, &nc, tail), None);
        assert_eq!(verify_client_tail(&key, &[9; NONCE_LEN], &nc, tail), None, "another server's challenge");
    }
}
