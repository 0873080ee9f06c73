//! JSON Pointer lookup as RIG does it: objects only, `~1`/`~0` unescaped.
//!
//! serde_json's own `Value::pointer` walks into arrays by index; RIG treats that
//! as "no value", so subscriptions behave the same here as there.

use serde_json::Value;

/// Resolves `pointer` in `value`. Returns `None` for a pointer without a leading
/// `/`, a missing key, or any step through a non-object.
pub fn resolve<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    let rest = pointer.strip_prefix('/')?;
    let mut current = value;
    for token in rest.split('/') {
        let map = current.as_object()?;
        current = if token.contains('~') { map.get(&token.replace("~1", "/").replace("~0", "~"))? } else { map.get(token)? };
    }
    Some(current)
}

/// True when `pointer` is syntactically a JSON Pointer (empty or starting with `/`).
pub fn is_valid(pointer: &str) -> bool {
    pointer.is_empty() || pointer.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_nested_objects_and_escapes() {
        let v = json!({"data": {"a/b": {"c~d": 1}}, "x": [1, 2]});
        assert_eq!(resolve(&v, "/data/a~1b/c~0d"), Some(&json!(1)));
        assert_eq!(resolve(&v, ""), Some(&v));
    }

    #[test]
    fn arrays_and_missing_keys_yield_nothing() {
        let v = json!({"x": [1, 2], "y": "s"});
        assert_eq!(resolve(&v, "/x/0"), None);
        assert_eq!(resolve(&v, "/y/z"), None);
        assert_eq!(resolve(&v, "/nope"), None);
        assert_eq!(resolve(&v, "x"), None);
    }
}
