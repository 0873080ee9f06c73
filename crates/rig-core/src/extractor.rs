//! The `EXTRACTORS` configuration: which event fields can be constrained per
//! event type, where to find them in an event, and where in a JWT.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::{pointer, subscription::Subscription};

/// One extractable field of an event type.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub stable_field_index: u64,
    pub event_pointer: String,
    pub jwt_pointer: Option<String>,
}

/// Extractor config: event type → fields ordered by `stable_field_index`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtractorConfig {
    types: HashMap<String, Vec<FieldSpec>>,
}

/// Why an extractor config was refused; names the event type and field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractorError {
    #[error("extractor config is not valid JSON: {0}")]
    Json(String),
    #[error("extractor config must be a JSON object of event types")]
    NotAnObject,
    #[error("extractor config for event type {event_type:?}: {reason}")]
    Type { event_type: String, reason: String },
}

impl ExtractorConfig {
    /// Parses and validates the JSON text of an extractor config.
    pub fn parse(text: &str) -> Result<Self, ExtractorError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ExtractorError::Json(e.to_string()))?;
        Self::from_json(&value)
    }

    /// Validates an already decoded extractor config.
    pub fn from_json(value: &Value) -> Result<Self, ExtractorError> {
        let types = value.as_object().ok_or(ExtractorError::NotAnObject)?;
        let mut out = HashMap::new();
        for (event_type, fields) in types {
            let err = |reason: String| ExtractorError::Type { event_type: event_type.clone(), reason };
            let fields = fields.as_object().ok_or_else(|| err("expected an object of fields".into()))?;
            let mut specs: Vec<FieldSpec> =
                fields.iter().map(|(name, spec)| parse_field(name, spec).map_err(err)).collect::<Result<_, _>>()?;
            specs.sort_by_key(|s| s.stable_field_index);
            if let Some(w) = specs.windows(2).find(|w| w[0].stable_field_index == w[1].stable_field_index) {
                return Err(err(format!("stable_field_index {} is used twice", w[0].stable_field_index)));
            }
            out.insert(event_type.clone(), specs);
        }
        Ok(ExtractorConfig { types: out })
    }

    /// The fields configured for `event_type` (empty if none).
    pub fn fields(&self, event_type: &str) -> &[FieldSpec] {
        self.types.get(event_type).map(Vec::as_slice).unwrap_or(&[])
    }

    /// JWT-inferred subscriptions: per event type, one subscription with one
    /// conjunction of every field whose `jwt` pointer resolves in `claims`.
    pub fn infer_from_claims(&self, claims: &Value) -> Vec<Subscription> {
        let mut types: Vec<&String> = self.types.keys().collect();
        types.sort();
        types
            .into_iter()
            .filter_map(|event_type| {
                let mut conj = Map::new();
                for f in &self.types[event_type] {
                    let Some(p) = &f.jwt_pointer else { continue };
                    if let Some(v) = pointer::resolve(claims, p) {
                        conj.insert(f.name.clone(), v.clone());
                    }
                }
                (!conj.is_empty()).then(|| Subscription { event_type: event_type.clone(), one_of: vec![conj] })
            })
            .collect()
    }
}

fn parse_field(name: &str, spec: &Value) -> Result<FieldSpec, String> {
    let index = spec
        .get("stable_field_index")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("field {name:?} needs a non-negative integer stable_field_index"))?;
    let event_pointer = spec
        .get("event")
        .and_then(|e| e.get("json_pointer"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && pointer::is_valid(p))
        .ok_or_else(|| format!("field {name:?} needs event.json_pointer, a JSON Pointer starting with /"))?;
    let jwt_pointer = match spec.get("jwt") {
        None | Some(Value::Null) => None,
        Some(jwt) => Some(
            jwt.get("json_pointer")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty() && pointer::is_valid(p))
                .ok_or_else(|| format!("field {name:?}: jwt.json_pointer must be a JSON Pointer starting with /"))?
                .to_string(),
        ),
    };
    Ok(FieldSpec { name: name.into(), stable_field_index: index, event_pointer: event_pointer.into(), jwt_pointer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> ExtractorConfig {
        ExtractorConfig::from_json(&json!({
            "event_one": {"name": {"stable_field_index": 0, "event": {"json_pointer": "/data/name"}, "jwt": {"json_pointer": "/username"}}},
            "event_two": {
                "fullname": {"stable_field_index": 0, "event": {"json_pointer": "/data/fullname"}, "jwt": {"json_pointer": "/fullname"}},
                "name": {"stable_field_index": 1, "event": {"json_pointer": "/data/name"}, "jwt": {"json_pointer": "/username"}}
            },
            "event_three": {"age": {"stable_field_index": 0, "event": {"json_pointer": "/data/age"}}}
        }))
        .unwrap()
    }

    #[test]
    fn infers_one_conjunction_per_type_from_claims() {
        let subs = config().infer_from_claims(&json!({"username": "john", "fullname": "John Doe"}));
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].event_type, "event_one");
        assert_eq!(subs[0].one_of, vec![json!({"name": "john"}).as_object().unwrap().clone()]);
        assert_eq!(subs[1].one_of[0].len(), 2);
        assert!(config().infer_from_claims(&json!({"other": 1})).is_empty());
    }

    #[test]
    fn orders_fields_by_stable_index_and_rejects_bad_specs() {
        assert_eq!(config().fields("event_two")[1].name, "name");
        let dup = json!({"t": {"a": {"stable_field_index": 0, "event": {"json_pointer": "/a"}},
                               "b": {"stable_field_index": 0, "event": {"json_pointer": "/b"}}}});
        assert!(ExtractorConfig::from_json(&dup).is_err());
        let no_ptr = json!({"t": {"a": {"stable_field_index": 0}}});
        let err = ExtractorConfig::from_json(&no_ptr).unwrap_err().to_string();
        assert!(err.contains("\"t\"") && err.contains("\"a\""), "{err}");
        assert!(ExtractorConfig::parse("[1]").is_err());
        assert!(ExtractorConfig::parse("{").is_err());
    }
}
