//! Phoenix socket messages in both serializers phoenix.js speaks, chosen by
//! its `vsn` parameter: 1.0.0 objects `{topic, event, payload, ref}` (phoenix.js
//! 1.2, RIG 1.x's) and 2.0.0 arrays `[join_ref, ref, topic, event, payload]`.

use serde_json::{json, Value};

/// Which serializer a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Vsn {
    #[default]
    V1,
    V2,
}

impl Vsn {
    /// `2.x` is the array format; anything else (or none, as phoenix.js 1.2
    /// sends) the object format.
    pub fn parse(vsn: Option<&str>) -> Vsn {
        match vsn {
            Some(v) if v.starts_with("2.") => Vsn::V2,
            _ => Vsn::V1,
        }
    }
}

/// One message either way. Refs are kept as the client sent them (phoenix.js
/// matches replies by string equality).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub join_ref: Value,
    pub msg_ref: Value,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

impl Message {
    pub fn decode(vsn: Vsn, text: &str) -> Option<Message> {
        let value: Value = serde_json::from_str(text).ok()?;
        let text_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        match (vsn, value) {
            (Vsn::V2, Value::Array(mut a)) if a.len() == 5 => {
                let payload = a.pop()?;
                let event = text_of(a.get(3))?;
                let topic = text_of(a.get(2))?;
                Some(Message { join_ref: a[0].take(), msg_ref: a[1].take(), topic, event, payload })
            }
            (Vsn::V1, Value::Object(mut m)) => Some(Message {
                topic: text_of(m.get("topic"))?,
                event: text_of(m.get("event"))?,
                payload: m.remove("payload").unwrap_or(Value::Null),
                msg_ref: m.remove("ref").unwrap_or(Value::Null),
                // 1.x clients have no join ref; phoenix.js 1.3+ still sends one in objects.
                join_ref: m.remove("join_ref").unwrap_or(Value::Null),
            }),
            _ => None,
        }
    }

    pub fn encode(&self, vsn: Vsn) -> String {
        let value = match vsn {
            Vsn::V2 => json!([self.join_ref, self.msg_ref, self.topic, self.event, self.payload]),
            Vsn::V1 if self.join_ref.is_null() => {
                json!({"topic": self.topic, "event": self.event, "payload": self.payload, "ref": self.msg_ref})
            }
            Vsn::V1 => {
                json!({"topic": self.topic, "event": self.event, "payload": self.payload, "ref": self.msg_ref, "join_ref": self.join_ref})
            }
        };
        value.to_string()
    }

    /// `phx_reply` to this message with `status` (`ok`/`error`) and `response`.
    pub fn reply(&self, status: &str, response: Value) -> Message {
        Message {
            join_ref: self.join_ref.clone(),
            msg_ref: self.msg_ref.clone(),
            topic: self.topic.clone(),
            event: "phx_reply".into(),
            payload: json!({"status": status, "response": response}),
        }
    }

    /// A server push on a joined topic (`presence_state`, `phx_close`, ...).
    pub fn push(join_ref: &Value, topic: &str, event: &str, payload: Value) -> Message {
        Message { join_ref: join_ref.clone(), msg_ref: Value::Null, topic: topic.into(), event: event.into(), payload }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_serializers_round_trip() {
        let m = Message::decode(Vsn::V2, r#"["1","2","user:a","phx_join",{}]"#).unwrap();
        assert_eq!((m.topic.as_str(), m.event.as_str(), &m.join_ref), ("user:a", "phx_join", &json!("1")));
        assert_eq!(m.reply("ok", json!({})).encode(Vsn::V2), r#"["1","2","user:a","phx_reply",{"response":{},"status":"ok"}]"#);
        let m = Message::decode(Vsn::V1, r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}"#).unwrap();
        let r: Value = serde_json::from_str(&m.reply("ok", json!({})).encode(Vsn::V1)).unwrap();
        assert_eq!(r, json!({"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"7"}));
        assert!(Message::decode(Vsn::V2, r#"{"topic":"x"}"#).is_none());
        assert_eq!(Vsn::parse(Some("2.0.0")), Vsn::V2);
        assert_eq!(Vsn::parse(None), Vsn::V1);
    }
}
