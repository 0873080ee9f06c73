//! A JSON scalar that can be hashed and compared the way RIG compares
//! constraint values: strings exactly, numbers numerically (`30 == 30.0`),
//! booleans as booleans. Objects, arrays and `null` are not scalars.

use serde_json::Value;

/// Hashable JSON scalar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scalar {
    Bool(bool),
    /// The bits of an `f64` with `-0.0` folded into `0.0`.
    Num(u64),
    Str(Box<str>),
}

impl Scalar {
    /// The scalar for `value`, or `None` for null, objects, arrays and NaN.
    pub fn from_json(value: &Value) -> Option<Scalar> {
        match value {
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::String(s) => Some(Scalar::Str(s.as_str().into())),
            Value::Number(n) => {
                let f = n.as_f64()?;
                if f.is_nan() {
                    return None;
                }
                let f = if f == 0.0 { 0.0 } else { f };
                Some(Scalar::Num(f.to_bits()))
            }
            _ => None,
        }
    }

    /// Compares against a JSON value without allocating (hot path of matching).
    pub fn eq_json(&self, value: &Value) -> bool {
        match (self, value) {
            (Scalar::Bool(a), Value::Bool(b)) => a == b,
            (Scalar::Str(a), Value::String(b)) => **a == **b,
            (Scalar::Num(a), Value::Number(n)) => n.as_f64().is_some_and(|f| {
                let f = if f == 0.0 { 0.0 } else { f };
                f.to_bits() == *a
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_numerically_and_types_stay_apart() {
        assert_eq!(Scalar::from_json(&json!(30)), Scalar::from_json(&json!(30.0)));
        assert_ne!(Scalar::from_json(&json!(30)), Scalar::from_json(&json!("30")));
        assert_eq!(Scalar::from_json(&json!(-0.0)), Scalar::from_json(&json!(0)));
        assert!(Scalar::from_json(&json!(null)).is_none());
        assert!(Scalar::from_json(&json!({"a": 1})).is_none());
        assert!(Scalar::from_json(&json!(true)).unwrap().eq_json(&json!(true)));
        assert!(!Scalar::from_json(&json!("a")).unwrap().eq_json(&json!("A")));
    }
}
