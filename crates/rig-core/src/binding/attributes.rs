//! CloudEvents assembled from parts (Kafka headers + body, or a decoded Avro
//! record) are checked the way RIG's CloudEvents library checks them: try spec
//! 1.0, then 0.3, then 0.2, then 0.1; the first version whose rules hold wins.
//!
//! Rules per version: the version attribute has its exact value; type, source
//! and id are non-empty strings; optional attributes, when present, are not
//! empty; `data` is not `""`; every other attribute is an extension whose name
//! matches `^[a-z0-9]+$`, and extension strings holding JSON are decoded. A
//! missing content type defaults to `application/json` when there is data.
//!
//! The result is the JSON object clients receive: known attributes, `data`
//! and extensions flattened to the top level. Unlike RIG 3.0, `contenttype`
//! and `schemaurl` (0.1: `schemaURL`) are kept (quirk 12: a superset).

use serde_json::{Map, Value};

use crate::SpecVersion;

struct Rules {
    spec: SpecVersion,
    version: (&'static str, &'static str),
    /// type, source, id
    required: [&'static str; 3],
    optional: &'static [&'static str],
    content_type: &'static str,
}

const VERSIONS: [Rules; 4] = [
    Rules {
        spec: SpecVersion::V10,
        version: ("specversion", "1.0"),
        required: ["type", "source", "id"],
        optional: &["subject", "time", "datacontenttype", "dataschema"],
        content_type: "datacontenttype",
    },
    Rules {
        spec: SpecVersion::V03,
        version: ("specversion", "0.3"),
        required: ["type", "source", "id"],
        optional: &["subject", "time", "datacontenttype", "datacontentencoding", "schemaurl"],
        content_type: "datacontenttype",
    },
    Rules {
        spec: SpecVersion::V02,
        version: ("specversion", "0.2"),
        required: ["type", "source", "id"],
        optional: &["time", "contenttype", "schemaurl"],
        content_type: "contenttype",
    },
    Rules {
        spec: SpecVersion::V01,
        version: ("cloudEventsVersion", "0.1"),
        required: ["eventType", "source", "eventID"],
        optional: &["eventTime", "contentType", "schemaURL"],
        content_type: "contentType",
    },
];

/// No spec version accepted the attributes; one reason per version tried.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not a CloudEvent: {}", .reasons.join("; "))]
pub struct AttributeError {
    pub reasons: Vec<String>,
}

/// Checks `attrs` (context attributes plus `data`) against 1.0, 0.3, 0.2 and 0.1
/// in that order and returns the version and the event as clients get it.
pub fn normalize(attrs: Map<String, Value>) -> Result<(SpecVersion, Value), AttributeError> {
    let mut reasons = Vec::new();
    for rules in &VERSIONS {
        match apply(rules, &attrs) {
            Ok(v) => return Ok((rules.spec, v)),
            Err(reason) => reasons.push(format!("{}: {reason}", rules.version.1)),
        }
    }
    Err(AttributeError { reasons })
}

fn apply(rules: &Rules, attrs: &Map<String, Value>) -> Result<Value, String> {
    let (vkey, vval) = rules.version;
    match attrs.get(vkey) {
        Some(Value::String(v)) if v == vval => {}
        Some(other) => return Err(format!("unexpected {vkey} {other}")),
        None => return Err(format!("missing {vkey}")),
    }
    let mut out = Map::new();
    out.insert(vkey.into(), Value::String(vval.into()));
    for key in rules.required {
        match attrs.get(key) {
            Some(Value::String(s)) if !s.is_empty() => out.insert(key.into(), Value::String(s.clone())),
            _ => return Err(format!("missing {key}")),
        };
    }
    for key in rules.optional {
        match attrs.get(*key) {
            Some(Value::String(s)) if s.is_empty() => return Err(format!("{key} given but empty")),
            Some(Value::String(s)) => {
                out.insert((*key).into(), Value::String(s.clone()));
            }
            // RIG's library ignores optional attributes that are not strings.
            _ => {}
        }
    }
    match attrs.get("data") {
        Some(Value::String(s)) if s.is_empty() => return Err("data field given but empty".into()),
        Some(data) => {
            out.insert("data".into(), data.clone());
            out.entry(rules.content_type).or_insert_with(|| Value::String("application/json".into()));
        }
        None => {}
    }
    let known = |k: &str| k == vkey || k == "data" || rules.required.contains(&k) || rules.optional.contains(&k);
    let invalid: Vec<&str> = attrs.keys().map(String::as_str).filter(|k| !known(k) && !valid_extension_name(k)).collect();
    if !invalid.is_empty() {
        return Err(format!("invalid extension attributes: {invalid:?}"));
    }
    for (k, v) in attrs.iter().filter(|(k, _)| !known(k)) {
        out.insert(k.clone(), decode_extension(v));
    }
    Ok(Value::Object(out))
}

/// CloudEvents attribute naming: lower-case ASCII letters and digits only.
pub fn valid_extension_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn decode_extension(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn norm(v: Value) -> Result<(SpecVersion, Value), AttributeError> {
        normalize(v.as_object().unwrap().clone())
    }

    #[test]
    fn detects_each_version() {
        let (spec, v) = norm(json!({"specversion":"1.0","type":"t","source":"s","id":"1","data":{"a":1}})).unwrap();
        assert_eq!(spec, SpecVersion::V10);
        assert_eq!(v["datacontenttype"], "application/json");
        let (spec, v) = norm(json!({"specversion":"0.2","type":"t","source":"s","id":"1","schemaurl":"u"})).unwrap();
        assert_eq!(spec, SpecVersion::V02);
        assert_eq!(v["schemaurl"], "u", "kept, unlike RIG 3.0");
        assert!(v.get("contenttype").is_none(), "no data, no default content type");
        let (spec, v) = norm(json!({"cloudEventsVersion":"0.1","eventType":"t","source":"s","eventID":"1","data":"x"})).unwrap();
        assert_eq!(spec, SpecVersion::V01);
        assert_eq!(v["contentType"], "application/json");
    }

    #[test]
    fn extensions_are_flattened_and_json_decoded() {
        let (_, v) = norm(json!({"specversion":"0.2","type":"t","source":"s","id":"1","ext":"{\"k\":[1]}","n":"12","plain":"hi"})).unwrap();
        assert_eq!(v["ext"], json!({"k":[1]}));
        assert_eq!(v["n"], 12);
        assert_eq!(v["plain"], "hi");
    }

    #[test]
    fn rejects_what_the_library_rejects() {
        let bad_name = norm(json!({"specversion":"0.2","type":"t","source":"s","id":"1","Bad-Name":"x"})).unwrap_err();
        assert!(bad_name.to_string().contains("invalid extension attributes"), "{bad_name}");
        assert!(norm(json!({"specversion":"0.2","type":"","source":"s","id":"1"})).is_err());
        assert!(norm(json!({"specversion":"0.2","type":"t","source":"s","id":"1","data":""})).is_err());
        assert!(norm(json!({"specversion":"0.2","type":"t","source":"s","id":"1","time":""})).is_err());
        assert!(norm(json!({"specversion":"0.4","type":"t","source":"s","id":"1"})).is_err(), "no such version");
        assert!(norm(json!({"specversion":"0.3","type":"t","id":"1"})).is_err(), "0.3 needs a source");
        let (spec, v) = norm(json!({"specversion":"0.3","type":"t","source":"s","id":"1","schemaurl":"u","subject":"x"})).unwrap();
        assert_eq!((spec, &v["schemaurl"], &v["subject"]), (SpecVersion::V03, &json!("u"), &json!("x")));
        assert!(norm(json!({"specversion":"1.0","type":"t","id":"1"})).is_err(), "1.0 needs a source");
    }
}
