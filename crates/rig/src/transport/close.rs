//! Why a stream ends and how each protocol says so: one table of close
//! reasons, WebSocket close codes and the RIG events SSE and long-polling get.

use serde_json::json;

use crate::hub::{CloseReason, Frame, Item};

/// Close code for every server-side close (RIG uses 1000 throughout).
pub const NORMAL: u16 = 1000;
/// The reason a client's data frame closes the connection with.
pub const TWO_WAY: &str = "This WebSocket endpoint cannot be used for two-way communication.";

/// WebSocket close codes and reasons for server-initiated closes.
pub fn close_code(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::SessionKilled => (NORMAL, "Session killed."),
        // 1013 "try again later": the client should reconnect and resume.
        CloseReason::SlowConsumer => (1013, "Slow consumer."),
        // 1001 "going away": reconnect to another node.
        CloseReason::Shutdown => (1001, "Server shutting down."),
    }
}

/// The RIG event a writer sends for an item that is not a published event
/// (`rig.events_missed`, or the close reason's event).
pub fn notice_frame(item: &Item) -> Option<Frame> {
    match item {
        Item::Frame(_) | Item::Heartbeat => None,
        Item::Missed(n) => Some(Frame::system("rig.events_missed", Some(json!({"reason": "outbox_full", "count": n})))),
        Item::Close(reason) => Some(reason.frame()),
    }
}
