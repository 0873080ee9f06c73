//! The peer-link protocol (no I/O here): a mutually authenticated
//! handshake, then length-prefixed frames, each tagged with a per-connection
//! key and its sequence number, so frames can be neither forged, altered,
//! replayed nor reordered by anyone without `NODE_COOKIE`; with
//! `RIG_CLUSTER_ENCRYPT` they are also encrypted.
//!
//! Handshake (the connecting node speaks second):
//! - server: `MAGIC | nonce_s(16)`
//! - client: `MAGIC | nonce_c(16) | mode(1) | names length(2) | target "\n" sender | tag`,
//!   the tag over `"hello" | nonce_s | nonce_c | mode | names` with the cookie key.
//!   `target` is the node it wants: the server refuses a name that is not its own
//!   (a link to a node that restarted must not reach its successor); `sender`
//!   lets the server tell which peers have a link to it. `mode` is 1 with encryption.
//! - server: `tag` over `"welcome" | nonce_s | nonce_c`: the server proves the
//!   cookie too, so nothing is sent to whatever merely answers at a peer's address.
//! - session key: HMAC(cookie key, `"session" | nonce_s | nonce_c`).
//!
//! Frame: `length(4) | body | tag(16)`, tag over `seq(8) | body`; body is a
//! kind byte then the payload. Encrypted: `length(4) | ChaCha20-Poly1305(body) | tag(16)`,
//! nonce = `seq`, key HMAC(cookie key, `"aead" | nonce_s | nonce_c`).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{
    key::{counter_nonce, Cipher, Key, Tag, TAG_LEN},
    replicated::Entry,
};

pub const MAGIC: &[u8; 8] = b"RIGPEER2";
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

/// The client's answer, naming the node it means to reach and itself.
pub fn client_hello(key: &Key, nonce_s: &[u8; NONCE_LEN], nonce_c: &[u8; NONCE_LEN], encrypt: bool, target: &str, sender: &str) -> Vec<u8> {
    let names = format!("{target}\n{sender}");
    let names = names.as_bytes();
    let mode = [u8::from(encrypt)];
    let tag = key.sign(&[b"hello", nonce_s, nonce_c, &mode, names]);
    let mut out = Vec::with_capacity(CLIENT_HEAD + names.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(nonce_c);
    out.push(mode[0]);
    out.put_u16(names.len() as u16);
    out.extend_from_slice(names);
    out.extend_from_slice(&tag);
    out
}

/// Length of the client hello's fixed head (magic, nonce, mode, names length).
pub const CLIENT_HEAD: usize = 8 + NONCE_LEN + 1 + 2;

/// The fixed head of a client hello.
pub struct ClientHead {
    pub nonce: [u8; NONCE_LEN],
    pub encrypt: bool,
    /// Bytes of names then tag that follow.
    pub tail_len: usize,
}

/// Parses the head of a client hello.
pub fn read_client_head(head: &[u8; CLIENT_HEAD]) -> Option<ClientHead> {
    if &head[..8] != MAGIC || head[8 + NONCE_LEN] > 1 {
        return None;
    }
    Some(ClientHead {
        nonce: head[8..8 + NONCE_LEN].try_into().expect("16 bytes"),
        encrypt: head[8 + NONCE_LEN] == 1,
        tail_len: u16::from_be_bytes([head[CLIENT_HEAD - 2], head[CLIENT_HEAD - 1]]) as usize + TAG_LEN,
    })
}

/// Checks the rest of a client hello (`names | tag`); on success the node it
/// wants and the node it is.
pub fn verify_client_tail(key: &Key, nonce_s: &[u8; NONCE_LEN], head: &ClientHead, tail: &[u8]) -> Option<(String, String)> {
    let (names, tag) = tail.split_at_checked(tail.len().checked_sub(TAG_LEN)?)?;
    if !key.verify(&[b"hello", nonce_s, &head.nonce, &[u8::from(head.encrypt)], names], tag) {
        return None;
    }
    let (target, sender) = std::str::from_utf8(names).ok()?.split_once('\n')?;
    Some((target.to_string(), sender.to_string()))
}

/// The server's proof that it holds the cookie too.
pub fn welcome(key: &Key, nonce_s: &[u8; NONCE_LEN], nonce_c: &[u8; NONCE_LEN]) -> Tag {
    key.sign(&[b"welcome", nonce_s, nonce_c])
}

/// Checks the server's proof.
pub fn verify_welcome(key: &Key, nonce_s: &[u8; NONCE_LEN], nonce_c: &[u8; NONCE_LEN], tag: &[u8]) -> bool {
    key.verify(&[b"welcome", nonce_s, nonce_c], tag)
}

/// How one connection's frames are protected.
pub enum Protection {
    /// Tagged with this key.
    Tagged(Key),
    /// Encrypted and authenticated with this cipher.
    Encrypted(Box<Cipher>),
}

/// The protection of this connection's frames.
pub fn session(key: &Key, nonce_s: &[u8; NONCE_LEN], nonce_c: &[u8; NONCE_LEN], encrypt: bool) -> Protection {
    if encrypt {
        Protection::Encrypted(Box::new(Cipher::from_bytes(&key.mac(&[b"aead", nonce_s, nonce_c]))))
    } else {
        Protection::Tagged(Key::from_bytes(&key.mac(&[b"session", nonce_s, nonce_c])))
    }
}

/// Protects outgoing frames.
pub struct Sealer {
    protection: Protection,
    seq: u64,
}

impl Sealer {
    pub fn new(protection: Protection) -> Self {
        Sealer { protection, seq: 0 }
    }

    /// Appends the frame for `body` to `out`.
    pub fn seal(&mut self, body: &[u8], out: &mut Vec<u8>) {
        out.put_u32((body.len() + TAG_LEN) as u32);
        match &self.protection {
            Protection::Tagged(key) => {
                let tag = key.sign(&[&self.seq.to_be_bytes(), body]);
                out.extend_from_slice(body);
                out.extend_from_slice(&tag);
            }
            Protection::Encrypted(cipher) => {
                let start = out.len();
                out.extend_from_slice(body);
                let tag = cipher.seal_detached(counter_nonce(self.seq), &[], &mut out[start..]);
                out.extend_from_slice(&tag);
            }
        }
        self.seq += 1;
    }

    /// Builds one frame holding `msg`, appended to `out`.
    pub fn seal_message(&mut self, msg: &Message, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        msg.encode(&mut body);
        self.seal(&body, out);
    }
}

/// Checks (and decrypts) incoming frames.
pub struct Opener {
    protection: Protection,
    seq: u64,
}

impl Opener {
    pub fn new(protection: Protection) -> Self {
        Opener { protection, seq: 0 }
    }

    /// Length of the frame whose 4-byte prefix is `prefix`, if acceptable.
    pub fn frame_len(prefix: [u8; 4]) -> Option<usize> {
        let n = u32::from_be_bytes(prefix) as usize;
        (TAG_LEN..=MAX_FRAME).contains(&n).then_some(n)
    }

    /// The body of a frame (`body | tag`), if it is right for the next sequence number.
    pub fn open(&mut self, mut frame: BytesMut) -> Option<Bytes> {
        match &self.protection {
            Protection::Tagged(key) => {
                let tag = frame.split_off(frame.len().checked_sub(TAG_LEN)?);
                if !key.verify(&[&self.seq.to_be_bytes(), &frame], &tag) {
                    return None;
                }
            }
            Protection::Encrypted(cipher) => {
                let n = cipher.open(counter_nonce(self.seq), &[], &mut frame)?;
                frame.truncate(n);
            }
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
        for encrypt in [false, true] {
            round_trip(encrypt);
        }
    }

    fn round_trip(encrypt: bool) {
        let key = Key::derive("cookie", "peer");
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
        let (ns, nc) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        let mut sealer = Sealer::new(session(&key, &ns, &nc, encrypt));
        for m in &msgs {
            sealer.seal_message(m, &mut wire);
        }
        assert_eq!(wire.windows(4).any(|w| w == b"\"x\":"), !encrypt, "encryption hides the content");
        let mut opener = Opener::new(session(&key, &ns, &nc, encrypt));
        let got: Vec<Message> = frames(&wire).into_iter().map(|f| Message::decode(opener.open(f).unwrap()).unwrap()).collect();
        assert_eq!(got, msgs);
        let mut other = Opener::new(session(&key, &ns, &nc, !encrypt));
        assert!(other.open(frames(&wire).remove(0)).is_none(), "the other mode cannot read it");
    }

    #[test]
    fn forged_replayed_or_reordered_frames_are_refused() {
        let key = Key::from_bytes(b"session");
        let p = || Protection::Tagged(key.clone());
        let mut wire = Vec::new();
        let mut sealer = Sealer::new(p());
        sealer.seal_message(&Message::KillSession("a".into()), &mut wire);
        sealer.seal_message(&Message::KillSession("b".into()), &mut wire);
        let f = frames(&wire);
        assert!(Opener::new(p()).open(f[1].clone()).is_none(), "out of order");
        let mut o = Opener::new(p());
        assert!(o.open(f[0].clone()).is_some());
        assert!(o.open(f[0].clone()).is_none(), "replayed");
        let mut altered = f[1].clone();
        altered[1] ^= 1;
        assert!(o.open(altered).is_none());
        assert!(Opener::new(Protection::Tagged(Key::from_bytes(b"other"))).open(f[0].clone()).is_none());
        assert!(Opener::frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_none());
        assert!(Message::decode(Bytes::from_static(&[EVENTS, 0, 0, 0, 2, 0, 0, 0, 9])).is_none(), "truncated batch");
    }

    #[test]
    fn handshake_names_both_nodes_and_both_prove_the_cookie() {
        let key = Key::derive("cookie", "peer");
        let (ns, nc) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        assert_eq!(read_server_hello(&server_hello(&ns).try_into().unwrap()), Some(ns));
        let hello = client_hello(&key, &ns, &nc, true, "rig@b", "rig@a");
        let head = read_client_head(hello[..CLIENT_HEAD].try_into().unwrap()).unwrap();
        assert_eq!((head.nonce, head.encrypt, head.tail_len), (nc, true, 11 + TAG_LEN));
        let tail = &hello[CLIENT_HEAD..];
        assert_eq!(verify_client_tail(&key, &ns, &head, tail), Some(("rig@b".into(), "rig@a".into())));
        assert_eq!(verify_client_tail(&Key::derive("wrong", "peer"), &ns, &head, tail), None);
        assert_eq!(verify_client_tail(&key, &[9; NONCE_LEN], &head, tail), None, "another server's challenge");
        let downgraded = ClientHead { encrypt: false, ..head };
        assert_eq!(verify_client_tail(&key, &ns, &downgraded, tail), None, "the mode is covered by the tag");
        let w = welcome(&key, &ns, &nc);
        assert!(verify_welcome(&key, &ns, &nc, &w));
        assert!(!verify_welcome(&key, &ns, &nc, &welcome(&Key::derive("wrong", "peer"), &ns, &nc)), "an impostor cannot welcome");
        assert!(!verify_welcome(&key, &ns, &[3; NONCE_LEN], &w), "a welcome for another hello");
    }
}
