//! RIG 1.x Phoenix channels inside the one fan-out path: a channel topic
//! (`user:alice`) is the event type `rig.phoenix/user:alice`, so a join is an
//! ordinary subscription in the index, a message to a topic an ordinary event
//! through the dispatcher (and the cluster), and its Phoenix frames are
//! encoded once per event per serializer, like the SSE and WebSocket frames.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use rig_core::CloudEvent;
use serde_json::{json, Value};

use crate::support::ids::uuid_v4;

/// Event types of channel messages start with this; sessions refuse it in
/// 3.0 subscriptions, so only an authorized channel join can match it.
pub const TYPE_PREFIX: &str = "rig.phoenix/";
/// The CloudEvents extension naming the Phoenix event (default `message`).
const EVENT_EXTENSION: &str = "rigphxevent";

/// The event type carrying messages for channel `topic`.
pub fn event_type(topic: &str) -> String {
    format!("{TYPE_PREFIX}{topic}")
}

/// The channel topic of an event type, if it is a channel message.
pub fn topic_of(event_type: &str) -> Option<&str> {
    event_type.strip_prefix(TYPE_PREFIX)
}

/// The event that pushes `payload` as Phoenix event `event` to every member
/// of channel `topic`, on every node (RIG 1.x's `Endpoint.broadcast/3`).
pub fn broadcast_event(topic: &str, event: &str, payload: Value, source: &str) -> CloudEvent {
    let value = json!({
        "specversion": "1.0",
        "id": uuid_v4(),
        "source": source,
        "type": event_type(topic),
        EVENT_EXTENSION: event,
        "data": payload,
    });
    let text = serde_json::to_vec(&value).expect("a Value always serialises");
    CloudEvent::parse(Bytes::from(text)).expect("a broadcast is a valid CloudEvent")
}

/// A channel message as both Phoenix serializers write it (a broadcast: no
/// join reference, no message reference, so every member shares the bytes).
#[derive(Debug)]
pub struct PhoenixFrames {
    /// Serializer 1.0.0: `{"topic":..,"event":..,"payload":..,"ref":null}`.
    pub v1: Utf8Bytes,
    /// Serializer 2.0.0: `[null,null,topic,event,payload]`.
    pub v2: Utf8Bytes,
    /// RIG 1.x's SSE transport: `event: <event>` and the payload as `data:`.
    pub sse: Bytes,
}

impl PhoenixFrames {
    /// The frames of a channel message, or `None` for any other event.
    pub fn of(event: &CloudEvent) -> Option<PhoenixFrames> {
        let topic = topic_of(event.event_type())?;
        let value = event.value();
        let name = value.get(EVENT_EXTENSION).and_then(Value::as_str).unwrap_or("message");
        let payload = value.get("data").cloned().unwrap_or(Value::Null);
        let v1 = json!({"topic": topic, "event": name, "payload": payload, "ref": null});
        let v2 = json!([null, null, topic, name, payload]);
        let text = |v: &Value| Utf8Bytes::from(serde_json::to_string(v).expect("a Value always serialises"));
        // serde_json writes no line breaks, so the payload is one `data:` line.
        let sse = Bytes::from(format!("event: {}\ndata: {payload}\n\n", name.replace(['\n', '\r'], " ")));
        Some(PhoenixFrames { v1: text(&v1), v2: text(&v2), sse })
    }

    pub fn size(&self) -> usize {
        self.v1.len() + self.v2.len() + self.sse.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broadcast_is_encoded_for_both_serializers() {
        let e = broadcast_event("user:alice", "message", json!({"user": "alice", "n": 1}), "/rig/kafka");
        assert_eq!(e.event_type(), "rig.phoenix/user:alice");
        let f = PhoenixFrames::of(&e).unwrap();
        let v1: Value = serde_json::from_str(f.v1.as_str()).unwrap();
        assert_eq!(v1, json!({"topic": "user:alice", "event": "message", "payload": {"user": "alice", "n": 1}, "ref": null}));
        let v2: Value = serde_json::from_str(f.v2.as_str()).unwrap();
        assert_eq!(v2, json!([null, null, "user:alice", "message", {"user": "alice", "n": 1}]));
        assert_eq!(
            &f.sse[..],
            br#"event: message
data: {"n":1,"user":"alice"}

"#
        );
    }

    #[test]
    fn other_events_have_no_phoenix_frames() {
        let e = CloudEvent::parse(Bytes::from_static(br#"{"specversion":"1.0","type":"t","id":"x","source":"s"}"#)).unwrap();
        assert!(PhoenixFrames::of(&e).is_none());
    }
}
