//! What a client may send on our one-way WebSocket, as the taken-over path
//! reads it: frames parsed in place (RFC 6455 §5.2), close frames checked
//! (§7.4), pings answered with one pong for the newest (§5.5.3 allows it), and
//! control frames counted against a budget ([`Budget`], shared with the
//! tungstenite path) so a flood ends the connection instead of costing CPU.

use std::{ops::Range, time::Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::hub::frame::ws_header;

/// Close codes for a client that breaks the protocol, floods us, or sends too much (§7.4.1).
pub const PROTOCOL_ERROR: u16 = 1002;
pub const POLICY_VIOLATION: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const FLOODED: &str = "Too many control frames.";

/// Longest data frame answered with the one-way notice rather than 1009.
const MAX_CLIENT_MESSAGE: u64 = 64 * 1024;
/// The longest frame prefix that can still be incomplete: a control frame
/// (2 + 4 + 125 bytes); a data frame is judged by its header alone.
const MAX_PARTIAL: usize = 2 + 4 + 125;

/// The first frame in a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Incomplete,
    /// A protocol violation (§5.2, §5.5): unmasked, reserved bits or opcode,
    /// a fragmented or long control frame, a continuation of nothing.
    Bad,
    /// A data frame longer than [`MAX_CLIENT_MESSAGE`].
    TooBig,
    /// A text or binary frame (this endpoint is one-way).
    Data,
    /// A control frame of `len` bytes whose masked payload is at `payload`.
    Control {
        opcode: u8,
        payload: Range<usize>,
        len: usize,
    },
}

/// The first client frame in `buf` (client frames are masked, §5.3).
pub fn client_frame(buf: &[u8]) -> Parsed {
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
                127 if buf.len() >= 10 => buf[2..10].iter().fold(0u64, |n, b| n << 8 | u64::from(*b)),
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
    Parsed::Control { opcode, payload: 6..total, len: total }
}

/// The payload of a control frame parsed from `frame`, unmasked.
fn unmask(frame: &[u8], payload: Range<usize>) -> Vec<u8> {
    let mask = &frame[payload.start - 4..payload.start];
    frame[payload].iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m).collect()
}

/// Whether a client may send this close code (§7.4.1-2 and the IANA registry):
/// 0-999, 1004-1006, 1015 and 1016-2999 are reserved or never sent, 5000 and up undefined.
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The reply to a client's close payload (unmasked): its code back, or 1002
/// for a code it may not send or a reason that is not UTF-8.
fn close_reply(payload: &[u8]) -> Bytes {
    let Some((code, reason)) = payload.split_first_chunk::<2>() else { return control(0x8, &[]) };
    let code = u16::from_be_bytes(*code);
    if !valid_close_code(code) || std::str::from_utf8(reason).is_err() {
        return close(PROTOCOL_ERROR, "Protocol error.");
    }
    control(0x8, &code.to_be_bytes())
}

/// An unmasked control frame.
pub fn control(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(2 + payload.len());
    ws_header(opcode, payload.len(), &mut out);
    out.put_slice(payload);
    out.freeze()
}

/// A close frame with a status code and reason (at most 123 bytes, cut by the caller).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    control(0x8, &payload)
}

/// Control frames a client may send: a token bucket of `rate` per second that
/// holds at most one second's worth (a burst of `rate`). `rate` 0 is no limit.
#[derive(Debug)]
pub struct Budget {
    rate: u32,
    tokens: f32,
    last: Option<Instant>,
}

impl Budget {
    pub fn new(rate: u32) -> Self {
        Budget { rate, tokens: rate as f32, last: None }
    }

    /// Spends `n` control frames received at `now`; false when over budget.
    pub fn spend(&mut self, n: u32, now: Instant) -> bool {
        if self.rate == 0 || n == 0 {
            return true;
        }
        let rate = self.rate as f32;
        if let Some(last) = self.last {
            self.tokens = (self.tokens + now.saturating_duration_since(last).as_secs_f32() * rate).min(rate);
        }
        self.last = Some(now);
        self.tokens -= n as f32;
        self.tokens >= 0.0
    }
}

/// What the client's bytes ask for, once every complete frame in them is handled.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Nothing,
    /// Write this pong (for the newest ping), in order with the frames.
    Pong(Bytes),
    /// Write this close frame, then end.
    Close(Bytes),
    /// End without a word (the client's stream is broken).
    End,
}

/// The client side of one WebSocket: unparsed bytes and the control budget.
#[derive(Debug)]
pub struct ClientFrames {
    /// Bytes of a frame not complete yet; empty and unallocated nearly always.
    buf: Vec<u8>,
    budget: Budget,
}

impl ClientFrames {
    pub fn new(control_rate: u32) -> Self {
        ClientFrames { buf: Vec::new(), budget: Budget::new(control_rate) }
    }

    /// Handles every complete frame in what is buffered plus `bytes`, in one
    /// pass (an offset, one compaction at the end): RIG's WebSocket is one-way,
    /// so data frames close it, pongs are ignored and pings get a pong.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Reply {
        let owned;
        let buf: &[u8] = if self.buf.is_empty() {
            bytes
        } else {
            self.buf.extend_from_slice(bytes);
            owned = std::mem::take(&mut self.buf);
            &owned
        };
        let (mut at, mut controls, mut ping) = (0, 0u32, None);
        let end = loop {
            let rest = &buf[at..];
            match client_frame(rest) {
                Parsed::Incomplete if rest.len() > MAX_PARTIAL => break Some(Reply::End),
                Parsed::Incomplete => break None,
                Parsed::Bad => break Some(Reply::Close(close(PROTOCOL_ERROR, "Protocol error."))),
                Parsed::TooBig => break Some(Reply::Close(close(TOO_BIG, "Message too big."))),
                Parsed::Data => break Some(Reply::Close(close(super::close::NORMAL, super::close::TWO_WAY))),
                Parsed::Control { opcode, payload, len } => {
                    let frame = &rest[..len];
                    at += len;
                    controls += 1;
                    match opcode {
                        0x8 => break Some(Reply::Close(close_reply(&unmask(frame, payload)))),
                        0x9 => ping = Some((at - len, payload)),
                        _ => {} // a pong: ignored
                    }
                }
            }
        };
        if !self.budget.spend(controls, now) {
            return Reply::Close(close(POLICY_VIOLATION, FLOODED));
        }
        if let Some(end) = end {
            return end;
        }
        let reply = match ping {
            Some((start, payload)) => {
                let frame = &buf[start..];
                Reply::Pong(control(0xA, &unmask(frame, payload)))
            }
            None => Reply::Nothing,
        };
        // What is left is the start of one frame: keep only that.
        if at < buf.len() {
            self.buf = buf[at..].to_vec();
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason);
        p
    }

    #[test]
    fn client_frames_are_classified() {
        let ping = masked(0x9, b"hi");
        assert_eq!(client_frame(&ping[..3]), Parsed::Incomplete);
        assert_eq!(client_frame(&ping), Parsed::Control { opcode: 0x9, payload: 6..8, len: 8 });
        assert_eq!(unmask(&ping, 6..8), b"hi");
        assert_eq!(client_frame(&masked(0x1, b"x")), Parsed::Data);
        assert_eq!(client_frame(&[0x01, 0x81]), Parsed::Data, "first fragment of a text message");
        assert_eq!(client_frame(&[0x82, 0xFE, 0xFF]), Parsed::Incomplete);
        assert_eq!(client_frame(&[0x82, 0xFE, 0xFF, 0xFF]), Parsed::Data, "64 KiB - 1");
        assert_eq!(client_frame(&[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 1]), Parsed::TooBig);
        assert_eq!(client_frame(&masked(0x0, b"x")), Parsed::Bad, "continuation of nothing");
        assert_eq!(client_frame(&masked(0x8, b"x")), Parsed::Bad, "one-byte close payload");
        assert_eq!(client_frame(&[0x89, 0xFE, 0, 126]), Parsed::Bad, "control frame over 125 bytes");
        assert_eq!(client_frame(&[0x89, 0x00]), Parsed::Bad, "unmasked");
        assert_eq!(client_frame(&[0x09, 0x80, 0, 0, 0, 0]), Parsed::Bad, "fragmented ping");
        assert_eq!(client_frame(&[0x08, 0x80, 0, 0, 0, 0]), Parsed::Bad, "fragmented close");
        assert_eq!(client_frame(&[0xC9, 0x80, 0, 0, 0, 0]), Parsed::Bad, "reserved bit");
        assert_eq!(client_frame(&[0x83, 0x80]), Parsed::Bad, "reserved opcode");
        assert_eq!(client_frame(&[0x8B, 0x80]), Parsed::Bad, "reserved control opcode");
        let long = masked(0x9, &[7; 125]);
        assert_eq!(client_frame(&long), Parsed::Control { opcode: 0x9, payload: 6..131, len: 131 });
    }

    #[test]
    fn control_frames_are_encoded_unmasked() {
        assert_eq!(&control(0xA, b"hi")[..], &[0x8A, 2, b'h', b'i']);
        assert_eq!(&close(1000, "ok")[..], &[0x88, 4, 0x03, 0xe8, b'o', b'k']);
    }

    #[test]
    fn every_frame_of_a_read_is_handled_and_only_the_newest_ping_answered() {
        let mut c = ClientFrames::new(0);
        let mut bytes = Vec::new();
        for i in 0..100u8 {
            bytes.extend(masked(0x9, &[i; 4]));
        }
        bytes.extend(masked(0xA, b"pong"));
        bytes.extend(masked(0x9, b"last"));
        let now = Instant::now();
        assert_eq!(c.feed(&bytes, now), Reply::Pong(control(0xA, b"last")));
        assert!(c.buf.capacity() == 0, "nothing left over, nothing kept");
        // A frame split over reads, at every point.
        let ping = masked(0x9, &[9; 125]);
        for cut in 1..ping.len() {
            assert_eq!(c.feed(&ping[..cut], now), Reply::Nothing, "cut at {cut}");
            assert_eq!(c.feed(&ping[cut..], now), Reply::Pong(control(0xA, &[9; 125])));
            assert!(c.buf.is_empty());
        }
        // A complete ping and the start of the next one.
        let two = [masked(0x9, b"a"), masked(0x9, b"b")].concat();
        assert_eq!(c.feed(&two[..10], now), Reply::Pong(control(0xA, b"a")));
        assert_eq!(c.buf.len(), 3);
        assert_eq!(c.feed(&two[10..], now), Reply::Pong(control(0xA, b"b")));
    }

    #[test]
    fn data_and_broken_frames_end_the_connection() {
        let mut c = ClientFrames::new(0);
        let now = Instant::now();
        let bytes = [masked(0x9, b"x"), masked(0x1, b"hello")].concat();
        assert_eq!(c.feed(&bytes, now), Reply::Close(close(super::super::close::NORMAL, super::super::close::TWO_WAY)));
        let mut c = ClientFrames::new(0);
        assert_eq!(c.feed(&[0x09, 0x80, 1, 2, 3, 4], now), Reply::Close(close(PROTOCOL_ERROR, "Protocol error.")));
        let mut c = ClientFrames::new(0);
        assert_eq!(c.feed(&[0x82, 0xFF, 0, 0, 0, 0, 1, 0, 0, 0], now), Reply::Close(close(TOO_BIG, "Message too big.")));
    }

    #[test]
    fn close_frames_are_checked() {
        let now = Instant::now();
        let reply = |payload: &[u8]| ClientFrames::new(0).feed(&masked(0x8, payload), now);
        let protocol_error = Reply::Close(close(PROTOCOL_ERROR, "Protocol error."));
        assert_eq!(reply(b""), Reply::Close(control(0x8, &[])));
        for code in [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert_eq!(reply(&close_payload(code, b"bye")), Reply::Close(control(0x8, &code.to_be_bytes())), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert_eq!(reply(&close_payload(code, b"")), protocol_error, "{code}");
        }
        assert_eq!(reply(&close_payload(1000, &[0xff, 0xfe])), protocol_error, "not UTF-8");
        assert_eq!(reply(&close_payload(1000, "é".as_bytes())), Reply::Close(control(0x8, &1000u16.to_be_bytes())));
    }

    #[test]
    fn a_flood_is_closed_with_1008_and_the_budget_refills() {
        let start = Instant::now();
        let mut b = Budget::new(10);
        assert!(b.spend(10, start), "a burst of one second's worth");
        assert!(!b.spend(1, start));
        let mut b = Budget::new(10);
        for i in 0..100 {
            assert!(b.spend(1, start + Duration::from_millis(100 * i)), "10 per second, sustained");
        }
        assert!(Budget::new(0).spend(u32::MAX, start), "0 is no limit");

        let mut c = ClientFrames::new(10);
        let flood: Vec<u8> = (0..11).flat_map(|_| masked(0x9, b"ping")).collect();
        assert_eq!(c.feed(&flood, start), Reply::Close(close(POLICY_VIOLATION, FLOODED)));
        let mut c = ClientFrames::new(10);
        let pongs: Vec<u8> = (0..11).flat_map(|_| masked(0xA, b"")).collect();
        assert_eq!(c.feed(&pongs, start), Reply::Close(close(POLICY_VIOLATION, FLOODED)), "pongs count too");
    }
}
