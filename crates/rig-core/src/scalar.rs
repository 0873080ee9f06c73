//! A JSON scalar that can be hashed and compared the way RIG compares
//! constraint values: strings exactly, numbers numerically (`30 == 30.0`),
//! booleans as booleans. Objects, arrays and `null` are not scalars.

use serde_json::Value;

/// Hashable JSON scalar.
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub enum Scalar {
    Bool(bool),
    /// The bits of an `f64` with `-0.0` folded into `0.0`.
    Num(u64),
    Str(Box<str>),
}

#[cfg(test)]
thread_local! {
    /// How many times two scalars were compared: the index's complexity tests count it.
    pub(crate) static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Scalar) -> bool {
        #[cfg(test)]
        COMPARISONS.with(|c| c.set(c.get() + 1));
        match (self, other) {
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            (Scalar::Num(a), Scalar::Num(b)) => a == b,
            (Scalar::Str(a), Scalar::Str(b)) => a == b,
            _ => false,
        }
    }
}

// By hand because `PartialEq` is (it counts comparisons in tests); consistent with it.
impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Scalar::Bool(b) => b.hash(h),
            Scalar::Num(n) => n.hash(h),
            Scalar::Str(s) => s.hash(h),
        }
    }
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
