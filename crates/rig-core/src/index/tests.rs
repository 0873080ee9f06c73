use serde_json::json;

use super::*;
use crate::subscription::parse_param;

fn extractors() -> ExtractorConfig {
    ExtractorConfig::from_json(&json!({
        "greeting": {
            "name": {"stable_field_index": 0, "event": {"json_pointer": "/data/name"}},
            "age": {"stable_field_index": 1, "event": {"json_pointer": "/data/age"}}
        }
    }))
    .unwrap()
}

fn matches(index: &SubscriptionIndex<u64>, event: Value) -> Vec<u64> {
    let mut out = Vec::new();
    let t = event["type"].as_str().unwrap().to_string();
    index.matches(&t, &event, &mut out);
    out.sort();
    out
}

fn ev(data: Value) -> Value {
    json!({"specversion": "0.2", "type": "greeting", "id": "1", "data": data})
}

#[test]
fn and_within_object_or_across_one_of() {
    let mut idx = SubscriptionIndex::new(extractors());
    let subs = parse_param(r#"[{"eventType":"greeting","oneOf":[{"name":"john","age":30},{"name":"frank"}]}]"#).unwrap();
    idx.set(1, &subs);
    assert_eq!(matches(&idx, ev(json!({"name": "john", "age": 30.0}))), vec![1]);
    assert_eq!(matches(&idx, ev(json!({"name": "john", "age": 31}))), Vec::<u64>::new());
    assert_eq!(matches(&idx, ev(json!({"name": "frank"}))), vec![1]);
    assert_eq!(matches(&idx, ev(json!({"name": "john"}))), Vec::<u64>::new());
}

#[test]
fn null_constraint_is_wildcard_and_missing_value_only_matches_wildcards() {
    let mut idx = SubscriptionIndex::new(extractors());
    idx.set(1, &parse_param(r#"[{"eventType":"greeting","oneOf":[{"name":"joe"}]}]"#).unwrap());
    idx.set(2, &parse_param(r#"[{"eventType":"greeting","oneOf":[{"name":"joe","age":30}]}]"#).unwrap());
    idx.set(3, &parse_param(r#"[{"eventType":"greeting","oneOf":[{"name":null,"unknown":"x"}]}]"#).unwrap());
    assert_eq!(matches(&idx, ev(json!({"name": "joe", "age": null}))), vec![1, 3]);
}

#[test]
fn connection_matched_once_and_object_constraints_never_match() {
    let mut idx = SubscriptionIndex::new(extractors());
    let subs = parse_param(
        r#"[{"eventType":"greeting","oneOf":[{"name":"a"},{"age":1}]},{"eventType":"greeting","oneOf":[{"name":"a"}]},
            {"eventType":"greeting","oneOf":[{"name":{"x":1}}]}]"#,
    )
    .unwrap();
    idx.set(7, &subs);
    assert_eq!(matches(&idx, ev(json!({"name": "a", "age": 1}))), vec![7]);
    assert_eq!(matches(&idx, ev(json!({"name": {"x": 1}}))), Vec::<u64>::new());
}

#[test]
fn types_without_extractors_match_everything_and_remove_cleans_up() {
    let mut idx = SubscriptionIndex::new(extractors());
    idx.set(1, &parse_param(r#"[{"eventType":"other","oneOf":[{"name":"x"}]}]"#).unwrap());
    idx.set(2, &parse_param(r#"[{"eventType":"greeting"}]"#).unwrap());
    let other = json!({"type": "other", "data": {"name": "y"}});
    assert_eq!(matches(&idx, other.clone()), vec![1]);
    assert_eq!(matches(&idx, ev(json!({}))), vec![2]);
    assert_eq!(idx.rows(), 2);
    idx.remove(1);
    idx.set(2, &[]);
    assert_eq!(matches(&idx, other), Vec::<u64>::new());
    assert_eq!(idx.rows(), 0);
    assert!(idx.types.is_empty() && idx.locations.is_empty());
}

#[test]
fn replacing_subscriptions_drops_old_rows() {
    let mut idx = SubscriptionIndex::new(extractors());
    idx.set(1, &parse_param(r#"[{"eventType":"greeting","oneOf":[{"name":"a"}]}]"#).unwrap());
    idx.set(1, &parse_param(r#"[{"eventType":"greeting","oneOf":[{"name":"b"}]}]"#).unwrap());
    assert_eq!(matches(&idx, ev(json!({"name": "a"}))), Vec::<u64>::new());
    assert_eq!(matches(&idx, ev(json!({"name": "b"}))), vec![1]);
    assert_eq!(idx.rows(), 1);
}

/// Brute-force reference: the semantics of RIG's match spec, row by row.
fn reference(subs: &[(u64, Vec<crate::Subscription>)], ex: &ExtractorConfig, event: &Value) -> Vec<u64> {
    let t = event["type"].as_str().unwrap();
    let fields = ex.fields(t);
    let mut out: Vec<u64> = subs
        .iter()
        .filter(|(_, ss)| {
            ss.iter().filter(|s| s.event_type == t).any(|s| {
                if s.one_of.is_empty() || fields.is_empty() {
                    return true;
                }
                s.one_of.iter().any(|conj| {
                    fields.iter().all(|f| match conj.get(&f.name) {
                        None | Some(Value::Null) => true,
                        Some(c) => match (Scalar::from_json(c), pointer::resolve(event, &f.event_pointer)) {
                            (Some(cs), Some(e)) => cs.eq_json(e),
                            _ => false,
                        },
                    })
                })
            })
        })
        .map(|(k, _)| *k)
        .collect();
    out.sort();
    out
}

#[test]
fn agrees_with_brute_force_on_generated_cases() {
    // Deterministic pseudo-random cases (xorshift) instead of a proptest dependency.
    let mut seed: u64 = 0x9E3779B97F4A7C15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let ex = extractors();
    let names = ["a", "b", "c"];
    for _ in 0..200 {
        let mut idx = SubscriptionIndex::new(ex.clone());
        let mut all = Vec::new();
        for conn in 0..8u64 {
            let mut subs = Vec::new();
            for _ in 0..next(3) {
                let mut one_of = Vec::new();
                for _ in 0..next(3) {
                    let mut m = serde_json::Map::new();
                    if next(2) == 0 {
                        m.insert("name".into(), json!(names[next(3) as usize]));
                    }
                    if next(2) == 0 {
                        m.insert("age".into(), if next(4) == 0 { Value::Null } else { json!(next(3)) });
                    }
                    one_of.push(m);
                }
                subs.push(crate::Subscription { event_type: "greeting".into(), one_of });
            }
            idx.set(conn, &subs);
            all.push((conn, subs));
        }
        for _ in 0..10 {
            let mut data = serde_json::Map::new();
            if next(3) != 0 {
                data.insert("name".into(), json!(names[next(3) as usize]));
            }
            if next(3) != 0 {
                data.insert("age".into(), json!(next(3) as f64));
            }
            let event = ev(Value::Object(data));
            assert_eq!(matches(&idx, event.clone()), reference(&all, &ex, &event), "event {event}");
        }
    }
}

/// Scalar comparisons made while one connection's subscriptions are set.
fn comparisons_to_set(subs: &[Subscription]) -> u64 {
    let mut idx = SubscriptionIndex::new(extractors());
    let before = crate::scalar::COMPARISONS.with(|c| c.get());
    idx.set(1, subs);
    assert_eq!(idx.rows(), subs.iter().map(|s| s.one_of.len()).sum::<usize>());
    crate::scalar::COMPARISONS.with(|c| c.get()) - before
}

fn distinct_names(n: usize, per_sub: usize) -> Vec<Subscription> {
    let clauses: Vec<Value> = (0..n).map(|i| json!({"name": format!("user-{i}"), "age": i})).collect();
    let list: Vec<Value> = clauses.chunks(per_sub).map(|c| json!({"eventType": "greeting", "oneOf": c})).collect();
    parse_param(&Value::Array(list).to_string()).unwrap()
}

#[test]
fn insert_work_grows_linearly_with_distinct_keys() {
    // One subscription with n distinct clauses, and n subscriptions of one
    // clause each: quadrupling n may at most quadruple the comparisons (plus
    // slack for hash collisions), where a scan per row would multiply them by 16.
    for per_sub in [usize::MAX, 1] {
        let small = comparisons_to_set(&distinct_names(2_000, per_sub));
        let large = comparisons_to_set(&distinct_names(8_000, per_sub));
        assert!(large <= 4 * small + 4 * 2_000, "per_sub={per_sub}: {small} comparisons for 2000 rows, {large} for 8000");
    }
}

#[test]
fn remove_after_many_distinct_keys_leaves_nothing() {
    let mut idx = SubscriptionIndex::new(extractors());
    idx.set(1, &distinct_names(5_000, 7));
    idx.set(2, &distinct_names(10, 1));
    idx.remove(1);
    assert_eq!((idx.rows(), idx.connections()), (10, 1));
    assert_eq!(matches(&idx, ev(json!({"name": "user-3", "age": 3}))), vec![2]);
    assert_eq!(matches(&idx, ev(json!({"name": "user-30", "age": 30}))), Vec::<u64>::new());
}
