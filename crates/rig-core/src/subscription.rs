//! Subscriptions as frontends declare them, and their parser.
//!
//! Accepted spellings and error texts follow RIG 3.0 so 400 bodies read the same.

use serde_json::{Map, Value};

/// One subscription: an event type and a disjunction (`oneOf`) of conjunctions.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub event_type: String,
    /// Empty means "every event of this type".
    pub one_of: Vec<Map<String, Value>>,
}

/// Why a subscription list was refused; `Display` gives RIG's message text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("could not decode subscriptions: invalid JSON encoding at position {position} when parsing JSON: {input:?}")]
    InvalidJson { position: usize, input: String },
    #[error("could not decode subscriptions: subscriptions is expected to be a JSON encoded list when parsing JSON: {input:?}")]
    NotAList { input: String },
    #[error("could not parse subscription from JSON: invalid subscription: {reason} when parsing {params}")]
    Invalid { reason: &'static str, params: String },
}

impl Subscription {
    /// A subscription to every event of `event_type`.
    pub fn all(event_type: impl Into<String>) -> Self {
        Subscription { event_type: event_type.into(), one_of: Vec::new() }
    }

    /// Parses one subscription object (`eventType`/`event_type`, `oneOf`/`one_of`/`constraints`).
    pub fn from_json(value: &Value) -> Result<Self, SubscriptionError> {
        let invalid = |reason| SubscriptionError::Invalid { reason, params: value.to_string() };
        let map = value.as_object().ok_or_else(|| invalid("not a map"))?;
        let event_type = ["event_type", "eventType"].iter().find_map(|k| map.get(*k)).ok_or_else(|| invalid("event-type not found"))?;
        let event_type = match event_type {
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => return Err(invalid("event-type empty")),
        };
        let constraints = ["constraints", "one_of", "oneOf"].iter().find_map(|k| map.get(*k));
        let one_of = match constraints {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|c| match c {
                    Value::Object(m) if m.keys().all(|k| !k.is_empty()) => Ok(m.clone()),
                    Value::Object(_) => Err(invalid("conjunctive clauses expected to be a map with nonempty strings as keys")),
                    _ => Err(invalid("a disjunctive clause expected to be a conjunction represented by a map")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("constraints expected to be a list of disjunctive clauses")),
        };
        Ok(Subscription { event_type, one_of })
    }

    /// The shape RIG echoes in `rig.subscriptions_set`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("eventType".into(), Value::String(self.event_type.clone()));
        m.insert("oneOf".into(), Value::Array(self.one_of.iter().cloned().map(Value::Object).collect()));
        Value::Object(m)
    }
}

/// Parses a list of subscriptions, all or nothing.
pub fn parse_list(items: &[Value]) -> Result<Vec<Subscription>, SubscriptionError> {
    items.iter().map(Subscription::from_json).collect()
}

/// Parses the `subscriptions` query parameter / long-polling form: a JSON array or
/// `{"subscriptions": [...]}`. Empty input means no subscriptions.
pub fn parse_param(input: &str) -> Result<Vec<Subscription>, SubscriptionError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(input)
        .map_err(|e| SubscriptionError::InvalidJson { position: json_error_position(input, &e), input: input.to_string() })?;
    parse_value(&value, input)
}

/// Parses an already decoded list (or `{"subscriptions": [...]}`); `input` is
/// the original text, quoted in the error.
pub fn parse_value(value: &Value, input: &str) -> Result<Vec<Subscription>, SubscriptionError> {
    match value {
        Value::Array(items) => parse_list(items),
        Value::Object(m) => match m.get("subscriptions") {
            Some(Value::Array(items)) => parse_list(items),
            _ => Err(SubscriptionError::NotAList { input: input.to_string() }),
        },
        _ => Err(SubscriptionError::NotAList { input: input.to_string() }),
    }
}

/// Removes exact structural duplicates, keeping the first occurrence (RIG's
/// `Enum.uniq`). Linear: each subscription is looked up by its canonical JSON
/// (object keys are sorted), never compared with every other one.
pub fn dedup(subs: Vec<Subscription>) -> Vec<Subscription> {
    let mut seen = std::collections::HashSet::with_capacity(subs.len());
    subs.into_iter().filter(|s| seen.insert(s.to_json().to_string())).collect()
}

/// Bounds on what one connection may subscribe to, so no client can make the
/// index (and the lock it sits behind) hold an unbounded amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Subscriptions per connection.
    pub subscriptions: usize,
    /// `oneOf` clauses per subscription.
    pub clauses: usize,
    /// Bytes of the subscription list a client sends (query parameter or body).
    pub bytes: usize,
}

impl Limits {
    /// No bound: for tests and tools that parse trusted input.
    pub const NONE: Limits = Limits { subscriptions: usize::MAX, clauses: usize::MAX, bytes: usize::MAX };

    /// Refuses a subscription text of `len` bytes before it is parsed.
    pub fn check_bytes(&self, len: usize) -> Result<(), String> {
        if len > self.bytes {
            return Err(format!("subscriptions too large: {len} bytes (at most {}, RIG_MAX_SUBSCRIPTION_BYTES)", self.bytes));
        }
        Ok(())
    }

    /// The first bound `subs` exceeds, as a sentence naming the variable that sets it.
    pub fn check(&self, subs: &[Subscription]) -> Result<(), String> {
        if subs.len() > self.subscriptions {
            return Err(format!(
                "too many subscriptions: {} (at most {} per connection, RIG_MAX_SUBSCRIPTIONS)",
                subs.len(),
                self.subscriptions
            ));
        }
        match subs.iter().find(|s| s.one_of.len() > self.clauses) {
            Some(s) => Err(format!(
                "too many oneOf clauses in the subscription to {:?}: {} (at most {}, RIG_MAX_SUBSCRIPTION_CLAUSES)",
                s.event_type,
                s.one_of.len(),
                self.clauses
            )),
            None => Ok(()),
        }
    }
}

/// Byte offset of a serde_json error, as the decoder's "position".
fn json_error_position(input: &str, e: &serde_json::Error) -> usize {
    let line = e.line().saturating_sub(1);
    let offset: usize = input.split_inclusive('\n').take(line).map(str::len).sum();
    (offset + e.column()).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_all_spellings() {
        let a = Subscription::from_json(&json!({"eventType": "t", "oneOf": [{"a": 1}]})).unwrap();
        let b = Subscription::from_json(&json!({"event_type": "t", "constraints": [{"a": 1}]})).unwrap();
        let c = Subscription::from_json(&json!({"eventType": "t", "one_of": [{"a": 1}]})).unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert!(Subscription::from_json(&json!({"eventType": "t"})).unwrap().one_of.is_empty());
    }

    #[test]
    fn reports_rig_error_texts() {
        let cases = [
            (json!({"oneOf": []}), "event-type not found"),
            (json!({"eventType": ""}), "event-type empty"),
            (json!({"eventType": "t", "oneOf": {}}), "constraints expected to be a list of disjunctive clauses"),
            (json!({"eventType": "t", "oneOf": [1]}), "a disjunctive clause expected to be a conjunction"),
            (json!({"eventType": "t", "oneOf": [{"": 1}]}), "conjunctive clauses expected to be a map with nonempty strings as keys"),
            (json!(5), "not a map"),
        ];
        for (input, text) in cases {
            let err = Subscription::from_json(&input).unwrap_err().to_string();
            assert!(err.contains(text), "{err} should contain {text}");
            assert!(err.starts_with("could not parse subscription from JSON: invalid subscription: "));
        }
    }

    #[test]
    fn param_accepts_array_or_wrapped_object_and_rejects_garbage() {
        assert_eq!(parse_param("").unwrap(), vec![]);
        assert_eq!(parse_param(r#"[{"eventType":"a"}]"#).unwrap(), vec![Subscription::all("a")]);
        assert_eq!(parse_param(r#"{"subscriptions":[{"eventType":"a"}]}"#).unwrap().len(), 1);
        let err = parse_param("can't { be [ parsed.").unwrap_err().to_string();
        assert!(err.starts_with("could not decode subscriptions: invalid JSON encoding at position 0"), "{err}");
        let err = parse_param(r#"{"this":"is not"}"#).unwrap_err().to_string();
        assert!(err.contains("subscriptions is expected to be a JSON encoded list"), "{err}");
        assert!(parse_param(r#"[{"eventType":"a"},{"x":1}]"#).is_err());
    }

    #[test]
    fn dedup_keeps_first_of_structural_duplicates() {
        let s = vec![Subscription::all("a"), Subscription::all("b"), Subscription::all("a")];
        assert_eq!(dedup(s), vec![Subscription::all("a"), Subscription::all("b")]);
    }
}
