//! W3C Trace Context (`traceparent` / `tracestate`): parsing, formatting and
//! child contexts. The same value travels in HTTP headers (requests, proxy)
//! and in the CloudEvents distributed-tracing extension attributes.

use std::fmt;

use crate::support::ids::random_bytes;

/// One position in a trace: the trace, the span that is the parent of whatever
/// happens next, and whether the trace is sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
    /// Vendor state, passed on unchanged.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// Parses a `traceparent` value (version 00, or a later version read as
    /// 00 as the W3C spec asks). All-zero ids and malformed values give `None`.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let s = traceparent.trim();
        let mut parts = s.split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let version = hex::<1>(version)?[0];
        if version == 0xff || (version == 0 && parts.next().is_some()) {
            return None;
        }
        let (trace_id, span_id, flags) = (hex::<16>(trace)?, hex::<8>(span)?, hex::<1>(flags)?[0]);
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        let tracestate = tracestate.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        Some(TraceContext { trace_id, span_id, sampled: flags & 1 == 1, tracestate })
    }

    /// The context a new span under this one has: same trace, fresh span id.
    pub fn child(&self) -> Self {
        TraceContext { span_id: new_span_id(), ..self.clone() }
    }

    /// A new trace (no parent).
    pub fn root(sampled: bool) -> Self {
        let mut trace_id = random_bytes::<16>();
        trace_id[0] |= 1; // never all zero
        TraceContext { trace_id, span_id: new_span_id(), sampled, tracestate: None }
    }

    pub fn traceparent(&self) -> String {
        self.to_string()
    }

    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span_id)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", to_hex(&self.trace_id), to_hex(&self.span_id), u8::from(self.sampled))
    }
}

pub(crate) fn new_span_id() -> [u8; 8] {
    let mut id = random_bytes::<8>();
    id[7] |= 1;
    id
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Exactly `2 * N` lower-case hex digits (W3C forbids upper case).
fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn round_trips_the_w3c_example() {
        let c = TraceContext::parse(EXAMPLE, Some("congo=t61rcWkgMzE")).unwrap();
        assert!(c.sampled);
        assert_eq!(c.traceparent(), EXAMPLE);
        assert_eq!(c.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn a_child_keeps_the_trace_and_gets_a_new_span() {
        let c = TraceContext::parse(EXAMPLE, None).unwrap();
        let child = c.child();
        assert_eq!(child.trace_id, c.trace_id);
        assert_ne!(child.span_id, c.span_id);
        assert!(TraceContext::parse(&child.traceparent(), None).is_some());
        let root = TraceContext::root(false);
        assert!(TraceContext::parse(&root.traceparent(), None).is_some_and(|r| !r.sampled));
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333é-01",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad}");
        }
        // A later version may carry more fields; the first four are read.
        assert!(TraceContext::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later", None).is_some());
    }
}
