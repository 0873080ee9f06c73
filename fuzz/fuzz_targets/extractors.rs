//! Extractor configs and JWT-inferred subscriptions from arbitrary claims.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let (config, claims) = data.split_once('\u{0}').unwrap_or((data, "{}"));
    let Ok(extractors) = rig_core::ExtractorConfig::parse(config) else { return };
    if let Ok(claims) = serde_json::from_str::<serde_json::Value>(claims) {
        for sub in extractors.infer_from_claims(&claims) {
            assert_eq!(sub.one_of.len(), 1);
        }
    }
});
