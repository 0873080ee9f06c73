//! An event encoded once for every transport, and the events RIG itself emits.

use std::time::{Instant, SystemTime};

use axum::extract::ws::Utf8Bytes;
use bytes::{BufMut, Bytes, BytesMut};
use rig_core::CloudEvent;
use serde_json::{json, Map, Value};

use crate::support::{
    ids::uuid_v4,
    time::{rfc3339_micros, Utc},
};

/// One event as every transport writes it; shared by all recipients via `Arc`.
#[derive(Debug)]
pub struct Frame {
    /// Event id, for the long-polling "events since" cursor.
    pub id: Box<str>,
    /// The event JSON text (long-polling bodies); a slice of `ws_frame`.
    pub json: Bytes,
    /// `event:`/`data:` lines and the blank line (SSE); a slice of `sse_chunk`.
    pub sse: Bytes,
    /// `sse` as one HTTP/1.1 chunk (size line, data, CRLF): what a taken-over
    /// SSE connection writes, the same bytes for every recipient.
    pub sse_chunk: Bytes,
    /// The event JSON as a WebSocket text payload; a slice of `ws_frame`.
    pub ws: Utf8Bytes,
    /// `ws` as a complete unmasked WebSocket text frame (taken-over connections).
    pub ws_frame: Bytes,
    /// A Phoenix channel message's frames (`hub::channel`); `None` for other events.
    pub phoenix: Option<Box<super::channel::PhoenixFrames>>,
    /// When a published event was encoded (the delivery-latency clock starts);
    /// `None` for RIG's own events.
    pub published: Option<Instant>,
}

impl Frame {
    /// Encodes a validated event; its SSE frame carries `id: <event id>` so a
    /// browser's `EventSource` hands it back as `Last-Event-ID` on reconnect.
    pub fn from_event(event: &CloudEvent) -> Frame {
        let phoenix = super::channel::PhoenixFrames::of(event).map(Box::new);
        Frame { published: Some(Instant::now()), phoenix, ..Frame::encode(event.id(), event.event_type(), event.json(), Some(event.id())) }
    }

    /// Never keeps `json` itself: a parsed event's bytes are often a slice of
    /// a much larger buffer (hyper's read buffer, a broker client's), and a
    /// frame lives on in the resume window and long-polling buffers, where a
    /// few hundred bytes of event would otherwise pin kilobytes each.
    fn encode(id: &str, event_type: &str, json: &[u8], sse_id: Option<&str>) -> Frame {
        let (sse_chunk, sse) = sse_chunk(event_type, sse_id, json);
        let ws_frame = ws_text_frame(json);
        // The JSON is kept once, inside the WebSocket frame: two allocations per event, not three.
        let json = ws_frame.slice(ws_frame.len() - json.len()..);
        let ws = Utf8Bytes::try_from(json.clone()).expect("event JSON was parsed from UTF-8 or serialised by us");
        Frame { id: id.into(), sse, sse_chunk, json, ws, ws_frame, phoenix: None, published: None }
    }

    /// Bytes kept alive by this frame (resume window accounting).
    pub fn size(&self) -> usize {
        self.sse_chunk.len() + self.ws_frame.len() + self.phoenix.as_ref().map_or(0, |p| p.size())
    }

    /// A RIG-generated CloudEvent 0.2 (`rig.connection.create`, ...); `data`
    /// is left out entirely when `None`, as for `rig.session_killed`.
    pub fn system(event_type: &str, data: Option<Value>) -> Frame {
        Frame::system_with_cursor(event_type, data, None)
    }

    /// A RIG event whose SSE frame sets the client's resume cursor to `cursor`.
    pub fn system_with_cursor(event_type: &str, data: Option<Value>, cursor: Option<&str>) -> Frame {
        let id = uuid_v4();
        let mut m = Map::new();
        if let Some(data) = data {
            m.insert("data".into(), data);
        }
        m.insert("id".into(), json!(id));
        m.insert("source".into(), json!("rig"));
        m.insert("specversion".into(), json!("0.2"));
        m.insert("time".into(), json!(rfc3339_micros(SystemTime::now(), Utc::Offset)));
        m.insert("type".into(), json!(event_type));
        // serde_json's map is ordered by key, which is RIG's (alphabetical) order.
        let json = serde_json::to_vec(&Value::Object(m)).expect("a Value always serialises");
        Frame::encode(&id, event_type, &json, cursor)
    }
}

/// The SSE frame wrapped in an HTTP/1.1 chunk, and the frame alone (a slice of it).
fn sse_chunk(event_type: &str, id: Option<&str>, json: &[u8]) -> (Bytes, Bytes) {
    let frame = sse_frame(event_type, id, json);
    let size = format!("{:x}\r\n", frame.len());
    let mut out = BytesMut::with_capacity(size.len() + frame.len() + 2);
    out.put_slice(size.as_bytes());
    out.put_slice(&frame);
    out.put_slice(b"\r\n");
    let chunk = out.freeze();
    let sse = chunk.slice(size.len()..chunk.len() - 2);
    (chunk, sse)
}

/// An unmasked, final WebSocket frame header for `len` payload bytes (RFC 6455 §5.2).
pub fn ws_header(opcode: u8, len: usize, out: &mut BytesMut) {
    out.put_u8(0x80 | opcode);
    match len {
        0..=125 => out.put_u8(len as u8),
        126..=0xffff => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
}

fn ws_text_frame(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    ws_header(0x1, payload.len(), &mut out);
    out.put_slice(payload);
    out.freeze()
}

/// SSE encoding: one `data:` line per line of the JSON text (which may contain
/// newlines when a publisher pretty-printed it). The event name is kept on one line.
fn sse_frame(event_type: &str, id: Option<&str>, json: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(json.len() + event_type.len() + id.map_or(0, str::len) + 32);
    out.put_slice(b"event: ");
    for b in event_type.bytes() {
        out.put_u8(if b == b'\n' || b == b'\r' { b' ' } else { b });
    }
    out.put_u8(b'\n');
    // An id with a line break or NUL cannot be an SSE id; such events get none.
    if let Some(id) = id.filter(|i| !i.is_empty() && !i.contains(['\n', '\r', '\0'])) {
        out.put_slice(b"id: ");
        out.put_slice(id.as_bytes());
        out.put_u8(b'\n');
    }
    let mut rest = json;
    loop {
        let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
        out.put_slice(b"data: ");
        out.put_slice(&rest[..end.unwrap_or(rest.len())]);
        out.put_u8(b'\n');
        match end {
            None => break,
            Some(i) => {
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
        }
    }
    out.put_u8(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_does_not_pin_the_buffer_its_event_was_parsed_from() {
        let mut read_buffer = BytesMut::with_capacity(64 * 1024);
        read_buffer.put_slice(br#"{"specversion":"1.0","type":"t","id":"x","source":"s"}"#);
        let event = CloudEvent::parse(read_buffer.freeze()).unwrap();
        let frame = Frame::from_event(&event);
        assert_eq!(frame.json, event.json());
        assert_ne!(frame.json.as_ptr(), event.json().as_ptr(), "the frame has its own exact-size copy");
    }

    #[test]
    fn sse_splits_lines_and_ends_with_blank_line() {
        let f = sse_frame("greeting", None, b"{\n\"a\": 1\r\n}");
        assert_eq!(&f[..], b"event: greeting\ndata: {\ndata: \"a\": 1\ndata: }\n\n");
        let f = sse_frame("greeting", Some("e-1"), b"{}");
        assert_eq!(&f[..], b"event: greeting\nid: e-1\ndata: {}\n\n");
        assert_eq!(&sse_frame("t", Some("bad\nid"), b"{}")[..], b"event: t\ndata: {}\n\n");
    }

    #[test]
    fn wire_forms_wrap_the_same_bytes() {
        let f = Frame::system("t", None);
        let chunk = &f.sse_chunk[..];
        let size = format!("{:x}\r\n", f.sse.len());
        assert!(chunk.starts_with(size.as_bytes()) && chunk.ends_with(b"\n\n\r\n"));
        assert_eq!(&chunk[size.len()..chunk.len() - 2], &f.sse[..]);
        assert_eq!(f.ws_frame[0], 0x81);
        assert_eq!(&f.ws_frame[f.ws_frame.len() - f.json.len()..], &f.json[..]);
        let mut h = BytesMut::new();
        ws_header(0x1, 126, &mut h);
        assert_eq!(&h[..], &[0x81, 126, 0, 126]);
        h.clear();
        ws_header(0x2, 70_000, &mut h);
        assert_eq!(&h[..], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn system_events_have_rig_shape_and_key_order() {
        let f = Frame::system("rig.connection.create", Some(json!({"connection_token": "t"})));
        let text = std::str::from_utf8(&f.json).unwrap();
        assert!(text.starts_with(r#"{"data":{"connection_token":"t"},"id":""#), "{text}");
        assert!(text.contains(r#""source":"rig","specversion":"0.2","time":""#));
        assert!(text.ends_with(r#","type":"rig.connection.create"}"#));
        let killed = Frame::system("rig.session_killed", None);
        assert!(!std::str::from_utf8(&killed.json).unwrap().contains("\"data\""));
    }
}
