//! Just enough URL handling for loopback targets: `http://IP:PORT/path?query`.

use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone)]
pub struct Url {
    pub addr: SocketAddr,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let rest =
            s.strip_prefix("http://").or_else(|| s.strip_prefix("ws://")).ok_or_else(|| format!("{s}: only http:// and ws:// URLs"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr: SocketAddr = host.parse().map_err(|_| format!("{s}: host must be IP:PORT"))?;
        Ok(Url { addr, path: path.to_owned() })
    }

    /// The path with `&name=value` (or `?name=value`) appended.
    pub fn path_with(&self, name: &str, value: &str) -> String {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        format!("{}{sep}{name}={value}", self.path)
    }
}

/// The `n`-th of `count` loopback source addresses: 127.0.0.1, 127.0.0.2, ...
pub fn source_addr(n: usize, count: usize) -> IpAddr {
    let i = (n % count.max(1)) as u32 + 1;
    IpAddr::V4(std::net::Ipv4Addr::from(0x7f00_0000u32 + i))
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_urls() {
        let u = Url::parse("http://127.0.0.1:4000/_rig/v1/connection/sse?subscriptions=x").unwrap();
        assert_eq!(u.addr.port(), 4000);
        assert_eq!(u.path, "/_rig/v1/connection/sse?subscriptions=x");
        assert_eq!(u.path_with("jwt", "t"), "/_rig/v1/connection/sse?subscriptions=x&jwt=t");
        assert_eq!(Url::parse("ws://127.0.0.1:1").unwrap().path_with("a", "b"), "/?a=b");
        assert!(Url::parse("https://127.0.0.1:1/").is_err());
        assert!(Url::parse("http://localhost:1/").is_err());
    }

    #[test]
    fn source_addresses_cycle() {
        assert_eq!(source_addr(0, 4).to_string(), "127.0.0.1");
        assert_eq!(source_addr(5, 4).to_string(), "127.0.0.2");
    }

    #[test]
    fn encodes_json() {
        assert_eq!(encode(r#"[{"eventType":"b"}]"#), "%5B%7B%22eventType%22%3A%22b%22%7D%5D");
    }
}
