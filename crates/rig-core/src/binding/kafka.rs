//! The CloudEvents Kafka protocol binding, as RIG reads it.
//!
//! The `content-type` header (name case-insensitive, value lower-cased; absent
//! if there is not exactly one) picks the mode:
//! - absent or `application/cloudevents[+json][;...]`: **structured**, the
//!   value is the whole event as JSON; a value in the Avro wire format is the
//!   whole event as an Avro record instead (also for `application/cloudevents+avro`);
//! - `application/cloudevents-batch...`: refused (batches are not part of the binding);
//! - `application/cloudevents+<other>`: refused (no decoder for that format);
//! - anything else, when the message has no `ce_` header: **structured** (as
//!   the official SDKs write it: the whole event as the value, `content-type`
//!   taken from its `datacontenttype`), as the HTTP binding treats
//!   `application/json` without `ce-specversion`;
//! - anything else: **binary**, attributes come from `ce_<name>` headers and the
//!   value is `data`: Avro-decoded for `avro/binary`, JSON-decoded (when it parses)
//!   for `application/json...`, else the text itself; the content type is kept
//!   as `datacontenttype`.
//!
//! Schemas are I/O, so [`decode`] asks for them through a lookup and reports
//! [`KafkaError::MissingSchema`] when the caller has yet to fetch one.

use serde_json::{Map, Value};

use super::{
    attributes::{normalize, AttributeError},
    avro::{split_wire_format, AvroError, AvroSchema},
};
use crate::{CloudEvent, EventError};

/// Why a Kafka message is not a deliverable CloudEvent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KafkaError {
    #[error("batch mode is not available for the Kafka binding")]
    Batch,
    #[error("no decoder for event format {0:?}")]
    NoDecoderForFormat(String),
    #[error("Avro schema {0} has not been fetched")]
    MissingSchema(u32),
    #[error("content type avro/binary but the value is not in the Avro wire format")]
    NotWireFormat,
    #[error(transparent)]
    Avro(#[from] AvroError),
    #[error("structured value is not a JSON object: {0}")]
    Json(String),
    #[error("header {0:?} or the value is not UTF-8 text")]
    NotUtf8(String),
    #[error(transparent)]
    Attributes(#[from] AttributeError),
    #[error(transparent)]
    Event(#[from] EventError),
}

/// Decodes one Kafka message. `headers` are in message order; `schema` looks
/// up Avro schemas already fetched from the registry.
pub fn decode(headers: &[(&str, &[u8])], value: &[u8], schema: &dyn Fn(u32) -> Option<AvroSchema>) -> Result<CloudEvent, KafkaError> {
    let attrs = match content_type(headers).as_deref() {
        None | Some("application/cloudevents") => structured(value, "json", schema)?,
        Some(ct) if ct.starts_with("application/cloudevents-batch") => return Err(KafkaError::Batch),
        Some(ct) if ct.starts_with("application/cloudevents+") => {
            let format = ct["application/cloudevents+".len()..].split(';').next().unwrap_or("").trim();
            structured(value, format, schema)?
        }
        Some(_) if !headers.iter().any(|(k, _)| k.starts_with("ce_")) => structured(value, "json", schema)?,
        Some(ct) => binary(headers, value, ct, schema)?,
    };
    let (_, event) = normalize(attrs)?;
    Ok(CloudEvent::from_value(event)?)
}

fn content_type(headers: &[(&str, &[u8])]) -> Option<String> {
    let mut values = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    match (values.next(), values.next()) {
        (Some((_, v)), None) => std::str::from_utf8(v).ok().map(|s| s.trim().to_ascii_lowercase()),
        _ => None,
    }
}

fn structured(value: &[u8], format: &str, schema: &dyn Fn(u32) -> Option<AvroSchema>) -> Result<Map<String, Value>, KafkaError> {
    if let Some((id, datum)) = split_wire_format(value) {
        return into_object(avro(id, datum, schema)?);
    }
    match format {
        "json" | "" => into_object(serde_json::from_slice(value).map_err(|e| KafkaError::Json(e.to_string()))?),
        "avro" => Err(KafkaError::NotWireFormat),
        other => Err(KafkaError::NoDecoderForFormat(other.to_string())),
    }
}

fn binary(
    headers: &[(&str, &[u8])],
    value: &[u8],
    content_type: &str,
    schema: &dyn Fn(u32) -> Option<AvroSchema>,
) -> Result<Map<String, Value>, KafkaError> {
    let mut attrs = Map::new();
    for (name, raw) in headers {
        if let Some(attr) = name.strip_prefix("ce_") {
            let text = std::str::from_utf8(raw).map_err(|_| KafkaError::NotUtf8((*name).to_string()))?;
            attrs.insert(attr.to_string(), Value::String(text.to_string()));
        }
    }
    let data = if content_type == "avro/binary" {
        let (id, datum) = split_wire_format(value).ok_or(KafkaError::NotWireFormat)?;
        avro(id, datum, schema)?
    } else {
        attrs.insert("datacontenttype".into(), Value::String(content_type.to_string()));
        let text = std::str::from_utf8(value).map_err(|_| KafkaError::NotUtf8("value".into()))?;
        let json = content_type.starts_with("application/json").then(|| serde_json::from_str(text).ok()).flatten();
        json.unwrap_or_else(|| Value::String(text.to_string()))
    };
    attrs.insert("data".into(), data);
    Ok(attrs)
}

fn avro(id: u32, datum: &[u8], schema: &dyn Fn(u32) -> Option<AvroSchema>) -> Result<Value, KafkaError> {
    Ok(schema(id).ok_or(KafkaError::MissingSchema(id))?.decode(id, datum)?)
}

fn into_object(v: Value) -> Result<Map<String, Value>, KafkaError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(KafkaError::Json(format!("expected an object, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{binding::avro::wire_format, SpecVersion};

    fn none(_: u32) -> Option<AvroSchema> {
        None
    }

    fn event_json(e: &CloudEvent) -> Value {
        serde_json::from_slice(e.json()).unwrap()
    }

    const EVENT: &str = r#"{"specversion":"0.2","type":"com.example","source":"/rig-test","id":"1","data":{"foo":"bar"}}"#;

    #[test]
    fn structured_json_with_or_without_content_type() {
        for headers in [vec![], vec![("content-type", &b"application/cloudevents+json; charset=UTF-8"[..])]] {
            let e = decode(&headers, EVENT.as_bytes(), &none).unwrap();
            assert_eq!(e.event_type(), "com.example");
            assert_eq!(event_json(&e)["data"], json!({"foo": "bar"}));
            assert_eq!(event_json(&e)["contenttype"], "application/json");
        }
    }

    #[test]
    fn structured_1_0_is_delivered() {
        let v = r#"{"specversion":"1.0","type":"t","source":"s","id":"1","data":{"a":1}}"#;
        let e = decode(&[], v.as_bytes(), &none).unwrap();
        assert_eq!(e.spec(), SpecVersion::V10);
    }

    #[test]
    fn structured_as_the_sdks_write_it_whatever_the_content_type() {
        // The Python SDK's to_structured: no ce_ headers, content-type from datacontenttype.
        for version in ["1.0", "0.3"] {
            let v = format!(
                r#"{{"specversion":"{version}","type":"t","source":"/s","id":"1","datacontenttype":"application/json","data":{{"a":1}}}}"#
            );
            let e = decode(&[("content-type", b"application/json")], v.as_bytes(), &none).unwrap();
            assert_eq!((e.event_type(), &event_json(&e)["data"]["a"]), ("t", &json!(1)), "{version}");
        }
        let e = decode(&[("content-type", b"text/plain")], EVENT.as_bytes(), &none).unwrap();
        assert_eq!(e.id(), "1");
    }

    #[test]
    fn binary_mode_from_ce_headers() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("content-type", b"application/json"),
            ("ce_specversion", b"0.2"),
            ("ce_type", b"greeting"),
            ("ce_source", b"/s"),
            ("ce_id", b"7"),
            ("ce_tenant", b"{\"x\":1}"),
        ];
        let e = decode(&headers, br#"{"name":"alice"}"#, &none).unwrap();
        let v = event_json(&e);
        assert_eq!(v["data"]["name"], "alice");
        assert_eq!(v["tenant"], json!({"x": 1}));
        assert_eq!(v["datacontenttype"], "application/json", "an extension under 0.2");
        // An unknown content type keeps the value as text (RIG's "weird type" test).
        let mut weird = headers.clone();
        weird[0] = ("content-type", b"some-weird-type");
        let v = event_json(&decode(&weird, br#"{"foo":"bar2"}"#, &none).unwrap());
        assert_eq!(v["data"], r#"{"foo":"bar2"}"#);
        assert_eq!(v["datacontenttype"], "some-weird-type");
    }

    #[test]
    fn refusals() {
        let ct = |c: &'static [u8]| vec![("content-type", c)];
        assert_eq!(
            decode(&ct(b"application/cloudevents+xml"), EVENT.as_bytes(), &none).unwrap_err(),
            KafkaError::NoDecoderForFormat("xml".into())
        );
        assert_eq!(decode(&ct(b"application/cloudevents-batch+json"), b"[]", &none).unwrap_err(), KafkaError::Batch);
        assert!(matches!(decode(&[], b"not json", &none).unwrap_err(), KafkaError::Json(_)));
        assert!(matches!(decode(&[], b"[1]", &none).unwrap_err(), KafkaError::Json(_)));
        let bad_ext = r#"{"specversion":"0.2","type":"t","source":"s","id":"1","Bad":"x"}"#;
        assert!(matches!(decode(&[], bad_ext.as_bytes(), &none).unwrap_err(), KafkaError::Attributes(_)));
        let avro_binary: Vec<(&str, &[u8])> = vec![("content-type", b"avro/binary"), ("ce_specversion", b"1.0")];
        assert_eq!(decode(&avro_binary, b"{}", &none).unwrap_err(), KafkaError::NotWireFormat);
        // Neither binary (no ce_ headers) nor a structured event: says why.
        let err = decode(&ct(b"application/json"), br#"{"user":"alice"}"#, &none).unwrap_err();
        assert!(matches!(err, KafkaError::Attributes(_)), "{err}");
    }

    #[test]
    fn avro_structured_and_binary() {
        let event_schema = AvroSchema::parse(
            r#"{"type":"record","name":"Ev","fields":[{"name":"specversion","type":"string"},{"name":"type","type":"string"},
                {"name":"source","type":"string"},{"name":"id","type":"string"}]}"#,
        )
        .unwrap();
        let data_schema = AvroSchema::parse(r#"{"type":"record","name":"D","fields":[{"name":"foo","type":"string"}]}"#).unwrap();
        let lookup = |id: u32| match id {
            1 => Some(event_schema.clone()),
            2 => Some(data_schema.clone()),
            _ => None,
        };
        let s = |t: &str| {
            let mut v = vec![(t.len() * 2) as u8];
            v.extend_from_slice(t.as_bytes());
            v
        };
        let full: Vec<u8> = [s("0.2"), s("t"), s("/s"), s("9")].concat();
        let e = decode(&[], &wire_format(1, &full), &lookup).unwrap();
        assert_eq!((e.event_type(), e.id()), ("t", "9"));
        assert_eq!(decode(&[], &wire_format(5, &full), &lookup).unwrap_err(), KafkaError::MissingSchema(5));

        let headers: Vec<(&str, &[u8])> =
            vec![("content-type", b"avro/binary"), ("ce_specversion", b"0.2"), ("ce_type", b"t"), ("ce_source", b"/s"), ("ce_id", b"1")];
        let e = decode(&headers, &wire_format(2, &s("bar")), &lookup).unwrap();
        let v = event_json(&e);
        assert_eq!(v["data"], json!({"foo": "bar"}));
        assert!(v.get("datacontenttype").is_none());
    }
}
