//! Byte-stream helpers shared by the clients: an HTTP/1.1 chunked-body
//! decoder and a scanner that finds the publish timestamps (`"lgts":<ns>`)
//! the publisher puts inside every event, across read boundaries.

/// The marker the publisher writes before the publish time (ns since the epoch).
pub const MARKER: &[u8] = b"\"lgts\":";

/// Finds every `"lgts":<digits>` in a byte stream fed in arbitrary pieces.
#[derive(Default)]
pub struct Scanner {
    pending: Vec<u8>,
}

impl Scanner {
    /// Feeds `data`; calls `found` with each complete timestamp.
    pub fn feed(&mut self, data: &[u8], mut found: impl FnMut(u64)) {
        let buf: &[u8] = if self.pending.is_empty() {
            data
        } else {
            self.pending.extend_from_slice(data);
            &self.pending
        };
        let mut pos = 0;
        let mut keep_from = buf.len().saturating_sub(MARKER.len() - 1);
        while let Some(off) = find(&buf[pos..], MARKER) {
            let start = pos + off;
            let digits = start + MARKER.len();
            let end = buf[digits..].iter().position(|b| !b.is_ascii_digit()).map(|n| digits + n);
            match end {
                Some(end) => {
                    if let Some(v) = parse_u64(&buf[digits..end]) {
                        found(v);
                    }
                    pos = end;
                    keep_from = keep_from.max(end);
                }
                None => {
                    // The number may go on in the next piece.
                    keep_from = start;
                    break;
                }
            }
        }
        let tail = buf[keep_from.min(buf.len())..].to_vec();
        self.pending = tail;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_u64(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 19 {
        return None;
    }
    Some(d.iter().fold(0u64, |a, b| a * 10 + u64::from(b - b'0')))
}

/// Decodes `Transfer-Encoding: chunked` incrementally.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
    line: Vec<u8>,
}

#[derive(Debug, Default, PartialEq)]
enum State {
    #[default]
    Size,
    Data(usize),
    DataEnd(u8),
    Done,
}

impl Chunked {
    /// Feeds raw bytes; `out` gets each piece of body. Err on a malformed size line.
    pub fn feed<'a>(&mut self, mut data: &'a [u8], mut out: impl FnMut(&'a [u8])) -> Result<(), String> {
        while !data.is_empty() {
            match self.state {
                State::Size => {
                    let nl = data.iter().position(|&b| b == b'\n');
                    let (part, rest) = match nl {
                        Some(i) => (&data[..i], &data[i + 1..]),
                        None => (data, &data[data.len()..]),
                    };
                    self.line.extend_from_slice(part);
                    if self.line.len() > 64 {
                        return Err("chunk size line too long".into());
                    }
                    data = rest;
                    if nl.is_some() {
                        let text = String::from_utf8_lossy(&self.line).into_owned();
                        self.line.clear();
                        let hex = text.trim().split(';').next().unwrap_or("").trim().to_owned();
                        if hex.is_empty() {
                            continue; // the CRLF after a chunk, if the server sent extra
                        }
                        let n = usize::from_str_radix(&hex, 16).map_err(|_| format!("bad chunk size {hex:?}"))?;
                        self.state = if n == 0 { State::Done } else { State::Data(n) };
                    }
                }
                State::Data(n) => {
                    let take = n.min(data.len());
                    out(&data[..take]);
                    data = &data[take..];
                    self.state = if take == n { State::DataEnd(2) } else { State::Data(n - take) };
                }
                State::DataEnd(k) => {
                    // Skip the CRLF after the data (tolerating a bare LF).
                    if data[0] == b'\r' || data[0] == b'\n' {
                        let last = data[0] == b'\n';
                        data = &data[1..];
                        self.state = if last || k == 1 { State::Size } else { State::DataEnd(k - 1) };
                    } else {
                        self.state = State::Size;
                    }
                }
                State::Done => return Ok(()),
            }
        }
        Ok(())
    }

    pub fn done(&self) -> bool {
        self.state == State::Done
    }
}

/// Splits a raw HTTP response head from its body: (status, chunked?, content-length, head length).
pub fn parse_head(buf: &[u8]) -> Option<Result<Head, String>> {
    let end = find(buf, b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = match status_line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()) {
        Some(s) => s,
        None => return Some(Err(format!("bad status line {status_line:?}"))),
    };
    let mut head = Head { status, chunked: false, content_length: None, len: end, close: false };
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                head.chunked = true;
            } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                head.close = true;
            } else if k == "content-length" {
                head.content_length = v.parse().ok();
            }
        }
    }
    Some(Ok(head))
}

#[derive(Debug, Clone, Copy)]
pub struct Head {
    pub status: u16,
    pub chunked: bool,
    pub content_length: Option<usize>,
    pub len: usize,
    /// `Connection: close`: the server will not take another request on it.
    pub close: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_pieces(pieces: &[&[u8]]) -> Vec<u64> {
        let mut s = Scanner::default();
        let mut got = vec![];
        for p in pieces {
            s.feed(p, |v| got.push(v));
        }
        got
    }

    #[test]
    fn finds_timestamps_in_one_piece() {
        let got = scan_pieces(&[b"data: {\"data\":{\"lgts\":123,\"x\":1}}\n\ndata: {\"lgts\":45}\n\n"]);
        assert_eq!(got, vec![123, 45]);
    }

    #[test]
    fn finds_timestamps_split_anywhere() {
        let text = b"event: bench\ndata: {\"lgts\":1700000000123456789,\"pad\":\"xx\"}\n\nevent: bench\ndata: {\"lgts\":7}\n\n";
        for cut in 0..text.len() {
            let got = scan_pieces(&[&text[..cut], &text[cut..]]);
            assert_eq!(got, vec![1700000000123456789, 7], "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(scan_pieces(&bytes), vec![1700000000123456789, 7]);
    }

    #[test]
    fn scanner_memory_stays_small() {
        let mut s = Scanner::default();
        for _ in 0..1000 {
            s.feed(b"no marker in here at all, just padding text", |_| panic!());
        }
        assert!(s.pending.len() < MARKER.len());
    }

    #[test]
    fn chunked_decoding_across_pieces() {
        let raw = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for cut in 0..raw.len() {
            let mut d = Chunked::default();
            let mut body = vec![];
            d.feed(&raw[..cut], |b| body.extend_from_slice(b)).unwrap();
            d.feed(&raw[cut..], |b| body.extend_from_slice(b)).unwrap();
            assert_eq!(body, b"hello, world", "cut at {cut}");
            assert!(d.done());
        }
    }

    #[test]
    fn bad_chunk_size_is_an_error() {
        let mut d = Chunked::default();
        assert!(d.feed(b"zz\r\n", |_| {}).is_err());
    }

    #[test]
    fn head_parsing() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n5\r\n";
        let h = parse_head(raw).unwrap().unwrap();
        assert_eq!((h.status, h.chunked, h.content_length), (200, true, None));
        assert_eq!(&raw[h.len..], b"5\r\n");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").is_none());
        let h = parse_head(b"HTTP/1.1 202 Accepted\r\ncontent-length: 3\r\n\r\nabc").unwrap().unwrap();
        assert_eq!((h.status, h.content_length), (202, Some(3)));
    }
}
