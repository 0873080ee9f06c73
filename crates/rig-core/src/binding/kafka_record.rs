//! How RIG writes a CloudEvent to Kafka (proxy `kafka` target, Kafka request
//! log; rig-spec 4.5):
//! - **structured** (default): the value is the event's JSON text; the only
//!   header is `ce_contenttype` (0.1 events: `ce_contentType`) when the event
//!   carries that attribute;
//! - **Avro** (`KAFKA_SERIALIZER=avro`): binary mode, every attribute except
//!   `data` becomes a `ce_<name>` header (non-string values as JSON text), plus
//!   `content-type: avro/binary`; the value is `data` (an empty object when
//!   absent, as RIG) Avro-encoded in the wire format.

use serde_json::{Map, Value};

use super::avro::{AvroError, AvroSchema};

/// Headers and value of one Kafka message.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaRecord {
    pub headers: Vec<(String, Vec<u8>)>,
    pub value: Vec<u8>,
}

/// Structured mode: `json` is the event's JSON text (the message value).
pub fn structured(event: &Map<String, Value>, json: Vec<u8>) -> KafkaRecord {
    let headers = ["contenttype", "contentType"]
        .iter()
        .find_map(|name| event.get(*name).map(|v| (format!("ce_{name}"), header_value(v))))
        .into_iter()
        .collect();
    KafkaRecord { headers, value: json }
}

/// Binary mode with the `data` Avro-encoded by `schema` (registry id `id`).
pub fn avro_binary(event: &Map<String, Value>, schema: &AvroSchema, id: u32) -> Result<KafkaRecord, AvroError> {
    let empty = Value::Object(Map::new());
    let value = schema.encode(id, event.get("data").unwrap_or(&empty))?;
    let mut headers: Vec<(String, Vec<u8>)> =
        event.iter().filter(|(k, _)| k.as_str() != "data").map(|(k, v)| (format!("ce_{k}"), header_value(v))).collect();
    headers.push(("content-type".into(), b"avro/binary".to_vec()));
    Ok(KafkaRecord { headers, value })
}

fn header_value(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::binding::kafka::decode;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn structured_keeps_the_text_and_adds_only_the_content_type() {
        let e = obj(json!({"specversion": "0.2", "type": "t", "source": "s", "id": "1", "contenttype": "application/json"}));
        let r = structured(&e, b"{...}".to_vec());
        assert_eq!(r.value, b"{...}");
        assert_eq!(r.headers, [("ce_contenttype".to_string(), b"application/json".to_vec())]);
        let old = obj(json!({"cloudEventsVersion": "0.1", "contentType": "text/plain"}));
        assert_eq!(structured(&old, vec![]).headers[0].0, "ce_contentType");
        assert!(structured(&obj(json!({"specversion": "0.2"})), vec![]).headers.is_empty());
    }

    #[test]
    fn avro_binary_round_trips_through_the_decoder() {
        let schema = AvroSchema::parse(r#"{"type":"record","name":"D","fields":[{"name":"foo","type":"string"}]}"#).unwrap();
        let e = obj(json!({"specversion": "0.2", "type": "t", "source": "/s", "id": "1",
                           "rig": {"path": "/p", "port": 4000}, "data": {"foo": "bar"}}));
        let r = avro_binary(&e, &schema, 3).unwrap();
        assert!(r.headers.contains(&("content-type".into(), b"avro/binary".to_vec())));
        assert!(r.headers.contains(&("ce_rig".into(), br#"{"path":"/p","port":4000}"#.to_vec())));
        let headers: Vec<(&str, &[u8])> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        let decoded = decode(&headers, &r.value, &|id| (id == 3).then(|| schema.clone())).unwrap();
        let v: Value = serde_json::from_slice(decoded.json()).unwrap();
        assert_eq!(v["data"], json!({"foo": "bar"}));
        assert_eq!(v["rig"]["port"], 4000);
        let wrong = obj(json!({"specversion": "0.2", "data": {"foo": 1}}));
        assert!(avro_binary(&wrong, &schema, 3).is_err());
    }
}
