//! RIG 1.x's Kafka-to-user path (`Rig.Kafka.MessageHandler`): a message that
//! is not a CloudEvent but a JSON object whose `KAFKA_USER_FIELD` names a user
//! is pushed, as it is, as event `message` to Phoenix channel `user:<name>`.
//! It becomes a channel event (`hub::channel`) and goes through the one
//! dispatcher, so it reaches that channel's members on every node once.

use rig_core::CloudEvent;
use serde_json::Value;

use crate::hub::channel;

/// The channel event for a plain JSON user message, or `None` when `payload`
/// is not one (or the path is off: `user_field` empty).
pub fn to_event(payload: &[u8], user_field: &str) -> Option<CloudEvent> {
    if user_field.is_empty() {
        return None;
    }
    let value: Value = serde_json::from_slice(payload).ok()?;
    let pointer = crate::auth::privilege::as_pointer(user_field);
    let user = match rig_core::pointer::resolve(&value, &pointer)? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    value.is_object().then(|| channel::broadcast_event(&format!("user:{user}"), "message", value, "/rig/kafka"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message_names_its_users_channel() {
        let e = to_event(br#"{"user":"alice","text":"hi"}"#, "user").unwrap();
        assert_eq!(e.event_type(), "rig.phoenix/user:alice");
        assert_eq!(e.value()["data"]["text"], "hi");
        assert!(to_event(br#"{"user":"alice"}"#, "").is_none());
        assert!(to_event(br#"{"name":"alice"}"#, "user").is_none());
        assert!(to_event(b"not json", "user").is_none());
        assert_eq!(to_event(br#"{"to":{"id":7}}"#, "/to/id").unwrap().event_type(), "rig.phoenix/user:7");
    }
}
