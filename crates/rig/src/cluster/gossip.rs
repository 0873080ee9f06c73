//! chitchat's gossip over UDP with every datagram authenticated by `NODE_COOKIE`:
//! a datagram without a valid tag is dropped before chitchat sees it, so a
//! stranger can neither join nor inject state.
//!
//! chitchat keeps its wire encoding private, so this transport lets chitchat's
//! own UDP socket encode and decode, on loopback: outgoing envelopes are sent
//! by that "inner" socket to our "tap" socket, whose bytes we sign and send
//! from the public socket; verified incoming bytes go from the tap to the inner
//! socket, which decodes them. Two extra loopback syscalls per datagram, at a
//! few datagrams per second.
//!
//! Datagram: `tag(16) | time ms(8) | message id(4) | part(1) | parts(1) | chunk`.
//! The tag covers everything after it; the time bounds replays to a minute.
//! An encoded message too large for one datagram with our header is split.
//! With `RIG_CLUSTER_ENCRYPT` the chunk is `nonce(12) | ChaCha20-Poly1305(chunk)`
//! (random nonce: every node seals under the same key).

use std::{
    collections::HashMap,
    io,
    net::{Ipv4Addr, SocketAddr},
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::ChitchatEnvelope;
use tokio::net::UdpSocket;

use crate::support::throttle::Throttle;

use super::{
    key::{Cipher, Key, AEAD_NONCE_LEN, AEAD_TAG_LEN, TAG_LEN},
    stats::ClusterStats,
};

/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
const HEADER: usize = 8 + 4 + 1 + 1;
const MAX_CHUNK: usize = MAX_DATAGRAM - TAG_LEN - HEADER - AEAD_NONCE_LEN - AEAD_TAG_LEN;
/// Datagrams stamped further than this from our clock are refused (replays).
const MAX_SKEW_MS: u64 = 60_000;
/// Incomplete split messages are forgotten after this long.
const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Loopback hand-over between our sockets and chitchat's never takes this long.
const LOOPBACK_TIMEOUT: Duration = Duration::from_secs(1);

/// The chitchat [`Transport`] used by the cluster.
pub struct SignedUdp {
    pub keys: Arc<Keys>,
    pub stats: Arc<ClusterStats>,
}

/// What datagrams are signed (and, optionally, encrypted) with.
pub struct Keys {
    pub key: Key,
    pub cipher: Option<Cipher>,
}

impl Keys {
    pub fn new(cookie: &str, encrypt: bool) -> Keys {
        // Another tag key per mode: a node with the other setting refuses (and counts) every datagram.
        let purpose = if encrypt { "gossip-encrypted" } else { "gossip" };
        Keys { key: Key::derive(cookie, purpose), cipher: encrypt.then(|| Cipher::derive(cookie, "gossip")) }
    }
}

#[async_trait]
impl Transport for SignedUdp {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let public = UdpSocket::bind(listen_addr).await.map_err(|e| anyhow::anyhow!("cannot bind UDP {listen_addr}: {e}"))?;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let inner = UdpTransport.open(loopback).await?;
        let tap = UdpSocket::bind(loopback).await?;
        Ok(Box::new(SignedSocket {
            inner_addr: inner.local_addr()?,
            tap_addr: tap.local_addr()?,
            inner,
            tap,
            public,
            keys: self.keys.clone(),
            stats: self.stats.clone(),
            buf: vec![0; MAX_DATAGRAM + 1].into_boxed_slice(),
            next_id: rand_u32(),
            pending_from: None,
            partial: HashMap::new(),
            send_failures: Throttle::new(Duration::from_secs(10)),
        }))
    }
}

struct Partial {
    started: Instant,
    parts: Vec<Option<Vec<u8>>>,
}

struct SignedSocket {
    inner: Box<dyn Socket>,
    inner_addr: SocketAddr,
    tap: UdpSocket,
    tap_addr: SocketAddr,
    public: UdpSocket,
    keys: Arc<Keys>,
    stats: Arc<ClusterStats>,
    buf: Box<[u8]>,
    next_id: u32,
    /// Sender of the datagram handed to the inner socket and not yet read
    /// back from it (a `recv` can be cancelled between the two steps).
    pending_from: Option<SocketAddr>,
    partial: HashMap<(SocketAddr, u32), Partial>,
    send_failures: Throttle,
}

#[async_trait]
impl Socket for SignedSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.public.local_addr()?)
    }

    async fn send(&mut self, to: SocketAddr, envelope: ChitchatEnvelope) -> anyhow::Result<SendOutcome> {
        self.inner.send(self.tap_addr, envelope).await?;
        let n = tokio::time::timeout(LOOPBACK_TIMEOUT, async {
            loop {
                let (n, from) = self.tap.recv_from(&mut self.buf).await?;
                // Anything else on loopback writing to the tap is ignored.
                if from == self.inner_addr {
                    return Ok::<_, io::Error>(n);
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("gossip encoding hand-over timed out"))??;
        let message = self.buf[..n].to_vec();
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut sent = 0;
        for datagram in seal(&self.keys, now_ms(), id, &message) {
            match self.public.send_to(&datagram, to).await {
                Ok(n) => sent += n,
                // A peer cut off (a firewall, no route) fails every round:
                // chitchat would warn each time, so the failure is told here,
                // at a bounded rate, and the datagram counts as lost in transit.
                Err(error) => {
                    if let Some(held) = self.send_failures.allow() {
                        tracing::warn!(%to, %error, repeats = held, "Gossip datagrams cannot be sent to a peer (logged at most every 10 s).");
                    }
                    break;
                }
            }
        }
        Ok(SendOutcome { num_bytes_sent: sent })
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        loop {
            if let Some(from) = self.pending_from {
                match tokio::time::timeout(LOOPBACK_TIMEOUT, self.inner.recv()).await {
                    Ok(Ok(out)) if out.from_addr == self.tap_addr => {
                        self.pending_from = None;
                        return Ok(RecvOutcome { from_addr: from, envelope: out.envelope, num_bytes_received: out.num_bytes_received });
                    }
                    // Written to chitchat's loopback socket by someone else: ignored.
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => return Err(e),
                    // chitchat could not decode it (it logs why): nothing to return.
                    Err(_) => {
                        self.pending_from = None;
                        continue;
                    }
                }
            }
            // An error here would stop chitchat's gossip loop for good: ICMP
            // echoes of unreachable peers and transient shortages are skipped.
            let (n, from) = match self.public.recv_from(&mut self.buf).await {
                Ok(r) => r,
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "Gossip socket receive failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let datagram = self.buf[..n].to_vec();
            if let Some(message) = self.accept(&datagram, from) {
                if self.tap.try_send_to(&message, self.inner_addr).is_ok() {
                    self.pending_from = Some(from);
                }
            }
        }
    }
}

impl SignedSocket {
    /// The whole message once a datagram completes it; `None` for a part or a refusal.
    fn accept(&mut self, datagram: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
        let Some(opened) = open(&self.keys, now_ms(), datagram) else {
            let n = self.stats.gossip_rejected.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(%from, rejected = n, "Gossip datagram without a valid NODE_COOKIE tag dropped.");
            }
            return None;
        };
        if opened.parts == 1 {
            return Some(opened.chunk);
        }
        let now = Instant::now();
        self.partial.retain(|_, p| now.duration_since(p.started) < REASSEMBLY_TIMEOUT);
        if self.partial.len() >= 64 {
            return None;
        }
        let p =
            self.partial.entry((from, opened.id)).or_insert_with(|| Partial { started: now, parts: vec![None; usize::from(opened.parts)] });
        if p.parts.len() != usize::from(opened.parts) || usize::from(opened.part) >= p.parts.len() {
            return None;
        }
        p.parts[usize::from(opened.part)] = Some(opened.chunk);
        if p.parts.iter().any(Option::is_none) {
            return None;
        }
        let p = self.partial.remove(&(from, opened.id)).expect("present");
        Some(p.parts.into_iter().flatten().flatten().collect())
    }
}

/// One verified datagram.
struct Opened {
    id: u32,
    part: u8,
    parts: u8,
    chunk: Vec<u8>,
}

/// Splits and signs an encoded message into datagrams.
fn seal(keys: &Keys, now_ms: u64, id: u32, message: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = if message.is_empty() { vec![message] } else { message.chunks(MAX_CHUNK).collect() };
    let parts = chunks.len() as u8;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut header = [0u8; HEADER];
            header[..8].copy_from_slice(&now_ms.to_be_bytes());
            header[8..12].copy_from_slice(&id.to_be_bytes());
            header[12] = i as u8;
            header[13] = parts;
            let body = match &keys.cipher {
                Some(cipher) => {
                    let nonce = crate::support::ids::random_bytes::<AEAD_NONCE_LEN>();
                    let mut body = [&nonce[..], chunk].concat();
                    let tag = cipher.seal_detached(nonce, &header, &mut body[AEAD_NONCE_LEN..]);
                    body.extend_from_slice(&tag);
                    body
                }
                None => chunk.to_vec(),
            };
            let tag = keys.key.sign(&[&header, &body]);
            [&tag[..], &header, &body].concat()
        })
        .collect()
}

/// Verifies a datagram's tag and freshness.
fn open(keys: &Keys, now_ms: u64, datagram: &[u8]) -> Option<Opened> {
    if datagram.len() < TAG_LEN + HEADER {
        return None;
    }
    let (tag, rest) = datagram.split_at(TAG_LEN);
    if !keys.key.verify(&[rest], tag) {
        return None;
    }
    let stamp = u64::from_be_bytes(rest[..8].try_into().ok()?);
    if stamp.abs_diff(now_ms) > MAX_SKEW_MS {
        return None;
    }
    let (part, parts) = (rest[12], rest[13]);
    if parts == 0 || part >= parts {
        return None;
    }
    let (header, body) = rest.split_at(HEADER);
    let chunk = match &keys.cipher {
        Some(cipher) => {
            if body.len() < AEAD_NONCE_LEN {
                return None;
            }
            let (nonce, text) = body.split_at(AEAD_NONCE_LEN);
            let mut text = text.to_vec();
            let n = cipher.open(nonce.try_into().ok()?, header, &mut text)?;
            text.truncate(n);
            text
        }
        None => body.to_vec(),
    };
    Some(Opened { id: u32::from_be_bytes(rest[8..12].try_into().ok()?), part, parts, chunk })
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn rand_u32() -> u32 {
    u32::from_be_bytes(crate::support::ids::random_bytes::<4>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_datagrams_open_only_with_the_key_and_in_time() {
        let key = Keys::new("cookie", false);
        let d = seal(&key, 1_000_000, 7, b"hello");
        assert_eq!(d.len(), 1);
        let o = open(&key, 1_000_000, &d[0]).expect("opens");
        assert_eq!((o.id, o.part, o.parts, &o.chunk[..]), (7, 0, 1, &b"hello"[..]));
        assert!(open(&Keys::new("wrong", false), 1_000_000, &d[0]).is_none(), "wrong cookie");
        assert!(open(&key, 1_000_000 + MAX_SKEW_MS + 1, &d[0]).is_none(), "replayed later");
        let mut tampered = d[0].clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open(&key, 1_000_000, &tampered).is_none());
        assert!(open(&key, 1_000_000, b"short").is_none());
    }

    #[test]
    fn large_messages_are_split_within_the_udp_limit() {
        let key = Keys::new("cookie", false);
        let big = vec![42u8; MAX_DATAGRAM];
        let d = seal(&key, 5, 1, &big);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|x| x.len() <= MAX_DATAGRAM));
        let joined: Vec<u8> = d.iter().flat_map(|x| open(&key, 5, x).unwrap().chunk).collect();
        assert_eq!(joined, big);
    }

    #[test]
    fn encrypted_datagrams_hide_the_message_and_need_the_same_setting() {
        let keys = Keys::new("cookie", true);
        let d = seal(&keys, 9, 3, b"blacklist:session-42");
        assert!(!d[0].windows(7).any(|w| w == b"session"), "the text does not show");
        assert_eq!(open(&keys, 9, &d[0]).expect("opens").chunk, b"blacklist:session-42");
        assert!(open(&Keys::new("cookie", false), 9, &d[0]).is_none(), "a plaintext node refuses it");
        assert!(open(&Keys::new("cookie", true), 9, &seal(&Keys::new("cookie", false), 9, 3, b"plain")[0]).is_none());
        let big = vec![7u8; MAX_DATAGRAM];
        let parts = seal(&keys, 9, 4, &big);
        assert!(parts.iter().all(|x| x.len() <= MAX_DATAGRAM));
        let joined: Vec<u8> = parts.iter().flat_map(|x| open(&keys, 9, x).unwrap().chunk).collect();
        assert_eq!(joined, big);
    }
}
