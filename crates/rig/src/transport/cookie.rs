//! The two long-polling cookies. Values are HttpOnly, so only we read them back:
//! `last_event_id` holds the JSON-encoded id (RIG's format, e.g. `"first_event"`),
//! with bytes a cookie cannot carry percent-encoded.

use axum::http::{header, HeaderMap};

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: session cookie, path `/`, HttpOnly.
pub fn set(name: &str, value: &str) -> String {
    format!("{name}={value}; path=/; HttpOnly")
}

/// Encodes an event id for the `last_event_id` cookie.
pub fn encode_event_id(id: &str) -> String {
    let json = serde_json::to_string(id).expect("strings serialise");
    let mut out = String::with_capacity(json.len());
    for b in json.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\\' | b'%') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes the `last_event_id` cookie; anything unreadable is the start.
pub fn decode_event_id(value: Option<&str>) -> String {
    let Some(value) = value else { return "first_event".into() };
    let bytes: Vec<u8> = percent_decode(value.as_bytes());
    serde_json::from_slice::<String>(&bytes).unwrap_or_else(|_| "first_event".into())
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_cookie_round_trips_and_keeps_rig_form_for_plain_ids() {
        assert_eq!(encode_event_id("first_event"), "\"first_event\"");
        for id in ["a b;c,d\\e%f", "ü", "plain-id-1"] {
            let enc = encode_event_id(id);
            assert!(enc.bytes().all(|b| b.is_ascii_graphic() && b != b';'), "{enc}");
            assert_eq!(decode_event_id(Some(&enc)), id);
        }
        assert_eq!(decode_event_id(None), "first_event");
        assert_eq!(decode_event_id(Some("garbage")), "first_event");
    }

    #[test]
    fn reads_cookies_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; connection_token=xyz".parse().unwrap());
        assert_eq!(get(&h, "connection_token").as_deref(), Some("xyz"));
        assert_eq!(get(&h, "last_event_id"), None);
    }
}
