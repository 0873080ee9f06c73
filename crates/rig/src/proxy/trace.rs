//! W3C trace context for forwarded requests (rig-spec 9.2): the upstream gets
//! a child of the incoming `traceparent` (same trace id, new span id, same
//! flags) or, without a valid one, the root of a new trace.

use http::{HeaderMap, HeaderValue};

use crate::token::random_bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    /// Kept from the request when its `traceparent` was valid.
    pub tracestate: Option<HeaderValue>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) && s.bytes().any(|b| b != b'0')
}

/// `(trace id, flags)` of a valid `traceparent`.
fn parse(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let version_ok = version.len() == 2 && version != "ff" && version.bytes().all(|b| b.is_ascii_hexdigit());
    let flags_ok = flags.len() == 2 && flags.bytes().all(|b| b.is_ascii_hexdigit());
    // Version 00 has exactly four fields; later versions may add more.
    let rest_ok = version != "00" || parts.next().is_none();
    (version_ok && flags_ok && rest_ok && is_hex_id(trace, 32) && is_hex_id(parent, 16)).then_some((trace, flags))
}

fn span_id() -> String {
    loop {
        let id = random_bytes::<8>();
        if id != [0; 8] {
            return hex(&id);
        }
    }
}

/// The context to send upstream for a request with `headers`.
pub fn child_of(headers: &HeaderMap) -> TraceContext {
    let incoming = headers.get("traceparent").and_then(|v| v.to_str().ok()).and_then(parse);
    match incoming {
        Some((trace, flags)) => TraceContext {
            traceparent: format!("00-{trace}-{}-{}", span_id(), flags.to_ascii_lowercase()),
            tracestate: headers.get("tracestate").cloned(),
        },
        None => {
            let trace = loop {
                let t = random_bytes::<16>();
                if t != [0; 16] {
                    break hex(&t);
                }
            };
            TraceContext { traceparent: format!("00-{trace}-{}-00", span_id()), tracestate: None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(tp: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_str(tp).unwrap());
        h.insert("tracestate", HeaderValue::from_static("a=b"));
        h
    }

    #[test]
    fn keeps_the_trace_and_makes_a_new_span() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let child = child_of(&with(tp));
        let parts: Vec<_> = child.traceparent.split('-').collect();
        assert_eq!((parts[0], parts[1], parts[3]), ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01"));
        assert_ne!(parts[2], "00f067aa0ba902b7");
        assert!(is_hex_id(parts[2], 16));
        assert_eq!(child.tracestate.unwrap(), "a=b");
    }

    #[test]
    fn starts_a_new_trace_without_a_valid_parent() {
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let child = child_of(&with(bad));
            assert!(parse(&child.traceparent).is_some(), "{}", child.traceparent);
            assert!(child.tracestate.is_none());
        }
        let a = child_of(&HeaderMap::new());
        let b = child_of(&HeaderMap::new());
        assert_ne!(a.traceparent[3..35], b.traceparent[3..35]);
    }
}
