//! CloudEvents 0.1, 0.2, 0.3 and 1.0: recognised, validated and kept as the
//! exact JSON text that clients receive, next to the parsed value used for
//! matching.
//!
//! The version is detected from `specversion` (`1.0`, `0.3`, `0.2`), else from
//! 0.1's `cloudEventsVersion`. 1.0 and 0.3 require non-empty `type`, `id` and
//! `source`; 0.3's optional `datacontenttype`, `datacontentencoding`,
//! `schemaurl`, `subject` and `time` must be non-empty strings when present,
//! `datacontentencoding` one of RFC 2045's encodings (and then `data` a
//! string). 0.2 and 0.1 keep RIG's looser checks.
//!
//! An event is parsed once at ingestion; everything downstream shares it.

use bytes::Bytes;
use serde_json::{Map, Value};

/// CloudEvents spec version of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    V01,
    V02,
    V03,
    V10,
}

/// A validated CloudEvent.
#[derive(Debug, Clone)]
pub struct CloudEvent {
    json: Bytes,
    value: Value,
    spec: SpecVersion,
    event_type: String,
    id: String,
}

/// Why a body is not a CloudEvent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error(":not_a_cloud_event")]
    NotACloudEvent,
    #[error("missing or empty attribute {0:?}")]
    MissingAttribute(&'static str),
    #[error("attribute {0:?} {1}")]
    InvalidAttribute(&'static str, &'static str),
    #[error("the ce-specversion header is {0:?}")]
    UnsupportedSpecVersion(String),
    #[error("the body is not valid UTF-8 text")]
    NotUtf8,
}

impl CloudEvent {
    /// Parses a structured-mode event (HTTP, NATS): the JSON text is kept as-is.
    pub fn parse(json: Bytes) -> Result<Self, EventError> {
        let value: Value = serde_json::from_slice(&json).map_err(|e| EventError::Json(e.to_string()))?;
        Self::validated(json, value)
    }

    /// Builds an event from a JSON value; its serialisation becomes the text clients get.
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let json = Bytes::from(serde_json::to_vec(&value).expect("a Value always serialises"));
        Self::validated(json, value)
    }

    /// Builds a binary-mode event: `attributes` are the `ce-*` headers without
    /// their prefix (lower-case names), `content_type` the body's media type.
    pub fn from_binary<'a>(
        attributes: impl IntoIterator<Item = (&'a str, &'a str)>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Self, EventError> {
        let mut map = Map::new();
        for (name, raw) in attributes {
            let value = if is_standard_attribute(name) {
                Value::String(raw.to_string())
            } else {
                serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
            };
            map.insert(name.to_string(), value);
        }
        let spec = match map.get("specversion").and_then(Value::as_str) {
            Some("1.0") => SpecVersion::V10,
            Some("0.3") => SpecVersion::V03,
            Some("0.2") => SpecVersion::V02,
            other => return Err(EventError::UnsupportedSpecVersion(other.unwrap_or("").to_string())),
        };
        let ct_attr = if spec == SpecVersion::V02 { "contenttype" } else { "datacontenttype" };
        if is_json_media_type(content_type) {
            if !body.is_empty() {
                let data = serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
                map.insert("data".into(), data);
            }
            map.remove(ct_attr);
        } else {
            if let Some(ct) = content_type {
                map.insert(ct_attr.into(), Value::String(ct.to_string()));
            }
            let text = std::str::from_utf8(body).map_err(|_| EventError::NotUtf8)?;
            map.insert("data".into(), Value::String(text.to_string()));
        }
        Self::from_value(Value::Object(map))
    }

    fn validated(json: Bytes, value: Value) -> Result<Self, EventError> {
        let obj = value.as_object().ok_or(EventError::NotACloudEvent)?;
        let (spec, type_key, id_key) = match (obj.get("specversion"), obj.get("cloudEventsVersion")) {
            (Some(Value::String(v)), _) if v == "0.2" => (SpecVersion::V02, "type", "id"),
            (Some(Value::String(v)), _) if v == "1.0" => (SpecVersion::V10, "type", "id"),
            (Some(Value::String(v)), _) if v == "0.3" => (SpecVersion::V03, "type", "id"),
            (_, Some(Value::String(v))) if v == "0.1" => (SpecVersion::V01, "eventType", "eventID"),
            _ => return Err(EventError::NotACloudEvent),
        };
        let event_type = scalar_text(obj.get(type_key)).ok_or(EventError::MissingAttribute(type_key))?;
        let id = scalar_text(obj.get(id_key)).ok_or(EventError::MissingAttribute(id_key))?;
        if matches!(spec, SpecVersion::V10 | SpecVersion::V03) {
            for attr in ["type", "id", "source"] {
                if obj.get(attr).and_then(Value::as_str).is_none_or(str::is_empty) {
                    return Err(EventError::MissingAttribute(attr));
                }
            }
        }
        if spec == SpecVersion::V03 {
            check_v03(obj)?;
        }
        Ok(CloudEvent { json, value, spec, event_type, id })
    }

    /// The JSON text delivered to clients.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The parsed event, for field extraction.
    pub fn value(&self) -> &Value {
        &self.value
    }

    pub fn spec(&self) -> SpecVersion {
        self.spec
    }

    /// `type` (0.2, 1.0) or `eventType` (0.1): what subscriptions are keyed by.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// `id` (0.2, 1.0) or `eventID` (0.1).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// 0.3's rules for its optional attributes (see the module docs).
fn check_v03(obj: &Map<String, Value>) -> Result<(), EventError> {
    for attr in ["datacontenttype", "datacontentencoding", "schemaurl", "subject", "time"] {
        match obj.get(attr) {
            None => {}
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => return Err(EventError::InvalidAttribute(attr, "must be a non-empty string")),
        }
    }
    if let Some(encoding) = obj.get("datacontentencoding").and_then(Value::as_str) {
        const RFC_2045: [&str; 5] = ["7bit", "8bit", "binary", "quoted-printable", "base64"];
        if !RFC_2045.iter().any(|e| e.eq_ignore_ascii_case(encoding)) {
            return Err(EventError::InvalidAttribute("datacontentencoding", "must be an RFC 2045 encoding such as base64"));
        }
        if obj.get("data").is_some_and(|d| !d.is_string()) {
            return Err(EventError::InvalidAttribute("data", "must be a string when datacontentencoding is set"));
        }
    }
    Ok(())
}

/// Attributes that binary mode keeps as plain strings (others are JSON-decoded if possible).
fn is_standard_attribute(name: &str) -> bool {
    matches!(
        name,
        "specversion"
            | "type"
            | "source"
            | "id"
            | "time"
            | "schemaurl"
            | "dataschema"
            | "subject"
            | "datacontenttype"
            | "datacontentencoding"
    )
}

/// True for `application/json` with or without parameters.
pub fn is_json_media_type(content_type: Option<&str>) -> bool {
    content_type.map(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json")).unwrap_or(false)
}

fn scalar_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<CloudEvent, EventError> {
        CloudEvent::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn recognises_each_version_and_keeps_text_verbatim() {
        let text = "{ \"specversion\":\"0.2\", \"type\":\"t\", \"id\":\"1\", \"extra\": {\"k\": [1]} }";
        let e = parse(text).unwrap();
        assert_eq!(e.json().as_ref(), text.as_bytes());
        assert_eq!((e.event_type(), e.id(), e.spec()), ("t", "1", SpecVersion::V02));
        let e = parse(r#"{"cloudEventsVersion":"0.1","eventType":"x","eventID":"9","source":"s"}"#).unwrap();
        assert_eq!((e.event_type(), e.id(), e.spec()), ("x", "9", SpecVersion::V01));
        let e = parse(r#"{"specversion":"1.0","type":"y","id":"2","source":"s"}"#).unwrap();
        assert_eq!(e.spec(), SpecVersion::V10);
    }

    #[test]
    fn rejects_what_rig_rejects() {
        assert_eq!(parse(r#"{"specversion":"0.2","type":"t"}"#).unwrap_err(), EventError::MissingAttribute("id"));
        assert_eq!(parse(r#"{"cloudEventsVersion":"0.1","eventType":"t"}"#).unwrap_err(), EventError::MissingAttribute("eventID"));
        assert_eq!(parse(r#"{"type":"t","id":"1"}"#).unwrap_err(), EventError::NotACloudEvent);
        assert_eq!(parse(r#"[1,2]"#).unwrap_err(), EventError::NotACloudEvent);
        assert_eq!(parse(r#"{"specversion":"1.0","type":"t","id":"1"}"#).unwrap_err(), EventError::MissingAttribute("source"));
        assert!(matches!(parse(r#"{"specversion":"#).unwrap_err(), EventError::Json(_)));
    }

    #[test]
    fn binary_mode_json_body_becomes_data_and_text_keeps_content_type() {
        let attrs = [("specversion", "0.2"), ("type", "greeting"), ("id", "1"), ("source", "s"), ("ext", "{\"a\":1}")];
        let e = CloudEvent::from_binary(attrs, Some("application/json; charset=utf-8"), br#"{"name":"alice"}"#).unwrap();
        assert_eq!(e.value()["data"]["name"], "alice");
        assert_eq!(e.value()["ext"]["a"], 1);
        assert!(e.value().get("contenttype").is_none());
        let e = CloudEvent::from_binary(attrs, Some("text/plain"), "»Alice«".as_bytes()).unwrap();
        assert_eq!(e.value()["data"], "»Alice«");
        assert_eq!(e.value()["contenttype"], "text/plain");
        let bad = [("specversion", "illegal"), ("type", "t"), ("id", "1")];
        assert!(matches!(CloudEvent::from_binary(bad, Some("text/plain"), b"x"), Err(EventError::UnsupportedSpecVersion(_))));
        assert!(matches!(CloudEvent::from_binary(attrs, Some("application/json"), b"{nope"), Err(EventError::Json(_))));
    }

    #[test]
    fn spec_0_3_is_recognised_and_checked_as_its_spec_says() {
        let text = r#"{"specversion":"0.3","type":"t","id":"1","source":"/s","schemaurl":"https://s/x.json","subject":"a","datacontenttype":"application/json","data":{"k":1}}"#;
        let e = parse(text).unwrap();
        assert_eq!((e.spec(), e.event_type(), e.json().as_ref()), (SpecVersion::V03, "t", text.as_bytes()));
        let b64 = r#"{"specversion":"0.3","type":"t","id":"1","source":"/s","datacontentencoding":"base64","data":"aGk="}"#;
        assert!(parse(b64).is_ok());
        assert_eq!(parse(r#"{"specversion":"0.3","type":"t","id":"1"}"#).unwrap_err(), EventError::MissingAttribute("source"));
        assert_eq!(
            parse(r#"{"specversion":"0.3","type":"t","id":"1","source":"s","subject":""}"#).unwrap_err(),
            EventError::InvalidAttribute("subject", "must be a non-empty string")
        );
        assert!(matches!(
            parse(r#"{"specversion":"0.3","type":"t","id":"1","source":"s","datacontentencoding":"rot13","data":"x"}"#),
            Err(EventError::InvalidAttribute("datacontentencoding", _))
        ));
        assert!(matches!(
            parse(r#"{"specversion":"0.3","type":"t","id":"1","source":"s","datacontentencoding":"base64","data":{"a":1}}"#),
            Err(EventError::InvalidAttribute("data", _))
        ));
        let attrs = [("specversion", "0.3"), ("type", "t"), ("id", "1"), ("source", "s")];
        let e = CloudEvent::from_binary(attrs, Some("text/plain"), b"hi").unwrap();
        assert_eq!((e.spec(), &e.value()["datacontenttype"]), (SpecVersion::V03, &Value::from("text/plain")));
    }

    #[test]
    fn binary_mode_1_0_uses_datacontenttype() {
        let attrs = [("specversion", "1.0"), ("type", "t"), ("id", "1"), ("source", "s")];
        let e = CloudEvent::from_binary(attrs, Some("text/plain"), b"hi").unwrap();
        assert_eq!(e.value()["datacontenttype"], "text/plain");
    }
}
