//! The request path the proxy matches and forwards, normalised so that a path
//! cannot name one endpoint to the matcher and another to the backend
//! (`/api/public/../admin/secret` must be matched as `/api/admin/secret`).
//!
//! Steps: percent-escapes of unreserved characters are decoded and the other
//! escapes' hex digits upper-cased (RFC 3986 6.2.2.1-2), runs of `/` collapse
//! into one (backends commonly merge them), then dot-segments are removed (RFC
//! 3986 5.2.4; `..` above the root stays at the root). Refused, as a backend
//! may read them differently from us: encoded separators (`%2F`, `%5C`), a raw
//! `\`, a double-encoded escape (`%25` followed by two hex digits, such as
//! `%252e`), `%00`, the overlong UTF-8 lead bytes `%C0`/`%C1`, a malformed
//! escape, a dot-segment carrying parameters (`..;x`, read as `..` by some
//! servers), and a path not starting with `/`.

use std::fmt;

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    Malformed,
    EncodedSeparator,
    Backslash,
    DoubleEncoded,
    ForbiddenByte,
    DotSegmentParameters,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the request path must start with /",
            PathError::Malformed => "the request path has a malformed percent-escape",
            PathError::EncodedSeparator => "the request path has an encoded slash or backslash (%2F, %5C)",
            PathError::Backslash => "the request path has a backslash",
            PathError::DoubleEncoded => "the request path has a double-encoded percent-escape (%25 followed by hex digits)",
            PathError::ForbiddenByte => "the request path has an encoded NUL or overlong UTF-8 byte (%00, %C0, %C1)",
            PathError::DotSegmentParameters => "the request path has a dot-segment with parameters (such as ..;)",
        })
    }
}

/// The normalised form of `raw` (a request target's path, without query).
pub fn normalize(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(raw)?;
    if has_double_encoding(&decoded) {
        return Err(PathError::DoubleEncoded);
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = decoded[1..].split('/').filter(|s| !s.is_empty()).peekable();
    let mut trailing_slash = decoded.ends_with('/') && decoded.len() > 1;
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        let name = segment.split(';').next().unwrap_or(segment);
        if name != segment && (name == "." || name == "..") {
            return Err(PathError::DotSegmentParameters);
        }
        match segment {
            "." => trailing_slash |= last,
            ".." => {
                segments.pop();
                trailing_slash |= last;
            }
            _ => segments.push(segment),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Unreserved characters decoded, other escapes kept with upper-case hex.
fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) else {
                    return Err(PathError::Malformed);
                };
                let b = hi << 4 | lo;
                match b {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0 | 0xC0 | 0xC1 => return Err(PathError::ForbiddenByte),
                    b if is_unreserved(b) => out.push(b as char),
                    b => {
                        out.push('%');
                        out.push_str(&format!("{b:02X}"));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            _ => {
                // Copies one whole character (the input is a str).
                let len = raw[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&raw[i..i + len]);
                i += len;
            }
        }
    }
    Ok(out)
}

/// `%25` (an encoded `%`) followed by two hex digits: an escape a backend that
/// decodes twice would read.
fn has_double_encoding(decoded: &str) -> bool {
    let b = decoded.as_bytes();
    b.windows(5).any(|w| w[..3].eq_ignore_ascii_case(b"%25") && hex(w[3]).is_some() && hex(w[4]).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        normalize(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn removes_dot_segments_as_rfc_3986_does() {
        for (raw, want) in [
            ("/api/public/../admin/secret", "/api/admin/secret"),
            ("/api/public/./../admin/secret", "/api/admin/secret"),
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../", "/a/"),
            ("/..", "/"),
            ("/../../a", "/a"),
            ("/a/../../../b/", "/b/"),
            ("/.", "/"),
            ("/", "/"),
            ("/a/...", "/a/..."),
            ("/a/..b/.c", "/a/..b/.c"),
            ("/a.", "/a."),
        ] {
            assert_eq!(ok(raw), want, "{raw}");
        }
    }

    #[test]
    fn decodes_unreserved_characters_and_the_dot_first() {
        assert_eq!(ok("/api/public/%2e%2e/admin/secret"), "/api/admin/secret");
        assert_eq!(ok("/api/public/%2E%2E/admin/secret"), "/api/admin/secret");
        assert_eq!(ok("/api/public/.%2e/admin/secret"), "/api/admin/secret");
        assert_eq!(ok("/%61%70%69/%7E%5F"), "/api/~_");
        assert_eq!(ok("/a%20b/%c3%a9"), "/a%20b/%C3%A9", "other escapes stay, hex upper-cased");
        assert_eq!(ok("/caf\u{e9}"), "/caf\u{e9}");
        assert_eq!(ok("/a/b;v=1/c"), "/a/b;v=1/c");
    }

    #[test]
    fn collapses_repeated_slashes() {
        assert_eq!(ok("//api///admin//secret"), "/api/admin/secret");
        assert_eq!(ok("/api/public//../admin/secret"), "/api/admin/secret");
        assert_eq!(ok("/api/public/..//admin/secret"), "/api/admin/secret");
        assert_eq!(ok("//"), "/");
        assert_eq!(ok("/a//"), "/a/");
    }

    #[test]
    fn refuses_what_a_backend_may_read_differently() {
        for (raw, why) in [
            ("/api/public/..%2Fadmin%2Fsecret", PathError::EncodedSeparator),
            ("/api/public/%2E%2E%2Fadmin%2Fsecret", PathError::EncodedSeparator),
            ("/api/public/%2e%2e%2fadmin", PathError::EncodedSeparator),
            ("/api/public/..%5Cadmin", PathError::EncodedSeparator),
            ("/api/public/..\\admin", PathError::Backslash),
            ("/api/public/%252e%252e/admin/secret", PathError::DoubleEncoded),
            ("/api/public/%252E./admin", PathError::DoubleEncoded),
            ("/api/public/%25%32%65%25%32%65/admin", PathError::DoubleEncoded),
            ("/api/public/%252f", PathError::DoubleEncoded),
            ("/a/%00", PathError::ForbiddenByte),
            ("/a/%c0%ae%c0%ae/b", PathError::ForbiddenByte),
            ("/a/%2", PathError::Malformed),
            ("/a/%zz", PathError::Malformed),
            ("/a/%2%65", PathError::Malformed),
            ("/api/public/..;/admin/secret", PathError::DotSegmentParameters),
            ("/api/public/.;x/admin", PathError::DotSegmentParameters),
            ("/api/public/%2e%2e;/admin", PathError::DotSegmentParameters),
            ("*", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ] {
            assert_eq!(normalize(raw), Err(why), "{raw}");
        }
        assert_eq!(ok("/a/100%25"), "/a/100%25", "a lone encoded percent is fine");
        assert_eq!(ok("/a/%25off"), "/a/%25off");
    }

    #[test]
    fn is_idempotent() {
        for raw in ["/api/public/../admin/secret", "/a%20b/./c/", "//x/%2e/y/..", "/a/%C3%A9"] {
            let once = ok(raw);
            assert_eq!(ok(&once), once, "{raw}");
        }
    }
}
