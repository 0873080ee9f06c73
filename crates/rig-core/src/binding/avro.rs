//! The Confluent Avro wire format: byte 0 is the magic `0`, bytes 1–4 the
//! big-endian schema id in the registry, then the Avro binary datum.
//!
//! Fetching schemas is I/O and lives in the gateway; this module only parses
//! schema text and decodes datums, so it can be tested without a registry.

use std::sync::Arc;

use serde_json::Value;

/// A parsed Avro schema, cheap to share between decodes.
#[derive(Debug, Clone)]
pub struct AvroSchema(Arc<apache_avro::Schema>);

/// Why Avro bytes or schema text could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AvroError {
    #[error("invalid Avro schema: {0}")]
    Schema(String),
    #[error("the body does not match Avro schema {id}: {reason}")]
    Datum { id: u32, reason: String },
    #[error("the value does not fit Avro schema {id}: {reason}")]
    Encode { id: u32, reason: String },
}

impl AvroSchema {
    /// Parses the schema JSON text a registry serves under `"schema"`.
    pub fn parse(text: &str) -> Result<Self, AvroError> {
        apache_avro::Schema::parse_str(text).map(|s| AvroSchema(Arc::new(s))).map_err(|e| AvroError::Schema(e.to_string()))
    }

    /// Decodes one datum to JSON: records and maps become objects, unions their
    /// branch's value, enums their symbol (as RIG's erlavro + JSON encoding does).
    pub fn decode(&self, id: u32, mut datum: &[u8]) -> Result<Value, AvroError> {
        let err = |e: apache_avro::Error| AvroError::Datum { id, reason: e.to_string() };
        let value = apache_avro::from_avro_datum(&self.0, &mut datum, None).map_err(err)?;
        Value::try_from(value).map_err(err)
    }

    /// Encodes JSON as a datum of this schema (objects fill records and maps,
    /// a union takes the first branch the value fits), framed in the wire
    /// format with registry id `id`.
    pub fn encode(&self, id: u32, value: &Value) -> Result<Vec<u8>, AvroError> {
        let err = |e: apache_avro::Error| AvroError::Encode { id, reason: e.to_string() };
        let avro = apache_avro::types::Value::from(value.clone()).resolve(&self.0).map_err(err)?;
        let datum = apache_avro::to_avro_datum(&self.0, avro).map_err(err)?;
        Ok(wire_format(id, &datum))
    }
}

/// Splits a wire-format body into schema id and datum; `None` if it is not one.
pub fn split_wire_format(body: &[u8]) -> Option<(u32, &[u8])> {
    match body {
        [0, a, b, c, d, rest @ ..] => Some((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => None,
    }
}

/// Frames an Avro datum with the wire-format header (used by tests and producers).
pub fn wire_format(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + datum.len());
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(datum);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"record","name":"Greeting","fields":[
        {"name":"name","type":"string"},
        {"name":"age","type":["null","int"],"default":null}]}"#;

    /// Avro binary for {"name": "alice", "age": 33}: string = zigzag length + bytes,
    /// union = zigzag branch index + value.
    fn alice() -> Vec<u8> {
        let mut d = vec![10];
        d.extend_from_slice(b"alice");
        d.extend_from_slice(&[2, 66]);
        d
    }

    #[test]
    fn decodes_a_record_to_json() {
        let schema = AvroSchema::parse(SCHEMA).unwrap();
        let framed = wire_format(7, &alice());
        let (id, datum) = split_wire_format(&framed).unwrap();
        assert_eq!(id, 7);
        assert_eq!(schema.decode(id, datum).unwrap(), serde_json::json!({"name": "alice", "age": 33}));
    }

    #[test]
    fn encodes_json_to_the_wire_format() {
        let schema = AvroSchema::parse(SCHEMA).unwrap();
        let framed = schema.encode(7, &serde_json::json!({"name": "alice", "age": 33})).unwrap();
        assert_eq!(framed, wire_format(7, &alice()));
        let no_age = schema.encode(7, &serde_json::json!({"name": "bob"})).unwrap();
        assert_eq!(schema.decode(7, &no_age[5..]).unwrap(), serde_json::json!({"name": "bob", "age": null}));
        let wrong = schema.encode(7, &serde_json::json!({"name": 5})).unwrap_err();
        assert!(matches!(wrong, AvroError::Encode { id: 7, .. }), "{wrong}");
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        assert!(split_wire_format(b"{\"a\":1}").is_none());
        assert!(split_wire_format(&[0, 0, 0]).is_none());
        assert!(matches!(AvroSchema::parse("{nope"), Err(AvroError::Schema(_))));
        let schema = AvroSchema::parse(SCHEMA).unwrap();
        assert!(matches!(schema.decode(1, &[200]), Err(AvroError::Datum { id: 1, .. })));
    }
}
