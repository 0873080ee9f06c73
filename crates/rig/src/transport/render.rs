//! One renderer of stream items for every writer that sends bytes (the
//! taken-over socket and hyper's SSE body): events as their pre-encoded wire
//! form, heartbeats, the missed-events notice and the close that ends a stream.

use bytes::Bytes;

use super::{
    close::{close_code, notice_frame},
    ws_frames,
};
use crate::{
    hub::{Frame, Item},
    session::guard::ConnGuard,
};

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

/// A frame's bytes for `kind`.
pub fn wire(frame: &Frame, kind: Kind) -> &Bytes {
    match kind {
        Kind::SseChunked => &frame.sse_chunk,
        Kind::SseRaw => &frame.sse,
        Kind::Ws => &frame.ws_frame,
    }
}

/// Appends `items` (drained) to `out` as bytes for `kind`, recording each
/// event's delivery latency on `guard`. `true` when a close item ended the
/// stream (nothing after it is rendered).
pub fn render(items: &mut Vec<Item>, kind: Kind, guard: &ConnGuard, out: &mut Vec<Bytes>) -> bool {
    for item in items.drain(..) {
        match item {
            Item::Frame(f) => {
                guard.handed_over([&*f]);
                out.push(wire(&f, kind).clone());
            }
            Item::Heartbeat => out.push(Bytes::from_static(match kind {
                Kind::SseChunked => HEARTBEAT_CHUNK,
                Kind::SseRaw => HEARTBEAT_RAW,
                Kind::Ws => PING,
            })),
            Item::Close(reason) if kind == Kind::Ws => {
                let (code, text) = close_code(reason);
                out.push(ws_frames::close(code, text));
                return true;
            }
            other => {
                let frame = notice_frame(&other).expect("missed and close items render");
                out.push(wire(&frame, kind).clone());
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
