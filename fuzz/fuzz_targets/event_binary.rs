//! Binary-mode CloudEvents: `name: value` header lines, a blank line, the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut content_type = None;
    let mut attrs = Vec::new();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(": ") {
            if k == "content-type" {
                content_type = Some(v);
            } else {
                attrs.push((k, v));
            }
        }
    }
    if let Ok(event) = rig_core::CloudEvent::from_binary(attrs, content_type, body.as_bytes()) {
        // What binary mode builds must itself be a valid structured event.
        rig_core::CloudEvent::parse(event.json().clone()).expect("re-parses");
    }
});
