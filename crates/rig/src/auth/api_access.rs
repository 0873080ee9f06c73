//! The internal port's access settings (`RIG_API_TOKEN`, `RIG_API_ALLOWED_HOSTS`)
//! and the checks they make; `http::access` applies them to every request.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderValue};
use ring::digest::{digest, SHA256};

use super::jwt::bearer_tokens;

/// The internal port's access settings (`RIG_API_TOKEN`, `RIG_API_ALLOWED_HOSTS`).
#[derive(Clone, Default)]
pub struct ApiAccess {
    /// The token, sent by this node when it forwards to a peer's internal port.
    token: Option<String>,
    /// SHA-256 of the token: comparing digests takes the same time whatever
    /// prefix of the token a guess gets right.
    token_digest: Option<Vec<u8>>,
    /// Host names (lower case, no port) accepted besides IP literals and localhost.
    allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for ApiAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("ApiAccess").field("token", &self.token.as_ref().map(|_| "…")).field("allowed_hosts", &self.allowed_hosts).finish()
    }
}

impl ApiAccess {
    /// `token` empty: no token required.
    pub fn new(token: &str, allowed_hosts: Vec<String>) -> Self {
        let token = Some(token.to_string()).filter(|t| !t.is_empty());
        let token_digest = token.as_ref().map(|t| digest(&SHA256, t.as_bytes()).as_ref().to_vec());
        let allowed_hosts = allowed_hosts.into_iter().map(|h| h.trim_end_matches('.').to_ascii_lowercase()).collect();
        ApiAccess { token, token_digest, allowed_hosts }
    }

    /// A listed name turns the `Host` check on for every connection, not just loopback ones.
    pub fn checks_every_host(&self) -> bool {
        !self.allowed_hosts.is_empty()
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `Authorization: Bearer <token>` for requests to a peer's internal port.
    pub fn authorization(&self) -> Option<HeaderValue> {
        self.token.as_ref().and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
    }

    /// Whether the request carries the token (always, when none is set).
    pub fn token_matches(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token_digest else { return true };
        let values = headers.get_all(header::AUTHORIZATION).iter().filter_map(|v| v.to_str().ok());
        bearer_tokens(values).iter().any(|t| digest(&SHA256, t.as_bytes()).as_ref() == want.as_slice())
    }

    /// Whether `host` (a `Host` value) names this gateway: an IP literal, localhost or a listed name.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
        name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") || self.allowed_hosts.contains(&name)
    }
}

/// The host part of a `Host` value: `[::1]:4010` → `::1`, `a:4010` → `a`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ips_localhost_or_listed() {
        let a = ApiAccess::new("", vec!["Rig.Internal".into()]);
        for ok in [
            "127.0.0.1:4010",
            "[::1]:4010",
            "::1",
            "10.0.0.7",
            "localhost",
            "LOCALHOST:4010",
            "a.localhost",
            "rig.internal:4010",
            "rig.internal.",
        ] {
            assert!(a.host_allowed(ok), "{ok}");
        }
        for bad in ["evil.example:4010", "localhost.evil.example", "127.0.0.1.nip.io", "rig.internal.evil"] {
            assert!(!a.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn the_token_is_a_bearer_credential() {
        let a = ApiAccess::new("s3cret", vec![]);
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(a.token_matches(&h("Bearer s3cret")));
        assert!(!a.token_matches(&h("Bearer s3cre")));
        assert!(!a.token_matches(&h("s3cret")));
        assert!(!a.token_matches(&HeaderMap::new()));
        assert!(ApiAccess::new("", vec![]).token_matches(&HeaderMap::new()));
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
