//! Structured-mode CloudEvents: any bytes must parse or be refused, never panic,
//! and an accepted event keeps its exact text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok(event) = rig_core::CloudEvent::parse(bytes) {
        assert_eq!(event.json().as_ref(), data);
        assert!(event.value().is_object());
    }
});
