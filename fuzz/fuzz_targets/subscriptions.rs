//! Subscription lists: parse, index, match an event built from the same input,
//! and remove again; the index must end empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rig_core::{subscription::parse_param, ExtractorConfig, SubscriptionIndex};

const EXTRACTORS: &str = r#"{"t": {"a": {"stable_field_index": 0, "event": {"json_pointer": "/data/a"}},
                                  "b": {"stable_field_index": 1, "event": {"json_pointer": "/data/b/c"}}}}"#;

fuzz_target!(|data: &str| {
    let (subs_text, event_text) = data.split_once('\u{0}').unwrap_or((data, "{}"));
    let Ok(subs) = parse_param(subs_text) else { return };
    let mut index = SubscriptionIndex::new(ExtractorConfig::parse(EXTRACTORS).unwrap());
    index.set(1u32, &subs);
    index.set(2u32, &subs);
    if let Ok(event) = serde_json::from_str::<serde_json::Value>(event_text) {
        let mut out = Vec::new();
        for t in ["t", "other"] {
            out.clear();
            index.matches(t, &event, &mut out);
            let mut dedup = out.clone();
            dedup.dedup();
            assert_eq!(dedup.len(), out.len(), "a connection matched twice");
        }
    }
    index.remove(1);
    index.remove(2);
    assert_eq!(index.rows(), 0);
});
